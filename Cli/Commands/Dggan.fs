/// `autodesign dggan search|baseline` — the DGGAN experiments (thesis chapter 5).
module AutoDesign.Cli.Commands.Dggan

open System
open System.IO
open Argu
open AutoDesign.Runs
open AutoDesign.DGGAN
open AutoDesign.Reproduce.DGGAN
open AutoDesign.Metrics

type DgganRunArgs =
    | Quick
    | Device of string
    | Seed of int
    | Runs of int
    | Resume
    | Data of string
    | Out of string
    | Threads of int
    | Iterations of int
    | Final_Res of int
    | TopK of int
    | P of float
    interface IArgParserTemplate with
        member a.Usage =
            match a with
            | Quick -> "small config that finishes in minutes on 2 cores."
            | Device _ -> "auto|cpu|cuda (default auto)."
            | Seed _ -> "first seed (default 1)."
            | Runs _ -> "number of runs with seeds seed, seed+1, ... (default 1)."
            | Resume -> "continue a killed run in the same folder (finished candidates are not retrained)."
            | Data _ -> "mnist (embedded, default) or fashion-mnist; padded to 32x32 as stand-ins for CIFAR-10."
            | Out _ -> "run folder root (default runs/dggan)."
            | Threads _ -> "CPU threads for TorchSharp (default 1: on a shared 2-core machine more threads spin and slow down)."
            | Iterations _ -> "training iterations per candidate (overrides the config)."
            | Final_Res _ -> "final resolution 8, 16 or 32 (quick: 16, full: 32); the search depth follows it."
            | TopK _ -> "K of Algorithm 1 (quick: 2, full: 8)."
            | P _ -> "sampling probability p of Algorithm 1 (default 0.2)."

type DgganArgs =
    | [<CliPrefix(CliPrefix.None)>] Search of ParseResults<DgganRunArgs>
    | [<CliPrefix(CliPrefix.None)>] Baseline of ParseResults<DgganRunArgs>
    interface IArgParserTemplate with
        member a.Usage =
            match a with
            | Search _ -> "ProgGAN baseline + DGGAN search (Algorithm 1), final FID/SWD/IS, per-resolution table, analyses."
            | Baseline _ -> "only the ProgGAN baseline (fixed symmetric growing schedule)."

let private settings (r: ParseResults<DgganRunArgs>) seed =
    let data = r.GetResult(Data, "mnist")
    if data <> "mnist" && data <> "fashion-mnist" then Errors.fail "unknown data set '%s' (expected mnist or fashion-mnist)" data
    (if r.Contains Quick then DgganExperiment.quick data seed else DgganExperiment.full data seed)
    |> DgganExperiment.withOverrides (r.TryGetResult Iterations) (r.TryGetResult Final_Res) (r.TryGetResult TopK) (r.TryGetResult P)

let private runDir (r: ParseResults<DgganRunArgs>) (s: DgganSettings) kind seed =
    let root = r.GetResult(Out, Path.Combine("runs", "dggan"))
    let dir = Path.Combine(root, sprintf "%s-%s-%s-seed%d" kind s.Data (if s.Quick then "quick" else "full") seed)
    if File.Exists(Path.Combine(dir, "search.json")) && not (r.Contains Resume) then
        Errors.fail "%s already holds a run; pass --resume to continue it or --out to use another folder" dir
    dir

let private device (r: ParseResults<DgganRunArgs>) =
    Common.resolveDevice (r.GetResult(Threads, 1)) (r.GetResult(Device, "auto"))

let private log = Common.log

let handle (args: ParseResults<DgganArgs>) =
    match args.GetSubCommand() with
    | Search r ->
        let dev = device r
        let seed0 = r.GetResult(Seed, 1)
        let runs = r.GetResult(Runs, 1)
        if runs < 1 then Errors.fail "--runs must be at least 1"
        for seed in seed0 .. seed0 + runs - 1 do
            let s = settings r seed
            let summary = DgganExperiment.run s (runDir r s "search" seed) dev log
            printfn "%s" (DgganExperiment.describe summary)
        0
    | Baseline r ->
        let dev = device r
        let seed = r.GetResult(Seed, 1)
        let s = settings r seed
        let dir = runDir r s "baseline" seed
        let rows = DgganExperiment.runBaseline s dir dev log
        for (id, res, fid) in rows do printfn "%s %dx%d FID %.3f" id res res fid
        0
