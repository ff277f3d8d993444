namespace AutoDesign.Metrics


/// Exact evaluation metrics for the experiments, computed on whole test sets.
module ExpMetrics =
    /// Average precision as scikit-learn's `average_precision_score`: sum over distinct score
    /// thresholds (descending) of (R_n - R_{n-1}) · P_n; tied scores form one threshold.
    let averagePrecision (scores: float[]) (positive: bool[]) : float =
        if scores.Length <> positive.Length then invalidArg "scores" "scores and labels differ in length"
        let totalPos = positive |> Array.filter id |> Array.length
        if totalPos = 0 then nan
        else
            let order = Array.init scores.Length id |> Array.sortWith (fun a b -> compare scores.[b] scores.[a])
            let mutable tp = 0
            let mutable fp = 0
            let mutable prevRecall = 0.0
            let mutable ap = 0.0
            let mutable k = 0
            while k < order.Length do
                let s = scores.[order.[k]]
                while k < order.Length && scores.[order.[k]] = s do
                    if positive.[order.[k]] then tp <- tp + 1 else fp <- fp + 1
                    k <- k + 1
                let recall = float tp / float totalPos
                let precision = float tp / float (tp + fp)
                ap <- ap + (recall - prevRecall) * precision
                prevRecall <- recall
            ap

    /// Fraction of rows whose arg-max column equals the label (ties: first maximum wins).
    let accuracy (scores: float32[][]) (labels: int[]) : float =
        let correct =
            Array.map2 (fun (row: float32[]) y ->
                let mutable best = 0
                for j in 1 .. row.Length - 1 do
                    if row.[j] > row.[best] then best <- j
                if best = y then 1 else 0) scores labels
            |> Array.sum
        float correct / float labels.Length
