namespace AutoDesign.Runs

open System
open System.Diagnostics

/// Progress of a long loop. On a terminal: one redrawn bar line (step/total, metrics, steps/s).
/// When output is redirected: a plain line every 10% of the steps or every 10 seconds.
type Progress(label: string, totalSteps: int, ?writer: IO.TextWriter, ?interactive: bool) =
    let out = defaultArg writer Console.Out
    let isTerminal = defaultArg interactive (not Console.IsOutputRedirected)
    let total = max 1 totalSteps
    let clock = Stopwatch.StartNew()
    let mutable step = 0
    let mutable lastDraw = TimeSpan.Zero
    let mutable lastDecile = 0
    let mutable lastMetrics : (string * float) list = []
    let mutable finished = false

    let describe () =
        let rate = float step / max 1e-9 clock.Elapsed.TotalSeconds
        let metrics = lastMetrics |> List.map (fun (k, v) -> sprintf "%s=%.4g" k v) |> String.concat " "
        sprintf "%d/%d %s %.1f steps/s" step total metrics rate

    let bar () =
        let width = 24
        let filled = min width (step * width / total)
        String('#', filled) + String('.', width - filled)

    member _.StepsDone = step

    /// Record one finished step and the metrics to show (e.g. ["epoch", 3.0; "loss", 0.12]).
    member _.Step(metrics: (string * float) list) =
        step <- step + 1
        lastMetrics <- metrics
        let now = clock.Elapsed
        if isTerminal then
            if (now - lastDraw).TotalMilliseconds >= 100.0 || step >= total then
                lastDraw <- now
                out.Write(sprintf "\r%s [%s] %s   " label (bar ()) (describe ()))
                out.Flush()
        else
            let decile = step * 10 / total
            if decile > lastDecile || (now - lastDraw).TotalSeconds >= 10.0 then
                lastDecile <- decile
                lastDraw <- now
                out.WriteLine(sprintf "%s %3d%% %s" label (step * 100 / total) (describe ()))
                out.Flush()

    /// Finish: print the final state and the elapsed time on its own line.
    member _.Done() =
        if not finished then
            finished <- true
            if isTerminal then out.Write("\r" + String(' ', 100) + "\r")
            out.WriteLine(sprintf "%s done: %s in %.1f s" label (describe ()) clock.Elapsed.TotalSeconds)
            out.Flush()

module Progress =
    let create (label: string) (totalSteps: int) = Progress(label, totalSteps)
