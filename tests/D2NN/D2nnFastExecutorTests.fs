/// The batched executor's fast paths (views for consecutive rows, dropped zero addends, host-side
/// greedy choice) checked against the per-example reference executor on random graphs and inputs.
module AutoDesign.Tests.D2nnFastExecutorTests

open System
open Expecto
open TorchSharp
open AutoDesign.Nn
open AutoDesign.D2NN
open AutoDesign.Reproduce.D2NN
open AutoDesign.Nn.D2NN
open AutoDesign.Tests.D2nnExecutorTests

type Tensor = torch.Tensor

/// x -> q (sign of x0) -> {b, d}; m = b [0] + d [0] -> o (the routing graph of the executor tests).
let private signGraph () = D2nnExecutorTests.signGraph (torch.nn.Linear(4L, 3L)) |> Preprocess.compile

let private kinds (c: CompiledD2nn) = Map.ofList [ for k in Enum.GetValues<GatherKind>() -> k, c.Executor.GatherCounts[int k] ]

[<Tests>]
let tests =
    testList
        "d2nn.executor.random"
        [ Properties.seeded 40 "random graphs: batched executor equals the reference (batches of 1 and 13, with and without autograd)"
          <| fun seed rng ->
              torch.manual_seed (int64 seed) |> ignore
              let c = Preprocess.compile (D2nnRandomGraphs.build rng (4 + rng.Next 10))
              use _ = torch.NewDisposeScope()

              for batch in [ 1L; 13L ] do
                  let x = torch.randn(batch, 3L).Mul(2.0)
                  sameAsReference c x |> ignore

                  (use _ng = torch.inference_mode ()
                   sameAsReference c x |> ignore)
          test "random graphs exercise every way of assembling an input" {
              let total = Array.zeroCreate<int64>(Enum.GetValues<GatherKind>().Length)

              for seed in 0..59 do
                  let rng = Random seed
                  torch.manual_seed (int64 seed) |> ignore
                  let c = Preprocess.compile (D2nnRandomGraphs.build rng (4 + rng.Next 10))
                  use _ = torch.NewDisposeScope()
                  use _ng = torch.no_grad ()
                  sameAsReference c (torch.randn(13L, 3L).Mul(2.0)) |> ignore
                  Array.iteri (fun k v -> total[k] <- total[k] + v) c.Executor.GatherCounts

              for k in Enum.GetValues<GatherKind>() do
                  Expect.isGreaterThan (total[int k]) 0L (sprintf "%A happened" k)
          }
          test "consecutive routed rows are views, scattered rows are copied, absent zero addends are dropped" {
              let c = signGraph ()
              use _ = torch.NewDisposeScope()
              use _ng = torch.no_grad ()
              // examples 0..4 positive (routed to b), 5..9 negative: b reads a view of x
              let sorted = torch.cat ([| torch.rand(5L, 4L).Add(0.1); torch.rand(5L, 4L).Add(0.1).neg() |], 0L)
              c.Executor.ResetProfile()
              let res = sameAsReference c sorted
              let k = kinds c
              Expect.equal (k[GatherKind.Slice]) 1L "b's input is a slice of x"
              Expect.equal (k[GatherKind.Select]) 0L "no copy of scattered rows"
              Expect.sequenceEqual (res.Rows[c.Index["b"]]) [| 0L .. 4L |] "rows of b"
              // interleaved signs: b needs index_select
              let mixed = sorted.index_select (0L, torch.tensor [| 0L; 5L; 1L; 6L; 2L; 7L; 3L; 8L; 4L; 9L |])
              c.Executor.ResetProfile()
              sameAsReference c mixed |> ignore
              Expect.equal ((kinds c)[GatherKind.Select]) 1L "scattered rows are selected"
              // all negative: b never runs, its zero-default input to the sum is left out
              c.Executor.ResetProfile()
              let res = sameAsReference c (torch.rand(6L, 4L).Add(0.1).neg())
              let k = kinds c
              Expect.equal (k[GatherKind.Dropped]) 1L "absent zero addend dropped"
              Expect.equal (k[GatherKind.Mixed]) 0L "nothing scattered into the merge"
              Expect.equal (res.Values[c.Index["o"]].abs().sum().item<float32>()) 0.0f "output is the dummy's zeros"
          }
          test "a batch of one never copies rows" {
              torch.manual_seed 3L |> ignore
              let c = Preprocess.compile ((Architectures.cascadeOf 1).Build.Invoke())
              use _ = torch.NewDisposeScope()
              use _ng = torch.inference_mode ()
              c.Executor.ResetProfile()
              let x = torch.rand (8L, 1L, 28L, 28L)

              for i in 0L .. 7L do
                  for policy in [ (fun _ -> 0L); (fun _ -> 1L) ] do
                      c.Train false
                      let res = c.Executor.Forward([| x.narrow (0L, i, 1L) |], ActionPolicy(fun _ q _ -> Array.init (int q.shape[0]) policy))
                      Expect.equal (res.Values[c.Index["out"]].shape) [| 1L; 2L |] "one output row"

              let k = kinds c

              for bad in [ GatherKind.Select; GatherKind.Mixed; GatherKind.Slice ] do
                  Expect.equal (k[bad]) 0L (sprintf "no %A at batch 1" bad)
          }
          test "greedy choice on the host equals argmax, first on ties" {
              use _ = torch.NewDisposeScope()
              let q = torch.tensor([| 0.1f; 0.5f; 0.5f; 2.0f; -1.0f; 2.0f; -3.0f; -3.0f; -2.0f |]).reshape(3L, 3L)
              Expect.sequenceEqual (D2nnExecutor.Greedy(0, q, null)) [| 1L; 0L; 2L |] "row-wise argmax"
              let g = torch.randn(50L, 4L).requires_grad_(true)
              let expected = g.detach().argmax(1L).data<int64>().ToArray()
              Expect.sequenceEqual (D2nnExecutor.Greedy(0, g, null)) expected "a tensor that needs grad"
              let t = torch.randn(4L, 6L).t()
              Expect.sequenceEqual (D2nnExecutor.Greedy(0, t, null)) (t.argmax(1L).data<int64>().ToArray()) "non-contiguous scores"
          } ]
