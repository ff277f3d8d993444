/// `autodesign dggan search|baseline` — the DGGAN experiments (thesis chapter 5); `dggan candidate` (hidden)
/// trains one candidate of an existing search run folder, for a job launcher.
module AutoDesign.Cli.Commands.Dggan

open System
open System.IO
open Argu
open AutoDesign.Runs
open AutoDesign.DGGAN
open AutoDesign.Reproduce.DGGAN

type DgganRunArgs =
    | Quick
    | [<Hidden>] Tiny
    | Device of string
    | Seed of int
    | Runs of int
    | Force
    | Wait
    | Data of string
    | Out of string
    | Threads of int
    | Iterations of int
    | Final_Iterations of int
    | Final_Res of int
    | TopK of int
    | P of float
    interface IArgParserTemplate with
        member a.Usage =
            match a with
            | Quick -> "small config that finishes in minutes on 2 cores."
            | Tiny -> "seconds-long config for tests."
            | Device _ -> "auto|cpu|cuda (default auto)."
            | Seed _ -> "first seed (default 1)."
            | Runs _ -> "number of runs with seeds seed, seed+1, ... (default 1), each in its own run folder."
            | Force -> "discard a run folder that holds another configuration."
            | Wait -> "wait for another process writing the run folder instead of failing."
            | Data _ -> "mnist (embedded, default) or fashion-mnist; padded to 32x32 as stand-ins for CIFAR-10."
            | Out _ -> "root of the run folders (default runs/dggan); a run with the same configuration continues there."
            | Threads _ -> "CPU threads for TorchSharp (default 1: on a shared 2-core machine more threads spin and slow down)."
            | Iterations _ -> "training iterations per candidate (overrides the config)."
            | Final_Iterations _ -> "iterations of the final training stage for the chosen architecture and ProgGAN (overrides the config)."
            | Final_Res _ -> "final resolution 8, 16 or 32 (quick: 16, full: 32); the search depth follows it."
            | TopK _ -> "K of Algorithm 1 (quick: 2, full: 8)."
            | P _ -> "sampling probability p of Algorithm 1 (default 0.2)."

type DgganCandidateArgs =
    | [<Mandatory>] Search_Dir of path: string
    | [<Mandatory>] Id of string
    | Device of string
    | Threads of int
    | Wait
    interface IArgParserTemplate with
        member a.Usage =
            match a with
            | Search_Dir _ -> "the search run folder (holds config.json, feature-net/ and candidates/)."
            | Id _ -> "candidate id (candidates/<id>) or folder (final/dggan)."
            | Device _ -> "auto|cpu|cuda (default auto)."
            | Threads _ -> "CPU threads for TorchSharp (default 1)."
            | Wait -> "wait for another process writing the candidate's folder instead of failing."

type DgganArgs =
    | [<CliPrefix(CliPrefix.None)>] Search of ParseResults<DgganRunArgs>
    | [<CliPrefix(CliPrefix.None)>] Baseline of ParseResults<DgganRunArgs>
    | [<CliPrefix(CliPrefix.None); Hidden>] Candidate of ParseResults<DgganCandidateArgs>
    interface IArgParserTemplate with
        member a.Usage =
            match a with
            | Search _ -> "ProgGAN baseline + DGGAN search (Algorithm 1) + final training stage; FID/SWD/IS on fresh samples, per-resolution table, analyses."
            | Baseline _ -> "only the ProgGAN baseline (fixed symmetric growing schedule)."
            | Candidate _ -> "train one candidate of an existing search run folder (for job launchers)."

let private settings (r: ParseResults<DgganRunArgs>) seed =
    let data = r.GetResult(DgganRunArgs.Data, "mnist")
    if data <> "mnist" && data <> "fashion-mnist" then Errors.fail "unknown data set '%s' (expected mnist or fashion-mnist)" data
    (if r.Contains Tiny then DgganExperiment.tiny data seed elif r.Contains Quick then DgganExperiment.quick data seed else DgganExperiment.full data seed)
    |> DgganExperiment.withOverrides (r.TryGetResult Iterations) (r.TryGetResult Final_Iterations) (r.TryGetResult Final_Res) (r.TryGetResult TopK) (r.TryGetResult P)

let private options (r: ParseResults<DgganRunArgs>) =
    { Root = r.GetResult(Out, Path.Combine("runs", "dggan")); Force = r.Contains Force; Wait = r.Contains DgganRunArgs.Wait }

let private runName (r: ParseResults<DgganRunArgs>) (s: DgganSettings) kind seed =
    sprintf "%s-%s-%s-seed%d" kind s.Data (if r.Contains Tiny then "tiny" elif s.Quick then "quick" else "full") seed

let private log = Common.log

let handle (args: ParseResults<DgganArgs>) =
    match args.GetSubCommand() with
    | Search r ->
        let dev = Common.resolveDevice (r.GetResult(DgganRunArgs.Threads, 1)) (r.GetResult(DgganRunArgs.Device, "auto"))
        let seed0 = r.GetResult(Seed, 1)
        let runs = r.GetResult(Runs, 1)
        if runs < 1 then Errors.fail "--runs must be at least 1"
        for seed in seed0 .. seed0 + runs - 1 do
            let s = settings r seed
            let summary, dir = SearchRun.run (options r) (runName r s "search" seed) s dev log
            printfn "%s" (SearchRun.describe dir summary)
        0
    | Baseline r ->
        let dev = Common.resolveDevice (r.GetResult(DgganRunArgs.Threads, 1)) (r.GetResult(DgganRunArgs.Device, "auto"))
        let seed = r.GetResult(Seed, 1)
        let s = settings r seed
        let rows, dir = SearchRun.runBaseline (options r) (runName r s "baseline" seed) s dev log
        for (id, res, fid, fresh) in rows do printfn "%s %dx%d FID %.3f (fresh %.3f)" id res res fid fresh
        printfn "results in %s" dir
        0
    | Candidate r ->
        let dev = Common.resolveDevice (r.GetResult(DgganCandidateArgs.Threads, 1)) (r.GetResult(DgganCandidateArgs.Device, "auto"))
        let dir = r.GetResult Search_Dir
        if not (Directory.Exists dir) then Errors.fail "search run folder %s does not exist" dir
        let o = { RunOptions.Default with Wait = r.Contains DgganCandidateArgs.Wait }
        let res = DgganExperiment.trainCandidate o dir (r.GetResult Id) dev log
        printfn "%s: FID %.4f (fresh %.4f)%s" res.Id res.SelectionFid res.FreshFid (if res.Diverged then ", diverged" else "")
        0
