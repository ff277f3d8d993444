namespace AutoDesign.Reproduce.D2NN

open TorchSharp
open AutoDesign.Runs
open AutoDesign.D2NN

/// Which part of a sweep a command trains. `All` trains whatever is missing; the others train one stage
/// and refuse to train its dependencies (a job launcher runs them as separate jobs, in order).
type SweepStage =
    | All
    | Baselines
    | LatencyTablesStage
    | WarmStart
    | Points
    /// The early-exit baseline (architectures where an exit fits), trained on its own from scratch.
    | EarlyExitStage

    member s.Name =
        match s with
        | All -> "all"
        | Baselines -> "baselines"
        | LatencyTablesStage -> "latency"
        | WarmStart -> "warm-start"
        | Points -> "points"
        | EarlyExitStage -> "early-exit"

/// Sizes that replace the quick/full defaults (tests, small trials).
type SweepSizes =
    { Steps: int option
      Train: int option
      Test: int option
      Batch: int option }

    static member None = { Steps = None; Train = None; Test = None; Batch = None }
    member s.IsDefault = s.Steps.IsNone && s.Train.IsNone && s.Test.IsNone && s.Batch.IsNone

/// Options shared by the `autodesign d2nn ...` experiments and the reproduce registry.
type ExperimentOptions =
    {
        Quick: bool
        Device: torch.Device
        /// torch intra-op threads (results depend on it; recorded in every run's configuration).
        Threads: int
        Lambdas: float list option
        Seed: int
        Runs: RunOptions
        /// The recipe of the λ points (default: cross-entropy, control gradients detached).
        Recipe: Recipe
        /// Also train every λ with the thesis's recipe (unified Q-learning, fully joint gradients).
        ThesisRecipe: bool
        /// Warm-up steps under random routing (None: the configuration's default).
        WarmupSteps: int option
        /// Initialize regular nodes from the trained static baselines (default true).
        InheritBaselines: bool
        /// Also continue every static baseline to the D²NN's total training (default true).
        EqualBudget: bool
        /// Score class-balanced mini-bags at the data's class prior (default true).
        BagsAtDataPrior: bool
        /// What the reward's cost counts (default: multiplications, as the thesis).
        Cost: CostUnit
        Stage: SweepStage
        Sizes: SweepSizes
        CheckpointEvery: int option
    }

    static member Defaults(runsRoot: string) =
        { Quick = true
          Device = torch.CPU
          Threads = 1
          Lambdas = None
          Seed = 1
          Runs = { RunOptions.Default with Root = runsRoot }
          Recipe = Recipe.Default
          ThesisRecipe = false
          WarmupSteps = None
          InheritBaselines = true
          EqualBudget = true
          BagsAtDataPrior = true
          Cost = Mults
          Stage = All
          Sizes = SweepSizes.None
          CheckpointEvery = None }

    /// The recipes whose λ points are trained.
    member o.Recipes = if o.ThesisRecipe && o.Recipe <> Recipe.Thesis then [ o.Recipe; Recipe.Thesis ] else [ o.Recipe ]

/// What one seed's sweep produced.
type SweepOutcome =
    {
        Architecture: Architecture
        Task: Task
        /// The sweep folder (absolute).
        Dir: string
        Settings: SweepSettings
        Lambdas: float list
        Recipes: Recipe list
        /// Static baselines at BaselineSteps.
        Baselines: CurvePoint list
        /// The same continued to the D²NN's total training (empty unless EqualBudget).
        EqualBudget: CurvePoint list
        /// Every recipe's λ points.
        Points: CurvePoint list
        /// The DCN baseline's points (dcn only).
        Dcn: DcnGlimpsePoint list
        /// The early-exit baseline's curve (empty where no exit fits the architecture).
        EarlyExit: ExitPoint list
        /// Tables for the modeled time fraction (measured with --cost latency, else the stored ones).
        Latency: LatencyTables option
    }

    /// The early-exit curve as curve points: series "early exit", recipe "early-exit", the threshold in Lambda.
    member o.ExitCurve =
        [ for e in o.EarlyExit ->
              { Series = "early exit"
                Recipe = "early-exit"
                Lambda = e.Threshold
                Steps = o.Settings.D2nnTotalSteps
                Result = e.Result } ]

    /// The latency tables a point is charged by: a static network's own, else the D²NN's (the early-exit
    /// network shares the D²NN's node names; its gates are not in the tables and cost nothing).
    member private o.CostOf(p: CurvePoint) =
        o.Latency
        |> Option.map (fun t ->
            let network = if p.Recipe = "" && p.Series <> "D2NN warm start" then p.Series else o.Architecture.Name
            t.Cost(network, o.Architecture.Reference.Name))

    /// The modeled time fraction of a point on the test split (NaN without tables).
    member o.LatencyOf(p: CurvePoint) =
        match o.CostOf p with
        | None -> nan
        | Some l -> Evaluation.modeledLatency l p.Result.Counts

    /// The modeled time fraction of a point on the validation split (NaN without tables).
    member o.ValidationLatencyOf(p: CurvePoint) =
        match o.CostOf p with
        | None -> nan
        | Some l -> Evaluation.modeledLatency l p.Result.Validation.Counts
