namespace AutoDesign.Metrics

open System
open TorchSharp
open AutoDesign.Nn

/// Mean and covariance of a feature distribution, in float64.
type GaussianStats = { Mean: float[]; Cov: float[,] }

/// A Fréchet distance and how it was obtained: `Offset` is the ε added to both covariance diagonals (0 when
/// none was needed; pytorch-fid's fallback for a singular covariance product).
type FidValue = { Value: float; Offset: float }

/// Fréchet distance (FID when the features come from the feature network), as in pytorch-fid but with the
/// matrix square root taken in symmetric form: Tr((Σ1Σ2)^½) = Tr((Σ1^½ Σ2 Σ1^½)^½), both roots of symmetric
/// positive semi-definite matrices by eigendecomposition (eigh), so no complex arithmetic and no
/// imaginary parts to discard. The value is the same whatever the argument order.
module Fid =
    /// ε of pytorch-fid's fallback.
    let Epsilon = 1e-6

    /// A covariance counts as singular when its smallest eigenvalue is below this times its largest.
    let SingularTolerance = 1e-10

    let private toT (m: float[,]) =
        let r, c = Array2D.length1 m, Array2D.length2 m
        torch.tensor(Array.init (r * c) (fun i -> m.[i / c, i % c]): float[]).reshape(int64 r, int64 c)

    let private ofT (t: torch.Tensor) =
        let r, c = int t.shape.[0], int t.shape.[1]
        use cpu = t.contiguous ()
        let d = cpu.data<float>().ToArray()
        Array2D.init r c (fun i j -> d.[i * c + j])

    let private symmetrize (t: torch.Tensor) = t.Plus(t.t ()).Mul(0.5)

    /// Square root of a symmetric positive semi-definite matrix (float64 tensor): V·diag(√max(λ, 0))·Vᵀ.
    let private sqrtPsdT (t: torch.Tensor) =
        let struct (l, v) = torch.linalg.eigh (symmetrize t)
        torch.matmul (v * l.ClampMin(0.0).sqrt().unsqueeze(0L), v.t ())

    /// Square root of a symmetric positive semi-definite matrix (negative eigenvalues from rounding are
    /// taken as 0). A matrix that is not symmetric raises UserError.
    [<CompiledName("Sqrtm")>]
    let sqrtm (a: float[,]) =
        let d = Array2D.length1 a
        if Array2D.length2 a <> d then Errors.fail "sqrtm needs a square matrix, got %dx%d" d (Array2D.length2 a)

        for i in 0 .. d - 1 do
            for j in 0 .. d - 1 do
                if abs (a.[i, j] - a.[j, i]) > 1e-9 * (1.0 + abs a.[i, j]) then
                    Errors.fail "sqrtm needs a symmetric matrix ([%d,%d] = %g, [%d,%d] = %g)" i j a.[i, j] j i a.[j, i]

        use _ = torch.NewDisposeScope()
        ofT (sqrtPsdT (toT a))

    /// Tr((A·B)^½) for symmetric PSD A, B as Tr((A^½ B A^½)^½) (float64 tensors).
    let private traceSqrtProduct (a: torch.Tensor) (b: torch.Tensor) =
        let r = sqrtPsdT a
        let m = symmetrize (torch.matmul (torch.matmul (r, b), r))
        torch.linalg.eigvalsh(m).ClampMin(0.0).sqrt().sum().Item()

    /// Smallest eigenvalue over largest |eigenvalue| of a symmetric matrix (1 for a well-conditioned one).
    let private conditioning (t: torch.Tensor) =
        let l = torch.linalg.eigvalsh (symmetrize t)
        let hi = l.abs().max().Item()
        if hi = 0.0 then 0.0 else l.min().Item() / hi

    let private check (s1: GaussianStats) (s2: GaussianStats) =
        let d = s1.Mean.Length

        if
            s2.Mean.Length <> d
            || Array2D.length1 s1.Cov <> d
            || Array2D.length1 s2.Cov <> d
            || Array2D.length2 s1.Cov <> d
            || Array2D.length2 s2.Cov <> d
        then
            Errors.fail "FID statistics have different dimensions (%d vs %d)" d s2.Mean.Length

        for s in [ s1; s2 ] do
            if s.Mean |> Array.exists (fun v -> not (Double.IsFinite v)) then Errors.fail "FID statistics hold a non-finite mean"

            for i in 0 .. d - 1 do
                for j in 0 .. d - 1 do
                    if not (Double.IsFinite s.Cov.[i, j]) then Errors.fail "FID statistics hold a non-finite covariance"

    /// ‖μ1−μ2‖² + Tr(Σ1) + Tr(Σ2) − 2·Tr((Σ1Σ2)^½). When either covariance is singular (smallest eigenvalue
    /// below SingularTolerance × largest) or the trace term is not finite, ε·I (ε = 1e-6) is added to both
    /// covariances, as pytorch-fid does when its square root of a singular product is not finite. The trace term
    /// is averaged over both argument orders, so compute a b = compute b a exactly.
    [<CompiledName("Compute")>]
    let compute (s1: GaussianStats) (s2: GaussianStats) : FidValue =
        check s1 s2
        let d = s1.Mean.Length
        use _ = torch.NewDisposeScope()
        let c1, c2 = toT s1.Cov, toT s2.Cov
        let traceTerm (a: torch.Tensor) (b: torch.Tensor) = (traceSqrtProduct a b + traceSqrtProduct b a) / 2.0
        let singular = conditioning c1 < SingularTolerance || conditioning c2 < SingularTolerance
        let first = if singular then nan else traceTerm c1 c2

        let offset, tr =
            if Double.IsFinite first then
                0.0, first
            else
                let eye = torch.eye(int64 d, dtype = torch.float64).Mul(Epsilon)
                Epsilon, traceTerm (c1.Plus eye) (c2.Plus eye)

        if not (Double.IsFinite tr) then Errors.fail "FID: the covariance square root is not finite even with the ε·I offset"
        let diff = Array.map2 (fun a b -> (a - b) * (a - b)) s1.Mean s2.Mean |> Array.sum
        let trace (m: float[,]) = Seq.sum (seq { for i in 0 .. d - 1 -> m.[i, i] })
        let covTraces = (trace s1.Cov + offset * float d) + (trace s2.Cov + offset * float d)
        { Value = diff + covTraces - 2.0 * tr; Offset = offset }

    /// The Fréchet distance (see `compute`).
    [<CompiledName("Distance")>]
    let distance (s1: GaussianStats) (s2: GaussianStats) = (compute s1 s2).Value

    /// Mean and unbiased covariance (N−1, as numpy.cov) of features [N,d]. A set of N ≤ d samples cannot
    /// have a full-rank covariance: UserError.
    [<CompiledName("Stats")>]
    let stats (features: torch.Tensor) =
        use _ = torch.NewDisposeScope()
        if features.dim () <> 2L then Errors.fail "FID features must be [N,d], got %d dims" (features.dim ())
        let x = features.detach().cpu().to_type(torch.float64)
        let n, d = x.shape.[0], x.shape.[1]

        if n <= d then
            Errors.fail
                "FID needs more samples than feature dimensions for a full-rank covariance: got %d samples of %d features (use at least %d)"
                n
                d
                (d + 1L)

        let mu = x.mean ([| 0L |])
        let xc = x - mu
        let cov = torch.matmul(xc.t (), xc).Div(float (n - 1L))
        { Mean = mu.data<float>().ToArray(); Cov = ofT cov }
