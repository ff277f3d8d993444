namespace AutoDesign.DGGAN

open System
open System.IO
open TorchSharp
open AutoDesign.Nn
open AutoDesign.Runs
open AutoDesign.Nn.DGGAN
open AutoDesign.Metrics

/// A pluggable feature extractor for FID/IS: images [N,1,r,r] in [-1,1] → features [N,d] and class logits.
type FeatureExtractor =
    { Name: string
      Features: torch.Tensor -> torch.Tensor
      Logits: torch.Tensor -> torch.Tensor }

/// The stand-in for Inception-v3 (its weights cannot be had offline): a small CNN classifier trained here on the
/// same data set as the GAN, images fed at 32×32 (lower resolutions nearest-upsampled). Weights are cached in
/// the run folder (`feature-net.dgw`) and reused when present.
module FeatureNet =
    let side = 32

    let train (images: GanImages) (labels: int[]) (classes: int) (epochs: int) (seed: int) (device: torch.Device) (log: string -> unit) =
        torch.manual_seed(int64 seed) |> ignore
        let net = FeatureClassifier.Create(1, classes, device)
        use opt = new SafeAdam(net.parameters(), lr = 1e-3)
        let rng = Random(seed)
        let bs = 128
        for epoch in 1 .. epochs do
            let order = Array.init images.Count id |> Array.sortBy (fun _ -> rng.Next())
            let mutable loss = 0.0
            let mutable correct = 0
            for b in 0 .. (images.Count + bs - 1) / bs - 1 do
                use _ = torch.NewDisposeScope()
                let idx = order.[b * bs .. min images.Count ((b + 1) * bs) - 1]
                let x = GanImages.batch images idx device |> GanImages.upTo side
                let y = torch.tensor(idx |> Array.map (fun i -> int64 labels.[i]), device = device)
                opt.zero_grad()
                let logits = net.forward x
                let l = torch.nn.functional.cross_entropy(logits, y)
                l.backward()
                opt.step() |> ignore
                loss <- loss + l.Item() * float idx.Length
                correct <- correct + int (logits.argmax(1L).eq(y).sum().item<int64>())
            log (sprintf "feature net epoch %d: loss %.4f, train accuracy %.3f" epoch (loss / float images.Count) (float correct / float images.Count))
        net.eval()
        net

    let private save (path: string) (net: FeatureClassifier) =
        let w = NamedWeights.Capture(net)
        Atomic.writeWith path (fun tmp -> use fs = File.Create tmp in NamedWeights.Write(fs, w))

    /// Load the cached network at `path`, or train it and cache it there.
    let loadOrTrain (path: string) (images: GanImages) (labels: int[]) (classes: int) (epochs: int) (seed: int) (device: torch.Device) (log: string -> unit) =
        if File.Exists path then
            let net = FeatureClassifier.Create(1, classes, device)
            let w = try NamedWeights.Read path with :? InvalidDataException as e -> Errors.fail "%s" e.Message
            let copied = NamedWeights.Inherit(net, w)
            if copied.Count <> Seq.length (net.parameters()) then Errors.fail "feature network cache %s does not match the network (delete it to retrain)" path
            net.eval()
            net
        else
            let net = train images labels classes epochs seed device log
            save path net
            net

    let private batched (f: torch.Tensor -> torch.Tensor) (images: torch.Tensor) =
        use _ = torch.no_grad()
        let n = images.shape.[0]
        let parts =
            [ for s in 0L .. 256L .. n - 1L do
                let x = images.narrow(0L, s, min 256L (n - s)) |> GanImages.upTo side
                yield (f x).detach() ]
        torch.cat(ResizeArray parts, 0L)

    /// Classification accuracy of the network on `images` (labels `labels`), batched, no grad.
    let accuracy (net: FeatureClassifier) (images: GanImages) (labels: int[]) (device: torch.Device) =
        if images.Count = 0 then Errors.fail "feature net accuracy needs at least one image"
        let mutable correct = 0L
        for s in 0 .. 256 .. images.Count - 1 do
            use _ = torch.NewDisposeScope()
            use _ng = torch.no_grad()
            let idx = [| s .. min images.Count (s + 256) - 1 |]
            let x = GanImages.batch images idx device |> GanImages.upTo side
            let y = torch.tensor(idx |> Array.map (fun i -> int64 labels.[i]), device = device)
            correct <- correct + net.forward(x).argmax(1L).eq(y).sum().item<int64>()
        float correct / float images.Count

    let extractor (net: FeatureClassifier) =
        { Name = "feature-net (small CNN trained on the GAN's data; stand-in for Inception-v3)"
          Features = batched (fun x -> net.Features x)
          Logits = batched (fun x -> net.forward x) }

/// Inception-Score-style score: exp(E_x KL(p(y|x) ‖ p(y))) with the feature network's classifier, as the mean
/// and standard deviation over `splits` equal splits (Salimans et al. 2016).
module InceptionScore =
    let ofLogits (logits: torch.Tensor) (splits: int) =
        use _ = torch.NewDisposeScope()
        let p = torch.nn.functional.softmax(logits.to_type(torch.float64), 1L)
        let n = p.shape.[0]
        let size = n / int64 splits
        if size < 1L then Errors.fail "inception score needs at least %d samples" splits
        let scores =
            [ for s in 0 .. splits - 1 do
                let part = p.narrow(0L, int64 s * size, size)
                let py = part.mean([| 0L |], keepdim = true)
                let kl = (part * (part.Add(1e-12).log() - py.Add(1e-12).log())).sum(1L).mean()
                yield exp (kl.Item()) ]
        let mean = List.average scores
        let sd = sqrt (scores |> List.averageBy (fun s -> (s - mean) ** 2.0))
        mean, sd
