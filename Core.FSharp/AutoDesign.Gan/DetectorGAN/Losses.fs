namespace AutoDesign.DetectorGAN

open System
open TorchSharp
open AutoDesign.Nn
open AutoDesign.Nn.DetectorGAN
open AutoDesign.Metrics

/// The losses of §4.3.2–4.3.3.
module Losses =
    /// Least-squares GAN loss (CycleGAN's choice for Eq. 4.4): mean (D(x) − target)².
    [<CompiledName("Lsgan")>]
    let lsgan (scores: torch.Tensor) (target: float) = scores.Sub(target).Squared().mean()

    [<CompiledName("L1")>]
    let l1 (a: torch.Tensor) (b: torch.Tensor) = torch.nn.functional.l1_loss (a, b)

    /// Eq. 4.3, unrolling the detector's actual update: the step that the detector's Adam optimizer will take
    /// on this batch (real + synthetic, L_real(w) + L_syn(w)), written as a differentiable look-ahead from the
    /// optimizer's current moments and step count (SafeAdam.LookAhead) with create_graph, so that the stepped
    /// weights w' depend on the synthetic images (and so on G_X); returns L_real(w'), the real-image loss of the
    /// stepped detector. The detector's weights must be its optimizer's parameters, in the same order.
    [<CompiledName("UnrolledRealLoss")>]
    let unrolledRealLoss (det: IDetector) (optimizer: SafeAdam) (real: torch.Tensor) (realT: DetectionTargets) (syn: torch.Tensor) (synT: DetectionTargets) =
        use inner = det.Loss(real, realT).Plus(det.Loss(syn, synT))
        let ws = det.Weights |> Seq.toArray
        let grads = torch.autograd.grad (ResizeArray [ inner ], ResizeArray ws, create_graph = true, retain_graph = true)
        let stepped = optimizer.LookAhead(ResizeArray grads)
        det.Loss(real, realT, stepped)
