namespace AutoDesign.Runs

open System
open System.Collections.Generic
open System.Diagnostics

/// The local backend: a pool of worker processes on this machine, each job a child process of the CLI
/// (output appended to the job's log file). A job that dies (crash, kill -9) is started again up to the
/// retry limit and resumes from its checkpoint; a deterministic failure (exit 1 or 2) is reported once.
module LocalLauncher =
    let private start (j: Job) =
        let exe, prefix = CliCommand.current ()
        let log = Job.logPath j
        IO.Directory.CreateDirectory(IO.Path.GetDirectoryName log) |> ignore
        let cmd = (exe :: prefix @ List.ofSeq j.Args) |> List.map CliCommand.shellQuote |> String.concat " "
        let psi = ProcessStartInfo("/bin/sh", [ "-c"; sprintf "exec %s >> %s 2>&1" cmd (CliCommand.shellQuote log) ])
        psi.UseShellExecute <- false

        for KeyValue(k, v) in Job.environment j do
            psi.Environment.[k] <- v

        psi.Environment.["AUTODESIGN_JOB_PARENT"] <- string Environment.ProcessId
        Process.Start psi

    /// Run `jobs` on `workers` worker processes (default: cores ÷ threads per job), at most `retries`
    /// restarts per job; `log` (null: none) receives one line per event. Returns one report per job.
    [<CompiledName("Run")>]
    let run (workers: int) (retries: int) (log: Action<string>) (jobs: IReadOnlyList<Job>) : IReadOnlyList<JobReport> =
        let log = if isNull log then ignore else log.Invoke
        let jobs = List.ofSeq jobs
        if workers < 1 then Errors.fail "--workers must be at least 1, got %d" workers
        if retries < 0 then Errors.fail "--retries must be >= 0, got %d" retries
        let s = Schedule(jobs, retries, workers, log)
        let procs = Dictionary<string, Job * Process>()
        log (sprintf "local launcher: %d jobs on %d worker%s" jobs.Length workers (if workers = 1 then "" else "s"))

        while not s.Finished do
            for j in s.Ready() do
                if procs.Count < workers then
                    s.Start j
                    procs.[j.Id] <- (j, start j)

            let ended = procs.Values |> Seq.filter (fun (_, p) -> p.HasExited) |> List.ofSeq

            for (j, p) in ended do
                procs.Remove j.Id |> ignore
                let code = p.ExitCode
                p.Dispose()

                if s.Ended(j, code) then
                    s.Start j
                    procs.[j.Id] <- (j, start j)

            if ended.IsEmpty then Threading.Thread.Sleep 200

        s.Reports :> IReadOnlyList<_>

    /// The default worker count: cores ÷ threads per job, at least 1.
    [<CompiledName("DefaultWorkers")>]
    let defaultWorkers (threadsPerJob: int) = max 1 (Environment.ProcessorCount / max 1 threadsPerJob)
