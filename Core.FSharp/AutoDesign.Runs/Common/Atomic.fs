namespace AutoDesign.Runs

open System
open System.IO

/// Atomic file writes: write to a temporary file in the same folder, flush it to disk, rename it over
/// the target, flush the folder. A killed process leaves either the old file or the new one, never half.
module internal Atomic =
    let private tempFor (path: string) =
        let full = Path.GetFullPath path
        let dir = Path.GetDirectoryName full
        Directory.CreateDirectory dir |> ignore
        Path.Combine(dir, sprintf ".%s.%s.tmp" (Path.GetFileName full) (System.Guid.NewGuid().ToString("N")))

    /// Let `write` produce the file at a temporary path, then move it into place.
    [<CompiledName("WriteWith")>]
    let writeWith (path: string) (write: string -> unit) =
        let tmp = tempFor path
        try
            write tmp
            Durable.syncFile tmp
            File.Move(tmp, path, true)
            Durable.syncDirectory (Path.GetDirectoryName(Path.GetFullPath path))
        finally
            if File.Exists tmp then File.Delete tmp

    [<CompiledName("WriteAllBytes")>]
    let writeAllBytes (path: string) (bytes: byte[]) = writeWith path (fun tmp -> File.WriteAllBytes(tmp, bytes))
    let writeAllText (path: string) (text: string) = writeWith path (fun tmp -> File.WriteAllText(tmp, text))

    /// Whether `name` is one of the temporary files `writeWith` makes (".<target>.<32 hex digits>.tmp"): one
    /// left behind by a killed process.
    [<CompiledName("IsTemporary")>]
    let isTemporary (name: string) =
        name.StartsWith "." && name.EndsWith ".tmp"
        && (let parts = name.Split('.') in parts.Length >= 4 && parts.[parts.Length - 2].Length = 32
                                           && parts.[parts.Length - 2] |> Seq.forall Uri.IsHexDigit)
