namespace AutoDesign.DGGAN

open System.Collections.Generic
open TorchSharp
open AutoDesign.Nn.DGGAN
open AutoDesign.Metrics
open AutoDesign.Data

/// FID of a generator at its resolution against a fixed set of real images average-pooled to that resolution
/// ("FID at each resolution is computed with resized images"), both fed to the feature network at 32×32.
/// `realIndices` picks the real images; two evaluators on disjoint indices give a selection set and a fresh set.
type Evaluator(extractor: FeatureExtractor, real: Dataset, realIndices: int[], device: torch.Device) =
    let realStats = Dictionary<int, GaussianStats>()

    member _.Extractor = extractor
    member _.RealCount = realIndices.Length

    /// Real images at resolution `res`, [N,1,res,res].
    member _.RealAt(res: int) = GanImages.batch real realIndices device |> GanImages.downTo res

    member this.RealStats(res: int) =
        match realStats.TryGetValue res with
        | true, s -> s
        | _ ->
            use _ = torch.NewDisposeScope()
            let s = Fid.stats (extractor.Features.Invoke(this.RealAt res))
            realStats.[res] <- s
            s

    /// `count` samples from G (α as set on G), in batches, [count,1,R,R] on the device; the latent vectors come
    /// from a private generator seeded with `seed`.
    static member Sample (g: GrowingGenerator) (count: int) (seed: int) (device: torch.Device) =
        use _ = torch.no_grad ()
        use gen = new torch.Generator(uint64 seed)

        let parts =
            [ for s in 0..256 .. count - 1 do
                  let z = torch.randn([| int64 (min 256 (count - s)); int64 g.Layout.Config.Latent |], generator = gen).``to``(device)
                  yield (g.forward z).detach() ]

        torch.cat (ResizeArray parts, 0L)

    /// FID of a set of images (generated, or other real ones) against the real set at their resolution.
    member this.Fid(fake: torch.Tensor) =
        use _ = torch.NewDisposeScope()
        let res = int fake.shape.[3]
        Fid.distance (this.RealStats res) (Fid.stats (extractor.Features.Invoke fake))
