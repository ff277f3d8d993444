namespace AutoDesign.D2NN

open System.Collections.Generic
open AutoDesign.Runs

/// Structural checks of §2.3.1 (shape checks need a forward probe and live in Preprocess).
/// Each violation raises one UserError naming the offending nodes.
module Validate =
    let private names (xs: string seq) = xs |> Seq.map (sprintf "'%s'") |> String.concat ", "

    /// Kahn's algorithm (breadth-first): the topological order, or the nodes left on a cycle.
    let internal topologicalOrder (g: D2nnGraph) : Result<string list, string list> =
        let nodes = List.ofSeq g.Nodes
        let order = nodes |> List.map (fun n -> n.Name)
        let indeg = Dictionary<string, int>()
        let succ = Dictionary<string, ResizeArray<string>>()

        for n in order do
            indeg[n] <- 0
            succ[n] <- ResizeArray()

        let edges =
            [ for e in g.DataEdges -> e.From, e.To
              for e in g.ControlEdges -> e.From, e.To ]

        for (a, b) in edges do
            indeg[b] <- indeg[b] + 1
            succ[a].Add b
        // Inputs first (in declaration order), then other sources: inputs keep their declared order.
        let inputsFirst =
            (nodes
             |> List.filter (function
                 | InputNode _ -> true
                 | _ -> false))
            @ (nodes
               |> List.filter (function
                   | InputNode _ -> false
                   | _ -> true))

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

        if result.Count = order.Length then Ok(List.ofSeq result) else Error(order |> List.filter (fun n -> indeg[n] > 0))

    /// Check the structure rules, raising a UserError for the first violated one; returns the node names
    /// in topological (breadth-first) order.
    [<CompiledName("Structure")>]
    let structure (g: D2nnGraph) : string[] =
        if isNull (box g.Nodes) || isNull (box g.DataEdges) || isNull (box g.ControlEdges) then
            Errors.fail "the D²NN graph lacks its node or edge lists"

        let nodes = List.ofSeq g.Nodes
        let dataEdges = List.ofSeq g.DataEdges
        let controlEdges = List.ofSeq g.ControlEdges
        if nodes.IsEmpty then Errors.fail "the D²NN has no nodes"
        if nodes |> List.exists (fun n -> isNull (box n)) then Errors.fail "the D²NN has a null node"
        let dup = nodes |> List.countBy (fun n -> n.Name) |> List.filter (fun (_, c) -> c > 1)
        if not dup.IsEmpty then Errors.fail "the D²NN has several nodes named %s" (names (List.map fst dup))

        for n in nodes do
            if System.String.IsNullOrWhiteSpace n.Name then Errors.fail "a D²NN node has an empty name"

        let byName = nodes |> List.map (fun n -> n.Name, n) |> dict

        if
            not (
                nodes
                |> List.exists (function
                    | InputNode _ -> true
                    | _ -> false)
            )
        then
            Errors.fail "the D²NN has no input node"

        if
            not (
                nodes
                |> List.exists (function
                    | OutputNode _ -> true
                    | _ -> false)
            )
        then
            Errors.fail "the D²NN has no output node"

        let all =
            [ for e in dataEdges -> "data", e.From, e.To
              for e in controlEdges -> "control", e.From, e.To ]

        for (kind, a, b) in all do
            for x in [ a; b ] do
                if not (byName.ContainsKey x) then Errors.fail "%s edge '%s' -> '%s' names unknown node '%s'" kind a b x

            if a = b then Errors.fail "%s edge '%s' -> '%s' is a self-loop" kind a b

        let dupEdges = all |> List.countBy (fun (_, a, b) -> a, b) |> List.filter (fun (_, c) -> c > 1)

        match dupEdges with
        | ((a, b), _) :: _ -> Errors.fail "duplicated edge '%s' -> '%s' (a D²NN has at most one edge between two nodes)" a b
        | [] -> ()

        let dataOut n = dataEdges |> List.filter (fun e -> e.From = n) |> List.map (fun e -> e.To)
        let dataIn n = dataEdges |> List.filter (fun e -> e.To = n) |> List.map (fun e -> e.From)
        let ctrlOut n = controlEdges |> List.filter (fun e -> e.From = n) |> List.map (fun e -> e.To)
        let ctrlIn n = controlEdges |> List.filter (fun e -> e.To = n) |> List.map (fun e -> e.From)

        for node in nodes do
            let n = node.Name

            match node with
            | InputNode(_, shape) ->
                if isNull shape then Errors.fail "input node '%s' has no shape" n

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
            | FunctionNode(_, fn) ->
                if isNull fn then Errors.fail "function node '%s' has no function" n
                let dOut, cOut, cIn = dataOut n, ctrlOut n, ctrlIn n

                if not dOut.IsEmpty && not cOut.IsEmpty then
                    Errors.fail
                        "node '%s' mixes outgoing data edges (to %s) and control edges (to %s); its outgoing edges must be all data or all control"
                        n
                        (names dOut)
                        (names cOut)
                // A dummy without outgoing edges is a no-op action ("skip"); any other node must feed something.
                if dOut.IsEmpty && cOut.IsEmpty && not (List.isEmpty (dataIn n)) then
                    Errors.fail "function node '%s' has no outgoing edges (its output is never used)" n

                if not cIn.IsEmpty && not cOut.IsEmpty then
                    Errors.fail
                        "node '%s' has an incoming control edge (from %s) and outgoing control edges (to %s); a controlled node cannot be a control node"
                        n
                        (names cIn)
                        (names cOut)

                for p in dataIn n do
                    if not (List.isEmpty (ctrlOut p)) then Errors.fail "data edge '%s' -> '%s' starts at control node '%s'" p n p

        let order =
            match topologicalOrder g with
            | Ok o -> o
            | Error cyc -> Errors.fail "the D²NN is not acyclic: nodes %s lie on or after a cycle" (names cyc)
        // Every output must be reachable from an input along data and control edges.
        let reach = HashSet<string>()

        for n in order do
            let isInput =
                match byName[n] with
                | InputNode _ -> true
                | _ -> false

            if isInput || (dataIn n @ ctrlIn n |> List.exists reach.Contains) then reach.Add n |> ignore

        for node in nodes do
            match node with
            | OutputNode n when not (reach.Contains n) -> Errors.fail "output node '%s' is not reachable from any input node" n
            | _ -> ()

        Array.ofList order
