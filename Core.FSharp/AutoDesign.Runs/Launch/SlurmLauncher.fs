namespace AutoDesign.Runs

open System
open System.Collections.Generic
open System.Diagnostics
open System.IO
open System.Threading

/// Slurm submission settings (`--partition`, `--gres`, ... of the CLI).
type SlurmOptions =
    {
        /// null: the cluster's default partition.
        Partition: string
        /// e.g. "gpu:1" for CUDA nodes (null: none).
        Gres: string
        /// CPUs per task (null: the job's thread count).
        CpusPerTask: Nullable<int>
        /// Memory per node, e.g. "8G" (null: the cluster's default).
        Mem: string
        /// Time limit, e.g. "02:00:00" (null: the cluster's default).
        Time: string
        /// At most this many jobs in the queue at once.
        MaxJobs: int
        /// Extra sbatch arguments, passed through.
        SbatchArgs: IReadOnlyList<string>
        /// Let Slurm requeue a job whose node fails or that is preempted (sbatch --requeue).
        Requeue: bool
        Retries: int
        PollSeconds: float
    }

    static member Default =
        { Partition = null
          Gres = null
          CpusPerTask = Nullable()
          Mem = null
          Time = null
          MaxJobs = 100
          SbatchArgs = []
          Requeue = true
          Retries = 3
          PollSeconds = 2.0 }

/// The Slurm backend: each job is an `sbatch` script that runs the CLI and then writes its exit code next to
/// the job's log; jobs are tracked with `squeue` and those files. Needs a filesystem shared by this machine
/// and the nodes (the run root): every script first checks that it sees the run root and stops with a clear
/// error (exit 3) when it does not. A job that crashes, is cancelled (`scancel`), requeued (`scontrol
/// requeue`) or loses its node runs again and resumes from its checkpoint.
module SlurmLauncher =
    let private exec (file: string) (args: string list) =
        let psi = ProcessStartInfo(file, args, RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false)

        use p =
            try
                Process.Start psi
            with :? ComponentModel.Win32Exception ->
                Errors.fail "%s is not available: is this a Slurm submit host (slurm-client installed)?" file

        let out = p.StandardOutput.ReadToEndAsync()
        let err = p.StandardError.ReadToEndAsync()
        p.WaitForExit()
        p.ExitCode, out.Result, err.Result

    /// Whether `sbatch` and a responding controller are reachable.
    [<CompiledName("Available")>]
    let available () =
        try
            let rc, _, _ = exec "sinfo" [ "-h"; "-o"; "%T" ]
            rc = 0
        with _ ->
            false

    /// The exit-code file a job's script writes, keyed by the Slurm id ("123" or "123_4" for an array task).
    let private exitFile (j: Job) (sid: string) = Job.logPath j + ".exit-" + sid

    /// One sbatch script for a batch of jobs: a job array when there are several (task i runs job i).
    let private script (o: SlurmOptions) (root: string) (probe: string) (batch: Job list) =
        let exe, prefix = CliCommand.current ()
        let q = CliCommand.shellQuote

        let one (j: Job) =
            let cmd = (exe :: prefix @ List.ofSeq j.Args) |> List.map q |> String.concat " "

            [ yield sprintf "  LOG=%s" (q (Job.logPath j))
              for KeyValue(k, v) in Job.environment j do
                  yield sprintf "  export %s=%s" k (q v)
              yield "  exec >> \"$LOG\" 2>&1"
              yield
                  sprintf
                      "  if [ ! -e %s ]; then echo \"error: this job cannot see the run root %s; the run root must be on a filesystem shared by the submitting machine and the nodes\"; echo 3 > \"$LOG.exit-$SID\"; exit 3; fi"
                      (q probe)
                      root
              yield sprintf "  %s" cmd
              yield "  rc=$?"
              yield "  echo $rc > \"$LOG.exit-$SID\""
              yield "  exit $rc" ]

        let threads = batch |> List.map (fun j -> j.Threads) |> List.max

        String.concat
            "\n"
            [ yield "#!/bin/bash"
              yield sprintf "#SBATCH --job-name=%s" (q ("ad-" + (List.head batch).Id.Replace('/', '-')))
              yield "#SBATCH --output=/dev/null"
              yield sprintf "#SBATCH --cpus-per-task=%d" (if o.CpusPerTask.HasValue then o.CpusPerTask.Value else threads)
              yield! o.Partition |> Option.ofObj |> Option.map (sprintf "#SBATCH --partition=%s") |> Option.toList
              yield! o.Gres |> Option.ofObj |> Option.map (sprintf "#SBATCH --gres=%s") |> Option.toList
              yield! o.Mem |> Option.ofObj |> Option.map (sprintf "#SBATCH --mem=%s") |> Option.toList
              yield! o.Time |> Option.ofObj |> Option.map (sprintf "#SBATCH --time=%s") |> Option.toList
              yield (if o.Requeue then "#SBATCH --requeue" else "#SBATCH --no-requeue")
              yield sprintf "cd %s" (q Environment.CurrentDirectory)
              match batch with
              | [ j ] ->
                  yield "SID=$SLURM_JOB_ID"
                  yield! one j |> List.map (fun l -> l.Substring 2)
              | _ ->
                  yield "SID=${SLURM_ARRAY_JOB_ID}_${SLURM_ARRAY_TASK_ID}"
                  yield "case $SLURM_ARRAY_TASK_ID in"

                  for (i, j) in List.indexed batch do
                      yield sprintf "%d)" i
                      yield! one j
                      yield "  ;;"

                  yield "esac"
              yield "" ]

    /// Submit a batch (one job, or a job array); returns the Slurm id of each job.
    let private submit (o: SlurmOptions) (root: string) (probe: string) (batch: Job list) : (Job * string) list =
        let first = List.head batch
        let path = Job.logPath first + ".sbatch"
        Directory.CreateDirectory(Path.GetDirectoryName path) |> ignore
        Atomic.writeAllText path (script o root probe batch)
        let arrayArgs = if batch.Length > 1 then [ sprintf "--array=0-%d" (batch.Length - 1) ] else []
        let rc, out, err = exec "sbatch" ("--parsable" :: arrayArgs @ List.ofSeq o.SbatchArgs @ [ path ])
        if rc <> 0 then Errors.fail "sbatch failed for job %s: %s" first.Id (err.Trim())
        let sid = out.Trim().Split(';').[0]

        match batch with
        | [ j ] -> [ j, sid ]
        | _ -> batch |> List.mapi (fun i j -> j, sprintf "%s_%d" sid i)

    /// Slurm job ids still known to the queue, with their state and the reason they wait.
    let private queued () : Map<string, string * string> =
        let rc, out, err = exec "squeue" [ "-h"; "-r"; "-o"; "%i %T %r" ]
        if rc <> 0 then Errors.fail "squeue failed: %s" (err.Trim())

        out.Split('\n', StringSplitOptions.RemoveEmptyEntries)
        |> Array.choose (fun l ->
            match l.Trim().Split(' ', StringSplitOptions.RemoveEmptyEntries) with
            | [| id; st |] -> Some(id, (st, ""))
            | a when a.Length >= 3 -> Some(a.[0], (a.[1], String.Join(" ", a.[2..])))
            | _ -> None)
        |> Map.ofArray

    /// Pending reasons that mean the job, as submitted, will not start (the partition or the account cannot
    /// give what it asks for), unlike waiting for resources or priority.
    let private hopeless =
        set
            [ "PartitionConfig"
              "PartitionNodeLimit"
              "PartitionTimeLimit"
              "BadConstraints"
              "InvalidAccount"
              "InvalidQOS"
              "AccountNotAllowed"
              "QOSMaxCpuPerJobLimit"
              "QOSMaxMemoryPerJob"
              "QOSMaxWallDurationPerJobLimit"
              "QOSMaxNodePerJobLimit"
              "MaxCpuPerAccount"
              "AssocMaxCpuPerJobLimit"
              "AssocMaxWallDurationPerJobLimit"
              "AssocMaxNodePerJobLimit"
              "DependencyNeverSatisfied"
              "PartitionDown"
              "PartitionInactive" ]

    /// How long a job may stay pending for a hopeless reason before the run is given up (the controller
    /// may report such a reason briefly while a partition is reconfigured).
    let private hopelessSeconds = 30.0

    /// Cancel Slurm jobs (best effort).
    let private cancel (sids: string list) =
        if not sids.IsEmpty then
            (try
                exec "scancel" sids |> ignore
             with _ ->
                 ())

    /// Submit `jobs` (at most MaxJobs queued at once), wait for all of them, resubmit those that died.
    /// `root` is the run root every job writes under (checked to be visible from the nodes); `log` (null: none)
    /// receives one line per event. Returns one report per job.
    [<CompiledName("Run")>]
    let run (o: SlurmOptions) (root: string) (log: Action<string>) (jobs: IReadOnlyList<Job>) : IReadOnlyList<JobReport> =
        let log = if isNull log then ignore else log.Invoke
        let jobs = List.ofSeq jobs
        if o.MaxJobs < 1 then Errors.fail "--max-jobs must be at least 1, got %d" o.MaxJobs
        let root = Path.GetFullPath root
        Directory.CreateDirectory root |> ignore
        let probe = Path.Combine(root, sprintf ".slurm-probe-%s" (Guid.NewGuid().ToString("N")))
        Atomic.writeAllText probe "this file shows a Slurm job that it sees the run root\n"

        try
            let s = Schedule(jobs, o.Retries, o.MaxJobs, log)
            let live = Dictionary<string, Job * string>() // job id -> (job, Slurm id)
            let hopelessSince = Dictionary<string, DateTime>() // Slurm id -> first seen pending hopelessly
            // interrupted (SIGINT, SIGTERM): the jobs this process submitted are cancelled with it
            let interrupted = ref false

            let onSignal (_: Runtime.InteropServices.PosixSignalContext) =
                lock live (fun () ->
                    interrupted.Value <- true
                    cancel [ for (_, sid) in live.Values -> sid ])

            use _int =
                Runtime.InteropServices.PosixSignalRegistration.Create(Runtime.InteropServices.PosixSignal.SIGINT, Action<_> onSignal)

            use _term =
                Runtime.InteropServices.PosixSignalRegistration.Create(Runtime.InteropServices.PosixSignal.SIGTERM, Action<_> onSignal)

            log (sprintf "slurm launcher: %d jobs, at most %d queued" jobs.Length o.MaxJobs)

            let launch (batch: Job list) =
                lock live (fun () ->
                    if not interrupted.Value then
                        for j in batch do
                            s.Start j

                        for (j, sid) in submit o root probe batch do
                            live.[j.Id] <- (j, sid)
                            log (sprintf "%s submitted as Slurm job %s" j.Id sid))

            while not s.Finished do
                let ready = s.Ready() |> List.truncate (max 0 (o.MaxJobs - live.Count))
                if not ready.IsEmpty then launch ready
                let q = queued ()
                // a pending array task may be listed only as its array's range ("123_[4-9]")
                let stateOf (sid: string) =
                    match q.TryFind sid with
                    | Some st -> Some st
                    | None when sid.Contains "_" ->
                        let prefix = sid.Substring(0, sid.IndexOf '_') + "_["
                        q |> Map.tryPick (fun k v -> if k.StartsWith prefix then Some v else None)
                    | None -> None

                for (j, sid) in List.ofSeq live.Values do
                    match stateOf sid with
                    | Some("PENDING", reason) when hopeless.Contains reason ->
                        if not (hopelessSince.ContainsKey sid) then
                            hopelessSince.[sid] <- DateTime.UtcNow
                        elif (DateTime.UtcNow - hopelessSince.[sid]).TotalSeconds > hopelessSeconds then
                            cancel [ for (_, s) in live.Values -> s ]

                            Errors.fail
                                "Slurm job %s (%s) cannot start: it is pending with reason %s (the partition or account cannot give what it asks for; check --partition, --cpus-per-task, --mem, --time, --gres); the submitted jobs were cancelled"
                                sid
                                j.Id
                                reason
                    | _ -> hopelessSince.Remove sid |> ignore // an array task that has not started yet is listed as "123_[4-9]" by some versions: keep it live

                let pendingArrays =
                    q
                    |> Map.toSeq
                    |> Seq.map fst
                    |> Seq.filter (fun k -> k.Contains "[")
                    |> Seq.map (fun k -> k.Substring(0, k.IndexOf '_'))
                    |> Set.ofSeq

                let inQueue (sid: string) = q.ContainsKey sid || (sid.Contains "_" && pendingArrays.Contains(sid.Substring(0, sid.IndexOf '_')))
                let gone = live.Values |> Seq.filter (fun (_, sid) -> not (inQueue sid)) |> List.ofSeq

                for (j, sid) in gone do
                    live.Remove j.Id |> ignore
                    let f = exitFile j sid

                    let code =
                        if File.Exists f then
                            (match Int32.TryParse(File.ReadAllText(f).Trim()) with
                             | true, c -> c
                             | _ -> 255)
                        else
                            log (sprintf "%s (Slurm job %s) left the queue without an exit code (cancelled, or lost with its node)" j.Id sid)
                            255

                    if s.Ended(j, code) then launch [ j ]

                if gone.IsEmpty then Thread.Sleep(TimeSpan.FromSeconds o.PollSeconds)

            s.Reports :> IReadOnlyList<_>
        finally
            (try
                File.Delete probe
             with _ ->
                 ())
