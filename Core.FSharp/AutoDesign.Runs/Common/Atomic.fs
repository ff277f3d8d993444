namespace AutoDesign.Runs

open System
open System.IO
open System.Text

/// Atomic file writes: write to a temporary file in the same folder, flush it to disk, rename it over
/// the target, flush the folder. A killed process leaves either the old file or the new one, never half.
/// Only a new path or a regular file is (re)written: a symbolic link, a FIFO, a folder or a device at the
/// target is refused, not replaced. A failing write (disk full, read-only file system, no permission) is a
/// UserError naming the file and the system's reason.
module internal Atomic =
    /// Characters the temporary name adds to the target's name: "." + name + "." + 32 hex digits + ".tmp".
    let private tempExtra = 38
    /// Longest file name, in bytes, that Linux file systems accept.
    let private maxName = 255

    /// The system's reason for a failed file operation.
    [<CompiledName("Reason")>]
    let reason (e: exn) =
        // .NET appends " : '<path>'" (the temporary file's) to the system's message
        Text.RegularExpressions.Regex.Replace(e.Message.Trim(), @"\s*:\s*'[^']*'$", "").TrimEnd('.')

    /// Run `f`, turning an I/O or permission failure into a UserError "cannot <what> <path>: <reason>".
    [<CompiledName("Guard")>]
    let guard (what: string) (path: string) (f: unit -> 'T) : 'T =
        try
            f ()
        with
        | :? IOException
        | :? UnauthorizedAccessException as e -> Errors.fail "cannot %s %s: %s" what path (reason e)

    /// Check that `path` may be written as a regular file: a non-empty name that leaves room for the
    /// temporary name, and nothing there or a regular file. Otherwise a UserError naming `path`.
    [<CompiledName("CheckTarget")>]
    let checkTarget (path: string) =
        if String.IsNullOrWhiteSpace path then Errors.fail "an empty file name was given where an output file is expected"

        let full =
            try
                Path.GetFullPath path
            with
            | :? ArgumentException
            | :? NotSupportedException
            | :? PathTooLongException as e -> Errors.fail "%s is not a usable file name: %s" path (reason e)

        let name = Path.GetFileName full
        if name = "" || path.EndsWith "/" then Errors.fail "%s names a folder, not a file" path
        let bytes = Encoding.UTF8.GetByteCount name

        if bytes + tempExtra > maxName then
            Errors.fail
                "%s: the file name is too long (%d bytes; at most %d, as the file is written through a temporary name %d bytes longer)"
                path
                bytes
                (maxName - tempExtra)
                tempExtra

        match FileKind.notRegular full with
        | Some what -> Errors.fail "%s is %s, not a regular file; refusing to replace it (give a new path or a regular file)" path what
        | None -> ()

    /// Let `write` produce the file at a temporary path, then move it into place.
    [<CompiledName("WriteWith")>]
    let writeWith (path: string) (write: string -> unit) =
        checkTarget path
        let full = Path.GetFullPath path
        let dir = Path.GetDirectoryName full
        guard "create the folder of" path (fun () -> Directory.CreateDirectory dir |> ignore)
        let tmp = Path.Combine(dir, sprintf ".%s.%s.tmp" (Path.GetFileName full) (Guid.NewGuid().ToString("N")))

        try
            guard "write" path (fun () ->
                write tmp
                Durable.syncFile tmp
                File.Move(tmp, full, true)
                Durable.syncDirectory dir)
        finally
            try
                if File.Exists tmp then File.Delete tmp
            with
            | :? IOException
            | :? UnauthorizedAccessException -> ()

    [<CompiledName("WriteAllBytes")>]
    let writeAllBytes (path: string) (bytes: byte[]) = writeWith path (fun tmp -> File.WriteAllBytes(tmp, bytes))

    let writeAllText (path: string) (text: string) = writeWith path (fun tmp -> File.WriteAllText(tmp, text))

    /// Whether `name` is one of the temporary files `writeWith` makes (".<target>.<32 hex digits>.tmp"): one
    /// left behind by a killed process.
    [<CompiledName("IsTemporary")>]
    let isTemporary (name: string) =
        name.StartsWith "."
        && name.EndsWith ".tmp"
        && (let parts = name.Split('.') in parts.Length >= 4 && parts.[parts.Length - 2].Length = 32 && parts.[parts.Length - 2] |> Seq.forall Uri.IsHexDigit)

    /// Check, before long work, that `path` can be written later: checkTarget, then its folder is created
    /// and a temporary file is created there and removed (a read-only or full file system fails here).
    [<CompiledName("CheckWritable")>]
    let checkWritable (path: string) =
        checkTarget path
        let full = Path.GetFullPath path
        let dir = Path.GetDirectoryName full
        guard "create the folder of" path (fun () -> Directory.CreateDirectory dir |> ignore)
        let tmp = Path.Combine(dir, sprintf ".%s.%s.tmp" (Path.GetFileName full) (Guid.NewGuid().ToString("N")))

        guard "write" path (fun () ->
            try
                File.WriteAllBytes(tmp, [||])
            finally
                if File.Exists tmp then File.Delete tmp)

    /// Check that `dir` may be used as an output folder (created when missing); otherwise a UserError
    /// naming `option` (the command-line option or setting that gave it).
    [<CompiledName("PrepareFolder")>]
    let prepareFolder (option: string) (dir: string) =
        if String.IsNullOrWhiteSpace dir then Errors.fail "%s: an empty folder name was given" option

        match FileKind.notRegular dir with
        | Some "a directory" -> ()
        | Some "a symbolic link" when Directory.Exists dir -> ()
        | Some what -> Errors.fail "%s %s is %s, not a folder" option dir what
        | None when File.Exists dir -> Errors.fail "%s %s is a file, not a folder" option dir
        | None -> guard "create the folder" dir (fun () -> Directory.CreateDirectory dir |> ignore)
