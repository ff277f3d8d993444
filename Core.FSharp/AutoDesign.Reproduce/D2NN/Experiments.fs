namespace AutoDesign.Reproduce.D2NN

open System
open System.IO
open TorchSharp
open AutoDesign.Runs
open AutoDesign.D2NN

module D2nnExperiment =
    let private inv (v: float) = v.ToString("0.#####", Globalization.CultureInfo.InvariantCulture)

    /// Quick: two λ where the trade-off bends for these tasks (the reproduce budget); full: the thesis-style
    /// sweep plus 0.99.
    let defaultLambdas quick = if quick then [ 0.9; 0.99 ] else [ 0.1; 0.2; 0.3; 0.4; 0.5; 0.6; 0.7; 0.8; 0.9; 0.95; 0.99; 1.0 ]

    /// Suffix of the architectures run on the mixed-difficulty MNIST task (Cluttered.mixedTask).
    let mixedSuffix = "-mixed"

    /// Suffix of a mixed-task architecture trained longer in the quick config (B = 400, docs/d2nn.md
    /// "`d2nn/highlow-mixed-long`").
    let longSuffix = "-mixed-long"

    /// Quick baseline steps of the long mixed-task variants.
    let longQuickSteps = 400

    /// Quick λ grid of the long mixed-task variants: 0.5 added to the default, chosen on validation (docs/d2nn.md
    /// "Smaller λ on validation").
    let longQuickLambdas = [ 0.5; 0.9; 0.99 ]

    /// The λ points of a sweep of `arch`: `o.Lambdas` if set, else the default grid (the long variants' own in quick).
    let lambdasFor (arch: Architecture) (o: ExperimentOptions) =
        match o.Lambdas with
        | Some l -> l
        | None when o.Quick && arch.Name.EndsWith longSuffix -> longQuickLambdas
        | None -> defaultLambdas o.Quick

    /// The five architectures (the four of §2.7.3 and the length-4 chain of the DCN comparison) and the
    /// cascade's fast forms, and high-low, cascade and hierarchical on the mixed-difficulty task (docs/d2nn.md).
    let architectures =
        Architectures.all
        @ [ DcnChain.architecture; FastCascade.cascade; FastCascade.fashion10 ]
        @ [ for a in [ Architectures.highLow; Architectures.cascade; Architectures.hierarchical ] -> { a with Name = a.Name + mixedSuffix } ]
        @ [ { Architectures.highLow with Name = Architectures.highLow.Name + longSuffix } ]

    /// Whether `arch` runs on the mixed-difficulty task.
    let isMixed (arch: Architecture) = arch.Name.EndsWith mixedSuffix || arch.Name.EndsWith longSuffix

    /// The architecture whose graph `arch` runs: itself, or the one a mixed-task variant renames.
    let graphName (arch: Architecture) =
        match [ longSuffix; mixedSuffix ] |> List.tryFind arch.Name.EndsWith with
        | Some suffix -> arch.Name.Substring(0, arch.Name.Length - suffix.Length)
        | None -> arch.Name

    /// The stored latency tables of `arch`'s graph, under `arch`'s name.
    let storedLatency (arch: Architecture) =
        let g = graphName arch

        StoredLatency.tables g
        |> Option.map (fun t -> { t with Networks = t.Networks |> Array.map (fun m -> if m.Network = g then { m with Network = arch.Name } else m) })

    let architecture (name: string) =
        match architectures |> List.tryFind (fun a -> a.Name = name) with
        | Some a -> a
        | None -> Errors.fail "unknown D²NN architecture '%s' (expected %s)" name (architectures |> List.map (fun a -> a.Name) |> String.concat ", ")

    /// Per-example input shape of an architecture's data.
    let inputShape (arch: Architecture) = if arch.Name = "dcn" then [| 1L; 40L; 40L |] else [| 1L; 28L; 28L |]

    /// Training / validation / test examples (quick: sized for the reproduce budget on 2 cores). The
    /// validation examples are carved from the training images (full: 55,000 + 5,000 of the 60,000).
    let private sizes (arch: Architecture) (o: ExperimentOptions) =
        let train, test = if o.Quick then 2000, 1000 else 55000, 10000
        let train = defaultArg o.Sizes.Train train
        let validation = if o.Quick then 500 else 5000
        train, (if o.Sizes.Train.IsSome then max 100 (train / 4) else validation), defaultArg o.Sizes.Test test

    /// The stand-in task of an architecture.
    let taskFor (arch: Architecture) (o: ExperimentOptions) (seed: int) =
        let train, validation, test = sizes arch o

        match arch.Name with
        | _ when isMixed arch -> Cluttered.mixedTask arch.Classes train validation test seed
        | "hierarchical" -> Tasks.hierarchy train validation test seed
        | "dcn" -> Cluttered.task train validation test Cluttered.defaultConfig seed
        | "cascade-fashion10" -> Tasks.fashionTen train validation test seed
        | _ -> Tasks.oneVsRest 0 train validation test seed

    /// The early-exit form of an architecture where an exit fits (same stages and exit heads, same node
    /// names): the cascade, its fast forms and high-low. Chain, hierarchical and dcn have no exit head.
    let earlyExitOf (arch: Architecture) : Func<EarlyExitCascade> option =
        match graphName arch with
        | "cascade" -> Some(Func<_>(Architectures.cascadeEarlyExit))
        | "cascade-fast" -> Some(Func<_>(FastCascade.earlyExit))
        | "cascade-fashion10" -> Some(Func<_>(FastCascade.earlyExit10))
        | "highlow" -> Some(Func<_>(Architectures.highLowEarlyExit))
        | _ -> None

    /// Baseline steps B; the warm-up is B/2, each λ point trains B (quick) or 2B (full) steps.
    let private baselineSteps (arch: Architecture) (o: ExperimentOptions) =
        match o.Sizes.Steps with
        | Some s -> s
        | None ->
            match graphName arch, o.Quick with
            | _, true when arch.Name.EndsWith longSuffix -> longQuickSteps
            | "hierarchical", true -> 72
            | "dcn", true -> 180
            | _, true -> 90
            | "hierarchical", false -> 6000
            | _, false -> 5000

    let settings (arch: Architecture) (task: Task) (o: ExperimentOptions) (seed: int) : SweepSettings =
        let steps = baselineSteps arch o
        let batch = defaultArg o.Sizes.Batch (if o.Quick then 32 else 64)

        { Architecture = arch.Name
          Task = TaskInfo.Of task
          BaselineSteps = steps
          WarmupSteps = o.WarmupSteps |> Option.defaultValue (steps / 2)
          InheritBaselines = o.InheritBaselines
          EqualBudget = o.EqualBudget
          Cost = o.Cost
          Compute = { Device = string o.Device; Threads = o.Threads }
          Training =
            { Steps = (if o.Quick then steps else steps * 2)
              BatchSize = batch
              BagSize = (if arch.Classes = 2 then min 8 batch else 1)
              Lr = 1e-3
              // ε from 1 to 0.05 over the first half of the Q-learning steps
              EpsilonSteps = steps / (if o.Quick then 2 else 1)
              // each recipe sets the regular loss and gradient detaching of its own points
              RegularLoss = CrossEntropy 1.0
              // binary 1:9 tasks: 30% positives per mini-batch, so small networks do not collapse to "all negative"
              PositiveFraction = (if arch.Classes = 2 then 0.3 else 0.0)
              BagsAtDataPrior = o.BagsAtDataPrior
              DetachControlInputs = true
              Seed = seed } }

    /// Version of the tasks' random streams, in every sweep folder's name: v2 since the subsets and the
    /// digit split are drawn by `Shuffle` (earlier folders hold runs on other subsets).
    let dataVersion = "v2"

    /// The run folder of one seed's sweep, relative to the runs root; "-grid2" marks the quick long variants'
    /// λ grid with 0.5 (folders of the earlier grid are not reused).
    let folder (arch: Architecture) (o: ExperimentOptions) (seed: int) =
        let mode = if o.Quick then arch.Name + "-quick" else arch.Name
        let mode = if o.Sizes.IsDefault then mode else mode + "-sized"
        let grid = if o.Quick && arch.Name.EndsWith longSuffix then "-grid2" else ""
        sprintf "d2nn/%s-%s%s/seed%d" mode dataVersion grid seed

    /// The command line that trains `stage` of this sweep (for errors naming a missing dependency).
    let hint (arch: Architecture) (o: ExperimentOptions) (seed: int) (stage: string) =
        sprintf "autodesign d2nn %s%s --seed %d --only %s, with the same other options" arch.Name (if o.Quick then " --quick" else "") seed stage

    /// How regular and control nodes are trained, in words (for logs and REPORT.md).
    let describe (s: SweepSettings) (recipes: Recipe list) =
        let t = s.Training

        [ (match s.InheritBaselines, s.WarmupSteps with
           | false, 0 -> "no warm start"
           | inh, w ->
               sprintf "warm start: %s%d steps of cross-entropy under random routing" (if inh then "regular nodes from the trained static NNs, then " else "") w)
          sprintf "ε 1→0.05 over %d Q-learning steps" t.EpsilonSteps
          (recipes |> List.map (fun r -> sprintf "recipe %s (%s)" r.Name r.Describe) |> String.concat "; ")
          (if t.PositiveFraction > 0.0 then
               sprintf
                   "%.0f%% positives per mini-batch, mini-bag F1 %s"
                   (100.0 * t.PositiveFraction)
                   (if t.BagsAtDataPrior then "re-weighted to the data's class prior (= test prior)" else "at the sampled prior")
           else
               "uniform mini-batches")
          sprintf "batch %d, mini-bags of %d" t.BatchSize t.BagSize ]
        @ (match s.Cost with
           | Mults -> []
           | u -> [ sprintf "cost: %s" u.Name ])
        |> String.concat ", "

    /// Run `o.Stage` of one seed's sweep of `arch` in the run folder `folder` (relative to the runs root),
    /// with the settings `adjust` makes of the defaults; with All, write curve.csv, paths.csv and the figures.
    let sweepWith (arch: Architecture) (o: ExperimentOptions) (seed: int) (sweepFolder: string) (adjust: SweepSettings -> SweepSettings) : SweepOutcome =
        let task = taskFor arch o seed
        let s = adjust (settings arch task o seed)
        let lambdas = lambdasFor arch o

        let ctx =
            { Options = o.Runs
              Folder = sweepFolder
              Architecture = arch
              Task = task
              Settings = s
              Device = o.Device
              CheckpointEvery = defaultArg o.CheckpointEvery (if o.Quick then 50 else 500)
              TrainDependencies = (o.Stage = All)
              Hint = Func<string, string>(hint arch o seed) }

        Sweep.openSweep ctx
        let dir = Path.GetFullPath(Path.Combine(o.Runs.Root, ctx.Folder))

        printfn
            "d2nn %s seed %d on %s: %d train / %d validation / %d test, λ = %s, %d steps per D²NN after the warm start (%s); runs in %s"
            arch.Name
            seed
            task.Data
            task.TrainY.Length
            task.ValY.Length
            task.TestY.Length
            (lambdas |> List.map inv |> String.concat ", ")
            s.Training.Steps
            (describe s o.Recipes)
            dir

        let has stage = o.Stage = All || o.Stage = stage
        let baselines = if has Baselines then [ for b in arch.Baselines -> (Sweep.staticRun ctx b).BaselinePoint ] else []
        let equal = if has Baselines && s.EqualBudget then [ for b in arch.Baselines -> Sweep.equalBudgetRun ctx b ] else []

        let measured =
            match s.Cost with
            | Wall b when has LatencyTablesStage || has Points -> Some(Sweep.latencyRun ctx b)
            | _ -> None

        if has WarmStart && s.HasWarmStart then Sweep.warmStartRun ctx |> ignore

        let points =
            if has Points then
                [ for r in o.Recipes do
                      for l in lambdas -> Sweep.pointRun ctx r l ]
            else
                []

        let exits =
            match earlyExitOf arch with
            | Some b when has EarlyExitStage -> Sweep.earlyExitRun ctx b EarlyExitCascade.DefaultThresholds |> List.ofArray
            | _ -> []

        let dcn =
            if arch.Name = "dcn" && has Baselines then
                let cfg =
                    { Task = s.Task
                      Training = { s.Training with Steps = s.D2nnTotalSteps; RegularLoss = CrossEntropy 1.0; PositiveFraction = 0.0 }
                      TrainK = 4
                      EvalK = [ 1; 2; 4; 8 ]
                      Normalizer =
                        (torch.manual_seed (int64 seed) |> ignore
                         (Preprocess.compile (arch.Reference.Build.Invoke())).FullCost)
                      Compute = s.Compute }

                DcnGlimpseRun.run o.Runs ctx.Folder task cfg o.Device ctx.CheckpointEvery
            else
                []

        let outcome =
            { Architecture = arch
              Task = task
              Dir = dir
              Settings = s
              Lambdas = lambdas
              Recipes = o.Recipes
              Baselines = baselines
              EqualBudget = equal
              Points = points
              Dcn = dcn
              EarlyExit = exits
              Latency =
                (match measured with
                 | Some t -> Some t
                 | None -> storedLatency arch) }

        if o.Stage = All then Figures.write outcome
        outcome

    /// Run `o.Stage` of one seed's sweep of `arch` (folder d2nn/<arch>[-quick]/seed<k>).
    let sweepSeed (arch: Architecture) (o: ExperimentOptions) (seed: int) : SweepOutcome = sweepWith arch o seed (folder arch o seed) id

    /// A seed's sweep as independent stages (name, options narrowed to the stage, names of the stages it
    /// needs): static baselines, latency tables (wall-time cost only), the warm start, one stage per λ
    /// point, and the early-exit baseline where an exit fits. Run in dependency order, they finish every
    /// run folder `All` then finds finished.
    let stages (arch: Architecture) (o: ExperimentOptions) : (string * ExperimentOptions * string list) list =
        let inv (v: float) = v.ToString("R", Globalization.CultureInfo.InvariantCulture)

        let latency =
            match o.Cost with
            | Wall _ -> [ "latency", { o with Stage = LatencyTablesStage }, [] ]
            | _ -> []

        let lambdas = lambdasFor arch o

        [ yield "baselines", { o with Stage = Baselines }, []
          yield! latency
          yield "warm-start", { o with Stage = WarmStart }, [ "baselines" ]
          for l in lambdas do
              yield sprintf "lambda-%s" (inv l), { o with Stage = Points; Lambdas = Some [ l ] }, "warm-start" :: (latency |> List.map (fun (n, _, _) -> n))
          if (earlyExitOf arch).IsSome then yield "early-exit", { o with Stage = EarlyExitStage }, [] ]

    /// The network a finished run of a sweep stored (weights.safetensors in `child`, relative to the sweep folder).
    let loadNetwork (o: SweepOutcome) (child: string) (graph: Func<D2nnGraph>) (device: torch.Device) =
        torch.manual_seed (int64 o.Settings.Training.Seed) |> ignore
        let c = Preprocess.compile (graph.Invoke())
        Training.loadWeights (Path.Combine(o.Dir, child, "weights.safetensors")) c
        c.To device
        c

    /// The sweep of one seed (`o.Seed`), as `autodesign d2nn <arch>` runs it.
    let sweep (name: string) (o: ExperimentOptions) : SweepOutcome =
        if o.Threads < 1 then Errors.fail "--threads must be at least 1, got %d" o.Threads
        torch.set_num_threads o.Threads
        sweepSeed (architecture name) o o.Seed
