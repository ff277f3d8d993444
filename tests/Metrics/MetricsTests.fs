/// The metrics layer against independent reference computations.
module AutoDesign.Tests.MetricsTests

open System
open Expecto
open FsCheck
open AutoDesign.Metrics

/// Reference AP for distinct scores: mean over the positives of the precision at each positive's rank.
let private apByRanks (scores: float[]) (positive: bool[]) =
    let order = Array.init scores.Length id |> Array.sortByDescending (fun i -> scores.[i])
    let mutable tp = 0
    let precisions = ResizeArray<float>()

    order
    |> Array.iteri (fun rank i ->
        if positive.[i] then
            (tp <- tp + 1
             precisions.Add(float tp / float (rank + 1))))

    if precisions.Count = 0 then nan else Seq.average precisions

[<Tests>]
let tests =
    testList
        "metrics"
        [ test "AP equals scikit-learn's on known cases (ties form one threshold)" {
              Expect.floatClose
                  Accuracy.veryHigh
                  (AveragePrecision.ofScores [| 0.1; 0.4; 0.35; 0.8 |] [| false; false; true; true |])
                  (5.0 / 6.0)
                  "sklearn docs example: 0.8333"
              // tie between a positive and a negative at the top: one threshold with precision 1/2
              Expect.floatClose Accuracy.veryHigh (AveragePrecision.ofScores [| 0.9; 0.9; 0.1 |] [| true; false; true |]) (0.5 * 0.5 + 0.5 * (2.0 / 3.0)) "tie"
              Expect.isTrue (Double.IsNaN(AveragePrecision.ofScores [| 0.3 |] [| false |])) "no positives: NaN"
          }
          testProperty "AP of distinct scores = mean precision at the positives' ranks"
          <| fun (xs: NormalFloat list) ->
              let scores = xs |> List.map (fun x -> x.Get) |> List.distinct |> Array.ofList
              let positive = scores |> Array.mapi (fun i s -> (i * 7 + int (abs s * 13.0)) % 3 = 0)

              scores.Length = 0
              || not (Array.contains true positive)
              || abs (AveragePrecision.ofScores scores positive - apByRanks scores positive) < 1e-12
          test "detection AP (all-point interpolation) matches a hand computation" {
              // ranked detections: TP, FP, TP, FP, TP with 4 ground-truth boxes
              // precision 1, 1/2, 2/3, 1/2, 3/5; envelope 1, 2/3, 2/3, 3/5, 3/5; recall steps at 1, 3, 5
              let ap = AveragePrecision.compute Envelope false [| 5.0; 4.0; 3.0; 2.0; 1.0 |] [| true; false; true; false; true |] 4
              Expect.floatClose Accuracy.veryHigh ap (0.25 * 1.0 + 0.25 * (2.0 / 3.0) + 0.25 * 0.6) "VOC AP"
          }
          test "the meter gives the AP of everything added" {
              let m = AveragePrecisionMeter()
              m.Add([ 0.1; 0.4 ], [ false; false ])
              m.Add([ 0.35; 0.8 ], [ true; true ])
              Expect.floatClose Accuracy.veryHigh (m.Compute()) (5.0 / 6.0) "batched = whole"
          }
          testProperty "IoU equals pixel counting on integer boxes"
          <| fun (a: int * int * int * int) (b: int * int * int * int) ->
              let norm (x0, y0, w, h) = (abs x0 % 10, abs y0 % 10, abs w % 8, abs h % 8)
              let (ax, ay, aw, ah), (bx, by, bw, bh) = norm a, norm b

              let cells (x, y, w, h) =
                  set
                      [ for i in x .. x + w - 1 do
                            for j in y .. y + h - 1 -> i, j ]

              let ca, cb = cells (ax, ay, aw, ah), cells (bx, by, bw, bh)
              let union = Set.union ca cb |> Set.count
              let expected = if union = 0 then 0.0 else float (Set.intersect ca cb |> Set.count) / float union
              let boxOf (x, y, w, h) = Box.make (float x) (float y) (float (x + w)) (float (y + h))
              abs (Box.iou (boxOf (ax, ay, aw, ah)) (boxOf (bx, by, bw, bh)) - expected) < 1e-12
          testProperty "precision, recall and F1 equal counting by hand"
          <| fun (pairs: (bool * bool) list) ->
              let predicted = pairs |> List.map (fun (p, _) -> if p then 1 else 0) |> Array.ofList
              let labels = pairs |> List.map (fun (_, l) -> if l then 1 else 0) |> Array.ofList
              let c = Classification.confusion 1 predicted labels
              let tp = pairs |> List.filter (fun (p, l) -> p && l) |> List.length |> float
              let pp = pairs |> List.filter fst |> List.length |> float
              let ap = pairs |> List.filter snd |> List.length |> float
              let p = if pp = 0.0 then 0.0 else tp / pp
              let r = if ap = 0.0 then 0.0 else tp / ap
              // a set with no positive label and no positive prediction: F1 = 1 (docs/metrics.md)
              let f =
                  if pp = 0.0 && ap = 0.0 then 1.0
                  elif p + r = 0.0 then 0.0
                  else 2.0 * p * r / (p + r)

              abs (Classification.precision c - p) < 1e-12
              && abs (Classification.recall c - r) < 1e-12
              && abs (Classification.f1 c - f) < 1e-12
          test "accuracy, top-k, balanced accuracy and macro-F1 on a small case" {
              let scores = [| [| 0.9f; 0.1f; 0.0f |]; [| 0.2f; 0.5f; 0.3f |]; [| 0.4f; 0.4f; 0.2f |]; [| 0.1f; 0.2f; 0.7f |] |]
              let labels = [| 0; 2; 1; 2 |]
              Expect.floatClose Accuracy.veryHigh (Classification.accuracyOfScores scores labels) 0.5 "a tied row predicts no class"
              Expect.floatClose Accuracy.veryHigh (Classification.topK 1 scores labels) 0.5 "top-1: the tie in row 3 counts against its label"
              Expect.floatClose Accuracy.veryHigh (Classification.topK 2 scores labels) 1.0 "top-2"
              let predicted = scores |> Array.map Classification.argmax
              Expect.equal predicted [| 0; 1; -1; 2 |] "row 3's largest score is tied: no prediction"
              // recalls class 0: 1/1, class 1: 0/1, class 2: 1/2 → balanced 0.5
              Expect.floatClose Accuracy.veryHigh (Classification.balancedAccuracy predicted labels) 0.5 "balanced"
              // class 0: tp 1 fp 0 fn 0 → 1; class 1: tp 0 fp 1 fn 1 → 0; class 2: tp 1 fp 0 fn 1 → 2/3
              Expect.floatClose Accuracy.veryHigh (Classification.macroF1 predicted labels) ((1.0 + 0.0 + 2.0 / 3.0) / 3.0) "macro"
              Expect.floatClose Accuracy.veryHigh (Classification.macroF1 [| 0; 0 |] [| 0; 0 |]) 1.0 "macro over the classes present only"
              Expect.floatClose Accuracy.veryHigh (Classification.f1 (Classification.confusion 1 [| 0; 0 |] [| 0; 0 |])) 1.0 "F1 of an empty set is 1"

              Expect.floatClose
                  Accuracy.veryHigh
                  (Classification.weightedF1 [| 2.0; 1.0; 1.0 |] 1 [| 1; 1; 0 |] [| 1; 0; 1 |])
                  (4.0 / 6.0)
                  "weighted F1: 2·2 / (2·2 + 1 + 1)"

              Expect.floatClose Accuracy.veryHigh (Classification.weightedAccuracy [| 3.0; 1.0 |] [| 1; 0 |] [| 1; 1 |]) 0.75 "weighted accuracy"
          }
          testProperty "accuracy of scores is top-1 accuracy, and the tensor count agrees (ties count against)"
          <| fun (seed: int) ->
              let rng = Random seed
              let n, c = 1 + rng.Next 30, 2 + rng.Next 4
              // scores from {0, 1, 2}: many ties
              let scores = Array.init n (fun _ -> Array.init c (fun _ -> float32 (rng.Next 3)))
              let labels = Array.init n (fun _ -> rng.Next c)
              // independent reference: the label's score strictly above every other
              let strict =
                  Array.map2 (fun (row: float32[]) y -> row |> Array.indexed |> Array.forall (fun (j, v) -> j = y || row.[y] > v)) scores labels

              let expected = float (strict |> Array.filter id |> Array.length) / float n
              use flat = TorchSharp.torch.tensor (Array.concat scores)
              use t = flat.reshape (int64 n, int64 c)
              use y = TorchSharp.torch.tensor (labels |> Array.map int64)

              abs (Classification.accuracyOfScores scores labels - expected) < 1e-12
              && abs (Classification.topK 1 scores labels - expected) < 1e-12
              && Classification.correct t y = (strict |> Array.filter id |> Array.length)
              // UniLoss's traced accuracy applies the same rule
              && abs (
                  AutoDesign.UniLoss.Refactor.exact AutoDesign.UniLoss.Metrics.accuracy [| n; c |] (AutoDesign.UniLoss.Labels labels) (Array.concat scores)
                  - expected
              )
                  <
                  1e-12
          test "paired differences: mean, sample sd and the t interval" {
              let d = Stats.paired [ 1.0; 2.0; 3.0 ] [ 1.5; 2.0; 4.0 ]
              let m, s, lo, hi = d.Mean, d.Sd, d.Lo, d.Hi
              Expect.equal d.N 3 "three pairs"
              // differences 0.5, 0, 1: mean 0.5, sd 0.5, half-width t(2) · 0.5 / √3, t(2) = 4.3027 (tables: 4.303)
              Expect.floatClose Accuracy.veryHigh m 0.5 "mean"
              Expect.floatClose Accuracy.veryHigh s 0.5 "sample sd"
              Expect.floatClose { absolute = 1e-4; relative = 1e-4 } (hi - m) (4.3027 * 0.5 / sqrt 3.0) "t(2) interval"

              for (df, t) in [ 1, 12.706; 4, 2.776; 7, 2.365; 30, 2.042; 120, 1.980 ] do
                  Expect.floatClose { absolute = 6e-4; relative = 0.0 } (Stats.tQuantile975 df) t (sprintf "t(%d) against the printed table" df)

              Expect.floatClose Accuracy.veryHigh (m - lo) (hi - m) "symmetric"
              Expect.equal (Stats.sd [ 1.0; 3.0 ]) (sqrt 2.0) "n − 1"
          } ]
