namespace AutoDesign.Reproduce

open System
open System.IO
open System.Text

/// Renders REPORT.md: a header (date, machine, config, thread count), a summary of the verdicts (claim,
/// thesis, ours, verdict), then per system one section per experiment that gives its config and data once
/// and a table of its rows; failed experiments are marked as such, and a last section lists every stand-in
/// data set. Absolute paths under the runs root are written relative to it.
module Report =
    type Header =
        {
            Date: DateTime
            Cores: int
            Machine: string
            Quick: bool
            Threads: int
            /// The runs root as the user named it (paths in rows are relative to it).
            RunsRoot: string
        }

    let header (quick: bool) (threads: int) (runsRoot: string) =
        { Date = DateTime.UtcNow
          Cores = Environment.ProcessorCount
          Machine =
            sprintf "%s, %s" (Runtime.InteropServices.RuntimeInformation.OSDescription.Trim()) (Runtime.InteropServices.RuntimeInformation.FrameworkDescription)
          Quick = quick
          Threads = threads
          RunsRoot = runsRoot }

    let cell (s: string) =
        let s = if String.IsNullOrWhiteSpace s then "—" else s
        s.Replace("\r", " ").Replace("\n", " ").Replace("|", "\\|").Trim()

    let isStandIn (data: string) = data.IndexOf("stand-in", StringComparison.OrdinalIgnoreCase) >= 0

    /// `text` with every absolute path under `root` made relative to it.
    let relativeTo (root: string) (text: string) =
        if String.IsNullOrEmpty text then
            text
        else
            let full = Path.GetFullPath(root).TrimEnd('/')
            text.Replace(full + "/", "").Replace(full, ".")

    /// The first `n` characters of `s`, cut at a word boundary, with an ellipsis when cut.
    let private shorten (n: int) (s: string) =
        if s.Length <= n then
            s
        else
            let cut = s.LastIndexOf(' ', n)
            s.Substring(0, (if cut > n / 2 then cut else n)).TrimEnd(',', ';', ':') + " …"

    /// The verdict a row's measured text states, if any: what follows "Verdict: ", else the clause of the
    /// earliest of these phrases it contains.
    let private verdicts =
        [ "NOT REPRODUCED"
          "REPRODUCED"
          "INCONCLUSIVE"
          "NO EFFECT OF SIZE"
          "no difference detected"
          "worse than"
          "better than"
          "claim holds"
          "claim fails"
          "ABOVE"
          "BELOW" ]

    let verdictOf (measured: string) : string option =
        match measured.IndexOf("Verdict: ", StringComparison.Ordinal) with
        | i when i >= 0 ->
            let rest = measured.Substring(i + "Verdict: ".Length)
            let stop = rest.IndexOf(". ", StringComparison.Ordinal)
            Some((if stop >= 0 then rest.Substring(0, stop) else rest).TrimEnd('.'))
        | _ ->
            // the clause that holds the first verdict phrase: from the ": " before it to the next ";" or ". "
            verdicts
            |> List.map (fun v -> measured.IndexOf(v, StringComparison.Ordinal))
            |> List.filter (fun i -> i >= 0)
            |> function
                | [] -> None
                | found -> Some(List.min found)
            |> Option.map (fun at ->
                let start =
                    match measured.LastIndexOf(": ", at, StringComparison.Ordinal) with
                    | -1 -> 0
                    | i -> i + 2

                let stops =
                    [ measured.IndexOf(";", at, StringComparison.Ordinal); measured.IndexOf(". ", at, StringComparison.Ordinal) ]
                    |> List.filter (fun i -> i >= 0)

                let stop = if stops.IsEmpty then measured.Length else List.min stops
                shorten 90 (measured.Substring(start, stop - start).Trim()))

    /// The report for the experiments that have an outcome, in registry order. `figures` gives each
    /// experiment's key figures with `Path` a link relative to the report ("" where the image was not written).
    let render (h: Header) (outcomes: (Experiment * ExperimentOutcome) list) (figures: Experiment -> ReportFigure list) =
        let rel = relativeTo h.RunsRoot
        let sb = StringBuilder()
        let line (s: string) = sb.Append(s).Append('\n') |> ignore
        line "# AutoDesign reproduction report"
        line ""
        line (sprintf "- Date: %s UTC" (h.Date.ToString("yyyy-MM-dd HH:mm")))
        line (sprintf "- Machine: %d cores; %s" h.Cores h.Machine)

        line (
            sprintf
                "- Config: %s; %d torch thread%s per experiment (each experiment's section says how it was measured)"
                (if h.Quick then "quick" else "full")
                h.Threads
                (if h.Threads = 1 then "" else "s")
        )

        let failed = Results.failures outcomes |> List.length

        line (
            sprintf
                "- Results: %d experiments%s, rebuilt from the run folders under the runs root (paths below are relative to it)"
                outcomes.Length
                (if failed > 0 then sprintf " (%d FAILED)" failed else "")
        )

        let rowsOf (o: ExperimentOutcome) =
            match o with
            | Rows rows -> rows
            | Failure _ -> []

        let judged =
            [ for (e, o) in outcomes do
                  for r in rowsOf o do
                      match verdictOf r.Measured with
                      | Some v -> yield e, r, v
                      | None -> () ]

        line ""
        line "## Summary"
        line ""

        if judged.IsEmpty then
            line "No row states a verdict."
        else
            line "| System / experiment | Claim | Thesis | Ours | Verdict |"
            line "|---|---|---|---|---|"

            for (e, r, v) in judged do
                line (
                    sprintf
                        "| %s / %s | %s | %s | %s | %s |"
                        (cell e.System)
                        (cell r.Experiment)
                        (cell r.Claim)
                        (cell (shorten 120 r.Thesis))
                        (cell (shorten 160 (rel r.Measured)))
                        (cell v)
                )

        for e, m in Results.failures outcomes do
            line (sprintf "- %s / %s FAILED: %s" e.System e.Name (cell (rel m)))

        let systems = outcomes |> List.map (fun (e, _) -> e.System) |> List.distinct

        for system in systems do
            line ""
            line (sprintf "## %s" system)

            for (e, o) in outcomes |> List.filter (fun (e, _) -> e.System = system) do
                line ""
                line (sprintf "### %s" e.Name)
                line ""

                match o with
                | Rows rows ->
                    let one (f: ReportRow -> string) =
                        match rows |> List.map f |> List.distinct with
                        | [ v ] -> Some v
                        | _ -> None

                    let config, data = one (fun r -> rel r.Config), one (fun r -> r.Data)
                    config |> Option.iter (fun c -> line (sprintf "Config: %s" (cell c)))
                    if config.IsSome && data.IsSome then line ""
                    data |> Option.iter (fun d -> line (sprintf "Data: %s" (cell d)))
                    if config.IsSome || data.IsSome then line ""

                    let columns =
                        [ "Row"; "Claim"; "Thesis"; "Measured" ]
                        @ (if config.IsNone then [ "Config" ] else [])
                        @ (if data.IsNone then [ "Data" ] else [])

                    line ("| " + String.Join(" | ", columns) + " |")
                    line ("|" + String.replicate columns.Length "---|")

                    for row in rows do
                        let cells =
                            [ row.Experiment; row.Claim; row.Thesis; rel row.Measured ]
                            @ (if config.IsNone then [ rel row.Config ] else [])
                            @ (if data.IsNone then [ row.Data ] else [])

                        line ("| " + String.Join(" | ", cells |> List.map cell) + " |")

                    for f in figures e do
                        line ""

                        if String.IsNullOrEmpty f.Path then
                            line (sprintf "Figure not written by this run: %s" (cell f.Caption))
                        else
                            line (sprintf "![%s](%s)" (cell f.Caption) (f.Path.Replace(" ", "%20")))
                | Failure(msg, log) -> line (sprintf "FAILED: %s (log: %s). %s" (cell (rel msg)) (cell (rel log)) (cell e.Description))

        line ""
        line "## Stand-in data sets"
        line ""

        let standIns =
            outcomes
            |> List.collect (fun (_, o) -> rowsOf o)
            |> List.filter (fun row -> isStandIn row.Data)
            |> List.map (fun row -> sprintf "- %s / %s: %s" row.System row.Experiment (cell row.Data))
            |> List.distinct

        if standIns.IsEmpty then
            line "None: every measured row uses the data set the thesis used."
        else
            standIns |> List.iter line

        sb.ToString()
