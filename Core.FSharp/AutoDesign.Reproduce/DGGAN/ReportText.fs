namespace AutoDesign.Reproduce

open System
open AutoDesign.Reproduce
open AutoDesign.DGGAN
open AutoDesign.Reproduce.DGGAN

/// One seed's finished DGGAN run: its folder, summary and candidate records.
type DgganSeedRun = { Seed: int; Dir: string; Summary: DgganSummary; Search: CandidateRecord list; Baseline: CandidateRecord list }

/// The longer texts of the DGGAN report rows, from the per-seed summaries.
module DgganReportText =
    let private column (sums: DgganSummary list) (f: DgganSummary -> float) = sums |> List.map f

    /// The feature network's checks: known-better image sets ranked better, faint noise against the real floor.
    let featureChecks (sums: DgganSummary list) =
        let st f = Paired.stats (column sums f)

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

    /// Figs 5.4-5.6 pooled over the seeds: G/D ratios of good candidates, actions that help, good parents.
    let analyses (runs: DgganSeedRun list) =
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
    let noise (s: DgganSettings) (runs: DgganSeedRun list) =
        let sums = runs |> List.map (fun r -> r.Summary)
        let col = column sums

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
            | Some n when n <= runs.Length -> "This run has enough seeds for a decision in at least one reading (see the verdict row for the final stage's)."
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
    let finalWhy (sums: DgganSummary list) (final: SeedStats) (v: Verdict) =
        let col = column sums

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
