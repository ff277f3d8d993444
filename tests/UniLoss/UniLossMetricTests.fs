module AutoDesign.Tests.UniLossMetricTests

open System
open Expecto
open TorchSharp
open AutoDesign.UniLoss

module Ref = AutoDesign.Tests.UniLossReference

let private close (a: float) (b: float) msg = Expect.floatClose Accuracy.high a b msg

/// For one metric and batch: exact == reference == g(h(f(s))) (plain) == compiled g on h(f(s)).
let private checkAll (metric: Metric) (shape: int[]) (labels: Labels) (s: float32[]) (reference: float) =
    let exact = Refactor.exact metric shape labels s
    close exact reference (sprintf "%s exact vs plain-loop reference" metric.Name)
    let r = Refactor.trace metric shape labels
    close (Refactor.refactored r s) exact (sprintf "%s g(h(f(s))) vs exact" metric.Name)
    use prog = new GProgram(r, torch.CPU)
    use st = torch.tensor(s).reshape(shape |> Array.map int64)
    use c = prog.Comparisons(st)
    use bits = c.gt((0.0f).ToScalar()).to_type(torch.ScalarType.Float32).unsqueeze(0L)
    use g = prog.Eval(bits)
    Expect.floatClose { absolute = 1e-5; relative = 1e-5 } (float (g.[0L].item<float32>())) exact (sprintf "%s compiled g vs exact" metric.Name)
    // f on tensors equals f on arrays
    let cRef = Refactor.comparisons r s
    if cRef.Length > 0 then Expect.sequenceEqual (c.data<float32>().ToArray()) cRef "tensor f = array f"
    r

let private classBatch (rng: Random) =
    let n = rng.Next(1, 7)
    let c = rng.Next(1, 5)
    let oneClass = rng.Next 4 = 0
    let y = Array.init n (fun _ -> if oneClass then 0 else rng.Next c)
    n, c, y, Ref.tiedScores rng (n * c)

let private binaryBatch (rng: Random) =
    let n = rng.Next(1, 9)
    let mode = rng.Next 3 // 0: all negative, 1: all positive, 2: mixed

    let y =
        Array.init n (fun _ ->
            match mode with
            | 0 -> 0
            | 1 -> 1
            | _ -> rng.Next 2)

    n, y

[<Tests>]
let tests =
    testList
        "uniloss.metrics"
        [ testCase "accuracy and top-k match plain loops, exactly and refactored (ties, one class)"
          <| fun () ->
              for rng in Ref.streams 40 do
                  let n, c, y, s = classBatch rng
                  let labels = Labels y
                  checkAll Metrics.accuracy [| n; c |] labels s (Ref.accuracy n c s y) |> ignore
                  let k = rng.Next(1, 4)
                  checkAll (Metrics.topK k) [| n; c |] labels s (Ref.topK k n c s y) |> ignore

          testCase "precision, recall, f1 match plain loops for [n,2] and [n] scores"
          <| fun () ->
              for rng in Ref.streams 40 do
                  let n, y = binaryBatch rng
                  let labels = Labels y

                  for cols in [ 1; 2 ] do
                      let s = Ref.tiedScores rng (n * cols)
                      let shape = if cols = 2 then [| n; 2 |] else [| n |]
                      let pred = Ref.predictions n cols s
                      checkAll Metrics.precision shape labels s (Ref.precision pred y) |> ignore
                      checkAll Metrics.recall shape labels s (Ref.recall pred y) |> ignore
                      checkAll Metrics.f1 shape labels s (Ref.f1 pred y) |> ignore

          testCase "average precision equals sklearn's (sorting, tied scores grouped)"
          <| fun () ->
              for rng in Ref.streams 40 do
                  let n, y = binaryBatch rng
                  let s = Ref.tiedScores rng n
                  checkAll Metrics.averagePrecision [| n |] (Labels y) s (Ref.averagePrecision s y) |> ignore
                  // [n,2]: the class-1 column ranks
                  let s2 = Ref.tiedScores rng (2 * n)
                  let col1 = Array.init n (fun i -> s2.[2 * i + 1])
                  checkAll Metrics.averagePrecision [| n; 2 |] (Labels y) s2 (Ref.averagePrecision col1 y) |> ignore
              // the thesis's pos-neg form: equal to sklearn on untied scores, with P·N bits
              for seed in 1..40 do
                  let rng = Random(seed + 1000)
                  let n, y = binaryBatch rng
                  let s = Array.init n (fun _ -> float32 (rng.NextDouble()))
                  checkAll Metrics.averagePrecisionPosNeg [| n |] (Labels y) s (Ref.averagePrecision s y) |> ignore
                  let p = y |> Array.sumBy (fun v -> if v = 1 then 1 else 0)

                  if p > 0 && p < n then
                      let r = Refactor.trace Metrics.averagePrecisionPosNeg [| n |] (Labels y)
                      Expect.equal r.L (p * (n - p)) "one bit per (positive, negative) pair"
              // a hand case: scores 3,2,2,1 with labels 1,0,1,0 → sklearn: thresholds 3 (P=1, R=.5), 2 (P=2/3, R=1)
              close (Ref.averagePrecision [| 3.0f; 2.0f; 2.0f; 1.0f |] [| 1; 0; 1; 0 |]) (0.5 + 0.5 * 2.0 / 3.0) "hand AP"

          testCase "pckh matches the argmax-within-radius reference"
          <| fun () ->
              for rng in Ref.streams 15 do
                  let n, h, w = rng.Next(1, 4), rng.Next(2, 6), rng.Next(2, 6)
                  let radius = float (rng.Next 3)
                  let joints = Array.init n (fun _ -> rng.Next h, rng.Next w)
                  let labels = Labels([| n; 2 |], joints |> Array.collect (fun (a, b) -> [| int64 a; int64 b |]))
                  let s = Ref.tiedScores rng (n * h * w)
                  checkAll (Metrics.pckh radius) [| n; h; w |] labels s (Ref.pckh radius n h w s joints) |> ignore

          testProperty "g(h(f(s))) equals the exact accuracy on random float scores"
          <| fun (seed: int) ->
              let rng = Random seed
              let n, c = rng.Next(1, 6), rng.Next(2, 5)
              let y = Array.init n (fun _ -> rng.Next c)
              let s = Array.init (n * c) (fun _ -> float32 (rng.NextDouble() - 0.5))
              let r = Refactor.trace Metrics.accuracy [| n; c |] (Labels y)
              abs (Refactor.refactored r s - Refactor.exact Metrics.accuracy [| n; c |] (Labels y) s) < 1e-12

          Properties.seeded 60 "AP and F1: exact = g(h(f(s))) = plain loop on tied scores, any label mix"
          <| fun _ rng ->
              let n, y = binaryBatch rng
              let s = Ref.tiedScores rng n
              let labels = Labels y
              let ap = Refactor.exact Metrics.averagePrecision [| n |] labels s
              let f = Refactor.exact Metrics.f1 [| n |] labels s
              let rAp = Refactor.trace Metrics.averagePrecision [| n |] labels
              let rF = Refactor.trace Metrics.f1 [| n |] labels

              abs (ap - Ref.averagePrecision s y) < 1e-12
              && abs (Refactor.refactored rAp s - ap) < 1e-12
              && abs (f - Ref.f1 (Ref.predictions n 1 s) y) < 1e-12
              && abs (Refactor.refactored rF s - f) < 1e-12

          testCase "compiled batched g equals the per-anchor reference g on random bit configurations"
          <| fun () ->
              let custom =
                  Metric.Define(
                      "custom",
                      fun s y ->
                          let wins = UniLossUserMetrics.wins s y
                          let a = sum [ for i in 0 .. s.N - 1 -> wins i * wins i ]
                          let b = ratio (wins 0) (wins 1 + (-1.0))
                          let c = select (s.[0, 0] >. s.[1, 1] ||| ~~~(s.[0, 1] >. 0.5)) a b
                          c + num (wins 0 >=. 2.0) - num (any [ s.[1, 0] >. s.[0, 0]; s.[1, 2] <. s.[0, 2] ])
                  )

              let rng = Random 7

              let cases =
                  [ custom, [| 2; 3 |], Labels [| 0; 2 |]
                    Metrics.accuracy, [| 6; 4 |], Labels [| 0; 1; 2; 3; 1; 1 |]
                    Metrics.topK 2, [| 5; 4 |], Labels [| 0; 1; 2; 3; 1 |]
                    Metrics.f1, [| 7; 2 |], Labels [| 0; 1; 1; 0; 1; 0; 0 |]
                    Metrics.averagePrecision, [| 8 |], Labels [| 0; 1; 1; 0; 1; 0; 0; 0 |]
                    Metrics.averagePrecisionPosNeg, [| 10; 2 |], Labels [| 0; 1; 1; 0; 1; 0; 0; 0; 0; 1 |]
                    Metrics.pckh 1.0, [| 2; 4; 4 |], Labels([| 2; 2 |], [| 1L; 1L; 3L; 0L |]) ]

              for metric, shape, labels in cases do
                  let r = Refactor.trace metric shape labels
                  use prog = new GProgram(r, torch.CPU)
                  let t = 25
                  let bits = Array.init (t * r.L) (fun _ -> if rng.Next 2 = 0 then 0.0f else 1.0f)
                  use g = prog.Eval(torch.tensor(bits).reshape(int64 t, int64 r.L))
                  let gv = g.data<float32>().ToArray()

                  for a in 0 .. t - 1 do
                      let expected = Refactor.g r bits.[a * r.L .. (a + 1) * r.L - 1]
                      Expect.floatClose { absolute = 1e-4; relative = 1e-5 } (float gv.[a]) expected (sprintf "%s anchor %d" metric.Name a)

                  Expect.isLessThanOrEqual prog.Groups (prog.Depth * 6) "op groups bounded by depth × kinds"

          testCase "identical comparisons are deduplicated and unused ones pruned"
          <| fun () ->
              let m =
                  Metric.Define(
                      "dup",
                      fun s _ ->
                          let _unused = s.[0, 1] >. s.[0, 2]
                          num (s.[0, 0] >. s.[0, 1]) + num (s.[0, 0] >. s.[0, 1]) + num (s.[0, 1] <. s.[0, 0])
                  )

              let r = Refactor.trace m [| 1; 3 |] (Labels [| 0 |])
              Expect.equal r.L 1 "one distinct comparison"
              Expect.equal r.Comparisons.[0] { K1 = 0; K2 = 1; Offset = 0.0 } "s[0,0] - s[0,1]"

          testCase "the best configuration reaches each built-in's maximum"
          <| fun () ->
              let cases =
                  [ Metrics.accuracy, [| 4; 3 |], Labels [| 0; 2; 1; 1 |]
                    Metrics.topK 2, [| 4; 3 |], Labels [| 0; 2; 1; 1 |]
                    Metrics.precision, [| 5; 2 |], Labels [| 0; 1; 1; 0; 0 |]
                    Metrics.recall, [| 5 |], Labels [| 0; 1; 1; 0; 0 |]
                    Metrics.f1, [| 5; 2 |], Labels [| 0; 1; 1; 0; 0 |]
                    Metrics.averagePrecision, [| 6 |], Labels [| 0; 1; 1; 0; 0; 1 |]
                    Metrics.pckh 1.0, [| 2; 4; 5 |], Labels([| 2; 2 |], [| 0L; 0L; 2L; 3L |]) ]

              for metric, shape, labels in cases do
                  let r = Refactor.trace metric shape labels
                  let b = Anchors.best metric r labels
                  close (Refactor.g r b) 1.0 (sprintf "%s best configuration" metric.Name)

          testCase "without Ideal, greedy search finds the best configuration"
          <| fun () ->
              // class 0 should LOSE to every other class: the all-ones start is wrong
              let m =
                  Metric.Define("zero-loses", fun s _ -> UniLossUserMetrics.zeroLoses s + meanBits [ for i in 0 .. s.N - 1 -> s.[i, 1] >. s.[i, 2] ])

              let labels = Labels [| 0; 0; 0 |]
              let r = Refactor.trace m [| 3; 3 |] labels
              close (Refactor.g r (Anchors.best m r labels)) 2.0 "greedy reaches 2"

          testCase "the C# fluent surface (Func, Uni, extension methods, operators) defines accuracy"
          <| fun () ->
              let csAccuracy =
                  Metric
                      .Create(
                          "cs-accuracy",
                          Func<Scores, Labels, Num>(fun s y ->
                              Uni.Mean(
                                  seq {
                                      for i in 0 .. s.N - 1 ->
                                          Uni.ToNum(
                                              Uni.All(
                                                  seq {
                                                      for j in 0 .. s.Dim 1 - 1 do
                                                          if j <> y.[i] then yield Score.op_GreaterThan (s.[i, y.[i]], s.[i, j])
                                                  }
                                              )
                                          )
                                  }
                              ))
                      )
                      .WithIdeal(
                          Func<int[], Labels, float32[]>(fun sh y -> Array.init (sh.[0] * sh.[1]) (fun k -> if k % sh.[1] = y.[k / sh.[1]] then 1.0f else 0.0f))
                      )

              let viaExt =
                  Metric.Create(
                      "cs-ext",
                      Func<Scores, Labels, Num>(fun s y ->
                          (seq {
                              for i in 0 .. s.N - 1 ->
                                  Uni.ToNum(
                                      (seq {
                                          for j in 0 .. s.Dim 1 - 1 do
                                              if j <> y.[i] then yield s.[i, y.[i]] >. s.[i, j]
                                      })
                                          .AllTrue()
                                  )
                          })
                              .MeanOf())
                  )

              for rng in Ref.streams 10 do
                  let n, c, y, s = classBatch rng
                  let expected = Ref.accuracy n c s y
                  checkAll csAccuracy [| n; c |] (Labels y) s expected |> ignore
                  checkAll viaExt [| n; c |] (Labels y) s expected |> ignore ]
