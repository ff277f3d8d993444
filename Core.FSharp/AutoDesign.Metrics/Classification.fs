namespace AutoDesign.Metrics

open System

/// Counts of a binary decision against binary truth.
type Confusion =
    { TruePositives: int; FalsePositives: int; FalseNegatives: int; TrueNegatives: int }
    member c.Total = c.TruePositives + c.FalsePositives + c.FalseNegatives + c.TrueNegatives

/// Classification metrics on predicted and true class ids (and on score rows), scikit-learn's definitions:
/// a ratio with a zero denominator is 0 unless stated otherwise.
module Classification =
    /// Index of the largest value (the first one on ties).
    [<CompiledName("Argmax")>]
    let argmax (row: float32[]) =
        let mutable best = 0
        for j in 1 .. row.Length - 1 do
            if row.[j] > row.[best] then best <- j
        best

    /// Fraction of predictions equal to the labels; 0 for no examples.
    [<CompiledName("Accuracy")>]
    let accuracy (predicted: int[]) (labels: int[]) =
        if predicted.Length <> labels.Length then invalidArg "labels" (sprintf "%d predictions but %d labels" predicted.Length labels.Length)
        if predicted.Length = 0 then 0.0
        else float (Array.fold2 (fun s p l -> if p = l then s + 1 else s) 0 predicted labels) / float predicted.Length

    /// Accuracy of the arg-max of each score row.
    [<CompiledName("AccuracyOfScores")>]
    let accuracyOfScores (scores: float32[][]) (labels: int[]) = accuracy (scores |> Array.map argmax) labels

    /// Top-k accuracy: a row is right when fewer than k other classes score at least as high as its label
    /// (ties count against it).
    [<CompiledName("TopK")>]
    let topK (k: int) (scores: float32[][]) (labels: int[]) =
        if k < 1 then invalidArg "k" "k must be at least 1"
        if scores.Length = 0 then 0.0
        else
            let right =
                Array.map2 (fun (row: float32[]) y ->
                    let beaten = row |> Array.indexed |> Array.filter (fun (j, v) -> j <> y && v >= row.[y]) |> Array.length
                    if beaten < k then 1 else 0) scores labels |> Array.sum
            float right / float scores.Length

    /// Confusion counts of class `positive` against the rest.
    [<CompiledName("Confusion")>]
    let confusion (positive: int) (predicted: int[]) (labels: int[]) : Confusion =
        if predicted.Length <> labels.Length then invalidArg "labels" (sprintf "%d predictions but %d labels" predicted.Length labels.Length)
        let mutable tp, fp, fn, tn = 0, 0, 0, 0
        for i in 0 .. predicted.Length - 1 do
            match predicted.[i] = positive, labels.[i] = positive with
            | true, true -> tp <- tp + 1
            | true, false -> fp <- fp + 1
            | false, true -> fn <- fn + 1
            | false, false -> tn <- tn + 1
        { TruePositives = tp; FalsePositives = fp; FalseNegatives = fn; TrueNegatives = tn }

    let private ratio (a: int) (b: int) = if b = 0 then 0.0 else float a / float b

    [<CompiledName("Precision")>]
    let precision (c: Confusion) = ratio c.TruePositives (c.TruePositives + c.FalsePositives)
    [<CompiledName("Recall")>]
    let recall (c: Confusion) = ratio c.TruePositives (c.TruePositives + c.FalseNegatives)

    /// F-beta; `whenEmpty` is the value when there is neither a positive label nor a positive prediction
    /// (scikit-learn: 0; a D²NN mini-bag without positives that predicts none scores 1).
    [<CompiledName("FbetaWith")>]
    let fbetaWith (whenEmpty: float) (beta: float) (c: Confusion) =
        let b2 = beta * beta
        let den = (1.0 + b2) * float c.TruePositives + b2 * float c.FalseNegatives + float c.FalsePositives
        if c.TruePositives + c.FalseNegatives + c.FalsePositives = 0 then whenEmpty
        elif den = 0.0 then 0.0
        else (1.0 + b2) * float c.TruePositives / den

    [<CompiledName("F1")>]
    let f1 (c: Confusion) = fbetaWith 0.0 1.0 c

    /// Mean of the per-class recalls over the classes present in the labels.
    [<CompiledName("BalancedAccuracy")>]
    let balancedAccuracy (predicted: int[]) (labels: int[]) =
        let classes = labels |> Array.distinct
        if classes.Length = 0 then 0.0 else classes |> Array.averageBy (fun c -> recall (confusion c predicted labels))

    /// Unweighted mean of the per-class F1 over `classes` classes.
    [<CompiledName("MacroF1")>]
    let macroF1 (classes: int) (predicted: int[]) (labels: int[]) =
        if classes < 1 then invalidArg "classes" "at least one class"
        [| 0 .. classes - 1 |] |> Array.averageBy (fun c -> f1 (confusion c predicted labels))

/// Accumulates predictions and labels over batches.
type AccuracyMeter() =
    let mutable right, total = 0, 0
    member _.Add(predicted: int seq, labels: int seq) =
        let p, l = Array.ofSeq predicted, Array.ofSeq labels
        if p.Length <> l.Length then invalidArg "labels" "predictions and labels differ in length"
        right <- right + (Array.fold2 (fun s a b -> if a = b then s + 1 else s) 0 p l)
        total <- total + p.Length
    member _.Count = total
    member _.Compute() = if total = 0 then 0.0 else float right / float total
    member _.Reset() = right <- 0; total <- 0
