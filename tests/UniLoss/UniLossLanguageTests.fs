module AutoDesign.Tests.UniLossLanguageTests

open System
open Expecto
open TorchSharp
open AutoDesign.UniLoss

let private raisesUser (f: unit -> unit) (fragment: string) =
    try
        f ()
        failtestf "expected a UserError mentioning '%s'" fragment
    with UserError msg ->
        Expect.stringContains msg fragment "error message"

/// exact == g(h(f(s))) by the plain evaluator, GEval and GProgram; returns the exact value.
let private agree (metric: Metric) (shape: int[]) (labels: Labels) (s: float32[]) =
    let exact = Refactor.exact metric shape labels s
    let r = Refactor.trace metric shape labels
    let bits = Refactor.h (Refactor.comparisons r s)
    Expect.floatClose Accuracy.high (Refactor.g r bits) exact (sprintf "%s plain g" metric.Name)
    Expect.floatClose Accuracy.high (GEval.values r [| bits |]).[0] exact (sprintf "%s GEval" metric.Name)
    use prog = new GProgram(r, torch.CPU)
    use st = torch.tensor(s).reshape(shape |> Array.map int64)
    use c = prog.Comparisons(st)
    Expect.sequenceEqual (c.data<float32>().ToArray()) (Refactor.comparisons r s) "tensor f = array f"
    use g = prog.Eval(torch.tensor(bits).reshape(1L, int64 r.L))
    Expect.floatClose { absolute = 1e-4; relative = 1e-4 } (float (g.[0L].item<float32>())) exact (sprintf "%s GProgram" metric.Name)
    exact

[<Tests>]
let tests =
    testList
        "uniloss.language"
        [ testCase "sqrt, log, exp, abs, pow, min and max on bit-derived numbers are exact in g and safe outside their domain"
          <| fun () ->
              let m =
                  Metric.Define(
                      "math",
                      fun s y ->
                          let w = [ for i in 0 .. s.N - 1 -> UniLossUserMetrics.wins s y i ]

                          sqrt (sum w)
                          + log (w.[0] - 1.0)
                          + exp (w.[1] * 0.5)
                          + abs (w.[0] - w.[1])
                          + w.[0] ** 2.0
                          + (w.[1] ** w.[0])
                          + minOf w
                          + maxOf w
                          + sqrt (w.[0] - 10.0)
                          + ratio w.[0] (w.[1] - w.[1])
                  )

              let rng = Random 4

              for _ in 1..30 do
                  let n, c = rng.Next(2, 5), rng.Next(2, 5)
                  let y = Array.init n (fun _ -> rng.Next c)
                  let s = Array.init (n * c) (fun _ -> float32 (rng.Next 3))
                  let v = agree m [| n; c |] (Labels y) s
                  // a plain computation of the same number
                  let wins i =
                      Seq.sum (
                          seq {
                              for j in 0 .. c - 1 do
                                  if j <> y.[i] && s.[i * c + y.[i]] > s.[i * c + j] then yield 1.0
                          }
                      )

                  let w = List.init n wins
                  let safeLog x = if x > 0.0 then log x else 0.0
                  let safeSqrt x = if x > 0.0 then sqrt x else 0.0

                  let expected =
                      safeSqrt (List.sum w)
                      + safeLog (w.[0] - 1.0)
                      + exp (w.[1] * 0.5)
                      + abs (w.[0] - w.[1])
                      + w.[0] ** 2.0
                      + (w.[1] ** w.[0])
                      + List.min w
                      + List.max w
                      + safeSqrt (w.[0] - 10.0)
                      + 0.0

                  Expect.floatClose Accuracy.high v expected "plain value"
              // C# names of the same functions
              let x = Uni.Const 4.0

              Expect.equal
                  (Uni.Sqrt(x).Value, Uni.Log(Uni.Const 0.0).Value, Uni.Pow(x, Uni.Const 0.5).Value, Uni.Min([ x; Uni.Const 1.0 ]).Value)
                  (2.0, 0.0, 2.0, 1.0)
                  "constants fold"

          testCase "scores and labels of any rank: s.[i, c, h, w] with labels [n, H, W]"
          <| fun () ->
              let m =
                  Metric.Define(
                      "pixel-accuracy",
                      fun s y ->
                          meanBits
                              [ for i in 0 .. s.N - 1 do
                                    for a in 0 .. s.Dim 2 - 1 do
                                        for b in 0 .. s.Dim 3 - 1 ->
                                            all
                                                [ for c in 0 .. s.Dim 1 - 1 do
                                                      if c <> y.[i, a, b] then yield s.[i, y.[i, a, b], a, b] >. s.[i, c, a, b] ] ]
                  )

              let rng = Random 8
              let n, c, h, w = 2, 3, 3, 2
              let y = Array.init (n * h * w) (fun _ -> int64 (rng.Next c))
              let s = Array.init (n * c * h * w) (fun _ -> float32 (rng.NextDouble()))
              let labels = Labels([| n; h; w |], y)
              let v = agree m [| n; c; h; w |] labels s

              let expected =
                  Seq.averageBy
                      (fun (i, a, b) ->
                          let yc = int y.[(i * h + a) * w + b]
                          let at cc = s.[((i * c + cc) * h + a) * w + b]
                          if Seq.forall (fun cc -> cc = yc || at yc > at cc) [ 0 .. c - 1 ] then 1.0 else 0.0)
                      (seq {
                          for i in 0 .. n - 1 do
                              for a in 0 .. h - 1 do
                                  for b in 0 .. w - 1 -> i, a, b
                      })

              Expect.floatClose Accuracy.high v expected "pixel accuracy"
              Expect.equal (labels.[1, 2, 1]) (int y.[11]) "labels [n, H, W] indexing"
              Expect.equal labels.Rank 3 "rank"
              // derived candidates handle the class dimension of maps: b* is all correct
              use loss = new UniLoss(m)
              Expect.floatClose Accuracy.high (loss.Best([| n; c; h; w |], torch.tensor(y).reshape(int64 n, int64 h, int64 w))).Value 1.0 "best"

          testCase "score-vs-threshold comparisons in all four directions"
          <| fun () ->
              let m =
                  Metric.Define(
                      "bands",
                      fun s _ -> mean [ for i in 0 .. s.N - 1 -> num (s.[i] >. 0.5) + num (s.[i] <. -0.2) + num (s.[i] >=. 0.1) + num (s.[i] <=. 0.3) ]
                  )

              let s = [| 0.9f; 0.5f; 0.1f; -0.2f; -0.7f; 0.3f; 0.0f |]
              let v = agree m [| s.Length |] (Labels(Array.zeroCreate s.Length)) s

              let plain x =
                  (if x > 0.5f then 1.0 else 0.0)
                  + (if x < -0.2f then 1.0 else 0.0)
                  + (if x >= 0.1f then 1.0 else 0.0)
                  + (if x <= 0.3f then 1.0 else 0.0)

              Expect.floatClose Accuracy.high v (Array.averageBy plain s) "plain bands"
              let r = Refactor.trace m [| s.Length |] (Labels(Array.zeroCreate s.Length))
              Expect.isTrue (r.Comparisons |> Array.exists (fun c -> c.K1 = -1)) "s < θ compares θ − s"

          testCase "C# operators exist on scores, bits and numbers"
          <| fun () ->
              let has (t: Type) (name: string) (args: Type[]) = Expect.isNotNull (t.GetMethod(name, args)) (sprintf "%s.%s" t.Name name)

              for name in [ "op_GreaterThan"; "op_LessThan"; "op_GreaterThanOrEqual"; "op_LessThanOrEqual" ] do
                  has typeof<Score> name [| typeof<Score>; typeof<Score> |]
                  has typeof<Score> name [| typeof<Score>; typeof<float> |]
                  has typeof<Num> name [| typeof<Num>; typeof<Num> |]

              for name in [ "op_BitwiseAnd"; "op_BitwiseOr" ] do
                  has typeof<Bit> name [| typeof<Bit>; typeof<Bit> |]

              has typeof<Bit> "op_LogicalNot" [| typeof<Bit> |]

              for name in [ "op_Addition"; "op_Subtraction"; "op_Multiply"; "op_Division" ] do
                  has typeof<Num> name [| typeof<Num>; typeof<Num> |]

              for name in [ "Sqrt"; "Log"; "Exp"; "Abs" ] do
                  has typeof<Uni> name [| typeof<Num> |]

              for name in [ "Pow"; "Min"; "Max" ] do
                  has typeof<Uni> name [| typeof<Num>; typeof<Num> |]

          testCase "errors name the metric"
          <| fun () ->
              let badLabel = Metric.Define("reads-columns", fun s y -> num (s.[0, y.[0, 5]] >. s.[0, 0]))

              raisesUser
                  (fun () -> Refactor.trace badLabel [| 2; 3 |] (Labels([| 2; 2 |], [| 0L; 1L; 1L; 0L |])) |> ignore)
                  "reads-columns: label index [0, 5] is outside labels of shape [2, 2]"

              let badIndex = Metric.Define("too-far", fun s _ -> num (s.[0, 7] >. s.[0, 0]))

              raisesUser
                  (fun () -> Refactor.trace badIndex [| 2; 3 |] (Labels [| 0; 1 |]) |> ignore)
                  "too-far: score index [0, 7] is outside scores of shape [2, 3]"

              raisesUser (fun () -> Refactor.exact badIndex [| 2; 3 |] (Labels [| 0; 1 |]) [| 1.0f; 2.0f; 3.0f; 4.0f; 5.0f; 6.0f |] |> ignore) "too-far:"
              let mutable kept: Bit = null

              let keeps =
                  Metric.Define(
                      "keeps",
                      fun s _ ->
                          if isNull kept then kept <- s.[0, 0] >. s.[0, 1]
                          num kept + num (s.[0, 1] >. s.[0, 2])
                  )

              Refactor.trace keeps [| 1; 3 |] (Labels [| 0 |]) |> ignore
              raisesUser (fun () -> Refactor.trace keeps [| 1; 3 |] (Labels [| 0 |]) |> ignore) "keeps: a metric mixed values from two different traces"

              raisesUser
                  (fun () -> Refactor.trace (Metric.Define("lonely", fun _ _ -> num kept + 1.0)) [| 1; 3 |] (Labels [| 0 |]) |> ignore)
                  "lonely: a metric used a value from an earlier trace"

          testCase "isArgmax is numpy's first arg-max and rankOf counts ties against the item"
          <| fun () ->
              let m =
                  Metric.Define(
                      "argmax-rank",
                      fun s _ ->
                          let row = [| for c in 0 .. s.Dim 1 - 1 -> s.[0, c] |]
                          sum [ for c in 0 .. row.Length - 1 -> float (10 * c) * num (isArgmax row c) ] + 1000.0 * rankOf row 1
                  )

              for s, expected in [ [| 1.0f; 3.0f; 3.0f |], 10.0 + 2000.0; [| 2.0f; 2.0f; 1.0f |], 0.0 + 2000.0; [| 0.0f; 5.0f; 1.0f |], 10.0 + 1000.0 ] do
                  Expect.floatClose Accuracy.high (agree m [| 1; 3 |] (Labels [| 0 |]) s) expected (sprintf "%A" s) ]
