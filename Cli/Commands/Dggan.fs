/// `autodesign dggan search|baseline` — the DGGAN experiments (thesis chapter 5); `dggan candidate` (hidden)
/// trains one candidate of an existing search run folder, for a job launcher.
module AutoDesign.Cli.Commands.Dggan

open System
open System.IO
open Argu
open AutoDesign.Runs
open AutoDesign.DGGAN
open AutoDesign.Reproduce.DGGAN
open AutoDesign.Cli
open AutoDesign.Cli.Globals

/// `--data`: the stand-ins for CIFAR-10 (padded to 32x32).
type GanData =
    | Mnist
    | Fashion_Mnist

type DgganRunArgs =
    | Quick
    | [<Hidden>] Tiny
    | Seed of int
    | Seeds of int
    | Data of GanData
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
            | Seed _ -> "first seed (default 1)."
            | Seeds _ ->
                "searches with seeds seed..seed+N-1, each a job of the launcher (default 1; with one seed, each search step's candidates are the jobs)."
            | Data _ -> "mnist (embedded, default) or fashion-mnist; padded to 32x32 as stand-ins for CIFAR-10."
            | Iterations _ -> "training iterations per candidate (overrides the config)."
            | Final_Iterations _ -> "iterations of the final training stage for the chosen architecture and ProgGAN (overrides the config)."
            | Final_Res _ -> "final resolution 8, 16 or 32 (quick: 16, full: 32); the search depth follows it."
            | TopK _ -> "K of Algorithm 1 (quick: 2, full: 8)."
            | P _ -> "sampling probability p of Algorithm 1 (default 0.2)."

type DgganCandidateArgs =
    | [<Mandatory>] Search_Dir of path: string
    | [<Mandatory>] Id of string

    interface IArgParserTemplate with
        member a.Usage =
            match a with
            | Search_Dir _ -> "the search run folder (holds config.json, feature-net/ and candidates/)."
            | Id _ -> "candidate id (candidates/<id>) or folder (final/dggan)."

type DgganArgs =
    | [<CliPrefix(CliPrefix.None)>] Search of ParseResults<DgganRunArgs>
    | [<CliPrefix(CliPrefix.None)>] Baseline of ParseResults<DgganRunArgs>
    | [<CliPrefix(CliPrefix.None); Hidden>] Candidate of ParseResults<DgganCandidateArgs>

    interface IArgParserTemplate with
        member a.Usage =
            match a with
            | Search _ -> "ProgGAN baseline + DGGAN search (Algorithm 1) + final training stage; FID/SWD/IS on fresh samples, per-resolution table, analyses."
            | Baseline _ -> "only the ProgGAN baseline (fixed symmetric growing schedule)."
            | Candidate _ -> "train one candidate of an existing search run folder (a job of the launcher)."

let dataName (d: GanData) =
    match d with
    | Mnist -> "mnist"
    | Fashion_Mnist -> "fashion-mnist"

let private settings (r: ParseResults<DgganRunArgs>) seed =
    let data = dataName (r.GetResult(Data, defaultValue = Mnist))

    (if r.Contains Tiny then DgganExperiment.tiny data seed
     elif r.Contains Quick then DgganExperiment.quick data seed
     else DgganExperiment.full data seed)
    |> DgganExperiment.withOverrides
        (r.TryGetResult Iterations |> Option.map (Values.positive "iterations"))
        (r.TryGetResult Final_Iterations |> Option.map (Values.nonNegative "final-iterations"))
        (r.TryGetResult Final_Res)
        (r.TryGetResult TopK |> Option.map (Values.positive "topk"))
        (r.TryGetResult P |> Option.map (Values.between "p" 0.0 1.0))

let private runName (r: ParseResults<DgganRunArgs>) (s: DgganSettings) kind seed =
    sprintf
        "dggan/%s-%s-%s-seed%d"
        kind
        s.Data
        (if r.Contains Tiny then "tiny"
         elif s.Quick then "quick"
         else "full")
        seed

/// Candidates of one search step as jobs of the launcher (`dggan candidate --search-dir D --id F`).
let private candidateJobs
    (g: Globals)
    (line: Jobs.Line<DgganArgs>)
    (args: ParseResults<DgganArgs>)
    (choice: LauncherChoice)
    (searchDir: string)
    (jobs: CandidateJob list)
    =
    let candidate = args.Parser.GetSubCommandParser <@ Candidate @>

    Jobs.run
        g
        choice
        [ for j in jobs ->
              Jobs.job
                  g
                  ("dggan/" + j.Config.Id)
                  (line (Jobs.only args (Candidate(candidate.ToParseResults [ Search_Dir searchDir; Id j.Folder ]))))
                  (Path.Combine(searchDir, j.Folder)) ]

let handle (g: Globals) (line: Jobs.Line<DgganArgs>) (args: ParseResults<DgganArgs>) =
    match args.GetSubCommand() with
    | Search r ->
        let seeds = Values.Read.Seeds(r, Seed, Seeds)
        let runs = seeds |> List.map (fun seed -> let s = settings r seed in s, runName r s "search" seed)
        let dev = g.Start()
        let g' = Jobs.seeds g "dggan-search" seeds (fun k -> line (Jobs.only args (Search(Jobs.narrow r [ Seed k; Seeds 1 ]))))

        let external =
            match g.LauncherChoice with
            | Some choice when seeds.Length = 1 -> Some(fun dir jobs -> candidateJobs g line args choice dir jobs)
            | _ -> None

        for (s, name) in runs do
            let summary, dir = SearchRun.run g'.RunOptions name s dev external log
            printfn "%s" (SearchRun.describe dir summary)

        0
    | Baseline r ->
        g.NoJobs "dggan baseline"
        let dev = g.Start()
        let seed = r.GetResult(Seed, defaultValue = 1)
        Values.seeds seed 1 |> ignore
        if r.Contains Seeds then Errors.fail "--seeds applies to dggan search only"
        let s = settings r seed
        let rows, dir = SearchRun.runBaseline g.RunOptions (runName r s "baseline" seed) s dev log

        for (id, res, fid, fresh) in rows do
            printfn "%s %dx%d FID %.3f (fresh %.3f)" id res res fid fresh

        printfn "results in %s" dir
        0
    | Candidate r ->
        g.NoJobs "dggan candidate"
        let dev = g.Start()
        let dir = r.GetResult Search_Dir
        if not (Directory.Exists dir) then Errors.fail "search run folder %s does not exist" dir
        let res = DgganExperiment.trainCandidate g.RunOptions dir (r.GetResult Id) dev log
        printfn "%s: FID %.4f (fresh %.4f)%s" res.Id res.SelectionFid res.FreshFid (if res.Diverged then ", diverged" else "")
        0
