namespace AutoDesign.DGGAN

open System.Collections.Generic
open TorchSharp
open AutoDesign.Nn.DGGAN
open AutoDesign.Metrics

/// FID of a generator at its resolution against the real images average-pooled to that resolution
/// ("FID at each resolution is computed with resized images"), both fed to the feature network at 32×32.
type Evaluator(extractor: FeatureExtractor, real: GanImages, realCount: int, device: torch.Device) =
    let realStats = Dictionary<int, GaussianStats>()
    let realIdx = Array.init (min realCount real.Count) id

    member _.Extractor = extractor

    /// Real images at resolution `res`, [N,1,res,res].
    member _.RealAt(res: int) =
        GanImages.batch real realIdx device |> GanImages.downTo res

    member this.RealStats(res: int) =
        match realStats.TryGetValue res with
        | true, s -> s
        | _ ->
            use _ = torch.NewDisposeScope()
            let s = Fid.stats (extractor.Features(this.RealAt res))
            realStats.[res] <- s
            s

    /// `count` samples from G (α = 1), in batches, [count,1,R,R] on the device.
    static member Sample (g: GrowingGenerator) (count: int) (seed: int) (device: torch.Device) =
        use _ = torch.no_grad()
        use gen = new torch.Generator(uint64 seed)
        let parts =
            [ for s in 0 .. 256 .. count - 1 do
                let z = torch.randn([| int64 (min 256 (count - s)); int64 g.Layout.Config.Latent |], generator = gen).``to``(device)
                yield (g.forward z).detach() ]
        torch.cat(ResizeArray parts, 0L)

    member this.Fid(fake: torch.Tensor) =
        use _ = torch.NewDisposeScope()
        let res = int fake.shape.[3]
        Fid.distance (this.RealStats res) (Fid.stats (extractor.Features fake))
