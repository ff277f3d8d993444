namespace AutoDesign.D2NN

open System
open System.Diagnostics
open TorchSharp
open AutoDesign.Nn
open AutoDesign.Runs
open AutoDesign.Nn.D2NN

type TrainSpec =
    { Steps: int
      /// Mini-batch size (a whole number of mini-bags).
      BatchSize: int
      BagSize: int
      Lr: float
      /// ε decays linearly from 1 to 0.05 over this many steps.
      EpsilonSteps: int
      RegularLoss: RegularLoss
      /// Binary tasks: draw each training example from the positive class with this probability
      /// (class-balanced mini-batches and mini-bags); None: uniform shuffling.
      PositiveFraction: float option
      /// See LearnConfig.DetachControlInputs.
      DetachControlInputs: bool
      Seed: int
      Device: torch.Device }

type EvalResult =
    { Metric: float
      /// Mean multiplications per example divided by the cost normalizer.
      Cost: float
      /// With a latency model: mean modeled time per example divided by the reference network's.
      Latency: float option
      /// Per test example: the costly regular nodes it executed, joined by '+'.
      Paths: string[]
      Predictions: int[] }

module Runner =
    /// Mini-batch index sampler of `spec` over the training set of `task` (validates PositiveFraction).
    let sampler (task: Task) (spec: TrainSpec) (rng: Random) : unit -> int[] =
        let n = task.TrainY.Length
        let idx = Array.init n id
        let positives = [| for i in 0 .. n - 1 do if task.TrainY[i] = 1 then yield i |]
        let negatives = [| for i in 0 .. n - 1 do if task.TrainY[i] <> 1 then yield i |]
        match spec.PositiveFraction with
        | Some p when p <= 0.0 || p >= 1.0 -> Errors.fail "positive fraction must be in (0, 1), got %g" p
        | Some _ when task.Classes <> 2 -> Errors.fail "a positive fraction applies to binary tasks only; '%s' has %d classes" task.Name task.Classes
        | Some _ when positives.Length = 0 || negatives.Length = 0 -> Errors.fail "task '%s' needs both positive and negative training examples for balanced sampling" task.Name
        | _ -> ()
        let mutable pos = n
        fun () ->
            match spec.PositiveFraction with
            | Some p ->
                Array.init spec.BatchSize (fun _ ->
                    if rng.NextDouble() < p then positives[rng.Next positives.Length] else negatives[rng.Next negatives.Length])
            | None ->
                if pos + spec.BatchSize > n then
                    for i in n - 1 .. -1 .. 1 do
                        let j = rng.Next(i + 1)
                        let t = idx[i] in idx[i] <- idx[j]; idx[j] <- t
                    pos <- 0
                pos <- pos + spec.BatchSize
                idx[pos - spec.BatchSize .. pos - 1]

    /// Train a compiled D²NN (or a static network) on `task` with the reward's cost counted by `cost`.
    /// `report` sees every step.
    let trainWithCost (c: CompiledD2nn) (task: Task) (spec: TrainSpec) (reward: RewardFn) (cost: CostMeasure)
                      (output: string) (report: int -> StepStats -> unit) =
        c.To spec.Device
        use opt = new SafeAdam(c.Parameters, spec.Lr)
        let cfg =
            { Reward = reward; BagSize = spec.BagSize; Epsilon = Epsilon.linear 1.0 0.05 spec.EpsilonSteps
              RegularLoss = spec.RegularLoss; Cost = cost; Output = output
              DetachControlInputs = spec.DetachControlInputs }
        let rng = Random spec.Seed
        let nextBatch = sampler task spec rng
        for step in 0 .. spec.Steps - 1 do
            let batch = nextBatch ()
            use _ = torch.NewDisposeScope()
            use bi = torch.tensor (batch |> Array.map int64)
            let x = task.TrainX.index_select(0L, bi).``to``(spec.Device)
            let stats = Learning.step c cfg rng step opt x (batch |> Array.map (fun i -> task.TrainY[i]))
            report step stats

    /// Train a compiled D²NN (or a static network) on `task`, cost = multiplications / `normalizer`.
    /// `report` sees every step.
    let train (c: CompiledD2nn) (task: Task) (spec: TrainSpec) (reward: RewardFn) (normalizer: float)
              (output: string) (report: int -> StepStats -> unit) =
        trainWithCost c task spec reward (Multiplications normalizer) output report

    /// Warm-up of the regular nodes under uniformly random routing (see Learning.warmupStep) for `steps`
    /// mini-batches of `spec` (its Lr, BatchSize, PositiveFraction; seed offset so batches differ from training).
    let warmup (c: CompiledD2nn) (task: Task) (spec: TrainSpec) (steps: int) (output: string) (report: int -> StepStats -> unit) =
        if steps < 0 then Errors.fail "warm-up steps must be >= 0, got %d" steps
        c.To spec.Device
        use opt = new SafeAdam(c.Parameters, spec.Lr)
        let rng = Random(spec.Seed + 7919)
        let nextBatch = sampler task spec rng
        for step in 0 .. steps - 1 do
            let batch = nextBatch ()
            use _ = torch.NewDisposeScope()
            use bi = torch.tensor (batch |> Array.map int64)
            let x = task.TrainX.index_select(0L, bi).``to``(spec.Device)
            report step (Learning.warmupStep c output rng opt x (batch |> Array.map (fun i -> task.TrainY[i])))

    /// Copy the parameters of every function node of `src` into the node of the same name in `dst` when
    /// all its parameters have the same names and shapes; returns the names copied. `skip`: names not to copy.
    let copyMatching (src: CompiledD2nn) (dst: CompiledD2nn) (skip: Set<string>) : string list =
        let modules (c: CompiledD2nn) =
            c.Plan.Nodes |> Array.choose (fun pn -> if isNull pn.Function then None else Some(pn.Name, pn.Function.Module)) |> dict
        let s, d = modules src, modules dst
        [ for KeyValue(name, dm) in d do
            if not (skip.Contains name) && s.ContainsKey name then
                let sp = s[name].named_parameters () |> Seq.map (fun struct (n, p) -> n, p) |> Map.ofSeq
                let dp = dm.named_parameters () |> Seq.map (fun struct (n, p) -> n, p) |> Array.ofSeq
                let same =
                    dp.Length = sp.Count && dp.Length > 0
                    && dp |> Array.forall (fun (n, p) -> sp.ContainsKey n && sp[n].shape = p.shape)
                if same then
                    use _ng = torch.no_grad ()
                    for (n, p) in dp do p.copy_(sp[n].``to``(p.device)) |> ignore
                    yield name ]

    /// Signature of the costly regular nodes an example executed (merges and identities cost nothing).
    let pathOf (c: CompiledD2nn) (res: ExecutionResult) (i: int) =
        [ for n in 0 .. c.Order.Length - 1 do
            let pn = c.Plan.Nodes[n]
            if pn.Role = NodeRole.Regular && pn.Cost > 0.0 && res.Executed(n, i) then yield pn.Name ]
        |> String.concat "+"

    /// Greedy inference on the test set in chunks; with `latency`, also the modeled time per example.
    let evaluateWith (c: CompiledD2nn) (task: Task) (normalizer: float) (latency: LatencyCost option) (output: string) (device: torch.Device) =
        c.Train false
        let o = c.Index[output]
        let n = task.TestY.Length
        let preds = Array.create n -1
        let costs = Array.zeroCreate<float> n
        let times = Array.zeroCreate<float> n
        let paths = Array.create n ""
        // chunks of the inference batch, so the latency model sees the sub-batches inference would
        let chunk = match latency with Some l -> l.Batch | None -> 500
        for start in 0 .. chunk .. n - 1 do
            use _ = torch.NewDisposeScope()
            use _inf = torch.inference_mode ()
            let len = min chunk (n - start)
            let x = task.TestX.narrow(0L, int64 start, int64 len).``to``(device)
            let res = c.Executor.Forward([| x |])
            let rows = res.Rows[o]
            if rows.Length > 0 then
                let am = res.Values[o].argmax(1L).cpu().data<int64>().ToArray()
                rows |> Array.iteri (fun k r -> preds[start + int r] <- int am[k])
            let ms = match latency with Some l -> Latency.exampleMs l.D2nn len c res | None -> [||]
            for i in 0 .. len - 1 do
                costs[start + i] <- res.Cost[i] / normalizer
                paths[start + i] <- pathOf c res i
                if ms.Length > 0 then times[start + i] <- ms[i] / (Option.get latency).Normalizer
        c.Train true
        { Metric = Metrics.evaluate task.Metric preds task.TestY
          Cost = Array.average costs
          Latency = latency |> Option.map (fun _ -> Array.average times)
          Paths = paths
          Predictions = preds }

    /// Greedy inference on the test set in chunks.
    let evaluate (c: CompiledD2nn) (task: Task) (normalizer: float) (output: string) (device: torch.Device) =
        evaluateWith c task normalizer None output device

    /// Wall time (ms) of greedy inference over the whole test set, best of `runs` (data already on device).
    let inferenceMs (c: CompiledD2nn) (x: torch.Tensor) (batch: int) (runs: int) =
        c.Train false
        let n = int x.shape[0]
        let once () =
            let sw = Stopwatch.StartNew()
            for start in 0 .. batch .. n - 1 do
                use _ = torch.NewDisposeScope()
                use _inf = torch.inference_mode ()
                let len = min batch (n - start)
                c.Executor.Forward([| x.narrow(0L, int64 start, int64 len) |]) |> ignore
            sw.Elapsed.TotalMilliseconds
        once () |> ignore
        let best = [ for _ in 1 .. runs -> once () ] |> List.min
        c.Train true
        best
