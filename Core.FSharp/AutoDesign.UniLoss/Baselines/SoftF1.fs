namespace AutoDesign.UniLoss.Baselines

open TorchSharp
open AutoDesign.Nn

/// The soft macro-F1 surrogate: F1 of each class from soft counts, the softmax probabilities p_ic standing
/// in for the arg-max indicators (expected counts, as in Jansche, "Maximum Expected F-Measure Training of
/// Logistic Regression Models", HLT/EMNLP 2005, and the sigmoidF1 loss of Bénédict et al., 2022):
/// TP_c = Σ_i p_ic[y_i=c], FP_c = Σ_i p_ic[y_i≠c], FN_c = Σ_i (1−p_ic)[y_i=c],
/// F1_c = 2TP_c / (2TP_c + FP_c + FN_c + ε), loss = 1 − mean_c F1_c over all C classes.
module SoftF1 =
    /// ε of the denominators (a class absent from batch and predictions then scores 0, not NaN).
    [<Literal>]
    let Epsilon = 1e-8

    /// The loss of logits [n, C] with labels [n] in [0, C).
    [<CompiledName("Loss")>]
    let loss (logits: torch.Tensor) (labels: torch.Tensor) : torch.Tensor =
        let name = "soft-F1 loss"

        if logits.dim () <> 2L || logits.shape.[1] < 2L then
            Errors.fail "%s: logits must be [n, classes >= 2], got [%s]" name (PeerChecks.shapeText logits)

        PeerChecks.finite name "logits" logits

        if labels.numel () <> logits.shape.[0] then
            Errors.fail "%s: %d rows of logits but %d labels" name logits.shape.[0] (labels.numel ())

        let c = int logits.shape.[1]
        PeerChecks.labelsIn name c labels |> ignore
        let p = logits.softmax (1L)
        let y = torch.nn.functional.one_hot(labels.reshape(-1L).to_type(torch.int64), c).to_type(p.dtype)
        let tp = p.mul(y).sum([| 0L |])
        let fp = p.mul(y.RSub(1.0)).sum([| 0L |])
        let fn = p.RSub(1.0).mul(y).sum([| 0L |])
        let f1 = tp.Mul(2.0).div(tp.Mul(2.0).Plus(fp).Plus(fn).Add(Epsilon))
        f1.mean().RSub(1.0)
