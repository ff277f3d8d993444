namespace AutoDesign.Reproduce.D2NN

open System
open System.IO
open TorchSharp
open AutoDesign.Runs
open AutoDesign.D2NN

/// Options shared by the `autodesign d2nn ...` experiments.
type ExperimentOptions =
    { Quick: bool
      Device: torch.Device
      Lambdas: float list option
      Seed: int
      RunsRoot: string
      /// None: unified Q-learning on class scores (the thesis's unified approach); Some w: cross-entropy
      /// with weight w (the default of the experiments: Some 1.0).
      CrossEntropyWeight: float option
      /// Control nodes' Q gradient stops at their inputs (default true; false: fully joint training).
      DetachControlInputs: bool
      /// Warm-up steps under random routing (None: the config's default, see sweepConfig).
      WarmupSteps: int option
      /// Initialize regular nodes from the trained static baselines (default true).
      InheritBaselines: bool
      /// What the reward's cost counts (default: multiplications, as the thesis).
      Cost: CostUnit }

type SweepOutcome =
    { Architecture: Architecture
      Task: Task
      Dir: string
      Normalizer: float
      Baselines: CurvePoint list
      D2nn: CurvePoint list
      /// The cost the reward counted (with the latency tables when measured).
      Cost: CostMeasure }

/// PNG figures of a sweep (Fig. 2.2, 2.4, 2.5 analogues).
module Figures =

    let curve (path: string) (title: string) (metric: string) (baselines: CurvePoint list) (d2nn: CurvePoint list) =
        let line = d2nn |> List.sortBy (fun p -> p.Cost) |> List.map (fun p -> p.Cost, p.Metric) |> Array.ofList
        let series = ("D2NN (λ sweep)", line) :: [ for b in baselines -> b.Series, [| b.Cost, b.Metric |] ]
        Plot.scatter path title "cost (fraction of reference multiplications)" metric series

    let paths (path: string) (title: string) (d2nn: CurvePoint list) =
        let counts = Sweep.pathCounts d2nn
        let names = counts |> List.map (fun (_, p, _, _) -> p) |> List.distinct
        let series =
            [ for n in names ->
                (if n = "" then "(none)" else n),
                [| for p in d2nn do
                    let l = p.Lambda |> Option.defaultValue nan
                    let f = counts |> List.tryPick (fun (l2, n2, _, f) -> if l2 = l && n2 = n then Some f else None)
                    yield l, defaultArg f 0.0 |] ]
        Plot.lines path title "lambda" "fraction of test examples" series

    /// Up to 16 test images per execution path and λ: examples-l<λ>-<path>.png.
    let examples (dir: string) (task: Task) (d2nn: CurvePoint list) =
        for p in d2nn do
            let l = p.Lambda |> Option.defaultValue nan
            for (path, idx) in p.Eval.Paths |> Array.indexed |> Array.groupBy snd do
                use _ = torch.NewDisposeScope()
                let pick = idx |> Array.truncate 16 |> Array.map (fst >> int64)
                use it = torch.tensor pick
                let imgs = task.TestX.index_select(0L, it)
                let name = if path = "" then "none" else path.Replace('+', '_')
                ImageGrid.save (Path.Combine(dir, sprintf "examples-l%g-%s.png" l name)) imgs 8

module D2nnExperiment =
    /// Quick: four λ where the trade-off bends for these tasks (with λ ≤ 0.3 every architecture takes its
    /// cheapest path; with the warm start λ = 0.9 already reaches the static network's accuracy, 0.99 shows
    /// the top of the curve); full: the thesis-style sweep plus 0.99.
    let defaultLambdas quick =
        if quick then [ 0.5; 0.7; 0.9; 0.99 ] else [ 0.1; 0.2; 0.3; 0.4; 0.5; 0.6; 0.7; 0.8; 0.9; 0.95; 0.99; 1.0 ]

    /// The five architectures (the four of §2.7.3 and the length-4 chain of the DCN comparison) and the
    /// cascade's fast form (docs/d2nn.md).
    let architectures = Architectures.all @ [ DcnChain.architecture; FastCascade.cascade ]

    let architecture (name: string) =
        match architectures |> List.tryFind (fun a -> a.Name = name) with
        | Some a -> a
        | None -> Errors.fail "unknown D²NN architecture '%s' (expected %s)" name (architectures |> List.map (fun a -> a.Name) |> String.concat ", ")

    /// The stand-in task of an architecture (quick: a subset sized for minutes on 2 cores).
    let taskFor (arch: Architecture) (quick: bool) (seed: int) =
        let train, test = if quick then 4000, 1000 else 60000, 10000
        match arch.Name with
        | "hierarchical" -> Tasks.hierarchy train test seed
        | "dcn" -> Cluttered.task train test Cluttered.defaultConfig seed
        | _ -> Tasks.oneVsRest 0 train test seed

    /// How regular and control nodes are trained, in words (for logs and REPORT.md).
    let describeRecipe (cfg: SweepConfig) =
        let spec = cfg.Spec
        [ (match cfg.InheritBaselines, cfg.WarmupSteps with
           | false, 0 -> "no warm start"
           | inh, w ->
               sprintf "warm start: %s%d steps of cross-entropy under random routing"
                   (if inh then "regular nodes from the trained static NNs, then " else "") w)
          sprintf "ε 1→0.05 over %d Q-learning steps" spec.EpsilonSteps
          (match spec.RegularLoss with UnifiedQ -> "regular nodes: unified Q-learning" | CrossEntropy w -> sprintf "regular nodes: cross-entropy (weight %g)" w)
          (if spec.DetachControlInputs then "control Q-loss detached from the regular nodes" else "fully joint gradients")
          (match spec.PositiveFraction with Some p -> sprintf "%.0f%% positives per mini-batch" (100.0 * p) | None -> "uniform mini-batches")
          sprintf "mini-bags of %d" spec.BagSize ]
        // the thesis's cost (multiplications) goes unsaid, so existing descriptions stay as they were
        @ (match cfg.Cost with Mults -> [] | u -> [ sprintf "cost: %s" u.Name ])
        |> String.concat ", "

    let sweepConfig (arch: Architecture) (o: ExperimentOptions) =
        let steps =
            match arch.Name, o.Quick with
            | "hierarchical", true -> 300
            // cluttered digits at random positions: the networks stay near chance for the first ~150 steps
            | "dcn", true -> 600
            | _, true -> 300
            | "hierarchical", false -> 6000
            | _, false -> 5000
        { Lambdas = o.Lambdas |> Option.defaultValue (defaultLambdas o.Quick)
          BaselineSteps = steps
          WarmupSteps = o.WarmupSteps |> Option.defaultValue (steps / 2)
          InheritBaselines = o.InheritBaselines
          Cost = o.Cost
          Spec =
            { Steps = (if o.Quick then steps else steps * 2)
              BatchSize = 64
              BagSize = (if arch.Classes = 2 then 8 else 1)
              Lr = 1e-3
              // ε from 1 to 0.05 over the first half of the D²NN steps, then exploit (quick) / over `steps` of 2·steps (full)
              EpsilonSteps = steps / (if o.Quick then 2 else 1)
              RegularLoss = (match o.CrossEntropyWeight with Some w -> CrossEntropy w | None -> UnifiedQ)
              // binary 1:9 tasks: 30% positives per mini-batch, so small networks do not collapse to "all negative"
              PositiveFraction = (if arch.Classes = 2 then Some 0.3 else None)
              DetachControlInputs = o.DetachControlInputs
              Seed = o.Seed
              Device = o.Device } }

    /// Run the λ sweep of one architecture and write curve.csv and paths.csv into runs/d2nn/<name>.
    let sweep (name: string) (o: ExperimentOptions) : SweepOutcome =
        let arch = architecture name
        let task = taskFor arch o.Quick o.Seed
        let cfg = sweepConfig arch o
        let dir = Path.GetFullPath(Path.Combine(o.RunsRoot, "d2nn", (if o.Quick then name + "-quick" else name)))
        Directory.CreateDirectory dir |> ignore
        printfn "d2nn %s on %s: %d train / %d test, λ = %A, %d steps per D²NN (%s)" name task.Data task.TrainY.Length task.TestY.Length cfg.Lambdas cfg.Spec.Steps
            (describeRecipe cfg)
        let r = Sweep.runWith arch task cfg
        let normalizer, basePoints, d2nn = r.Normalizer, r.Baselines, r.D2nn
        match r.Cost with
        | Latency l ->
            let path = Path.Combine(dir, "latency.json")
            Latency.save path l
            printfn "latency model in %s" path
        | Multiplications _ -> ()
        Sweep.writeCurve (Path.Combine(dir, "curve.csv")) task.Metric.Name (basePoints @ d2nn)
        Sweep.writePaths (Path.Combine(dir, "paths.csv")) d2nn
        Figures.curve (Path.Combine(dir, "curve.png")) (sprintf "%s D2NN vs static NNs" name) task.Metric.Name basePoints d2nn
        Figures.paths (Path.Combine(dir, "paths.png")) (sprintf "%s: examples per execution path" name) d2nn
        Figures.examples dir task d2nn
        { Architecture = arch; Task = task; Dir = dir; Normalizer = normalizer; Baselines = basePoints; D2nn = d2nn; Cost = r.Cost }
