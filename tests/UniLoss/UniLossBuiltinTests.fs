module AutoDesign.Tests.UniLossBuiltinTests

open System
open Expecto
open TorchSharp
open AutoDesign.UniLoss

module Ref = AutoDesign.Tests.UniLossReference
module BRef = AutoDesign.Tests.UniLossBuiltinReference

let private near (a: float) (b: float) = abs (a - b) <= 1e-9 * max 1.0 (abs b)

/// exact == reference == g(h(f(s))) by the plain evaluator, by GEval and (float32) by GProgram.
let private checkAll (metric: Metric) (shape: int[]) (labels: Labels) (s: float32[]) (reference: float) =
    let exact = Refactor.exact metric shape labels s
    Expect.floatClose Accuracy.high exact reference (sprintf "%s exact vs plain-loop reference" metric.Name)
    let r = Refactor.trace metric shape labels
    let bits = Refactor.h (Refactor.comparisons r s)
    Expect.floatClose Accuracy.high (Refactor.g r bits) exact (sprintf "%s g(h(f(s))) vs exact" metric.Name)
    Expect.floatClose Accuracy.high (GEval.values r [| bits |]).[0] exact (sprintf "%s GEval vs exact" metric.Name)
    use prog = new GProgram(r, torch.CPU)
    use g = prog.Eval(torch.tensor(bits).reshape(1L, int64 r.L))
    Expect.floatClose { absolute = 1e-5; relative = 1e-5 } (float (g.[0L].item<float32>())) exact (sprintf "%s GProgram vs exact" metric.Name)

/// g(h(f(s))) == exact == reference (the property form).
let private agrees (metric: Metric) (shape: int[]) (labels: Labels) (s: float32[]) (reference: float) =
    let exact = Refactor.exact metric shape labels s
    let r = Refactor.trace metric shape labels
    near exact reference && near (Refactor.refactored r s) exact

let private classBatch (rng: Random) =
    let n = rng.Next(1, 9)
    let c = rng.Next(2, 5)
    let y = Array.init n (fun _ -> rng.Next c)
    n, c, y

let private rankBatch (rng: Random) =
    let n = rng.Next(1, 12)
    let rel = Array.init n (fun _ -> if rng.Next 3 = 0 then rng.Next(1, 4) else 0)
    n, rel

let private segBatch (rng: Random) =
    let n, c, h, w = rng.Next(1, 3), rng.Next(2, 4), rng.Next(1, 4), rng.Next(1, 4)
    n, c, h, w, Array.init (n * h * w) (fun _ -> rng.Next c)

let private floats (rng: Random) (count: int) = Array.init count (fun _ -> float32 (rng.NextDouble() - 0.5))

[<Tests>]
let tests =
    testList
        "uniloss.builtins"
        [ testCase "balanced accuracy, macro-F1 and MCC match scikit-learn's definitions (tied scores)"
          <| fun () ->
              for rng in Ref.streams 40 do
                  let n, c, y = classBatch rng
                  let s = Ref.tiedScores rng (n * c)
                  let pred = BRef.predictions n c s
                  let labels = Labels y
                  checkAll Metrics.balancedAccuracy [| n; c |] labels s (BRef.balancedAccuracy y pred)
                  checkAll Metrics.macroF1 [| n; c |] labels s (BRef.macroF1 y pred)
                  checkAll Metrics.mcc [| n; c |] labels s (BRef.mcc c y pred)
                  // binary [n] scores read as classes {0, 1}
                  let yb = Array.init n (fun _ -> rng.Next 2)
                  let sb = Ref.tiedScores rng n
                  let pb = BRef.predictions n 1 sb
                  checkAll Metrics.mcc [| n |] (Labels yb) sb (BRef.mcc 2 yb pb)
                  checkAll Metrics.macroF1 [| n |] (Labels yb) sb (BRef.macroF1 yb pb)

          testCase "F-beta matches scikit-learn's fbeta_score for [n, 2] and [n] scores"
          <| fun () ->
              for rng in Ref.streams 40 do
                  let n = rng.Next(1, 9)
                  let y = Array.init n (fun _ -> rng.Next 2)

                  for beta in [ 0.5; 1.0; 2.0 ] do
                      let s2 = Ref.tiedScores rng (2 * n)
                      checkAll (Metrics.fBeta beta) [| n; 2 |] (Labels y) s2 (BRef.fBeta beta y (BRef.predictions n 2 s2))
                      let s1 = Ref.tiedScores rng n
                      checkAll (Metrics.fBeta beta) [| n |] (Labels y) s1 (BRef.fBeta beta y (BRef.predictions n 1 s1))
              // F1 is F-beta with beta 1
              let s = [| 0.3f; -0.2f; 0.9f; -1.0f |]
              let y = Labels [| 1; 1; 0; 0 |]
              Expect.floatClose Accuracy.veryHigh (Refactor.exact (Metrics.fBeta 1.0) [| 4 |] y s) (Refactor.exact Metrics.f1 [| 4 |] y s) "F1"

          testCase "precision@k, recall@k and NDCG@k match plain loops (ties count against) and sklearn without ties"
          <| fun () ->
              for rng in Ref.streams 40 do
                  let n, rel = rankBatch rng
                  let s = Ref.tiedScores rng n
                  let labels = Labels rel

                  for k in [ 1; 3; 5 ] do
                      checkAll (Metrics.precisionAtK k) [| n |] labels s (BRef.precisionAtK k s rel)
                      checkAll (Metrics.recallAtK k) [| n |] labels s (BRef.recallAtK k s rel)
                      checkAll (Metrics.ndcgAtK k) [| n |] labels s (BRef.ndcgAtK k s rel)
                      let free = floats rng n
                      checkAll (Metrics.ndcgAtK k) [| n; 1 |] labels free (BRef.ndcgSorted k free rel)

          testCase "mean IoU and Dice match scikit-learn on flattened maps ([n, C, H, W] scores, [n, H, W] labels)"
          <| fun () ->
              for rng in Ref.streams 25 do
                  let n, c, h, w, y = segBatch rng
                  let s = Ref.tiedScores rng (n * c * h * w)
                  let pred = BRef.pixelPredictions n c (h * w) s
                  let labels = Labels([| n; h; w |], Array.map int64 y)
                  checkAll Metrics.meanIoU [| n; c; h; w |] labels s (BRef.meanIoU y pred)
                  checkAll Metrics.dice [| n; c; h; w |] labels s (BRef.dice y pred)
              // one spatial dimension works too
              let s = [| 1.0f; 0.0f; 0.0f; 1.0f |]

              Expect.floatClose
                  Accuracy.veryHigh
                  (Refactor.exact Metrics.meanIoU [| 1; 2; 2 |] (Labels([| 1; 2 |], [| 0L; 0L |])) s)
                  0.25
                  "IoU of {0:1/2, 1:0/1}"

          testProperty "balanced accuracy, macro-F1, MCC: g(h(f(s))) = exact = reference on random scores"
          <| fun (seed: int) ->
              let rng = Random seed
              let n, c, y = classBatch rng
              let s = floats rng (n * c)
              let pred = BRef.predictions n c s

              agrees Metrics.balancedAccuracy [| n; c |] (Labels y) s (BRef.balancedAccuracy y pred)
              && agrees Metrics.macroF1 [| n; c |] (Labels y) s (BRef.macroF1 y pred)
              && agrees Metrics.mcc [| n; c |] (Labels y) s (BRef.mcc c y pred)

          testProperty "F-beta: g(h(f(s))) = exact = reference on random scores"
          <| fun (seed: int) ->
              let rng = Random seed
              let n = rng.Next(1, 10)
              let y = Array.init n (fun _ -> rng.Next 2)
              let s = floats rng (2 * n)
              agrees (Metrics.fBeta 2.0) [| n; 2 |] (Labels y) s (BRef.fBeta 2.0 y (BRef.predictions n 2 s))

          testProperty "precision@k, recall@k, NDCG@k: g(h(f(s))) = exact = reference on random scores"
          <| fun (seed: int) ->
              let rng = Random seed
              let n, rel = rankBatch rng
              let s = floats rng n
              let k = rng.Next(1, 6)

              agrees (Metrics.precisionAtK k) [| n |] (Labels rel) s (BRef.precisionAtK k s rel)
              && agrees (Metrics.recallAtK k) [| n |] (Labels rel) s (BRef.recallAtK k s rel)
              && agrees (Metrics.ndcgAtK k) [| n |] (Labels rel) s (BRef.ndcgSorted k s rel)

          testProperty "mean IoU and Dice: g(h(f(s))) = exact = reference on random scores"
          <| fun (seed: int) ->
              let rng = Random seed
              let n, c, h, w, y = segBatch rng
              let s = floats rng (n * c * h * w)
              let pred = BRef.pixelPredictions n c (h * w) s
              let labels = Labels([| n; h; w |], Array.map int64 y)

              agrees Metrics.meanIoU [| n; c; h; w |] labels s (BRef.meanIoU y pred)
              && agrees Metrics.dice [| n; c; h; w |] labels s (BRef.dice y pred)

          testCase "byName knows every built-in, and bad shapes or labels name the metric"
          <| fun () ->
              for name in
                  [ "balanced-accuracy"
                    "macro-f1"
                    "fbeta-2"
                    "mcc"
                    "precision@5"
                    "recall@10"
                    "ndcg@3"
                    "mean-iou"
                    "dice"
                    "top-3"
                    "pckh-1.5" ] do
                  Expect.equal (Metrics.byName name).Name name "round trip"

              let fails (f: unit -> unit) (fragment: string) =
                  try
                      f ()
                      failtestf "expected a UserError mentioning '%s'" fragment
                  with UserError msg ->
                      Expect.stringContains msg fragment "message"

              fails (fun () -> Refactor.trace Metrics.meanIoU [| 2; 3 |] (Labels [| 0; 1 |]) |> ignore) "mean-iou: scores must be class maps"

              fails
                  (fun () -> Refactor.trace Metrics.dice [| 1; 2; 2; 2 |] (Labels([| 1; 3 |], [| 0L; 1L; 0L |])) |> ignore)
                  "dice: labels must be maps [1, 2, 2]"

              fails (fun () -> Refactor.trace (Metrics.ndcgAtK 3) [| 3 |] (Labels [| 1; -1; 0 |]) |> ignore) "ndcg@3: relevance -1 of item 1 is negative"
              fails (fun () -> Refactor.trace Metrics.balancedAccuracy [| 2; 2 |] (Labels [| 0; 2 |]) |> ignore) "balanced-accuracy: label 2"
              fails (fun () -> Metrics.fBeta 0.0 |> ignore) "positive finite beta"
              fails (fun () -> Metrics.precisionAtK 0 |> ignore) "k >= 1" ]
