namespace AutoDesign.D2NN

open System.Collections.Generic
open TorchSharp
open AutoDesign.Runs
open AutoDesign.Nn.D2NN

/// A controller of a node and the action of it that activates the node.
type ControlParent = { Controller: string; Action: int }

/// A validated, preprocessed D²NN (§2.7.1): topological order, relations, per-node costs, and the
/// plan the batched executor runs.
type CompiledD2nn =
    {
        Graph: D2nnGraph
        /// Node names in topological (BFS) order; plan index i is Order[i].
        Order: string[]
        Index: IReadOnlyDictionary<string, int>
        Roles: IReadOnlyDictionary<string, NodeRole>
        /// Producers of each node's data inputs, in input order.
        DataParents: IReadOnlyDictionary<string, IReadOnlyList<string>>
        /// Controllers of each node with the action index that activates it.
        ControlParents: IReadOnlyDictionary<string, IReadOnlyList<ControlParent>>
        /// Multiplications per example of each node when it executes (0 for input/output nodes).
        Costs: IReadOnlyDictionary<string, float>
        /// Per-example output shape of each node (control nodes: [A]).
        Shapes: IReadOnlyDictionary<string, int64[]>
        Plan: ExecPlan
        Executor: D2nnExecutor
    }

    /// Cost of executing every function node once.
    member c.FullCost = c.Costs.Values |> Seq.sum
    member c.Node(name: string) = c.Index[name]

    /// All modules (deduplicated) of the function nodes, in plan order.
    member c.Modules: IReadOnlyList<torch.nn.Module> =
        let seen = HashSet<torch.nn.Module>(HashIdentity.Reference)

        [| for pn in c.Plan.Nodes do
               if not (isNull pn.Function) && seen.Add pn.Function.Module then yield pn.Function.Module |]

    /// Each function node's name with its module (a module shared by several nodes appears once, under the
    /// first of them in plan order): the names checkpoints and weight files use.
    member c.NamedModules: IReadOnlyList<KeyValuePair<string, torch.nn.Module>> =
        let seen = HashSet<torch.nn.Module>(HashIdentity.Reference)

        [| for pn in c.Plan.Nodes do
               if not (isNull pn.Function) && seen.Add pn.Function.Module then yield KeyValuePair(pn.Name, pn.Function.Module) |]

    /// Every trainable parameter of the function nodes.
    member c.Parameters: TorchSharp.Modules.Parameter[] = c.Modules |> Seq.collect (fun m -> m.parameters ()) |> Seq.toArray

    /// Training (true) or evaluation (false) mode for every node module.
    member c.Train(on: bool) =
        for m in c.Modules do
            m.train on

    /// Move every node module to `device`.
    member c.To(device: torch.Device) =
        for m in c.Modules do
            m.``to`` (device) |> ignore

    /// Total cost of a set of node names.
    member c.CostOf(nodes: seq<string>) = nodes |> Seq.sumBy (fun n -> c.Costs[n])

module Preprocess =
    let private shapeStr (s: int64 seq) = "[" + (s |> Seq.map string |> String.concat ", ") + "]"

    /// Validate `g` (structure, then shapes by a forward probe on one all-zero example) and preprocess it.
    [<CompiledName("Compile")>]
    let compile (g: D2nnGraph) : CompiledD2nn =
        let order = Validate.structure g
        let index = Dictionary<string, int>()
        order |> Array.iteri (fun i n -> index[n] <- i)
        let byName = g.Nodes |> Seq.map (fun n -> n.Name, n) |> dict
        let dataEdges = List.ofSeq g.DataEdges
        let controlEdges = List.ofSeq g.ControlEdges
        let dataIn n = dataEdges |> List.filter (fun e -> e.To = n)
        let ctrlOut n = controlEdges |> List.filter (fun e -> e.From = n)

        let ctrlParents n =
            [ for e in controlEdges do
                  if e.To = n then
                      let action = ctrlOut e.From |> List.findIndex (fun c -> c.To = n)
                      yield e.From, action ]

        let role n =
            match byName[n] with
            | InputNode _ -> NodeRole.Input
            | OutputNode _ -> NodeRole.Output
            | FunctionNode _ -> if (ctrlOut n).IsEmpty then NodeRole.Regular else NodeRole.Control

        let shapes = Dictionary<string, int64[]>()
        let costs = Dictionary<string, float>()
        let probeOut = Dictionary<string, torch.Tensor>()
        use _scope = torch.NewDisposeScope()
        use _nograd = torch.no_grad ()

        for n in order do
            let ins =
                [| for e in dataIn n do
                       let v = probeOut[e.From]

                       match e.Default with
                       | null -> ()
                       | d ->
                           let ds = d.shape

                           if ds <> shapes[e.From] then
                               Errors.fail
                                   "data edge '%s' -> '%s': default value has shape %s but '%s' outputs %s per example"
                                   e.From
                                   n
                                   (shapeStr ds)
                                   e.From
                                   (shapeStr shapes[e.From])

                           if d.dtype <> v.dtype then
                               Errors.fail "data edge '%s' -> '%s': default value has type %O but '%s' outputs %O" e.From n d.dtype e.From v.dtype

                       yield v |]

            match byName[n] with
            | InputNode(_, shape) ->
                let x = torch.zeros (Array.append [| 1L |] shape)
                probeOut[n] <- x
                shapes[n] <- shape
                costs[n] <- 0.0
            | OutputNode _ ->
                probeOut[n] <- ins[0]
                shapes[n] <- shapes[(dataIn n).Head.From]
                costs[n] <- 0.0
            | FunctionNode(_, fn) ->
                fn.Module.eval ()
                let mutable y: torch.Tensor = null

                let count =
                    try
                        MultCounter.Count(fn.Module, 1L, fun () -> y <- fn.Forward(ins, 1L))
                    with
                    | UserError _ -> reraise ()
                    | e ->
                        let inShapes = ins |> Array.map (fun t -> shapeStr t.shape) |> String.concat ", "
                        Errors.fail "node '%s' failed on data inputs of shape %s (batch of 1): %s" n (if inShapes = "" then "(none)" else inShapes) e.Message

                fn.Module.train ()

                if count.Layers > 0 && count.Calls = 0 then
                    Errors.fail
                        "node '%s': none of its %d conv/linear layers ran through a hook during the cost probe; invoke sub-modules with .call() (as Sequential does) so multiplications can be counted"
                        n
                        count.Layers

                if isNull y || y.dim () < 1 || y.shape[0] <> 1L then
                    Errors.fail
                        "node '%s' must return a tensor with the batch as first dimension (got %s for a batch of 1)"
                        n
                        (if isNull y then "null" else shapeStr y.shape)

                let per = y.shape[1..]

                if role n = NodeRole.Control then
                    let a = (ctrlOut n).Length

                    if per <> [| int64 a |] then
                        Errors.fail "control node '%s' has %d outgoing control edges and must output [batch, %d] scores, got %s" n a a (shapeStr y.shape)

                probeOut[n] <- y
                shapes[n] <- per
                costs[n] <- count.PerExample

        let planNodes =
            order
            |> Array.map (fun n ->
                let dIn = dataIn n
                let cIn = ctrlParents n

                let fn =
                    match byName[n] with
                    | FunctionNode(_, f) -> f
                    | _ -> null

                PlanNode(
                    n,
                    role n,
                    fn,
                    dIn |> List.map (fun e -> index[e.From]) |> Array.ofList,
                    dIn |> List.map (fun e -> e.Default) |> Array.ofList,
                    cIn |> List.map (fun (c, _) -> index[c]) |> Array.ofList,
                    cIn |> List.map snd |> Array.ofList,
                    (ctrlOut n).Length,
                    costs[n]
                ))

        let plan = ExecPlan(planNodes)
        let ro (d: Dictionary<string, 'v>) = d :> IReadOnlyDictionary<string, 'v>

        let mk (f: string -> 'v) =
            let d = Dictionary<string, 'v>() in

            (for n in order do
                d[n] <- f n)

            ro d

        { Graph = g
          Order = order
          Index = ro index
          Roles = mk role
          DataParents = mk (fun n -> dataIn n |> List.map (fun e -> e.From) |> Array.ofList :> IReadOnlyList<string>)
          ControlParents =
            mk (fun n -> ctrlParents n |> List.map (fun (c, a) -> { Controller = c; Action = a }) |> Array.ofList :> IReadOnlyList<ControlParent>)
          Costs = ro costs
          Shapes = ro shapes
          Plan = plan
          Executor = D2nnExecutor(plan) }

    /// Run the batched executor: `inputs` in input-node declaration order, greedy control unless `policy`
    /// (null: greedy).
    [<CompiledName("Forward")>]
    let forward (c: CompiledD2nn) (inputs: torch.Tensor[]) (policy: ActionPolicy) = c.Executor.Forward(inputs, policy)

/// Entry point of the D²NN library: `D2nn.Compile(graph)` validates and preprocesses a graph built with
/// `GraphBuilder`; the result runs with `compiled.Executor.Forward(...)` and trains with `D2nnTrainer`.
[<AbstractClass; Sealed>]
type D2nn =
    /// Validate `graph` (structure, then shapes by a forward probe on one all-zero example) and preprocess it.
    static member Compile(graph: D2nnGraph) : CompiledD2nn = Preprocess.compile graph
