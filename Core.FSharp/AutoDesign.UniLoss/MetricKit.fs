namespace AutoDesign.UniLoss

open System

/// The predicted class bits of a batch of scores: Bits.[i].[c] = [example i predicts class c], over Classes classes.
type ClassPredictions = { Classes: int; Bits: Bit[][] }

/// Building blocks the built-in metrics share, written in the metric language (usable by user
/// metrics too): shape checks, per-example class scores, arg-max and binary predictions.
module MetricKit =
    [<CompiledName("ShapeText")>]
    let shapeText (shape: int[]) = String.Join(", ", shape)

    /// Raise a UserError naming the metric unless the scores have rank 2 ([n, classes]).
    [<CompiledName("RequireRank2")>]
    let requireRank2 (name: string) (s: Scores) = if s.Rank <> 2 then Errors.fail "%s: scores must have shape [n, classes], got [%s]" name (shapeText s.Shape)

    /// The class scores of example i of [n, C] scores.
    [<CompiledName("Row")>]
    let row (s: Scores) (i: int) : Score[] = Array.init (s.Dim 1) (fun c -> s.[i, c])

    /// [the prediction of these class scores is c]: the first arg-max (numpy / sklearn).
    [<CompiledName("Predicts")>]
    let predicts (scores: Score[]) (c: int) : Bit = Uni.IsArgmax(scores, c)

    /// Binary prediction of example i: [n, 2] scores predict 1 iff s[i,1] > s[i,0] (the first
    /// arg-max); [n] or [n, 1] scores iff s[i] > 0.
    [<CompiledName("PredictedPositive")>]
    let predictedPositive (name: string) (s: Scores) (i: int) : Bit =
        if s.Rank = 2 && s.Dim 1 = 2 then s.[i, 1] >. s.[i, 0]
        elif s.Rank = 1 || (s.Rank = 2 && s.Dim 1 = 1) then s.[i] >. 0.0
        else Errors.fail "%s: binary scores must have shape [n], [n, 1] or [n, 2], got [%s]" name (shapeText s.Shape)

    /// The score that ranks example i: s.[i] for [n] or [n, 1], the class-1 column for [n, 2].
    [<CompiledName("RankingScore")>]
    let rankingScore (name: string) (s: Scores) (i: int) : Score =
        if s.Rank = 2 && s.Dim 1 = 2 then s.[i, 1]
        elif s.Rank = 1 || (s.Rank = 2 && s.Dim 1 = 1) then s.[i]
        else Errors.fail "%s: scores must have shape [n], [n, 1] or [n, 2], got [%s]" name (shapeText s.Shape)

    /// The label batch has no positive (label 1).
    [<CompiledName("NoPositives")>]
    let noPositives (y: Labels) = y.Data |> Array.forall (fun v -> v <> 1L)

    /// Per-class prediction bits of [n, C] class scores (pred.[i].[c] = [example i predicts c]),
    /// or of binary [n] / [n, 1] scores read as classes {0, 1} (1 iff s > 0).
    [<CompiledName("ClassPredictions")>]
    let classPredictions (name: string) (s: Scores) : ClassPredictions =
        if s.Rank = 2 && s.Dim 1 >= 2 then
            { Classes = s.Dim 1; Bits = Array.init s.N (fun i -> let r = row s i in Array.init r.Length (predicts r)) }
        elif s.Rank = 1 || (s.Rank = 2 && s.Dim 1 = 1) then
            { Classes = 2; Bits = Array.init s.N (fun i -> let p = s.[i] >. 0.0 in [| notb p; p |]) }
        else
            Errors.fail "%s: scores must have shape [n, classes] or binary [n] / [n, 1], got [%s]" name (shapeText s.Shape)

    /// Macro average over classes of perClass(tp, predicted, support), over the classes present in
    /// the labels or the predictions (sklearn's average='macro' with its default labels).
    [<CompiledName("MacroOver")>]
    let macroOver (classes: int) (predicted: int -> Num) (support: int -> int) (perClass: int -> Num) : Num =
        let included = [ for c in 0 .. classes - 1 -> if support c > 0 then konst 1.0 else num (predicted c >. 0.5) ]
        ratio (sum [ for c in 0 .. classes - 1 -> perClass c ]) (sum included)

    /// The metric `name` in [0, 1]: the macro average (macroOver) of `perClass` (true positives, predicted count,
    /// support) over the per-class counts that `counts` gives.
    let internal macroOfCounts
        (name: string)
        (counts: string -> Scores -> Labels -> int * Num[] * Num[] * int[])
        (perClass: Num -> Num -> float -> Num)
        : Metric =
        Metric
            .Define(
                name,
                fun s y ->
                    let classes, tp, predicted, support = counts name s y
                    macroOver classes (fun c -> predicted.[c]) (fun c -> support.[c]) (fun c -> perClass tp.[c] predicted.[c] (float support.[c]))
            )
            .WithRange(0.0, 1.0)

    /// The metric `name` in [0, 1] of class scores [n, C] and labels [n] in [0, C): `body s y` after the shape checks.
    let internal classScoreMetric (name: string) (body: Scores -> Labels -> Num) : Metric =
        Metric
            .Define(
                name,
                fun s y ->
                    requireRank2 name s
                    y.RequireClasses(s.Dim 1, name)
                    body s y
            )
            .WithRange(0.0, 1.0)

    /// The ranking metric `name` in [0, 1] of binary labels {0, 1}: `body score s y`, with `score i` the score that
    /// ranks example i (rankingScore); degenerate on the label batches `degenerate` accepts.
    let internal rankingMetric (name: string) (degenerate: Labels -> bool) (body: (int -> Score) -> Scores -> Labels -> Num) : Metric =
        Metric
            .Define(
                name,
                fun s y ->
                    y.RequireClasses(2, name)
                    body (rankingScore name s) s y
            )
            .WithDegenerate(degenerate)
            .WithRange(0.0, 1.0)

    /// The indices of the examples labelled 1 and of those labelled 0, in order.
    let internal positivesAndNegatives (s: Scores) (y: Labels) =
        [ for i in 0 .. s.N - 1 do
              if y.[i] = 1 then yield i ],
        [ for i in 0 .. s.N - 1 do
              if y.[i] = 0 then yield i ]

    /// A binary metric of the counts TP, FP (as numbers in the language) and the number of positive
    /// labels: `combine tp fp positives`. Scores as `predictedPositive` reads them; labels {0, 1};
    /// degenerate (no positive label) as `noPositives`; range [0, 1].
    let internal binaryOfCounts (name: string) (combine: Num -> Num -> float -> Num) : Metric =
        Metric
            .Define(
                name,
                fun s y ->
                    y.RequireClasses(2, name)

                    let tp =
                        count
                            [ for i in 0 .. s.N - 1 do
                                  if y.[i] = 1 then yield predictedPositive name s i ]

                    let fp =
                        count
                            [ for i in 0 .. s.N - 1 do
                                  if y.[i] = 0 then yield predictedPositive name s i ]

                    let positives = y.Data |> Array.sumBy (fun v -> if v = 1L then 1.0 else 0.0)
                    combine tp fp positives
            )
            .WithDegenerate(noPositives)
            .WithRange(0.0, 1.0)
