namespace AutoDesign.D2NN

open System
open System.Diagnostics
open System.Collections.Generic
open System.IO
open System.Text.Json
open TorchSharp
open AutoDesign.Runs
open AutoDesign.Nn.D2NN

/// Measured wall time of one function node: Ms[i] is the time of one call on Batches[i] examples, the
/// fastest of the timed calls (control nodes: including the greedy choice of actions).
type NodeLatency = { Node: string; Ms: float[] }

/// A latency table of one network on one machine: every function node timed at several sub-batch sizes.
/// A plain record of arrays, so it serializes as JSON and back.
type LatencyModel =
    {
        /// The network timed (architecture or baseline name).
        Network: string
        /// Where it was timed: device, torch threads, host.
        Device: string
        Threads: int
        /// Sub-batch sizes timed, ascending (1 included).
        Batches: int[]
        /// Timed calls per point (the fastest is kept: on a shared machine load only adds time).
        Repeats: int
        Nodes: NodeLatency[]
    }

    /// Time (ms) of one call of `node` on `k` examples: piecewise linear between the timed sizes,
    /// extrapolated along the last segment above them; 0 for k ≤ 0 and for nodes without a function.
    member m.Ms(node: string, k: float) =
        match m.Nodes |> Array.tryFind (fun n -> n.Node = node) with
        | None -> 0.0
        | Some _ when k <= 0.0 -> 0.0
        | Some n ->
            let b = m.Batches |> Array.map float
            let last = b.Length - 1

            if k <= b[0] || last = 0 then
                n.Ms[0] * (if last = 0 then k / b[0] else 1.0)
            else
                let i = (b |> Array.tryFindIndex (fun v -> v >= k)) |> Option.defaultValue last |> max 1
                let slope = (n.Ms[i] - n.Ms[i - 1]) / (b[i] - b[i - 1])
                max 0.0 (n.Ms[i - 1] + slope * (k - b[i - 1]))

    /// Per-example time (ms) of `node` when it runs on `k` examples.
    member m.PerExampleMs(node: string, k: float) = if k <= 0.0 then 0.0 else m.Ms(node, k) / k

    /// Per-example time (ms) of the whole network with every function node on `batch` examples.
    member m.FullPerExampleMs(batch: int) = m.Nodes |> Array.sumBy (fun n -> m.PerExampleMs(n.Node, float batch))

/// The latency cost of a D²NN against its reference network, both timed on the same machine, for
/// inference in batches of `Batch` examples (1: one image at a time).
type LatencyCost =
    { Batch: int
      D2nn: LatencyModel
      Reference: LatencyModel }

    /// Per-example time (ms) of the reference network: the cost 1.0 of the reward.
    member l.Normalizer = l.Reference.FullPerExampleMs l.Batch

/// What the reward's efficiency term E = 1 − normalized cost counts.
type CostMeasure =
    /// Multiplications per example (the thesis), normalized by the reference network's.
    | Multiplications of normalizer: float
    /// Measured wall time per example, normalized by the reference network's.
    | Latency of LatencyCost

    /// Multiplications normalized by `normalizer` (the factory for C#).
    static member MultiplicationsOver(normalizer: float) = Multiplications normalizer
    /// Measured wall time by `cost` (the factory for C#).
    static member LatencyBy(cost: LatencyCost) = Latency cost

    member c.Unit =
        match c with
        | Multiplications _ -> "mults"
        | Latency _ -> "latency"

    member c.Normalizer =
        match c with
        | Multiplications n -> n
        | Latency l -> l.Normalizer

/// Latency tables of several networks (a D²NN and its static baselines) timed together on one machine,
/// for inference in batches of `Batch`. Stored as JSON; the cost of any of them against a reference is
/// `Cost(name, reference)`.
type LatencyTables =
    {
        Batch: int
        /// Where and how they were timed, in words.
        Note: string
        Networks: LatencyModel[]
    }

    /// The table of network `name`.
    member t.Table(name: string) =
        match t.Networks |> Array.tryFind (fun m -> m.Network = name) with
        | Some m -> m
        | None -> Errors.fail "the latency tables have no network '%s' (they time %s)" name (t.Networks |> Array.map (fun m -> m.Network) |> String.concat ", ")

    /// The latency cost of network `name` against `reference` at the tables' batch.
    member t.Cost(name: string, reference: string) = { Batch = t.Batch; D2nn = t.Table name; Reference = t.Table reference }

module Latency =
    let private jsonOptions = JsonSerializerOptions(WriteIndented = true)

    let private check (path: string) (m: LatencyModel) =
        if isNull (box m) || isNull m.Batches || isNull m.Nodes || m.Batches.Length = 0 then
            Errors.fail "latency model %s lacks a timed network" path

        for n in m.Nodes do
            if isNull n.Ms || n.Ms.Length <> m.Batches.Length then
                Errors.fail "latency model %s: node '%s' has %d times for %d batch sizes" path n.Node (if isNull n.Ms then 0 else n.Ms.Length) m.Batches.Length

    let private read<'T> (path: string) (text: string) : 'T =
        try
            JsonSerializer.Deserialize<'T>(text, jsonOptions)
        with :? JsonException as e ->
            Errors.fail "latency model %s is not valid JSON: %s" path e.Message

    [<CompiledName("Save")>]
    let save (path: string) (l: LatencyCost) = Atomic.writeAllText path (JsonSerializer.Serialize(l, jsonOptions))

    [<CompiledName("Load")>]
    let load (path: string) : LatencyCost =
        SafeFiles.requireFile "latency model" path
        let l = read<LatencyCost> path (SafeFiles.readText SafeFiles.MaxJsonBytes path)
        if isNull (box l) then Errors.fail "latency model %s holds JSON null, not a latency model" path

        for m in [ l.D2nn; l.Reference ] do
            check path m

        l

    [<CompiledName("SaveTables")>]
    let saveTables (path: string) (t: LatencyTables) = Atomic.writeAllText path (JsonSerializer.Serialize(t, jsonOptions))

    /// Latency tables from JSON text (`what` names the source in errors).
    [<CompiledName("ParseTables")>]
    let parseTables (what: string) (text: string) : LatencyTables =
        let t = read<LatencyTables> what text

        if isNull (box t) || isNull t.Networks || t.Networks.Length = 0 then
            Errors.fail "latency tables %s time no network" what

        if t.Batch < 1 then Errors.fail "latency tables %s: batch must be >= 1, got %d" what t.Batch

        for m in t.Networks do
            check what m

        t

    [<CompiledName("LoadTables")>]
    let loadTables (path: string) : LatencyTables =
        SafeFiles.requireFile "latency tables" path
        parseTables path (SafeFiles.readText SafeFiles.MaxJsonBytes path)

    /// Per function node of `c`: (plan index, one call on the first `b` rows of `sample`). Every node
    /// runs on all rows, so each sees inputs of the right shape whatever the routing; rows of `sample`
    /// repeat if it has fewer. Control nodes' calls include the greedy choice of actions.
    let private calls (c: CompiledD2nn) (sample: torch.Tensor) (b: int) =
        let nodes = c.Plan.Nodes
        let n0 = sample.shape[0]

        let x =
            if n0 >= int64 b then
                sample.narrow (0L, 0L, int64 b)
            else
                sample.index_select (0L, torch.tensor (Array.init b (fun i -> int64 i % n0), device = sample.device))

        let outs = Array.zeroCreate<torch.Tensor> nodes.Length
        outs[c.Plan.Inputs[0]] <- x

        [| for n in 0 .. nodes.Length - 1 do
               let node = nodes[n]

               if node.Role = NodeRole.Output then
                   outs[n] <- outs[node.DataParents[0]]
               elif not (isNull node.Function) then
                   let xs = node.DataParents |> Array.map (fun p -> outs[p])

                   let call () =
                       let y = node.Function.Forward(xs, int64 b)
                       if node.Role = NodeRole.Control then SubBatch.ArgMaxRows y |> ignore
                       y

                   outs[n] <- call ()
                   yield n, (fun () -> call () |> ignore) |]

    /// Time every function node of each network in `networks` on the first b rows of `sample` for each
    /// b in `batches` (inference mode, eval mode, the current torch thread count), keeping the fastest of
    /// `repeats` calls. The networks are timed in interleaved rounds, so a burst of load on a shared
    /// machine slows all of them alike instead of one.
    [<CompiledName("MeasureAll")>]
    let measureAll (networks: seq<KeyValuePair<string, CompiledD2nn>>) (sample: torch.Tensor) (batches: int[]) (repeats: int) : LatencyModel[] =
        let networks = networks |> Seq.map (fun kv -> kv.Key, kv.Value) |> List.ofSeq

        if batches.Length = 0 || batches |> Array.exists (fun b -> b < 1) then
            Errors.fail "latency: batch sizes must be positive, got %A" batches

        if repeats < 1 then Errors.fail "latency: repeats must be >= 1, got %d" repeats

        for (name, c) in networks do
            if c.Plan.Inputs.Length <> 1 then
                Errors.fail "latency: %s has %d input nodes; one is supported" name c.Plan.Inputs.Length

        let batches = batches |> Array.distinct |> Array.sort
        let nets = Array.ofList networks
        let times = nets |> Array.map (fun (_, c) -> Array.init c.Plan.Nodes.Length (fun _ -> Array.create batches.Length infinity))

        for (_, c) in nets do
            c.Train false

        (use _inf = torch.inference_mode ()

         batches
         |> Array.iteri (fun bi b ->
             use _ = torch.NewDisposeScope()
             let perNet = nets |> Array.map (fun (_, c) -> calls c sample b)

             for cs in perNet do
                 for (_, call) in cs do
                     call ()

             for _ in 1..repeats do
                 perNet
                 |> Array.iteri (fun k cs ->
                     for (n, call) in cs do
                         use _ = torch.NewDisposeScope()
                         let t = Stopwatch.GetTimestamp()
                         call ()
                         times.[k].[n].[bi] <- min times.[k].[n].[bi] (Stopwatch.GetElapsedTime(t).TotalMilliseconds))))

        for (_, c) in nets do
            c.Train true

        [| for k in 0 .. nets.Length - 1 do
               let name, c = nets[k]
               let nodes = c.Plan.Nodes

               yield
                   { Network = name
                     Device = sprintf "%O" sample.device
                     Threads = torch.get_num_threads ()
                     Batches = batches
                     Repeats = repeats
                     Nodes =
                       [| for n in 0 .. nodes.Length - 1 do
                              if not (isNull nodes[n].Function) then yield { Node = nodes[n].Name; Ms = times[k][n] } |] } |]

    /// Time every function node of `c` (see measureAll).
    [<CompiledName("Measure")>]
    let measure (name: string) (c: CompiledD2nn) (sample: torch.Tensor) (batches: int[]) (repeats: int) : LatencyModel =
        (measureAll [ KeyValuePair(name, c) ] sample batches repeats)[0]

    /// Per-example latency (ms) of the examples of one executed mini-batch, for inference in batches of
    /// `batch`: a node that ran on k of the B examples is charged its time on k·batch/B examples (at least
    /// one), split evenly over them. Summed over the examples this is the table's time for the batch.
    [<CompiledName("ExampleMs")>]
    let exampleMs (model: LatencyModel) (batch: int) (c: CompiledD2nn) (res: ExecutionResult) : float[] =
        let costs = Array.zeroCreate<float> res.Batch
        let scale = float batch / float res.Batch

        for n in 0 .. c.Plan.Nodes.Length - 1 do
            let node = c.Plan.Nodes[n]
            let rows = res.Rows[n]

            if not (isNull node.Function) && not (isNull rows) && rows.Length > 0 then
                let k = max 1.0 (float rows.Length * scale)
                let per = model.PerExampleMs(node.Name, k)

                for r in rows do
                    costs[int r] <- costs[int r] + per

        costs

    /// Per-example cost of an executed mini-batch in the unit of `cost`, divided by its normalizer.
    [<CompiledName("NormalizedCosts")>]
    let normalizedCosts (cost: CostMeasure) (c: CompiledD2nn) (res: ExecutionResult) : float[] =
        match cost with
        | Multiplications n -> res.Cost |> Array.map (fun v -> v / n)
        | Latency l -> exampleMs l.D2nn l.Batch c res |> Array.map (fun v -> v / l.Normalizer)
