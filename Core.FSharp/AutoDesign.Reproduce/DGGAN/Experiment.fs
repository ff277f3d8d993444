namespace AutoDesign.Reproduce.DGGAN

open System
open System.IO
open TorchSharp
open AutoDesign.Runs
open AutoDesign.Data
open AutoDesign.Reproduce.Data
open AutoDesign.Nn.DGGAN
open AutoDesign.DGGAN

/// One DGGAN experiment (the configuration of its run folder): data, feature network, ProgGAN baseline, search,
/// final training stage, evaluation.
type DgganSettings =
    {
        Data: string
        Quick: bool
        Search: SearchSettings
        Train: TrainSettings
        /// Iterations of the final training stage, for the chosen architecture and for ProgGAN alike.
        FinalIterations: int
        /// Decay of the EMA of G's weights kept through the final stages for evaluation, both arms alike (0: none).
        FinalEma: float
        /// Iterations of a longer final stage continuing the final stage's models, both arms alike (0: none).
        LongerFinalIterations: int
        TrainImages: int
        FeatureEpochs: int
        /// Real images in the selection set; the fresh set is the next max(RealEval, FinalSamples) images.
        RealEval: int
        /// Samples for the final metrics (FID, SWD, IS) of the final models.
        FinalSamples: int
    }

module DgganExperiment =
    let kind = "dggan.search/4"

    /// --quick: small nets at 8×8 only (no upscale; the `--final-res 16` override grows to 16×16), K = 2, p = 0.2
    /// (scaled down from the thesis's K = 8, p = 0.2 so that a seed costs about a minute and a half of CPU on 2 cores),
    /// 80 iterations of batch 16 per candidate, a final stage of 200 iterations and a longer one of 200 more, EMA decay
    /// 0.99, 3000 images.
    let quick (data: string) (seed: int) =
        { Data = data
          Quick = true
          Search =
            { Config = GanConfig(32, 16, 1, 8)
              Kernels = [ 3; 7 ]
              Filters = [ 8; 16 ]
              FinalResolution = 8
              Depth = 2
              TopK = 2
              P = 0.2
              Seed = seed }
          Train = { Iterations = 80; BatchSize = 16; LearningRate = 1e-3; EvalSamples = 250; CheckpointEvery = 100; EmaDecay = 0.0 }
          FinalIterations = 200
          FinalEma = 0.99
          LongerFinalIterations = 200
          TrainImages = 3000
          FeatureEpochs = 2
          RealEval = 500
          FinalSamples = 500 }

    /// Full config (thesis-like search shape K = 8, p = 0.2; CPU-sized nets: filters {16,32,64} instead of {32…1024}).
    let full (data: string) (seed: int) =
        { Data = data
          Quick = false
          Search =
            { Config = GanConfig(128, 64, 1, 8)
              Kernels = [ 3; 7 ]
              Filters = [ 16; 32; 64 ]
              FinalResolution = 32
              Depth = 8
              TopK = 8
              P = 0.2
              Seed = seed }
          Train = { Iterations = 2000; BatchSize = 64; LearningRate = 1e-3; EvalSamples = 5000; CheckpointEvery = 500; EmaDecay = 0.0 }
          FinalIterations = 10000
          FinalEma = 0.999
          LongerFinalIterations = 10000
          TrainImages = Int32.MaxValue
          FeatureEpochs = 5
          RealEval = 5000
          FinalSamples = 5000 }

    /// A seconds-long config for tests: `quick` with tiny nets, 8 → 16, 3 iterations per candidate, 300 images.
    let tiny (data: string) (seed: int) =
        let q = quick data seed

        { q with
            Search =
                { q.Search with
                    Config = GanConfig(8, 4, 1, 8)
                    Kernels = [ 3 ]
                    Filters = [ 4 ]
                    FinalResolution = 16
                    Depth = 3
                    P = 0.5 }
            Train = { q.Train with Iterations = 3; BatchSize = 4; EvalSamples = 70; CheckpointEvery = 1 }
            FinalIterations = 2
            FinalEma = 0.9
            LongerFinalIterations = 2
            TrainImages = 300
            FeatureEpochs = 1
            RealEval = 70
            FinalSamples = 70 }

    /// Override the budget knobs (CLI --iterations/--final-iterations/--final-res/--topk/--p); the search depth
    /// follows the final resolution (the ProgGAN schedule's length) so the best route and the baseline get the
    /// same training.
    let withOverrides (iterations: int option) (finalIterations: int option) (finalRes: int option) (topK: int option) (p: float option) (s: DgganSettings) =
        let fr = defaultArg finalRes s.Search.FinalResolution
        if fr < 8 || fr &&& (fr - 1) <> 0 || fr > 32 then Errors.fail "final resolution must be 8, 16 or 32 (got %d)" fr
        let k = defaultArg topK s.Search.TopK
        if k < 1 then Errors.fail "top-K must be at least 1 (got %d)" k
        let pp = defaultArg p s.Search.P
        if not (pp > 0.0 && pp <= 1.0) then Errors.fail "p must be in (0, 1] (got %g)" pp
        let it = defaultArg iterations s.Train.Iterations
        if it < 1 then Errors.fail "iterations must be at least 1 (got %d)" it
        let fi = defaultArg finalIterations s.FinalIterations
        if fi < 0 then Errors.fail "final iterations must be at least 0 (got %d)" fi
        let depth = (Architecture.progGanSchedule s.Search.Config fr).Count

        { s with
            Search = { s.Search with FinalResolution = fr; TopK = k; P = pp; Depth = depth }
            Train = { s.Train with Iterations = it }
            FinalIterations = fi }

    /// The labelled images, padded to 32×32: the first TrainImages of a fixed permutation of the data set (the same
    /// for every run).
    let loadImages (s: DgganSettings) : Dataset =
        let ds = Datasets.load s.Data
        // The embedded MNIST is stored digit by digit: take a fixed random permutation (same for every run)
        // before cutting the training subset and the real evaluation sets, so all classes are present.
        let order = AutoDesign.Data.Shuffle.permutation 20261125 0L ds.Count
        let n = min ds.Count s.TrainImages
        let hw = ds.Height * ds.Width
        let px = Array.zeroCreate<float32>(n * hw)

        for k in 0 .. n - 1 do
            Array.blit ds.Images (order.[k] * hw) px (k * hw) hw

        let labels = Array.init n (fun k -> ds.Labels.[order.[k]])
        GanImages.pad 32 { ds with Images = px; Labels = labels; Count = n }

    /// Index ranges of the selection real set and the disjoint fresh real set.
    let realSets (s: DgganSettings) (count: int) =
        let sel = min s.RealEval count
        let fresh = min (max s.RealEval s.FinalSamples) (count - sel)

        if sel < 2 || fresh < 2 then
            Errors.fail "dggan needs at least 4 images for the selection and fresh real sets (got %d)" count

        Array.init sel id, Array.init fresh (fun i -> sel + i)

    /// The feature network (stand-in for Inception-v3): a child run `feature-net` of the search run, trained on
    /// the first 90% of the images, its accuracy measured on the held-out last 10%.
    let featureNet (search: Run) (s: DgganSettings) (images: Dataset) (device: torch.Device) (log: string -> unit) =
        let cfg = FeatureNet.splitConfig s.Data images s.FeatureEpochs s.Search.Seed
        use run = search.Child("feature-net", FeatureNet.kind, cfg)
        let trained = FeatureNet.trainSplitIn run cfg images device (System.Action<string> log)

        log (sprintf "feature net (stand-in for Inception-v3): held-out accuracy %.2f%% on %d images" (100.0 * trained.HeldOutAccuracy) cfg.HeldOutImages)

        trained.Net, trained.HeldOutAccuracy

    /// Everything a candidate needs, built from the search run's configuration and its feature-net folder.
    let environment (search: Run) (s: DgganSettings) (device: torch.Device) (log: string -> unit) =
        let images = loadImages s
        let net, acc = featureNet search s images device log
        let extractor = FeatureNet.extractor net
        let sel, fresh = realSets s images.Count

        ({ Model = s.Search.Config
           Images = images
           Device = device
           Selection = Evaluator(extractor, images, sel, device)
           Fresh = Evaluator(extractor, images, fresh, device) }
        : CandidateEnv),
        acc,
        net

    /// The search run's stored configuration (for a process that trains one candidate from the folders alone).
    let storedSettings (searchDir: string) : DgganSettings =
        let path = Path.Combine(searchDir, "config.json")
        if not (File.Exists path) then Errors.fail "%s is not a DGGAN search run folder (no config.json)" searchDir
        let node = Json.readFile path

        let k =
            try
                node.["kind"].GetValue<string>()
            with _ ->
                ""

        if k <> kind then Errors.fail "%s is not a DGGAN search run folder (kind '%s', expected %s)" searchDir k kind
        Json.ofNode<DgganSettings> path node.["config"]

    /// Train one candidate of an existing search run folder in this process (what a job launcher runs):
    /// settings, feature network and the candidate's configuration all come from the folders.
    let trainCandidate (options: RunOptions) (searchDir: string) (id: string) (device: torch.Device) (log: string -> unit) =
        let searchDir = Path.GetFullPath searchDir
        let s = storedSettings searchDir
        let folder = if id.Contains "/" then id else "candidates/" + id
        let cfg = Candidate.storedConfig searchDir folder
        // the feature network is a finished child run; reading it needs no lock on the search folder
        let fnDir = Path.Combine(searchDir, "feature-net")

        if (SearchSummary.storedResult<FeatureNetResult> fnDir).IsNone then
            Errors.fail "%s: the feature network has not finished; run the search coordinator first" searchDir

        let images = loadImages s
        use net = FeatureNet.load (Path.Combine(fnDir, FeatureNet.weightsFile)) device
        let extractor = FeatureNet.extractor net
        let sel, fresh = realSets s images.Count

        let env =
            { Model = s.Search.Config
              Images = images
              Device = device
              Selection = Evaluator(extractor, images, sel, device)
              Fresh = Evaluator(extractor, images, fresh, device) }

        Candidate.trainInFolder env options searchDir ({ Folder = folder; Config = cfg }: CandidateJob) (System.Action<string> log)
