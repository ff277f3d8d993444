namespace AutoDesign.UniLoss.Baselines

open System
open TorchSharp
open AutoDesign.Nn

/// The average-precision loss optimised by SOAP (Qi, Luo, Xu, Ji and Yang, "Stochastic Optimization of
/// Areas Under Precision-Recall Curves with Provable Convergence", NeurIPS 2021), reimplemented from the
/// paper. Scores f = σ(s); for a positive i of the batch and any example j, the surrogate of [f_j ≥ f_i]
/// is ℓ_ij = max(0, m − (f_i − f_j))². Each training example (by its index in the training set) keeps two
/// moving averages, u⁺_i ≈ mean_j ℓ_ij·[y_j = 1] and u_i ≈ mean_j ℓ_ij (update u ← (1−γ)u + γ·batch mean),
/// and the loss is mean_ij p_ij·ℓ_ij with the fixed weights p_ij = (u⁺_i − u_i·[y_j = 1]) / u_i², whose
/// gradient is the paper's stochastic gradient of −AP's surrogate. Defaults are LibAUC's APLoss settings
/// (margin 1.0, γ = 0.99); the paper trains it with Adam (SOAP, Adam mode, LibAUC's lr 1e-3).
[<Sealed>]
type SoapApLoss(dataLength: int, margin: float, gamma: float) =
    do
        if dataLength < 1 then Errors.fail "SOAP AP loss: the training set must hold at least one example, got %d" dataLength

        if not (margin > 0.0) || Double.IsInfinity margin then
            Errors.fail "SOAP AP loss: margin must be positive, got %g" margin

        if not (gamma > 0.0 && gamma <= 1.0) then Errors.fail "SOAP AP loss: gamma must be in (0, 1], got %g" gamma

    let uAll = torch.zeros([| int64 dataLength |]).DetachFromDisposeScope()
    let uPos = torch.zeros([| int64 dataLength |]).DetachFromDisposeScope()

    /// LibAUC's defaults: margin 1.0, γ = 0.99.
    new(dataLength: int) = new SoapApLoss(dataLength, 1.0, 0.99)

    member _.Margin = margin
    member _.Gamma = gamma
    /// The moving average u_i of every training example (a copy).
    member _.AllAverages = uAll.data<float32>().ToArray()
    /// The moving average u⁺_i of every training example (a copy).
    member _.PositiveAverages = uPos.data<float32>().ToArray()

    /// Loss of raw scores [n] (or [n, 1]) with labels {0, 1} and the examples' training-set indices [n];
    /// updates the moving averages of the batch's positives. A batch without positives gives 0 (no gradient).
    member _.Forward(scores: torch.Tensor, labels: torch.Tensor, index: torch.Tensor) : torch.Tensor =
        let y = PeerChecks.binary "SOAP AP loss" scores labels

        if index.numel () <> scores.numel () then
            Errors.fail "SOAP AP loss: %d scores but %d indices" (scores.numel ()) (index.numel ())

        let ids = PeerChecks.labelsIn "SOAP AP loss (indices)" dataLength index

        if (Array.distinct ids).Length <> ids.Length then
            Errors.fail "SOAP AP loss: a batch holds the same training index twice"

        let s = scores.reshape (-1L)

        let pos =
            [| for k in 0 .. y.Length - 1 do
                   if y.[k] = 1L then yield int64 k |]

        if pos.Length = 0 then
            s.sum().Mul(0.0)
        else
            let f = torch.sigmoid (s)
            let posT = torch.tensor (pos, device = s.device)
            let posMask = torch.tensor (y |> Array.map float32, device = s.device)
            let fp = f.index_select (0L, posT)
            let sur = (fp.unsqueeze(1L).neg().Plus(f.unsqueeze (0L)).Add(margin)).ClampMin(0.0).Pow(2.0)
            let idx = torch.tensor (pos |> Array.map (fun k -> ids.[int k]))

            let weights =
                use _ = torch.no_grad ()
                let batchAll = sur.mean([| 1L |]).cpu()
                let batchPos = sur.mul(posMask.unsqueeze (0L)).mean([| 1L |]).cpu()
                let a = uAll.index_select(0L, idx).Mul(1.0 - gamma).Plus(batchAll.Mul(gamma))
                let p = uPos.index_select(0L, idx).Mul(1.0 - gamma).Plus(batchPos.Mul(gamma))
                uAll.index_copy_ (0L, idx, a) |> ignore
                uPos.index_copy_ (0L, idx, p) |> ignore
                let a = a.``to``(s.device).unsqueeze(1L)
                p.``to``(s.device).unsqueeze(1L).sub(a.mul (posMask.unsqueeze (0L))).div(a.Pow(2.0))

            weights.mul(sur).mean()

    interface IDisposable with
        member _.Dispose() =
            uAll.Dispose()
            uPos.Dispose()
