module AutoDesign.Tests.D2nnLearningTests

open System
open Expecto
open TorchSharp
open AutoDesign.Nn
open AutoDesign.D2NN

/// Plain-loop loss of Eq. 2.3 averaged over bags (bags where the node did not run contribute nothing).
let private plainLoss (q: float[]) (bags: int64[]) (r: float32[]) =
    let sums = Array.zeroCreate r.Length
    let present = Array.zeroCreate r.Length

    q
    |> Array.iteri (fun k v ->
        sums[int bags[k]] <- sums[int bags[k]] + v
        present[int bags[k]] <- true)

    Array.init r.Length (fun b -> if present[b] then (float r[b] - sums[b]) ** 2.0 else 0.0)
    |> Array.sum
    |> fun s -> s / float r.Length

[<Tests>]
let tests =
    testList
        "d2nn.learning"
        [ test "metrics match hand-computed values" {
              let labels = [| 1; 0; 1; 1; 0; 0 |]
              let preds = [| 1; 1; 0; 1; -1; 0 |]
              // tp = 2, fp = 1, fn = 1 -> F1 = 4/6
              Expect.floatClose Accuracy.veryHigh ((F1 1).Evaluate(preds, labels)) (4.0 / 6.0) "F1"
              Expect.floatClose Accuracy.veryHigh (Accuracy.Evaluate(preds, labels)) (3.0 / 6.0) "accuracy"
              Expect.equal ((F1 1).Evaluate([| 0; 0 |], [| 0; 0 |])) 1.0 "no positives at all"

              let r =
                  (Reward.tradeoff (F1 1) 0.25).Invoke
                      { Predictions = preds; Labels = labels; NormalizedCosts = [| 0.5; 0.5; 1.0; 1.0; 0.0; 0.0 |]; Weights = [||] }

              Expect.floatClose Accuracy.veryHigh r (0.25 * (4.0 / 6.0) + 0.75 * 0.5) "reward"
          }
          test "epsilon decays linearly from 1" {
              let e = EpsilonSchedule.Linear(1.0, 0.1, 10)
              Expect.equal (e.At 0) 1.0 "start"
              Expect.floatClose Accuracy.veryHigh (e.At 5) 0.55 "middle"
              Expect.equal (e.At 50) 0.1 "floor"
          }
          test "mini-bag loss and gradient follow Eq. 2.3 and Eq. 2.6" {
              let qv = [| 0.3; -0.2; 0.5; 0.1; 0.7; -0.4; 0.05 |]
              let bags = [| 0L; 0L; 0L; 1L; 1L; 3L; 3L |] // bag 2 has no executed example
              let r = [| 0.9f; 0.2f; 0.5f; -0.1f |]
              let q = torch.tensor(qv |> Array.map float32).requires_grad_(true)
              let loss = Learning.bagQLoss q bags r
              Expect.floatClose { absolute = 1e-5; relative = 1e-5 } (loss.item<float32>() |> float) (plainLoss qv bags r) "loss"
              loss.backward ()
              let g = q.grad.data<float32>().ToArray()

              for k in 0 .. qv.Length - 1 do
                  let b = int bags[k]
                  let sumQ = Array.fold2 (fun s v bb -> if int bb = b then s + v else s) 0.0 qv bags
                  let eq26 = -2.0 * (float r[b] - sumQ) / float r.Length
                  Expect.floatClose { absolute = 1e-5; relative = 1e-4 } (float g[k]) eq26 (sprintf "Eq. 2.6 for row %d" k)
                  // numerical derivative of the plain loss
                  let h = 1e-4
                  let up = qv |> Array.mapi (fun j v -> if j = k then v + h else v)
                  let dn = qv |> Array.mapi (fun j v -> if j = k then v - h else v)
                  let num = (plainLoss up bags r - plainLoss dn bags r) / (2.0 * h)
                  Expect.floatClose { absolute = 1e-3; relative = 1e-3 } (float g[k]) num (sprintf "numeric gradient row %d" k)
          }
          test "with lambda = 0 the controller learns to take the cheap path" {
              torch.manual_seed 7L |> ignore

              let c = D2nnFixtures.highLow 64

              let cfg =
                  { Reward = Reward.tradeoff Accuracy 0.0
                    BagSize = 1
                    Epsilon = EpsilonSchedule.Linear(1.0, 0.05, 60)
                    RegularLoss = UnifiedQ
                    Cost = Multiplications(c.Costs["hi"] + c.Costs["q"])
                    Output = "o"
                    DetachControlInputs = false
                    ClassWeights = [||] }

              let opt = new SafeAdam(c.Parameters, 0.01)
              let rng = Random 1

              for s in 0..119 do
                  use _ = torch.NewDisposeScope()
                  let x = torch.randn (32L, 8L)
                  let labels = Array.init 32 (fun _ -> rng.Next 2)
                  Learning.step c cfg rng s opt x labels |> ignore

              use _ = torch.NewDisposeScope()
              use _ng = torch.no_grad ()
              c.Train false
              let res = c.Executor.Forward([| torch.randn (200L, 8L) |])
              let cheap = res.Rows[c.Index["lo"]].Length
              Expect.isGreaterThan cheap 180 (sprintf "%d of 200 examples take the cheap path" cheap)
          } ]
