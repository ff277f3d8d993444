namespace AutoDesign.Runs

open System
open System.Collections.Generic
open System.Diagnostics
open System.IO

/// The bookkeeping a launcher shares: which jobs are ready (dependencies succeeded), which are blocked by a
/// failed dependency, attempts per job, and one progress line per finished job with an overall ETA.
type internal Schedule(jobs: Job list, retries: int, slots: int, log: string -> unit) =
    let byId = jobs |> List.map (fun j -> j.Id, j) |> dict

    do
        let ids = jobs |> List.map (fun j -> j.Id)
        if List.length (List.distinct ids) <> ids.Length then Errors.fail "job ids must be unique"

        for j in jobs do
            for d in j.DependsOn do
                if not (byId.ContainsKey d) then Errors.fail "job %s depends on %s, which is not among the jobs" j.Id d

    let priority = Durations.priorities jobs
    let reports = Dictionary<string, JobReport>()
    let attempts = Dictionary<string, int>()
    let started = Dictionary<string, Stopwatch>()
    let running = HashSet<string>()
    let clock = Stopwatch.StartNew()
    let durations = ResizeArray<float>()

    member _.Jobs = jobs
    member _.Finished = reports.Count = jobs.Length
    member _.Reports = jobs |> List.map (fun j -> reports.[j.Id])
    member _.Running = running :> seq<string>

    member _.Attempts(id: string) =
        match attempts.TryGetValue id with
        | true, a -> a
        | _ -> 0

    /// Jobs that may start now: not finished, not running, every dependency succeeded, the one with the
    /// longest expected path to the end first (Durations.priorities). Jobs whose dependency failed are
    /// finished here as failed.
    member s.Ready() : Job list =
        let mutable changed = true

        while changed do
            changed <- false

            for j in jobs do
                if not (reports.ContainsKey j.Id) && not (running.Contains j.Id) then
                    match j.DependsOn |> Seq.tryFind (fun d -> reports.ContainsKey d && reports.[d].Outcome <> Succeeded) with
                    | Some d ->
                        reports.[j.Id] <- { Job = j; Outcome = Failed(sprintf "not run: job %s failed" d); Attempts = 0; Log = Job.logPath j; Seconds = 0.0 }
                        changed <- true
                    | None -> ()

        jobs
        |> List.filter (fun j ->
            not (reports.ContainsKey j.Id)
            && not (running.Contains j.Id)
            && j.DependsOn |> Seq.forall (fun d -> reports.ContainsKey d && reports.[d].Outcome = Succeeded))
        |> List.sortByDescending (fun j -> priority.[j.Id])

    member _.Start(j: Job) =
        // a record left by an earlier invocation must not count for this attempt
        if File.Exists(Job.recordPath j) then File.Delete(Job.recordPath j)
        running.Add j.Id |> ignore

        attempts.[j.Id] <-
            (match attempts.TryGetValue j.Id with
             | true, a -> a
             | _ -> 0)
            + 1

        if not (started.ContainsKey j.Id) then started.[j.Id] <- Stopwatch.StartNew()

    /// Record an attempt's end; returns true when the job should be started again.
    member s.Ended(j: Job, exitCode: int) : bool =
        running.Remove j.Id |> ignore
        let a = attempts.[j.Id]
        let seconds = started.[j.Id].Elapsed.TotalSeconds

        let finish outcome =
            reports.[j.Id] <- { Job = j; Outcome = outcome; Attempts = a; Log = Job.logPath j; Seconds = seconds }
            if outcome = Succeeded then durations.Add seconds
            let doneCount = reports.Count
            let remaining = jobs.Length - doneCount

            let eta =
                if (durations.Count = 0 && jobs |> List.forall (fun j -> j.Expected <= 0.0)) || remaining = 0 then
                    ""
                else
                    // expected seconds of each job not finished (the mean of finished ones where unknown), over the slots
                    let mean = if durations.Count = 0 then 60.0 else Seq.average durations

                    let left =
                        jobs
                        |> List.filter (fun j -> not (reports.ContainsKey j.Id))
                        |> List.sumBy (fun j -> if j.Expected > 0.0 then j.Expected else mean)

                    let t = left / float (max 1 slots)
                    sprintf ", ETA %s" (if t >= 60.0 then sprintf "%.0f min" (t / 60.0) else sprintf "%.0f s" t)

            let what =
                match outcome with
                | Succeeded -> sprintf "finished in %.0f s" seconds
                | Failed m -> sprintf "FAILED: %s (log: %s)" m (Job.logPath j)
                | GaveUp m -> sprintf "FAILED after %d attempts: %s (log: %s)" a m (Job.logPath j)

            log (sprintf "[%d/%d done, %d running%s] %s %s" doneCount jobs.Length running.Count eta j.Id what)
            false

        if exitCode = 0 && Job.isDone j then
            finish Succeeded
        elif exitCode = 0 then
            if a <= retries then
                (log (sprintf "%s exited 0 without recording its success; starting it again" j.Id)
                 true)
            else
                finish (GaveUp "exited 0 without recording its success")
        elif Job.isDeterministic exitCode then
            finish (Failed(Job.errorOf (Job.logPath j) exitCode))
        elif a <= retries then
            log (
                sprintf
                    "%s stopped (%s); attempt %d of %d resumes it from its last checkpoint"
                    j.Id
                    (Job.errorOf (Job.logPath j) exitCode)
                    (a + 1)
                    (retries + 1)
            )

            true
        else
            finish (GaveUp(Job.errorOf (Job.logPath j) exitCode))

    member _.Elapsed = clock.Elapsed
