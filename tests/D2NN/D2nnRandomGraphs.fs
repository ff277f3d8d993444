/// Random valid D²NN graphs for property tests of the batched executor against the reference executor.
module AutoDesign.Tests.D2nnRandomGraphs

open System
open TorchSharp
open AutoDesign.D2NN
open AutoDesign.Nn.D2NN

let private dim = 3

/// A random D²NN on [3]-vectors: linear regular nodes, sum merges whose inputs have a zero, a
/// non-zero or no default, dummies, and control nodes (2-3 actions) whose targets are the next nodes
/// built. Every node without a consumer feeds an output. Weights come from torch's generator.
let build (rng: Random) (size: int) : D2nnGraph =
    let b = GraphBuilder().Input("x", [| int64 dim |])
    // Nodes whose output is data (inputs, regular nodes, merges) and the ones already consumed.
    let producers = ResizeArray [ "x" ]
    let consumed = Collections.Generic.HashSet<string>()
    // Controllers waiting for targets: (name, remaining actions).
    let pending = Collections.Generic.Queue<string>()
    let pick () = producers[rng.Next producers.Count]

    let defaultValue () =
        match rng.Next 3 with
        | 0 -> None
        | 1 -> Some(torch.zeros (int64 dim))
        | _ -> Some(torch.randn (int64 dim))

    for i in 0 .. size - 1 do
        let name = sprintf "n%d" i
        let controller = if pending.Count > 0 && rng.Next 3 > 0 then Some(pending.Dequeue()) else None

        let kind =
            if controller.IsNone && rng.Next 4 = 0 then 2 else rng.Next 2 + (if controller.IsSome && rng.Next 5 = 0 then 3 else 0)

        match kind with
        | 2 ->
            // control node with 2 or 3 actions; its targets are the next nodes built
            let actions = 2 + rng.Next 2
            let p = pick ()
            b.Module(name, torch.nn.Linear(int64 dim, int64 actions)).Data(p, name) |> ignore
            consumed.Add p |> ignore

            for _ in 1..actions do
                pending.Enqueue name
        | 3
        | 4 ->
            // dummy (constant output), a data producer for later nodes
            b.Dummy(name, torch.randn (int64 dim)) |> ignore
            producers.Add name
        | 0 ->
            let p = pick ()
            let m = Layers.seq [ torch.nn.Linear(int64 dim, int64 dim) :> Layers.M; Layers.relu () ]
            b.Module(name, m) |> ignore

            (match defaultValue () with
             | Some d when rng.Next 2 = 0 -> b.Data(p, name, d)
             | _ -> b.Data(p, name))
            |> ignore

            consumed.Add p |> ignore
            producers.Add name
        | _ ->
            let parents = [ for _ in 1 .. 2 + rng.Next 2 -> pick () ] |> List.distinct
            b.Merge(name, new SumMerge()) |> ignore

            for p in parents do
                (match defaultValue () with
                 | Some d -> b.Data(p, name, d)
                 | None -> b.Data(p, name))
                |> ignore

                consumed.Add p |> ignore

            producers.Add name

        controller |> Option.iter (fun q -> b.Control(q, name) |> ignore)
    // Controllers still short of targets get dummies (no outgoing edge: a "skip" action).
    let mutable k = 0

    while pending.Count > 0 do
        let q = pending.Dequeue()
        let name = sprintf "skip%d" k
        k <- k + 1
        b.Dummy(name, torch.zeros (int64 dim)).Control(q, name) |> ignore

    let mutable o = 0

    for p in producers do
        if p <> "x" && not (consumed.Contains p) then
            b.Output(sprintf "o%d" o).Data(p, sprintf "o%d" o) |> ignore
            o <- o + 1

    if o = 0 then b.Output("o").Data(producers[producers.Count - 1], "o") |> ignore
    b.Build()
