module AutoDesign.Tests.UniLossDescentTests

open System
open Expecto
open TorchSharp
open AutoDesign.Nn
open AutoDesign.UniLoss

module User = AutoDesign.Tests.UniLossUserMetrics

/// Gradient descent on free scores (no network): Adam, 60 steps, batch 64 (or the maps given),
/// UniLoss with no Ideal. Returns (start metric, final metric, g(b*), lowest and highest loss).
let private descend (metric: Metric) (shape: int64[]) (labels: int64[]) (labelShape: int64[]) =
    torch.manual_seed 3L |> ignore
    let s = torch.nn.Parameter(torch.randn(shape).Mul(0.1))
    use y = torch.tensor(labels).reshape(labelShape)
    use loss = new UniLoss(metric, seed = 1)
    use opt = new SafeAdam([ s ], 0.05)
    let best = loss.Best(shape |> Array.map int, y)
    let mutable start = nan
    let mutable lo, hi = infinity, -infinity

    for step in 1..60 do
        use _ = torch.NewDisposeScope()
        opt.zero_grad ()
        let l = loss.forward (s, y)
        let v = float (l.item<float32>())
        lo <- min lo v
        hi <- max hi v
        if step = 1 then start <- loss.LastMetric
        l.backward ()
        opt.step () |> ignore

    let final =
        Refactor.exact metric (shape |> Array.map int) (Labels(labelShape |> Array.map int, labels)) (s.detach().data<float32>().ToArray())

    s.Dispose()
    start, final, best.Value, lo, hi

/// Drives each metric to ≥ 0.95 of g(b*) (the best value scores can reach) and checks that every
/// loss value 1 − g̃ lies in [1 − top, 1 − bottom] of the metric's range.
let private check (cases: (Metric * int64[] * int64[] * int64[] * (float * float)) list) =
    for (metric, shape, labels, labelShape, (bottom, top)) in cases do
        let start, final, best, lo, hi = descend metric shape labels labelShape
        Expect.isGreaterThanOrEqual final (0.95 * best) (sprintf "%s: %.3f → %.3f, best %.3f" metric.Name start final best)
        Expect.isGreaterThan best start (sprintf "%s: random scores start below the best" metric.Name)
        Expect.isGreaterThanOrEqual lo (1.0 - top - 1e-6) (sprintf "%s: loss %.4f below the range" metric.Name lo)
        Expect.isLessThanOrEqual hi (1.0 - bottom + 1e-6) (sprintf "%s: loss %.4f above the range" metric.Name hi)

let private n = 64L
let private rng = Random 5
let private classLabels c = Array.init (int n) (fun _ -> int64 (rng.Next c))
let private binLabels () = Array.init (int n) (fun _ -> if rng.Next 4 = 0 then 1L else 0L)
let private relLabels () = Array.init (int n) (fun _ -> if rng.Next 4 = 0 then int64 (1 + rng.Next 3) else 0L)
let private mapLabels () = Array.init (4 * 36) (fun _ -> int64 (rng.Next 3))
let private unit = 0.0, 1.0

[<Tests>]
let tests =
    testSequenced
    <| testList
        "uniloss.descent"
        [ testCase "free scores reach >= 0.95 of the best for the classification built-ins, loss inside the range"
          <| fun () ->
              check
                  [ Metrics.accuracy, [| n; 5L |], classLabels 5, [| n |], unit
                    Metrics.topK 2, [| n; 5L |], classLabels 5, [| n |], unit
                    Metrics.balancedAccuracy, [| n; 5L |], classLabels 5, [| n |], unit
                    Metrics.macroF1, [| n; 5L |], classLabels 5, [| n |], unit
                    Metrics.mcc, [| n; 3L |], classLabels 3, [| n |], (-1.0, 1.0)
                    Metrics.fBeta 2.0, [| n; 2L |], binLabels (), [| n |], unit
                    Metrics.precision, [| n |], binLabels (), [| n |], unit
                    Metrics.f1, [| n |], binLabels (), [| n |], unit ]

          testCase "free scores reach >= 0.95 of the best for the ranking and segmentation built-ins, loss inside the range"
          <| fun () ->
              check
                  [ Metrics.averagePrecision, [| n |], binLabels (), [| n |], unit
                    Metrics.averagePrecisionPosNeg, [| n |], binLabels (), [| n |], unit
                    Metrics.precisionAtK 10, [| n |], relLabels (), [| n |], unit
                    Metrics.recallAtK 10, [| n |], relLabels (), [| n |], unit
                    Metrics.ndcgAtK 5, [| n |], relLabels (), [| n |], unit
                    Metrics.meanIoU, [| 4L; 3L; 6L; 6L |], mapLabels (), [| 4L; 6L; 6L |], unit
                    Metrics.dice, [| 4L; 3L; 6L; 6L |], mapLabels (), [| 4L; 6L; 6L |], unit ]

          testCase "free scores reach >= 0.95 of the best for user-written metrics (F# and C#-style), loss inside the range"
          <| fun () ->
              check
                  [ User.balancedAccuracy, [| n; 5L |], classLabels 5, [| n |], unit
                    User.macroF1, [| n; 5L |], classLabels 5, [| n |], unit
                    User.precisionAt10, [| n |], relLabels (), [| n |], unit
                    User.recallAt10, [| n |], relLabels (), [| n |], unit
                    User.ndcgAt5, [| n |], relLabels (), [| n |], unit
                    User.meanIoU, [| 4L; 3L; 6L; 6L |], mapLabels (), [| 4L; 6L; 6L |], unit
                    User.mcc, [| n |], binLabels (), [| n |], (-1.0, 1.0)
                    User.csFBeta, [| n; 2L |], binLabels (), [| n |], unit ] ]
