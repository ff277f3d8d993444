namespace AutoDesign.Reproduce

open System
open System.Diagnostics
open System.IO
open System.Text
open TorchSharp
open AutoDesign.Runs

type ReproduceOptions =
    {
        Quick: bool
        /// "SYSTEM" or "SYSTEM/NAME"
        Only: string option
        Device: torch.Device
        RunsRoot: string
        ReportPath: string
        Seed: int
        /// torch intra-op threads per experiment (results depend on it; recorded in each run's config).
        Threads: int
        /// Discard stored experiment results and run folders of other configurations.
        Force: bool
        /// Wait for another process writing the same run folder instead of failing.
        Wait: bool
        /// Rebuild the report after each experiment (off for a job that runs one experiment of many).
        WriteReport: bool
        /// Run only this part of the one chosen experiment (a job of the launcher; no rows, no report).
        Part: string option
    }

/// A writer that copies everything to the console and an experiment's log file. Another thread may still
/// hold it after the experiment ended and the log closed: then it writes to the console only.
type private Tee(a: TextWriter, b: TextWriter) =
    inherit TextWriter()
    let mutable logOpen = true

    let toLog (f: TextWriter -> unit) =
        if logOpen then
            try
                f b
            with :? ObjectDisposedException ->
                logOpen <- false

    override _.Encoding = Encoding.UTF8

    override _.Write(c: char) =
        a.Write c
        toLog (fun w -> w.Write c)

    override _.Write(s: string) =
        a.Write s
        toLog (fun w -> w.Write s)

    override _.WriteLine(s: string) =
        a.WriteLine s
        toLog (fun w -> w.WriteLine s)

    override _.Flush() =
        a.Flush()
        toLog (fun w -> w.Flush())

/// Runs registered experiments, each as a run of the engine (runs/reproduce/<mode>-seed<k>/<system>/<name>), and rebuilds
/// REPORT.md from the run folders. An experiment that fails is recorded with its error and log path, the
/// others still run, and the report marks it FAILED.
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

                    all
                    |> List.filter (fun e ->
                        String.Equals(e.System, s, StringComparison.OrdinalIgnoreCase)
                        && String.Equals(e.Name, n, StringComparison.OrdinalIgnoreCase))

            if picked.IsEmpty then
                let known = all |> List.map (fun e -> e.System + "/" + e.Name) |> String.concat ", "
                Errors.fail "--only %s matches no experiment (known: %s)" o known

            picked

    let private runOptions (opts: ReproduceOptions) = { Root = opts.RunsRoot; Force = opts.Force; Wait = opts.Wait }

    let context (opts: ReproduceOptions) : ExperimentContext =
        { Quick = opts.Quick
          Device = opts.Device
          RunsRoot = opts.RunsRoot
          Options = runOptions opts
          Seed = opts.Seed
          Threads = opts.Threads }

    let config (opts: ReproduceOptions) : ExperimentConfig = { Quick = opts.Quick; Seed = opts.Seed; Threads = opts.Threads; Device = string opts.Device }

    /// Run one experiment in its run folder (or return its stored rows); never throws for the experiment's own errors.
    let runOne (e: Experiment) (opts: ReproduceOptions) : ExperimentOutcome =
        use run = Run.Open(runOptions opts, Results.relPath (Results.set opts.Quick opts.Seed) e, Results.kind e, config opts)
        if opts.Force && run.IsFinished then run.Discard()

        if run.IsFinished then
            match run.Result<ReportRow list>() with
            | [] -> run.DamagedResult "is an empty list; a finished experiment stores at least one report row"
            | rows -> Rows rows
        else
            let logPath = run.File "log.txt"
            let failure = Results.failurePath run.Dir
            if File.Exists failure then File.Delete failure
            use log = new StreamWriter(logPath, true, AutoFlush = true)
            let out, err = Console.Out, Console.Error
            Console.SetOut(new Tee(out, log))
            Console.SetError(new Tee(err, log))

            try
                try
                    torch.set_num_threads opts.Threads
                    let clock = Stopwatch.StartNew()

                    let rows =
                        e.Run(context opts)
                        |> List.map (fun r -> { r with System = (if String.IsNullOrWhiteSpace r.System then e.System else r.System) })

                    run.Finish rows
                    printfn "  %s/%s finished in %.0f s" e.System e.Name clock.Elapsed.TotalSeconds
                    Rows rows
                with ex ->
                    let msg =
                        match ex with
                        | UserError m -> m
                        | _ -> sprintf "%s: %s" (ex.GetType().Name) (ex.Message.Split('\n').[0])

                    eprintfn "error: %s/%s failed: %s" e.System e.Name msg
                    if not (ex :? UserError) then eprintfn "%s" (ex.ToString())
                    Atomic.writeAllText failure (Json.serialize {| Message = msg; Log = logPath |})
                    Failure(msg, logPath)
            finally
                Console.SetOut out
                Console.SetError err

    /// Run one part of experiment `e` (ExperimentPart): the run folders it finishes are the ones `e.Run`
    /// then finds finished. Errors propagate (the job fails, and so does the experiment's assembly).
    let runPart (e: Experiment) (opts: ReproduceOptions) (id: string) =
        let ctx = context opts
        let parts = e.Parts ctx

        match parts |> List.tryFind (fun p -> p.Id = id) with
        | None ->
            let known = if parts.IsEmpty then "it has none" else parts |> List.map (fun p -> p.Id) |> String.concat ", "
            Errors.fail "--part %s is not a part of %s/%s (%s)" id e.System e.Name known
        | Some p ->
            torch.set_num_threads opts.Threads
            let clock = Stopwatch.StartNew()
            printfn "%s/%s part %s (%s)" e.System e.Name id (if opts.Quick then "quick" else "full")
            p.Run ctx
            printfn "  %s/%s part %s finished in %.0f s" e.System e.Name id clock.Elapsed.TotalSeconds

    /// Every registered experiment's stored outcome of one set (registry order).
    let outcomes (all: Experiment list) (runsRoot: string) (set: string) =
        all |> List.choose (fun e -> Results.load runsRoot set e |> Option.map (fun o -> e, o))

    /// The folder beside the report that holds copies of its figures.
    let figuresFolder = "report-figures"

    /// Copy experiment `e`'s key figures that exist into <report dir>/report-figures/<system>/<name>/ (replacing
    /// what an earlier report put there); each with its link relative to the report, or "" where not written.
    let private copyFigures (opts: ReproduceOptions) (e: Experiment) : ReportFigure list =
        let reportDir = Path.GetDirectoryName(Path.GetFullPath opts.ReportPath)
        let rel = Path.Combine(figuresFolder, e.System, e.Name)
        let target = Path.Combine(reportDir, rel)
        if Directory.Exists target then Directory.Delete(target, true)

        e.Figures(context opts)
        |> List.mapi (fun i f ->
            if File.Exists f.Path then
                Directory.CreateDirectory target |> ignore
                let name = sprintf "%d-%s" (i + 1) (Path.GetFileName f.Path)
                File.Copy(f.Path, Path.Combine(target, name), true)
                { f with Path = Path.Combine(rel, name).Replace('\\', '/') }
            else
                { f with Path = "" })

    /// Rebuild the report from the run folders of the options' mode and seed (atomic write), with copies of
    /// the finished experiments' key figures beside it.
    let writeReport (all: Experiment list) (opts: ReproduceOptions) =
        let os = outcomes all opts.RunsRoot (Results.set opts.Quick opts.Seed)

        let figures =
            dict
                [ for (e, o) in os ->
                      e.System + "/" + e.Name,
                      (match o with
                       | Rows _ -> copyFigures opts e
                       | Failure _ -> []) ]

        Atomic.writeAllText
            opts.ReportPath
            (Report.render (Report.header opts.Quick opts.Threads opts.RunsRoot) os (fun e -> figures.[e.System + "/" + e.Name]))

        os

    /// Run the chosen experiments one after another; returns their outcomes (the report covers all stored ones).
    let run (all: Experiment list) (opts: ReproduceOptions) : (Experiment * ExperimentOutcome) list =
        if opts.Threads < 1 then Errors.fail "--threads must be at least 1, got %d" opts.Threads
        let chosen = select all opts.Only

        match opts.Part with
        | Some id ->
            match chosen with
            | [ e ] ->
                runPart e opts id
                []
            | _ -> Errors.fail "--part needs --only SYSTEM/NAME naming one experiment"
        | None ->
            let results =
                chosen
                |> List.mapi (fun i e ->
                    printfn "[%d/%d] %s/%s (%s): %s" (i + 1) chosen.Length e.System e.Name (if opts.Quick then "quick" else "full") e.Description
                    let o = runOne e opts

                    match o with
                    | Rows rows ->
                        for r in rows do
                            printfn "  %s: %s (thesis: %s)" r.Experiment r.Measured r.Thesis
                    | Failure(msg, log) -> printfn "  FAILED: %s (log: %s)" msg log
                    // rebuild after each experiment so a killed reproduce keeps what it finished
                    if opts.WriteReport then writeReport all opts |> ignore
                    e, o)

            if opts.WriteReport then
                let stored = writeReport all opts
                printfn "wrote %s (%d experiments)" opts.ReportPath stored.Length

            results
