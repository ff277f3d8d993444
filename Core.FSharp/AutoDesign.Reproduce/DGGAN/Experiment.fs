namespace AutoDesign.Reproduce.DGGAN

open System
open System.IO
open TorchSharp
open AutoDesign.Nn
open AutoDesign.Runs
open AutoDesign.Data
open AutoDesign.Reproduce.Data
open AutoDesign.Nn.DGGAN
open AutoDesign.DGGAN
open AutoDesign.Metrics

/// One DGGAN experiment: data, feature network, ProgGAN baseline, search, final metrics, analyses.
type DgganSettings =
    { Data: string
      Quick: bool
      Search: SearchSettings
      Train: TrainSettings
      TrainImages: int
      FeatureEpochs: int
      RealEval: int
      FinalSamples: int }

type DgganSummary =
    { Dir: string
      PerResolution: (int * float * float * float) list
      BestId: string
      BestActions: string
      BestFid: float
      BaselineFid: float
      BestSwd: float
      BaselineSwd: float
      BestIs: float * float
      BaselineIs: float * float
      RealIs: float * float
      Candidates: int
      FeatureAccuracy: float
      FinalResolution: int
      Seconds: float }

module DgganExperiment =
    /// --quick: small nets, 8×8 → 16×16 only, K = 2, p = 0.2, so search + baseline + evaluation end in minutes on
    /// 2 cores while every candidate still trains enough (inherited along its route) to draw digit-like samples.
    let quick (data: string) (seed: int) =
        { Data = data; Quick = true
          Search = { Config = GanConfig(32, 16, 1, 8); Kernels = [ 3; 7 ]; Filters = [ 8; 16 ]; FinalResolution = 16
                     Depth = 5; TopK = 2; P = 0.2; Seed = seed }
          Train = { Iterations = 150; BatchSize = 32; LearningRate = 1e-3; EvalSamples = 500 }
          TrainImages = 10000; FeatureEpochs = 3; RealEval = 1000; FinalSamples = 1000 }

    /// Full config (thesis-like search shape, CPU-sized nets: filters {16,32,64} instead of {32…1024}).
    let full (data: string) (seed: int) =
        { Data = data; Quick = false
          Search = { Config = GanConfig(128, 64, 1, 8); Kernels = [ 3; 7 ]; Filters = [ 16; 32; 64 ]; FinalResolution = 32
                     Depth = 8; TopK = 8; P = 0.2; Seed = seed }
          Train = { Iterations = 2000; BatchSize = 64; LearningRate = 1e-3; EvalSamples = 5000 }
          TrainImages = Int32.MaxValue; FeatureEpochs = 5; RealEval = 10000; FinalSamples = 10000 }

    /// Override the budget knobs (CLI --iterations/--final-res/--topk/--p); the search depth follows the final
    /// resolution (the ProgGAN schedule's length) so the best route and the baseline get the same training.
    let withOverrides (iterations: int option) (finalRes: int option) (topK: int option) (p: float option) (s: DgganSettings) =
        let fr = defaultArg finalRes s.Search.FinalResolution
        if fr < 8 || fr &&& (fr - 1) <> 0 || fr > 32 then Errors.fail "final resolution must be 8, 16 or 32 (got %d)" fr
        let k = defaultArg topK s.Search.TopK
        if k < 1 then Errors.fail "top-K must be at least 1 (got %d)" k
        let pp = defaultArg p s.Search.P
        if not (pp > 0.0 && pp <= 1.0) then Errors.fail "p must be in (0, 1] (got %g)" pp
        let it = defaultArg iterations s.Train.Iterations
        if it < 1 then Errors.fail "iterations must be at least 1 (got %d)" it
        let depth = List.length (Architecture.progGanSchedule s.Search.Config fr)
        { s with Search = { s.Search with FinalResolution = fr; TopK = k; P = pp; Depth = depth }
                 Train = { s.Train with Iterations = it } }

    let loadImages (s: DgganSettings) =
        let ds = Datasets.load s.Data
        // The embedded MNIST is stored digit by digit: take a fixed random permutation (same for every run)
        // before cutting the training subset and the real evaluation set, so all classes are present.
        let rng = Random(20261125)
        let order = Array.init ds.Count id
        for i in ds.Count - 1 .. -1 .. 1 do
            let j = rng.Next(i + 1)
            let t = order.[i]
            order.[i] <- order.[j]
            order.[j] <- t
        let n = min ds.Count s.TrainImages
        let hw = ds.Height * ds.Width
        let px = Array.zeroCreate<float32> (n * hw)
        for k in 0 .. n - 1 do Array.blit ds.Images (order.[k] * hw) px (k * hw) hw
        let labels = Array.init n (fun k -> ds.Labels.[order.[k]])
        GanImages.ofUnit ds.Name px n ds.Height ds.Width 32, labels, (ds.Labels |> Array.max) + 1

    let private write (dir: string) (name: string) (text: string) = Atomic.writeAllText (Path.Combine(dir, name)) text

    /// The FID/IS feature network (stand-in for Inception-v3): trained on the first 90% of the images, cached as
    /// feature-net.dgw in the run folder, and its accuracy measured on the held-out last 10%.
    let featureNet (s: DgganSettings) (dir: string) (images: GanImages) (labels: int[]) (classes: int) (device: torch.Device) (log: string -> unit) =
        let nTrain = images.Count * 9 / 10
        let net =
            FeatureNet.loadOrTrain (Path.Combine(dir, "feature-net.dgw")) (GanImages.slice images 0 nTrain) labels.[.. nTrain - 1]
                classes s.FeatureEpochs s.Search.Seed device log
        let acc = FeatureNet.accuracy net (GanImages.slice images nTrain (images.Count - nTrain)) labels.[nTrain ..] device
        log (sprintf "feature net (stand-in for Inception-v3): held-out accuracy %.2f%% on %d images" (100.0 * acc) (images.Count - nTrain))
        net, acc

    /// Run (or resume) the whole experiment in `dir`: state in search.json, weights in weights/, CSV/PNG/IDX outputs.
    let run (s: DgganSettings) (dir: string) (device: torch.Device) (log: string -> unit) =
        let sw = Diagnostics.Stopwatch.StartNew()
        Directory.CreateDirectory dir |> ignore
        let seed = s.Search.Seed
        let images, labels, classes = loadImages s
        log (sprintf "data %s: %d images padded to 32x32 (stand-in for CIFAR-10)" s.Data images.Count)
        let net, featureAccuracy = featureNet s dir images labels classes device log
        use net = net
        let extractor = FeatureNet.extractor net
        let evaluator = Evaluator(extractor, images, s.RealEval, device)
        let runner = CandidateTrainer.inProcess s.Train images evaluator device log
        let statePath = Path.Combine(dir, "search.json")
        let weights = Path.Combine(dir, "weights")
        let state = ref (SearchState.loadOrCreate statePath (Search.signature s.Search s.Train + " data=" + s.Data))
        log (sprintf "state %s: %d finished candidates" statePath state.Value.Candidates.Length)
        log "ProgGAN baseline (fixed symmetric schedule, same iterations per step)"
        let baseline = Search.baseline s.Search runner statePath weights state
        log "DGGAN search (Algorithm 1)"
        let search = Search.run s.Search runner statePath weights state log
        let best = Analysis.best search
        let lastBase = baseline |> List.last
        // Final metrics with more samples: FID, SWD, IS for the best candidate, the baseline and real data.
        let finalEval = Evaluator(extractor, images, max s.RealEval s.FinalSamples, device)
        let load (c: CandidateRecord) =
            let arch = SearchState.architecture s.Search.Config c
            let g, d, _ = CandidateTrainer.build arch (Some c.Weights) device
            d.Dispose()
            g.Alpha <- 1.0
            g
        let grid (c: CandidateRecord) (name: string) =
            use _ = torch.NewDisposeScope()
            use g = load c
            let fake = Evaluator.Sample g 64 (seed + 4242) device
            ImageGrid.save (Path.Combine(dir, name)) (fake.Add(1.0).Div(2.0)) 8
        let measure (c: CandidateRecord) (name: string) =
            use _ = torch.NewDisposeScope()
            use g = load c
            let fake = Evaluator.Sample g s.FinalSamples (seed + 31337) device
            let fid = finalEval.Fid fake
            let real = finalEval.RealAt (int fake.shape.[3])
            let _, swd = Swd.compute seed real fake
            let is = InceptionScore.ofLogits (extractor.Logits fake) 10
            ImageGrid.save (Path.Combine(dir, sprintf "samples-%s.png" name)) (fake.narrow(0L, 0L, 64L).Add(1.0).Div(2.0)) 8
            ImageSet.save (Path.Combine(dir, sprintf "samples-%s.idx" name)) fake
            fid, swd, is
        let bFid, bSwd, bIs = measure best "dggan"
        let pFid, pSwd, pIs = measure lastBase "proggan"
        // Per-resolution grids: the best search candidate and the last baseline candidate at each resolution.
        for res in search |> List.map (fun c -> c.Resolution) |> List.distinct |> List.sort do
            let ours = search |> List.filter (fun c -> c.Resolution = res) |> Search.rank |> List.head
            grid ours (sprintf "samples-dggan-%dx%d.png" res res)
            let theirs = baseline |> List.filter (fun c -> c.Resolution = res) |> List.maxBy (fun c -> c.Step)
            grid theirs (sprintf "samples-proggan-%dx%d.png" res res)
        let realIs =
            use _ = torch.NewDisposeScope()
            let real = finalEval.RealAt s.Search.FinalResolution
            ImageSet.save (Path.Combine(dir, "samples-real.idx")) real
            ImageGrid.save (Path.Combine(dir, "samples-real.png")) (real.narrow(0L, 0L, 64L).Add(1.0).Div(2.0)) 8
            InceptionScore.ofLogits (extractor.Logits real) 10
        let perRes = Analysis.perResolution search baseline
        write dir "table-per-resolution.csv" (Analysis.perResolutionCsv perRes)
        write dir "candidates.csv" (Analysis.candidatesCsv search baseline)
        write dir "action-effects.csv" (Analysis.actionEffectsCsv (Analysis.actionEffects search baseline))
        write dir "parent-quality.csv" (Analysis.parentQualityCsv (Analysis.parentQuality search baseline))
        AnalysisPlots.writeAll dir s.Search search baseline
        let inv (x: float) = x.ToString("G6", Globalization.CultureInfo.InvariantCulture)
        write dir "final.csv"
            ("model,fid,swd_x1e3,is_mean,is_sd,g_params,d_params,actions\n"
             + sprintf "ProgGAN,%s,%s,%s,%s,%d,%d,\"%s\"\n" (inv pFid) (inv pSwd) (inv (fst pIs)) (inv (snd pIs)) lastBase.GParams lastBase.DParams (String.Join(" ", lastBase.Actions))
             + sprintf "DGGAN,%s,%s,%s,%s,%d,%d,\"%s\"\n" (inv bFid) (inv bSwd) (inv (fst bIs)) (inv (snd bIs)) best.GParams best.DParams (String.Join(" ", best.Actions))
             + sprintf "real data,0,0,%s,%s,,,\n" (inv (fst realIs)) (inv (snd realIs)))
        { Dir = dir; PerResolution = perRes; BestId = best.Id; BestActions = String.Join(" ", best.Actions)
          BestFid = bFid; BaselineFid = pFid; BestSwd = bSwd; BaselineSwd = pSwd; BestIs = bIs; BaselineIs = pIs; RealIs = realIs
          Candidates = search.Length + baseline.Length; FeatureAccuracy = featureAccuracy; FinalResolution = s.Search.FinalResolution; Seconds = sw.Elapsed.TotalSeconds }

    /// Only the ProgGAN baseline chain; returns (id, resolution, FID) per step.
    let runBaseline (s: DgganSettings) (dir: string) (device: torch.Device) (log: string -> unit) =
        Directory.CreateDirectory dir |> ignore
        let images, labels, classes = loadImages s
        let net, _ = featureNet s dir images labels classes device log
        use net = net
        let evaluator = Evaluator(FeatureNet.extractor net, images, s.RealEval, device)
        let runner = CandidateTrainer.inProcess s.Train images evaluator device log
        let statePath = Path.Combine(dir, "search.json")
        let state = ref (SearchState.loadOrCreate statePath (Search.signature s.Search s.Train + " data=" + s.Data))
        Search.baseline s.Search runner statePath (Path.Combine(dir, "weights")) state
        |> List.map (fun c -> c.Id, c.Resolution, c.Fid)

    let describe (r: DgganSummary) =
        let lines =
            [ yield sprintf "results in %s (%d candidates, %.0f s)" r.Dir r.Candidates r.Seconds
              yield "resolution  ProgGAN FID  DGGAN FID  improvement"
              for (res, b, o, imp) in r.PerResolution do yield sprintf "%5dx%-5d %11.3f %10.3f %11.1f%%" res res b o (100.0 * imp)
              yield sprintf "feature net (stand-in for Inception-v3) held-out accuracy %.2f%%" (100.0 * r.FeatureAccuracy)
              yield sprintf "final %dx%d: ProgGAN FID %.3f SWD %.2f IS %.2f+-%.2f | DGGAN (%s: %s) FID %.3f SWD %.2f IS %.2f+-%.2f | real IS %.2f"
                        r.FinalResolution r.FinalResolution r.BaselineFid r.BaselineSwd (fst r.BaselineIs) (snd r.BaselineIs) r.BestId r.BestActions r.BestFid r.BestSwd (fst r.BestIs) (snd r.BestIs) (fst r.RealIs) ]
        String.Join("\n", lines)
