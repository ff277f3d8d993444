namespace AutoDesign.Metrics

open System

/// How the precision-recall curve becomes one number.
type ApInterpolation =
    /// Σ (R_k − R_{k−1}) P_k over thresholds (scikit-learn's average_precision_score).
    | Step
    /// Σ (R_k − R_{k−1}) max_{j ≥ k} P_j (PASCAL VOC 2010+ all-point interpolation, detection AP).
    | Envelope

/// Average precision: the one implementation every system's evaluation uses.
module AveragePrecision =
    /// AP of items ranked by score (descending). `positive.[i]`: item i is relevant; `totalPositives`: the
    /// relevant items in the whole set, ranked or not (recall's denominator; detection counts missed ground
    /// truth). `groupTies`: items with equal scores form one threshold (scikit-learn), otherwise each item is
    /// its own threshold in the given order (stable). No positives: NaN.
    [<CompiledName("Compute")>]
    let compute (interpolation: ApInterpolation) (groupTies: bool) (scores: float[]) (positive: bool[]) (totalPositives: int) : float =
        if scores.Length <> positive.Length then
            invalidArg "positive" (sprintf "%d scores but %d labels" scores.Length positive.Length)

        if scores |> Array.exists Double.IsNaN then invalidArg "scores" "a score is NaN"

        if totalPositives <= 0 then
            nan
        else
            let order =
                Array.init scores.Length id
                |> Array.sortWith (fun a b ->
                    match compare scores.[b] scores.[a] with
                    | 0 -> compare a b
                    | c -> c)
            // (recall, precision) at each threshold
            let points = ResizeArray<float * float>()
            let mutable tp, fp, k = 0, 0, 0

            while k < order.Length do
                let s = scores.[order.[k]]
                let mutable first = true

                while k < order.Length && (first || (groupTies && scores.[order.[k]] = s)) do
                    if positive.[order.[k]] then tp <- tp + 1 else fp <- fp + 1
                    k <- k + 1
                    first <- false

                points.Add((float tp / float totalPositives, float tp / float (tp + fp)))

            let precisions = points |> Seq.map snd |> Array.ofSeq

            let used =
                match interpolation with
                | Step -> precisions
                | Envelope ->
                    let e = Array.copy precisions

                    for i in e.Length - 2 .. -1 .. 0 do
                        e.[i] <- max e.[i] e.[i + 1]

                    e

            let mutable ap, prev = 0.0, 0.0

            points
            |> Seq.iteri (fun i (r, _) ->
                if r > prev then
                    ap <- ap + (r - prev) * used.[i]
                    prev <- r)

            ap

    /// scikit-learn's average_precision_score for binary relevance.
    [<CompiledName("OfScores")>]
    let ofScores (scores: float[]) (positive: bool[]) = compute Step true scores positive (positive |> Array.filter id |> Array.length)

/// Accumulates scores and relevance over batches; Compute gives the AP of everything added.
type AveragePrecisionMeter() =
    let scores = ResizeArray<float>()
    let positive = ResizeArray<bool>()

    member _.Add(batchScores: float seq, batchPositive: bool seq) =
        let s, p = Array.ofSeq batchScores, Array.ofSeq batchPositive
        if s.Length <> p.Length then invalidArg "batchPositive" "scores and labels differ in length"
        scores.AddRange s
        positive.AddRange p

    member _.Count = scores.Count
    member _.Compute() = AveragePrecision.ofScores (scores.ToArray()) (positive.ToArray())

    member _.Reset() =
        scores.Clear()
        positive.Clear()
