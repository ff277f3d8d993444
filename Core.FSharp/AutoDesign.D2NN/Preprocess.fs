namespace AutoDesign.D2NN

open System.Collections.Generic
open TorchSharp
open AutoDesign.Runs
open AutoDesign.Nn.D2NN

/// A validated, preprocessed D²NN (§2.7.1): topological order, relations, per-node costs, and the
/// plan the batched executor runs.
type CompiledD2nn =
    { Graph: D2nnGraph
      /// Node names in topological (BFS) order; plan index i is Order[i].
      Order: string[]
      Index: IReadOnlyDictionary<string, int>
      Roles: IReadOnlyDictionary<string, NodeRole>
      /// Producers of each node's data inputs, in input order.
      DataParents: IReadOnlyDictionary<string, string list>
      /// Controllers of each node with the action index that activates it.
      ControlParents: IReadOnlyDictionary<string, (string * int) list>
      /// Multiplications per example of each node when it executes (0 for input/output nodes).
      Costs: IReadOnlyDictionary<string, float>
      /// Per-example output shape of each node (control nodes: [A]).
      Shapes: IReadOnlyDictionary<string, int64[]>
      Plan: ExecPlan
      Executor: D2nnExecutor }
    /// Cost of executing every function node once.
    member c.FullCost = c.Costs.Values |> Seq.sum
    member c.Node(name: string) = c.Index[name]
    /// All modules (deduplicated) of the function nodes.
    member c.Modules =
        let seen = HashSet<torch.nn.Module>(HashIdentity.Reference)
        [ for pn in c.Plan.Nodes do
            if not (isNull pn.Function) && seen.Add pn.Function.Module then yield pn.Function.Module ]
    member c.Parameters = c.Modules |> Seq.collect (fun m -> m.parameters ()) |> Seq.toArray
    member c.Train(on: bool) = for m in c.Modules do m.train on
    member c.To(device: torch.Device) = for m in c.Modules do m.``to``(device) |> ignore
    /// Total cost of a set of node names.
    member c.CostOf(nodes: string seq) = nodes |> Seq.sumBy (fun n -> c.Costs[n])

module Preprocess =
    let private shapeStr (s: int64 seq) = "[" + (s |> Seq.map string |> String.concat ", ") + "]"

    /// Validate `g` (structure, then shapes by a forward probe on one all-zero example) and preprocess it.
    let compile (g: D2nnGraph) : CompiledD2nn =
        let order = Validate.structure g |> Array.ofList
        let index = Dictionary<string, int>()
        order |> Array.iteri (fun i n -> index[n] <- i)
        let byName = g.Nodes |> List.map (fun n -> n.Name, n) |> dict
        let dataIn n = g.DataEdges |> List.filter (fun e -> e.To = n)
        let ctrlOut n = g.ControlEdges |> List.filter (fun e -> e.CFrom = n)
        let ctrlParents n =
            [ for e in g.ControlEdges do
                if e.CTo = n then
                    let action = ctrlOut e.CFrom |> List.findIndex (fun c -> c.CTo = n)
                    yield e.CFrom, action ]
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
                    | Some d ->
                        let ds = d.shape
                        if ds <> shapes[e.From] then
                            Errors.fail "data edge '%s' -> '%s': default value has shape %s but '%s' outputs %s per example" e.From n (shapeStr ds) e.From (shapeStr shapes[e.From])
                        if d.dtype <> v.dtype then
                            Errors.fail "data edge '%s' -> '%s': default value has type %O but '%s' outputs %O" e.From n d.dtype e.From v.dtype
                    | None -> ()
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
                let mutable y : torch.Tensor = null
                let count =
                    try MultCounter.Count(fn.Module, 1L, fun () -> y <- fn.Forward(ins, 1L))
                    with
                    | UserError _ -> reraise ()
                    | e ->
                        let inShapes = ins |> Array.map (fun t -> shapeStr t.shape) |> String.concat ", "
                        Errors.fail "node '%s' failed on data inputs of shape %s (batch of 1): %s" n (if inShapes = "" then "(none)" else inShapes) e.Message
                fn.Module.train ()
                if count.Layers > 0 && count.Calls = 0 then
                    Errors.fail "node '%s': none of its %d conv/linear layers ran through a hook during the cost probe; invoke sub-modules with .call() (as Sequential does) so multiplications can be counted" n count.Layers
                if isNull y || y.dim () < 1 || y.shape[0] <> 1L then
                    Errors.fail "node '%s' must return a tensor with the batch as first dimension (got %s for a batch of 1)" n (if isNull y then "null" else shapeStr y.shape)
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
                let fn = match byName[n] with FunctionNode(_, f) -> f | _ -> null
                PlanNode(
                    n, role n, fn,
                    dIn |> List.map (fun e -> index[e.From]) |> Array.ofList,
                    dIn |> List.map (fun e -> match e.Default with Some d -> d | None -> null) |> Array.ofList,
                    cIn |> List.map (fun (c, _) -> index[c]) |> Array.ofList,
                    cIn |> List.map snd |> Array.ofList,
                    (ctrlOut n).Length,
                    costs[n]))
        let plan = ExecPlan(planNodes)
        let ro (d: Dictionary<string, 'v>) = d :> IReadOnlyDictionary<string, 'v>
        let mk (f: string -> 'v) = let d = Dictionary<string, 'v>() in (for n in order do d[n] <- f n); ro d
        { Graph = g
          Order = order
          Index = ro index
          Roles = mk role
          DataParents = mk (fun n -> dataIn n |> List.map (fun e -> e.From))
          ControlParents = mk ctrlParents
          Costs = ro costs
          Shapes = ro shapes
          Plan = plan
          Executor = D2nnExecutor(plan) }

    /// Run the batched executor: `inputs` in input-node declaration order, greedy control unless `policy`.
    let forward (c: CompiledD2nn) (inputs: torch.Tensor[]) (policy: ActionPolicy option) =
        match policy with
        | Some p -> c.Executor.Forward(inputs, p)
        | None -> c.Executor.Forward(inputs, null)
