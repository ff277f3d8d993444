namespace AutoDesign.DGGAN

open System
open TorchSharp
open AutoDesign.Nn
open AutoDesign.Runs
open AutoDesign.Data
open AutoDesign.Nn.DGGAN
open AutoDesign.Metrics

/// A pluggable feature extractor for FID/IS: images [N,1,r,r] in [-1,1] → features [N,d] and class logits.
type FeatureExtractor =
    { Name: string
      Features: Func<torch.Tensor, torch.Tensor>
      Logits: Func<torch.Tensor, torch.Tensor> }

    /// FID between two image sets [N,1,r,r] in [-1, 1] (any r dividing 32), on this network's features.
    member x.Fid(a: torch.Tensor, b: torch.Tensor) =
        use _ = torch.NewDisposeScope()
        Fid.distance (Fid.stats (x.Features.Invoke a)) (Fid.stats (x.Features.Invoke b))

/// How the feature network is trained (the configuration of its run folder).
type FeatureNetConfig = { Data: string; TrainImages: int; HeldOutImages: int; Classes: int; Epochs: int; Batch: int; Seed: int }

type FeatureNetResult = { HeldOutAccuracy: float }

/// A trained feature network and its accuracy on the held-out images.
type TrainedFeatureNet = { Net: AutoDesign.Nn.DGGAN.FeatureClassifier; HeldOutAccuracy: float }

/// The stand-in for Inception-v3 (its weights cannot be had offline): a small CNN classifier trained here on the
/// same data set as the GAN, images fed at 32×32 (8×8 and 16×16 nearest-upsampled). Trained in its own run folder
/// (resumable; `weights.safetensors` once finished).
module FeatureNet =
    let side = 32
    let kind = "dggan.feature-net/1"
    let weightsFile = "weights.safetensors"

    /// Check that `images` can be fed to the network: [N,1,s,s] with s dividing 32 (4, 8, 16, 32). Raises a
    /// UserError naming `what` otherwise (before any feature network is trained or loaded).
    [<CompiledName("CheckImages")>]
    let checkImages (what: string) (images: torch.Tensor) =
        if images.dim () <> 4L then Errors.fail "%s: expected images [N,1,H,W], got %d dims" what (images.dim ())
        let c, h, w = images.shape.[1], int images.shape.[2], int images.shape.[3]
        if c <> 1L then Errors.fail "%s: the feature network reads grey images (1 channel), got %d channels" what c
        if h <> w then Errors.fail "%s: images are %dx%d (width x height); the feature network reads square images" what w h

        if h < 4 || side % h <> 0 then
            Errors.fail
                "%s: images are %dx%d; the feature network reads 32x32 images (4x4, 8x8 and 16x16 are upsampled); pad or resize them to 32x32 first (its training data are 28x28 digits padded to 32x32)"
                what
                w
                h

    let private parameterCount (m: torch.nn.Module) = Seq.length (m.parameters ())

    /// Load a network from a weights file (classes read from the file's head layer).
    [<CompiledName("Load")>]
    let load (path: string) (device: torch.Device) =
        let w = Safetensors.load path

        try
            let classes =
                match w.TryGetValue "head.weight" with
                | true, t when t.dim () = 2L -> int t.shape.[0]
                | _ -> Errors.fail "%s holds no feature network (no head.weight of [classes, %d])" path FeatureClassifier.FeatureDim

            let net = FeatureClassifier.Create(1, classes, device)
            let copied = NamedWeights.Inherit(net, w)

            if copied.Count <> parameterCount net then
                Errors.fail "%s does not match the feature network (%d of %d tensors fit)" path copied.Count (parameterCount net)

            net.eval ()
            net
        finally
            for t in w.Values do
                t.Dispose()

    let private requireLabels (what: string) (images: Dataset) =
        if images.Labels.Length <> images.Count then
            Errors.fail "feature net: the %s images carry %d labels for %d images" what images.Labels.Length images.Count

    /// Classification accuracy of the network on the labelled `images`, batched, no grad.
    [<CompiledName("Accuracy")>]
    let accuracy (net: FeatureClassifier) (images: Dataset) (device: torch.Device) =
        if images.Count = 0 then Errors.fail "feature net accuracy needs at least one image"
        requireLabels "evaluation" images
        let labels = images.Labels
        let mutable right = 0

        for s in 0..256 .. images.Count - 1 do
            use _ = torch.NewDisposeScope()
            use _ng = torch.no_grad ()
            let idx = [| s .. min images.Count (s + 256) - 1 |]
            let x = GanImages.batch images idx device |> GanImages.upTo side
            let y = torch.tensor (idx |> Array.map (fun i -> int64 labels.[i]), device = device)
            right <- right + Classification.correct (net.forward x) y

        float right / float images.Count

    /// Train (or resume, or load when finished) the network in `run` on the labelled `train` images: Adam 1e-3,
    /// cross-entropy, the epochs' batch orders fixed by the seed; accuracy on the labelled `heldOut` images stored
    /// as the run's result.
    [<CompiledName("TrainIn")>]
    let trainIn (run: Run) (cfg: FeatureNetConfig) (train: Dataset) (heldOut: Dataset) (device: torch.Device) (log: Action<string>) : TrainedFeatureNet =
        if run.IsFinished then
            { Net = load (run.File weightsFile) device; HeldOutAccuracy = (run.Result<FeatureNetResult>()).HeldOutAccuracy }
        else
            if train.Count <> cfg.TrainImages || heldOut.Count <> cfg.HeldOutImages then
                Errors.fail
                    "feature net: %d training and %d held-out images given, the configuration says %d and %d"
                    train.Count
                    heldOut.Count
                    cfg.TrainImages
                    cfg.HeldOutImages

            requireLabels "training" train
            requireLabels "held-out" heldOut
            let trainLabels = train.Labels
            torch.manual_seed (int64 cfg.Seed) |> ignore
            let net = FeatureClassifier.Create(1, cfg.Classes, device)
            use opt = new SafeAdam(net.parameters (), lr = 1e-3)
            let batches (epoch: int) = AutoDesign.Data.Shuffle.permutation cfg.Seed (int64 epoch) train.Count |> Array.chunkBySize cfg.Batch

            let loss (idx: int[]) =
                let x = GanImages.batch train idx device |> GanImages.upTo side
                let y = torch.tensor (idx |> Array.map (fun i -> int64 trainLabels.[i]), device = device)
                torch.nn.functional.cross_entropy (net.forward x, y)

            let rows = Fit.run run { Fit.spec "feature net" net opt loss batches cfg.Epochs with CheckpointEvery = 25 }

            for l in Rows.column "loss" rows do
                log.Invoke(sprintf "feature net epoch loss %.4f" l)

            net.eval ()
            let w = NamedWeights.Capture net
            Safetensors.save (run.File weightsFile) w

            for t in w.Values do
                t.Dispose()

            let acc = accuracy net heldOut device
            run.Finish({ HeldOutAccuracy = acc }: FeatureNetResult)
            { Net = net; HeldOutAccuracy = acc }

    /// The configuration that trains on the first 90% of the labelled `images` (batches of 128) and holds out the
    /// rest; classes: the largest label + 1.
    [<CompiledName("SplitConfig")>]
    let splitConfig (data: string) (images: Dataset) (epochs: int) (seed: int) : FeatureNetConfig =
        requireLabels "training" images
        let nTrain = images.Count * 9 / 10

        { Data = data
          TrainImages = nTrain
          HeldOutImages = images.Count - nTrain
          Classes = (images.Labels |> Array.max) + 1
          Epochs = epochs
          Batch = 128
          Seed = seed }

    /// `trainIn` on the first cfg.TrainImages of `images`, holding out the next cfg.HeldOutImages (`splitConfig`).
    [<CompiledName("TrainSplitIn")>]
    let trainSplitIn (run: Run) (cfg: FeatureNetConfig) (images: Dataset) (device: torch.Device) (log: Action<string>) =
        trainIn run cfg (GanImages.slice images 0 cfg.TrainImages) (GanImages.slice images cfg.TrainImages cfg.HeldOutImages) device log

    let private batched (f: torch.Tensor -> torch.Tensor) (images: torch.Tensor) =
        checkImages "feature network input" images
        use _ = torch.no_grad ()
        let n = images.shape.[0]

        let parts =
            [ for s in 0L .. 256L .. n - 1L do
                  let x = images.narrow (0L, s, min 256L (n - s)) |> GanImages.upTo side
                  yield (f x).detach() ]

        torch.cat (ResizeArray parts, 0L)

    [<CompiledName("Extractor")>]
    let extractor (net: FeatureClassifier) =
        { Name = "feature-net (small CNN trained on the GAN's data; stand-in for Inception-v3)"
          Features = Func<_, _>(batched (fun x -> net.Features x))
          Logits = Func<_, _>(batched (fun x -> net.forward x)) }

/// An Inception-Score-style score: its mean and sample sd over the splits.
type InceptionScoreResult = { Mean: float; Sd: float }

/// Inception-Score-style score: exp(E_x KL(p(y|x) ‖ p(y))) with the feature network's classifier, as the mean
/// and standard deviation over `splits` equal splits (Salimans et al. 2016).
module InceptionScore =
    [<CompiledName("OfLogits")>]
    let ofLogits (logits: torch.Tensor) (splits: int) =
        use _ = torch.NewDisposeScope()
        let p = torch.nn.functional.softmax (logits.to_type (torch.float64), 1L)
        let n = p.shape.[0]
        let size = n / int64 splits
        if size < 1L then Errors.fail "inception score needs at least %d samples" splits

        let scores =
            [ for s in 0 .. splits - 1 do
                  let part = p.narrow (0L, int64 s * size, size)
                  let py = part.mean ([| 0L |], keepdim = true)
                  let kl = (part * (part.Add(1e-12).log() - py.Add(1e-12).log())).sum(1L).mean()
                  yield exp (kl.Item()) ]

        let mean = List.average scores
        // the sample sd over splits, as every AutoDesign sd (the reference IS code's np.std divides by n)
        ({ Mean = mean; Sd = AutoDesign.Metrics.Stats.sd scores }: InceptionScoreResult)
