namespace AutoDesign.UniLoss.Baselines

open System
open TorchSharp
open AutoDesign.Nn

/// ApproxNDCG (Qin, Liu and Li, "A General Approximation Framework for Direct Optimization of Information
/// Retrieval Measures", Information Retrieval 13, 2010), reimplemented from the paper: the rank of item i
/// is approximated by π̂_i = 1 + Σ_{j≠i} σ(α(s_j − s_i)), and
///   loss = 1 − mean over queries of Σ_i (2^{r_i} − 1) / log₂(1 + π̂_i) / IDCG,
/// IDCG the DCG of the ideal order (gains 2^r − 1 as in the paper). Queries without a relevant item are
/// left out (a batch of only those gives 0). α = 10 by default (temperature 0.1, TF-Ranking's default).
module ApproxNdcg =
    [<Literal>]
    let DefaultAlpha = 10.0

    /// The loss of scores [Q, L] (Q queries of L items) with graded relevance [Q, L] (integers >= 0).
    [<CompiledName("Loss")>]
    let lossWith (alpha: float) (scores: torch.Tensor) (relevance: torch.Tensor) : torch.Tensor =
        let name = "ApproxNDCG loss"
        if not (alpha > 0.0) || Double.IsInfinity alpha then Errors.fail "%s: alpha must be positive, got %g" name alpha

        if scores.dim () <> 2L then
            Errors.fail "%s: scores must be [queries, items], got [%s]" name (PeerChecks.shapeText scores)

        PeerChecks.finite name "scores" scores

        if relevance.shape <> scores.shape then
            Errors.fail "%s: relevance [%s] must have the scores' shape [%s]" name (PeerChecks.shapeText relevance) (PeerChecks.shapeText scores)

        let rel = PeerChecks.labelsIn name Int32.MaxValue relevance
        let q, l = int scores.shape.[0], int scores.shape.[1]
        let gains = rel |> Array.map (fun r -> float32 (2.0 ** float r - 1.0))

        let idcg =
            Array.init q (fun a ->
                gains.[a * l .. a * l + l - 1]
                |> Array.sortDescending
                |> Array.mapi (fun k g -> float g / Math.Log2(float k + 2.0))
                |> Array.sum)

        let keep =
            [| for a in 0 .. q - 1 do
                   if idcg.[a] > 0.0 then yield int64 a |]

        if keep.Length = 0 then
            scores.sum().Mul(0.0)
        else
            let dev = scores.device
            let keepT = torch.tensor (keep, device = dev)
            let s = scores.index_select (0L, keepT)
            let g = torch.tensor(gains, device = dev).reshape(int64 q, int64 l).index_select(0L, keepT)
            let norm = torch.tensor (keep |> Array.map (fun a -> float32 idcg.[int a]), device = dev)
            // σ(α(s_j − s_i)) at [query, i, j]; the diagonal adds σ(0) = 1/2, so π̂ = 1/2 + Σ_j
            let pairwise = torch.sigmoid (s.unsqueeze(1L).sub(s.unsqueeze (2L)).Mul(alpha))
            let rank = pairwise.sum([| 2L |]).Add(0.5)
            let dcg = g.div(torch.log2 (rank.Add(1.0))).sum([| 1L |])
            dcg.div(norm).mean().RSub(1.0)

    /// lossWith DefaultAlpha.
    [<CompiledName("Loss")>]
    let loss (scores: torch.Tensor) (relevance: torch.Tensor) = lossWith DefaultAlpha scores relevance
