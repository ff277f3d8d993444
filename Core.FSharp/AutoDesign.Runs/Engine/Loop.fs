namespace AutoDesign.Runs

open System
open System.Diagnostics
open System.Text.Json.Nodes
open TorchSharp

/// How a training loop is laid out and how often it checkpoints.
type LoopSpec =
    {
        /// Shown in progress lines.
        Label: string
        /// Steps in the whole run.
        Steps: int
        /// Steps per epoch (Steps when the loop has no epochs); the end-of-epoch hook runs after each.
        StepsPerEpoch: int
        /// Commit a checkpoint every this many steps (0: only at epoch ends and at the end).
        CheckpointEvery: int
        /// Also commit when this many seconds passed since the last commit (0: never by time).
        CheckpointSeconds: float
    }

    static member Of(label: string, steps: int) = { Label = label; Steps = steps; StepsPerEpoch = steps; CheckpointEvery = 0; CheckpointSeconds = 300.0 }

/// Where a step is: global step (0-based), epoch (0-based) and step within the epoch.
type StepInfo = { Step: int; Epoch: int; StepInEpoch: int; StepsPerEpoch: int }

/// What a step can report: progress metrics (shown) and metrics rows (kept in the checkpoint and
/// written to metrics.csv).
[<Sealed>]
type LoopContext internal (rows: ResizeArray<(string * Cell) list>) =
    let mutable shown: (string * float) list = []

    member internal _.Shown
        with get () = shown
        and set v = shown <- v

    member internal _.AddPairs(row: (string * Cell) list) = rows.Add row
    /// Show the numbers of `metrics` (C#: `ctx.ShowMetrics(new MetricsRow().Number("loss", v))`).
    member _.ShowMetrics(metrics: MetricsRow) = shown <- metrics.NumberPairs
    /// Append a metrics row.
    member _.AddRow(row: MetricsRow) = rows.Add row.Pairs
    member internal _.Rows = rows :> Collections.Generic.IReadOnlyList<_>

/// The F# notation of a step's reports: (name, value) lists, e.g. `ctx.Show [ "loss", v ]`; C# uses
/// ShowMetrics and AddRow with a MetricsRow.
[<AutoOpen>]
module LoopNotation =
    type LoopContext with
        /// Show these metrics on the progress line.
        member ctx.Show(metrics: seq<string * float>) = ctx.Shown <- List.ofSeq metrics
        /// Append a metrics row (numbers).
        member ctx.Row(values: seq<string * float>) = ctx.AddPairs(values |> List.ofSeq |> List.map (fun (k, v) -> k, Cell.Number v))
        /// Append a metrics row with text cells.
        member ctx.RowCells(values: seq<string * Cell>) = ctx.AddPairs(List.ofSeq values)

/// A resumable training loop as one object (the C# entry to the engine, `Loop.Train`): the layout of
/// `LoopSpec` as settable properties and the step as a delegate.
[<Sealed>]
type LoopOptions() =
    /// Shown in progress lines and errors.
    member val Label = "loop" with get, set
    /// Steps in the whole run.
    member val Steps = 0 with get, set
    /// Steps per epoch (0: Steps, a loop without epochs); EndOfEpoch runs after each epoch's last step.
    member val StepsPerEpoch = 0 with get, set
    /// Commit a checkpoint every this many steps too (0: only at epoch ends and at the end).
    member val CheckpointEvery = 0 with get, set
    /// Also commit when this many seconds passed since the last commit (0: never by time).
    member val CheckpointSeconds = 300.0 with get, set
    /// Keep non-finite losses as the loop's outcome instead of stopping the run (`Loop.runRecordingDivergence`).
    member val RecordDivergence = false with get, set
    /// One step: where it is, and the context to show metrics and append rows to. Required.
    member val Step: Action<StepInfo, LoopContext> = null with get, set
    /// After the last step of each epoch (0-based), e.g. evaluation; optional.
    member val EndOfEpoch: Action<int, LoopContext> = null with get, set

/// The training-loop engine every system's training uses. It restores `state` and the metrics rows from
/// the run's latest checkpoint, runs the remaining steps, and commits checkpoints (every registered
/// component, every random stream, the rows) as units. A run killed at any instant and started again
/// continues from its last checkpoint and, because the steps are deterministic functions of the restored
/// state, ends with the same weights and metrics as an uninterrupted run.
module Loop =
    let private rowsToJson (rows: ResizeArray<(string * Cell) list>) =
        let a = JsonArray()

        for r in rows do
            let o = JsonObject()

            for (k, c) in r do
                o.[k] <-
                    (match c with
                     | Cell.Number v -> JsonValue.Create(v) :> JsonNode
                     | Cell.Text s -> JsonValue.Create(s) :> JsonNode)

            a.Add o

        a

    /// The metrics rows of a checkpoint: an array of objects whose members are numbers (NaN and the
    /// infinities as strings) or strings; anything else is a UserError naming `file` and the field.
    let private rowsOfJson (file: string) (node: JsonNode) =
        let rows = ResizeArray<(string * Cell) list>()
        let a = Json.array file "loop/rows" node

        for i in 0 .. a.Count - 1 do
            let here = sprintf "loop/rows[%d]" i

            rows.Add
                [ for kv in Json.object file here a.[i] ->
                      let at = sprintf "%s.%s" here kv.Key

                      kv.Key,
                      (match kv.Value with
                       | :? JsonValue as v when v.GetValueKind() = Text.Json.JsonValueKind.String ->
                           match v.GetValue<string>() with
                           | "NaN" -> Cell.Number nan
                           | "Infinity" -> Cell.Number infinity
                           | "-Infinity" -> Cell.Number -infinity
                           | s -> Cell.Text s
                       | v -> Cell.Number(Json.number file at v)) ]

        rows

    let private runCore
        (finiteOnly: bool)
        (run: Run)
        (state: TrainState)
        (spec: LoopSpec)
        (step: StepInfo -> LoopContext -> unit)
        (endOfEpoch: int -> LoopContext -> unit)
        : (string * Cell) list list =
        if spec.Steps < 0 then Errors.fail "%s: steps must be >= 0, got %d" spec.Label spec.Steps
        if spec.StepsPerEpoch < 1 && spec.Steps > 0 then Errors.fail "%s: steps per epoch must be >= 1" spec.Label
        let rows = ResizeArray<(string * Cell) list>()

        let start =
            match run.LatestCheckpoint() with
            | Some(s, snap, files) ->
                try
                    let file = files.ValuesFile
                    let at = Json.integer file "loop/step" (Json.memberOf file "" "loop/step" snap.Values)

                    if at <> s then
                        Errors.fail
                            "%s: field 'loop/step' is %d but the checkpoint folder is named for step %d (a renamed or copied folder?); the run folder is damaged (delete it or pass --force)"
                            file
                            at
                            s

                    if s > int64 spec.Steps then
                        Errors.fail "%s: the checkpoint is at step %d, beyond the run's %d steps" spec.Label s spec.Steps

                    rows.AddRange(rowsOfJson file (Json.memberOf file "" "loop/rows" snap.Values))
                    state.RestoreFrom(snap, files, [ "loop/rows"; "loop/step" ])
                finally
                    for t in snap.Tensors.Values do
                        t.Dispose()

                int s
            | None -> 0

        let ctx = LoopContext(rows)

        let commit (at: int) =
            let snap = Snapshot.Empty()
            state.Capture snap
            snap.Values.["loop/rows"] <- rowsToJson rows
            snap.Values.["loop/step"] <- JsonValue.Create at
            run.Commit(int64 at, snap)
            if rows.Count > 0 then Csv.write (run.File "metrics.csv") rows
        // AUTODESIGN_CHECKPOINT_EVERY=n commits every n steps whatever the spec says (preemptible machines, crash tests)
        let spec =
            match Environment.GetEnvironmentVariable "AUTODESIGN_CHECKPOINT_EVERY" with
            | null
            | "" -> spec
            | v ->
                match Int32.TryParse v with
                | true, n when n >= 1 -> { spec with CheckpointEvery = n }
                | _ -> Errors.fail "AUTODESIGN_CHECKPOINT_EVERY must be a positive integer, got '%s'" v

        if start < spec.Steps then
            if start > 0 then printfn "%s: resuming at step %d of %d from %s" spec.Label start spec.Steps run.Dir
            let progress = Progress(spec.Label, spec.Steps, start)
            let sinceCommit = Stopwatch.StartNew()
            let label = spec.Label.Trim()
            // an error inside a step names the run and the step; nothing after the last commit is stored
            let guarded (s: int) (f: unit -> unit) =
                try
                    f ()
                with UserError msg when not (msg.Contains run.Dir) ->
                    raise (UserError(sprintf "%s (run %s, step %d of %d; no result is stored)" msg run.Dir (s + 1) spec.Steps))
            // the losses a step shows and the rows it appends are already on the host: checking them is free
            let isLoss (k: string) = k = "loss" || k.EndsWith "_loss"
            let mutable rowsChecked = rows.Count

            let checkFinite (s: int) =
                if finiteOnly then
                    for (k, v) in ctx.Shown do
                        if isLoss k && not (Double.IsFinite v) then Errors.fail "%s: the %s is %g" label k v

                    for i in rowsChecked .. rows.Count - 1 do
                        for (k, c) in rows.[i] do
                            match c with
                            | Cell.Number v when isLoss k && not (Double.IsFinite v) -> Errors.fail "%s: %s is %g in its metrics row" label k v
                            | _ -> ()

                    rowsChecked <- rows.Count

            for s in start .. spec.Steps - 1 do
                let info =
                    { Step = s; Epoch = s / spec.StepsPerEpoch; StepInEpoch = s % spec.StepsPerEpoch; StepsPerEpoch = spec.StepsPerEpoch }

                guarded s (fun () ->
                    step info ctx
                    checkFinite s)

                Faults.hit "step"
                let epochEnd = info.StepInEpoch = spec.StepsPerEpoch - 1 || s = spec.Steps - 1

                if epochEnd then
                    guarded s (fun () ->
                        endOfEpoch info.Epoch ctx
                        checkFinite s)

                progress.Step(MetricsRow.OfNumbers ctx.Shown)

                let due =
                    epochEnd
                    || s = spec.Steps - 1
                    || (spec.CheckpointEvery > 0 && (s + 1) % spec.CheckpointEvery = 0)
                    || (spec.CheckpointSeconds > 0.0 && sinceCommit.Elapsed.TotalSeconds >= spec.CheckpointSeconds)

                if due then
                    commit (s + 1)
                    sinceCommit.Restart()

            progress.Done()
        elif spec.Steps = 0 && start = 0 then
            commit 0

        List.ofSeq rows

    /// Run `step` for every remaining step of `spec` in `run`; `endOfEpoch epoch ctx` runs after the last
    /// step of each epoch (e.g. evaluation, appending a row). Returns the metrics rows of the whole run.
    /// A loss (a value named `loss` or `..._loss`) that a step shows or puts in a metrics row and that is
    /// NaN or infinite stops the run with a UserError naming the run and the step, before anything of that
    /// step is committed, so no result is stored; so does any UserError a step raises.
    [<CompiledName("Run")>]
    let run run state spec step endOfEpoch = runCore true run state spec step endOfEpoch

    /// `run` for a loop that records divergence as its outcome (a DGGAN candidate ranked last, a DetectorGAN
    /// arm marked diverged): non-finite shown values and row numbers are kept as they are.
    [<CompiledName("RunRecordingDivergence")>]
    let runRecordingDivergence run state spec step endOfEpoch = runCore false run state spec step endOfEpoch

    /// The loop of `options` in `run` with the components of `state` checkpointed (`run` above, as one
    /// object for C#). Returns the metrics rows of the whole run; a finished run reopened returns its rows
    /// without running a step.
    [<CompiledName("Train")>]
    let train (run: Run) (state: TrainState) (options: LoopOptions) : Collections.Generic.IReadOnlyList<MetricsRow> =
        if isNull (box options) then Errors.fail "Loop.Train: no options"
        if isNull options.Step then Errors.fail "%s: the loop options have no Step" options.Label

        let spec =
            { Label = options.Label
              Steps = options.Steps
              StepsPerEpoch = (if options.StepsPerEpoch = 0 then options.Steps else options.StepsPerEpoch)
              CheckpointEvery = options.CheckpointEvery
              CheckpointSeconds = options.CheckpointSeconds }

        if spec.CheckpointEvery < 0 then Errors.fail "%s: CheckpointEvery must be >= 0, got %d" spec.Label spec.CheckpointEvery

        let endOfEpoch =
            match options.EndOfEpoch with
            | null -> fun (_: int) (_: LoopContext) -> ()
            | a -> fun e ctx -> a.Invoke(e, ctx)

        let rows = runCore (not options.RecordDivergence) run state spec (fun info ctx -> options.Step.Invoke(info, ctx)) endOfEpoch
        rows |> List.map MetricsRow.OfPairs |> ResizeArray :> Collections.Generic.IReadOnlyList<_>

/// Reading metrics rows.
module Rows =
    /// The numbers of one column, row by row (rows without it are skipped).
    [<CompiledName("Column")>]
    let column (name: string) (rows: (string * Cell) list list) : float list =
        rows
        |> List.choose (fun r ->
            match r |> List.tryFind (fst >> (=) name) with
            | Some(_, Cell.Number v) -> Some v
            | _ -> None)
