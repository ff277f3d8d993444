namespace AutoDesign.Reproduce

open System
open System.IO
open System.Text.Json
open AutoDesign.Runs

/// The stored outcome of one experiment: runs/reproduce/<system>/<name>.json. REPORT.md is rebuilt
/// from all stored results, so running a subset (`--only`) keeps every other system's rows.
type StoredResult =
    { System: string
      Name: string
      Description: string
      Quick: bool
      FinishedUtc: DateTime
      Seconds: float
      Rows: ReportRow[] }

module Results =
    let folder (runsRoot: string) = Path.Combine(runsRoot, "reproduce")

    let path (runsRoot: string) (system: string) (name: string) =
        Path.Combine(folder runsRoot, system, name + ".json")

    let store (runsRoot: string) (r: StoredResult) =
        Atomic.writeAllText (path runsRoot r.System r.Name) (JsonSerializer.Serialize(r, JsonSerializerOptions(WriteIndented = true)))

    let private read (file: string) =
        try JsonSerializer.Deserialize<StoredResult>(File.ReadAllText file)
        with :? JsonException as e -> Errors.fail "stored result %s is corrupt: %s (delete it and run the experiment again)" file e.Message

    /// Every stored result under runsRoot/reproduce (any order).
    let loadAll (runsRoot: string) : StoredResult list =
        let dir = folder runsRoot
        if not (Directory.Exists dir) then []
        else
            Directory.GetFiles(dir, "*.json", SearchOption.AllDirectories)
            |> Array.sort
            |> Array.map read
            |> Array.filter (fun r -> not (isNull (box r)))
            |> List.ofArray
