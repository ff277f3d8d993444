namespace AutoDesign.Metrics

open System

/// Counts of a binary decision against binary truth.
type Confusion =
    { TruePositives: int
      FalsePositives: int
      FalseNegatives: int
      TrueNegatives: int }

    member c.Total = c.TruePositives + c.FalsePositives + c.FalseNegatives + c.TrueNegatives

/// Classification metrics on predicted and true class ids (and on score rows), scikit-learn's definitions
/// with two rules written down once (docs/metrics.md):
///  * a score row predicts the class whose score is strictly the largest; a row whose largest score is
///    tied predicts no class (-1), which is never correct and never a positive. So the accuracy of scores
///    equals top-1 accuracy and UniLoss's accuracy (a tie counts against the label);
///  * F1 (and F-beta) of a set with no positive label and no positive prediction is 1 (every decision in it is
///    right; scikit-learn's zero_division=1); any other ratio with a zero denominator is 0.
module Classification =
    /// The class a score row predicts: the index of the strictly largest value, -1 when the largest is tied.
    [<CompiledName("Argmax")>]
    let argmax (row: float32[]) =
        if row.Length = 0 then
            -1
        else
            let mutable best, tied = 0, false

            for j in 1 .. row.Length - 1 do
                if row.[j] > row.[best] then
                    best <- j
                    tied <- false
                elif row.[j] = row.[best] then
                    tied <- true

            if tied then -1 else best

    /// The predicted class of each row of scores [n, C] (`argmax`), computed on the host.
    [<CompiledName("Predictions")>]
    let predictions (scores: TorchSharp.torch.Tensor) : int[] =
        if scores.dim () <> 2L then
            invalidArg "scores" (sprintf "scores must be [n, classes], got %d dimensions" (scores.dim ()))

        let c = int scores.shape.[1]
        use host = scores.detach().cpu().to_type(TorchSharp.torch.ScalarType.Float32).contiguous()
        let v = host.data<float32>().ToArray()
        Array.init (int scores.shape.[0]) (fun i -> argmax v.[i * c .. i * c + c - 1])

    let private weightOf (weights: float[]) = if isNull weights || weights.Length = 0 then (fun (_: int) -> 1.0) else (fun i -> weights.[i])

    let private sameLength (predicted: int[]) (labels: int[]) =
        if predicted.Length <> labels.Length then
            invalidArg "labels" (sprintf "%d predictions but %d labels" predicted.Length labels.Length)

    /// Weighted fraction of predictions equal to the labels, a weight per example (null or empty: all 1);
    /// 0 for no examples or a zero total weight.
    [<CompiledName("WeightedAccuracy")>]
    let weightedAccuracy (weights: float[]) (predicted: int[]) (labels: int[]) =
        sameLength predicted labels
        let w = weightOf weights
        let mutable right, total = 0.0, 0.0

        for i in 0 .. predicted.Length - 1 do
            total <- total + w i
            if predicted.[i] = labels.[i] then right <- right + w i

        if total = 0.0 then 0.0 else right / total

    /// Fraction of predictions equal to the labels; 0 for no examples.
    [<CompiledName("Accuracy")>]
    let accuracy (predicted: int[]) (labels: int[]) = weightedAccuracy null predicted labels

    /// Accuracy of the predictions (`argmax`) of score rows: a row is right when its label's score is strictly
    /// above every other score.
    [<CompiledName("AccuracyOfScores")>]
    let accuracyOfScores (scores: float32[][]) (labels: int[]) = accuracy (scores |> Array.map argmax) labels

    /// Number of rows of scores [n, C] whose prediction (`argmax`) equals the label (labels [n]).
    [<CompiledName("Correct")>]
    let correct (scores: TorchSharp.torch.Tensor) (labels: TorchSharp.torch.Tensor) =
        use host = labels.detach().cpu().to_type(TorchSharp.torch.ScalarType.Int64)
        let y = host.data<int64>().ToArray()
        let p = predictions scores
        if p.Length <> y.Length then invalidArg "labels" (sprintf "%d score rows but %d labels" p.Length y.Length)
        Array.fold2 (fun s a b -> if int64 a = b then s + 1 else s) 0 p y

    /// Top-k accuracy: a row is right when fewer than k other classes score at least as high as its label
    /// (ties count against it; top-1 equals `accuracyOfScores`).
    [<CompiledName("TopK")>]
    let topK (k: int) (scores: float32[][]) (labels: int[]) =
        if k < 1 then invalidArg "k" "k must be at least 1"

        if scores.Length = 0 then
            0.0
        else
            let right =
                Array.map2
                    (fun (row: float32[]) y ->
                        let beaten = row |> Array.indexed |> Array.filter (fun (j, v) -> j <> y && v >= row.[y]) |> Array.length
                        if beaten < k then 1 else 0)
                    scores
                    labels
                |> Array.sum

            float right / float scores.Length

    /// Confusion counts of class `positive` against the rest.
    [<CompiledName("Confusion")>]
    let confusion (positive: int) (predicted: int[]) (labels: int[]) : Confusion =
        sameLength predicted labels
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

    /// F-beta of (possibly weighted) counts; 1 when there is neither a positive label nor a positive prediction.
    let private fbetaOfCounts (beta: float) (tp: float) (fp: float) (fn: float) =
        let b2 = beta * beta
        if tp + fn + fp = 0.0 then 1.0 else (1.0 + b2) * tp / ((1.0 + b2) * tp + b2 * fn + fp)

    /// F-beta of class counts; 1 for a set with no positive label and no positive prediction.
    [<CompiledName("Fbeta")>]
    let fbeta (beta: float) (c: Confusion) =
        if not (beta > 0.0) then invalidArg "beta" (sprintf "beta must be positive, got %g" beta)
        fbetaOfCounts beta (float c.TruePositives) (float c.FalsePositives) (float c.FalseNegatives)

    [<CompiledName("F1")>]
    let f1 (c: Confusion) = fbeta 1.0 c

    /// F1 of class `positive` with a weight per example (null or empty: all 1): true/false positives and false
    /// negatives are weighted counts; 1 for a set with no positive label and no positive prediction.
    [<CompiledName("WeightedF1")>]
    let weightedF1 (weights: float[]) (positive: int) (predicted: int[]) (labels: int[]) =
        sameLength predicted labels
        let w = weightOf weights
        let mutable tp, fp, fn = 0.0, 0.0, 0.0

        for i in 0 .. predicted.Length - 1 do
            match predicted.[i] = positive, labels.[i] = positive with
            | true, true -> tp <- tp + w i
            | true, false -> fp <- fp + w i
            | false, true -> fn <- fn + w i
            | false, false -> ()

        fbetaOfCounts 1.0 tp fp fn

    /// Mean of the per-class recalls over the classes present in the labels.
    [<CompiledName("BalancedAccuracy")>]
    let balancedAccuracy (predicted: int[]) (labels: int[]) =
        let classes = labels |> Array.distinct
        if classes.Length = 0 then 0.0 else classes |> Array.averageBy (fun c -> recall (confusion c predicted labels))

    /// Unweighted mean of the per-class F1 over the classes present in the labels or the predictions
    /// (scikit-learn's average='macro'; -1, no prediction, is no class); 0 for no examples.
    [<CompiledName("MacroF1")>]
    let macroF1 (predicted: int[]) (labels: int[]) =
        let classes = Array.append predicted labels |> Array.filter (fun c -> c >= 0) |> Array.distinct
        if classes.Length = 0 then 0.0 else classes |> Array.averageBy (fun c -> f1 (confusion c predicted labels))
