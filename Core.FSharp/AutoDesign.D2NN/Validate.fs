namespace AutoDesign.D2NN

open System.Collections.Generic
open AutoDesign.Runs

/// Structural checks of §2.3.1 (shape checks need a forward probe and live in Preprocess).
/// Each violation raises one UserError naming the offending nodes.
module Validate =
    let private names (xs: string seq) = xs |> Seq.map (sprintf "'%s'") |> String.concat ", "

    /// Kahn's algorithm (breadth-first): the topological order, or the nodes left on a cycle.
    let topologicalOrder (g: D2nnGraph) : Result<string list, string list> =
        let order = g.Nodes |> List.map (fun n -> n.Name)
        let indeg = Dictionary<string, int>()
        let succ = Dictionary<string, ResizeArray<string>>()
        for n in order do
            indeg[n] <- 0
            succ[n] <- ResizeArray()
        let edges =
            [ for e in g.DataEdges -> e.From, e.To
              for e in g.ControlEdges -> e.CFrom, e.CTo ]
        for (a, b) in edges do
            indeg[b] <- indeg[b] + 1
            succ[a].Add b
        // Inputs first (in declaration order), then other sources: inputs keep their declared order.
        let inputsFirst =
            (g.Nodes |> List.filter (function InputNode _ -> true | _ -> false))
            @ (g.Nodes |> List.filter (function InputNode _ -> false | _ -> true))
        let queue = Queue<string>()
        for n in inputsFirst do
            if indeg[n.Name] = 0 then queue.Enqueue n.Name
        let result = ResizeArray<string>()
        while queue.Count > 0 do
            let n = queue.Dequeue()
            result.Add n
            for s in succ[n] do
                indeg[s] <- indeg[s] - 1
                if indeg[s] = 0 then queue.Enqueue s
        if result.Count = order.Length then Ok(List.ofSeq result)
        else Error(order |> List.filter (fun n -> indeg[n] > 0))

    /// Raise a UserError for the first violated rule.
    let structure (g: D2nnGraph) : string list =
        if g.Nodes.IsEmpty then Errors.fail "the D²NN has no nodes"
        let dup = g.Nodes |> List.countBy (fun n -> n.Name) |> List.filter (fun (_, c) -> c > 1)
        if not dup.IsEmpty then Errors.fail "the D²NN has several nodes named %s" (names (List.map fst dup))
        for n in g.Nodes do
            if System.String.IsNullOrWhiteSpace n.Name then Errors.fail "a D²NN node has an empty name"
        let byName = g.Nodes |> List.map (fun n -> n.Name, n) |> dict
        if not (g.Nodes |> List.exists (function InputNode _ -> true | _ -> false)) then Errors.fail "the D²NN has no input node"
        if not (g.Nodes |> List.exists (function OutputNode _ -> true | _ -> false)) then Errors.fail "the D²NN has no output node"
        let all =
            [ for e in g.DataEdges -> "data", e.From, e.To
              for e in g.ControlEdges -> "control", e.CFrom, e.CTo ]
        for (kind, a, b) in all do
            for x in [ a; b ] do
                if not (byName.ContainsKey x) then Errors.fail "%s edge '%s' -> '%s' names unknown node '%s'" kind a b x
            if a = b then Errors.fail "%s edge '%s' -> '%s' is a self-loop" kind a b
        let dupEdges = all |> List.countBy (fun (_, a, b) -> a, b) |> List.filter (fun (_, c) -> c > 1)
        match dupEdges with
        | ((a, b), _) :: _ -> Errors.fail "duplicated edge '%s' -> '%s' (a D²NN has at most one edge between two nodes)" a b
        | [] -> ()
        let dataOut n = g.DataEdges |> List.filter (fun e -> e.From = n) |> List.map (fun e -> e.To)
        let dataIn n = g.DataEdges |> List.filter (fun e -> e.To = n) |> List.map (fun e -> e.From)
        let ctrlOut n = g.ControlEdges |> List.filter (fun e -> e.CFrom = n) |> List.map (fun e -> e.CTo)
        let ctrlIn n = g.ControlEdges |> List.filter (fun e -> e.CTo = n) |> List.map (fun e -> e.CFrom)
        for node in g.Nodes do
            let n = node.Name
            match node with
            | InputNode(_, shape) ->
                if not (List.isEmpty (dataIn n) && List.isEmpty (ctrlIn n)) then
                    Errors.fail "input node '%s' has incoming edges (from %s)" n (names (dataIn n @ ctrlIn n))
                if not (List.isEmpty (ctrlOut n)) then
                    Errors.fail "input node '%s' has outgoing control edges (to %s); only function nodes can control" n (names (ctrlOut n))
                if shape |> Array.exists (fun d -> d <= 0L) then
                    Errors.fail "input node '%s' has a non-positive dimension in its shape %A" n shape
            | OutputNode _ ->
                if (dataIn n).Length <> 1 then
                    Errors.fail "output node '%s' must have exactly one incoming data edge, it has %d" n (dataIn n).Length
                if not (List.isEmpty (ctrlIn n)) then
                    Errors.fail "output node '%s' has incoming control edges (from %s); control function nodes instead" n (names (ctrlIn n))
                if not (List.isEmpty (dataOut n) && List.isEmpty (ctrlOut n)) then
                    Errors.fail "output node '%s' has outgoing edges (to %s)" n (names (dataOut n @ ctrlOut n))
            | FunctionNode _ ->
                let dOut, cOut, cIn = dataOut n, ctrlOut n, ctrlIn n
                if not dOut.IsEmpty && not cOut.IsEmpty then
                    Errors.fail "node '%s' mixes outgoing data edges (to %s) and control edges (to %s); its outgoing edges must be all data or all control" n (names dOut) (names cOut)
                // A dummy without outgoing edges is a no-op action ("skip"); any other node must feed something.
                if dOut.IsEmpty && cOut.IsEmpty && not (List.isEmpty (dataIn n)) then
                    Errors.fail "function node '%s' has no outgoing edges (its output is never used)" n
                if not cIn.IsEmpty && not cOut.IsEmpty then
                    Errors.fail "node '%s' has an incoming control edge (from %s) and outgoing control edges (to %s); a controlled node cannot be a control node" n (names cIn) (names cOut)
                for p in dataIn n do
                    if not (List.isEmpty (ctrlOut p)) then
                        Errors.fail "data edge '%s' -> '%s' starts at control node '%s'" p n p
        let order =
            match topologicalOrder g with
            | Ok o -> o
            | Error cyc -> Errors.fail "the D²NN is not acyclic: nodes %s lie on or after a cycle" (names cyc)
        // Every output must be reachable from an input along data and control edges.
        let reach = HashSet<string>()
        for n in order do
            let isInput = match byName[n] with InputNode _ -> true | _ -> false
            if isInput || (dataIn n @ ctrlIn n |> List.exists reach.Contains) then reach.Add n |> ignore
        for node in g.Nodes do
            match node with
            | OutputNode n when not (reach.Contains n) -> Errors.fail "output node '%s' is not reachable from any input node" n
            | _ -> ()
        order
