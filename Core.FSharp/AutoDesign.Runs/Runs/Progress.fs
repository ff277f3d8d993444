namespace AutoDesign.Runs

open System
open System.Diagnostics

/// Progress of a long loop with an ETA. On a terminal: one redrawn line (step/total, metrics, rate, ETA).
/// When output is redirected: a plain line every 10% of the steps or every 10 seconds. Silent when
/// Progress.Quiet is set or AUTODESIGN_QUIET=1 (the test suite sets it).
type Progress(label: string, totalSteps: int, ?startStep: int, ?writer: IO.TextWriter, ?interactive: bool) =
    static let mutable quiet = Environment.GetEnvironmentVariable "AUTODESIGN_QUIET" = "1"
    let out = defaultArg writer Console.Out
    let isTerminal = defaultArg interactive (not Console.IsOutputRedirected)
    let total = max 1 totalSteps
    let first = defaultArg startStep 0
    let clock = Stopwatch.StartNew()
    let mutable step = first
    let mutable lastDraw = TimeSpan.Zero
    let mutable lastDecile = first * 10 / total
    let mutable lastMetrics: (string * float) list = []
    let mutable finished = false

    let eta () =
        let done' = step - first

        if done' <= 0 then
            "?"
        else
            let s = clock.Elapsed.TotalSeconds / float done' * float (total - step)

            if s >= 3600.0 then sprintf "%dh%02dm" (int s / 3600) (int s % 3600 / 60)
            elif s >= 60.0 then sprintf "%dm%02ds" (int s / 60) (int s % 60)
            else sprintf "%.0fs" s

    let describe () =
        let rate = float (step - first) / max 1e-9 clock.Elapsed.TotalSeconds
        let metrics = lastMetrics |> List.map (fun (k, v) -> sprintf "%s=%.4g" k v) |> String.concat " "
        sprintf "%d/%d %s %.1f steps/s ETA %s" step total metrics rate (eta ())

    let bar () =
        let width = 24
        let filled = min width (step * width / total)
        String('#', filled) + String('.', width - filled)

    /// Silence every progress display of this process.
    static member Quiet
        with get () = quiet
        and set v = quiet <- v

    member _.StepsDone = step

    /// Record one finished step and the metrics to show (their number columns, e.g. epoch 3 and loss 0.12).
    member _.Step(metrics: MetricsRow) =
        step <- step + 1
        lastMetrics <- metrics.NumberPairs
        let now = clock.Elapsed

        if quiet then
            ()
        elif isTerminal then
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

            if not quiet then
                if isTerminal then out.Write("\r" + String(' ', 110) + "\r")
                out.WriteLine(sprintf "%s done: %d steps in %.1f s" label (step - first) clock.Elapsed.TotalSeconds)
                out.Flush()

module Progress =
    [<CompiledName("Create")>]
    let create (label: string) (totalSteps: int) = Progress(label, totalSteps)
