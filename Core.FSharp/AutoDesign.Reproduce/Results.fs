namespace AutoDesign.Reproduce

open System
open System.IO
open AutoDesign.Runs

/// The configuration of one experiment run of `reproduce` (folder runs/reproduce/<system>/<name>).
type ExperimentConfig = { Quick: bool; Seed: int; Threads: int; Device: string }

/// What one experiment left: its rows, or the error that stopped it and where its log is.
type ExperimentOutcome =
    | Rows of ReportRow list
    | Failure of message: string * log: string

/// Experiments as runs of the engine: runs/reproduce/<quick|full>-seed<k>/<system>/<name>/ holds config.json,
/// log.txt, and result.json (the rows) once it finished or failure.json once it failed. REPORT.md is rebuilt
/// from these folders, so running a subset (`--only`) keeps every other experiment's rows.
module Results =
    /// The set of experiment runs of one mode and seed: "quick-seed1".
    let set (quick: bool) (seed: int) = sprintf "%s-seed%d" (if quick then "quick" else "full") seed
    let relPath (set: string) (e: Experiment) = Path.Combine("reproduce", set, e.System, e.Name)
    let kind (e: Experiment) = sprintf "reproduce.%s.%s/1" e.System e.Name
    let failurePath (runDir: string) = Path.Combine(runDir, "failure.json")

    /// The outcome stored for experiment `e` of `set` under `runsRoot`, if it ran.
    let load (runsRoot: string) (set: string) (e: Experiment) : ExperimentOutcome option =
        let dir = Path.Combine(runsRoot, relPath set e)
        let result = Path.Combine(dir, "result.json")
        let failure = failurePath dir

        if File.Exists result then
            let node = Json.memberOf result "" "result" (Json.readFile result)
            Some(Rows(Json.ofNode<ReportRow list> (result + " field 'result'") node))
        elif File.Exists failure then
            let f = Json.ofNode<{| Message: string; Log: string |}> failure (Json.readFile failure)
            Some(Failure(f.Message, f.Log))
        else
            None

    /// The experiments of `outcomes` that failed, with their messages.
    let failures (outcomes: (Experiment * ExperimentOutcome) list) : (Experiment * string) list =
        outcomes
        |> List.choose (fun (e, o) ->
            match o with
            | Failure(message, _) -> Some(e, message)
            | Rows _ -> None)

    /// The stored configuration of experiment `e`'s run, if any.
    let config (runsRoot: string) (set: string) (e: Experiment) : ExperimentConfig option =
        let p = Path.Combine(runsRoot, relPath set e, "config.json")

        if File.Exists p then
            let n = Json.memberOf p "" "config" (Json.readFile p)
            Some(Json.ofNode<ExperimentConfig> (p + " field 'config'") n)
        else
            None
