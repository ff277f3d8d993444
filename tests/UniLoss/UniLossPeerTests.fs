module AutoDesign.Tests.UniLossPeerTests

open System
open Expecto
open TorchSharp
open AutoDesign
open AutoDesign.UniLoss
open AutoDesign.UniLoss.Baselines
open AutoDesign.Reproduce.UniLoss.Suite

let private sigmoid (x: float) = 1.0 / (1.0 + exp (-x))
let private close (a: float) (b: float) what = Expect.floatClose { absolute = 1e-5; relative = 1e-4 } a b what
let private f32 (xs: float[]) = torch.tensor (xs |> Array.map float32)
let private i64 (xs: int[]) = torch.tensor (xs |> Array.map int64)
let private value (t: torch.Tensor) = float (t.item<float32>())

/// SOAP by plain loops: moving averages per index, then mean over (positive i, any j) of p_ij ℓ_ij.
let private soapReference (uAll: float[]) (uPos: float[]) (m: float) (g: float) (s: float[]) (y: int[]) (idx: int[]) =
    let f = s |> Array.map sigmoid
    let n = s.Length

    let terms =
        [ for i in 0 .. n - 1 do
              if y.[i] = 1 then
                  let l = Array.init n (fun j -> (max 0.0 (m - (f.[i] - f.[j]))) ** 2.0)
                  let a = (1.0 - g) * uAll.[idx.[i]] + g * Array.average l
                  let p = (1.0 - g) * uPos.[idx.[i]] + g * (Array.mapi (fun j v -> if y.[j] = 1 then v else 0.0) l |> Array.average)
                  uAll.[idx.[i]] <- a
                  uPos.[idx.[i]] <- p
                  for j in 0 .. n - 1 -> (p - a * (if y.[j] = 1 then 1.0 else 0.0)) / (a * a) * l.[j] ]

    List.sum terms / float terms.Length

let private shouldFail what (f: unit -> unit) = Expect.throwsT<UserError> f what

[<Tests>]
let tests =
    testList
        "uniloss.peers"
        [ testCase "SOAP AP loss equals a plain-loop reference over two batches (moving averages carried)"
          <| fun () ->
              use loss = new SoapApLoss(10, 1.0, 0.9)
              let uAll, uPos = Array.zeroCreate 10, Array.zeroCreate 10
              let rng = Random 3

              for batch in [ [| 0; 3; 5; 7; 9 |]; [| 3; 1; 9; 2 |] ] do
                  let s = Array.init batch.Length (fun _ -> rng.NextDouble() * 4.0 - 2.0)
                  let y = batch |> Array.map (fun i -> if i % 3 = 0 then 1 else 0)
                  let expected = soapReference uAll uPos 1.0 0.9 s y batch
                  close (value (loss.Forward(f32 s, i64 y, i64 batch))) expected "SOAP loss"

              let a = loss.AllAverages
              close (float a.[3]) uAll.[3] "u_all of index 3 after two batches"

          testCase "AUC-margin loss equals its formula, and its score gradient matches finite differences"
          <| fun () ->
              use loss = new AucMarginLoss(0.3, 1.0)
              use _ = torch.no_grad ()
              loss.A.fill_ (0.2) |> ignore
              loss.B.fill_ (0.1) |> ignore
              loss.Alpha.fill_ (0.5) |> ignore
              let s, y = [| 0.3; -1.2; 2.0; 0.1; -0.4 |], [| 1; 0; 1; 0; 0 |]
              let f = s |> Array.map sigmoid
              let p, a, b, al, m = 0.3, 0.2, 0.1, 0.5, 1.0
              let mean g = Array.init s.Length g |> Array.average
              let pos i = if y.[i] = 1 then 1.0 else 0.0

              let expected =
                  (1.0 - p) * mean (fun i -> (f.[i] - a) ** 2.0 * pos i)
                  + p * mean (fun i -> (f.[i] - b) ** 2.0 * (1.0 - pos i))
                  + 2.0 * al * (p * (1.0 - p) * m + mean (fun i -> p * f.[i] * (1.0 - pos i) - (1.0 - p) * f.[i] * pos i))
                  - p * (1.0 - p) * al * al

              close (value (loss.Forward(f32 s, i64 y))) expected "AUC-M value"
              use __ = torch.enable_grad ()
              let st = torch.tensor (s, requires_grad = true)
              loss.Forward(st, i64 y).backward()
              let grad = st.grad.data<float>().ToArray()

              for k in 0 .. s.Length - 1 do
                  let h = 1e-4
                  let at (d: float) = value (loss.Forward(f32 (Array.mapi (fun i v -> if i = k then v + d else v) s), i64 y))
                  Expect.floatClose { absolute = 1e-3; relative = 1e-2 } grad.[k] ((at h - at (-h)) / (2.0 * h)) (sprintf "d/ds_%d" k)

          testCase "PESG ascends alpha, descends a and b, and keeps alpha >= 0"
          <| fun () ->
              use loss = new AucMarginLoss(0.5)
              let w = torch.zeros ([| 1L |], requires_grad = true)
              use opt = new Pesg([ w ], loss)

              for _ in 1..5 do
                  opt.ZeroGrad()
                  let s = w.expand(4L).add(torch.tensor ([| 1.0f; 2.0f; -1.0f; -2.0f |]))
                  loss.Forward(s, i64 [| 1; 1; 0; 0 |]).backward()
                  opt.Step()

              Expect.isGreaterThanOrEqual (float (loss.Alpha.item<float32>())) 0.0 "alpha >= 0"
              Expect.isGreaterThan (float (loss.A.item<float32>())) 0.0 "a moves up toward the positives' mean score"

          testCase "soft macro-F1 equals soft counts by hand; with one-hot-like logits it approaches 1 - macro-F1"
          <| fun () ->
              let logits = [| [| 2.0; 0.0; -1.0 |]; [| 0.0; 1.0; 0.0 |]; [| -1.0; 2.5; 2.0 |]; [| 1.0; 1.5; 0.0 |] |]
              let y = [| 0; 1; 2; 1 |]
              let p = logits |> Array.map (fun r -> let e = r |> Array.map exp in e |> Array.map (fun v -> v / Array.sum e))

              let f1 c =
                  let tp = Array.sum [| for i in 0..3 -> if y.[i] = c then p.[i].[c] else 0.0 |]
                  let fp = Array.sum [| for i in 0..3 -> if y.[i] <> c then p.[i].[c] else 0.0 |]
                  let fn = Array.sum [| for i in 0..3 -> if y.[i] = c then 1.0 - p.[i].[c] else 0.0 |]
                  2.0 * tp / (2.0 * tp + fp + fn + SoftF1.Epsilon)

              let t = torch.tensor(Array.concat logits |> Array.map float32).reshape(4L, 3L)
              close (value (SoftF1.loss t (i64 y))) (1.0 - (f1 0 + f1 1 + f1 2) / 3.0) "soft-F1"
              let sharp = t.mul (torch.tensor (200.0f))
              close (value (SoftF1.loss sharp (i64 y))) (1.0 - SuiteMetrics.macroF1 (logits |> Array.map (Array.map float32)) y) "sharp logits -> 1 - macro-F1"

          testCase "ApproxNDCG equals the paper's formula by hand and approaches 1 - NDCG (2^r - 1 gains) for large alpha"
          <| fun () ->
              let s, rel = [| 0.5; 2.0; -1.0; 1.0 |], [| 1; 0; 2; 1 |]
              let gain r = 2.0 ** float r - 1.0

              let rank i =
                  1.0
                  + Array.sum
                      [| for j in 0..3 do
                             if j <> i then yield sigmoid (10.0 * (s.[j] - s.[i])) |]

              let dcg = Array.sum [| for i in 0..3 -> gain rel.[i] / Math.Log2(1.0 + rank i) |]
              let idcg = rel |> Array.sortDescending |> Array.mapi (fun k r -> gain r / Math.Log2(float k + 2.0)) |> Array.sum
              let st = (f32 s).reshape(1L, 4L)
              let rt = (i64 rel).reshape(1L, 4L)
              close (value (ApproxNdcg.loss st rt)) (1.0 - dcg / idcg) "ApproxNDCG alpha 10"

              let exact =
                  Array.sum [| for i in 0..3 -> gain rel.[i] / Math.Log2(1.0 + float (1 + (s |> Array.filter (fun v -> v > s.[i]) |> Array.length))) |]
                  / idcg

              Expect.floatClose { absolute = 1e-3; relative = 1e-3 } (value (ApproxNdcg.lossWith 1000.0 st rt)) (1.0 - exact) "alpha -> inf gives exact NDCG"

          testCase "Lovasz-softmax equals the Lovasz extension by hand; with hard predictions it is 1 - mean IoU"
          <| fun () ->
              // hard (near one-hot) predictions: the Lovász extension at a 0/1 error vector is the Jaccard loss
              let y = [| 0; 0; 1; 1; 1; 0 |]
              let pred = [| 0; 1; 1; 1; 0; 0 |]

              let logits =
                  torch.tensor(pred |> Array.collect (fun p -> if p = 0 then [| 30.0f; 0.0f |] else [| 0.0f; 30.0f |])).reshape(1L, 6L, 2L).permute(0L, 2L, 1L)

              close (value (LovaszSoftmax.loss logits ((i64 y).reshape(1L, 6L)))) (1.0 - SuiteMetrics.meanIoU 2 pred y) "hard Lovasz = 1 - mIoU"
              let inc = LovaszSoftmax.jaccardIncrements (f32 [| 1.0; 0.0; 1.0 |])
              // G = 2: J(1) = 1 - 1/2, J(2) = 1 - 1/3, J(3) = 1 - 0/3
              let expected = [| 0.5; (1.0 - 1.0 / 3.0) - 0.5; 1.0 - (1.0 - 1.0 / 3.0) |]
              inc.data<float32>().ToArray() |> Array.iteri (fun k v -> close (float v) expected.[k] (sprintf "increment %d" k))

          testCase "suite metrics agree with the UniLoss built-ins (independent implementations)"
          <| fun () ->
              for seed in 1..20 do
                  let rng = Random seed
                  let n = rng.Next(4, 30)
                  let s = Array.init n (fun _ -> float32 (rng.NextDouble() - 0.5))
                  let y = Array.init n (fun i -> if i < 2 then i else rng.Next 2)
                  let d = s |> Array.map float
                  close (SuiteMetrics.ap d y) (Refactor.exact Metrics.averagePrecision [| n |] (Labels y) s) "AP"
                  close (SuiteMetrics.auroc d y) (Refactor.exact Metrics.auroc [| n |] (Labels y) s) "AUROC"
                  let rel = Array.init n (fun _ -> rng.Next 3)

                  if rel |> Array.exists ((<) 0) then
                      close (SuiteMetrics.ndcgAtK 5 d rel) (Refactor.exact (Metrics.ndcgAtK 5) [| n |] (Labels rel) s) "NDCG@5"

                  let c = 3
                  let sc = Array.init (n * c) (fun _ -> float32 (rng.NextDouble()))
                  let yc = Array.init n (fun _ -> rng.Next c)
                  let rowsOf = Array.init n (fun i -> sc.[i * c .. i * c + c - 1])
                  close (SuiteMetrics.macroF1 rowsOf yc) (Refactor.exact Metrics.macroF1 [| n; c |] (Labels yc) sc) "macro-F1"
                  close (SuiteMetrics.accuracy rowsOf yc) (Refactor.exact Metrics.accuracy [| n; c |] (Labels yc) sc) "accuracy"
                  // one image, c classes, n pixels: maps [1, c, n]
                  let maps = Array.init (c * n) (fun k -> sc.[(k % n) * c + k / n])
                  let pred = Array.init n (fun i -> AutoDesign.Metrics.Classification.argmax rowsOf.[i])
                  close (SuiteMetrics.meanIoU c pred yc) (Refactor.exact Metrics.meanIoU [| 1; c; n |] (Labels([| 1; n |], Array.map int64 yc)) maps) "mean IoU"

          testCase "AUROC with ties counts them half (sklearn)"
          <| fun () ->
              let s, y = [| 0.5f; 0.5f; 0.2f; 0.9f |], [| 1; 0; 0; 1 |]
              // pairs (p, n): (0.5, 0.5) tie 1/2, (0.5, 0.2) 1, (0.9, 0.5) 1, (0.9, 0.2) 1 -> 3.5 / 4
              close (SuiteMetrics.auroc (s |> Array.map float) y) 0.875 "suite AUROC"
              close (Refactor.exact Metrics.auroc [| 4 |] (Labels y) s) 0.875 "UniLoss AUROC"

          testCase "bad input to the peer losses and the suite gives one UserError"
          <| fun () ->
              use soap = new SoapApLoss(4)
              shouldFail "labels not 0/1" (fun () -> soap.Forward(f32 [| 0.1; 0.2 |], i64 [| 0; 2 |], i64 [| 0; 1 |]) |> ignore)
              shouldFail "NaN scores" (fun () -> soap.Forward(f32 [| nan; 0.2 |], i64 [| 0; 1 |], i64 [| 0; 1 |]) |> ignore)
              shouldFail "index out of range" (fun () -> soap.Forward(f32 [| 0.1; 0.2 |], i64 [| 0; 1 |], i64 [| 0; 7 |]) |> ignore)
              shouldFail "margin <= 0" (fun () -> new SoapApLoss(4, 0.0, 0.9) |> ignore)
              use aucm = new AucMarginLoss(0.2)
              shouldFail "AUC-M labels" (fun () -> aucm.Forward(f32 [| 0.1; 0.2 |], i64 [| -1; 1 |]) |> ignore)
              shouldFail "AUC-M positive fraction" (fun () -> new AucMarginLoss(1.5) |> ignore)
              shouldFail "soft-F1 label out of range" (fun () -> SoftF1.loss (torch.zeros (2L, 3L)) (i64 [| 0; 3 |]) |> ignore)

              shouldFail "ApproxNDCG alpha" (fun () ->
                  ApproxNdcg.lossWith 0.0 (torch.zeros (1L, 3L)) (i64 [| 0; 1; 2 |] |> fun t -> t.reshape (1L, 3L)) |> ignore)

              shouldFail "ApproxNDCG negative relevance" (fun () -> ApproxNdcg.loss (torch.zeros (1L, 2L)) ((i64 [| 0; -1 |]).reshape(1L, 2L)) |> ignore)

              shouldFail "Lovasz NaN" (fun () ->
                  LovaszSoftmax.loss (torch.tensor([| Single.NaN; 0.0f; 0.0f; 0.0f |]).reshape(1L, 2L, 2L)) (torch.zeros ([| 1L; 2L |], dtype = torch.int64))
                  |> ignore)

              shouldFail "ndcg k <= 0" (fun () -> SuiteMetrics.ndcgAtK 0 [| 1.0 |] [| 1 |] |> ignore)

              shouldFail "suite arm" (fun () ->
                  SuiteTrain.run
                      AccuracyTask
                      (SuiteData.tenClass false { Train = 20; Test = 20; Epochs = 1; Hidden = 4; TrainQueries = 1; TestQueries = 1 } 1)
                      { Train = 20; Test = 20; Epochs = 1; Hidden = 4; TrainQueries = 1; TestQueries = 1 }
                      1
                      "peer"
                      torch.CPU
                  |> ignore) ]
