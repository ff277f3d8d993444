namespace AutoDesign.Reproduce.UniLoss.Suite

open System
open AutoDesign.Metrics

/// The suite's test metrics on plain arrays (each checked in the tests against the UniLoss built-in of the
/// same name, an independent implementation).
module SuiteMetrics =
    /// sklearn average_precision_score.
    let ap (scores: float[]) (labels: int[]) = AveragePrecision.ofScores scores (labels |> Array.map ((=) 1))

    /// sklearn roc_auc_score: the Mann-Whitney statistic with mid-ranks (ties count half); NaN without
    /// positives or negatives.
    let auroc (scores: float[]) (labels: int[]) =
        let n = scores.Length
        let order = Array.init n id |> Array.sortBy (fun i -> scores.[i])
        let ranks = Array.zeroCreate<float> n
        let mutable k = 0

        while k < n do
            let mutable e = k

            while e + 1 < n && scores.[order.[e + 1]] = scores.[order.[k]] do
                e <- e + 1

            let mid = float (k + e) / 2.0 + 1.0

            for t in k..e do
                ranks.[order.[t]] <- mid

            k <- e + 1

        let pos = labels |> Array.sumBy (fun y -> if y = 1 then 1 else 0)
        let neg = n - pos

        if pos = 0 || neg = 0 then
            nan
        else
            let sumPos = Array.fold2 (fun acc r y -> if y = 1 then acc + r else acc) 0.0 ranks labels
            (sumPos - float pos * float (pos + 1) / 2.0) / (float pos * float neg)

    let private argmax (row: float32[]) = Classification.argmax row

    /// Accuracy of arg-max predictions of [n][C] scores.
    let accuracy (scores: float32[][]) (labels: int[]) = Classification.accuracyOfScores scores labels

    /// sklearn f1_score(average='macro') of arg-max predictions.
    let macroF1 (scores: float32[][]) (labels: int[]) = Classification.macroF1 (scores |> Array.map argmax) labels

    /// sklearn ndcg_score(k) of one list (gains = relevance; tie-free scores assumed: items in decreasing score order).
    let ndcgAtK (k: int) (scores: float[]) (rel: int[]) =
        if k < 1 then Errors.fail "ndcg@k needs k >= 1, got %d" k
        let disc r = 1.0 / Math.Log2(float r + 2.0)

        let dcg =
            Array.init scores.Length id
            |> Array.sortBy (fun i -> -scores.[i])
            |> Array.truncate k
            |> Array.mapi (fun r i -> float rel.[i] * disc r)
            |> Array.sum

        let ideal = rel |> Array.sortDescending |> Array.truncate k |> Array.mapi (fun r g -> float g * disc r) |> Array.sum
        if ideal = 0.0 then 0.0 else dcg / ideal

    /// Mean IoU of pooled pixels: predicted and true class per pixel, over classes present in either.
    let meanIoU (classes: int) (predicted: int[]) (labels: int[]) =
        let inter, pred, truth = Array.zeroCreate<int> classes, Array.zeroCreate<int> classes, Array.zeroCreate<int> classes

        Array.iter2
            (fun p y ->
                pred.[p] <- pred.[p] + 1
                truth.[y] <- truth.[y] + 1
                if p = y then inter.[p] <- inter.[p] + 1)
            predicted
            labels

        let present =
            [ for c in 0 .. classes - 1 do
                  if pred.[c] + truth.[c] > 0 then yield c ]

        if present.IsEmpty then
            0.0
        else
            present |> List.averageBy (fun c -> float inter.[c] / float (pred.[c] + truth.[c] - inter.[c]))
