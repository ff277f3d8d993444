namespace AutoDesign.Reproduce

open System
open System.Text
open AutoDesign.Runs

/// Renders REPORT.md: a header (date, machine, config), one table per system, and a section
/// listing every stand-in data set.
module Report =
    type Header =
        { Date: DateTime
          Cores: int
          Machine: string
          Quick: bool }

    let header (quick: bool) =
        { Date = DateTime.UtcNow
          Cores = Environment.ProcessorCount
          Machine = sprintf "%s, %s" (Runtime.InteropServices.RuntimeInformation.OSDescription.Trim()) (Runtime.InteropServices.RuntimeInformation.FrameworkDescription)
          Quick = quick }

    let cell (s: string) =
        let s = if String.IsNullOrWhiteSpace s then "—" else s
        s.Replace("\r", " ").Replace("\n", " ").Replace("|", "\\|").Trim()

    let isStandIn (data: string) = data.IndexOf("stand-in", StringComparison.OrdinalIgnoreCase) >= 0

    /// Order results: systems in `systemOrder` first (registry order), then the rest alphabetically;
    /// inside a system, experiments in `experimentOrder`, then the rest alphabetically.
    let private ordered (systemOrder: string list) (experimentOrder: (string * string) list) (results: StoredResult list) =
        let rank xs x = match List.tryFindIndex ((=) x) xs with Some i -> i | None -> Int32.MaxValue
        results
        |> List.sortBy (fun r -> rank systemOrder r.System, r.System, rank experimentOrder (r.System, r.Name), r.Name)

    let render (h: Header) (systemOrder: string list) (experimentOrder: (string * string) list) (results: StoredResult list) =
        let sb = StringBuilder()
        let line (s: string) = sb.Append(s).Append('\n') |> ignore
        let results = ordered systemOrder experimentOrder results
        line "# AutoDesign reproduction report"
        line ""
        line (sprintf "- Date: %s UTC" (h.Date.ToString("yyyy-MM-dd HH:mm")))
        line (sprintf "- Machine: %d cores; %s" h.Cores h.Machine)
        line (sprintf "- Config: %s (this invocation; each row's Config column says how that row was measured)" (if h.Quick then "quick" else "full"))
        line (sprintf "- Results: %d experiments, rebuilt from the stored results in runs/reproduce/" results.Length)
        let systems = results |> List.map (fun r -> r.System) |> List.distinct
        for system in systems do
            line ""
            line (sprintf "## %s" system)
            line ""
            line "| Experiment | Claim | Thesis | Measured | Config | Data |"
            line "|---|---|---|---|---|---|"
            for r in results |> List.filter (fun r -> r.System = system) do
                for row in r.Rows do
                    line (sprintf "| %s | %s | %s | %s | %s | %s |" (cell row.Experiment) (cell row.Claim) (cell row.Thesis)
                              (cell row.Measured) (cell row.Config) (cell row.Data))
        line ""
        line "## Stand-in data sets"
        line ""
        let standIns =
            results |> List.collect (fun r -> List.ofArray r.Rows) |> List.filter (fun row -> isStandIn row.Data)
            |> List.map (fun row -> sprintf "- %s / %s: %s" row.System row.Experiment (cell row.Data)) |> List.distinct
        if standIns.IsEmpty then line "None: every measured row uses the data set the thesis used."
        else standIns |> List.iter line
        sb.ToString()
