/// Metrics written the way a user would write them (no Ideal, no Range), for the realisability and
/// descent tests: F# ones with the Dsl module and one C#-style with Metric.Create and Uni.
module AutoDesign.Tests.UniLossUserMetrics

open System
open AutoDesign.UniLoss

/// Correct iff the label's score beats every other class; mean over classes of per-class recall.
let balancedAccuracy =
    Metric.Define(
        "user-balanced-accuracy",
        fun s y ->
            let classes = s.Dim 1

            let correct i =
                all
                    [ for j in 0 .. classes - 1 do
                          if j <> y.[i] then yield s.[i, y.[i]] >. s.[i, j] ]

            mean
                [ for c in 0 .. classes - 1 do
                      let members =
                          [ for i in 0 .. s.N - 1 do
                                if y.[i] = c then yield i ]

                      if not members.IsEmpty then yield meanBits [ for i in members -> correct i ] ]
    )

/// Macro-F1 over all classes, predicting class c iff it beats every other class (both directions
/// of every pair are compared: the comparison graph has cycles).
let macroF1 =
    Metric.Define(
        "user-macro-f1",
        fun s y ->
            let classes = s.Dim 1

            let pred i c =
                all
                    [ for j in 0 .. classes - 1 do
                          if j <> c then yield s.[i, c] >. s.[i, j] ]

            mean
                [ for c in 0 .. classes - 1 ->
                      let tp =
                          count
                              [ for i in 0 .. s.N - 1 do
                                    if y.[i] = c then yield pred i c ]

                      let predicted = count [ for i in 0 .. s.N - 1 -> pred i c ]
                      let support = float (y.Data |> Array.filter (fun v -> v = int64 c) |> Array.length)
                      ratio (2.0 * tp) (predicted + support) ]
    )

/// How many other classes example i's label outscores.
let wins (s: Scores) (y: Labels) (i: int) =
    count
        [ for j in 0 .. s.Dim 1 - 1 do
              if j <> y.[i] then yield s.[i, y.[i]] >. s.[i, j] ]

/// The share of examples whose class 0 loses to every other class.
let zeroLoses (s: Scores) = meanBits [ for i in 0 .. s.N - 1 -> all [ for j in 1 .. s.Dim 1 - 1 -> ~~~(s.[i, 0] >. s.[i, j]) ] ]

/// How many relevant items (label > 0) are in the top 10: fewer than 10 other items `beat` them.
let private relevantInTop10 (beats: Score -> Score -> Bit) (s: Scores) (y: Labels) =
    let inTop i =
        count
            [ for j in 0 .. s.N - 1 do
                  if j <> i then yield beats s.[j] s.[i] ]
        <. 10.0

    count
        [ for i in 0 .. s.N - 1 do
              if y.[i] > 0 then yield inTop i ]

/// Precision@10 where an item is in the top 10 iff fewer than 10 items score strictly higher:
/// tied items all count (so on tied scores it can exceed 1).
let precisionAt10 = Metric.Define("user-precision@10", fun s y -> relevantInTop10 (fun a b -> a >. b) s y / 10.0)

/// Recall@10 with ties counting against the item.
let recallAt10 =
    Metric.Define(
        "user-recall@10",
        fun s y ->
            let relevant = y.Data |> Array.filter (fun v -> v > 0L) |> Array.length
            relevantInTop10 (fun a b -> a >=. b) s y / float (max relevant 1)
    )

/// NDCG@5 with a log discount written with the language's log.
let ndcgAt5 =
    Metric.Define(
        "user-ndcg@5",
        fun s y ->
            let rank i =
                1
                + count
                    [ for j in 0 .. s.N - 1 do
                          if j <> i then yield s.[j] >=. s.[i] ]

            let gain i = let r = rank i in select (r <=. 5.0) (float y.[i] / (log (r + 1) / log 2.0)) (konst 0.0)

            let dcg =
                sum
                    [ for i in 0 .. s.N - 1 do
                          if y.[i] > 0 then yield gain i ]

            let ideal =
                y.Data
                |> Array.map float
                |> Array.sortDescending
                |> Array.truncate 5
                |> Array.mapi (fun r g -> g / Math.Log2(float r + 2.0))
                |> Array.sum

            dcg / ideal
    )

/// The mean over all classes of perClass(intersection, predicted, support) on [n, C, H, W] scores and
/// [n, H, W] labels, each pixel predicting the class that beats every other strictly.
let perClassOfMaps (name: string) (perClass: Num -> Num -> float -> Num) =
    Metric.Define(
        name,
        fun s y ->
            let classes, h, w = s.Dim 1, s.Dim 2, s.Dim 3

            let pred i a b c =
                all
                    [ for j in 0 .. classes - 1 do
                          if j <> c then yield s.[i, c, a, b] >. s.[i, j, a, b] ]

            let pixels =
                [ for i in 0 .. s.N - 1 do
                      for a in 0 .. h - 1 do
                          for b in 0 .. w - 1 -> i, a, b ]

            mean
                [ for c in 0 .. classes - 1 ->
                      let inter =
                          count
                              [ for (i, a, b) in pixels do
                                    if y.[i, a, b] = c then yield pred i a b c ]

                      let predicted = count [ for (i, a, b) in pixels -> pred i a b c ]
                      let support = float (y.Data |> Array.filter (fun v -> v = int64 c) |> Array.length)
                      perClass inter predicted support ]
    )

/// Mean IoU over all classes on [n, C, H, W] scores and [n, H, W] labels.
let meanIoU = perClassOfMaps "user-mean-iou" (fun inter predicted support -> ratio inter (predicted + support - inter))

/// Binary MCC with sqrt, scores [n] thresholded at 0.
let mcc =
    Metric.Define(
        "user-mcc",
        fun s y ->
            let pos i = s.[i] >. 0.0

            let tp =
                count
                    [ for i in 0 .. s.N - 1 do
                          if y.[i] = 1 then yield pos i ]

            let fp =
                count
                    [ for i in 0 .. s.N - 1 do
                          if y.[i] = 0 then yield pos i ]

            let p = float (y.Data |> Array.filter (fun v -> v = 1L) |> Array.length)
            let n = float y.N - p
            let fn = p - tp
            let tn = n - fp
            ratio (tp * tn - fp * fn) (sqrt ((tp + fp) * p * n * (tn + fn)))
    )

/// F-beta (β = 2) in C# style: Metric.Create, Uni functions, operator methods, extension methods.
let csFBeta =
    Metric.Create(
        "cs-f2",
        Func<Scores, Labels, Num>(fun s y ->
            let predicted = [| for i in 0 .. s.N - 1 -> Score.op_GreaterThan (s.[i, 1], s.[i, 0]) |]

            let tp =
                (seq {
                    for i in 0 .. s.N - 1 do
                        if y.[i] = 1 then yield predicted.[i]
                })
                    .CountTrue()

            let fp =
                Uni.Count(
                    seq {
                        for i in 0 .. s.N - 1 do
                            if y.[i] = 0 then yield predicted.[i]
                    }
                )

            let positives = Uni.Const(float (y.Data |> Array.filter (fun v -> v = 1L) |> Array.length))
            let b2 = Uni.Const 4.0

            Uni.Ratio(
                Num.op_Multiply (Num.op_Addition (Uni.Const 1.0, b2), tp),
                Num.op_Addition (
                    Num.op_Addition (Num.op_Multiply (Num.op_Addition (Uni.Const 1.0, b2), tp), Num.op_Multiply (b2, Num.op_Subtraction (positives, tp))),
                    fp
                )
            ))
    )
