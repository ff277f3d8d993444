namespace AutoDesign.Reproduce.UniLoss

open System
open System.Diagnostics
open TorchSharp
open AutoDesign.Data
open AutoDesign.Runs
open AutoDesign.Nn.UniLoss
open AutoDesign.UniLoss
open AutoDesign.Metrics

/// Options of the experiments' UniLoss (UniLoss.fs): anchors per type (good, bad, nearby), sigmoid
/// temperature τ (b̃ = σ(c/τ)), IDW distance power, and how many units are flipped to make good and
/// nearby anchors (nearby units: single bits, or all bits of one example).
type ExpUniLossOptions =
    {
        AnchorsPerType: int
        Tau: float
        Power: float
        FlipBits: int
        NearbyUnit: FlipUnit
        /// τ schedule: Some t moves τ geometrically from Tau (first step) to t (last step); None keeps τ fixed.
        TauEnd: float option
        /// Nearby anchors flip only units holding a wrong bit (UniLoss nearbyCorrective).
        NearbyCorrective: bool
        /// Comparisons on sigmoid-squashed scores (UniLoss boundScores).
        BoundScores: bool
        /// Score-gradient norm per batch (UniLoss gradNorm; 0 = off).
        GradNorm: float
        /// One good anchor is b* itself (UniLossOptions.BestAnchor).
        BestAnchor: bool
        /// Automatic score-gradient scale a (norm a/√n per batch of n; UniLossOptions.AutoScale; 0 = off).
        AutoScale: float
        /// How the automatic scale applies a (UniLossOptions.ScaleRule).
        ScaleRule: ScaleRule
    }

    /// The thesis's settings: 16 anchors per type, σ(c) (τ = 1, fixed), 1/d weights (power 1), one-bit
    /// flips, the raw IDW score gradient (no automatic scale).
    static member Defaults =
        { AnchorsPerType = 16
          Tau = 1.0
          Power = 1.0
          FlipBits = 1
          NearbyUnit = FlipUnit.Bit
          TauEnd = None
          NearbyCorrective = false
          BoundScores = false
          GradNorm = 0.0
          BestAnchor = false
          AutoScale = 0.0
          ScaleRule = ScaleRule.Batch }

    /// The library's defaults (a fresh UniLossOptions(): what `new UniLoss(metric)` uses).
    static member Library =
        let d = UniLossOptions()

        { AnchorsPerType = d.AnchorsPerType
          Tau = d.Tau
          Power = d.Power
          FlipBits = d.GoodFlips
          NearbyUnit = d.NearbyUnit
          TauEnd = None
          NearbyCorrective = d.NearbyCorrective
          BoundScores = d.BoundScores
          GradNorm = d.GradNorm
          BestAnchor = d.BestAnchor
          AutoScale = d.AutoScale
          ScaleRule = d.ScaleRule }

/// Which loss a run trains with.
type ExpLoss =
    | CrossEntropy
    /// UniLoss on average precision of the positive class (labels 0/1, positive = 1).
    | UniLossAP of ExpUniLossOptions
    /// UniLoss on multi-class accuracy.
    | UniLossAccuracy of ExpUniLossOptions

/// What the test set is scored with.
type ExpMetric =
    | AveragePrecision
    | Accuracy

/// One training run: data indices, model factory, optimisation schedule.
type ExpTrainConfig =
    {
        Epochs: int
        BatchSize: int
        Lr: float
        Momentum: float
        WeightDecay: float
        /// Epochs after which the learning rate is divided by 10.
        Milestones: int list
        /// Random crop padding and horizontal flip (None: no augmentation).
        CropPad: int option
        Seed: int
        /// Linear learning-rate warm-up over the first WarmupSteps SGD steps of the run (0: none):
        /// step g < WarmupSteps uses the epoch's lr · (g + 1) / WarmupSteps.
        WarmupSteps: int
        /// Stop after this many SGD steps (0: Epochs whole epochs); the last epoch may be partial. Compares
        /// batch sizes at equal steps.
        Steps: int
    }

/// One line of metrics.csv.
type ExpEpochRow = { Epoch: int; TrainLoss: float; TestMetric: float; Lr: float }

/// A complete task: data, splits, model and preprocessing, shared by the CE and UniLoss runs.
type ExpTask =
    {
        Name: string
        Data: Dataset
        TrainIdx: int[]
        TestIdx: int[]
        Metric: ExpMetric
        MakeModel: unit -> torch.nn.Module<torch.Tensor, torch.Tensor>
        /// Input preprocessing (e.g. per-channel normalisation) applied after augmentation.
        Prep: torch.Tensor -> torch.Tensor
    }

module ExpTrain =
    /// A plain SGD schedule of `epochs` epochs at `lr`: batch 128, momentum 0.9, no weight decay, milestones,
    /// augmentation, warm-up or step limit.
    let sgd (epochs: int) (lr: float) (seed: int) : ExpTrainConfig =
        { Epochs = epochs
          BatchSize = 128
          Lr = lr
          Momentum = 0.9
          WeightDecay = 0.0
          Milestones = []
          CropPad = None
          Seed = seed
          WarmupSteps = 0
          Steps = 0 }

    let lossName (l: ExpLoss) =
        match l with
        | CrossEntropy -> "ce"
        | UniLossAP _ -> "uniloss-ap"
        | UniLossAccuracy _ -> "uniloss-acc"

    /// τ at training progress p ∈ [0, 1] (0 = first step, 1 = last): Tau·(TauEnd/Tau)^p, i.e. a
    /// geometric schedule; Tau throughout when TauEnd is None.
    let tauAt (o: ExpUniLossOptions) (p: float) =
        if Double.IsNaN p || p < 0.0 || p > 1.0 then Errors.fail "tau schedule: progress must be in [0, 1], got %g" p

        match o.TauEnd with
        | None -> o.Tau
        | Some e -> o.Tau * (e / o.Tau) ** p

    /// Progress of step `bi` of epoch `epoch` in a run of `epochs` epochs of `steps` steps each, in [0, 1].
    let progressOf (epochs: int) (steps: int) (epoch: int) (bi: int) =
        let total = epochs * steps
        if total <= 1 then 0.0 else min 1.0 (float (epoch * steps + bi) / float (total - 1))

    /// A run's loss: (logits, labels) → loss, or None when the batch has no comparisons (e.g. no positives);
    /// SetProgress moves τ along its schedule (p ∈ [0, 1]); Uni is the UniLoss (None for CE), whose random
    /// streams a checkpoint must hold.
    type RunLoss =
        { Compute: torch.Tensor -> torch.Tensor -> torch.Tensor option
          SetProgress: float -> unit
          Uni: AutoDesign.UniLoss.UniLoss option }

        interface IDisposable with
            member l.Dispose() = l.Uni |> Option.iter (fun u -> (u :> IDisposable).Dispose())

    let makeLoss (loss: ExpLoss) (seed: int) : RunLoss =
        let uni (metric: Metric) (o: ExpUniLossOptions) =
            o.TauEnd
            |> Option.iter (fun t -> if not (t > 0.0) then Errors.fail "UniLoss: the tau schedule's end value must be positive, got %g" t)

            new AutoDesign.UniLoss.UniLoss(
                metric,
                UniLossOptions(
                    AnchorsPerType = o.AnchorsPerType,
                    Tau = o.Tau,
                    Power = o.Power,
                    Seed = seed,
                    GoodFlips = o.FlipBits,
                    NearbyFlips = o.FlipBits,
                    NearbyUnit = o.NearbyUnit,
                    NearbyCorrective = o.NearbyCorrective,
                    BoundScores = o.BoundScores,
                    GradNorm = o.GradNorm,
                    BestAnchor = o.BestAnchor,
                    AutoScale = o.AutoScale,
                    ScaleRule = o.ScaleRule
                )
            )

        let hasBoth (labels: torch.Tensor) =
            let p = labels.sum().item<int64>()
            p > 0L && p < labels.shape.[0]

        let apScore (logits: torch.Tensor) = logits.select (1L, 1L) - logits.select (1L, 0L)
        let schedule (u: AutoDesign.UniLoss.UniLoss) (o: ExpUniLossOptions) = fun p -> u.Tau <- tauAt o p

        match loss with
        | CrossEntropy ->
            { Compute = (fun logits labels -> Some(torch.nn.functional.cross_entropy (logits, labels)))
              SetProgress = ignore
              Uni = None }
        | UniLossAP o ->
            let u = uni Metrics.averagePrecisionPosNeg o

            { Compute = (fun logits labels -> if hasBoth labels then Some(u.forward (apScore logits, labels)) else None)
              SetProgress = schedule u o
              Uni = Some u }
        | UniLossAccuracy o ->
            let u = uni Metrics.accuracy o
            { Compute = (fun logits labels -> Some(u.forward (logits, labels))); SetProgress = schedule u o; Uni = Some u }

    /// Logits of the whole index set, [N,C] as float32 rows on the CPU.
    let predict
        (model: torch.nn.Module<torch.Tensor, torch.Tensor>)
        (prep: torch.Tensor -> torch.Tensor)
        (ds: Dataset)
        (idx: int[])
        (device: torch.Device)
        : float32[][] =
        model.eval ()
        use _ = torch.no_grad ()

        [| for chunk in Array.chunkBySize 500 idx do
               use scope = torch.NewDisposeScope()
               let x, _ = ExpData.toTensors ds chunk device
               let out = model.forward(prep x).cpu()
               let c = int out.shape.[1]
               let flat = out.data<float32>().ToArray()
               yield! Array.init chunk.Length (fun i -> flat.[i * c .. i * c + c - 1]) |]

    /// Exact metric of `model` on the index set.
    let evaluate (metric: ExpMetric) model prep (ds: Dataset) (idx: int[]) device : float =
        let logits = predict model prep ds idx device
        let labels = idx |> Array.map (fun i -> ds.Labels.[i])

        match metric with
        | AveragePrecision -> AveragePrecision.ofScores (logits |> Array.map (fun r -> float r.[1] - float r.[0])) (labels |> Array.map (fun y -> y = 1))
        | Accuracy -> Classification.accuracyOfScores logits labels

    /// The learning rate of `epoch` (0-based): divided by 10 at each passed milestone.
    let lrAt (cfg: ExpTrainConfig) (epoch: int) =
        let passed = cfg.Milestones |> List.filter (fun m -> epoch >= m) |> List.length
        cfg.Lr * (0.1 ** float passed)

    /// One SGD step on batch `bi` of `epoch` (batches from ExpData.batches): augmentation seeded by
    /// (seed, epoch, batch), τ and lr from the step's place in the run. Returns the loss value, or None
    /// when the batch has no comparisons. Raises UserError on a non-finite loss.
    let trainStep
        (cfg: ExpTrainConfig)
        (loss: ExpLoss)
        (runLoss: RunLoss)
        (model: torch.nn.Module<torch.Tensor, torch.Tensor>)
        (opt: torch.optim.Optimizer)
        (prep: torch.Tensor -> torch.Tensor)
        (ds: Dataset)
        (batches: int[][])
        (epoch: int)
        (bi: int)
        (device: torch.Device)
        : float option =
        use scope = torch.NewDisposeScope()
        model.train ()
        let idx = batches.[bi]
        let x, y = ExpData.toTensors ds idx device

        let x =
            match cfg.CropPad with
            | Some pad -> Augment.CropFlip(x, pad, int64 (cfg.Seed * 7 + epoch * 100003 + bi))
            | None -> x

        let total = if cfg.Steps > 0 then cfg.Steps else cfg.Epochs * batches.Length
        runLoss.SetProgress(if total <= 1 then 0.0 else min 1.0 (float (epoch * batches.Length + bi) / float (total - 1)))
        let epochLr = lrAt cfg epoch
        let g = epoch * batches.Length + bi
        let lr = if cfg.WarmupSteps > 0 && g < cfg.WarmupSteps then epochLr * float (g + 1) / float cfg.WarmupSteps else epochLr

        for pg in opt.ParamGroups do
            pg.LearningRate <- lr

        let logits = model.forward (prep x)

        match runLoss.Compute logits y with
        | Some l ->
            let v = l.item<float32>() |> float

            if Double.IsNaN v || Double.IsInfinity v then
                Errors.fail "%s loss became %f at epoch %d batch %d; lower the learning rate" (lossName loss) v epoch bi

            opt.zero_grad ()
            l.backward ()
            opt.step () |> ignore
            Some v
        | None -> None
