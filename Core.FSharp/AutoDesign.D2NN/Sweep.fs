namespace AutoDesign.D2NN

open System
open System.IO
open System.Globalization
open TorchSharp
open AutoDesign.Runs

/// One point of an accuracy/F1–cost figure (Fig. 2.2): a static baseline or a D²NN at some λ.
type CurvePoint =
    {
        Series: string
        /// The recipe's name for D²NN points; "" for baselines.
        Recipe: string
        /// NaN for baselines.
        Lambda: float
        /// Training steps behind the point (inherited baseline steps and warm-up included).
        Steps: int
        Result: PointResult
    }

/// A λ sweep of one architecture on one task as a run of runs under `Options.Root/Folder`:
///   config.json                    the shared settings (SweepSettings); the folder's identity
///   static/<baseline>/             each static baseline (weights.safetensors, final-state.* to continue from)
///   static-equal/<baseline>/       the baseline continued to the D²NN's total training (EqualBudget)
///   latency/                       latency tables of every network (cost = latency only)
///   warm-start/                    the warm start every λ point loads (weights.safetensors)
///   points/<recipe>/lambda-<λ>/    one D²NN per recipe and λ
///   early-exit/                    the early-exit baseline (architectures with exit heads; earlyExitRun)
/// Each child is a run with a typed configuration that embeds its dependencies' configurations, so a
/// child made from other dependencies is refused. Children lock only their own folder: once the warm start
/// is finished, the λ points can run as parallel jobs, with the same results however they are scheduled.
type SweepContext =
    {
        Options: RunOptions
        /// The sweep folder, relative to Options.Root.
        Folder: string
        Architecture: Architecture
        Task: Task
        Settings: SweepSettings
        Device: torch.Device
        /// Commit a checkpoint every this many steps (not part of any configuration: it does not change results).
        CheckpointEvery: int
        /// Train a dependency that has not finished (true), or refuse (false) naming `Hint stage`, the
        /// command that trains that stage.
        TrainDependencies: bool
        Hint: Func<string, string>
    }

/// A static baseline as trained (or loaded): the network and its point on the curve.
type StaticBaseline = { Trained: CompiledD2nn; BaselinePoint: CurvePoint }

module Sweep =
    let private inv (v: float) = v.ToString("0.#####", CultureInfo.InvariantCulture)

    let private log (fmt: Printf.StringFormat<'a, unit>) =
        Printf.kprintf
            (fun s ->
                printfn "%s" s
                Console.Out.Flush())
            fmt

    /// A folder name for a network name: "High NN (N1+N2)" → "high-nn-n1-n2".
    [<CompiledName("Slug")>]
    let slug (name: string) =
        let chars =
            name.ToLowerInvariant()
            |> Seq.map (fun ch -> if Char.IsLetterOrDigit ch && ch < '\u0080' then ch else '-')
            |> Array.ofSeq

        String(chars).Split('-', StringSplitOptions.RemoveEmptyEntries) |> String.concat "-"

    /// The folder of a λ point, relative to the sweep folder.
    [<CompiledName("PointFolder")>]
    let pointFolder (recipe: Recipe) (lambda: float) = sprintf "points/%s/lambda-%s" recipe.Name (inv lambda)

    let private childOptions (ctx: SweepContext) = { ctx.Options with Root = Path.Combine(ctx.Options.Root, ctx.Folder) }

    /// Check (or create) the sweep folder's configuration; its lock is held only while checking, so jobs of
    /// one sweep can run at the same time.
    [<CompiledName("Open")>]
    let openSweep (ctx: SweepContext) =
        use _ = Run.Open({ ctx.Options with Wait = true }, ctx.Folder, "d2nn.sweep/1", ctx.Settings)
        ()

    let private openChild (ctx: SweepContext) (name: string) (kind: string) (config: 'C) = Run.Open(childOptions ctx, name, kind, config)

    /// The folder of the dependency `name`, once finished: opened briefly (waiting for another writer, so
    /// a job finishing it is awaited), trained now by `train` when it is not finished and dependencies may
    /// be trained here, else a UserError naming the command of `stage`.
    let private ensure (ctx: SweepContext) (name: string) (kind: string) (config: 'C) (stage: string) (train: unit -> unit) : string =
        let dir, finished =
            use r = Run.Open({ childOptions ctx with Wait = true }, name, kind, config)
            r.Dir, r.IsFinished

        if not finished then
            if not ctx.TrainDependencies then Errors.fail "%s is not finished; train it first (%s)" dir (ctx.Hint.Invoke stage)
            train ()

        dir

    /// Build a network with weights drawn right after seeding torch (TorchSharp seeds its default generator
    /// at random per process, so building before seeding would make the run irreproducible).
    let private build (ctx: SweepContext) (graph: Func<D2nnGraph>) =
        torch.manual_seed (int64 ctx.Settings.Training.Seed) |> ignore
        let c = Preprocess.compile (graph.Invoke())
        c.To ctx.Device
        c

    let private normalizers = Collections.Concurrent.ConcurrentDictionary<string, float>()

    /// Multiplications per example of the reference network (compiled once per architecture and process).
    let private normalizer (ctx: SweepContext) =
        normalizers.GetOrAdd(
            ctx.Architecture.Name,
            fun _ ->
                use _ = torch.NewDisposeScope()
                (Preprocess.compile (ctx.Architecture.Reference.Build.Invoke())).FullCost
        )

    let private staticOptions (ctx: SweepContext) steps =
        { ctx.Settings.Training with Steps = steps; RegularLoss = CrossEntropy 1.0; DetachControlInputs = true }

    [<CompiledName("StaticConfig")>]
    let staticConfig (ctx: SweepContext) (b: Baseline) : StaticConfig =
        { Architecture = ctx.Architecture.Name
          Network = b.Name
          Task = ctx.Settings.Task
          Training = staticOptions ctx ctx.Settings.BaselineSteps
          Compute = ctx.Settings.Compute }

    let private evaluate (ctx: SweepContext) (c: CompiledD2nn) (latency: LatencyCost option) =
        let n = normalizer ctx

        let test =
            match latency with
            | Some l -> Evaluation.evaluateWithLatency c ctx.Task n l ctx.Architecture.Output ctx.Device
            | None -> Evaluation.evaluate c ctx.Task n ctx.Architecture.Output ctx.Device

        Evaluation.summarize test (Evaluation.evaluateSplit c ctx.Task ValidationSplit n ctx.Architecture.Output ctx.Device)

    /// Save the network's weights, evaluate it and store the result: the run is finished.
    let private finish (ctx: SweepContext) (run: Run) (c: CompiledD2nn) (latency: LatencyCost option) (label: string) =
        Training.saveWeights (run.File "weights.safetensors") c
        let r = evaluate ctx c latency

        log
            "%s %s: %s %.4f, cost %.3f%s"
            ctx.Architecture.Name
            label
            ctx.Task.Metric.Name
            r.Metric
            r.Cost
            (if Double.IsNaN r.Latency then "" else sprintf ", modeled latency %.3f" r.Latency)

        run.Finish r
        r

    /// A finished run's network (weights.safetensors) and result.
    let private load (ctx: SweepContext) (run: Run) (graph: Func<D2nnGraph>) =
        let c = build ctx graph
        Training.loadWeights (run.File "weights.safetensors") c
        c, run.Result<PointResult>()

    /// The static baseline `b`, trained for BaselineSteps (or its stored result).
    [<CompiledName("Static")>]
    let staticRun (ctx: SweepContext) (b: Baseline) : StaticBaseline =
        let cfg = staticConfig ctx b
        use run = openChild ctx ("static/" + slug b.Name) "d2nn.static/1" cfg
        let point r = { Series = b.Name; Recipe = ""; Lambda = nan; Steps = cfg.Training.Steps; Result = r }

        if run.IsFinished then
            let c, r = load ctx run b.Build in { Trained = c; BaselinePoint = point r }
        else
            let c = build ctx b.Build

            Training.trainKeepingState
                run
                c
                ctx.Task
                cfg.Training
                (Learn(Reward.tradeoff ctx.Task.Metric 1.0, Multiplications c.FullCost))
                ctx.Architecture.Output
                ctx.Device
                ctx.CheckpointEvery
                null
            |> ignore

            { Trained = c; BaselinePoint = point (finish ctx run c None b.Name) }

    /// The static baseline `b` continued to the D²NN's total training (SweepSettings.EqualBudget).
    [<CompiledName("EqualBudget")>]
    let equalBudgetRun (ctx: SweepContext) (b: Baseline) : CurvePoint =
        let s = ctx.Settings
        let baseCfg = staticConfig ctx b
        let extra = max 0 (s.D2nnTotalSteps - s.BaselineSteps)
        let cfg = { Continues = baseCfg; ExtraSteps = extra }
        use run = openChild ctx ("static-equal/" + slug b.Name) "d2nn.static-equal/1" cfg
        let point r = { Series = b.Name; Recipe = ""; Lambda = nan; Steps = s.BaselineSteps + extra; Result = r }

        if run.IsFinished then
            point (run.Result<PointResult>())
        else
            let fromDir = ensure ctx ("static/" + slug b.Name) "d2nn.static/1" baseCfg "baselines" (fun () -> staticRun ctx b |> ignore)
            let c = build ctx b.Build

            Training.continueFrom
                fromDir
                run
                c
                ctx.Task
                { baseCfg.Training with Steps = extra }
                (Learn(Reward.tradeoff ctx.Task.Metric 1.0, Multiplications c.FullCost))
                ctx.Architecture.Output
                ctx.Device
                ctx.CheckpointEvery
                null
            |> ignore

            point (finish ctx run c None (sprintf "%s (%d steps)" b.Name (s.BaselineSteps + extra)))

    /// Sizes at which nodes are timed for inference in batches of `batch`: 1, 4, 16, ... and `batch`.
    [<CompiledName("LatencyBatches")>]
    let latencyBatches (batch: int) =
        Seq.unfold (fun b -> if b < batch then Some(b, b * 4) else None) 1
        |> Seq.append [ batch ]
        |> Seq.distinct
        |> Seq.sort
        |> Array.ofSeq

    [<CompiledName("LatencyConfig")>]
    let latencyConfig (ctx: SweepContext) (batch: int) : LatencyConfig =
        { Architecture = ctx.Architecture.Name
          Networks = [| yield ctx.Architecture.Name; for b in ctx.Architecture.Baselines -> b.Name |]
          Batch = batch
          Compute = ctx.Settings.Compute }

    /// Latency tables of the D²NN and every baseline, timed node by node on this machine (current torch
    /// threads and device) for inference in batches of `batch`; stored as latency.json and the run's result.
    [<CompiledName("Latency")>]
    let latencyRun (ctx: SweepContext) (batch: int) : LatencyTables =
        if batch < 1 then Errors.fail "latency batch must be >= 1, got %d" batch
        let cfg = latencyConfig ctx batch
        use run = openChild ctx "latency" "d2nn.latency/1" cfg

        if run.IsFinished then
            run.Result<LatencyTables>()
        else
            let nets =
                [ yield Collections.Generic.KeyValuePair(ctx.Architecture.Name, build ctx ctx.Architecture.Build)
                  for b in ctx.Architecture.Baselines -> Collections.Generic.KeyValuePair(b.Name, build ctx b.Build) ]

            use _ = torch.NewDisposeScope()
            let sample = ctx.Task.TrainX.narrow(0L, 0L, min (int64 batch) ctx.Task.TrainX.shape[0]).``to``(ctx.Device)
            let models = Latency.measureAll nets sample (latencyBatches batch) 7

            let t =
                { Batch = batch
                  Note = sprintf "measured by the sweep on %O, %d torch threads" ctx.Device (torch.get_num_threads ())
                  Networks = models }

            Latency.saveTables (run.File "latency.json") t

            log
                "%s latency tables at batch %d: reference %s %.4f ms/example"
                ctx.Architecture.Name
                batch
                ctx.Architecture.Reference.Name
                ((t.Table ctx.Architecture.Reference.Name).FullPerExampleMs batch)

            run.Finish t
            t

    [<CompiledName("WarmStartConfig")>]
    let warmStartConfig (ctx: SweepContext) : WarmStartConfig =
        let s = ctx.Settings

        { Architecture = ctx.Architecture.Name
          Task = s.Task
          Inherits = (if s.InheritBaselines then [| for b in ctx.Architecture.Baselines -> staticConfig ctx b |] else [||])
          Training = staticOptions ctx s.WarmupSteps
          Compute = s.Compute }

    /// The warm start: regular nodes inherit the trained baselines' weights (if InheritBaselines), then
    /// WarmupSteps of cross-entropy under random routing. Its weights.safetensors is what every λ point loads.
    [<CompiledName("WarmStart")>]
    let warmStartRun (ctx: SweepContext) : CurvePoint =
        let cfg = warmStartConfig ctx
        use run = openChild ctx "warm-start" "d2nn.warm-start/1" cfg

        let point r =
            { Series = "D2NN warm start"
              Recipe = ""
              Lambda = nan
              Steps = ctx.Settings.D2nnTotalSteps - ctx.Settings.Training.Steps
              Result = r }

        if run.IsFinished then
            point (run.Result<PointResult>())
        else
            let c = build ctx ctx.Architecture.Build

            if Checkpoints.latestName run.Dir |> Option.isNone then
                let mutable taken = Set.empty

                for b in ctx.Architecture.Baselines do
                    if ctx.Settings.InheritBaselines then
                        let dir =
                            ensure ctx ("static/" + slug b.Name) "d2nn.static/1" (staticConfig ctx b) "baselines" (fun () -> staticRun ctx b |> ignore)

                        let got = Training.loadMatching (Path.Combine(dir, "weights.safetensors")) c taken
                        if got.Length > 0 then log "%s warm start: %s from %s" ctx.Architecture.Name (String.concat ", " got) b.Name
                        taken <- taken + Set.ofArray got

            Training.train run c ctx.Task cfg.Training Warmup ctx.Architecture.Output ctx.Device ctx.CheckpointEvery null |> ignore
            point (finish ctx run c None "warm start")

    [<CompiledName("PointConfig")>]
    let pointConfig (ctx: SweepContext) (recipe: Recipe) (lambda: float) : PointConfig =
        let s = ctx.Settings

        { Architecture = ctx.Architecture.Name
          Task = s.Task
          Lambda = lambda
          Recipe = recipe
          Training = { s.Training with RegularLoss = recipe.RegularLoss; DetachControlInputs = recipe.DetachControlInputs }
          Cost = s.Cost
          Normalizer = normalizer ctx
          Latency =
            (match s.Cost with
             | Wall b -> latencyConfig ctx b
             | Mults -> Unchecked.defaultof<_>)
          WarmStart = (if s.HasWarmStart then warmStartConfig ctx else Unchecked.defaultof<_>)
          Compute = s.Compute }

    /// One D²NN at λ trained by `recipe`, starting from the warm start's stored weights (if any).
    [<CompiledName("Point")>]
    let pointRun (ctx: SweepContext) (recipe: Recipe) (lambda: float) : CurvePoint =
        if Double.IsNaN lambda || lambda < 0.0 || lambda > 1.0 then Errors.fail "λ must be in [0, 1], got %g" lambda
        let cfg = pointConfig ctx recipe lambda
        use run = openChild ctx (pointFolder recipe lambda) "d2nn.point/1" cfg
        let point r = { Series = "D2NN"; Recipe = recipe.Name; Lambda = lambda; Steps = ctx.Settings.D2nnTotalSteps; Result = r }

        if run.IsFinished then
            point (run.Result<PointResult>())
        else
            let latency =
                match ctx.Settings.Cost with
                | Wall b ->
                    let dir = ensure ctx "latency" "d2nn.latency/1" (latencyConfig ctx b) "latency" (fun () -> latencyRun ctx b |> ignore)
                    Some((Latency.loadTables (Path.Combine(dir, "latency.json"))).Cost(ctx.Architecture.Name, ctx.Architecture.Reference.Name))
                | Mults -> None

            let c = build ctx ctx.Architecture.Build

            if ctx.Settings.HasWarmStart then
                let warmDir =
                    ensure ctx "warm-start" "d2nn.warm-start/1" (warmStartConfig ctx) "warm-start" (fun () -> warmStartRun ctx |> ignore)

                Training.loadWeights (Path.Combine(warmDir, "weights.safetensors")) c

            let cost =
                match latency with
                | Some l -> Latency l
                | None -> Multiplications cfg.Normalizer

            Training.train
                run
                c
                ctx.Task
                cfg.Training
                (Learn(Reward.tradeoff ctx.Task.Metric lambda, cost))
                ctx.Architecture.Output
                ctx.Device
                ctx.CheckpointEvery
                null
            |> ignore

            point (finish ctx run c latency (sprintf "D2NN %s λ=%s" recipe.Name (inv lambda)))

    [<CompiledName("EarlyExitConfig")>]
    let earlyExitConfig (ctx: SweepContext) (network: EarlyExitCascade) (thresholds: float[]) : EarlyExitConfig =
        let s = ctx.Settings

        { Architecture = ctx.Architecture.Name
          Task = s.Task
          Training = staticOptions ctx s.D2nnTotalSteps
          Exits = network.Exits
          Weights = Array.create network.Exits.Length 1.0
          Thresholds = thresholds
          Compute = s.Compute }

    /// The early-exit cascade `build` makes, trained jointly (equal weights on every exit's cross-entropy)
    /// for the D²NN's total training steps, and its curve over `thresholds` (test results with validation scores).
    [<CompiledName("EarlyExit")>]
    let earlyExitRun (ctx: SweepContext) (build: Func<EarlyExitCascade>) (thresholds: float[]) : ExitPoint[] =
        torch.manual_seed (int64 ctx.Settings.Training.Seed) |> ignore
        let network = build.Invoke()
        let cfg = earlyExitConfig ctx network thresholds
        use run = openChild ctx "early-exit" "d2nn.early-exit/1" cfg

        if run.IsFinished then
            run.Result<ExitPoint[]>()
        else
            let c = network.Network
            c.To ctx.Device
            network.Train(run, ctx.Task, cfg.Training, cfg.Weights, ctx.Device, ctx.CheckpointEvery) |> ignore
            Training.saveWeights (run.File "weights.safetensors") c
            let curve = network.Curve(ctx.Task, thresholds, normalizer ctx, ctx.Device)

            for p in curve do
                log
                    "%s early exit t=%s: %s %.4f (validation %.4f), cost %.3f"
                    ctx.Architecture.Name
                    (inv p.Threshold)
                    ctx.Task.Metric.Name
                    p.Result.Metric
                    p.Result.Validation.Metric
                    p.Result.Cost

            run.Finish curve
            curve

    /// curve.csv: series, recipe, lambda (early-exit rows: the threshold), steps, metric (test), cost
    /// (multiplication fraction), mults, latency (modeled time fraction, empty without tables),
    /// validation_<metric> (what choices are made on).
    [<CompiledName("WriteCurve")>]
    let writeCurve (path: string) (metricName: string) (latency: Func<CurvePoint, float>) (points: seq<CurvePoint>) =
        let num (v: float) = if Double.IsNaN v then "" else inv v

        Csv.writeTable
            path
            [ "series"; "recipe"; "lambda"; "steps"; metricName; "cost"; "mults"; "latency"; "validation_" + metricName ]
            [ for p in points ->
                  List.map
                      Cell.Text
                      [ p.Series
                        p.Recipe
                        num p.Lambda
                        string p.Steps
                        inv p.Result.Metric
                        inv p.Result.Cost
                        p.Result.Mults.ToString("0.###e+0", CultureInfo.InvariantCulture)
                        num (latency.Invoke p)
                        (if isNull (box p.Result.Validation) then "" else num p.Result.Validation.Metric) ] ]

    /// paths.csv: per D²NN point, the test examples per execution path (Fig. 2.4).
    [<CompiledName("WritePaths")>]
    let writePaths (path: string) (points: seq<CurvePoint>) =
        Csv.writeTable
            path
            [ "recipe"; "lambda"; "path"; "nodes"; "count"; "fraction" ]
            [ for p in points do
                  let n = p.Result.Paths |> Array.sumBy (fun c -> c.Count)

                  for c in p.Result.Paths ->
                      let nodes = if c.Path = "" then 0 else c.Path.Split('+').Length
                      List.map Cell.Text [ p.Recipe; inv p.Lambda; c.Path; string nodes; string c.Count; inv (float c.Count / float (max 1 n)) ] ]
