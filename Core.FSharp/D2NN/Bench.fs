namespace AutoDesign.Core.D2NN

open System
open TorchSharp
open AutoDesign.Core

type BenchResult =
    { Lambda: float
      MultFraction: float
      WallFraction: float
      D2nnMs: float
      FullMs: float
      Metric: float }
    member r.Ratio = r.WallFraction / r.MultFraction

/// Wall time vs multiplications of the cascade D²NN (§2.5.2: 82% wall time for 53% multiplications).
module D2nnBench =
    let run (quick: bool) (device: torch.Device) (seed: int) (runs: int) =
        let arch = Architectures.cascade
        let o = { Quick = quick; Device = device; Lambdas = None; Seed = seed; RunsRoot = "runs"; CrossEntropyWeight = Some 1.0; DetachControlInputs = true }
        let task = D2nnExperiment.taskFor arch quick seed
        let cfg = D2nnExperiment.sweepConfig arch o
        let full = Preprocess.compile ((snd arch.Baselines.Head) ())
        let normalizer = full.FullCost
        full.To device
        // Quick: one short training run (the ratio measures executor overhead; routing needs only to be mixed).
        let lambdas = if quick then [ 0.6 ] else [ 0.3; 0.4; 0.5; 0.6; 0.7; 0.8; 0.9 ]
        let spec = if quick then { cfg.Spec with Steps = 60; EpsilonSteps = 30 } else cfg.Spec
        let trained = [ for l in lambdas -> l, Sweep.d2nnAt arch task spec normalizer l ]
        let lambda, (c, point) = trained |> List.minBy (fun (_, (_, p)) -> abs (p.Cost - 0.5))
        printfn "cascade D²NN at λ=%g: %.1f%% of the multiplications of the full network (N7), %s %.4f" lambda (100.0 * point.Cost) task.Metric.Name point.Metric
        use x = task.TestX.``to``(device)
        let batch = 256
        // Interleave the two measurements so both see the same machine load; keep the best of each.
        let mutable dBest, fBest = infinity, infinity
        for _ in 1 .. runs do
            dBest <- min dBest (Runner.inferenceMs c x batch 1)
            fBest <- min fBest (Runner.inferenceMs full x batch 1)
        let r = { Lambda = lambda; MultFraction = point.Cost; WallFraction = dBest / fBest; D2nnMs = dBest; FullMs = fBest; Metric = point.Metric }
        printfn "inference over %d test images, batch %d, best of %d runs:" task.TestY.Length batch runs
        printfn "  full network (N7):  %8.1f ms" fBest
        printfn "  cascade D²NN:       %8.1f ms" dBest
        printfn "wall-time fraction %.1f%%, multiplication fraction %.1f%%, ratio %.2f (thesis: 82%% / 53%% = 1.55; target <= 1.15)" (100.0 * r.WallFraction) (100.0 * r.MultFraction) r.Ratio
        r
