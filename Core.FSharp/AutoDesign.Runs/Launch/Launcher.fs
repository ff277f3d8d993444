namespace AutoDesign.Runs

/// Where a set of jobs runs.
type LauncherChoice =
    /// A pool of worker processes on this machine.
    | Local of workers: int * retries: int
    /// Jobs submitted to Slurm.
    | Slurm of SlurmOptions

/// A launcher only submits, tracks and collects: each job is a CLI invocation with its run folder, and the
/// run engine makes a restarted job resume. Results do not depend on the launcher.
module Launcher =
    [<CompiledName("Run")>]
    let run (choice: LauncherChoice) (root: string) (log: string -> unit) (jobs: Job list) : JobReport list =
        if jobs.IsEmpty then []
        else
            match choice with
            | Local(workers, retries) -> LocalLauncher.run workers retries log jobs
            | Slurm o -> SlurmLauncher.run o root log jobs

    /// The failed reports, as "id: message (log: path)" lines.
    [<CompiledName("Failures")>]
    let failures (reports: JobReport list) =
        reports |> List.choose (fun r ->
            match r.Outcome with
            | Succeeded -> None
            | Failed m | GaveUp m -> Some(sprintf "%s: %s (log: %s)" r.Job.Id m r.Log))
