namespace AutoDesign.D2NN

open System
open System.IO
open System.Globalization
open TorchSharp
open AutoDesign.Runs

/// One point of an accuracy/F1–cost figure (Fig. 2.2): a D²NN at some λ, or a static baseline.
type CurvePoint =
    { Series: string
      Lambda: float option
      Cost: float
      Metric: float
      Eval: EvalResult }

/// What the reward's cost counts, chosen before anything is measured.
type CostUnit =
    /// Multiplications (the thesis).
    | Mults
    /// Wall time per example for inference in batches of `batch`, from a latency table of every node
    /// measured on this machine before training (see Latency.measure).
    | Wall of batch: int
    member u.Name = match u with Mults -> "mults" | Wall b -> sprintf "latency at batch %d" b

type SweepConfig =
    { Lambdas: float list
      Spec: TrainSpec
      /// Steps for each static baseline (cross-entropy).
      BaselineSteps: int
      /// Warm start (§2.5.7): steps of cross-entropy training of the regular nodes under uniformly random
      /// routing before the Q-learning phase, run once per sweep and shared by every λ (0: none).
      WarmupSteps: int
      /// Warm start: initialize the D²NN's regular nodes from the trained static baselines where node names
      /// and parameter shapes match (the first, reference baseline wins a name that several share).
      InheritBaselines: bool
      /// What the reward's cost term counts.
      Cost: CostUnit }

/// What a sweep produced: the normalizer (multiplications of the reference network), the baselines'
/// and the D²NN's points, and the cost the reward counted (with its latency tables when measured).
type SweepResult =
    { Normalizer: float
      Baselines: CurvePoint list
      D2nn: CurvePoint list
      Cost: CostMeasure }

/// λ sweeps of an architecture beside its static baselines, written as CSV.
module Sweep =
    let private inv (v: float) = v.ToString("0.#####", CultureInfo.InvariantCulture)

    let private log (fmt: Printf.StringFormat<'a, unit>) = Printf.kprintf (fun s -> printfn "%s" s; Console.Out.Flush()) fmt

    let private progress (label: string) (total: int) =
        let every = max 1 (total / 5)
        fun (step: int) (s: StepStats) ->
            if (step + 1) % every = 0 then
                log "  %s step %d/%d: loss %.4f reward %.3f cost %.3f train-acc %.3f eps %.2f" label (step + 1) total s.Loss s.Reward s.Cost s.Accuracy s.Epsilon

    /// Train and evaluate every static baseline; the first one's cost is the normalizer.
    /// Each baseline's weights are drawn right after seeding torch (TorchSharp seeds its default generator
    /// at random per process, so building before seeding would make the run irreproducible).
    let baselines (arch: Architecture) (task: Task) (cfg: SweepConfig) =
        let compiled =
            arch.Baselines |> List.map (fun (name, build) ->
                torch.manual_seed (int64 cfg.Spec.Seed) |> ignore
                name, Preprocess.compile (build ()))
        let normalizer = (snd compiled.Head).FullCost
        let points =
            [ for (name, c) in compiled do
                torch.manual_seed (int64 cfg.Spec.Seed) |> ignore
                let spec = { cfg.Spec with Steps = cfg.BaselineSteps; RegularLoss = CrossEntropy 1.0 }
                Runner.train c task spec (Reward.tradeoff task.Metric 1.0) normalizer arch.Output (progress name spec.Steps)
                let e = Runner.evaluate c task normalizer arch.Output spec.Device
                log "%s %s: %s %.4f cost %.3f" arch.Name name task.Metric.Name e.Metric e.Cost
                yield { Series = name; Lambda = None; Cost = e.Cost; Metric = e.Metric; Eval = e } ]
        normalizer, points, compiled

    /// The warm start shared by every λ: a D²NN whose regular nodes inherit the trained baselines'
    /// weights (if cfg.InheritBaselines) and are then trained cfg.WarmupSteps steps under random routing.
    let warmStart (arch: Architecture) (task: Task) (cfg: SweepConfig) (trained: (string * CompiledD2nn) list) =
        torch.manual_seed (int64 cfg.Spec.Seed) |> ignore
        let c = Preprocess.compile (arch.Build())
        if cfg.InheritBaselines then
            let taken =
                trained |> List.fold (fun (taken: Set<string>) (name, b) ->
                    let got = Runner.copyMatching b c taken
                    if not got.IsEmpty then log "%s warm start: %s from %s" arch.Name (String.concat ", " got) name
                    taken + Set.ofList got) Set.empty
            if taken.IsEmpty then log "%s warm start: no node matches a baseline" arch.Name
        if cfg.WarmupSteps > 0 then
            let every = max 1 (cfg.WarmupSteps / 5)
            let report (step: int) (st: StepStats) =
                if (step + 1) % every = 0 then
                    log "  warm-up (random routing, no reward) step %d/%d: loss %.4f train-acc %.3f mults/example %.3g" (step + 1) cfg.WarmupSteps st.Loss st.Accuracy st.Cost
            Runner.warmup c task cfg.Spec cfg.WarmupSteps arch.Output report
        c

    /// Sizes at which nodes are timed for inference in batches of `batch`: 1, 4, 16, ... and `batch`.
    let latencyBatches (batch: int) =
        Seq.unfold (fun b -> if b < batch then Some(b, b * 4) else None) 1 |> Seq.append [ batch ] |> Seq.distinct |> Seq.sort |> Array.ofSeq

    /// The latency cost of `c` against the reference network `reference`: both timed node by node on
    /// `sample` (the current torch threads and device) for inference in batches of `batch`.
    let measureLatency (arch: Architecture) (c: CompiledD2nn) (referenceName: string) (reference: CompiledD2nn)
                       (sample: torch.Tensor) (batch: int) =
        let sizes = latencyBatches batch
        let l =
            match Latency.measureAll [ arch.Name, c; referenceName, reference ] sample sizes 7 with
            | [ d; r ] -> { Batch = batch; D2nn = d; Reference = r }
            | _ -> Errors.fail "latency: expected two timed networks"
        log "%s latency model at batch %d (%d threads): reference %s %.4f ms/example, every D²NN node %.4f ms/example"
            arch.Name batch l.D2nn.Threads referenceName l.Normalizer (l.D2nn.FullPerExampleMs batch)
        l

    /// The cost the reward counts under `cfg`: multiplications / `normalizer`, or a latency model measured
    /// now on `c` (the D²NN) and the first (reference) baseline of `trained`.
    let costMeasure (arch: Architecture) (task: Task) (cfg: SweepConfig) (normalizer: float)
                    (c: CompiledD2nn) (trained: (string * CompiledD2nn) list) =
        match cfg.Cost with
        | Mults -> Multiplications normalizer
        | Wall batch ->
            if batch < 1 then Errors.fail "latency batch must be >= 1, got %d" batch
            let refName, reference = trained.Head
            c.To cfg.Spec.Device
            reference.To cfg.Spec.Device
            use _ = torch.NewDisposeScope()
            let sample = task.TrainX.narrow(0L, 0L, min (int64 batch) task.TrainX.shape[0]).``to``(cfg.Spec.Device)
            Latency(measureLatency arch c refName reference sample batch)

    /// Train one D²NN at λ with the reward's cost counted by `cost`, starting from `warm`'s weights if
    /// given; returns the model and its test point.
    let d2nnWithCost (cost: CostMeasure) (warm: CompiledD2nn option) (arch: Architecture) (task: Task) (spec: TrainSpec) (normalizer: float) (lambda: float) =
        torch.manual_seed (int64 spec.Seed) |> ignore
        let c = Preprocess.compile (arch.Build())
        warm |> Option.iter (fun w -> Runner.copyMatching w c Set.empty |> ignore)
        Runner.trainWithCost c task spec (Reward.tradeoff task.Metric lambda) cost arch.Output (progress (sprintf "λ=%s" (inv lambda)) spec.Steps)
        let latency = match cost with Latency l -> Some l | Multiplications _ -> None
        let e = Runner.evaluateWith c task normalizer latency arch.Output spec.Device
        let timeNote = match e.Latency with Some t -> sprintf " latency %.3f" t | None -> ""
        log "%s D2NN λ=%s: %s %.4f cost %.3f%s" arch.Name (inv lambda) task.Metric.Name e.Metric e.Cost timeNote
        c, { Series = "D2NN"; Lambda = Some lambda; Cost = e.Cost; Metric = e.Metric; Eval = e }

    /// Train one D²NN at λ (cost: multiplications), starting from `warm`'s weights if given.
    let d2nnFrom (warm: CompiledD2nn option) (arch: Architecture) (task: Task) (spec: TrainSpec) (normalizer: float) (lambda: float) =
        d2nnWithCost (Multiplications normalizer) warm arch task spec normalizer lambda

    /// Train one D²NN at λ from scratch.
    let d2nnAt (arch: Architecture) (task: Task) (spec: TrainSpec) (normalizer: float) (lambda: float) =
        d2nnFrom None arch task spec normalizer lambda

    let runWith (arch: Architecture) (task: Task) (cfg: SweepConfig) : SweepResult =
        let normalizer, basePoints, trained = baselines arch task cfg
        let warm =
            if cfg.WarmupSteps > 0 || cfg.InheritBaselines then Some(warmStart arch task cfg trained) else None
        let timed =
            match warm with
            | Some w -> w
            | None -> torch.manual_seed (int64 cfg.Spec.Seed) |> ignore; Preprocess.compile (arch.Build())
        let cost = costMeasure arch task cfg normalizer timed trained
        let d2nn = [ for l in cfg.Lambdas -> snd (d2nnWithCost cost warm arch task cfg.Spec normalizer l) ]
        { Normalizer = normalizer; Baselines = basePoints; D2nn = d2nn; Cost = cost }

    let run (arch: Architecture) (task: Task) (cfg: SweepConfig) =
        let r = runWith arch task cfg
        r.Normalizer, r.Baselines, r.D2nn

    /// curve.csv: series, lambda, cost, metric.
    let writeCurve (path: string) (metricName: string) (points: CurvePoint list) =
        let lines =
            [ yield sprintf "series,lambda,cost,%s" metricName
              for p in points ->
                  sprintf "\"%s\",%s,%s,%s" p.Series (match p.Lambda with Some l -> inv l | None -> "") (inv p.Cost) (inv p.Metric) ]
        Atomic.writeAllText path (String.concat "\n" lines + "\n")

    /// Distribution of test examples over execution paths per λ (Fig. 2.4).
    let pathCounts (points: CurvePoint list) =
        [ for p in points do
            let n = float p.Eval.Paths.Length
            for (path, k) in p.Eval.Paths |> Array.countBy id |> Array.sortBy fst ->
                p.Lambda |> Option.defaultValue nan, path, k, float k / n ]

    let writePaths (path: string) (points: CurvePoint list) =
        let lines =
            [ yield "lambda,path,nodes,count,fraction"
              for (l, p, k, f) in pathCounts points ->
                  let nodes = if p = "" then 0 else p.Split('+').Length
                  sprintf "%s,\"%s\",%d,%d,%s" (inv l) p nodes k (inv f) ]
        Atomic.writeAllText path (String.concat "\n" lines + "\n")
