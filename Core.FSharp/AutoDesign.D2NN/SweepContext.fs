namespace AutoDesign.D2NN

open System
open System.IO
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

/// How a sweep's child runs are opened, built and finished (the stages themselves are in Sweep).
module internal SweepChild =
    /// The run kinds of the children; a kind's version moves whenever what its runs compute changes, so
    /// folders of an older version are not reused.
    let staticKind = "d2nn.static/2"
    let equalBudgetKind = "d2nn.static-equal/2"
    let latencyKind = "d2nn.latency/1"
    let warmStartKind = "d2nn.warm-start/2"
    let pointKind = "d2nn.point/2"
    let earlyExitKind = "d2nn.early-exit/2"

    let log (fmt: Printf.StringFormat<'a, unit>) =
        Printf.kprintf
            (fun s ->
                printfn "%s" s
                Console.Out.Flush())
            fmt

    let private childOptions (ctx: SweepContext) = { ctx.Options with Root = Path.Combine(ctx.Options.Root, ctx.Folder) }

    let openChild (ctx: SweepContext) (name: string) (kind: string) (config: 'C) = Run.Open(childOptions ctx, name, kind, config)

    /// The folder of the dependency `name`, once finished: opened briefly (waiting for another writer, so
    /// a job finishing it is awaited), trained now by `train` when it is not finished and dependencies may
    /// be trained here, else a UserError naming the command of `stage`.
    let ensure (ctx: SweepContext) (name: string) (kind: string) (config: 'C) (stage: string) (train: unit -> unit) : string =
        let dir, finished =
            use r = Run.Open({ childOptions ctx with Wait = true }, name, kind, config)
            r.Dir, r.IsFinished

        if not finished then
            if not ctx.TrainDependencies then Errors.fail "%s is not finished; train it first (%s)" dir (ctx.Hint.Invoke stage)
            train ()

        dir

    /// Build a network with weights drawn right after seeding torch (TorchSharp seeds its default generator
    /// at random per process, so building before seeding would make the run irreproducible).
    let build (ctx: SweepContext) (graph: Func<D2nnGraph>) =
        torch.manual_seed (int64 ctx.Settings.Training.Seed) |> ignore
        let c = Preprocess.compile (graph.Invoke())
        c.To ctx.Device
        c

    /// A trainer of `c` on the sweep's task and device.
    let trainer (ctx: SweepContext) (c: CompiledD2nn) = D2nnTrainer(c, ctx.Task, ctx.Architecture.Output, ctx.Device, CheckpointEvery = ctx.CheckpointEvery)

    let private normalizers = Collections.Concurrent.ConcurrentDictionary<string, float>()

    /// Multiplications per example of the reference network (compiled once per architecture and process).
    let normalizer (ctx: SweepContext) =
        normalizers.GetOrAdd(
            ctx.Architecture.Name,
            fun _ ->
                use _ = torch.NewDisposeScope()
                (Preprocess.compile (ctx.Architecture.Reference.Build.Invoke())).FullCost
        )

    let private evaluate (ctx: SweepContext) (c: CompiledD2nn) (latency: LatencyCost option) =
        let n = normalizer ctx

        let test =
            match latency with
            | Some l -> Evaluation.evaluateWithLatency c ctx.Task n l ctx.Architecture.Output ctx.Device
            | None -> Evaluation.evaluate c ctx.Task n ctx.Architecture.Output ctx.Device

        Evaluation.summarize test (Evaluation.evaluateSplit c ctx.Task ValidationSplit n ctx.Architecture.Output ctx.Device)

    /// Save the network's weights, evaluate it and store the result: the run is finished.
    let finish (ctx: SweepContext) (run: Run) (c: CompiledD2nn) (latency: LatencyCost option) (label: string) =
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
    let load (ctx: SweepContext) (run: Run) (graph: Func<D2nnGraph>) =
        let c = build ctx graph
        Training.loadWeights (run.File "weights.safetensors") c
        c, run.Result<PointResult>()
