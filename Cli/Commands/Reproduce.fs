/// `autodesign reproduce`: run the registered experiments and (re)write REPORT.md.
module AutoDesign.Cli.Commands.Reproduce

open System.IO
open Argu
open AutoDesign.Runs
open AutoDesign.Reproduce
open AutoDesign.Cli
open AutoDesign.Cli.Globals

[<CliPrefix(CliPrefix.DoubleDash)>]
type ReproduceArgs =
    | Quick
    | Only of system_or_experiment: string
    | Report of path: string
    | Seed of seed: int
    | List
    | Part of id: string
    | [<Hidden>] No_Report

    interface IArgParserTemplate with
        member a.Usage =
            match a with
            | Quick -> "quick configs (minutes on 2 cores) instead of the full ones."
            | Only _ -> "run only SYSTEM or SYSTEM/NAME; other experiments' stored results stay in the report."
            | Report _ -> "report file to write (default REPORT.md)."
            | Seed _ -> "base random seed (default 1)."
            | List -> "list the registered experiments (and with --only, their parts) and exit."
            | Part _ ->
                "run only this part (a seed, an arm, a stage; see --list) of the experiment --only names, without its rows; a launcher runs every part as a job, then assembles."
            | No_Report -> "run the experiments without writing the report (a job of the launcher)."

let options (g: Globals) (r: ParseResults<ReproduceArgs>) : ReproduceOptions =
    let seed = r.GetResult(Seed, defaultValue = 1)
    Values.seeds seed 1 |> ignore
    if g.Threads > 1024 then Errors.fail "--threads must be at most 1024, got %d" g.Threads
    let report = r.GetResult(Report, defaultValue = "REPORT.md")
    // the report is written after hours of experiments: a path that cannot take it fails now
    if r.Contains Part && not (r.Contains Only) then Errors.fail "--part needs --only SYSTEM/NAME"

    if not (r.Contains No_Report || r.Contains List || r.Contains Part) then
        try
            Atomic.checkWritable report
        with UserError msg ->
            Errors.fail "--report: %s" msg

    { Quick = r.Contains Quick
      Only = r.TryGetResult Only
      Device = g.Start()
      RunsRoot = g.RunsRoot
      ReportPath = report
      Seed = seed
      Threads = g.Threads
      Force = g.Force
      Wait = g.Wait
      WriteReport = not (r.Contains No_Report || r.Contains Part)
      Part = r.TryGetResult Part }

/// Each chosen experiment (not yet finished, or all with --force) as jobs: one per part (this command line
/// narrowed to `--only SYSTEM/NAME --part ID --no-report`, logs in <experiment>.parts/) and one that
/// assembles the rows once its parts succeeded (`--only SYSTEM/NAME --no-report`); then the report is
/// rebuilt from the run folders. Jobs of unknown duration take it from the quick durations shipped with
/// AutoDesign.Reproduce, so the pool starts the longest path first from a fresh clone too.
let private asJobs
    (g: Globals)
    (line: Jobs.Line<ReproduceArgs>)
    (r: ParseResults<ReproduceArgs>)
    (choice: LauncherChoice)
    (registry: Experiment list)
    (opts: ReproduceOptions)
    =
    let chosen = Runner.select registry opts.Only
    let set = Results.set opts.Quick opts.Seed
    let root = Path.GetFullPath opts.RunsRoot
    let dirOf (e: Experiment) = Path.GetFullPath(Path.Combine(root, Results.relPath set e))
    let ctx = Runner.context opts
    let shipped = if opts.Quick then ExpectedSeconds.quick () else readOnlyDict []

    let jobs =
        [ for e in chosen do
              let id = e.System + "/" + e.Name

              if opts.Force || not (File.Exists(Path.Combine(dirOf e, "result.json"))) then
                  let parts = e.Parts ctx

                  let partJob (p: ExperimentPart) =
                      { Jobs.job g (id + "/" + p.Id) (line (Jobs.narrow r [ Only id; Part p.Id; No_Report ])) (Path.Combine(dirOf e + ".parts", p.Id)) with
                          DependsOn = p.DependsOn |> List.map (fun d -> id + "/" + d) }

                  yield! parts |> List.map partJob

                  yield
                      { Jobs.job g id (line (Jobs.narrow r [ Only id; No_Report ])) (dirOf e) with
                          DependsOn = parts |> List.map (fun p -> id + "/" + p.Id) } ]

    let jobs = Durations.fill root shipped jobs |> List.ofSeq
    let experiments = jobs |> List.filter (fun j -> j.Args |> Seq.contains "--part" |> not) |> List.length
    printfn "%d experiments (%s), %d to run as %d jobs" chosen.Length (if opts.Quick then "quick" else "full") experiments jobs.Length
    let reports = Launcher.run choice root (System.Action<string> log) jobs
    // an experiment whose job crashed past its retries, or whose part failed, left no result: record its
    // failure where the report reads it
    for r in reports do
        match r.Outcome with
        | Failed msg
        | GaveUp msg when not (r.Job.Args |> Seq.contains "--part") && not (File.Exists(Path.Combine(r.Job.RunDir, "result.json"))) ->
            // a job that ran and failed with an error wrote its own failure record; one that never ran
            // (a part failed) or crashed past its retries did not
            if
                r.Attempts = 0
                || (match r.Outcome with
                    | GaveUp _ -> true
                    | _ -> false)
            then
                Directory.CreateDirectory r.Job.RunDir |> ignore
                Atomic.writeAllText (Results.failurePath r.Job.RunDir) (Json.serialize {| Message = msg; Log = r.Log |})
        | _ -> ()

    let stored = Runner.writeReport registry opts
    printfn "wrote %s (%d experiments)" opts.ReportPath stored.Length

    chosen
    |> List.map (fun e ->
        e,
        (match Results.load opts.RunsRoot set e with
         | Some o -> o
         | None -> Failure("no result and no recorded failure", Job.logPath (Jobs.job g "" [] (dirOf e)))))

let handleWith (registry: Experiment list) (g: Globals) (line: Jobs.Line<ReproduceArgs>) (r: ParseResults<ReproduceArgs>) : int =
    if r.Contains List then
        match r.TryGetResult Only with
        | Some _ ->
            let opts = options g r

            for e in Runner.select registry opts.Only do
                printfn "%s/%s  %s" e.System e.Name e.Description

                for p in e.Parts(Runner.context opts) do
                    printfn "  --part %s%s" p.Id (if p.DependsOn.IsEmpty then "" else sprintf " (after %s)" (String.concat ", " p.DependsOn))
        | None ->
            for e in registry do
                printfn "%s/%s  %s" e.System e.Name e.Description

        0
    else
        let opts = options g r

        let outcomes =
            match g.LauncherChoice with
            | Some choice when opts.WriteReport -> asJobs g line r choice registry opts
            | _ -> Runner.run registry opts

        let failed = Report.failures outcomes

        if failed.IsEmpty then
            0
        else
            eprintfn "error: %d experiment(s) failed: %s" failed.Length (failed |> List.map (fun (e, _) -> e.System + "/" + e.Name) |> String.concat ", ")
            1

let handle (g: Globals) (line: Jobs.Line<ReproduceArgs>) (r: ParseResults<ReproduceArgs>) = handleWith AutoDesign.Cli.Experiments.all g line r
