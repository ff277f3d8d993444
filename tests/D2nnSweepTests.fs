module AutoDesign.Tests.D2nnSweepTests

open Expecto
open TorchSharp
open AutoDesign.D2NN
open AutoDesign.Reproduce.D2NN

/// A tiny binary task on random 28×28 images (labels from the mean of the left half).
let private tinyTask () =
    torch.manual_seed 21L |> ignore
    let x = torch.rand(96L, 1L, 28L, 28L)
    let y = x.narrow(3L, 0L, 14L).mean([| 1L; 2L; 3L |]).data<float32>().ToArray() |> Array.map (fun v -> if v > 0.5f then 1 else 0)
    { Name = "tiny"; Data = "random images (test)"; TrainX = x.narrow(0L, 0L, 64L); TrainY = y[..63]
      TestX = x.narrow(0L, 64L, 32L); TestY = y[64..]; Metric = Accuracy; Classes = 2 }

[<Tests>]
let tests =
    testSequenced <| testList "d2nn.sweep" [
        test "static baselines are reproducible from the seed whatever torch's generator held before" {
            let task = tinyTask ()
            let spec = { Steps = 1; BatchSize = 16; BagSize = 1; Lr = 1e-3; EpsilonSteps = 1; RegularLoss = CrossEntropy 1.0
                         PositiveFraction = None; DetachControlInputs = true; Seed = 4; Device = torch.CPU }
            let cfg = { Lambdas = []; Spec = spec; BaselineSteps = 4; WarmupSteps = 0; InheritBaselines = false; Cost = Mults }
            let weights () =
                let _, _, trained = Sweep.baselines Architectures.highLow task cfg
                [ for (_, c) in trained do for p in c.Parameters -> p.detach().clone() ]
            torch.manual_seed 1L |> ignore
            let a = weights ()
            torch.manual_seed 999L |> ignore
            torch.rand(1000L) |> ignore
            let b = weights ()
            Expect.equal a.Length b.Length "same parameter count"
            Expect.isTrue (List.forall2 (fun (p: torch.Tensor) (q: torch.Tensor) -> p.allclose(q, 0.0, 0.0)) a b) "identical trained baseline weights"
        }
        test "bench time model scales each node's full-pass time by the examples reaching it" {
            // node 0 ran on all 100 examples in 10 ms and on 100 under the policy; node 1: 40 ms for 100, 25 under
            // the policy; node 2 never ran in the full pass (an exit) and is ignored: 10 + 40 * 0.25 = 20 ms.
            let ideal = D2nnTiming.idealMs [| 10.0; 40.0; 3.0 |] [| 100.0; 100.0; 0.0 |] [| 100.0; 25.0; 7.0 |]
            Expect.isTrue (abs (ideal - 20.0) < 1e-9) (sprintf "ideal ms %g" ideal)
            Expect.throwsT<AutoDesign.Runs.UserError> (fun () -> D2nnTiming.idealMs [| 1.0 |] [| 1.0; 2.0 |] [| 1.0 |] |> ignore) "length mismatch is a UserError"
        }
    ]
