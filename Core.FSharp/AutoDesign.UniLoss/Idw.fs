namespace AutoDesign.UniLoss

open TorchSharp
open AutoDesign.Nn

/// Inverse distance weighting (thesis Eq. 3.10) on tensors, differentiable by autograd: a utility
/// for interpolating over any anchors on a device. UniLoss itself interpolates on the host
/// (HostIdw), with the same formula.
module Idw =
    /// Squared Euclidean distances [t] from u [l] to the anchor rows a [t, l]. Plain: Σ (u − a_i)²,
    /// which materialises two [t × l] temporaries (kept for backward). Efficient:
    /// ‖u‖² − 2 a·u + ‖a‖² (one matrix-vector product; backward keeps only a reference to a), with
    /// ‖a_i‖² = Σ a_i when the anchors are known to be 0/1 (`binary`), so no [t × l] temporary at all.
    [<CompiledName("SqDistances")>]
    let sqDistances (u: torch.Tensor) (a: torch.Tensor) (efficient: bool) (binary: bool) : torch.Tensor =
        use scope = torch.NewDisposeScope()

        let d2 =
            if not efficient then
                (u.unsqueeze (0L) - a).Squared().sum(1L)
            else
                let aa = if binary then a.sum (1L) else (a * a).sum(1L)
                ((u * u).sum() - a.mv(u).Mul(2.0)).Plus(aa).ClampMin(0.0)

        d2.MoveToOuterDisposeScope()

    /// t·l above which the tensor form prefers the efficient (matrix-vector) distances.
    let EfficientAbove = 1_000_000L

    /// g̃(u) = Σ_i w_i v_i / Σ_i w_i with w_i = 1 / d(u, a_i)^power (d Euclidean) over anchors
    /// a [t, l] with values v [t]; exactly v_i when u equals anchor i (then no gradient).
    /// Computed as softmax(-(power/2)·log d²)·v, which is the same ratio without overflow.
    [<CompiledName("InterpolateWith")>]
    let interpolateWith (u: torch.Tensor) (a: torch.Tensor) (v: torch.Tensor) (power: float) (efficient: bool) (binary: bool) : torch.Tensor =
        use scope = torch.NewDisposeScope()
        let d2 = sqDistances u a efficient binary
        let hit = d2.detach().Eq(0.0)

        let r =
            if hit.any().item<bool>() then
                let i = hit.to_type(torch.ScalarType.Float32).argmax().unsqueeze(0L)
                v.index_select(0L, i).sum().Plus(u.sum().Mul(0.0))
            else
                let logW = torch.log(d2).Mul(-(power / 2.0))
                (logW.softmax (0L) * v).sum()

        r.MoveToOuterDisposeScope()

    /// interpolateWith for any anchors; for t·l > 4M, d² = ‖u‖² − 2 a·u + ‖a‖².
    [<CompiledName("Interpolate")>]
    let interpolate (u: torch.Tensor) (a: torch.Tensor) (v: torch.Tensor) (power: float) : torch.Tensor =
        interpolateWith u a v power (a.shape.[0] * a.shape.[1] > 4_000_000L) false
