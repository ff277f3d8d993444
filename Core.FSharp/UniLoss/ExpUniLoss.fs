namespace AutoDesign.Core.UniLoss

open TorchSharp

/// Options of the experiment-side UniLoss: anchors per type (good, bad, nearby), sigmoid
/// temperature τ (b̃ = σ(c/τ)), and how many bits are flipped to make good and nearby anchors.
type ExpUniLossOptions =
    { AnchorsPerType: int
      Tau: float
      FlipBits: int
      /// true: the metric-language UniLoss of UniLoss.fs (Metrics.averagePrecision / accuracy);
      /// false: the hand-written tensor form of this module (a cross-check of the metric-language form).
      UseCore: bool }

/// UniLoss (thesis §3.3) over a refactorized metric: comparisons c (differentiable, [l]), binary
/// variables b = [c > 0] relaxed by a sigmoid, and g : {0,1}^l → R evaluated on sampled anchors
/// and interpolated by inverse distance weighting (Eq. 3.10). The loss is 1 - ẽ.
module ExpUniLoss =
    let private sc (x: float) : Scalar = Scalar.op_Implicit x

    let defaults = { AnchorsPerType = 16; Tau = 1.0; FlipBits = 1; UseCore = true }

    /// Flip `bits` random positions of each row of `a` ([t,l], 0/1 float), using `gen` (CPU).
    let private flipRows (a: torch.Tensor) (bits: int) (gen: torch.Generator) =
        let t, l = a.shape.[0], a.shape.[1]
        let pos = torch.randint(0L, l, [| t; int64 bits |], generator = gen, dtype = torch.ScalarType.Int64).``to``(a.device)
        let mask = torch.zeros_like(a).scatter_(1L, pos, torch.ones([| t; int64 bits |], device = a.device))
        (a + mask).remainder(sc 2.0)

    /// Sample the anchors for the current comparisons: good (best configuration, all ones, with
    /// bits flipped), bad (uniform random bits) and nearby (the current hard configuration with bits
    /// flipped). Returns [3K, l] float 0/1 on c's device.
    let anchors (opts: ExpUniLossOptions) (gen: torch.Generator) (hard: torch.Tensor) : torch.Tensor =
        let k = int64 opts.AnchorsPerType
        let l = hard.shape.[0]
        let dev = hard.device
        let flips = max 0 (min opts.FlipBits (int l))
        let best = torch.ones([| k; l |], device = dev)
        let good = if flips > 0 then flipRows best flips gen else best
        let bad = torch.randint(0L, 2L, [| k; l |], generator = gen, dtype = torch.ScalarType.Float32).``to``(dev)
        let cur = hard.unsqueeze(0L).expand(k, l).contiguous()
        let near = if flips > 0 then flipRows cur flips gen else cur
        torch.cat([| good; bad; near |], 0L)

    /// ẽ for comparisons `c` ([l]) and metric `g` mapping anchors [t,l] to values [t].
    let interpolated (opts: ExpUniLossOptions) (gen: torch.Generator) (g: torch.Tensor -> torch.Tensor) (c: torch.Tensor) : torch.Tensor =
        let u = torch.sigmoid(c / sc opts.Tau)                     // [l] relaxed binary variables
        let hard = c.detach().gt(sc 0.0).to_type(torch.ScalarType.Float32) // [l] current configuration
        let a = anchors opts gen hard                             // [t,l]
        let ga =                                                  // [t] metric values at anchors
            use _ = torch.no_grad()
            (g a).detach()
        let d = (u.unsqueeze(0L) - a).pow(sc 2.0).sum(1L).add(sc 1e-12).sqrt() // [t] Euclidean distances
        let w = d.reciprocal()
        (w * ga).sum() / w.sum()

    /// The loss 1 - ẽ.
    let loss (opts: ExpUniLossOptions) (gen: torch.Generator) (g: torch.Tensor -> torch.Tensor) (c: torch.Tensor) : torch.Tensor =
        (interpolated opts gen g c).neg().add(sc 1.0)

    // ---- refactorized metrics (f and g) ----

    /// AP refactorization (§3.4.2): scores s [B] (positive-class score), positives mask [B] bool.
    /// c_ij = s_i - s_j for positive i, negative j; g = AP from the pairwise bits: a positive with
    /// n negatives above it at rank k among positives has precision k/(k+n).
    /// Returns (c [P*N], g) or None when the batch lacks positives or negatives.
    let apComparisons (s: torch.Tensor) (positive: torch.Tensor) : (torch.Tensor * (torch.Tensor -> torch.Tensor)) option =
        let pos = s.masked_select(positive)
        let neg = s.masked_select(positive.logical_not())
        let p, n = pos.shape.[0], neg.shape.[0]
        if p = 0L || n = 0L then None
        else
            let c = (pos.unsqueeze(1) - neg.unsqueeze(0)).reshape(-1L) // [P*N]
            let g (a: torch.Tensor) =
                let t = a.shape.[0]
                let above = a.reshape(t, p, n).sum(2L).neg().add(sc (double n)) // [t,P] negatives ranked above
                let struct (sorted, _) = above.sort(1L)                    // ascending: best positive first
                let k = torch.arange(sc 1.0, sc (double p + 1.0), device = a.device).unsqueeze(0) // [1,P]
                (k / (k + sorted)).mean([| 1L |])                          // [t]
            Some(c, g)

    /// Accuracy refactorization (§3.3.2): scores [B,C], labels [B]; c_ij = s_{i,y_i} - s_{i,j}
    /// for j ≠ y_i; g = mean over images of AND_j b_ij.
    let accuracyComparisons (scores: torch.Tensor) (labels: torch.Tensor) : torch.Tensor * (torch.Tensor -> torch.Tensor) =
        let b, cls = scores.shape.[0], scores.shape.[1]
        let gt = scores.gather(1L, labels.view(b, 1L))                  // [B,1]
        let others = torch.ones([| b; cls |], dtype = torch.ScalarType.Bool, device = scores.device).scatter_(1L, labels.view(b, 1L), torch.zeros([| b; 1L |], dtype = torch.ScalarType.Bool, device = scores.device))
        let c = (gt - scores).masked_select(others)                    // [B*(C-1)] row-major
        let g (a: torch.Tensor) =
            let t = a.shape.[0]
            a.reshape(t, b, cls - 1L).sum(2L).eq(sc (double (cls - 1L))).to_type(torch.ScalarType.Float32).mean([| 1L |]) // [t]
        c, g
