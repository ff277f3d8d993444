namespace AutoDesign.Reproduce

open System
open System.IO
open AutoDesign.Reproduce
open AutoDesign.Runs
open AutoDesign.DetectorGAN
open AutoDesign.Reproduce.DetectorGAN

/// Reproduce registry entry for DetectorGAN (thesis chapter 4): 8 seeds, each its own run folder (so a job launcher
/// can run them in parallel); rows give mean ± sd over seeds, paired per-seed differences and verdicts decided by
/// the differences' 95% intervals.
module DetectorGanExperiments =
    /// Seeds of the experiment (each a part of its own).
    let seeds = 8
    /// The thesis's effect of DetectorGAN's synthetic data over real data only (Table 4.1, AP@0.1 0.124 -> 0.236).
    let thesisEffect = 0.112
    let private inv (x: float) = x.ToString("0.000", Globalization.CultureInfo.InvariantCulture)

    /// Run folder (relative to the runs root) of one seed.
    let seedPath (quick: bool) (seed: int) = sprintf "detectorgan/tables-%s/seed%d" (if quick then "quick" else "full") seed

    let config (quick: bool) = if quick then DetGanExperiment.quick else DetGanExperiment.full

    /// Report rows from the per-seed rows (`runs`: seed, rows of that seed).
    let reportRows (cfg: DetGanConfig) (quick: bool) (runs: (int * DetGanRow list) list) : ReportRow list =
        let config =
            sprintf
                "%s: %dx%d scans, %d labelled / %d clean / %d test, nodule contrast x%g, size x%g; G ResNet %d blocks ch %d, PatchGAN ch %d, TinyRetinaNet (P3+P4); pre-train GAN %d it, detector %d it; joint %d it (detector in the loop: Adam lr %g, and DetectorGAN's unrolled term looks ahead through that Adam step with its current moments); detection-loss weight %g, generator grad-norm clip %g; %d synthetic; %d final detectors per arm (their own initial weights and batch orders, the same for every arm; an arm's metrics are their means) of %d it, batch %d; %s; seeds %s"
                (if quick then "quick" else "full")
                cfg.Spec.Size
                cfg.Spec.Size
                cfg.Spec.Labelled
                cfg.Spec.Clean
                cfg.Spec.Test
                cfg.Spec.Contrast
                cfg.Spec.NoduleScale
                cfg.GenBlocks
                cfg.GenChannels
                cfg.DiscChannels
                cfg.PretrainGan
                cfg.PretrainDet
                cfg.Joint
                cfg.LrDet
                cfg.LambdaDet
                cfg.GradClip
                cfg.Synthetic
                cfg.FinalDetectors
                cfg.FinalDet
                cfg.Batch
                (if quick then
                     "the ACGAN-like arm and the detection-weight / clipping ablation arms in the full config only"
                 else
                     "with the ACGAN-like arm and the detection-weight / clipping ablation arms")
                (runs |> List.map (fst >> string) |> String.concat ", ")

        let row exp claim thesis measured =
            { System = "detectorgan"
              Experiment = exp
              Claim = claim
              Thesis = thesis
              Measured = measured
              Config = config
              Data = ScanData.dataName }

        let keyRows key = runs |> List.map (fun (_, rs) -> rs |> List.find (fun r -> r.Key = key))
        let col key (f: DetGanRow -> float) = keyRows key |> List.map f
        let ms key f = Paired.meanSd 3 (Paired.stats (col key f))
        let first = snd runs.Head
        let main = first |> List.filter (fun r -> not (r.Key.StartsWith "detectorgan-w"))

        let t41 =
            main
            |> List.map (fun r ->
                let (ap, rc), _, _ = DetGanExperiment.thesis.[r.Key]

                row
                    "table-4.1"
                    (r.Label + ": nodule AP and recall at IoU 0.1 (and 0.5)")
                    (sprintf "AP %s, recall %s" (inv ap) (inv rc))
                    (sprintf
                        "AP@0.1 %s, recall@0.1 %s; AP@0.5 %s, recall@0.5 %s (mean ± sd over %d seeds)"
                        (ms r.Key (fun x -> x.Ap01))
                        (ms r.Key (fun x -> x.Recall01))
                        (ms r.Key (fun x -> x.Ap05))
                        (ms r.Key (fun x -> x.Recall05))
                        runs.Length))

        let meanList key (f: DetGanRow -> float list) =
            let ls = keyRows key |> List.map f |> List.filter (fun l -> not l.IsEmpty)
            if ls.IsEmpty then [] else List.init ls.Head.Length (fun i -> ls |> List.averageBy (fun l -> l.[i]))

        let loc =
            main
            |> List.map (fun r ->
                let _, ti, tb = DetGanExperiment.thesis.[r.Key]

                let th =
                    match ti, tb with
                    | Some a, Some b ->
                        sprintf "T_IoU 0.1-0.7: %s; T_IoBB 0.1/0.25/0.5/0.75: %s (last = avg)" (DetGanExperiment.fmt a) (DetGanExperiment.fmt b)
                    | _ -> "—"

                row
                    "tables-4.2-4.3"
                    (r.Label + ": localization accuracy (top-scoring box) at T_IoU and T_IoBB")
                    th
                    (sprintf
                        "mean over %d seeds: T_IoU 0.1-0.7: %s; T_IoBB 0.1/0.25/0.5/0.75: %s (last = avg)"
                        runs.Length
                        (DetGanExperiment.fmt (meanList r.Key (fun x -> x.LocIou)))
                        (DetGanExperiment.fmt (meanList r.Key (fun x -> x.LocIobb)))))

        let compare (a: string) (b: string) (f: DetGanRow -> float) = Paired.difference (col a f) (col b f)
        // The reading at IoU 0.1 is decisive either way: the interval excludes 0, or its half-width is at most half the
        // thesis's DetectorGAN-over-real-only effect (+0.112), so it rules out an effect of that size.
        // `own`: the thesis's own difference for this comparison when smaller than +0.112 (0: none)
        let verdictRow exp claim thesis (a: string) (b: string) (own: float) =
            let d1 = compare a b (fun x -> x.Ap01)
            let d5 = compare a b (fun x -> x.Ap05)
            let hw = Paired.halfWidth d1

            let more =
                if Paired.verdict d1 <> Inconclusive || hw <= thesisEffect / 2.0 then
                    ""
                else
                    match Paired.seedsFor d1.Sd (thesisEffect / 2.0) 1000 with
                    | Some n ->
                        sprintf "; at this sd of the per-seed differences (%s) a half-width of %s takes %d seeds" (inv d1.Sd) (inv (thesisEffect / 2.0)) n
                    | None ->
                        sprintf
                            "; at this sd of the per-seed differences (%s) a half-width of %s takes more than 1000 seeds"
                            (inv d1.Sd)
                            (inv (thesisEffect / 2.0))

            let note =
                more
                + if own <= 0.0 then
                      ""
                  elif Paired.verdict d1 = Inconclusive && hw <= own / 2.0 then
                      sprintf "; the interval also rules out the thesis's own difference here, +%s (half-width at most %s)" (inv own) (inv (own / 2.0))
                  else
                      sprintf "; the thesis's own difference here, +%s, would take a half-width of at most %s to rule out" (inv own) (inv (own / 2.0))

            row
                exp
                claim
                thesis
                (sprintf
                    "%s at IoU 0.1: paired AP difference %s, half-width %s (per seed %s)%s; at IoU 0.5: %s, %s (per seed %s); decided by the 95%% interval of the paired difference"
                    (Paired.decisiveText 3 thesisEffect "the thesis's DetectorGAN-over-real-only effect" d1)
                    (Paired.interval 3 d1)
                    (inv (Paired.halfWidth d1))
                    (List.map2 (-) (col a (fun x -> x.Ap01)) (col b (fun x -> x.Ap01)) |> Paired.values 3)
                    note
                    (Paired.verdictText (Paired.verdict d5))
                    (Paired.interval 3 d5)
                    (List.map2 (-) (col a (fun x -> x.Ap05)) (col b (fun x -> x.Ap05)) |> Paired.values 3))

        let regime =
            row
                "regime"
                "the stand-in is a small-data regime where real-only detection is clearly imperfect (so there is room for synthetic data to help)"
                "NIH nodules, real only: AP@0.1 0.124, recall 0.184"
                (sprintf
                    "real only: AP@0.1 %s, recall@0.1 %s, AP@0.5 %s, recall@0.5 %s (mean ± sd over %d seeds)"
                    (ms "real" (fun x -> x.Ap01))
                    (ms "real" (fun x -> x.Recall01))
                    (ms "real" (fun x -> x.Ap05))
                    (ms "real" (fun x -> x.Recall05))
                    runs.Length)

        let ablation =
            let keys = first |> List.map (fun r -> r.Key) |> List.filter (fun k -> k = "detectorgan" || k.StartsWith "detectorgan-w")

            if keys.Length <= 1 then
                []
            else
                let parts =
                    keys
                    |> List.map (fun k ->
                        let diverged = keyRows k |> List.filter (fun r -> r.Diverged) |> List.length

                        let vs =
                            if k = "detectorgan" then
                                ""
                            else
                                sprintf
                                    "; vs λ %g clip %g: AP@0.1 %s"
                                    cfg.LambdaDet
                                    cfg.GradClip
                                    (Paired.interval 3 (compare k "detectorgan" (fun x -> x.Ap01)))

                        sprintf
                            "%s: AP@0.1 %s, AP@0.5 %s%s%s"
                            k
                            (ms k (fun x -> x.Ap01))
                            (ms k (fun x -> x.Ap05))
                            (if diverged > 0 then sprintf " (%d of %d seeds skipped non-finite iterations)" diverged runs.Length else "")
                            vs)

                [ row
                      "ablation"
                      "DetectorGAN's detection-loss weight (0.1 in the main rows) and the generators' gradient clipping (5) are not what makes the result"
                      "— (the thesis does not ablate them; weights 0.1 and clipping 5 are this implementation's choices)"
                      (String.concat "; " parts) ]
        // Where the noise of the per-seed differences comes from: the final detectors' own training (their spread
        // within a seed) against the spread between seeds; and the paired difference's sd with one final detector per
        // arm against the mean of all of them.
        let finalNoise =
            let k = first |> List.map (fun r -> r.Ap01Each.Length) |> List.max

            if k <= 1 then
                []
            else
                let within key =
                    keyRows key
                    |> List.map (fun r -> (Paired.stats r.Ap01Each).Sd)
                    |> List.filter Double.IsFinite
                    |> fun xs -> if xs.IsEmpty then nan else sqrt (xs |> List.averageBy (fun x -> x * x))

                let arms =
                    main
                    |> List.map (fun r ->
                        sprintf
                            "%s: within a seed %s, between seeds (mean of %d) %s"
                            r.Key
                            (inv (within r.Key))
                            k
                            (inv (Paired.stats (col r.Key (fun x -> x.Ap01))).Sd))

                let first1 key =
                    col key (fun x ->
                        match x.Ap01Each with
                        | h :: _ -> h
                        | [] -> nan)

                let d1 = Paired.difference (first1 "detectorgan") (first1 "real")
                let dk = compare "detectorgan" "real" (fun x -> x.Ap01)

                [ row
                      "final-detectors"
                      "the noise of the paired differences, by source: the final detectors' own training (initial weights, batch order) against the seeds (data, GAN training)"
                      "— (the thesis reports one detector per setting)"
                      (sprintf
                          "sd of AP@0.1 over the %d final detectors of an arm (root mean square over %d seeds) and of the arm's mean over seeds: %s. DetectorGAN - real only, paired over seeds: sd %s with the first final detector of each arm (%s), %s with the mean of %d (%s)"
                          k
                          runs.Length
                          (String.concat "; " arms)
                          (inv d1.Sd)
                          (Paired.interval 3 d1)
                          (inv dk.Sd)
                          k
                          (Paired.interval 3 dk)) ]

        t41
        @ loc
        @ finalNoise
        @ [ regime
            verdictRow "verdict" "DetectorGAN's synthetic data improves detection AP over real data only" "yes: AP@0.1 0.124 -> 0.236" "detectorgan" "real" 0.0
            verdictRow
                "verdict-unrolling"
                "the unrolled term helps (DetectorGAN vs DetectorGAN without unrolling)"
                "yes: AP@0.1 0.203 -> 0.236"
                "detectorgan"
                "detectorgan-no-unroll"
                0.033
            verdictRow "verdict-vs-cyclegan" "DetectorGAN beats CycleGAN + BboxLoss" "yes: AP@0.1 0.196 -> 0.236" "detectorgan" "cyclegan-bbox" 0.040 ]
        @ ablation

    let runSeed (ctx: ExperimentContext) (seed: int) =
        // the ACGAN-like arm and the detection-weight / clipping ablation (6 more arms per seed) run in the full config only
        let s = { Config = config ctx.Quick; Seed = seed; Acgan = not ctx.Quick; Ablation = not ctx.Quick }

        let rows, _ =
            DetGanExperiment.run ctx.Options (seedPath ctx.Quick seed) s ctx.Device (fun line ->
                printfn "[%s] seed %d: %s" (DateTime.Now.ToString("HH:mm:ss")) seed line)

        seed, rows

    let table: Experiment =
        { System = "detectorgan"
          Name = "detectorgan-tables"
          Description =
            "per seed: detectors trained on real only / + synthetic from CycleGAN+BboxLoss, ACGAN-like, DetectorGAN without and with unrolling, and a detection-weight/clipping ablation (Tables 4.1-4.3)"
          Run =
            fun ctx ->
                let runs = [ for k in 0 .. seeds - 1 -> runSeed ctx (ctx.Seed + k) ]
                reportRows (config ctx.Quick) ctx.Quick runs
          Parts = ExperimentPart.perSeed seeds (fun ctx k -> runSeed ctx k |> ignore)
          Figures =
            fun ctx ->
                let dir = Path.Combine(ctx.RunsRoot, seedPath ctx.Quick ctx.Seed)

                [ ReportFigure.create
                      (sprintf
                          "seed %d: clean scan | CycleGAN+BboxLoss | DetectorGAN (insertion box green), then each generator's output alone (Fig 4.3 analogue)"
                          ctx.Seed)
                      (Path.Combine(dir, "inserted-cyclegan-vs-detectorgan.png"))
                  ReportFigure.create
                      (sprintf "seed %d: detections of the detector trained with DetectorGAN's synthetic data" ctx.Seed)
                      (Path.Combine(dir, "detections-detectorgan.png")) ] }

    let all: Experiment list = [ table ]
