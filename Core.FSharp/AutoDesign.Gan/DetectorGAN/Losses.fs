namespace AutoDesign.DetectorGAN

open System
open TorchSharp
open AutoDesign.Nn
open AutoDesign.Nn.DetectorGAN
open AutoDesign.Metrics

/// The losses of §4.3.2–4.3.3.
module Losses =
    /// Least-squares GAN loss (CycleGAN's choice for Eq. 4.4): mean (D(x) − target)².
    let lsgan (scores: torch.Tensor) (target: float) =
        scores.Sub(target).Squared().mean()

    let l1 (a: torch.Tensor) (b: torch.Tensor) = torch.nn.functional.l1_loss(a, b)

    /// Eq. 4.3: one differentiable SGD step of the detector on real + synthetic images,
    /// w' = w − η ∇w (L_real(w) + L_syn(w)), taken with create_graph so that w' depends on the synthetic images
    /// (and so on G_X); returns L_real(w'), the real-image loss of the stepped detector.
    let unrolledRealLoss (det: IDetector) (eta: float) (real: torch.Tensor) (realT: DetectionTargets) (syn: torch.Tensor) (synT: DetectionTargets) =
        use inner = det.Loss(real, realT).Plus(det.Loss(syn, synT))
        let ws = det.Weights |> Seq.toArray
        let grads = torch.autograd.grad(ResizeArray [ inner ], ResizeArray ws, create_graph = true, retain_graph = true)
        let stepped = ResizeArray(Array.map2 (fun (w: torch.Tensor) (g: torch.Tensor) -> w - g.Mul(eta)) ws (Seq.toArray grads))
        let loss = det.Loss(real, realT, stepped)
        for g in grads do g.Dispose()
        loss

/// History of generated images (Shrivastava et al. 2017): once full, each new image replaces a random stored one
/// half of the time and the stored one is shown to the discriminator instead.
type HistoryPool(capacity: int, seed: int) =
    let rng = Random(seed)
    let stored = ResizeArray<torch.Tensor>()
    member _.Count = stored.Count
    /// images [N,...] (detached inside) → a batch of the same shape drawn through the pool.
    member _.Query(images: torch.Tensor) : torch.Tensor =
        let n = int images.shape.[0]
        let outs =
            [ for i in 0 .. n - 1 ->
                let img = images.narrow(0L, int64 i, 1L).detach().clone()
                if capacity <= 0 then img
                elif stored.Count < capacity then
                    stored.Add(img.clone().DetachFromDisposeScope())
                    img
                elif rng.NextDouble() < 0.5 then
                    let k = rng.Next capacity
                    let old = stored.[k]
                    stored.[k] <- img.clone().DetachFromDisposeScope()
                    let shown = old.clone()
                    old.Dispose()
                    shown
                else img ]
        torch.cat(ResizeArray outs, 0L)
    interface IDisposable with
        member _.Dispose() = for t in stored do t.Dispose()
