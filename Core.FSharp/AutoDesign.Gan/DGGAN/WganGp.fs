namespace AutoDesign.DGGAN

open TorchSharp
open type TorchSharp.torch
open AutoDesign.Nn
open AutoDesign.Metrics

/// WGAN-GP losses as in ProgGAN: L_D = E[D(fake)] − E[D(real)] + λ·E[(‖∇D(x̂)‖₂ − 1)²] + ε_drift·E[D(real)²],
/// L_G = −E[D(fake)], with x̂ = t·real + (1−t)·fake, t ~ U[0,1] per sample.
module WganGp =
    /// Gradient-penalty weight λ.
    [<CompiledName("Lambda")>]
    let lambda = 10.0

    /// Drift weight ε_drift.
    [<CompiledName("DriftEps")>]
    let driftEps = 0.001

    /// λ·mean over the batch of (‖∂D(x̂)/∂x̂‖₂ − 1)², for given interpolation weights t [B].
    [<CompiledName("GradientPenaltyAt")>]
    let gradientPenaltyAt (critic: System.Func<Tensor, Tensor>) (real: Tensor) (fake: Tensor) (t: Tensor) (lam: float) =
        let shape = Array.append [| real.shape.[0] |] (Array.create (real.shape.Length - 1) 1L)
        let tt = t.view (shape)
        let xhat = (tt * real).Plus(tt.RSub(1.0) * fake.detach ()).detach().requires_grad_(true)
        let score = critic.Invoke xhat

        let grads =
            torch.autograd.grad (ResizeArray [ score.sum () ], ResizeArray [ xhat ], retain_graph = true, create_graph = true)

        let g = grads.[0].flatten(1)
        let norm = g.Squared().sum(1L).Add(1e-12).sqrt()
        norm.Sub(1.0).Squared().mean().Mul(lam)

    /// Critic loss with a fresh random interpolation drawn from `generator` (null: torch's default one).
    [<CompiledName("CriticLossWith")>]
    let criticLossWith (generator: torch.Generator) (critic: System.Func<Tensor, Tensor>) (real: Tensor) (fake: Tensor) =
        let dReal = critic.Invoke real
        let dFake = critic.Invoke(fake.detach ())
        let t = torch.rand([| real.shape.[0] |], generator = generator).``to``(real.device)
        let gp = gradientPenaltyAt critic real fake t lambda
        (dFake.mean () - dReal.mean ()).Plus(gp).Plus(dReal.Squared().mean().Mul(driftEps))

    /// Critic loss with a fresh random interpolation from torch's default generator.
    [<CompiledName("CriticLoss")>]
    let criticLoss (critic: System.Func<Tensor, Tensor>) (real: Tensor) (fake: Tensor) = criticLossWith null critic real fake

    [<CompiledName("GeneratorLoss")>]
    let generatorLoss (critic: System.Func<Tensor, Tensor>) (fake: Tensor) = -(critic.Invoke fake).mean()
