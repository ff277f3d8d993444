namespace AutoDesign.Metrics

open System
open TorchSharp
open AutoDesign.Nn
open AutoDesign.Runs

/// Mean and covariance of a feature distribution, in float64.
type GaussianStats = { Mean: float[]; Cov: float[,] }

/// Fréchet distance (FID when the features come from the feature network) as in pytorch-fid.
module Fid =
    let private toT (m: float[,]) =
        let r, c = Array2D.length1 m, Array2D.length2 m
        torch.tensor(Array.init (r * c) (fun i -> m.[i / c, i % c]) : float[]).reshape(int64 r, int64 c)

    let private ofT (t: torch.Tensor) =
        let r, c = int t.shape.[0], int t.shape.[1]
        use cpu = t.contiguous()
        let d = cpu.data<float>().ToArray()
        Array2D.init r c (fun i j -> d.[i * c + j])

    /// Principal square root of a (not necessarily symmetric) matrix via eigen-decomposition A = V·diag(λ)·V⁻¹:
    /// √A = V·diag(√λ)·V⁻¹ in complex128. Returns (real part, largest |imaginary| on the diagonal, all finite?).
    let sqrtmComplex (a: float[,]) =
        use _ = torch.NewDisposeScope()
        let t = toT a
        let struct (l, v) = torch.linalg.eig t
        let sq = torch.sqrt l
        let vinv = torch.linalg.inv v
        let s = torch.matmul(v * sq.unsqueeze(0L), vinv)
        let re = s.real
        let im = s.imag
        let finite = torch.isfinite(re).all().item<bool>() && torch.isfinite(im).all().item<bool>()
        let maxDiagImag = if finite then im.diagonal().abs().max().Item() else nan
        ofT re, maxDiagImag, finite

    /// Matrix square root (real part; rejects a large imaginary part).
    let sqrtm (a: float[,]) =
        let re, im, finite = sqrtmComplex a
        if not finite then Errors.fail "matrix square root is not finite"
        if im > 1e-3 then Errors.fail "matrix square root has an imaginary component %g" im
        re

    let private trace (m: float[,]) = Seq.sum (seq { for i in 0 .. Array2D.length1 m - 1 -> m.[i, i] })

    /// ‖μ1−μ2‖² + Tr(Σ1 + Σ2 − 2(Σ1Σ2)^{1/2}); when the square root is not finite, εI (ε = 1e-6) is added
    /// to both covariances (pytorch-fid); an imaginary diagonal part above 1e-3 raises UserError.
    let distance (s1: GaussianStats) (s2: GaussianStats) =
        let d = s1.Mean.Length
        if s2.Mean.Length <> d || Array2D.length1 s1.Cov <> d || Array2D.length1 s2.Cov <> d then
            Errors.fail "FID statistics have different dimensions (%d vs %d)" d s2.Mean.Length
        let prod (a: float[,]) (b: float[,]) = Array2D.init d d (fun i j -> Seq.sum (seq { for k in 0 .. d - 1 -> a.[i, k] * b.[k, j] }))
        let re, im, finite =
            let (re, im, fin) as r = sqrtmComplex (prod s1.Cov s2.Cov)
            if fin then r
            else
                let off (m: float[,]) = Array2D.init d d (fun i j -> m.[i, j] + (if i = j then 1e-6 else 0.0))
                sqrtmComplex (prod (off s1.Cov) (off s2.Cov))
        if not finite then Errors.fail "FID: covariance product has no finite square root even with the εI offset"
        if im > 1e-3 then Errors.fail "FID: imaginary component %g in the covariance square root" im
        let diff = Array.map2 (-) s1.Mean s2.Mean |> Array.sumBy (fun x -> x * x)
        diff + trace s1.Cov + trace s2.Cov - 2.0 * trace re

    /// Mean and unbiased covariance (N−1, as numpy.cov) of features [N,d].
    let stats (features: torch.Tensor) =
        use _ = torch.NewDisposeScope()
        let x = features.detach().cpu().to_type(torch.float64)
        let n = x.shape.[0]
        if n < 2L then Errors.fail "FID needs at least 2 samples, got %d" n
        let mu = x.mean([| 0L |])
        let xc = x - mu
        let cov = torch.matmul(xc.t(), xc).Div(float (n - 1L))
        { Mean = mu.data<float>().ToArray(); Cov = ofT cov }
