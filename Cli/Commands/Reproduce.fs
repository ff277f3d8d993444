/// `autodesign reproduce`: run the registered experiments and (re)write REPORT.md.
module AutoDesign.Cli.Commands.Reproduce

open Argu
open AutoDesign.Runs
open AutoDesign.Reproduce

[<CliPrefix(CliPrefix.DoubleDash)>]
type ReproduceArgs =
    | Quick
    | Only of system_or_experiment: string
    | Device of device: string
    | Runs of dir: string
    | Report of path: string
    | Seed of seed: int
    | Threads of threads: int
    | Force
    | Wait
    | List
    interface IArgParserTemplate with
        member a.Usage =
            match a with
            | Quick -> "quick configs (minutes on 2 cores) instead of the full ones."
            | Only _ -> "run only SYSTEM or SYSTEM/NAME; other experiments' stored results stay in the report."
            | Device _ -> "auto|cpu|cuda (default auto)."
            | Runs _ -> "root folder for run folders (default runs); results go to runs/reproduce/<quick|full>-seed<k>/."
            | Report _ -> "report file to write (default REPORT.md)."
            | Seed _ -> "base random seed (default 1)."
            | Threads _ -> "torch intra-op threads per experiment (default 1; results depend on it, so it is recorded)."
            | Force -> "discard stored results and run folders made with another configuration, and run again."
            | Wait -> "wait for another process writing the same run folder instead of failing."
            | List -> "list the registered experiments and exit."

let parseDevice (s: string) =
    match Device.parse s with
    | Ok d -> Device.resolve d
    | Error msg -> raise (UserError msg)

let options (r: ParseResults<ReproduceArgs>) : ReproduceOptions =
    let seed = r.GetResult(Seed, defaultValue = 1)
    if seed < 0 then Errors.fail "--seed must be >= 0, got %d" seed
    let threads = r.GetResult(Threads, defaultValue = 1)
    if threads < 1 || threads > 1024 then Errors.fail "--threads must be between 1 and 1024, got %d" threads
    { Quick = r.Contains Quick
      Only = r.TryGetResult Only
      Device = parseDevice (r.GetResult(Device, defaultValue = "auto"))
      RunsRoot = r.GetResult(Runs, defaultValue = "runs")
      ReportPath = r.GetResult(Report, defaultValue = "REPORT.md")
      Seed = seed
      Threads = threads
      Force = r.Contains Force
      Wait = r.Contains Wait }

let handleWith (registry: Experiment list) (r: ParseResults<ReproduceArgs>) : int =
    if r.Contains List then
        for e in registry do printfn "%s/%s  %s" e.System e.Name e.Description
        0
    else
        let outcomes = Runner.run registry (options r)
        let failed = outcomes |> List.filter (snd >> function Failure _ -> true | _ -> false)
        if failed.IsEmpty then 0
        else
            eprintfn "error: %d experiment(s) failed: %s" failed.Length (failed |> List.map (fun (e, _) -> e.System + "/" + e.Name) |> String.concat ", ")
            1

let handle (r: ParseResults<ReproduceArgs>) = handleWith AutoDesign.Cli.Experiments.all r
