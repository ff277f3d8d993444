namespace AutoDesign.UniLoss.Baselines

open System
open TorchSharp
open AutoDesign.Nn

/// The AUC-margin (AUC-M) min-max loss of Yuan, Yan, Sonka and Yang, "Large-scale Robust Deep AUC
/// Maximization: A New Surrogate Loss and Empirical Studies on Medical Image Classification" (ICCV 2021),
/// reimplemented from the paper. Scores f = σ(s); p is the fraction of positives in the training set;
/// a, b (minimised) and α ≥ 0 (maximised) are the loss's own variables:
///   (1−p)·E[(f−a)²·[y=1]] + p·E[(f−b)²·[y=0]] + 2α(p(1−p)m + E[p·f·[y=0] − (1−p)·f·[y=1]]) − p(1−p)α²
/// with expectations over the batch. Train it with Pesg (margin 1.0, LibAUC's AUCMLoss default).
[<Sealed>]
type AucMarginLoss(positiveFraction: float, margin: float) =
    do
        if not (positiveFraction > 0.0 && positiveFraction < 1.0) then
            Errors.fail "AUC-margin loss: the fraction of positives must be in (0, 1), got %g" positiveFraction

        if not (margin > 0.0) || Double.IsInfinity margin then
            Errors.fail "AUC-margin loss: margin must be positive, got %g" margin

    let a = torch.zeros([| 1L |], requires_grad = true).DetachFromDisposeScope()
    let b = torch.zeros([| 1L |], requires_grad = true).DetachFromDisposeScope()
    let alpha = torch.zeros([| 1L |], requires_grad = true).DetachFromDisposeScope()

    /// Margin 1.0 (LibAUC's default).
    new(positiveFraction: float) = new AucMarginLoss(positiveFraction, 1.0)

    member _.A = a
    member _.B = b
    member _.Alpha = alpha
    member _.Margin = margin
    member _.PositiveFraction = positiveFraction

    /// The loss of raw scores [n] (or [n, 1]) with labels {0, 1}.
    member _.Forward(scores: torch.Tensor, labels: torch.Tensor) : torch.Tensor =
        let y = PeerChecks.binary "AUC-margin loss" scores labels
        let p = positiveFraction
        let f = torch.sigmoid (scores.reshape (-1L))
        let pos = torch.tensor (y |> Array.map float32, device = f.device)
        let neg = pos.RSub(1.0)
        let dev (t: torch.Tensor) = t.``to`` (f.device)
        let termPos = f.sub(dev a).Pow(2.0).mul(pos).mean().Mul(1.0 - p)
        let termNeg = f.sub(dev b).Pow(2.0).mul(neg).mean().Mul(p)
        let gap = f.mul(neg).Mul(p).sub(f.mul(pos).Mul(1.0 - p)).mean().Add(p * (1.0 - p) * margin)
        let al = dev alpha
        termPos.Plus(termNeg).Plus(al.Mul(2.0).mul(gap)).sub(al.Pow(2.0).Mul(p * (1.0 - p))).squeeze()

    interface IDisposable with
        member _.Dispose() =
            a.Dispose()
            b.Dispose()
            alpha.Dispose()

/// PESG, the proximal epoch stochastic gradient method of the same paper, for AucMarginLoss: primal
/// descent on the model's weights and a, b, v ← v − η(clip(∇v) + λ₀(v − v_ref) + λv), dual ascent
/// α ← max(0, α + η∇α). v_ref starts at the initial weights; UpdateRegularizer (at each learning-rate decay,
/// as the paper's epoch stages) moves it to the mean of the iterates since the last stage and divides η.
/// As LibAUC, gradients are clipped to ±1 and the step uses a moving average of the update direction
/// (buf ← (1−β)buf + β·d, β = momentum). Defaults are LibAUC's recommended settings for AUCMLoss:
/// η = 0.1, λ₀ (epoch decay) = 0.003, λ (weight decay) = 1e-4, momentum 0.9.
[<Sealed>]
type Pesg(parameters: seq<torch.Tensor>, loss: AucMarginLoss, lr: float, epochDecay: float, weightDecay: float, momentum: float) =
    do
        if not (lr > 0.0) || Double.IsInfinity lr then Errors.fail "PESG: lr must be positive, got %g" lr

        if not (epochDecay >= 0.0) || Double.IsInfinity epochDecay then
            Errors.fail "PESG: epochDecay must be >= 0, got %g" epochDecay

        if not (weightDecay >= 0.0) || Double.IsInfinity weightDecay then
            Errors.fail "PESG: weightDecay must be >= 0, got %g" weightDecay

        if not (momentum > 0.0 && momentum <= 1.0) then Errors.fail "PESG: momentum must be in (0, 1], got %g" momentum

    let primal = Array.append (Array.ofSeq parameters) [| loss.A; loss.B |]
    // the optimiser's own state outlives any dispose scope its caller's step runs in
    let reference = primal |> Array.map (fun p -> p.detach().clone().DetachFromDisposeScope())
    let sums = primal |> Array.map (fun p -> torch.zeros_like(p).DetachFromDisposeScope())
    let buffers: torch.Tensor option[] = Array.create primal.Length None
    let mutable eta = lr
    let mutable stageSteps = 0

    /// LibAUC's recommended settings: η = 0.1, epoch decay 0.003, weight decay 1e-4, momentum 0.9.
    new(parameters: seq<torch.Tensor>, loss: AucMarginLoss) = new Pesg(parameters, loss, 0.1, 0.003, 1e-4, 0.9)

    member _.LearningRate = eta

    member _.ZeroGrad() =
        for p in Array.append primal [| loss.Alpha |] do
            let g = p.grad
            if not (isNull g) then g.zero_ () |> ignore

    member _.Step() =
        use _ = torch.no_grad ()

        for i in 0 .. primal.Length - 1 do
            let p = primal.[i]
            let g = p.grad

            if not (isNull g) then
                use d = g.Clamp(-1.0, 1.0).Plus(p.sub(reference.[i]).Mul(epochDecay)).Plus(p.Mul(weightDecay))

                let buf =
                    match buffers.[i] with
                    | None -> d.clone().DetachFromDisposeScope()
                    | Some b -> b.copy_ (b.Mul(1.0 - momentum).Plus(d.Mul(momentum)))

                buffers.[i] <- Some buf
                p.sub_ (buf.Mul(eta)) |> ignore
                sums.[i].PlusInPlace(p) |> ignore

        let ga = loss.Alpha.grad
        if not (isNull ga) then loss.Alpha.copy_ (loss.Alpha.Plus(ga.Mul(eta)).ClampMin(0.0)) |> ignore
        stageSteps <- stageSteps + 1

    /// End of a stage: η ← η / decayFactor and v_ref ← mean of this stage's iterates.
    member _.UpdateRegularizer(decayFactor: float) =
        if not (decayFactor >= 1.0) || Double.IsInfinity decayFactor then
            Errors.fail "PESG: the decay factor must be >= 1, got %g" decayFactor

        use _ = torch.no_grad ()

        if stageSteps > 0 then
            for i in 0 .. primal.Length - 1 do
                reference.[i].copy_(sums.[i].Div(float stageSteps)) |> ignore
                sums.[i].zero_() |> ignore

        stageSteps <- 0
        eta <- eta / decayFactor

    interface IDisposable with
        member _.Dispose() =
            for t in Array.append reference sums do
                t.Dispose()

            for b in buffers do
                b |> Option.iter (fun t -> t.Dispose())
