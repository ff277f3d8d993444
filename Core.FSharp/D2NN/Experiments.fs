namespace AutoDesign.Core.D2NN

open System
open System.IO
open TorchSharp
open AutoDesign.Core

/// Options shared by the `autodesign d2nn ...` experiments.
type ExperimentOptions =
    { Quick: bool
      Device: torch.Device
      Lambdas: float list option
      Seed: int
      RunsRoot: string
      /// None: unified Q-learning on class scores (thesis default); Some w: cross-entropy with weight w.
      CrossEntropyWeight: float option }

type SweepOutcome =
    { Architecture: Architecture
      Task: Task
      Dir: string
      Normalizer: float
      Baselines: CurvePoint list
      D2nn: CurvePoint list }

module D2nnExperiment =
    let defaultLambdas quick = if quick then [ 0.3; 0.7; 1.0 ] else [ 0.1; 0.2; 0.3; 0.4; 0.5; 0.6; 0.7; 0.8; 0.9; 1.0 ]

    let architecture (name: string) =
        match Architectures.all |> List.tryFind (fun a -> a.Name = name) with
        | Some a -> a
        | None -> Errors.fail "unknown D²NN architecture '%s' (expected %s)" name (Architectures.all |> List.map (fun a -> a.Name) |> String.concat ", ")

    /// The stand-in task of an architecture (quick: a subset sized for minutes on 2 cores).
    let taskFor (arch: Architecture) (quick: bool) (seed: int) =
        let train, test = if quick then 4000, 1000 else 60000, 10000
        match arch.Name with
        | "hierarchical" -> Tasks.hierarchy train test seed
        | _ -> Tasks.oneVsRest 0 train test seed

    let sweepConfig (arch: Architecture) (o: ExperimentOptions) =
        let steps =
            match arch.Name, o.Quick with
            | "hierarchical", true -> 200
            | _, true -> 150
            | "hierarchical", false -> 6000
            | _, false -> 5000
        { Lambdas = o.Lambdas |> Option.defaultValue (defaultLambdas o.Quick)
          BaselineSteps = steps
          Spec =
            { Steps = steps * 2
              BatchSize = 64
              BagSize = (if arch.Classes = 2 then 8 else 1)
              Lr = 1e-3
              EpsilonSteps = steps
              RegularLoss = (match o.CrossEntropyWeight with Some w -> CrossEntropy w | None -> UnifiedQ)
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
            (match cfg.Spec.RegularLoss with UnifiedQ -> "unified Q-learning" | CrossEntropy w -> sprintf "cross-entropy weight %g" w)
        let normalizer, basePoints, d2nn = Sweep.run arch task cfg
        Sweep.writeCurve (Path.Combine(dir, "curve.csv")) task.Metric.Name (basePoints @ d2nn)
        Sweep.writePaths (Path.Combine(dir, "paths.csv")) d2nn
        { Architecture = arch; Task = task; Dir = dir; Normalizer = normalizer; Baselines = basePoints; D2nn = d2nn }
