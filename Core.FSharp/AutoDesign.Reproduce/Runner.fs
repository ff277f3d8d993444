namespace AutoDesign.Reproduce

open System
open System.Diagnostics
open TorchSharp
open AutoDesign.Runs

type ReproduceOptions =
    { Quick: bool
      /// "SYSTEM" or "SYSTEM/NAME"
      Only: string option
      Device: torch.Device
      RunsRoot: string
      ReportPath: string
      Seed: int }

/// Runs registered experiments, stores each result, and rebuilds REPORT.md from all stored results.
module Runner =
    let select (all: Experiment list) (only: string option) : Experiment list =
        match only with
        | None -> all
        | Some o ->
            let o = o.Trim().Trim('/')
            let picked =
                match o.IndexOf '/' with
                | -1 -> all |> List.filter (fun e -> String.Equals(e.System, o, StringComparison.OrdinalIgnoreCase))
                | i ->
                    let s, n = o.Substring(0, i), o.Substring(i + 1)
                    all |> List.filter (fun e ->
                        String.Equals(e.System, s, StringComparison.OrdinalIgnoreCase) && String.Equals(e.Name, n, StringComparison.OrdinalIgnoreCase))
            if picked.IsEmpty then
                let known = all |> List.map (fun e -> e.System + "/" + e.Name) |> String.concat ", "
                Errors.fail "--only %s matches no experiment (known: %s)" o known
            picked

    /// Rebuild the report file from every stored result (atomic write).
    let writeReport (all: Experiment list) (opts: ReproduceOptions) =
        let results = Results.loadAll opts.RunsRoot
        let systemOrder = all |> List.map (fun e -> e.System) |> List.distinct
        let expOrder = all |> List.map (fun e -> e.System, e.Name)
        let text = Report.render (Report.header opts.Quick) systemOrder expOrder results
        Atomic.writeAllText opts.ReportPath text
        results

    let run (all: Experiment list) (opts: ReproduceOptions) : StoredResult list =
        let chosen = select all opts.Only
        let ctx = { Quick = opts.Quick; Device = opts.Device; RunsRoot = opts.RunsRoot; Seed = opts.Seed }
        chosen |> List.iteri (fun i e ->
            printfn "[%d/%d] %s/%s (%s): %s" (i + 1) chosen.Length e.System e.Name (if opts.Quick then "quick" else "full") e.Description
            let clock = Stopwatch.StartNew()
            let rows = e.Run ctx
            let rows = rows |> List.map (fun r -> { r with System = (if String.IsNullOrWhiteSpace r.System then e.System else r.System) })
            Results.store opts.RunsRoot
                { System = e.System; Name = e.Name; Description = e.Description; Quick = opts.Quick
                  FinishedUtc = DateTime.UtcNow; Seconds = clock.Elapsed.TotalSeconds; Rows = Array.ofList rows }
            for r in rows do printfn "  %s: %s (thesis: %s)" r.Experiment r.Measured r.Thesis
            // Rebuild after each experiment so a killed reproduce keeps what it finished.
            writeReport all opts |> ignore)
        let results = writeReport all opts
        printfn "wrote %s (%d stored results)" opts.ReportPath results.Length
        results
