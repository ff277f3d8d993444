namespace AutoDesign.Reproduce

open System
open System.IO
open AutoDesign.Runs
open AutoDesign.Reproduce
open AutoDesign.DGGAN
open AutoDesign.Reproduce.DGGAN

/// The DGGAN experiment for `autodesign reproduce`: for each of 3 seeds (each its own run folder, so a job
/// launcher can run them in parallel), ProgGAN baseline + Algorithm 1 search + final training stage on MNIST
/// padded to 32×32 (stand-in for CIFAR-10); rows compare like with like (the last model on DGGAN's best route vs
/// ProgGAN's last, equal iterations, fresh samples) with mean ± sd, the paired per-seed difference and a verdict
/// from its 95% interval.
module DgganExperiments =
    let private data = "mnist"

    let private dataText =
        "MNIST (embedded 10k digits) padded to 32x32, stand-in for CIFAR-10; FID/IS features from a small CNN trained here (stand-in for Inception-v3, see the feature-net row)"

    let seeds = 3

    /// Run folder (relative to the runs root) of one seed.
    let seedPath (quick: bool) (seed: int) = sprintf "dggan/reproduce-%s-%s/seed%d" data (if quick then "quick" else "full") seed

    let runSeed (ctx: ExperimentContext) (seed: int) =
        let s = if ctx.Quick then DgganExperiment.quick data seed else DgganExperiment.full data seed

        let summary, dir =
            SearchRun.run ctx.Options (seedPath ctx.Quick seed) s ctx.Device None (fun line ->
                printfn "[%s] seed %d: %s" (DateTime.Now.ToString("HH:mm:ss")) seed line)

        let all = SearchSummary.load (Path.Combine(dir, SearchSummary.fileName)) |> List.ofSeq

        { Seed = seed
          Dir = dir
          Summary = summary
          Search = all |> List.filter (fun c -> c.Kind = "search")
          Baseline = all |> List.filter (fun c -> c.Kind = "baseline") }

    let private pct (b: float) (o: float) = 100.0 * (b - o) / b

    /// Report rows from the per-seed runs.
    let rows (quick: bool) (s: DgganSettings) (runs: DgganSeedRun list) : ReportRow list =
        let mode = if quick then "quick" else "full"
        let sums = runs |> List.map (fun r -> r.Summary)
        let col (f: DgganSummary -> float) = sums |> List.map f
        let st f = Paired.stats (col f)
        let seedsText = runs |> List.map (fun r -> string r.Seed) |> String.concat ", "
        let routeIters = sums |> List.map (fun x -> x.RouteLast.Iterations) |> List.distinct
        let baseIters = sums |> List.map (fun x -> x.ProgGanLast.Iterations) |> List.distinct
        let finalIters = sums |> List.map (fun x -> x.FinalDggan.Iterations) |> List.distinct
        let its (xs: int list) = xs |> List.map string |> String.concat "/"

        let cfg =
            sprintf
                "%s: latent %d, base %d channels, d0 = 8 -> %d, kernels %A, filters %A, K = %d, p = %g (thesis: K = 20, p = 0.4 run; K = 8, p = 0.2 suffice%s), %d WGAN-GP iterations x batch %d per candidate; iterations counted from the records: best route %s, ProgGAN chain %s, after the final stage (+%d each) %s vs %s; variance reduction for both arms alike: EMA of G's weights (decay %g) through the final stages and a longer final stage (+%d more each); FID on %d fresh samples vs %d fresh real images (selection used %d other samples and the first %d real images); seeds %s; %s"
                mode
                s.Search.Config.Latent
                s.Search.Config.BaseChannels
                s.Search.FinalResolution
                s.Search.Kernels
                s.Search.Filters
                s.Search.TopK
                s.Search.P
                (if quick then "; scaled down for minutes per seed on 2 cores" else "")
                s.Train.Iterations
                s.Train.BatchSize
                (its routeIters)
                (its baseIters)
                s.FinalIterations
                (its finalIters)
                (its (sums |> List.map (fun x -> x.FinalProgGan.Iterations) |> List.distinct))
                s.FinalEma
                s.LongerFinalIterations
                s.FinalSamples
                (max s.RealEval s.FinalSamples)
                s.Train.EvalSamples
                s.RealEval
                seedsText
                (runs |> List.map (fun r -> r.Dir) |> String.concat "; ")

        let row exp claim thesis measured =
            { System = "dggan"
              Experiment = exp
              Claim = claim
              Thesis = thesis
              Measured = measured
              Config = cfg
              Data = dataText }
        // per resolution, like with like
        let resolutions =
            sums |> List.collect (fun x -> x.PerResolution |> List.map (fun p -> p.Resolution)) |> List.distinct |> List.sort

        let perRes =
            [ for res in resolutions do
                  let at = sums |> List.map (fun x -> x.PerResolution |> List.tryFind (fun p -> p.Resolution = res))

                  if at |> List.forall Option.isSome then
                      let ps = at |> List.map Option.get
                      let pg = ps |> List.map (fun p -> p.ProgGanFid)
                      let dg = ps |> List.map (fun p -> p.DgganFid)
                      let d = Paired.difference pg dg

                      yield
                          sprintf
                              "%dx%d ProgGAN %s vs DGGAN %s (ProgGAN - DGGAN %s; %.0f%%; iterations %s vs %s; min selection FID over all candidates %s vs %s)"
                              res
                              res
                              (Paired.meanSd 1 (Paired.stats pg))
                              (Paired.meanSd 1 (Paired.stats dg))
                              (Paired.interval 1 d)
                              (pct (Paired.stats pg).Mean (Paired.stats dg).Mean)
                              (ps |> List.map (fun p -> p.ProgGanIterations) |> List.distinct |> its)
                              (ps |> List.map (fun p -> p.DgganIterations) |> List.distinct |> its)
                              (Paired.meanSd 1 (Paired.stats (ps |> List.map (fun p -> p.ProgGanMinSelectionFid))))
                              (Paired.meanSd 1 (Paired.stats (ps |> List.map (fun p -> p.DgganMinSelectionFid)))) ]

        let search = Paired.difference (col (fun x -> x.ProgGanLast.Fid)) (col (fun x -> x.RouteLast.Fid))
        let final = Paired.difference (col (fun x -> x.FinalProgGan.Fid)) (col (fun x -> x.FinalDggan.Fid))
        let verdict = Paired.verdict final

        let model (name: string) (f: DgganSummary -> ModelScore) =
            sprintf
                "%s FID %s, SWDx1e3 %s, IS %s"
                name
                (Paired.meanSd 1 (st (fun x -> (f x).Fid)))
                (Paired.meanSd 1 (st (fun x -> (f x).Swd)))
                (Paired.meanSd 2 (st (fun x -> (f x).IsMean)))

        let checks = DgganReportText.featureChecks sums
        let analyses = DgganReportText.analyses runs
        let noise = DgganReportText.noise s runs
        let finalWhy = DgganReportText.finalWhy sums final

        [ row
              "table-5.1"
              "the searched (asymmetric) G/D beats ProgGAN's fixed symmetric schedule at every resolution, with the same training per step"
              "CIFAR-10 FID, ProgGAN vs DGGAN: 8x8 4.02 vs 1.96 (51%), 16x16 11.68 vs 6.40 (45%), 32x32 18.33 vs 12.10 (34%)"
              (sprintf
                  "like with like: last model at each resolution on DGGAN's best route vs ProgGAN's last, fresh FID (feature-net units, not comparable to Inception FIDs), mean ± sd over %d seeds: %s"
                  runs.Length
                  (String.concat "; " perRes))
          row
              "final-metrics"
              "DGGAN's best model has a lower FID than ProgGAN with a similar Inception Score (after training the fixed architecture longer, §5.4.2.1)"
              "CIFAR-10 32x32: ProgGAN FID 18.33, IS 8.80 +- 0.05; DGGAN FID 12.10, IS 8.64 +- 0.06"
              (sprintf
                  "%dx%d, %d fresh samples, mean ± sd over %d seeds. End of search: %s; %s; ProgGAN - DGGAN FID %s. After the final stage: %s; %s; ProgGAN - DGGAN FID %s. Real data: FID floor (two real sets) %s, IS %s"
                  s.Search.FinalResolution
                  s.Search.FinalResolution
                  s.FinalSamples
                  runs.Length
                  (model "ProgGAN" (fun x -> x.ProgGanLast))
                  (model "DGGAN" (fun x -> x.RouteLast))
                  (Paired.interval 1 search)
                  (model "ProgGAN" (fun x -> x.FinalProgGan))
                  (model "DGGAN" (fun x -> x.FinalDggan))
                  (Paired.interval 1 final)
                  (Paired.meanSd 2 (st (fun x -> x.RealFloorFid)))
                  (Paired.meanSd 2 (st (fun x -> x.RealIsMean))))
          row
              "verdict"
              "DGGAN beats ProgGAN at the final resolution (equal iterations, after the final stage, fresh samples)"
              "yes: FID 18.33 -> 12.10 (34% better)"
              (sprintf
                  "%s: paired per-seed FID difference ProgGAN - DGGAN %s (per seed %s); reproduced only if the 95%% interval lies above 0%s"
                  (Paired.verdictText verdict)
                  (Paired.interval 2 final)
                  (List.map2 (-) (col (fun x -> x.FinalProgGan.Fid)) (col (fun x -> x.FinalDggan.Fid)) |> Paired.values 2)
                  (finalWhy verdict))
          row
              "noise"
              "the seed-to-seed noise of the final FIDs, and how many seeds a decision at the thesis's effect takes"
              "— (the thesis reports one run per model)"
              noise
          row
              "feature-net"
              "the FID feature network (stand-in for Inception-v3) ranks known-better image sets better, so its FID units mean something"
              "— (the thesis uses Inception-v3)"
              checks
          row
              "analyses"
              "good architectures need not be symmetric (Fig 5.4); actions differ in how often they help (Fig 5.5); good parents give good children more often (Fig 5.6)"
              "CIFAR-10: nFID < 1 over G/D ratios 1/64..64; small D kernels help more than large; good parents far more likely to have good children; K = 8, p = 0.2 suffice"
              analyses ]

    let search: Experiment =
        { System = "dggan"
          Name = "search"
          Description =
            "per seed: ProgGAN baseline + DGGAN search (Algorithm 1) + final training stage; like-with-like FID/SWD/IS on fresh samples, paired over seeds (Table 5.1/5.2, Fig 5.4-5.6)"
          Run =
            fun ctx ->
                let s = if ctx.Quick then DgganExperiment.quick data ctx.Seed else DgganExperiment.full data ctx.Seed
                let runs = [ for k in 0 .. seeds - 1 -> runSeed ctx (ctx.Seed + k) ]
                rows ctx.Quick s runs
          Parts = ExperimentPart.perSeed seeds (fun ctx k -> runSeed ctx k |> ignore)
          Figures =
            fun ctx ->
                let s = if ctx.Quick then DgganExperiment.quick data ctx.Seed else DgganExperiment.full data ctx.Seed
                let dir = Path.Combine(ctx.RunsRoot, seedPath ctx.Quick ctx.Seed)
                let res = s.Search.FinalResolution

                [ ReportFigure.create (sprintf "seed %d: real digits" ctx.Seed) (Path.Combine(dir, "samples-real.png"))
                  ReportFigure.create
                      (sprintf "seed %d: ProgGAN's last model, %dx%d" ctx.Seed res res)
                      (Path.Combine(dir, sprintf "samples-proggan-%dx%d.png" res res))
                  ReportFigure.create
                      (sprintf "seed %d: the last model on DGGAN's best route, %dx%d" ctx.Seed res res)
                      (Path.Combine(dir, sprintf "samples-dggan-%dx%d.png" res res))
                  ReportFigure.create
                      (sprintf "seed %d: nFID of search candidates against their G/D parameter ratio (Fig 5.4 analogue)" ctx.Seed)
                      (Path.Combine(dir, "fig5-4-g2d-ratio.png")) ] }

    let all: Experiment list = [ search ]
