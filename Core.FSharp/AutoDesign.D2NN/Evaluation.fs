namespace AutoDesign.D2NN

open System.Diagnostics
open TorchSharp
open AutoDesign.Nn.D2NN
open AutoDesign.Metrics

/// How many examples each function node ran on, per evaluated chunk of the test set: enough to charge any
/// latency table afterwards (Evaluation.modeledLatency) without running the network again.
type ExecutionCounts =
    {
        Nodes: string[]
        /// Examples per chunk.
        ChunkSizes: int[]
        /// Rows[chunk][node]: examples of the chunk the node ran on.
        Rows: int[][]
    }

/// Greedy inference of a network on a task's test set.
type EvalResult =
    {
        Metric: float
        /// Mean multiplications per example divided by the cost normalizer.
        Cost: float
        /// Mean multiplications per example.
        Mults: float
        /// With a latency model: mean modeled time per example divided by the reference network's; NaN without one.
        Latency: float
        /// Per test example: the costly regular nodes it executed, joined by '+'.
        Paths: string[]
        Predictions: int[]
        Counts: ExecutionCounts
    }

/// How many test examples took one execution path, and the first (up to 16) of them.
type PathCount = { Path: string; Count: int; Examples: int[] }

/// Which examples of a task an evaluation runs on.
type EvalSplit =
    /// The held-out examples carved from the training images: what every choice is made on.
    | ValidationSplit
    /// The test split: what results are reported on, never chosen on.
    | TestSplit

/// A network's score on the validation split: its metric, multiplication cost and execution counts
/// (enough to charge any latency table afterwards).
type ValidationScore = { Metric: float; Cost: float; Counts: ExecutionCounts }

/// What a run stores of an evaluation (result.json): the test metric, both costs and the path
/// distribution, and the validation score that choices are made on.
type PointResult =
    {
        Metric: float
        Cost: float
        Mults: float
        /// NaN without a latency model.
        Latency: float
        Paths: PathCount[]
        Counts: ExecutionCounts
        Validation: ValidationScore
    }

module Evaluation =
    /// Test examples per inference call when no latency model sets the batch.
    [<Literal>]
    let DefaultChunk = 256

    /// Signature of the costly regular nodes an example executed (merges and identities cost nothing).
    [<CompiledName("PathOf")>]
    let pathOf (c: CompiledD2nn) (res: ExecutionResult) (i: int) =
        [ for n in 0 .. c.Order.Length - 1 do
              let pn = c.Plan.Nodes[n]
              if pn.Role = NodeRole.Regular && pn.Cost > 0.0 && res.Executed(n, i) then yield pn.Name ]
        |> String.concat "+"

    let private run
        (c: CompiledD2nn)
        (task: Task)
        (split: EvalSplit)
        (normalizer: float)
        (latency: LatencyCost option)
        (output: string)
        (device: torch.Device)
        =
        c.Train false
        let o = c.Index[output]

        let xs, ys =
            match split with
            | ValidationSplit -> task.ValX, task.ValY
            | TestSplit -> task.TestX, task.TestY

        let n = ys.Length
        let preds = Array.create n -1
        let costs = Array.zeroCreate<float> n
        let times = Array.zeroCreate<float> n
        let paths = Array.create n ""

        let fnNodes =
            [| for k in 0 .. c.Plan.Nodes.Length - 1 do
                   if not (isNull c.Plan.Nodes[k].Function) then yield k |]

        let chunkSizes = ResizeArray<int>()
        let chunkRows = ResizeArray<int[]>()
        // chunks of the inference batch, so the latency model sees the sub-batches inference would
        let chunk =
            match latency with
            | Some l -> l.Batch
            | None -> DefaultChunk

        for start in 0..chunk .. n - 1 do
            use _ = torch.NewDisposeScope()
            use _inf = torch.inference_mode ()
            let len = min chunk (n - start)
            let x = xs.narrow(0L, int64 start, int64 len).``to``(device)
            let res = c.Executor.Forward([| x |])
            chunkSizes.Add len

            chunkRows.Add(
                fnNodes
                |> Array.map (fun k ->
                    match res.Rows[k] with
                    | null -> 0
                    | r -> r.Length)
            )

            let rows = res.Rows[o]

            if rows.Length > 0 then
                let am = Classification.predictions res.Values[o]
                rows |> Array.iteri (fun k r -> preds[start + int r] <- am[k])

            let ms =
                match latency with
                | Some l -> Latency.exampleMs l.D2nn len c res
                | None -> [||]

            for i in 0 .. len - 1 do
                costs[start + i] <- res.Cost[i]
                paths[start + i] <- pathOf c res i
                if ms.Length > 0 then times[start + i] <- ms[i] / (Option.get latency).Normalizer

        c.Train true
        let mults = if n = 0 then 0.0 else Array.average costs

        { Metric = task.Metric.Evaluate(preds, ys)
          Cost = mults / normalizer
          Mults = mults
          Latency =
            (match latency with
             | Some _ when n > 0 -> Array.average times
             | _ -> nan)
          Paths = paths
          Predictions = preds
          Counts =
            { Nodes = fnNodes |> Array.map (fun k -> c.Plan.Nodes[k].Name)
              ChunkSizes = chunkSizes.ToArray()
              Rows = chunkRows.ToArray() } }

    /// Greedy inference on the test set in chunks of 256; cost = multiplications / `normalizer`.
    [<CompiledName("Evaluate")>]
    let evaluate (c: CompiledD2nn) (task: Task) (normalizer: float) (output: string) (device: torch.Device) = run c task TestSplit normalizer None output device

    /// Greedy inference on one split of the task (ValidationSplit for choices, TestSplit for reports).
    [<CompiledName("EvaluateSplit")>]
    let evaluateSplit (c: CompiledD2nn) (task: Task) (split: EvalSplit) (normalizer: float) (output: string) (device: torch.Device) =
        run c task split normalizer None output device

    /// Greedy inference on the test set in chunks of the latency model's batch; also the modeled time
    /// per example as a fraction of the reference network's.
    [<CompiledName("EvaluateWithLatency")>]
    let evaluateWithLatency (c: CompiledD2nn) (task: Task) (normalizer: float) (latency: LatencyCost) (output: string) (device: torch.Device) =
        run c task TestSplit normalizer (Some latency) output device

    /// The stored form of a test evaluation `e` with the validation evaluation `v` of the same network.
    [<CompiledName("Summarize")>]
    let summarize (e: EvalResult) (v: EvalResult) : PointResult =
        { Metric = e.Metric
          Cost = e.Cost
          Mults = e.Mults
          Latency = e.Latency
          Paths =
            e.Paths
            |> Array.indexed
            |> Array.groupBy snd
            |> Array.sortBy fst
            |> Array.map (fun (p, xs) -> { Path = p; Count = xs.Length; Examples = xs |> Array.truncate 16 |> Array.map fst })
          Counts = e.Counts
          Validation = { ValidationScore.Metric = v.Metric; Cost = v.Cost; Counts = v.Counts } }

    /// The mean modeled time per example of an evaluation, as a fraction of the reference network's, from
    /// its execution counts: a node that ran on k of a chunk's m examples is charged its table time on
    /// k·batch/m examples (at least one), as Latency.exampleMs charges it.
    [<CompiledName("ModeledLatency")>]
    let modeledLatency (l: LatencyCost) (counts: ExecutionCounts) =
        let n = Array.sum counts.ChunkSizes

        if n = 0 then
            nan
        else
            let mutable total = 0.0

            counts.ChunkSizes
            |> Array.iteri (fun ci m ->
                let scale = float l.Batch / float m

                counts.Nodes
                |> Array.iteri (fun ni node ->
                    let k = counts.Rows[ci][ni]
                    if k > 0 then total <- total + float k * l.D2nn.PerExampleMs(node, max 1.0 (float k * scale))))

            total / float n / l.Normalizer

    /// Wall time (ms) of greedy inference over the whole test set, best of `runs` (data already on device).
    [<CompiledName("InferenceMs")>]
    let inferenceMs (c: CompiledD2nn) (x: torch.Tensor) (batch: int) (runs: int) =
        c.Train false
        let n = int x.shape[0]

        let once () =
            let sw = Stopwatch.StartNew()

            for start in 0..batch .. n - 1 do
                use _ = torch.NewDisposeScope()
                use _inf = torch.inference_mode ()
                let len = min batch (n - start)
                c.Executor.Forward([| x.narrow (0L, int64 start, int64 len) |]) |> ignore

            sw.Elapsed.TotalMilliseconds

        once () |> ignore
        let best = [ for _ in 1..runs -> once () ] |> List.min
        c.Train true
        best
