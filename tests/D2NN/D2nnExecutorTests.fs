module AutoDesign.Tests.D2nnExecutorTests

open System
open Expecto
open TorchSharp
open AutoDesign.D2NN
open AutoDesign.Nn.D2NN

type Tensor = torch.Tensor

/// Records the batch size and rows of every call, then applies `inner`.
type CountingModule(inner: Layers.M) as this =
    inherit torch.nn.Module<Tensor, Tensor>("Counting")
    let seen = ResizeArray<float32[][]>()
    do this.register_module ("inner", inner)
    member _.Seen = seen

    override _.forward(x) =
        use c = x.detach().cpu()
        seen.Add [| for i in 0L .. x.shape[0] - 1L -> c[i].data<float32>().ToArray() |]
        inner.call x

/// Scores [x0, -x0]: action 0 iff x0 > 0. No parameters, no multiplications.
type SignControl() =
    inherit torch.nn.Module<Tensor, Tensor>("SignControl")

    override _.forward(x) =
        let f = x.narrow (1, 0L, 1L)
        torch.cat ([| f; -f |], 1L)

/// Exercises defaults, null propagation, a node with two controllers, a dummy and merges:
/// x -> a; a -> q1 {b, c}; a -> q2 {c, d, e(dummy)}; b -> f (null when b skipped);
/// m = sum(f [default 0], c [default 0], d [no default], e [default 1]) -> o1; f -> o2; chain: g = sum(b[0], c[0]) -> h -> o3
let private semanticsGraph () =
    GraphBuilder()
        .Input("x", [| 4L |])
        .Module("a", Layers.seq [ Layers.fc 4 4; Layers.relu () ])
        .Module("q1", Layers.fc 4 2)
        .Module("q2", Layers.fc 4 3)
        .Module("b", Layers.fc 4 4)
        .Module("c", Layers.fc 4 4)
        .Module("d", Layers.fc 4 4)
        .Dummy("e", (torch.ones (4L) * 0.5f))
        .Module("f", Layers.fc 4 4)
        .Merge("m", new SumMerge())
        .Merge("g", new SumMerge())
        .Module("h", Layers.fc 4 2)
        .Output("o1")
        .Output("o2")
        .Output("o3")
        .Data("x", "a")
        .Data("x", "q1")
        .Data("x", "q2")
        .Control("q1", "b")
        .Control("q1", "c")
        .Control("q2", "c")
        .Control("q2", "d")
        .Control("q2", "e")
        .Data("a", "b")
        .Data("a", "c")
        .Data("a", "d")
        .Data("b", "f")
        .Data("f", "m", torch.zeros 4L)
        .Data("c", "m", torch.zeros 4L)
        .Data("d", "m")
        .Data("e", "m", torch.ones 4L)
        .Data("m", "o1")
        .Data("f", "o2")
        .Data("b", "g", torch.zeros 4L)
        .Data("c", "g", torch.zeros 4L)
        .Data("g", "h")
        .Data("h", "o3")
        .Build()

/// Batched executor vs the per-example reference: execution status, actions, outputs (and nulls), costs.
let sameAsReference (c: CompiledD2nn) (x: Tensor) =
    let res = c.Executor.Forward([| x |])
    let refs = ReferenceExecutor.Run(c.Plan, [| x |])

    for i in 0 .. int x.shape[0] - 1 do
        let t = refs[i]

        for n in 0 .. c.Order.Length - 1 do
            Expect.equal (res.Executed(n, i)) (t.Executed[n]) (sprintf "example %d node %s executed" i c.Order[n])

            if c.Plan.Nodes[n].Role = NodeRole.Control then
                Expect.equal (res.Actions[n][i]) (t.Actions[n]) (sprintf "example %d action of %s" i c.Order[n])

        c.Plan.Outputs
        |> Array.iteri (fun o n ->
            match t.Outputs[o] with
            | null -> Expect.isFalse (res.Executed(n, i)) (sprintf "example %d: null output %s" i c.Order[n])
            | v ->
                let got = res.Values[n].[int64 (res.Pos[n][i])]
                Expect.isTrue (torch.allclose (got, v.squeeze 0, 1e-5, 1e-5)) (sprintf "example %d output %s" i c.Order[n]))

        Expect.floatClose Accuracy.veryHigh (res.Cost[i]) t.Cost (sprintf "example %d cost" i)

    res

/// sameAsReference in a dispose scope, without gradients.
let private agree (c: CompiledD2nn) (x: Tensor) =
    use _ = torch.NewDisposeScope()
    use _ng = torch.no_grad ()
    sameAsReference c x

/// x -> q (sign of x0) -> {b, d}; m = b [0] + d [0] -> o.
let signGraph (b: Layers.M) =
    (GraphBuilder().Input("x", [| 4L |])
     |> D2nnFixtures.choice "x" (new SignControl()) (D2nnFixtures.Computed("b", b)) (D2nnFixtures.Constant("d", torch.zeros 3L)) 3L "o")
        .Build()

[<Tests>]
let tests =
    testList
        "d2nn.executor"
        [ test "batched executor matches the per-example reference on defaults, nulls, multi-controller and merges" {
              // Weights are random: take the first seed whose batch exercises every branch (each tried
              // seed must still agree with the reference).
              let covers (c: CompiledD2nn) (res: ExecutionResult) =
                  [ "b"; "c"; "d"; "e"; "o1"; "o2" ]
                  |> List.forall (fun n ->
                      let ex = [ for i in 0..63 -> res.Executed(c.Index[n], i) ]
                      List.contains true ex && List.contains false ex)

              let c, res =
                  Seq.initInfinite id
                  |> Seq.take 40
                  |> Seq.map (fun seed ->
                      torch.manual_seed (int64 seed) |> ignore
                      let c = Preprocess.compile (semanticsGraph ())
                      c, agree c (torch.randn (64L, 4L) * 3.0f))
                  |> Seq.tryFind (fun (c, res) -> covers c res)
                  |> Option.defaultWith (fun () -> failtest "no seed exercised every branch")

              let multi = [ for i in 0..63 -> res.Actions[c.Index["q1"]][i] = 1L && res.Actions[c.Index["q2"]][i] <> 0L ]
              Expect.isTrue (List.contains true multi) "some example reaches c through q1 only"
              // Semantics spelled out: c runs iff q1 picks it or q2 picks it; o1 is null iff d skipped.
              for i in 0..63 do
                  let a1, a2 = res.Actions[c.Index["q1"]][i], res.Actions[c.Index["q2"]][i]
                  Expect.equal (res.Executed(c.Index["c"], i)) (a1 = 1L || a2 = 0L) "c: any active control edge"
                  Expect.equal (res.Executed(c.Index["o1"], i)) (a2 = 1L) "o1 null unless d ran"
                  Expect.equal (res.Executed(c.Index["f"], i)) (a1 = 0L) "f null when b skipped"
                  Expect.isTrue (res.Executed(c.Index["h"], i)) "h always runs: g has defaults"
          }
          testPropertyWithConfig { FsCheckConfig.defaultConfig with maxTest = 8 } "executor agrees with the reference for random weights and inputs"
          <| fun (seed: int) ->
              torch.manual_seed (int64 seed) |> ignore
              let c = Preprocess.compile (semanticsGraph ())
              agree c (torch.randn (24L, 4L) * 2.0f) |> ignore
          test "a node runs only on the examples routed to it, and gradients reach only those" {
              let counting = new CountingModule(Layers.fc 4 3)
              let g = signGraph counting
              let c = Preprocess.compile g
              counting.Seen.Clear()
              use _ = torch.NewDisposeScope()
              let first = [| 1.0f; -1.0f; 2.0f; -2.0f; 3.0f; -3.0f; -4.0f; -5.0f; 6.0f; -6.0f |]
              let rng = Random 5
              let data = Array.init 40 (fun j -> if j % 4 = 0 then first[j / 4] else float32 (rng.NextDouble() - 0.5))
              let x = torch.tensor(data).reshape(10L, 4L).requires_grad_(true)
              let res = c.Executor.Forward([| x |])
              Expect.equal counting.Seen.Count 1 "one call per mini-batch"
              let routed = [| 0; 2; 4; 8 |]
              Expect.equal counting.Seen[0].Length routed.Length "only the examples with x0 > 0"
              let xs = x.detach ()

              routed
              |> Array.iteri (fun k i -> Expect.sequenceEqual (counting.Seen[0][k]) (xs[int64 i].data<float32>().ToArray()) "rows in order")

              Expect.sequenceEqual (res.Rows[c.Index["b"]]) (Array.map int64 routed) "rows of b"
              res.Values[c.Index["o"]].sum().backward()
              let grad = x.grad

              for i in 0..9 do
                  let gnorm = grad[int64 i].abs().sum().item<float32>()

                  if Array.contains i routed then
                      Expect.isGreaterThan gnorm 0.0f "routed example has a gradient"
                  else
                      Expect.equal gnorm 0.0f "skipped example has no gradient"
          }
          test "a node skipped on the whole batch is not called and costs nothing" {
              let counting = new CountingModule(Layers.fc 4 3)
              let g = signGraph counting
              let c = Preprocess.compile g
              counting.Seen.Clear()
              use _ = torch.NewDisposeScope()
              let x = -(torch.rand (6L, 4L) + 0.1f)
              let res = c.Executor.Forward([| x |])
              Expect.equal counting.Seen.Count 0 "never called"
              Expect.sequenceEqual res.Cost (Array.zeroCreate 6) "no multiplications (SignControl and dummy are free)"
              Expect.equal (res.Values[c.Index["o"]].abs().sum().item<float32>()) 0.0f "dummy output"
          } ]
