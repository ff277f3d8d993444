namespace AutoDesign.D2NN

open System
open System.IO
open System.Globalization
open TorchSharp
open AutoDesign.Runs

module Sweep =
    open SweepChild

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
    let pointFolder (recipe: Recipe) (lambda: float) = sprintf "points/%s/lambda-%s" recipe.Name (Invariant.number lambda)

    /// Check (or create) the sweep folder's configuration; its lock is held only while checking, so jobs of
    /// one sweep can run at the same time.
    [<CompiledName("Open")>]
    let openSweep (ctx: SweepContext) =
        use _ = Run.Open({ ctx.Options with Wait = true }, ctx.Folder, "d2nn.sweep/1", ctx.Settings)
        ()

    let private staticOptions (ctx: SweepContext) steps =
        { ctx.Settings.Training with Steps = steps; RegularLoss = CrossEntropy 1.0; DetachControlInputs = true }

    [<CompiledName("StaticConfig")>]
    let staticConfig (ctx: SweepContext) (b: Baseline) : StaticConfig =
        { Architecture = ctx.Architecture.Name
          Network = b.Name
          Task = ctx.Settings.Task
          Training = staticOptions ctx ctx.Settings.BaselineSteps
          Compute = ctx.Settings.Compute }

    /// The folder of the static baseline `b`, relative to the sweep folder.
    let private staticFolder (b: Baseline) = "static/" + slug b.Name

    /// The training of a static baseline (λ = 1: the task's metric alone; no control node to learn).
    let private staticJob (ctx: SweepContext) (c: CompiledD2nn) (opts: TrainOptions) =
        (trainer ctx c).Job(opts, Learn(Reward.tradeoff ctx.Task.Metric 1.0, Multiplications c.FullCost))

    /// The static baseline `b`, trained for BaselineSteps (or its stored result).
    [<CompiledName("Static")>]
    let staticRun (ctx: SweepContext) (b: Baseline) : StaticBaseline =
        let cfg = staticConfig ctx b
        use run = openChild ctx (staticFolder b) staticKind cfg
        let point r = { Series = b.Name; Recipe = ""; Lambda = nan; Steps = cfg.Training.Steps; Result = r }

        if run.IsFinished then
            let c, r = load ctx run b.Build in { Trained = c; BaselinePoint = point r }
        else
            let c = build ctx b.Build

            Training.trainKeepingState run (staticJob ctx c cfg.Training)

            { Trained = c; BaselinePoint = point (finish ctx run c None b.Name) }

    /// The static baseline `b` continued to the D²NN's total training (SweepSettings.EqualBudget).
    [<CompiledName("EqualBudget")>]
    let equalBudgetRun (ctx: SweepContext) (b: Baseline) : CurvePoint =
        let s = ctx.Settings
        let baseCfg = staticConfig ctx b
        let extra = max 0 (s.D2nnTotalSteps - s.BaselineSteps)
        let cfg = { Continues = baseCfg; ExtraSteps = extra }
        use run = openChild ctx ("static-equal/" + slug b.Name) equalBudgetKind cfg
        let point r = { Series = b.Name; Recipe = ""; Lambda = nan; Steps = s.BaselineSteps + extra; Result = r }

        if run.IsFinished then
            point (run.Result<PointResult>())
        else
            let fromDir = ensure ctx (staticFolder b) staticKind baseCfg "baselines" (fun () -> staticRun ctx b |> ignore)
            let c = build ctx b.Build

            Training.continueFrom fromDir run (staticJob ctx c { baseCfg.Training with Steps = extra })

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
        use run = openChild ctx "latency" latencyKind cfg

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
        use run = openChild ctx "warm-start" warmStartKind cfg

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
                        let dir = ensure ctx (staticFolder b) staticKind (staticConfig ctx b) "baselines" (fun () -> staticRun ctx b |> ignore)

                        let got = Training.loadMatching (Path.Combine(dir, "weights.safetensors")) c taken
                        if got.Length > 0 then log "%s warm start: %s from %s" ctx.Architecture.Name (String.concat ", " got) b.Name
                        taken <- taken + Set.ofArray got

            (trainer ctx c).Train(run, cfg.Training, Warmup)
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
        use run = openChild ctx (pointFolder recipe lambda) pointKind cfg
        let point r = { Series = "D2NN"; Recipe = recipe.Name; Lambda = lambda; Steps = ctx.Settings.D2nnTotalSteps; Result = r }

        if run.IsFinished then
            point (run.Result<PointResult>())
        else
            let latency =
                match ctx.Settings.Cost with
                | Wall b ->
                    let dir = ensure ctx "latency" latencyKind (latencyConfig ctx b) "latency" (fun () -> latencyRun ctx b |> ignore)
                    Some((Latency.loadTables (Path.Combine(dir, "latency.json"))).Cost(ctx.Architecture.Name, ctx.Architecture.Reference.Name))
                | Mults -> None

            let c = build ctx ctx.Architecture.Build

            if ctx.Settings.HasWarmStart then
                let warmDir =
                    ensure ctx "warm-start" warmStartKind (warmStartConfig ctx) "warm-start" (fun () -> warmStartRun ctx |> ignore)

                Training.loadWeights (Path.Combine(warmDir, "weights.safetensors")) c

            let cost =
                match latency with
                | Some l -> Latency l
                | None -> Multiplications cfg.Normalizer

            (trainer ctx c).Train(run, cfg.Training, Learn(Reward.tradeoff ctx.Task.Metric lambda, cost))

            point (finish ctx run c latency (sprintf "D2NN %s λ=%s" recipe.Name (Invariant.number lambda)))

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
        use run = openChild ctx "early-exit" earlyExitKind cfg

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
                    (Invariant.number p.Threshold)
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
        let num (v: float) = if Double.IsNaN v then "" else Invariant.number v

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
                        Invariant.number p.Result.Metric
                        Invariant.number p.Result.Cost
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

                      List.map
                          Cell.Text
                          [ p.Recipe
                            Invariant.number p.Lambda
                            c.Path
                            string nodes
                            string c.Count
                            Invariant.number (float c.Count / float (max 1 n)) ] ]
