namespace AutoDesign.Runs

open System
open System.Collections.Generic

/// Where a set of jobs runs.
type LauncherChoice =
    /// A pool of worker processes on this machine.
    | Local of workers: int * retries: int
    /// Jobs submitted to Slurm.
    | Slurm of SlurmOptions

    /// A pool of `workers` worker processes on this machine; a job that crashes or is killed is started again
    /// up to `retries` times (the factory for C#, which would otherwise see `NewLocal`).
    static member LocalPool(workers: int, retries: int) = Local(workers, retries)

    /// Jobs submitted to Slurm with `options` (the factory for C#).
    static member SlurmCluster(options: SlurmOptions) = Slurm options

/// A launcher only submits, tracks and collects: each job is a CLI invocation with its run folder, and the
/// run engine makes a restarted job resume. Results do not depend on the launcher.
module Launcher =
    /// Run `jobs` with `choice`; `log` (null: none) receives one line per event. Returns one report per job.
    /// Jobs of unknown duration take the one stored under `root` by an earlier run (the local pool starts
    /// the longest remaining path first); the durations of this run are stored there afterwards.
    [<CompiledName("Run")>]
    let run (choice: LauncherChoice) (root: string) (log: Action<string>) (jobs: IReadOnlyList<Job>) : IReadOnlyList<JobReport> =
        if jobs.Count = 0 then
            [] :> IReadOnlyList<_>
        else
            let jobs = Durations.fill root (Durations.load root) jobs

            let reports =
                match choice with
                | Local(workers, retries) -> LocalLauncher.run workers retries log jobs
                | Slurm o -> SlurmLauncher.run o root log jobs

            Durations.record root reports
            reports

    /// The failed reports, as "id: message (log: path)" lines.
    [<CompiledName("Failures")>]
    let failures (reports: IReadOnlyList<JobReport>) : IReadOnlyList<string> =
        [ for r in reports do
              match r.Outcome with
              | Succeeded -> ()
              | Failed m
              | GaveUp m -> yield sprintf "%s: %s (log: %s)" r.Job.Id m r.Log ]
        :> IReadOnlyList<_>
