/// `autodesign detgan tables|data` — DetectorGAN (thesis chapter 4).
module AutoDesign.Cli.Commands.Detgan

open System
open System.IO
open Argu
open AutoDesign.Runs
open AutoDesign.DetectorGAN
open AutoDesign.Reproduce.DetectorGAN
open AutoDesign.Metrics

type DetganRunArgs =
    | Quick
    | [<Hidden>] Tiny
    | Device of string
    | Seed of int
    | Out of string
    | Force
    | Wait
    | No_Ablation
    | Threads of int
    interface IArgParserTemplate with
        member a.Usage =
            match a with
            | Quick -> "small config (32x32 scans, small nets) that finishes in minutes on 2 cores."
            | Tiny -> "seconds-long config for tests."
            | Device _ -> "auto|cpu|cuda (default auto)."
            | Seed _ -> "seed of data, weights and batches (default 1)."
            | Out _ -> "run folder (default runs/detectorgan/tables-quick|tables-full/seed<k>); a run with the same configuration continues there."
            | Force -> "discard a run folder that holds another configuration."
            | Wait -> "wait for another process writing the run folder instead of failing."
            | No_Ablation -> "leave out the detection-weight / clipping ablation arms."
            | Threads _ -> "CPU threads for TorchSharp (default 1)."

type DetganArgs =
    | [<CliPrefix(CliPrefix.None)>] Tables of ParseResults<DetganRunArgs>
    | [<CliPrefix(CliPrefix.None)>] Data of ParseResults<DetganRunArgs>
    interface IArgParserTemplate with
        member a.Usage =
            match a with
            | Tables _ -> "five detectors (real only; + synthetic from CycleGAN+BboxLoss, ACGAN-like, DetectorGAN without/with unrolling): Tables 4.1-4.3 as CSV, PNG grids."
            | Data _ -> "write a PNG of the procedural nodule scans (stand-in for NIH ChestX-ray nodules) with boxes and insertion boxes."

let private device (r: ParseResults<DetganRunArgs>) =
    Common.resolveDevice (r.GetResult(Threads, 1)) (r.GetResult(Device, "auto"))

let private log = Common.log

let handle (args: ParseResults<DetganArgs>) =
    match args.GetSubCommand() with
    | Tables r ->
        let dev = device r
        let quick = r.Contains Quick
        let cfg = if r.Contains Tiny then DetGanExperiment.tiny elif quick then DetGanExperiment.quick else DetGanExperiment.full
        let seed = r.GetResult(Seed, 1)
        let dir = r.GetResult(Out, Path.Combine("runs", "detectorgan", (if r.Contains Tiny then "tables-tiny" elif quick then "tables-quick" else "tables-full"), sprintf "seed%d" seed))
        let full = Path.GetFullPath dir
        let options = { Root = Path.GetDirectoryName full; Force = r.Contains Force; Wait = r.Contains Wait }
        let settings = { Config = cfg; Seed = seed; Ablation = not (r.Contains No_Ablation) }
        let rows, dir = DetGanExperiment.run options (Path.GetFileName full) settings dev log
        printfn "%-62s %8s %8s %8s %8s" "training data" "AP@0.1" "rec@0.1" "AP@0.5" "rec@0.5"
        for row in rows do printfn "%-62s %8.3f %8.3f %8.3f %8.3f%s" row.Label row.Ap01 row.Recall01 row.Ap05 row.Recall05 (if row.Diverged then " (diverged)" else "")
        printfn "localization accuracy, T_IoU 0.1..0.7 + avg / T_IoBB 0.1 0.25 0.5 0.75 + avg:"
        for row in rows |> List.truncate 5 do printfn "%-42s %s / %s" row.Label (DetGanExperiment.fmt row.LocIou) (DetGanExperiment.fmt row.LocIobb)
        printfn "generator drift (mean |synthetic - clean| outside / inside the box):"
        for row in rows do if not (Double.IsNaN row.DriftOutside) then printfn "%-62s %.4f / %.4f" row.Label row.DriftOutside row.DriftInside
        printfn "results in %s" dir
        0
    | Data r ->
        let quick = r.Contains Quick
        let cfg = if quick then DetGanExperiment.quick else DetGanExperiment.full
        let seed = r.GetResult(Seed, 1)
        let dir = r.GetResult(Out, Path.Combine("runs", "detectorgan", "data"))
        Directory.CreateDirectory dir |> ignore
        let data = ScanData.generate cfg.Spec seed
        let ins = ScanData.insertionBoxes data (seed + 1)
        let path = Path.Combine(dir, "samples.png")
        Visuals.save path data.Size
            ([ for s in Seq.truncate 16 data.Labelled -> Visuals.scanWithTruth data.Size s ]
             @ [ for i in 0 .. min 16 data.Clean.Length - 1 -> Visuals.withBoxes data.Size data.Clean.[i].Pixels [ ins.[i].Target, Visuals.green ] ]) 8
        printfn "%s: rows 1-2 labelled scans with their boxes, rows 3-4 clean scans with sampled insertion boxes -> %s" ScanData.dataName path
        0
