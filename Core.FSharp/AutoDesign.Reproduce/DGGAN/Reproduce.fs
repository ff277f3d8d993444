namespace AutoDesign.Reproduce

open System
open System.IO
open AutoDesign.Reproduce
open AutoDesign.DGGAN
open AutoDesign.Reproduce.DGGAN
open AutoDesign.Metrics

/// The DGGAN experiment for `autodesign reproduce`: ProgGAN baseline + Algorithm 1 search on MNIST padded to
/// 32×32 (stand-in for CIFAR-10), Table 5.1 / 5.2 analogues and the §5.5 analyses beside the thesis's numbers.
module DgganExperiments =
    let private data = "mnist"
    let private dataText = "MNIST (embedded 10k digits) padded to 32x32, stand-in for CIFAR-10; FID/IS features from a small CNN trained here (stand-in for Inception-v3)"

    let private pct (b: float) (o: float) = 100.0 * (b - o) / b

    /// Run folder of the reproduce run; a folder left by other settings is cleared (a killed run with the same
    /// settings resumes, its finished candidates are not retrained).
    let runDir (ctx: ExperimentContext) (s: DgganSettings) =
        let dir = Path.Combine(ctx.RunsRoot, "dggan", sprintf "reproduce-%s-%s-seed%d" s.Data (if s.Quick then "quick" else "full") ctx.Seed)
        let state = Path.Combine(dir, "search.json")
        if File.Exists state then
            let sg = Search.signature s.Search s.Train + " data=" + s.Data
            let old = try Some (SearchState.load state) with _ -> None
            match old with
            | Some o when o.Signature = sg -> ()
            | _ ->
                printfn "dggan: %s holds a run with other settings; starting afresh" dir
                Directory.Delete(dir, true)
        dir

    let rows (ctx: ExperimentContext) (s: DgganSettings) (r: DgganSummary) (search: CandidateRecord list) (baseline: CandidateRecord list) =
        let mode = if ctx.Quick then "quick" else "full"
        let cfg =
            sprintf "%s: latent %d, base %d channels, d0 = 8 -> %d, kernels %A, filters %A, K = %d, p = %g, %d iterations x batch %d per candidate (ProgGAN chain: same per step), %d candidates, %.0f s, seed %d; %s"
                mode s.Search.Config.Latent s.Search.Config.BaseChannels s.Search.FinalResolution s.Search.Kernels s.Search.Filters
                s.Search.TopK s.Search.P s.Train.Iterations s.Train.BatchSize r.Candidates r.Seconds ctx.Seed r.Dir
        let final = r.FinalResolution
        let beats = r.BestFid < r.BaselineFid
        let perRes =
            r.PerResolution
            |> List.map (fun (res, b, o, _) -> sprintf "%dx%d ProgGAN %.1f vs DGGAN %.1f (%+.0f%%)" res res b o (pct b o))
            |> String.concat "; "
        let effects = Analysis.actionEffects search baseline
        let bestAction = if effects.IsEmpty then "none" else (let (a, n, sh, m, _) = effects |> List.maxBy (fun (_, _, sh, _, _) -> sh) in sprintf "%s (%.0f%% of %d improve)" a (100.0 * sh) n)
        let pq = Analysis.parentQuality search baseline |> List.tryFind (fun (t, _, _, _, _) -> t = 1.0)
        let pqText =
            match pq with
            | Some (_, g, ng, so, ns) -> sprintf "at threshold nFID < 1: good parents give good children %.0f%% (n=%d), sub-optimal %.0f%% (n=%d)" (100.0 * g) ng (100.0 * so) ns
            | None -> "no parent/child pairs"
        let best = Analysis.best search
        [ { System = "dggan"; Experiment = "table-5.1"
            Claim = "the searched (asymmetric) G/D beats ProgGAN's fixed symmetric schedule at every resolution, with the same training per step"
            Thesis = "CIFAR-10 FID, ProgGAN vs DGGAN: 8x8 4.02 vs 1.96 (51%), 16x16 11.68 vs 6.40 (45%), 32x32 18.33 vs 12.10 (34%)"
            Measured = sprintf "%s. DGGAN %s the equal-budget ProgGAN baseline at %dx%d (FID %.1f vs %.1f, feature-net units, not comparable to Inception FIDs)"
                           perRes (if beats then "BEATS" else "does NOT beat") final final r.BestFid r.BaselineFid
            Config = cfg; Data = dataText }
          { System = "dggan"; Experiment = "final-metrics"
            Claim = "DGGAN's best model has a lower FID than ProgGAN with a similar Inception Score"
            Thesis = "CIFAR-10 32x32: ProgGAN FID 18.33, IS 8.80 +- 0.05; DGGAN FID 12.10, IS 8.64 +- 0.06 (SWD reported on LSUN only)"
            Measured =
                sprintf "%dx%d, %d samples: ProgGAN FID %.1f, SWDx1e3 %.1f, IS %.2f +- %.2f; DGGAN [%s] FID %.1f, SWDx1e3 %.1f, IS %.2f +- %.2f; real data IS %.2f; feature net held-out accuracy %.1f%%"
                    final final s.FinalSamples r.BaselineFid r.BaselineSwd (fst r.BaselineIs) (snd r.BaselineIs) r.BestActions r.BestFid r.BestSwd
                    (fst r.BestIs) (snd r.BestIs) (fst r.RealIs) (100.0 * r.FeatureAccuracy)
            Config = cfg; Data = dataText }
          { System = "dggan"; Experiment = "analyses"
            Claim = "good architectures need not be symmetric (Fig 5.4); actions differ in how often they help (Fig 5.5); good parents give good children more often (Fig 5.6)"
            Thesis = "CIFAR-10: nFID < 1 over G/D ratios 1/64..64; small D kernels help more than large; good parents far more likely to have good children; K = 8, p = 0.2 suffice"
            Measured = sprintf "best route ends at G/D ratio %.2f (ProgGAN %.2f); most often improving action %s; %s; K/p replay in simulation.csv (fig5-*.png)"
                           (float best.GParams / float best.DParams) (let b = List.last baseline in float b.GParams / float b.DParams) bestAction pqText
            Config = cfg; Data = dataText } ]

    let search : Experiment =
        { System = "dggan"
          Name = "search"
          Description = "ProgGAN baseline + DGGAN search (Algorithm 1) with FID/SWD/IS and the chapter's analyses (Table 5.1/5.2, Fig 5.4-5.6)"
          Run = fun ctx ->
            let s = if ctx.Quick then DgganExperiment.quick data ctx.Seed else DgganExperiment.full data ctx.Seed
            let dir = runDir ctx s
            let r = DgganExperiment.run s dir ctx.Device (fun line -> printfn "[%s] %s" (DateTime.Now.ToString("HH:mm:ss")) line)
            let state = SearchState.load (Path.Combine(dir, "search.json"))
            let all = List.ofArray state.Candidates
            rows ctx s r (all |> List.filter (fun c -> c.Kind = "search")) (all |> List.filter (fun c -> c.Kind = "baseline")) }

    let all : Experiment list = [ search ]
