namespace AutoDesign.UniLoss

open System
open System.Collections.Generic
open System.Runtime.InteropServices
open TorchSharp
open AutoDesign.Nn
open AutoDesign.Runs

/// Everything UniLoss derives for one (shape, label vector): cached.
type internal Traced =
    { R: Refactored; Program: GProgram; Best: float32[]; GoodUnits: int[][]; NearbyUnits: int[][]; BestT: torch.Tensor }

/// Inverse distance weighting (thesis Eq. 3.10).
module Idw =
    /// Squared Euclidean distances [t] from u [l] to the anchor rows a [t, l]. Plain: Σ (u − a_i)²,
    /// which materialises two [t × l] temporaries (kept for backward). Efficient:
    /// ‖u‖² − 2 a·u + ‖a‖² (one matrix-vector product; backward keeps only a reference to a), with
    /// ‖a_i‖² = Σ a_i when the anchors are known to be 0/1 (`binary`), so no [t × l] temporary at all.
    let sqDistances (u: torch.Tensor) (a: torch.Tensor) (efficient: bool) (binary: bool) : torch.Tensor =
        use scope = torch.NewDisposeScope()
        let d2 =
            if not efficient then (u.unsqueeze(0L) - a).Squared().sum(1L)
            else
                let aa = if binary then a.sum(1L) else (a * a).sum(1L)
                ((u * u).sum() - a.mv(u).Mul(2.0)).Plus(aa).ClampMin(0.0)
        d2.MoveToOuterDisposeScope()

    /// t·l above which UniLoss uses the efficient (matrix-vector) distances.
    let EfficientAbove = 1_000_000L

    /// g̃(u) = Σ_i w_i v_i / Σ_i w_i with w_i = 1 / d(u, a_i)^power (d Euclidean) over anchors
    /// a [t, l] with values v [t]; exactly v_i when u equals anchor i (then no gradient).
    /// Computed as softmax(-(power/2)·log d²)·v, which is the same ratio without overflow.
    /// Distances by sqDistances with the given efficient / binary choice.
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
                (logW.softmax(0L) * v).sum()
        r.MoveToOuterDisposeScope()

    /// interpolateWith for any anchors; for t·l > 4M, d² = ‖u‖² − 2 a·u + ‖a‖² (one
    /// matrix-vector product, no [t × l] difference).
    let interpolate (u: torch.Tensor) (a: torch.Tensor) (v: torch.Tensor) (power: float) : torch.Tensor =
        interpolateWith u a v power (a.shape.[0] * a.shape.[1] > 4_000_000L) false

/// UniLoss (thesis Eq. 3.5–3.10) for a metric written in the metric language.
///   c = f(s)                      the traced comparisons
///   ũ = sigmoid(c / tau)          h̃ (bits outside the trained fraction are held at h(c) = [c > 0])
///   g̃(ũ) = Σ w_i g(a_i) / Σ w_i,  w_i = 1 / d(ũ, a_i)^power, d Euclidean; if some d = 0, g̃ = g(a_i)
///   loss = 1 - g̃ for a metric to maximise (all built-ins lie in [0,1]); g̃ for Metric.Minimized().
/// Anchors each step: good = b* with goodFlips units flipped, bad = uniform random bits,
/// nearby = h(c) with nearbyFlips units flipped; anchorsPerType of each (default 16 → 48).
/// nearbyCorrective: nearby anchors flip only units holding a bit where h(c) differs from b* (a wrong
///   comparison), so each nearby anchor is the current configuration with one mistake corrected; when
///   nothing is wrong, any unit. (The authors' released code does this; the thesis text says "flip one
///   bit of the current configuration".) Default false: any unit.
/// boundScores: c is computed on sigmoid-squashed scores, σ(s[k1]) − σ(s[k2]) ∈ (−1, 1), so b̃ = σ(c/τ)
///   stays in a band around 1/2 however large the scores grow (the authors' released code ends its
///   networks with a sigmoid). The sign of each comparison, hence h, g and the exact metric, is that
///   of the raw scores. Default false.
/// gradNorm: 0 (default) leaves the gradient as is; κ > 0 rescales the gradient reaching the scores to
///   Euclidean norm κ on every batch (the loss value is unchanged): the surrogate's descent direction
///   with a fixed step length, since the IDW gradient's scale moves by 10x over training.
/// Deterministic for a seed. Construct from F# or C# with named optional arguments.
[<Sealed>]
type UniLoss
    (metric: Metric,
     [<Optional; DefaultParameterValue(16)>] anchorsPerType: int,
     [<Optional; DefaultParameterValue(1.0)>] tau: float,
     [<Optional; DefaultParameterValue(1.0)>] power: float,
     [<Optional; DefaultParameterValue(1.0)>] bitFraction: float,
     [<Optional; DefaultParameterValue(0)>] seed: int,
     [<Optional; DefaultParameterValue(1)>] goodFlips: int,
     [<Optional; DefaultParameterValue(1)>] nearbyFlips: int,
     [<Optional; DefaultParameterValue(FlipUnit.Bit)>] goodUnit: FlipUnit,
     [<Optional; DefaultParameterValue(FlipUnit.Bit)>] nearbyUnit: FlipUnit,
     [<Optional; DefaultParameterValue(false)>] nearbyCorrective: bool,
     [<Optional; DefaultParameterValue(false)>] boundScores: bool,
     [<Optional; DefaultParameterValue(0.0)>] gradNorm: float) =
    do
        if isNull (box metric) then Errors.fail "UniLoss needs a metric"
        if anchorsPerType < 1 then Errors.fail "UniLoss: anchorsPerType must be at least 1, got %d" anchorsPerType
        if not (tau > 0.0) then Errors.fail "UniLoss: tau must be positive, got %g" tau
        if not (power > 0.0) then Errors.fail "UniLoss: power must be positive, got %g" power
        if not (bitFraction > 0.0 && bitFraction <= 1.0) then Errors.fail "UniLoss: bitFraction must be in (0, 1], got %g" bitFraction
        if goodFlips < 0 || nearbyFlips < 0 then Errors.fail "UniLoss: flip counts must be >= 0"
        if not (gradNorm >= 0.0) || Double.IsInfinity gradNorm then Errors.fail "UniLoss: gradNorm must be >= 0 and finite, got %g" gradNorm
    let rng = Random(seed)
    let gen = new torch.Generator(uint64 (int64 seed &&& 0x7fffffffL), torch.CPU)
    let cache = Dictionary<string, Traced>()
    // the exact metric of the last batch, a scalar tensor read lazily (no device sync per step)
    let mutable lastMetricT : torch.Tensor = torch.tensor(Single.NaN).DetachFromDisposeScope()
    let mutable lastL = 0
    // the sigmoid temperature now (a schedule may change it between steps)
    let mutable tauNow = tau

    let toLabels (labels: torch.Tensor) =
        if isNull labels then Errors.fail "%s: no labels given" metric.Name
        if labels.is_floating_point() then Errors.fail "%s: labels must be an integer tensor, got %A" metric.Name labels.dtype
        use l64 = labels.to_type(torch.ScalarType.Int64).cpu().contiguous()
        Labels(labels.shape |> Array.map int, l64.data<int64>().ToArray())

    let traced (shape: int[]) (labels: Labels) (device: torch.Device) =
        let key = String.Join(",", shape) + "#" + labels.Key + "#" + string device
        match cache.TryGetValue key with
        | true, t -> t
        | _ ->
            let r = Refactor.trace metric shape labels
            let prog = new GProgram(r, device)
            let best = Anchors.best metric r labels
            if cache.Count >= 256 then
                for v in cache.Values do (v.Program :> IDisposable).Dispose(); v.BestT.Dispose()
                cache.Clear()
            let t =
                { R = r; Program = prog; Best = best
                  GoodUnits = Anchors.units r goodUnit; NearbyUnits = Anchors.units r nearbyUnit
                  BestT = torch.tensor(best, device = device).DetachFromDisposeScope() }
            cache.[key] <- t
            t

    /// Anchors of one step, rows [good × k; bad × k; nearby × k; current configuration] (0/1 floats
    /// on the configuration's device). Draw order (good, nearby, bad) fixes the random streams.
    let sampleAnchors (tr: Traced) (hard32: torch.Tensor) (dev: torch.Device) : torch.Tensor =
        let l = tr.R.L
        let k = int64 anchorsPerType
        let isCpu = dev.``type`` = DeviceType.CPU
        // `count` copies of a base row with `flips` units flipped each. Bit flips are drawn as
        // tensors on the device (no CPU round trip); bit groups are drawn on the CPU.
        // `allowed` (bit positions, on the CPU) restricts Bit flips to those positions when non-empty.
        let flipped (baseT: torch.Tensor) (baseArr: Lazy<float32[]>) (flips: int) (unit: FlipUnit) (groups: int[][]) (allowed: torch.Tensor option) =
            match unit with
            | FlipUnit.Bit ->
                let rows = baseT.unsqueeze(0L).expand(k, int64 l)
                if flips = 0 then rows.contiguous()
                else
                    let idx =
                        match allowed with
                        | Some pos when pos.shape.[0] > 0L ->
                            let pick = torch.randint(0L, pos.shape.[0], [| k * int64 flips |], dtype = torch.ScalarType.Int64, generator = gen)
                            pos.index_select(0L, pick).reshape(k, int64 flips)
                        | _ -> torch.randint(0L, int64 l, [| k; int64 flips |], dtype = torch.ScalarType.Int64, generator = gen)
                    let idx = if isCpu then idx else idx.``to``(dev)
                    let mask = torch.zeros([| k; int64 l |], dtype = torch.ScalarType.Float32, device = dev).scatter_(1L, idx, torch.ones([| k; int64 flips |], dtype = torch.ScalarType.Float32, device = dev))
                    (rows - mask).abs_()
            | _ ->
                let a = torch.tensor(Anchors.perturb rng baseArr.Value anchorsPerType flips unit groups).reshape(k, int64 l)
                if isCpu then a else a.``to``(dev)
        let good = flipped tr.BestT (lazy tr.Best) goodFlips goodUnit tr.GoodUnits None
        let hardArr = lazy (hard32.cpu().data<float32>().ToArray())
        let nearby =
            if not nearbyCorrective then flipped hard32 hardArr nearbyFlips nearbyUnit tr.NearbyUnits None
            else
                // positions where h(c) differs from b*; groups holding at least one of them
                let wrong = hard32.ne(tr.BestT).cpu().nonzero().reshape(-1L)
                match nearbyUnit with
                | FlipUnit.Bit -> flipped hard32 hardArr nearbyFlips nearbyUnit tr.NearbyUnits (Some wrong)
                | _ ->
                    let isWrong = Array.zeroCreate<bool> l
                    for i in wrong.data<int64>().ToArray() do isWrong.[int i] <- true
                    let fixing = tr.NearbyUnits |> Array.filter (Array.exists (fun b -> isWrong.[b]))
                    flipped hard32 hardArr nearbyFlips nearbyUnit (if fixing.Length > 0 then fixing else tr.NearbyUnits) None
        let bad = torch.randint(0L, 2L, [| k; int64 l |], dtype = torch.ScalarType.Float32, generator = gen)
        let bad = if isCpu then bad else bad.``to``(dev)
        torch.cat([| good; bad; nearby; hard32.unsqueeze(0L) |], 0L)

    member _.Metric = metric
    member _.AnchorsPerType = anchorsPerType
    member _.NearbyCorrective = nearbyCorrective
    member _.BoundScores = boundScores
    member _.GradNorm = gradNorm
    /// Sigmoid temperature τ of b̃ = σ(c/τ); settable between steps (a τ schedule).
    member _.Tau
        with get () = tauNow
        and set (v: float) =
            if not (v > 0.0) || Double.IsInfinity v then Errors.fail "UniLoss: tau must be positive and finite, got %g" v
            tauNow <- v
    /// Exact metric value g(h(f(s))) on the last batch given to Forward.
    member _.LastMetric =
        float (lastMetricT.item<float32>())
    /// Number of bits (comparisons) in the last batch.
    member _.LastBits = lastL

    /// Loss for a batch: scores (any shape the metric indexes, float) and integer labels.
    member _.Forward(scores: torch.Tensor, labels: torch.Tensor) : torch.Tensor =
        if isNull scores then Errors.fail "%s: no scores given" metric.Name
        if not (scores.is_floating_point()) then Errors.fail "%s: scores must be a float tensor, got %A" metric.Name scores.dtype
        let shape = scores.shape |> Array.map int
        let y = toLabels labels
        let tr = traced shape y scores.device
        let l = tr.R.L
        lastL <- l
        if l = 0 then
            if scores.isnan().any().item<bool>() then Errors.fail "%s: the scores contain NaN (diverged training?)" metric.Name
            let v = Refactor.g tr.R [||]
            match metric.Degenerate with
            | Some d when d y ->
                lastMetricT.Dispose()
                lastMetricT <- torch.tensor(float32 v).DetachFromDisposeScope()
                let lossV = if metric.Goal = Goal.Maximize then 1.0 - v else v
                scores.sum().Mul(0.0).Add(lossV)
            | _ ->
                Errors.fail "%s: the metric makes no score comparisons on this batch of %d labels, so UniLoss has nothing to differentiate; compare scores (e.g. s.[i, y.[i]] >. s.[i, j]), or declare WithDegenerate for label batches where that is expected"
                    metric.Name y.N
        else
            use scope = torch.NewDisposeScope()
            let c = tr.Program.Comparisons(scores)
            let hard = c.detach().Gt(0.0).to_type(c.dtype)
            let cSoft = if boundScores then tr.Program.BoundedComparisons(scores) else c
            let soft = torch.sigmoid(cSoft.Div(tauNow))
            let u =
                if bitFraction >= 1.0 then soft
                else
                    let mask = Array.init l (fun _ -> rng.NextDouble() < bitFraction)
                    if not (Array.contains true mask) then mask.[rng.Next l] <- true
                    torch.where(torch.tensor(mask, device = scores.device), soft, hard)
            let anchors = sampleAnchors tr (hard.to_type(torch.ScalarType.Float32)) scores.device
            let gAll = tr.Program.Eval(anchors)
            let t = 3 * anchorsPerType
            lastMetricT.Dispose()
            lastMetricT <- gAll.narrow(0L, int64 t, 1L).clone().DetachFromDisposeScope()
            let gA = gAll.narrow(0L, 0L, int64 t).to_type(u.dtype)
            let a = anchors.narrow(0L, 0L, int64 t).to_type(u.dtype)
            // anchors are 0/1: for large t·l the distances need no [t × l] temporary (Idw.sqDistances)
            let gTilde = Idw.interpolateWith u a gA power (int64 t * int64 l > Idw.EfficientAbove) true
            let loss = if metric.Goal = Goal.Maximize then gTilde.RSub(1.0) else gTilde
            // one check per step: NaN scores make the loss NaN; then say which it was
            if loss.isnan().item<bool>() then
                if scores.isnan().any().item<bool>() then Errors.fail "%s: the scores contain NaN (diverged training?)" metric.Name
                else Errors.fail "%s: UniLoss produced NaN (scores too large for tau=%g?)" metric.Name tauNow
            let loss =
                if gradNorm > 0.0 && scores.requires_grad then
                    // same value; d/ds = κ · ∂loss/∂s / ‖∂loss/∂s‖ (nothing when the gradient is 0)
                    let gs = torch.autograd.grad(ResizeArray [ loss ], ResizeArray [ scores ]).[0]
                    let n = gs.norm()
                    let unit = torch.where(n.Gt(0.0), (gs * n.ClampMin(1e-30).reciprocal()).Mul(gradNorm), gs.zeros_like())
                    let dot = (scores * unit.detach()).sum()
                    loss.detach().Plus(dot) - dot.detach()
                else loss
            loss.MoveToOuterDisposeScope()

    /// The anchors one Forward step on these scores and labels would use (this draws from the same
    /// random streams, so it advances them): rows [good × k; bad × k; nearby × k; h(f(s))], 0/1
    /// floats [3k + 1, l]. For inspecting and testing the anchor rules.
    member _.SampleAnchors(scores: torch.Tensor, labels: torch.Tensor) : torch.Tensor =
        if isNull scores || not (scores.is_floating_point()) then Errors.fail "%s: scores must be a float tensor" metric.Name
        let tr = traced (scores.shape |> Array.map int) (toLabels labels) scores.device
        use _ng = torch.no_grad()
        use scope = torch.NewDisposeScope()
        let hard = tr.Program.Comparisons(scores).Gt(0.0).to_type(torch.ScalarType.Float32)
        (sampleAnchors tr hard scores.device).MoveToOuterDisposeScope()

    /// The best configuration b* (0/1 floats [l]) UniLoss uses for these labels and score shape.
    member _.BestConfiguration(shape: int[], labels: torch.Tensor) : float32[] =
        Array.copy (traced shape (toLabels labels) torch.CPU).Best

    /// Same as Forward (F#: loss.Invoke(s, y)).
    member u.Invoke(scores, labels) = u.Forward(scores, labels)

    interface IDisposable with
        member _.Dispose() =
            for v in cache.Values do (v.Program :> IDisposable).Dispose(); v.BestT.Dispose()
            cache.Clear()
            gen.Dispose()
            lastMetricT.Dispose()
