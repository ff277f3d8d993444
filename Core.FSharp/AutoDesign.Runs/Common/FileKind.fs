namespace AutoDesign.Runs

open System
open System.IO
open System.Runtime.InteropServices

/// What a path names on disk (a regular file, a folder, a symbolic link, a FIFO, a device...), read with
/// stat(2). Readers and writers use it to refuse anything but the kind of file they expect.
module internal FileKind =
    [<DllImport("libc", SetLastError = true, EntryPoint = "stat")>]
    extern int private stat(string path, byte[] buf)

    /// The file-type bits of st_mode (S_IFMT) of `path`, links followed, or None where this cannot be read.
    [<CompiledName("TypeBits")>]
    let typeBits (path: string) : int option =
        if not (RuntimeInformation.IsOSPlatform OSPlatform.Linux) then
            None
        else
            let offset =
                match RuntimeInformation.ProcessArchitecture with
                | Architecture.X64 -> Some 24
                | Architecture.Arm64 -> Some 16
                | _ -> None

            match offset with
            | None -> None
            | Some o ->
                let buf = Array.zeroCreate<byte> 256

                try
                    if stat (path, buf) = 0 then Some(BitConverter.ToInt32(buf, o) &&& 0xF000) else None
                with
                | :? EntryPointNotFoundException
                | :? DllNotFoundException -> None

    /// A phrase for a file type: "a FIFO", "a character device"...
    [<CompiledName("Describe")>]
    let describe (bits: int) =
        match bits with
        | 0x1000 -> "a FIFO"
        | 0x2000 -> "a character device"
        | 0x4000 -> "a directory"
        | 0x6000 -> "a block device"
        | 0xA000 -> "a symbolic link"
        | 0xC000 -> "a socket"
        | _ -> "not a regular file"

    /// Why `path` cannot be replaced by a regular file: None when nothing is there or it is a regular file
    /// (a final symbolic link is not followed: it is itself the reason).
    [<CompiledName("NotRegular")>]
    let notRegular (path: string) : string option =
        let fi = FileInfo path

        if not (isNull fi.LinkTarget) then
            Some "a symbolic link"
        elif Directory.Exists path then
            Some "a directory"
        elif not fi.Exists then
            None
        else
            match typeBits path with
            | Some t when t <> 0x8000 -> Some(describe t)
            | _ -> None
