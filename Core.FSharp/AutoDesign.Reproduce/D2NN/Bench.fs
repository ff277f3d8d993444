namespace AutoDesign.Reproduce.D2NN

open System
open System.Diagnostics
open System.IO
open TorchSharp
open AutoDesign.Runs
open AutoDesign.Nn.D2NN
open AutoDesign.D2NN
open AutoDesign.Reproduce.D2NN.D2nnTiming

/// Wall time against multiplications of a trained cascade D²NN, at one inference batch size.
type BenchTiming =
    {
        Batch: int
        D2nnMs: float
        FullMs: float
        /// Latency the cost model predicts, as a fraction of the full network's (None: no latency model).
        Modeled: float option
        ExecutorFactor: float
        ArchitectureFactor: float
    }

    member t.WallFraction = t.D2nnMs / t.FullMs

type BenchResult =
    { Architecture: string
      Cost: string
      Lambda: float
      Metric: float
      FullMetric: float
      MultFraction: float
      Batched: BenchTiming
      Single: BenchTiming
      Seconds: float }

    member r.WallFraction = r.Batched.WallFraction
    member r.Ratio = r.Batched.WallFraction / r.MultFraction

/// Wall time vs multiplications of the cascade D²NN (§2.5.2: 82% wall time for 53% multiplications),
/// at batch 256 and one image at a time.
module D2nnBench =
    /// Per cascade stage: the nodes that run whenever the stage is reached, and those that run only when
    /// the example exits there (the fast form's exit heads; the thesis form evaluates its exits anyway).
    let private stages (arch: Architecture) =
        if arch.Name.StartsWith "cascade-fast" then
            [ [ "N1"; "Q1" ], [ "N2" ]; [ "N3"; "Q2" ], [ "N4" ]; [ "N5"; "Q3" ], [ "N6" ]; [ "N7" ], [] ]
        else
            [ [ "N1"; "N2"; "Q1" ], []; [ "N3"; "N4"; "Q2" ], []; [ "N5"; "N6"; "Q3" ], []; [ "N7" ], [] ]

    /// Expected multiplications when each control node continues with probability p.
    let private expectedCost (c: CompiledD2nn) (arch: Architecture) (p: float) =
        List.foldBack (fun (always, exit) rest -> c.CostOf always + (1.0 - p) * c.CostOf exit + p * rest) (stages arch) 0.0

    /// The cascade with channels ×`width`, untrained, routed by a fixed policy that continues at each
    /// control node with the probability giving 50% of the full network's multiplications in expectation.
    /// This times the executor where multiplications dominate (routing not learned: executor only).
    let private wide (family: int -> Architecture) (width: int) (x: torch.Tensor) (batch: int) (runs: int) (seed: int) =
        torch.manual_seed (int64 seed) |> ignore
        let arch = family width
        let c = Preprocess.compile (arch.Build.Invoke())
        let full = Preprocess.compile (arch.Reference.Build.Invoke())
        let mutable lo, hi = 0.0, 1.0

        for _ in 1..40 do
            let mid = (lo + hi) / 2.0
            if expectedCost c arch mid / full.FullCost < 0.5 then lo <- mid else hi <- mid

        let p = lo

        let policy () =
            let rng = Random seed
            ActionPolicy(fun _ q _ -> Array.init (int q.shape[0]) (fun _ -> if rng.NextDouble() < p then 1L else 0L))

        let mf = multFraction c full.FullCost x batch (policy ())
        let dMs, fMs = race c full x batch runs policy
        printfn "%s (%.3g multiplications per example for the full network), untrained, each control node continues with p = %.3f:" arch.Name full.FullCost p

        printfn
            "  full network %.1f ms, D²NN %.1f ms: wall-time fraction %.1f%%, multiplication fraction %.1f%%, ratio %.2f"
            fMs
            dMs
            (100.0 * dMs / fMs)
            (100.0 * mf)
            (dMs / fMs / mf)

        profile c x batch policy
        let executor, architecture = timeModel c x batch policy fMs mf
        dMs / fMs / mf, executor, architecture

    let private loadAverage () =
        try
            (File.ReadAllText "/proc/loadavg").Trim()
        with _ ->
            "n/a"

    /// Time `c` against `full` on `x` at `batch`, with the cost model's prediction when there is one.
    let private timeAt (c: CompiledD2nn) (full: CompiledD2nn) (x: torch.Tensor) (batch: int) (runs: int) (multFraction: float) (latency: LatencyCost option) =
        let n = x.shape[0]
        let dMs, fMs = race c full x batch runs greedy
        let modeled = latency |> Option.map (fun l -> modeledFraction l batch c x)
        printfn "inference over %d test images, batch %d, best of %d runs (load average %s):" n batch runs (loadAverage ())
        printfn "  full network:  %8.1f ms (%.1f µs per image)" fMs (1000.0 * fMs / float n)
        printfn "  cascade D²NN:  %8.1f ms (%.1f µs per image)" dMs (1000.0 * dMs / float n)

        printfn
            "  wall-time fraction %.1f%%, multiplication fraction %.1f%%%s"
            (100.0 * dMs / fMs)
            (100.0 * multFraction)
            (match modeled with
             | Some m -> sprintf ", latency fraction the cost model predicts %.1f%%" (100.0 * m)
             | None -> "")

        profile c x batch greedy
        let executor, architecture = timeModel c x batch greedy fMs multFraction

        { Batch = batch
          D2nnMs = dMs
          FullMs = fMs
          Modeled = modeled
          ExecutorFactor = executor
          ArchitectureFactor = architecture }

    /// Train the cascade `arch` (baselines, warm start, the reward's cost from `o.Cost`, a few λ, the
    /// early-exit baseline) as a sweep in d2nn/bench-<arch>[-quick]-v2/seed<k>, and once more with mini-bags at
    /// the sampled prior in d2nn/bench-<arch>[-quick]-sampled-prior-v2/seed<k> (unless `o` fixes that prior);
    /// choose the λ and mini-bag prior together, and the early exit's threshold, on the validation split
    /// (Selection: cheapest within 0.01 of the full network's validation metric), and time both against the
    /// full network at batch 256 and batch 1. Torch runs on one thread.
    let private runOn (arch: Architecture) (o: ExperimentOptions) (runs: int) =
        let clock = Stopwatch.StartNew()
        let steps = if o.Quick then 300 else 1000
        let lambdas = if o.Quick then [ 0.9; 0.95; 0.99 ] else [ 0.8; 0.9; 0.95; 0.99 ]

        let o =
            { o with
                Lambdas = Some lambdas
                Threads = 1
                Sizes = { o.Sizes with Train = Some(defaultArg o.Sizes.Train (if o.Quick then 4000 else 48000)) } }

        let adjust (s: SweepSettings) =
            { s with
                BaselineSteps = steps
                WarmupSteps = steps / 2
                EqualBudget = false
                Training = { s.Training with Steps = steps; EpsilonSteps = steps / 2; BatchSize = 64 } }

        let folder (dataPrior: bool) =
            sprintf
                "d2nn/bench-%s%s%s-%s/seed%d"
                arch.Name
                (if o.Quick then "-quick" else "")
                (if dataPrior then "" else "-sampled-prior")
                D2nnExperiment.dataVersion
                o.Seed
        // the mini-bag prior is a recipe option chosen on validation like λ: both are trained unless
        // --bags-at-sampled-prior fixes it (binary tasks only; it does not change anything else)
        let priors = if o.BagsAtDataPrior && arch.Classes = 2 then [ true; false ] else [ o.BagsAtDataPrior ]

        printfn
            "bench d2nn: %s, %d steps per network, λ = %s, mini-bag prior %s, torch threads %d, load average %s"
            arch.Name
            steps
            (lambdas |> List.map string |> String.concat ", ")
            (if priors.Length > 1 then "chosen on validation (data or sampled)"
             elif o.BagsAtDataPrior then "data"
             else "sampled")
            (torch.get_num_threads ())
            (loadAverage ())

        let sweeps =
            [ for dp in priors -> dp, D2nnExperiment.sweepWith arch { o with BagsAtDataPrior = dp } o.Seed (folder dp) adjust ]

        let sweep = snd (List.head sweeps)
        let priorName dp = if dp then "data prior" else "sampled prior"
        let task = sweep.Task

        let latency =
            match o.Cost, sweep.Latency with
            | Wall _, Some t -> Some(t.Cost(arch.Name, arch.Reference.Name))
            | _ -> None

        latency |> Option.iter (fun _ -> printfn "latency model in %s" (Path.Combine(sweep.Dir, "latency", "latency.json")))
        let recipe = o.Recipe
        let fullPoint = sweep.Baselines.Head
        let full = D2nnExperiment.loadNetwork sweep ("static/" + Sweep.slug arch.Reference.Name) arch.Reference.Build o.Device
        // choices on the validation split (Selection's rule), cost as the reward counts it
        let validationCost (p: CurvePoint) =
            match latency with
            | Some l -> Evaluation.modeledLatency l p.Result.Validation.Counts
            | None -> p.Result.Validation.Cost

        let choose (ps: CurvePoint list) =
            Selection.cheapestWithin
                Selection.Tolerance
                fullPoint.Result.Validation.Metric
                (Func<CurvePoint, float>(fun p -> p.Result.Validation.Metric))
                (Func<CurvePoint, float>(validationCost))
                ps
        // every (prior, λ) point is a candidate; one latency table (the first sweep's) costs them all
        let candidates =
            [ for (dp, sw) in sweeps do
                  for p in sw.Points do
                      if p.Recipe = recipe.Name then yield p, (dp, sw) ]

        let chosen = choose (candidates |> List.map fst)
        let chosenPrior, chosenSweep = candidates |> List.find (fun (p, _) -> obj.ReferenceEquals(p, chosen)) |> snd
        let lambda = chosen.Lambda

        if not (Selection.isWithin Selection.Tolerance fullPoint.Result.Validation.Metric chosen.Result.Validation.Metric) then
            printfn
                "no λ reached validation %s within %g of the full network (%.4f): timing the most accurate D²NN on validation"
                task.Metric.Name
                Selection.Tolerance
                fullPoint.Result.Validation.Metric

        for (p, (dp, _)) in candidates do
            printfn
                "  λ=%g, %s: validation %s %.4f, cost %.1f%%; test %s %.4f, multiplications %.1f%%%s%s"
                p.Lambda
                (priorName dp)
                task.Metric.Name
                p.Result.Validation.Metric
                (100.0 * validationCost p)
                task.Metric.Name
                p.Result.Metric
                (100.0 * p.Result.Cost)
                (if Double.IsNaN p.Result.Latency then "" else sprintf ", modeled latency %.1f%%" (100.0 * p.Result.Latency))
                (if obj.ReferenceEquals(p, chosen) then "  <- chosen on validation" else "")

        let c = D2nnExperiment.loadNetwork chosenSweep (Sweep.pointFolder recipe lambda) arch.Build o.Device
        let point = chosen.Result
        let fullPoint = fullPoint.Result

        printfn
            "full network %s: validation %s %.4f, test %.4f; cascade D²NN at λ=%g, %s: test %s %.4f (%+.4f), %.1f%% of its multiplications"
            arch.Reference.Name
            task.Metric.Name
            fullPoint.Validation.Metric
            fullPoint.Metric
            lambda
            (priorName chosenPrior)
            task.Metric.Name
            point.Metric
            (point.Metric - fullPoint.Metric)
            (100.0 * point.Cost)
        // the early-exit baseline: its threshold chosen by the same rule
        let exit =
            match D2nnExperiment.earlyExitOf arch with
            | Some build when not sweep.EarlyExit.IsEmpty ->
                let e = choose sweep.ExitCurve
                torch.manual_seed (int64 o.Seed) |> ignore
                let net = build.Invoke()
                Training.loadWeights (Path.Combine(sweep.Dir, "early-exit", "weights.safetensors")) net.Network
                net.Network.To o.Device
                net.Threshold <- e.Lambda

                printfn
                    "early exit (same stages and exits, %d joint training steps): threshold %g chosen on validation (%.4f), test %s %.4f (%+.4f), %.1f%% of the multiplications"
                    sweep.Settings.D2nnTotalSteps
                    e.Lambda
                    e.Result.Validation.Metric
                    task.Metric.Name
                    e.Result.Metric
                    (e.Result.Metric - fullPoint.Metric)
                    (100.0 * e.Result.Cost)

                Some(net, e)
            | _ -> None

        full.To o.Device
        use x = task.TestX.``to`` (o.Device)
        let batched = timeAt c full x 256 runs point.Cost latency
        use x1 = x.narrow (0L, 0L, min 1000L x.shape[0])
        let single = timeAt c full x1 1 runs point.Cost latency

        let exitTimes =
            exit
            |> Option.map (fun (net, e) ->
                let at (xs: torch.Tensor) batch =
                    let eMs, fMs = race net.Network full xs batch runs greedy
                    eMs / fMs

                e, at x 256, at x1 1)

        use xw = x.narrow (0L, 0L, min 256L x.shape[0])
        let family = if arch.Name.StartsWith "cascade-fast" then FastCascade.cascadeOf else Architectures.cascadeOf
        let wideRatio, executor, architecture = wide family 8 xw 256 (max 2 (runs / 2)) o.Seed
        printfn "channels x8 (executor at work-dominated size): ratio %.2f = executor factor %.2f x architecture factor %.2f" wideRatio executor architecture

        let r =
            { Architecture = arch.Name
              Cost =
                (match latency with
                 | Some l -> sprintf "latency at batch %d" l.Batch
                 | None -> "mults")
              Lambda = lambda
              Metric = point.Metric
              FullMetric = fullPoint.Metric
              MultFraction = point.Cost
              Batched = batched
              Single = single
              Seconds = clock.Elapsed.TotalSeconds }

        let line (t: BenchTiming) =
            sprintf
                "wall %.1f%% (target <= 60%%), multiplications %.1f%%, modeled latency %s, executor factor %.2f, architecture factor %.2f"
                (100.0 * t.WallFraction)
                (100.0 * r.MultFraction)
                (match t.Modeled with
                 | Some m -> sprintf "%.1f%%" (100.0 * m)
                 | None -> "n/a")
                t.ExecutorFactor
                t.ArchitectureFactor

        printfn
            "summary: %s, cost %s, λ=%g, mini-bags at the %s, %s %.4f vs full %.4f (%+.4f; target within 0.01)"
            r.Architecture
            r.Cost
            lambda
            (priorName chosenPrior)
            task.Metric.Name
            r.Metric
            r.FullMetric
            (r.Metric - r.FullMetric)

        printfn "  batch 256: %s" (line batched)

        printfn
            "  batch 1:   %s (%.1f vs %.1f µs per image)"
            (line single)
            (1000.0 * single.D2nnMs / float x1.shape[0])
            (1000.0 * single.FullMs / float x1.shape[0])

        match exitTimes with
        | Some(e, w256, w1) ->
            printfn
                "  early exit at t=%g: %s %.4f (%+.4f), multiplications %.1f%%, wall %.1f%% at batch 256, %.1f%% at batch 1"
                e.Lambda
                task.Metric.Name
                e.Result.Metric
                (e.Result.Metric - r.FullMetric)
                (100.0 * e.Result.Cost)
                (100.0 * w256)
                (100.0 * w1)
        | None -> ()

        printfn "  bench time %.0f s (target: quick <= 180 s, full <= 600 s), load average %s" r.Seconds (loadAverage ())
        r

    /// See runOn; torch's thread count is 1 during the bench and restored afterwards.
    let run (arch: Architecture) (o: ExperimentOptions) (runs: int) =
        let threads = torch.get_num_threads ()
        torch.set_num_threads 1

        try
            runOn arch o runs
        finally
            torch.set_num_threads threads
