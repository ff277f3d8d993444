namespace AutoDesign.D2NN

open System
open System.Collections.Generic
open System.IO
open System.Runtime.InteropServices
open System.Text.Json.Nodes
open TorchSharp
open AutoDesign.Nn
open AutoDesign.Runs

/// How one D²NN (or static network) training run goes. From C#: `TrainOptions.Default.With(steps: 300)`;
/// from F#: `{ TrainOptions.Default with Steps = 300 }`. Recorded in run configurations.
type TrainOptions =
    {
        Steps: int
        /// Mini-batch size (a whole number of mini-bags).
        BatchSize: int
        /// Examples per mini-bag (1 = per-example rewards).
        BagSize: int
        Lr: float
        /// ε decays linearly from 1 to 0.05 over this many steps.
        EpsilonSteps: int
        RegularLoss: RegularLoss
        /// Binary tasks: draw each training example from the positive class with this probability
        /// (class-balanced mini-batches and mini-bags); 0: uniform shuffling.
        PositiveFraction: float
        /// With a positive fraction: score each mini-bag's accuracy metric at the training set's class prior
        /// (the test prior) by weighting examples prior / sampled fraction per class; false: at the sampled prior.
        BagsAtDataPrior: bool
        /// See LearnConfig.DetachControlInputs.
        DetachControlInputs: bool
        Seed: int
    }

    static member Default =
        { Steps = 1000
          BatchSize = 64
          BagSize = 1
          Lr = 1e-3
          EpsilonSteps = 500
          RegularLoss = CrossEntropy 1.0
          PositiveFraction = 0.0
          BagsAtDataPrior = true
          DetachControlInputs = true
          Seed = 1 }

    /// A copy with the given fields changed (C#: named arguments).
    member o.With
        (
            [<Optional>] steps: Nullable<int>,
            [<Optional>] batchSize: Nullable<int>,
            [<Optional>] bagSize: Nullable<int>,
            [<Optional>] lr: Nullable<float>,
            [<Optional>] epsilonSteps: Nullable<int>,
            [<Optional>] regularLoss: RegularLoss,
            [<Optional>] positiveFraction: Nullable<float>,
            [<Optional>] bagsAtDataPrior: Nullable<bool>,
            [<Optional>] detachControlInputs: Nullable<bool>,
            [<Optional>] seed: Nullable<int>
        ) =
        let pick (v: Nullable<'T>) (d: 'T) = if v.HasValue then v.Value else d

        { Steps = pick steps o.Steps
          BatchSize = pick batchSize o.BatchSize
          BagSize = pick bagSize o.BagSize
          Lr = pick lr o.Lr
          EpsilonSteps = pick epsilonSteps o.EpsilonSteps
          RegularLoss = (if isNull (box regularLoss) then o.RegularLoss else regularLoss)
          PositiveFraction = pick positiveFraction o.PositiveFraction
          BagsAtDataPrior = pick bagsAtDataPrior o.BagsAtDataPrior
          DetachControlInputs = pick detachControlInputs o.DetachControlInputs
          Seed = pick seed o.Seed }

/// What a training run optimizes.
type TrainPhase =
    /// Q-learning of the control nodes with `Reward` (cost counted by `Cost`) and the regular nodes by the
    /// options' RegularLoss. A static network (no control node) is plain supervised training.
    | Learn of Reward: RewardFn * Cost: CostMeasure
    /// The warm-up of §2.5.7 without a pre-trained model: cross-entropy for the regular nodes under
    /// uniformly random routing; control nodes get no loss.
    | Warmup
    /// Joint training of an early-exit network: every example runs through every exit, and the loss is the
    /// weighted sum of the exits' cross-entropies (Learning.exitStep); no control node learns.
    | Exits of Nodes: string[] * Weights: float[]

    /// Q-learning with `reward` and cost `cost` (the factory for C#).
    static member LearnWith(reward: RewardFn, cost: CostMeasure) = Learn(reward, cost)
    /// Joint early-exit training of `nodes` with loss `weights` (the factory for C#).
    static member ExitsOf(nodes: string[], weights: float[]) = Exits(nodes, weights)

/// One training of a compiled D²NN (or static network) on a task: what it optimizes, how, and where.
type TrainJob =
    {
        Network: CompiledD2nn
        Task: Task
        Options: TrainOptions
        Phase: TrainPhase
        /// The node carrying class scores [B, C].
        Output: string
        Device: torch.Device
        /// Commit a checkpoint every this many steps (0: at the end and every 5 minutes).
        CheckpointEvery: int
        /// Sees every step run (may be null).
        OnStep: Action<int, StepStats>
    }

/// D²NN training on the run engine: every loop is `Loop.run` over the full state (each node's module,
/// the Adam optimizer, the random stream of sampling and ε-greedy choices, the sampler's position, torch's
/// default generator), so a run killed at any instant and started again ends bit-identical.
module Training =
    /// The weights of `c` by "<node>.<parameter or buffer>" (each module once, under its first node).
    [<CompiledName("Weights")>]
    let weights (c: CompiledD2nn) : Dictionary<string, torch.Tensor> =
        let d = Dictionary<string, torch.Tensor>()

        for kv in c.NamedModules do
            for e in kv.Value.state_dict () do
                d[kv.Key + "." + e.Key] <- e.Value

        d

    /// Write the weights of `c` to a safetensors file (atomically).
    [<CompiledName("SaveWeights")>]
    let saveWeights (path: string) (c: CompiledD2nn) = Safetensors.save path (weights c)

    /// Copy the weights stored at `path` into every node of `c` whose module's tensors are all in the file
    /// with the same shapes, except nodes in `skip`; returns the node names loaded.
    [<CompiledName("LoadMatching")>]
    let loadMatching (path: string) (c: CompiledD2nn) (skip: seq<string>) : string[] =
        let stored = Safetensors.load path
        let skip = Set.ofSeq skip

        try
            [| for kv in c.NamedModules do
                   if not (skip.Contains kv.Key) then
                       let sd = kv.Value.state_dict () |> Seq.toArray

                       let fits =
                           sd.Length > 0
                           && sd
                              |> Array.forall (fun e ->
                                  match stored.TryGetValue(kv.Key + "." + e.Key) with
                                  | true, t -> t.shape = e.Value.shape
                                  | _ -> false)

                       if fits then
                           use _ng = torch.no_grad ()

                           for e in sd do
                               e.Value.copy_ (stored[kv.Key + "." + e.Key]) |> ignore

                           yield kv.Key |]
        finally
            for t in stored.Values do
                t.Dispose()

    /// Load every node's weights of `c` from `path`; a node the file lacks (or holds in another shape) is a UserError.
    [<CompiledName("LoadWeights")>]
    let loadWeights (path: string) (c: CompiledD2nn) =
        let loaded = Set.ofArray (loadMatching path c Seq.empty)

        let missing =
            c.NamedModules
            |> Seq.filter (fun kv -> kv.Value.state_dict().Count > 0 && not (loaded.Contains kv.Key))
            |> Seq.map (fun kv -> kv.Key)
            |> List.ofSeq

        if not missing.IsEmpty then
            Errors.fail "%s lacks weights (or holds other shapes) for node(s) %s" path (String.concat ", " missing)

    /// Copy the parameters of every function node of `src` into the node of the same name in `dst` when
    /// all its parameters have the same names and shapes; returns the names copied. `skip`: names not to copy.
    [<CompiledName("CopyMatching")>]
    let copyMatching (src: CompiledD2nn) (dst: CompiledD2nn) (skip: seq<string>) : string[] =
        let modules (c: CompiledD2nn) = c.Plan.Nodes |> Array.choose (fun pn -> if isNull pn.Function then None else Some(pn.Name, pn.Function.Module)) |> dict
        let s, d = modules src, modules dst
        let skip = Set.ofSeq skip

        [| for KeyValue(name, dm) in d do
               if not (skip.Contains name) && s.ContainsKey name then
                   let sp = s[name].named_parameters() |> Seq.map (fun struct (n, p) -> n, p) |> Map.ofSeq
                   let dp = dm.named_parameters () |> Seq.map (fun struct (n, p) -> n, p) |> Array.ofSeq

                   let same =
                       dp.Length = sp.Count && dp.Length > 0 && dp |> Array.forall (fun (n, p) -> sp.ContainsKey n && sp[n].shape = p.shape)

                   if same then
                       use _ng = torch.no_grad ()

                       for (n, p) in dp do
                           p.copy_ (sp[n].``to``(p.device)) |> ignore

                       yield name |]

    /// Every node module of `c` as one checkpoint component (tensors "<prefix><node>/<entry>").
    let private networkState (c: CompiledD2nn) : IStateful =
        { new IStateful with
            member _.Capture(snap, p) =
                for kv in c.NamedModules do
                    for e in kv.Value.state_dict () do
                        snap.Tensors[p + kv.Key + "/" + e.Key] <- e.Value

            member _.Restore(snap, p) =
                use _ng = torch.no_grad ()

                for kv in c.NamedModules do
                    for e in kv.Value.state_dict () do
                        match snap.Tensors.TryGetValue(p + kv.Key + "/" + e.Key) with
                        | true, t when t.shape = e.Value.shape -> e.Value.copy_ (t) |> ignore
                        | true, _ -> Errors.fail "the checkpoint's %s%s/%s has another shape than the network's" p kv.Key e.Key
                        | _ -> Errors.fail "the checkpoint has no %s%s/%s: it was written for another network" p kv.Key e.Key }

    /// Per-label weights scoring a mini-bag at the training set's class prior (see TrainOptions.BagsAtDataPrior).
    [<CompiledName("ClassWeights")>]
    let classWeights (task: Task) (opts: TrainOptions) : float[] =
        if opts.PositiveFraction > 0.0 && opts.BagsAtDataPrior && task.Classes = 2 then
            let prior = task.Prior 1
            [| (1.0 - prior) / (1.0 - opts.PositiveFraction); prior / opts.PositiveFraction |]
        else
            [||]

    /// Files of a finished run's full training state (modules, optimizer, random streams), from which a
    /// later run can continue training (see continueFrom).
    let private finalStateFiles (runDir: string) = Path.Combine(runDir, "final-state.safetensors"), Path.Combine(runDir, "final-state.json")

    let private saveFinalState (run: Run) (state: TrainState) =
        let snap = Snapshot.Empty()
        state.Capture snap
        let tensors, values = finalStateFiles run.Dir
        Safetensors.save tensors snap.Tensors
        Atomic.writeAllText values (StateFormat.render snap.Values)

    let private loadFinalState (runDir: string) : Snapshot * SnapshotFiles =
        let tensors, values = finalStateFiles runDir

        if not (File.Exists tensors && File.Exists values) then
            Errors.fail "run %s kept no final training state to continue from (final-state.safetensors, final-state.json)" runDir

        let v = Json.object values "" (Json.readFile values)
        StateFormat.check values v
        SafeFiles.checkRegular tensors
        { Tensors = Safetensors.load tensors; Values = v }, { TensorsFile = tensors; ValuesFile = values }

    /// The step of `job`'s phase on a mini-batch (step number, inputs, labels), its options checked.
    let private phaseStep (job: TrainJob) (random: Random) (opt: torch.optim.Optimizer) : int -> torch.Tensor -> int[] -> StepStats =
        let c, opts = job.Network, job.Options

        match job.Phase with
        | Learn(reward, cost) ->
            let cfg =
                { Reward = reward
                  BagSize = opts.BagSize
                  Epsilon = EpsilonSchedule.Linear(1.0, 0.05, opts.EpsilonSteps)
                  RegularLoss = opts.RegularLoss
                  Cost = cost
                  Output = job.Output
                  DetachControlInputs = opts.DetachControlInputs
                  ClassWeights = classWeights job.Task opts }

            fun stepNo x labels -> Learning.step c cfg random stepNo opt x labels
        | Exits(nodes, weights) ->
            if nodes.Length = 0 || nodes.Length <> weights.Length then
                Errors.fail "early-exit training needs one weight per exit, got %d exits and %d weights" nodes.Length weights.Length

            for n in nodes do
                if not (c.Index.ContainsKey n) then Errors.fail "the network has no exit node '%s'" n

            fun _ x labels -> Learning.exitStep c nodes weights opt x labels
        | Warmup -> fun _ x labels -> Learning.warmupStep c job.Output random opt x labels

    /// Train `job` in `run`, starting from `initial` (a kept final state) when the run has no checkpoint yet;
    /// `keepFinalState`: save the final training state (final-state.*) at the end.
    let private trainWith (run: Run) (job: TrainJob) (initial: (Snapshot * SnapshotFiles) option) (keepFinalState: bool) =
        let c, task, opts = job.Network, job.Task, job.Options
        if opts.Steps < 0 then Errors.fail "training steps must be >= 0, got %d" opts.Steps
        if opts.BagSize < 1 then Errors.fail "mini-bag size must be >= 1, got %d" opts.BagSize
        if opts.Lr <= 0.0 then Errors.fail "learning rate must be positive, got %g" opts.Lr

        if not (c.Index.ContainsKey job.Output) then
            Errors.fail "the network has no node '%s' to read class scores from" job.Output

        c.To job.Device
        use opt = new SafeAdam(c.Parameters, opts.Lr)
        // the warm-up draws from its own stream, so its batches differ from the training that follows
        let random =
            SeededRandom(
                match job.Phase with
                | Warmup -> opts.Seed + 7919
                | Learn _
                | Exits _ -> opts.Seed
            )

        let sampler = BatchSampler(task, opts.BatchSize, opts.PositiveFraction, random)
        let state = TrainState()
        state.Add("net", networkState c)
        state.AddOptimizer("adam", opt)
        state.AddRandom("random", random)
        sampler.Register(state, "sampler")
        state.AddTorchDefault()

        initial
        |> Option.iter (fun (snap: Snapshot, files) ->
            try
                if (Checkpoints.latestName run.Dir).IsNone then state.RestoreFrom(snap, files, [])
            finally
                for t in snap.Tensors.Values do
                    t.Dispose())

        let learn = phaseStep job random opt
        let rowEvery = max 1 (opts.Steps / 50)

        let step (info: StepInfo) (ctx: LoopContext) =
            let batch = sampler.Next()
            use _ = torch.NewDisposeScope()
            use bi = torch.tensor (batch |> Array.map int64)
            let x = task.TrainX.index_select(0L, bi).``to``(job.Device)
            let stats = learn info.Step x (batch |> Array.map (fun i -> task.TrainY[i]))
            if not (isNull job.OnStep) then job.OnStep.Invoke(info.Step, stats)
            let shown = [ "loss", stats.Loss; "reward", stats.Reward; "cost", stats.Cost; "acc", stats.Accuracy ]
            ctx.Show shown

            if (info.Step + 1) % rowEvery = 0 || info.Step = opts.Steps - 1 then
                ctx.Row([ "step", float (info.Step + 1) ] @ shown @ [ "epsilon", stats.Epsilon ])

        let spec = { LoopSpec.Of(run.Dir |> Path.GetFileName, opts.Steps) with CheckpointEvery = max 0 job.CheckpointEvery }
        Loop.run run state spec step (fun _ _ -> ()) |> ignore
        if keepFinalState then saveFinalState run state

    /// Train `job` in `run` (resuming from its latest checkpoint) for the remaining steps of its options; the
    /// metrics rows go to the run's metrics.csv.
    [<CompiledName("Train")>]
    let train (run: Run) (job: TrainJob) = trainWith run job None false

    /// As train, and keep the final training state (final-state.*) so another run can continue it.
    [<CompiledName("TrainKeepingState")>]
    let trainKeepingState (run: Run) (job: TrainJob) = trainWith run job None true

    /// Continue the training a finished run in `fromDir` kept (trainKeepingState) for `job.Options.Steps` more
    /// steps in `run`: modules, optimizer moments, random stream and sampler position carry on, so the
    /// result equals one run of both step counts. The options must match the first run's (but for Steps).
    [<CompiledName("ContinueFrom")>]
    let continueFrom (fromDir: string) (run: Run) (job: TrainJob) =
        let snap = if (Checkpoints.latestName run.Dir).IsNone then Some(loadFinalState fromDir) else None
        trainWith run job snap true
