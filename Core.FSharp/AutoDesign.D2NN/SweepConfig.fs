namespace AutoDesign.D2NN

open System
open System.Globalization

/// Numbers as folder names, configurations' descriptions and logs write them: invariant culture, at most
/// 5 decimals ("0.9", "0.99", "1").
module internal Invariant =
    let number (v: float) = v.ToString("0.#####", CultureInfo.InvariantCulture)

/// What the reward's cost counts, chosen before anything is measured.
type CostUnit =
    /// Multiplications (the thesis).
    | Mults
    /// Wall time per example for inference in batches of `Batch`, from a latency table of every node
    /// measured on this machine before training (see Latency.measureAll).
    | Wall of Batch: int

    /// Wall time per example in batches of `batch` (the factory for C#).
    static member WallAtBatch(batch: int) = Wall batch

    member u.Name =
        match u with
        | Mults -> "mults"
        | Wall b -> sprintf "latency at batch %d" b

/// The data a run trained on, as its configuration records it.
type TaskInfo =
    { Name: string
      Data: string
      Train: int
      Validation: int
      Test: int
      Fingerprint: string }

    static member Of(task: Task) =
        { Name = task.Name
          Data = task.Data
          Train = task.TrainY.Length
          Validation = task.ValY.Length
          Test = task.TestY.Length
          Fingerprint = task.Fingerprint() }

/// Where a run computes; results depend on the torch thread count, so configurations record it.
type Compute = { Device: string; Threads: int }

/// How the Q-learning phase trains: the regular nodes' loss and whether the control nodes' Q-learning
/// gradient reaches the regular nodes feeding them.
type Recipe =
    { RegularLoss: RegularLoss
      DetachControlInputs: bool }

    /// The experiments' default: cross-entropy (weight 1) on the regular nodes, control gradients stopped.
    static member Default = { RegularLoss = CrossEntropy 1.0; DetachControlInputs = true }
    /// The thesis's own recipe (§2.4): unified Q-learning for every node, fully joint gradients.
    static member Thesis = { RegularLoss = UnifiedQ; DetachControlInputs = false }

    /// Folder name: "ce1-detached", "unifiedq-joint", ...
    member r.Name =
        let loss =
            match r.RegularLoss with
            | UnifiedQ -> "unifiedq"
            | CrossEntropy w -> "ce" + Invariant.number w

        loss + (if r.DetachControlInputs then "-detached" else "-joint")

    /// In words, for logs and reports.
    member r.Describe =
        (match r.RegularLoss with
         | UnifiedQ -> "regular nodes: unified Q-learning"
         | CrossEntropy w -> sprintf "regular nodes: cross-entropy (weight %g)" w)
        + (if r.DetachControlInputs then ", control Q-loss detached from the regular nodes" else ", fully joint gradients")

/// Settings shared by every run of a λ sweep (the sweep folder's configuration).
type SweepSettings =
    {
        Architecture: string
        Task: TaskInfo
        /// Options of the Q-learning phase (Steps: per λ point). Static baselines and the warm-up use its
        /// batch size, learning rate, sampling and seed with cross-entropy; each recipe sets the regular
        /// loss and gradient detaching of its points.
        Training: TrainOptions
        /// Steps of each static baseline (cross-entropy).
        BaselineSteps: int
        /// Warm start (§2.5.7): steps of cross-entropy training of the regular nodes under uniformly random
        /// routing before the Q-learning phase, run once per sweep and shared by every λ (0: none).
        WarmupSteps: int
        /// Warm start: initialize the D²NN's regular nodes from the trained static baselines where node names
        /// and parameter shapes match (the first, reference baseline wins a name that several share).
        InheritBaselines: bool
        /// Also continue every static baseline to the D²NN's total training (baseline steps inherited +
        /// warm-up + Q-learning steps), so the curve can be read at equal training.
        EqualBudget: bool
        /// What the reward's cost term counts.
        Cost: CostUnit
        Compute: Compute
    }

    /// Whether the λ points start from a shared warm start.
    member s.HasWarmStart = s.WarmupSteps > 0 || s.InheritBaselines
    /// Training steps behind a λ point, counting the inherited baseline steps and the warm-up.
    member s.D2nnTotalSteps = (if s.InheritBaselines then s.BaselineSteps else 0) + s.WarmupSteps + s.Training.Steps

/// A static baseline run: cross-entropy for `Training.Steps` steps.
type StaticConfig = { Architecture: string; Network: string; Task: TaskInfo; Training: TrainOptions; Compute: Compute }

/// A static baseline continued from its finished run to the D²NN's total training.
type EqualBudgetConfig = { Continues: StaticConfig; ExtraSteps: int }

/// Latency tables of a sweep's networks, measured on this machine before any λ point trains.
type LatencyConfig = { Architecture: string; Networks: string[]; Batch: int; Compute: Compute }

/// The warm start shared by every λ point (see SweepSettings.WarmupSteps and InheritBaselines).
type WarmStartConfig =
    {
        Architecture: string
        Task: TaskInfo
        /// The finished baseline runs whose weights it inherits, in order of precedence.
        Inherits: StaticConfig[]
        /// Warm-up options (Steps: warm-up steps).
        Training: TrainOptions
        Compute: Compute
    }

/// One λ point: the D²NN trained by `Recipe` from the warm start (if any).
type PointConfig =
    {
        Architecture: string
        Task: TaskInfo
        Lambda: float
        Recipe: Recipe
        Training: TrainOptions
        Cost: CostUnit
        /// The normalizer of the multiplication cost (the reference network's multiplications).
        Normalizer: float
        /// With a latency cost: the tables it counts (null without).
        Latency: LatencyConfig
        /// The warm start it loads (null without).
        WarmStart: WarmStartConfig
        Compute: Compute
    }

/// The early-exit baseline of a sweep: trained jointly for the D²NN's total steps (cross-entropy on
/// every exit, weighted), evaluated at each threshold.
type EarlyExitConfig =
    { Architecture: string
      Task: TaskInfo
      Training: TrainOptions
      Exits: string[]
      Weights: float[]
      Thresholds: float[]
      Compute: Compute }
