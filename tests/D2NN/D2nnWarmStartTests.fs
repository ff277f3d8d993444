module AutoDesign.Tests.D2nnWarmStartTests

open System
open Expecto
open TorchSharp
open AutoDesign.Nn
open AutoDesign.D2NN
open AutoDesign.Nn.D2NN

/// x -> q chooses hi (action 0) or lo (action 1); both feed a sum merge -> output.
let private highLowToy () = D2nnFixtures.highLow 32

/// Labels of the toy task: 1 when x0 + x1 > 0.
let private labelsOf (x: torch.Tensor) =
    let v = x.data<float32>().ToArray()
    Array.init (int x.shape[0]) (fun i -> if v[i * 8] + v[i * 8 + 1] > 0.0f then 1 else 0)

let private snapshot (c: CompiledD2nn) (node: string) =
    let m = c.Plan.Nodes[c.Index[node]].Function.Module
    m.parameters () |> Seq.map (fun p -> p.detach().clone()) |> Array.ofSeq

let private changed (before: torch.Tensor[]) (c: CompiledD2nn) (node: string) =
    Array.zip before (snapshot c node) |> Array.exists (fun (a, b) -> not (a.allclose b))

/// Accuracy of the toy when every example is forced down branch `action`.
let private forcedAccuracy (c: CompiledD2nn) (action: int64) (x: torch.Tensor) (labels: int[]) =
    use _ng = torch.no_grad ()
    c.Train false
    let res = c.Executor.Forward([| x |], ActionPolicy(fun _ _ rows -> Array.create rows.Length action))
    let o = c.Index["o"]
    let am = AutoDesign.Metrics.Classification.predictions res.Values[o]
    let preds = Array.create labels.Length -1
    res.Rows[o] |> Array.iteri (fun k r -> preds[int r] <- am[k])
    c.Train true
    AutoDesign.Metrics.Classification.accuracy preds labels

[<Tests>]
let tests =
    testSequenced
    <| testList
        "d2nn.warmstart"
        [ test "warm-up under random routing trains both branches and leaves the control node alone" {
              torch.manual_seed 11L |> ignore
              let c = highLowToy ()
              let q0, hi0, lo0 = snapshot c "q", snapshot c "hi", snapshot c "lo"
              let xTest = torch.randn (400L, 8L)
              let yTest = labelsOf xTest
              let hiBefore, loBefore = forcedAccuracy c 0L xTest yTest, forcedAccuracy c 1L xTest yTest
              let opt = new SafeAdam(c.Parameters, 0.01)
              let rng = Random 3
              let mutable costs = []

              for _ in 1..150 do
                  use _ = torch.NewDisposeScope()
                  let x = torch.randn (64L, 8L)
                  let s = Learning.warmupStep c "o" rng opt x (labelsOf x)
                  costs <- s.Cost :: costs

              Expect.isTrue (changed hi0 c "hi") "the high-capacity branch learned"
              Expect.isTrue (changed lo0 c "lo") "the low-capacity branch learned"
              Expect.isFalse (changed q0 c "q") "the control node gets no warm-up loss"
              // random routing: the mean cost lies strictly between the two single-branch costs
              let hiCost, loCost = c.Costs["q"] + c.Costs["hi"], c.Costs["q"] + c.Costs["lo"]
              let mean = List.average costs

              Expect.isTrue
                  (mean > loCost + 0.25 * (hiCost - loCost) && mean < hiCost - 0.25 * (hiCost - loCost))
                  (sprintf "mean cost %g between %g and %g" mean loCost hiCost)

              let hiAcc, loAcc = forcedAccuracy c 0L xTest yTest, forcedAccuracy c 1L xTest yTest
              Expect.isGreaterThan hiAcc 0.9 (sprintf "high path accuracy %.3f (before %.3f)" hiAcc hiBefore)
              Expect.isGreaterThan loAcc 0.9 (sprintf "low path accuracy %.3f (before %.3f)" loAcc loBefore)
          }
          test "copyMatching copies same-named nodes of equal shapes only, honouring the skip set" {
              torch.manual_seed 5L |> ignore

              let graph (bOut: int) =
                  GraphBuilder()
                      .Input("x", [| 8L |])
                      .Module("a", Layers.fc 8 4)
                      .Module("b", Layers.fc 4 bOut)
                      .Output("o")
                      .Data("x", "a")
                      .Data("a", "b")
                      .Data("b", "o")
                      .Build()
                  |> Preprocess.compile

              let src, dst = graph 2, graph 3
              let srcA = snapshot src "a"
              let dstB = snapshot dst "b"
              Expect.isTrue (changed srcA dst "a") "different initializations before copying"
              Expect.equal (Training.copyMatching src dst [ "a" ]) [||] "a skipped, b differs in shape"
              Expect.isTrue (changed srcA dst "a") "skipped node untouched"
              Expect.equal (Training.copyMatching src dst Seq.empty) [| "a" |] "only a matches"
              Expect.isFalse (changed srcA dst "a") "a now equals the source"
              Expect.isFalse (changed dstB dst "b") "b (other shape) untouched"
          } ]
