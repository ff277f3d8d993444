module AutoDesign.Tests.D2nnGraphTests

open Expecto
open TorchSharp
open AutoDesign.D2NN
open AutoDesign.Reproduce.D2NN
open AutoDesign.Nn.D2NN

/// Expect `compile` to reject the graph with a UserError whose message contains every fragment.
let private rejects (g: D2nnGraph) (fragments: string list) =
    try
        Preprocess.compile g |> ignore
        failtestf "graph was accepted; expected an error mentioning %A" fragments
    with UserError msg ->
        for f in fragments do
            Expect.stringContains msg f (sprintf "error message %s" msg)

/// x[4] -> a -> q (control) -> {b, c}; b, c -> m (sum, default zeros) -> out
let private valid () =
    (GraphBuilder().Input("x", [| 4L |]).Module("a", Layers.fc 4 4)
     |> D2nnFixtures.choice "a" (Layers.fc 4 2) (D2nnFixtures.Computed("b", Layers.fc 4 3)) (D2nnFixtures.Computed("c", Layers.fc 4 3)) 3L "out")
        .Data("x", "a")

[<Tests>]
let tests =
    testList
        "d2nn.graph"
        [ test "a valid graph compiles with BFS order, roles and relations" {
              let c = Preprocess.compile (valid().Build())
              Expect.equal (c.Order.[0]) "x" "input first"

              for (p, n) in [ "x", "a"; "a", "q"; "q", "b"; "q", "c"; "b", "m"; "c", "m"; "m", "out" ] do
                  Expect.isLessThan (c.Index[p]) (c.Index[n]) (sprintf "%s before %s" p n)

              Expect.equal (c.Roles["q"]) NodeRole.Control "q controls"
              Expect.equal (c.Roles["b"]) NodeRole.Regular "b is regular"
              Expect.sequenceEqual (c.DataParents["m"]) [ "b"; "c" ] "merge inputs in edge order"
              Expect.sequenceEqual (c.ControlParents["c"]) [ { Controller = "q"; Action = 1 } ] "c is q's second action"
              Expect.equal (c.Shapes["out"]) [| 3L |] "output shape"
          }
          test "duplicated edge is rejected" { rejects (valid().Data("x", "a").Build()) [ "duplicated edge"; "'x' -> 'a'" ] }
          test "cycle is rejected" {
              let g = valid().Module("z", Layers.fc 3 4).Data("m", "z").Data("z", "a").Build()
              rejects g [ "not acyclic"; "'a'"; "'z'" ]
          }
          test "mixed outgoing data and control edges are rejected" {
              rejects (valid().Module("y", Layers.fc 2 3).Data("q", "y").Build()) [ "'q'"; "mixes outgoing data edges"; "'y'" ]
          }
          test "controlled node with outgoing control edges is rejected" {
              let g =
                  valid()
                      .Module("q2", Layers.fc 4 2)
                      .Module("d", Layers.fc 4 3)
                      .Data("a", "q2")
                      .Control("q", "q2")
                      .Control("q2", "d")
                      .Data("d", "m", torch.zeros 3L)
                      .Build()

              rejects g [ "'q2'"; "incoming control edge"; "cannot be a control node" ]
          }
          test "shape mismatch along a data edge is rejected naming the node" {
              rejects (valid().Module("z", Layers.fc 5 2).Output("o2").Data("m", "z").Data("z", "o2").Build()) [ "node 'z'"; "[1, 3]" ]
          }
          test "default value with the wrong shape is rejected" {
              let g = valid().Module("z", Layers.fc 3 2).Output("o2").Data("b", "z", torch.zeros 5L).Data("z", "o2").Build()
              rejects g [ "'b' -> 'z'"; "[5]"; "[3]" ]
          }
          test "control node with the wrong number of scores is rejected" {
              let g = valid().Build()

              let g =
                  { g with
                      Nodes =
                          g.Nodes
                          |> Seq.map (function
                              | FunctionNode("q", _) -> FunctionNode("q", NodeFunction.Of(Layers.fc 4 3))
                              | n -> n)
                          |> Array.ofSeq }

              rejects g [ "control node 'q'"; "2 outgoing control edges" ]
          }
          test "unreachable output is rejected" {
              let g = valid().Dummy("k", torch.ones 3L).Output("o2").Data("k", "o2").Build()
              rejects g [ "output node 'o2'"; "not reachable" ]
          }
          test "unknown node, self-loop and bad output fan-in are rejected" {
              rejects (valid().Data("a", "nope").Build()) [ "unknown node 'nope'" ]
              rejects (valid().Data("b", "b").Build()) [ "'b' -> 'b'"; "self-loop" ]
              rejects (valid().Data("a", "out").Build()) [ "output node 'out'"; "exactly one incoming data edge" ]
              rejects (valid().Module("u", Layers.fc 4 4).Data("a", "u").Build()) [ "'u'"; "no outgoing edges" ]
          }
          test "multiplications are counted exactly for conv and linear layers" {
              // conv 1->8, 3x3, stride 2, pad 1 on 28x28: 14*14*8 outputs * 9 = 14112
              // conv 8->2, 1x1 on 14x14: 14*14*2 * 8 = 3136; pool 2 -> 2x7x7 = 98; linear 98->10: 980
              let n1 = Layers.seq (Layers.conv 1 8 3 2)
              let n2 = Layers.seq (Layers.conv 8 2 1 1 @ [ Layers.pool 2 2; Layers.flatten (); Layers.fc 98 10 ])
              let q = Layers.seq [ Layers.flatten (); Layers.fc (8 * 14 * 14) 2 ]

              let g =
                  (GraphBuilder().Input("x", [| 1L; 28L; 28L |]).Module("n1", n1)
                   |> D2nnFixtures.choice "n1" q (D2nnFixtures.Computed("n2", n2)) (D2nnFixtures.Constant("d", torch.zeros 10L)) 10L "o")
                      .Data("x", "n1")
                      .Build()

              let c = Preprocess.compile g
              Expect.equal (c.Costs["n1"]) 14112.0 "n1"
              Expect.equal (c.Costs["n2"]) (3136.0 + 980.0) "n2"
              Expect.equal (c.Costs["q"]) (1568.0 * 2.0) "control node counted too"
              Expect.equal (c.Costs["d"]) 0.0 "dummy"
              Expect.equal c.FullCost (14112.0 + 4116.0 + 3136.0) "sum"
              // Per-example cost from the executor: n1 + q + (n2 or nothing)
              use _ = torch.NewDisposeScope()
              use _ng = torch.no_grad ()
              let x = torch.randn (16L, 1L, 28L, 28L)
              let res = c.Executor.Forward([| x |])

              for i in 0..15 do
                  let expected = 14112.0 + 3136.0 + (if res.Executed(c.Index["n2"], i) then 4116.0 else 0.0)
                  Expect.equal (res.Cost[i]) expected (sprintf "cost of example %d" i)
          }
          test "every architecture and static baseline of the experiments compiles with consistent costs" {
              for arch in Architectures.all do
                  let c = Preprocess.compile (arch.Build.Invoke())
                  Expect.equal (c.Shapes[arch.Output]) [| int64 arch.Classes |] (sprintf "%s output" arch.Name)

                  for bl in arch.Baselines do
                      let b = Preprocess.compile (bl.Build.Invoke())
                      Expect.isGreaterThan b.FullCost 0.0 (sprintf "%s %s cost" arch.Name bl.Name)

              let hl = Preprocess.compile (Architectures.highLow.Build.Invoke())
              Expect.equal (hl.Costs["N1"]) (14.0 * 14.0 * 8.0 * 9.0) "high-low N1: conv 3x3, 8 filters, stride 2"
              let high = Preprocess.compile (Architectures.highLow.Reference.Build.Invoke())
              Expect.equal high.FullCost (hl.Costs["N1"] + hl.Costs["N2"]) "High NN = N1 + N2"
          } ]
