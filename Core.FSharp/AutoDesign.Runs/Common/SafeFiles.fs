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

    /// Check that `path` names a readable regular file (following links); otherwise raise a UserError
    /// whose message starts with the path.
    [<CompiledName("CheckRegular")>]
    let checkRegular (path: string) =
        if String.IsNullOrWhiteSpace path then Errors.fail "an empty file name was given where an input file is expected"
        let fi = FileInfo path

        let resolved =
            try
                if not (isNull fi.LinkTarget) then
                    match fi.ResolveLinkTarget(true) with
                    | null -> fi :> FileSystemInfo
                    | t -> t
                else
                    fi :> FileSystemInfo
            with :? IOException as e ->
                Errors.fail "%s: cannot follow its symbolic link (%s; a link loop?)" path e.Message

        if Directory.Exists resolved.FullName then Errors.fail "%s: is a directory, not a file" path
        if not resolved.Exists then Errors.fail "%s: no such file" path

        match FileKind.typeBits resolved.FullName with
        | Some t when t <> 0x8000 -> Errors.fail "%s: is %s, not a regular file" path (FileKind.describe t)
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

        override _.Position
            with get () = total
            and set _ = raise (NotSupportedException())

        override _.Flush() = ()
        override _.Seek(_, _) = raise (NotSupportedException())
        override _.SetLength _ = raise (NotSupportedException())
        override _.Write(_, _, _) = raise (NotSupportedException())

        override _.Read(buffer: byte[], offset: int, count: int) =
            let n =
                try
                    inner.Read(buffer, offset, count)
                with :? InvalidDataException as e ->
                    Errors.fail "%s: corrupt gzip stream (%s)" name (e.Message.TrimEnd('.'))

            total <- total + int64 n

            if total > limit then
                Errors.fail "%s: decodes to more than %d bytes, the limit (a compressed file that expands without bound?)" name limit

            n

        override _.Dispose(disposing: bool) =
            (if disposing then inner.Dispose())
            base.Dispose disposing

    /// The whole content of a regular file of at most `maxFileBytes` bytes, transparently gunzipped (the
    /// decoded content at most `maxDecodedBytes`).
    [<CompiledName("ReadAll")>]
    let readAll (maxFileBytes: int64) (maxDecodedBytes: int64) (path: string) : byte[] =
        checkRegular path
        let len = FileInfo(path).Length
        if len > maxFileBytes then Errors.fail "%s: %d bytes, more than the limit of %d" path len maxFileBytes

        let raw =
            try
                File.ReadAllBytes path
            with
            | :? IOException
            | :? UnauthorizedAccessException as e -> Errors.fail "%s: cannot read (%s)" path e.Message

        if raw.Length >= 2 && raw.[0] = 0x1fuy && raw.[1] = 0x8buy then
            use z = new Limited(new GZipStream(new MemoryStream(raw), CompressionMode.Decompress), maxDecodedBytes, path)
            use ms = new MemoryStream()
            z.CopyTo ms
            ms.ToArray()
        else
            if int64 raw.Length > maxDecodedBytes then
                Errors.fail "%s: %d bytes, more than the limit of %d" path raw.Length maxDecodedBytes

            raw

    /// Largest JSON file of a run folder read back (config, result, checkpoint state): 256 MiB.
    let MaxJsonBytes = 256L <<< 20

    /// The text of a regular file of at most `maxBytes` bytes (UTF-8, not decompressed).
    [<CompiledName("ReadText")>]
    let readText (maxBytes: int64) (path: string) : string =
        checkRegular path
        let len = FileInfo(path).Length
        if len > maxBytes then Errors.fail "%s: %d bytes, more than the limit of %d" path len maxBytes

        try
            File.ReadAllText path
        with
        | :? IOException
        | :? UnauthorizedAccessException as e -> Errors.fail "%s: cannot read (%s)" path e.Message
