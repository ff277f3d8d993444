namespace AutoDesign.UniLoss.Baselines

open TorchSharp
open AutoDesign.Nn

/// The Lovász-softmax loss (Berman, Rannen Triki and Blaschko, "The Lovász-Softmax Loss: A Tractable
/// Surrogate for the Optimization of the Intersection-over-Union Measure in Neural Networks", CVPR 2018),
/// reimplemented from the paper: for each class c present in the labels, the pixel errors
/// m_i = |[y_i = c] − p_ic| (p the softmax) sorted in decreasing order are weighted by the increments of
/// the Jaccard loss along that order (the Lovász extension's gradient, jaccardIncrements), and the loss is
/// the mean over present classes of Σ_k m_(k) g_k. Pixels of the whole batch are pooled (the paper's
/// batch form).
module LovaszSoftmax =
    /// The increments g of the Jaccard loss along ground-truth indicators sorted by decreasing error:
    /// J(k) = 1 − (G − Σ_{≤k} gt) / (G + Σ_{≤k}(1 − gt)), g_1 = J(1), g_k = J(k) − J(k−1).
    [<CompiledName("JaccardIncrements")>]
    let jaccardIncrements (gtSorted: torch.Tensor) : torch.Tensor =
        let total = gtSorted.sum ()
        let inter = total.sub (gtSorted.cumsum (0L))
        let union = total.Plus(gtSorted.RSub(1.0).cumsum(0L))
        let j = inter.div(union).RSub(1.0)
        let n = j.shape.[0]

        if n <= 1L then
            j
        else
            torch.cat ([| j.narrow (0L, 0L, 1L); j.narrow(0L, 1L, n - 1L).sub(j.narrow (0L, 0L, n - 1L)) |], 0L)

    /// The loss of logits [n, C, spatial...] with label maps [n, spatial...] in [0, C).
    [<CompiledName("Loss")>]
    let loss (logits: torch.Tensor) (labels: torch.Tensor) : torch.Tensor =
        let name = "Lovasz-softmax loss"

        if logits.dim () < 2L || logits.shape.[1] < 2L then
            Errors.fail "%s: logits must be [n, classes >= 2, ...], got [%s]" name (PeerChecks.shapeText logits)

        PeerChecks.finite name "logits" logits
        let expected = Array.append [| logits.shape.[0] |] (Array.sub logits.shape 2 (logits.shape.Length - 2))

        if labels.shape <> expected then
            Errors.fail "%s: labels [%s] must be maps of shape [%s]" name (PeerChecks.shapeText labels) (System.String.Join(", ", expected))

        let c = int logits.shape.[1]
        let y = PeerChecks.labelsIn name c labels
        let p = logits.softmax(1L).movedim([| 1L |], [| -1L |]).reshape(-1L, int64 c)
        let yT = labels.reshape(-1L).to_type(torch.int64)

        let present =
            [ for k in 0 .. c - 1 do
                  if y |> Array.exists ((=) (int64 k)) then yield k ]

        let perClass =
            [ for k in present ->
                  let fg = yT.Eq(float k).to_type(p.dtype)
                  let errors = fg.sub(p.select (1L, int64 k)).abs()
                  let struct (sorted, order) = errors.sort (0L, true)
                  sorted.dot (jaccardIncrements (fg.index_select (0L, order))) ]

        torch.stack(perClass).mean()
