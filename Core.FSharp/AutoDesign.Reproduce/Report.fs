namespace AutoDesign.Reproduce

open System
open System.Text

/// Renders REPORT.md: a header (date, machine, config, thread count), one table per system in registry
/// order, failed experiments marked as such, and a section listing every stand-in data set.
module Report =
    type Header =
        { Date: DateTime
          Cores: int
          Machine: string
          Quick: bool
          Threads: int }

    let header (quick: bool) (threads: int) =
        { Date = DateTime.UtcNow
          Cores = Environment.ProcessorCount
          Machine = sprintf "%s, %s" (Runtime.InteropServices.RuntimeInformation.OSDescription.Trim()) (Runtime.InteropServices.RuntimeInformation.FrameworkDescription)
          Quick = quick
          Threads = threads }

    let cell (s: string) =
        let s = if String.IsNullOrWhiteSpace s then "—" else s
        s.Replace("\r", " ").Replace("\n", " ").Replace("|", "\\|").Trim()

    let isStandIn (data: string) = data.IndexOf("stand-in", StringComparison.OrdinalIgnoreCase) >= 0

    /// The report for the experiments that have an outcome, in registry order.
    let render (h: Header) (outcomes: (Experiment * ExperimentOutcome) list) =
        let sb = StringBuilder()
        let line (s: string) = sb.Append(s).Append('\n') |> ignore
        line "# AutoDesign reproduction report"
        line ""
        line (sprintf "- Date: %s UTC" (h.Date.ToString("yyyy-MM-dd HH:mm")))
        line (sprintf "- Machine: %d cores; %s" h.Cores h.Machine)
        line (sprintf "- Config: %s; %d torch thread%s per experiment (each row's Config column says how that row was measured)"
                  (if h.Quick then "quick" else "full") h.Threads (if h.Threads = 1 then "" else "s"))
        let failed = outcomes |> List.filter (snd >> function Failure _ -> true | _ -> false) |> List.length
        line (sprintf "- Results: %d experiments%s, rebuilt from the run folders in runs/reproduce/"
                  outcomes.Length (if failed > 0 then sprintf " (%d FAILED)" failed else ""))
        let systems = outcomes |> List.map (fun (e, _) -> e.System) |> List.distinct
        for system in systems do
            line ""
            line (sprintf "## %s" system)
            line ""
            line "| Experiment | Claim | Thesis | Measured | Config | Data |"
            line "|---|---|---|---|---|---|"
            for (e, o) in outcomes |> List.filter (fun (e, _) -> e.System = system) do
                match o with
                | Rows rows ->
                    for row in rows do
                        line (sprintf "| %s | %s | %s | %s | %s | %s |" (cell row.Experiment) (cell row.Claim) (cell row.Thesis)
                                  (cell row.Measured) (cell row.Config) (cell row.Data))
                | Failure(msg, log) ->
                    line (sprintf "| %s | %s | — | FAILED: %s (log: %s) | — | — |" (cell e.Name) (cell e.Description) (cell msg) (cell log))
        line ""
        line "## Stand-in data sets"
        line ""
        let standIns =
            outcomes
            |> List.collect (fun (_, o) -> match o with Rows rows -> rows | Failure _ -> [])
            |> List.filter (fun row -> isStandIn row.Data)
            |> List.map (fun row -> sprintf "- %s / %s: %s" row.System row.Experiment (cell row.Data)) |> List.distinct
        if standIns.IsEmpty then line "None: every measured row uses the data set the thesis used."
        else standIns |> List.iter line
        sb.ToString()
