namespace AutoDesign.UniLoss

open System
open AutoDesign.UniLoss.MetricKit

/// Ranking metrics of one list of scores ([n] or [n, 1]; [n, 2] ranks by column 1) against
/// relevance labels [n] (integers ≥ 0; relevant iff > 0). Rank of item i: 1 + #{j ≠ i : s_j ≥ s_i},
/// so a tie counts against every item in it (on tie-free scores this is the usual rank).
module RankingMetrics =
    let private check (name: string) (k: int) = if k < 1 then Errors.fail "%s needs k >= 1, got %d" name k

    let private relevance (name: string) (y: Labels) =
        if y.Columns <> 1 then Errors.fail "%s: labels must be one relevance per item [n], got [%s]" name (shapeText y.Shape)

        Array.init y.N (fun i ->
            let v = y.[i]
            if v < 0 then Errors.fail "%s: relevance %d of item %d is negative" name v i
            v)

    /// Bits [rank_i ≤ k] of the items with positive relevance, and the relevance.
    let private inTopK (name: string) (k: int) (s: Scores) (y: Labels) =
        let rel = relevance name y
        let scores = Array.init s.N (rankingScore name s)
        let ranks = Array.init s.N (fun i -> if rel.[i] > 0 then rankOf scores i else null)
        rel, ranks, Array.init s.N (fun i -> if rel.[i] > 0 then ranks.[i] <=. float k else Build.OfBool false)

    let private noRelevant (y: Labels) = y.Data |> Array.forall (fun v -> v <= 0L)

    /// The metric "<prefix>@k" in [0, 1], degenerate on a list without relevant items; `value` gets the
    /// relevance, the ranks and the top-k bits (inTopK).
    let private atK (prefix: string) (k: int) (value: Scores -> int[] -> Num[] -> Bit[] -> Num) : Metric =
        let name = sprintf "%s@%d" prefix k
        check name k

        Metric
            .Define(
                name,
                fun s y ->
                    let rel, ranks, top = inTopK name k s y
                    value s rel ranks top
            )
            .WithDegenerate(noRelevant)
            .WithRange(0.0, 1.0)

    /// Precision@k: #{relevant items ranked ≤ k} / k.
    [<CompiledName("PrecisionAtK")>]
    let precisionAtK (k: int) : Metric = atK "precision" k (fun _ _ _ top -> count top / float k)

    /// Recall@k: #{relevant items ranked ≤ k} / #relevant (0 without relevant items).
    [<CompiledName("RecallAtK")>]
    let recallAtK (k: int) : Metric =
        atK "recall" k (fun _ rel _ top -> ratio (count top) (konst (rel |> Array.sumBy (fun r -> if r > 0 then 1.0 else 0.0))))

    /// NDCG@k (sklearn ndcg_score with k, gains = relevance): Σ_{rank_i ≤ k} rel_i / log₂(1 + rank_i)
    /// divided by the same sum for the best order (0 when that is 0).
    [<CompiledName("NdcgAtK")>]
    let ndcgAtK (k: int) : Metric =
        atK "ndcg" k (fun s rel ranks top ->
            let dcg =
                sum
                    [ for i in 0 .. s.N - 1 do
                          if rel.[i] > 0 then yield num top.[i] * (float rel.[i] * Math.Log 2.0 / log (ranks.[i] + 1.0)) ]

            let ideal =
                rel
                |> Array.sortDescending
                |> Array.truncate k
                |> Array.mapi (fun r g -> float g / Math.Log2(float r + 2.0))
                |> Array.sum

            ratio dcg (konst ideal))
