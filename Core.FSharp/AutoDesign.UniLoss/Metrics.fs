namespace AutoDesign.UniLoss

open System

/// Built-in metrics, written in the same user-facing metric language as any user metric.
/// Ties follow the language: [a >. b] is strict, so a tie never counts as a win. Every built-in
/// declares its range; only pckh declares an Ideal (UniLoss derives the others' best scores from
/// the labels, Ideals.candidates). The metrics beyond the thesis live in ClassificationMetrics,
/// RankingMetrics and SegmentationMetrics and are re-exported here.
module Metrics =
    open AutoDesign.UniLoss.MetricKit

    /// Accuracy on scores [n, C], labels [n] in [0, C): example i is correct iff its label's score
    /// beats every other class strictly (a tie is an error). Bits: s[i,y_i] > s[i,j], j ≠ y_i.
    let accuracy: Metric =
        classScoreMetric "accuracy" (fun s y ->
            mean
                [ for i in 0 .. s.N - 1 ->
                      num (
                          all
                              [ for j in 0 .. s.Dim 1 - 1 do
                                    if j <> y.[i] then yield s.[i, y.[i]] >. s.[i, j] ]
                      ) ])

    /// Top-k accuracy: example i is correct iff fewer than k other classes score at least as high
    /// as its label (ties count against it).
    [<CompiledName("TopK")>]
    let topK (k: int) : Metric =
        if k < 1 then Errors.fail "top-k accuracy needs k >= 1, got %d" k

        classScoreMetric (sprintf "top-%d" k) (fun s y ->
            mean
                [ for i in 0 .. s.N - 1 ->
                      let beaten =
                          count
                              [ for j in 0 .. s.Dim 1 - 1 do
                                    if j <> y.[i] then yield notb (s.[i, y.[i]] >. s.[i, j]) ]

                      num (beaten <. float k) ])

    let private binary name combine = binaryOfCounts name combine

    /// Binary precision TP / (TP + FP) (0 when nothing is predicted positive, as sklearn's zero_division=0).
    let precision = binary "precision" (fun tp fp _ -> ratio tp (tp + fp))
    /// Binary recall TP / P (0 without positives).
    let recall = binary "recall" (fun tp _ p -> ratio tp (konst p))
    /// Binary F1 = 2TP / (2TP + FP + FN) (0 when the denominator is 0).
    let f1 = binary "f1" (fun tp fp p -> ratio (2.0 * tp) (2.0 * tp + fp + (p - tp)))

    /// Average precision as sklearn defines it: the mean over positives p of the precision at
    /// threshold s_p, #{pos ≥ s_p} / #{all ≥ s_p}. Because a tie counts as "at or above" (via the
    /// strict bits: s_q ≥ s_p ⟺ not [s_p > s_q]), this equals sklearn exactly, tied groups included.
    /// Bits: pos-vs-neg [s_p > s_j] and pos-vs-pos [s_p > s_q]. Scores [n] or [n,1]; for [n,2]
    /// the class-1 column ranks. 0 without positives (as sklearn).
    let averagePrecision: Metric =
        rankingMetric "ap" noPositives (fun score s y ->
            let pos, neg = positivesAndNegatives s y

            mean
                [ for p in pos ->
                      let posAbove =
                          1
                          + count
                              [ for q in pos do
                                    if q <> p then yield notb (score p >. score q) ]

                      let negAbove = count [ for j in neg -> notb (score p >. score j) ]
                      ratio posAbove (posAbove + negAbove) ])

    /// Average precision in the thesis's refactorization (§3.4.2): positive-vs-negative bits only.
    /// For positive p, n_p = #{negatives at or above s_p}; its rank among positives k_p is read from
    /// the n's (1 + #{q: n_q < n_p}, equal n's broken by index), and its precision is k_p / (k_p + n_p).
    /// With untied scores this equals sklearn's AP exactly (positives with equal n_p have no negative
    /// between them, so swapping their ranks leaves the sum unchanged); it uses P·N bits instead of
    /// P·N + P² and is the form the AP experiment trains with.
    let averagePrecisionPosNeg: Metric =
        rankingMetric "ap-posneg" noPositives (fun score s y ->
            let pos, neg = positivesAndNegatives s y
            let negAbove = pos |> List.map (fun p -> count [ for j in neg -> notb (score p >. score j) ]) |> Array.ofList

            mean
                [ for a in 0 .. negAbove.Length - 1 ->
                      let n = negAbove.[a]

                      let rank =
                          1
                          + count
                              [ for b in 0 .. negAbove.Length - 1 do
                                    if b < a then yield negAbove.[b] <=. n
                                    elif b > a then yield negAbove.[b] <. n ]

                      ratio rank (rank + n) ])

    /// Area under the ROC curve as sklearn's roc_auc_score: the mean over positive-negative pairs of
    /// [s_p > s_n] + ½[s_p = s_n] (ties count half), written as ½([s_p > s_n] + [s_p ≥ s_n]). Bits: [s_p > s_n]
    /// and [s_n > s_p]. Scores [n] or [n, 1]; for [n, 2] the class-1 column ranks. 0 without positives or
    /// without negatives (sklearn raises there).
    let auroc: Metric =
        rankingMetric "auroc" (fun y -> noPositives y || y.Data |> Array.forall (fun v -> v <> 0L)) (fun score s y ->
            let pos, neg = positivesAndNegatives s y

            if pos.IsEmpty || neg.IsEmpty then
                konst 0.0
            else
                mean
                    [ for p in pos do
                          for j in neg -> 0.5 * (num (score p >. score j) + num (score p >=. score j)) ])

    /// Pixels of an h×w heatmap within Euclidean distance `radius` of (row, col).
    [<CompiledName("InRadius")>]
    let inRadius (h: int) (w: int) (radius: float) (row: int) (col: int) =
        [| for a in 0 .. h - 1 do
               for b in 0 .. w - 1 do
                   let d2 = float ((a - row) * (a - row) + (b - col) * (b - col))
                   yield d2 <= radius * radius |]

    /// PCKh-style keypoint accuracy on heatmaps [n, H, W] with labels [n, 2] = (row, col):
    /// heatmap k is correct iff some pixel within `radius` of the joint beats every pixel outside
    /// (so its argmax lies within the radius). Bits: [s_k,pos > s_k,neg].
    [<CompiledName("Pckh")>]
    let pckh (radius: float) : Metric =
        if not (radius >= 0.0) then Errors.fail "pckh needs a radius >= 0, got %g" radius
        let name = sprintf "pckh-%g" radius

        let check (shape: int[]) (y: Labels) =
            if shape.Length <> 3 then Errors.fail "%s: scores must be heatmaps [n, H, W], got [%s]" name (String.Join(", ", shape))

            if y.Columns <> 2 then
                Errors.fail "%s: labels must be joint coordinates [n, 2] (row, col), got [%s]" name (String.Join(", ", y.Shape))

            for k in 0 .. y.N - 1 do
                if y.[k, 0] < 0 || y.[k, 0] >= shape.[1] || y.[k, 1] < 0 || y.[k, 1] >= shape.[2] then
                    Errors.fail "%s: joint (%d, %d) of example %d is outside the %dx%d heatmap" name y.[k, 0] y.[k, 1] k shape.[1] shape.[2]

        Metric
            .Define(
                name,
                fun s y ->
                    check s.Shape y
                    let h, w = s.Dim 1, s.Dim 2

                    mean
                        [ for k in 0 .. s.N - 1 ->
                              let inside = inRadius h w radius y.[k, 0] y.[k, 1]

                              let pos =
                                  [ for p in 0 .. h * w - 1 do
                                        if inside.[p] then yield p ]

                              let neg =
                                  [ for p in 0 .. h * w - 1 do
                                        if not inside.[p] then yield p ]

                              num (any [ for p in pos -> all [ for q in neg -> s.[k, p / w, p % w] >. s.[k, q / w, q % w] ] ]) ]
            )
            .WithIdeal(fun shape y ->
                check shape y

                [| for k in 0 .. shape.[0] - 1 do
                       for inside in inRadius shape.[1] shape.[2] radius y.[k, 0] y.[k, 1] -> if inside then 1.0f else 0.0f |])
            .WithRange(0.0, 1.0)

    let balancedAccuracy = ClassificationMetrics.balancedAccuracy
    let macroF1 = ClassificationMetrics.macroF1

    [<CompiledName("FBeta")>]
    let fBeta (beta: float) = ClassificationMetrics.fBeta beta

    let mcc = ClassificationMetrics.mcc

    [<CompiledName("PrecisionAtK")>]
    let precisionAtK (k: int) = RankingMetrics.precisionAtK k

    [<CompiledName("RecallAtK")>]
    let recallAtK (k: int) = RankingMetrics.recallAtK k

    [<CompiledName("NdcgAtK")>]
    let ndcgAtK (k: int) = RankingMetrics.ndcgAtK k

    let meanIoU = SegmentationMetrics.meanIoU
    let dice = SegmentationMetrics.dice

    let private known =
        "accuracy, top-K, precision, recall, f1, fbeta-B, balanced-accuracy, macro-f1, mcc, ap, ap-posneg, auroc, precision@K, recall@K, ndcg@K, mean-iou, dice, pckh-R"

    /// Names: accuracy, top-K (e.g. top-5), precision, recall, f1, fbeta-B (e.g. fbeta-2),
    /// balanced-accuracy, macro-f1, mcc, ap, ap-posneg, auroc, precision@K, recall@K, ndcg@K, mean-iou,
    /// dice, pckh-R (e.g. pckh-2).
    [<CompiledName("ByName")>]
    let byName (name: string) : Metric =
        let n = (if isNull name then "" else name.Trim().ToLowerInvariant())
        let inv = Globalization.CultureInfo.InvariantCulture

        let intAfter (prefix: string) =
            if n.StartsWith prefix then
                (match Int32.TryParse(n.Substring prefix.Length) with
                 | true, k -> Some k
                 | _ -> None)
            else
                None

        let floatAfter (prefix: string) =
            if n.StartsWith prefix then
                (match Double.TryParse(n.Substring prefix.Length, Globalization.NumberStyles.Float, inv) with
                 | true, v -> Some v
                 | _ -> None)
            else
                None

        match n with
        | "accuracy"
        | "acc" -> accuracy
        | "precision" -> precision
        | "recall" -> recall
        | "f1" -> f1
        | "balanced-accuracy" -> balancedAccuracy
        | "macro-f1" -> macroF1
        | "mcc" -> mcc
        | "mean-iou"
        | "miou" -> meanIoU
        | "dice" -> dice
        | "ap"
        | "average-precision" -> averagePrecision
        | "ap-posneg" -> averagePrecisionPosNeg
        | "auroc"
        | "roc-auc" -> auroc
        | _ ->
            match intAfter "top-", floatAfter "fbeta-", intAfter "precision@", intAfter "recall@", intAfter "ndcg@", floatAfter "pckh-" with
            | Some k, _, _, _, _, _ -> topK k
            | _, Some b, _, _, _, _ -> fBeta b
            | _, _, Some k, _, _, _ -> precisionAtK k
            | _, _, _, Some k, _, _ -> recallAtK k
            | _, _, _, _, Some k, _ -> ndcgAtK k
            | _, _, _, _, _, Some r -> pckh r
            | _ -> Errors.fail "unknown metric '%s' (known: %s)" name known
