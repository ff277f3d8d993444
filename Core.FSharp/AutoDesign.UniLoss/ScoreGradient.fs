namespace AutoDesign.UniLoss

open System

/// ScaleRule.Running's state: the sum and count of the raw score-gradient norms so far.
type internal RunningNorm() =
    member val Sum = 0.0 with get, set
    member val Count = 0L with get, set

/// The host arithmetic of one UniLoss step around the IDW interpolation: the comparisons c = f(s), the hard
/// bits h(c) and the soft bits σ(c/τ) before it; the chain rule from ∂g̃/∂ũ to the scores and the score
/// gradient's length (UniLossOptions.GradNorm, AutoScale with ScaleRule) after it.
module internal ScoreGradient =
    let private sigm (x: float) = 1.0 / (1.0 + Math.Exp(-x))

    /// (c, h(c), ũ): the comparisons on the host scores, their hard bits and the soft bits σ(c/τ)
    /// (σ(x1) − σ(x2 + θ) in place of c under BoundScores).
    let softBits (o: UniLossOptions) (r: Refactored) (host: float32[]) (tau: float) =
        let l = r.L
        let c = Array.zeroCreate<float32> l
        let hard = Array.zeroCreate<float32> l

        for e in 0 .. l - 1 do
            c.[e] <- Refactor.compare r.Comparisons.[e] host
            hard.[e] <- if c.[e] > 0.0f then 1.0f else 0.0f

        let cSoft =
            if not o.BoundScores then
                Array.map float c
            else
                r.Comparisons
                |> Array.map (fun cp ->
                    let x1 = if cp.K1 >= 0 then float host.[cp.K1] else 0.0
                    let x2 = if cp.K2 >= 0 then float host.[cp.K2] else 0.0
                    sigm x1 - sigm (x2 + float (float32 cp.Offset)))

        hard, cSoft |> Array.map (fun x -> sigm (x / tau))

    /// The loss's gradient to the host scores from ∂g̃/∂ũ (gradU), through the soft bits u of the trained
    /// bits (trained null: all); sign −1 for a metric to maximise (loss 1 − g̃).
    let toScores (o: UniLossOptions) (r: Refactored) (host: float32[]) (u: float[]) (gradU: float[]) (trained: bool[]) (tau: float) (sign: float) =
        let gs = Array.zeroCreate<float> host.Length

        for e in 0 .. r.L - 1 do
            if isNull trained || trained.[e] then
                // d loss / d c_soft = sign · ∂g̃/∂u · σ'(c/τ)/τ
                let dc = sign * gradU.[e] * u.[e] * (1.0 - u.[e]) / tau
                let cp = r.Comparisons.[e]

                if o.BoundScores then
                    if cp.K1 >= 0 then (let s1 = sigm (float host.[cp.K1]) in gs.[cp.K1] <- gs.[cp.K1] + dc * s1 * (1.0 - s1))

                    if cp.K2 >= 0 then
                        (let s2 = sigm (float host.[cp.K2] + float (float32 cp.Offset)) in gs.[cp.K2] <- gs.[cp.K2] - dc * s2 * (1.0 - s2))
                else
                    if cp.K1 >= 0 then gs.[cp.K1] <- gs.[cp.K1] + dc
                    if cp.K2 >= 0 then gs.[cp.K2] <- gs.[cp.K2] - dc

        gs

    /// Give the score gradient gs of a batch of n examples its length: fixed (GradNorm), automatic
    /// (AutoScale, by ScaleRule; Running updates `running`) or raw (both 0).
    let rescale (o: UniLossOptions) (n: int) (gs: float[]) (running: RunningNorm) =
        let toNorm (from: int) (count: int) (target: float) =
            let mutable sq = 0.0

            for i in from .. from + count - 1 do
                sq <- sq + gs.[i] * gs.[i]

            let norm = sqrt sq

            if norm > 0.0 then
                for i in from .. from + count - 1 do
                    gs.[i] <- gs.[i] * target / norm

        if o.GradNorm > 0.0 then
            toNorm 0 gs.Length o.GradNorm
        elif o.AutoScale > 0.0 then
            match o.ScaleRule with
            | ScaleRule.Example when gs.Length % n = 0 ->
                let per = gs.Length / n

                for i in 0 .. n - 1 do
                    toNorm (i * per) per (o.AutoScale / float n)
            | ScaleRule.Running ->
                let norm = sqrt (Array.sumBy (fun x -> x * x) gs)

                if norm > 0.0 then
                    running.Sum <- running.Sum + norm
                    running.Count <- running.Count + 1L
                    let f = o.AutoScale / (sqrt (float n) * (running.Sum / float running.Count))

                    for i in 0 .. gs.Length - 1 do
                        gs.[i] <- gs.[i] * f
            | _ -> toNorm 0 gs.Length (o.AutoScale / sqrt (float n))
