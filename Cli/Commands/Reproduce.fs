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
    | List
    interface IArgParserTemplate with
        member a.Usage =
            match a with
            | Quick -> "quick configs (minutes on 2 cores) instead of the full ones."
            | Only _ -> "run only SYSTEM or SYSTEM/NAME; other systems' stored results stay in the report."
            | Device _ -> "auto|cpu|cuda (default auto)."
            | Runs _ -> "root folder for run folders and stored results (default runs)."
            | Report _ -> "report file to write (default REPORT.md)."
            | Seed _ -> "base random seed (default 1)."
            | List -> "list the registered experiments and exit."

let parseDevice (s: string) =
    match Device.parse s with
    | Ok d -> Device.resolve d
    | Error msg -> raise (UserError msg)

let options (r: ParseResults<ReproduceArgs>) : ReproduceOptions =
    { Quick = r.Contains Quick
      Only = r.TryGetResult Only
      Device = parseDevice (r.GetResult(Device, defaultValue = "auto"))
      RunsRoot = r.GetResult(Runs, defaultValue = "runs")
      ReportPath = r.GetResult(Report, defaultValue = "REPORT.md")
      Seed = r.GetResult(Seed, defaultValue = 1) }

let handleWith (registry: Experiment list) (r: ParseResults<ReproduceArgs>) : int =
    if r.Contains List then
        for e in registry do printfn "%s/%s  %s" e.System e.Name e.Description
        0
    else
        Runner.run registry (options r) |> ignore
        0

let handle (r: ParseResults<ReproduceArgs>) = handleWith AutoDesign.Cli.Experiments.all r
