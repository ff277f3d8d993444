namespace AutoDesign.Runs

open System
open System.IO
open System.Text.Json.Nodes

/// How a command treats its run folder: where run folders go, whether a folder holding another
/// configuration may be discarded (`--force`), whether to wait for another writer (`--wait`).
type RunOptions =
    { Root: string
      Force: bool
      Wait: bool }

    static member Default = { Root = "runs"; Force = false; Wait = false }

/// One run: a typed configuration and the folder it owns.
///   config.json    { "kind": what code made it, "threads": torch's intra-op thread count, "config": the
///                  configuration }; the folder's identity
///   checkpoints/   the latest committed checkpoint (see Checkpoints)
///   metrics.csv    metrics rows so far (a view of the checkpoint; rewritten with it)
///   result.json    the result; present once the run finished
///   .lock, .lock.json   the exclusive lock and its holder while a process writes the folder
/// Opening a folder that holds the same kind and configuration continues it (or returns its result);
/// another configuration is refused with the differences named, unless Force discards the old run.
[<Sealed>]
type Run internal (dir: string, kind: string, config: JsonNode, options: RunOptions, lock: RunLock) =
    let resultPath = Path.Combine(dir, "result.json")

    member _.Dir = dir
    member _.Kind = kind
    member _.Config = config
    member _.Options = options
    /// Path of a file in the run folder.
    member _.File(name: string) = Path.Combine(dir, name)
    /// Whether the run has stored its result.
    member _.IsFinished = File.Exists resultPath

    /// The stored result.
    member _.Result<'R>() : 'R =
        if not (File.Exists resultPath) then Errors.fail "run %s has no result yet" dir
        let node = Json.memberOf resultPath "" "result" (Json.readFile resultPath)
        Json.ofNode<'R> (resultPath + " field 'result'") node

    /// Raise the UserError for a stored result that cannot be what the run produced (`detail` says why).
    member _.DamagedResult(detail: string) : 'T =
        Errors.fail "%s: field 'result' %s; the stored result is damaged (delete the run folder %s to run it again)" resultPath detail dir

    /// Store the result (atomically) and drop the checkpoints: the run is finished.
    member _.Finish(result: 'R) =
        Faults.hit "run-finish"
        let o = JsonObject()
        o.["kind"] <- JsonValue.Create kind
        o.["finished_utc"] <- JsonValue.Create(DateTime.UtcNow.ToString("o"))
        o.["result"] <- Json.toNode result
        Atomic.writeAllText resultPath (o.ToJsonString(Json.options))
        Checkpoints.clear dir

    /// The newest checkpoint (step, snapshot), if any.
    member internal _.LatestCheckpoint() = Checkpoints.tryLoad dir

    /// Commit a checkpoint at `step`.
    member _.Commit(step: int64, snapshot: Snapshot) = Checkpoints.commit dir step snapshot

    /// Discard everything the run stored (result, checkpoints, files, child runs) and start it afresh.
    member _.Discard() =
        for f in Directory.GetFiles dir do
            let n = Path.GetFileName f
            if n <> ".lock" && n <> ".lock.json" && n <> "config.json" then File.Delete f

        for d in Directory.GetDirectories dir do
            Directory.Delete(d, true)

    /// A run in the subfolder `name`, with the same options (a run of runs: search candidates, phases, arms).
    member _.Child(name: string, childKind: string, childConfig: 'C) : Run = Run.Open({ options with Root = dir }, name, childKind, childConfig)

    /// Open (creating if needed) the run folder `root/relPath` for a run of `kind` with `config`, and take its lock.
    static member Open(options: RunOptions, relPath: string, kind: string, config: 'C) : Run =
        if
            String.IsNullOrWhiteSpace relPath
            || relPath.Split('/', '\\')
               |> Array.exists (fun p -> p = "" || p = "." || p = ".." || p.IndexOfAny(Path.GetInvalidFileNameChars()) >= 0)
        then
            Errors.fail "invalid run name '%s' (use plain folder names separated by /)" relPath

        if File.Exists options.Root then Errors.fail "the runs root %s is a file, not a folder" options.Root
        let dir = Path.GetFullPath(Path.Combine(options.Root, relPath))

        let rec fileAbove (p: string) =
            if isNull p then None
            elif File.Exists p then Some p
            else fileAbove (Path.GetDirectoryName p)

        match fileAbove dir with
        | Some f -> Errors.fail "cannot use run folder %s: %s is a file" dir f
        | None -> ()

        (try
            Directory.CreateDirectory dir |> ignore
         with
         | :? IOException
         | :? UnauthorizedAccessException as e -> Errors.fail "cannot create run folder %s: %s" dir e.Message)

        let lock =
            try
                RunLock.Acquire(dir, options.Wait)
            with :? UnauthorizedAccessException as e ->
                Errors.fail "cannot write run folder %s: %s" dir e.Message

        try
            let asked = JsonObject()
            asked.["kind"] <- JsonValue.Create kind
            // results depend on torch's intra-op thread count, so it is part of every run's identity
            asked.["threads"] <- JsonValue.Create(TorchSharp.torch.get_num_threads ())
            asked.["config"] <- Json.toNode config
            let configPath = Path.Combine(dir, "config.json")

            let wipe () =
                for f in Directory.GetFiles dir do
                    let n = Path.GetFileName f
                    if n <> ".lock" && n <> ".lock.json" then File.Delete f

                for d in Directory.GetDirectories dir do
                    Directory.Delete(d, true)
            // the files a run folder holds are regular files: anything else (a folder, a link, a FIFO) is damage
            let damaged =
                [ "config.json"; "result.json"; "metrics.csv"; "log.txt" ]
                |> List.choose (fun n -> FileKind.notRegular (Path.Combine(dir, n)) |> Option.map (fun what -> n, what))

            match damaged with
            | (n, what) :: _ when not options.Force ->
                Errors.fail "%s is %s, not a regular file; the run folder is damaged (delete it or pass --force)" (Path.Combine(dir, n)) what
            | _ :: _ -> wipe ()
            | [] -> ()

            if File.Exists configPath then
                let stored =
                    try
                        Json.readFile configPath
                    with UserError msg when options.Force ->
                        null

                if isNull stored || not (JsonNode.DeepEquals(stored, asked)) then
                    if options.Force then
                        wipe ()
                    else
                        let diffs = if isNull stored then [] else Json.differences stored asked
                        let shown = diffs |> List.truncate 4 |> String.concat "; "

                        Errors.fail
                            "run folder %s holds a run of another configuration (stored vs asked: %s%s); use another run folder, or pass --force to discard it"
                            dir
                            shown
                            (if diffs.Length > 4 then sprintf "; and %d more" (diffs.Length - 4) else "")
            elif Directory.Exists(Path.Combine(dir, "checkpoints")) || File.Exists(Path.Combine(dir, "result.json")) then
                if options.Force then
                    wipe ()
                else
                    Errors.fail "run folder %s has checkpoints or a result but no config.json; it is damaged (delete it or pass --force)" dir

            if not (File.Exists configPath) then Atomic.writeAllText configPath (asked.ToJsonString(Json.options))
            new Run(dir, kind, asked.["config"], options, lock)
        with _ ->
            (lock :> IDisposable).Dispose()
            reraise ()

    interface IDisposable with
        member _.Dispose() = (lock :> IDisposable).Dispose()
