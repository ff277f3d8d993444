namespace AutoDesign.Runs

open System
open System.IO
open System.Runtime.InteropServices

/// Durable file-system steps for commit protocols: flushing a file or a directory entry to disk.
module internal Durable =
    [<DllImport("libc", SetLastError = true)>]
    extern int private ``open``(string path, int flags)

    [<DllImport("libc", SetLastError = true)>]
    extern int private fsync(int fd)

    [<DllImport("libc", SetLastError = true)>]
    extern int private close(int fd)

    /// Flush a directory's entries (new, renamed or removed files) to disk. Linux only; elsewhere a no-op.
    [<CompiledName("SyncDirectory")>]
    let syncDirectory (dir: string) =
        if RuntimeInformation.IsOSPlatform OSPlatform.Linux then
            let fd = ``open`` (dir, 0) // O_RDONLY

            if fd >= 0 then
                fsync fd |> ignore
                close fd |> ignore

    /// Flush a file's contents to disk.
    [<CompiledName("SyncFile")>]
    let syncFile (path: string) =
        use fs = new FileStream(path, FileMode.Open, FileAccess.ReadWrite, FileShare.ReadWrite)
        fs.Flush(true)
