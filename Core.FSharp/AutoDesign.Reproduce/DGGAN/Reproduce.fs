namespace AutoDesign.Reproduce

open System
open System.IO
open AutoDesign.Runs
open AutoDesign.Reproduce
open AutoDesign.DGGAN
open AutoDesign.Reproduce.DGGAN

/// One seed's finished DGGAN run: its folder, summary and candidate records.
type DgganSeedRun = { Seed: int; Dir: string; Summary: DgganSummary; Search: CandidateRecord list; Baseline: CandidateRecord list }

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

        let checks =
            let names = sums.Head.FeatureChecks |> List.map (fun c -> c.Set)
            let fidOf (x: DgganSummary) n = (x.FeatureChecks |> List.find (fun c -> c.Set = n)).Fid
            let ordered (x: DgganSummary) = x.FeatureChecks |> List.pairwise |> List.forall (fun (a, b) -> a.Fid < b.Fid)
            let okSeeds = sums |> List.filter ordered |> List.length
            let faintAbove = sums |> List.filter (fun x -> x.FaintNoise.Fid > x.RealFloorFid) |> List.length

            sprintf
                "%s; ordered real < noise sd 0.25 < noise sd 0.5 < shuffled in %d of %d seeds: %s. Faint noise (sd 0.1): FID %s vs the real floor %s, above it in %d of %d seeds. Feature net held-out accuracy %s%%"
                (names
                 |> List.map (fun n -> sprintf "%s %s" n (Paired.meanSd 2 (Paired.stats (sums |> List.map (fun x -> fidOf x n)))))
                 |> String.concat ", ")
                okSeeds
                sums.Length
                (if okSeeds = sums.Length then
                     "its FID units rank known-better sets better"
                 else
                     "its FID units do NOT rank known-better sets consistently")
                (Paired.meanSd 2 (st (fun x -> x.FaintNoise.Fid)))
                (Paired.meanSd 2 (st (fun x -> x.RealFloorFid)))
                faintAbove
                sums.Length
                (Paired.meanSd 1 (st (fun x -> 100.0 * x.FeatureAccuracy)))

        let analyses =
            let ratio (x: DgganSeedRun) =
                let b = Analysis.best x.Search x.Baseline
                float b.GParams / float b.DParams

            let effects = runs |> List.collect (fun r -> Analysis.actionEffects r.Search r.Baseline |> List.ofSeq)

            let allActions =
                effects
                |> List.groupBy (fun e -> e.ActionName)
                |> List.map (fun (a, xs) ->
                    let n = xs |> List.sumBy (fun e -> e.Children)
                    let improving = xs |> List.sumBy (fun e -> float e.Children * e.ShareImproving)
                    a, n, improving / float n)

            let bestAction = allActions |> List.filter (fun (_, n, _) -> n >= 2)

            let bestText =
                match bestAction with
                | [] -> "no action with 2+ children"
                | xs -> let (a, n, sh) = xs |> List.maxBy (fun (_, _, sh) -> sh) in sprintf "%s (%.0f%% of %d children improve)" a (100.0 * sh) n

            let perAction =
                allActions
                |> List.sortBy (fun (a, _, _) -> a)
                |> List.map (fun (a, n, sh) -> sprintf "%s %d/%d" a (int (Math.Round(sh * float n))) n)
                |> String.concat ", "
            // Fig. 5.4, pooled: search candidates better than ProgGAN at their resolution (normalised FID < 1) and the
            // spread of their G/D parameter ratios
            let scored =
                runs
                |> List.collect (fun r ->
                    let b = Analysis.baselinePerResolution r.Baseline
                    r.Search |> List.map (fun c -> Analysis.normalized b c, float c.GParams / float c.DParams))
                |> List.filter (fun (n, _) -> not (Double.IsNaN n))

            let better = scored |> List.filter (fun (n, _) -> n < 1.0) |> List.map snd

            let betterText =
                if better.IsEmpty then
                    sprintf "0 of %d scored search candidates have nFID < 1" scored.Length
                else
                    sprintf
                        "%d of %d scored search candidates have nFID < 1, their G/D ratios %.2f..%.2f"
                        better.Length
                        scored.Length
                        (List.min better)
                        (List.max better)
            // Fig. 5.6, pooled at threshold 1: good children of good (nFID < 1) and of sub-optimal parents
            let parents =
                runs |> List.choose (fun r -> Analysis.parentQuality r.Search r.Baseline |> Seq.tryFind (fun p -> p.Threshold = 1.0))

            let pooled sel =
                let k = parents |> List.sumBy (fun p -> let sh, n = sel p in if n = 0 then 0.0 else sh * float n)
                int (Math.Round k), parents |> List.sumBy (fun p -> snd (sel p))

            let gk, gn = pooled (fun p -> p.GoodParentShare, p.GoodParentChildren)
            let sk, sn = pooled (fun p -> p.SuboptimalParentShare, p.SuboptimalParentChildren)

            sprintf
                "pooled over %d seeds. Fig 5.4: %s; best route's G/D parameter ratio per seed %s (ProgGAN %.2f). Fig 5.5: children improving on their parent, per action %s; most often improving %s. Fig 5.6 (threshold nFID 1): good children of good parents %d/%d, of sub-optimal parents %d/%d. Per-seed CSVs and fig5-*.png in each run folder"
                runs.Length
                betterText
                (runs |> List.map ratio |> fun r -> Paired.values 2 r)
                (let b = List.last runs.Head.Baseline in float b.GParams / float b.DParams)
                perAction
                bestText
                gk
                gn
                sk
                sn
        // Seed-to-seed noise of each arm, and the seeds a decision at the thesis's relative effect would take: the
        // effect is 34% of ProgGAN's mean final FID; a 95% interval of half-width at most half of it decides either way
        // (it excludes 0 when the effect is there, or rules out an effect that large).
        let noise =
            // one reading per way of evaluating the final models: per-arm sd, paired difference, seeds for a decision
            let reading (label: string) (prog: float list) (dg: float list) =
                let p, g, d = Paired.stats prog, Paired.stats dg, Paired.difference prog dg
                let effect = 0.34 * p.Mean

                let need =
                    match Paired.seedsFor d.Sd (effect / 2.0) 10000 with
                    | Some n -> sprintf "%d seeds" n
                    | None -> "more than 10000 seeds"

                sprintf
                    "%s: ProgGAN %.1f, DGGAN %.1f; paired difference sd %.1f (ProgGAN - DGGAN %s), 34%% of ProgGAN's mean is %.1f FID, a decision either way (half-width at most %.1f) needs %s"
                    label
                    p.Sd
                    g.Sd
                    d.Sd
                    (Paired.interval 1 d)
                    effect
                    (effect / 2.0)
                    need,
                Paired.seedsFor d.Sd (effect / 2.0) 10000

            let variantNames = sums.Head.Variants |> List.map (fun v -> v.Variant)
            let variantOf (x: DgganSummary) name = x.Variants |> List.find (fun v -> v.Variant = name)

            let readings =
                [ yield reading "end of search" (col (fun x -> x.ProgGanLast.Fid)) (col (fun x -> x.RouteLast.Fid))
                  yield
                      reading
                          (sprintf "after the final stage (+%d iterations)" s.FinalIterations)
                          (col (fun x -> x.FinalProgGan.Fid))
                          (col (fun x -> x.FinalDggan.Fid))
                  for name in variantNames do
                      yield reading name (sums |> List.map (fun x -> (variantOf x name).ProgGan.Fid)) (sums |> List.map (fun x -> (variantOf x name).Dggan.Fid)) ]

            let best = readings |> List.choose snd |> List.sortBy id |> List.tryHead

            let verdict =
                match best with
                | Some n when n <= runs.Length ->
                    "This run has enough seeds for a decision in at least one reading (see the verdict row for the final stage's)."
                | Some n ->
                    sprintf
                        "No reading is decidable with this run's %d seeds; the cheapest needs %d seeds. The configuration that would decide it: `autodesign dggan search --seeds %d --launcher slurm` with the full config (larger nets, 32x32, K = 8, 2000 iterations per candidate, 10000-iteration final stages), its seed count set again from the sd measured there"
                        runs.Length
                        n
                        n
                | None ->
                    sprintf
                        "No reading is decidable with fewer than 10000 seeds at this noise; the configuration to try is the full config on a cluster (`autodesign dggan search --seeds <n> --launcher slurm`)"

            sprintf "per-arm sd of the fresh FID over %d seeds. %s. %s" runs.Length (readings |> List.map fst |> String.concat ". ") verdict
        // Why the verdict cannot decide, and what would: its interval contains 0 and is wider than half the thesis's
        // relative effect (34% of ProgGAN's mean final FID), so it neither shows nor rules out an effect that large.
        let finalWhy (v: Verdict) =
            if v <> Inconclusive then
                ""
            else
                let effect = 0.34 * (Paired.stats (col (fun x -> x.FinalProgGan.Fid))).Mean
                let hw = Paired.halfWidth final

                if hw <= effect / 2.0 then
                    sprintf
                        " (the interval contains 0 and its half-width %.1f is at most %.1f, half of 34%% of ProgGAN's mean FID: no effect of the thesis's relative size)"
                        hw
                        (effect / 2.0)
                else
                    let cfgText n =
                        sprintf
                            "`autodesign dggan search --seeds %s --launcher slurm` with the full config (larger nets, 32x32, K = 8, 2000 iterations per candidate, 10000-iteration final stages) on a GPU cluster, its seed count set again from the sd measured there"
                            n

                    match Paired.seedsFor final.Sd (effect / 2.0) 10000 with
                    | Some n ->
                        sprintf
                            ". It cannot decide: the interval contains 0 and its half-width %.1f exceeds %.1f (half of 34%% of ProgGAN's mean FID, the thesis's relative effect); at this sd of the per-seed differences (%.1f) a decision takes %d seeds; the configuration that would decide it: %s"
                            hw
                            (effect / 2.0)
                            final.Sd
                            n
                            (cfgText (string n))
                    | None ->
                        sprintf
                            ". It cannot decide: the interval contains 0 and its half-width %.1f exceeds %.1f (half of 34%% of ProgGAN's mean FID, the thesis's relative effect); at this sd of the per-seed differences (%.1f) a decision takes more than 10000 seeds; the configuration to try: %s"
                            hw
                            (effect / 2.0)
                            final.Sd
                            (cfgText "<n>")

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
