namespace AutoDesign.Runs

open System.IO
open System.Globalization
open System.Text.Json
open Deedle
open AutoDesign.Runs

/// The folder one training command writes: runs/<system>/<name>/ holding config.json,
/// metrics CSV files, PNG plots and checkpoints.
type RunFolder = { Dir: string; System: string; Name: string }

module RunFolder =
    let private checkName (what: string) (s: string) =
        if System.String.IsNullOrWhiteSpace s || s.IndexOfAny(Path.GetInvalidFileNameChars()) >= 0 || s = "." || s = ".." then
            Errors.fail "invalid run %s '%s' (use a plain folder name)" what s

    /// Create (or reuse) root/system/name.
    let create (root: string) (system: string) (name: string) : RunFolder =
        checkName "system" system
        checkName "name" name
        let dir = Path.GetFullPath(Path.Combine(root, system, name))
        try Directory.CreateDirectory dir |> ignore
        with :? System.IO.IOException | :? System.UnauthorizedAccessException as e ->
            Errors.fail "cannot create run folder %s: %s" dir e.Message
        { Dir = dir; System = system; Name = name }

    /// Path of a file inside the run folder.
    let file (rf: RunFolder) (fileName: string) = Path.Combine(rf.Dir, fileName)

    let jsonOptions = JsonSerializerOptions(WriteIndented = true)

    /// Write config.json (System.Text.Json; F# records serialize as objects), atomically.
    let writeConfig (rf: RunFolder) (cfg: 'T) =
        Atomic.writeAllText (file rf "config.json") (JsonSerializer.Serialize(cfg, jsonOptions))

    /// Write a Deedle frame as CSV (comma separated, invariant culture, row keys omitted), atomically.
    let writeCsv (rf: RunFolder) (fileName: string) (frame: Frame<int, string>) =
        Atomic.writeWith (file rf fileName) (fun tmp ->
            frame.SaveCsv(tmp, includeRowKeys = false, separator = ',', culture = CultureInfo.InvariantCulture))
