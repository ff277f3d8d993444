namespace AutoDesign.Runs

open System
open System.IO
open System.IO.Compression
open System.Runtime.InteropServices

/// Reading input files with explicit limits: only regular files (a FIFO or a device would block or never
/// end), symbolic links resolved with loops reported, sizes checked before anything is allocated, and
/// gzip decoded through a stream that stops at a maximum decoded size (a "zip bomb" is a UserError, not
/// gigabytes of memory).
module internal SafeFiles =
    /// Default largest decoded input (bytes): 1 GiB.
    let DefaultMaxBytes = 1L <<< 30

    [<DllImport("libc", SetLastError = true, EntryPoint = "stat")>]
    extern int private stat(string path, byte[] buf)

    /// The file-type bits of st_mode (S_IFMT), or None where this cannot be read.
    let private fileType (path: string) : int option =
        if not (RuntimeInformation.IsOSPlatform OSPlatform.Linux) then None
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
                    if stat(path, buf) = 0 then Some(BitConverter.ToInt32(buf, o) &&& 0xF000) else None
                with :? EntryPointNotFoundException | :? DllNotFoundException -> None

    /// Check that `path` names a readable regular file (following links); otherwise raise a UserError
    /// whose message starts with the path.
    [<CompiledName("CheckRegular")>]
    let checkRegular (path: string) =
        let fi = FileInfo path
        let resolved =
            try
                if not (isNull fi.LinkTarget) then
                    match fi.ResolveLinkTarget(true) with
                    | null -> fi :> FileSystemInfo
                    | t -> t
                else fi :> FileSystemInfo
            with :? IOException as e -> Errors.fail "%s: cannot follow its symbolic link (%s; a link loop?)" path e.Message
        if Directory.Exists resolved.FullName then Errors.fail "%s: is a directory, not a file" path
        if not resolved.Exists then Errors.fail "%s: no such file" path
        match fileType resolved.FullName with
        | Some t when t <> 0x8000 ->
            let kind = match t with 0x1000 -> "a FIFO" | 0x2000 -> "a character device" | 0x6000 -> "a block device" | 0xC000 -> "a socket" | _ -> "not a regular file"
            Errors.fail "%s: is %s, not a regular file" path kind
        | _ -> ()

    /// Check that `path` names an existing file, not a directory; `what` describes it in the error.
    [<CompiledName("RequireFile")>]
    let requireFile (what: string) (path: string) =
        if Directory.Exists path then Errors.fail "%s %s is a directory, not a file" what path
        if not (File.Exists path) then Errors.fail "%s %s does not exist" what path

    /// A read-only stream that raises UserError once more than `limit` bytes have been read through it.
    type private Limited(inner: Stream, limit: int64, name: string) =
        inherit Stream()
        let mutable total = 0L
        override _.CanRead = true
        override _.CanSeek = false
        override _.CanWrite = false
        override _.Length = raise (NotSupportedException())
        override _.Position with get () = total and set _ = raise (NotSupportedException())
        override _.Flush() = ()
        override _.Seek(_, _) = raise (NotSupportedException())
        override _.SetLength _ = raise (NotSupportedException())
        override _.Write(_, _, _) = raise (NotSupportedException())
        override _.Read(buffer: byte[], offset: int, count: int) =
            let n =
                try inner.Read(buffer, offset, count)
                with :? InvalidDataException as e -> Errors.fail "%s: corrupt gzip stream (%s)" name (e.Message.TrimEnd('.'))
            total <- total + int64 n
            if total > limit then Errors.fail "%s: decodes to more than %d bytes, the limit (a compressed file that expands without bound?)" name limit
            n
        override _.Dispose(disposing: bool) = (if disposing then inner.Dispose()); base.Dispose disposing

    /// The whole content of a regular file of at most `maxFileBytes` bytes, transparently gunzipped (the
    /// decoded content at most `maxDecodedBytes`).
    [<CompiledName("ReadAll")>]
    let readAll (maxFileBytes: int64) (maxDecodedBytes: int64) (path: string) : byte[] =
        checkRegular path
        let len = FileInfo(path).Length
        if len > maxFileBytes then Errors.fail "%s: %d bytes, more than the limit of %d" path len maxFileBytes
        let raw = try File.ReadAllBytes path with :? IOException | :? UnauthorizedAccessException as e -> Errors.fail "%s: cannot read (%s)" path e.Message
        if raw.Length >= 2 && raw.[0] = 0x1fuy && raw.[1] = 0x8buy then
            use z = new Limited(new GZipStream(new MemoryStream(raw), CompressionMode.Decompress), maxDecodedBytes, path)
            use ms = new MemoryStream()
            z.CopyTo ms
            ms.ToArray()
        else
            if int64 raw.Length > maxDecodedBytes then Errors.fail "%s: %d bytes, more than the limit of %d" path raw.Length maxDecodedBytes
            raw
