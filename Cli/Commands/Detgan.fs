/// `autodesign detgan tables|data` — DetectorGAN (thesis chapter 4).
module AutoDesign.Cli.Commands.Detgan

open System
open System.IO
open Argu
open AutoDesign.Runs
open AutoDesign.DetectorGAN
open AutoDesign.Reproduce.DetectorGAN
open AutoDesign.Metrics
open AutoDesign.Cli
open AutoDesign.Cli.Globals

type DetganRunArgs =
    | Quick
    | [<Hidden>] Tiny
    | Seed of int
    | Seeds of int
    | No_Ablation
    | No_Acgan
    | Final_Detectors of int
    | Test_Scans of int

    interface IArgParserTemplate with
        member a.Usage =
            match a with
            | Quick -> "small config (32x32 scans, small nets) that finishes in minutes on 2 cores."
            | Tiny -> "seconds-long config for tests."
            | Seed _ -> "seed of data, weights and batches (default 1)."
            | Seeds _ -> "repeat with seeds seed..seed+N-1, each a job of the launcher (default 1)."
            | No_Ablation -> "leave out the detection-weight / clipping ablation arms."
            | No_Acgan -> "leave out the ACGAN-like arm (no verdict depends on it)."
            | Final_Detectors _ ->
                "final detectors per arm, each from its own initial weights and batch order (the same for every arm); an arm's metrics are their means (default: the config's)."
            | Test_Scans _ -> "test scans the detectors are evaluated on (default: the config's)."

type DetganDataArgs =
    | Quick
    | Seed of int
    | Out of dir: string

    interface IArgParserTemplate with
        member a.Usage =
            match a with
            | Quick -> "the quick config's scans (32x32)."
            | Seed _ -> "seed of the scans (default 1)."
            | Out _ -> "folder for samples.png (default runs/detectorgan/data)."

type DetganArgs =
    | [<CliPrefix(CliPrefix.None)>] Tables of ParseResults<DetganRunArgs>
    | [<CliPrefix(CliPrefix.None)>] Data of ParseResults<DetganDataArgs>

    interface IArgParserTemplate with
        member a.Usage =
            match a with
            | Tables _ ->
                "five detectors (real only; + synthetic from CycleGAN+BboxLoss, ACGAN-like, DetectorGAN without/with unrolling): Tables 4.1-4.3 as CSV, PNG grids."
            | Data _ -> "write a PNG of the procedural nodule scans (stand-in for NIH ChestX-ray nodules) with boxes and insertion boxes."

let handle (g: Globals) (line: Jobs.Line<DetganArgs>) (args: ParseResults<DetganArgs>) =
    match args.GetSubCommand() with
    | Tables r ->
        let dev = g.Start()
        let quick = r.Contains DetganRunArgs.Quick

        let cfg =
            if r.Contains Tiny then DetGanExperiment.tiny
            elif quick then DetGanExperiment.quick
            else DetGanExperiment.full

        let cfg =
            { cfg with
                FinalDetectors = Values.positive "final-detectors" (r.GetResult(Final_Detectors, defaultValue = cfg.FinalDetectors))
                Spec = { cfg.Spec with Test = Values.positive "test-scans" (r.GetResult(Test_Scans, defaultValue = cfg.Spec.Test)) } }

        let seeds = Values.Read.Seeds(r, DetganRunArgs.Seed, Seeds)

        let g' =
            Jobs.seeds g "detgan-tables" seeds (fun k -> line (Jobs.only args (Tables(Jobs.narrow r [ DetganRunArgs.Seed k; Seeds 1 ]))))

        for seed in seeds do
            let folder =
                sprintf
                    "detectorgan/%s/seed%d"
                    (if r.Contains Tiny then "tables-tiny"
                     elif quick then "tables-quick"
                     else "tables-full")
                    seed

            let settings = { Config = cfg; Seed = seed; Acgan = not (r.Contains No_Acgan); Ablation = not (r.Contains No_Ablation) }
            let rows, dir = DetGanExperiment.run g'.RunOptions folder settings dev log
            printfn "%-62s %8s %8s %8s %8s" "training data" "AP@0.1" "rec@0.1" "AP@0.5" "rec@0.5"

            for row in rows do
                printfn "%-62s %8.3f %8.3f %8.3f %8.3f%s" row.Label row.Ap01 row.Recall01 row.Ap05 row.Recall05 (if row.Diverged then " (diverged)" else "")

            printfn "localization accuracy, T_IoU 0.1..0.7 + avg / T_IoBB 0.1 0.25 0.5 0.75 + avg:"

            for row in rows |> List.filter (fun r -> not (r.Key.StartsWith "detectorgan-w")) do
                printfn "%-42s %s / %s" row.Label (DetGanExperiment.fmt row.LocIou) (DetGanExperiment.fmt row.LocIobb)

            printfn "generator drift (mean |synthetic - clean| outside / inside the box):"

            for row in rows do
                if not (Double.IsNaN row.DriftOutside) then printfn "%-62s %.4f / %.4f" row.Label row.DriftOutside row.DriftInside

            printfn "results in %s" dir

        0
    | Data r ->
        g.NoJobs "detgan data"
        let quick = r.Contains DetganDataArgs.Quick
        let cfg = if quick then DetGanExperiment.quick else DetGanExperiment.full
        let seed = Values.nonNegative "seed" (r.GetResult(DetganDataArgs.Seed, defaultValue = 1))
        let dir = r.GetResult(Out, defaultValue = Path.Combine(g.RunsRoot, "detectorgan", "data"))
        Atomic.prepareFolder "--out" dir
        let path = Path.Combine(dir, "samples.png")
        Atomic.checkTarget path
        let data = ScanData.generate cfg.Spec seed
        let ins = ScanData.insertionBoxes data (seed + 1)

        Visuals.save
            path
            data.Size
            ([ for s in Seq.truncate 16 data.Labelled -> Visuals.scanWithTruth data.Size s ]
             @ [ for i in 0 .. min 16 data.Clean.Length - 1 -> Visuals.withBoxes data.Size data.Clean.[i].Pixels [ ins.[i].Target, Visuals.green ] ])
            8

        printfn "%s: rows 1-2 labelled scans with their boxes, rows 3-4 clean scans with sampled insertion boxes -> %s" ScanData.dataName path
        0
