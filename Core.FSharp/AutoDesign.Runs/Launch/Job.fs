namespace AutoDesign.Runs

open System
open System.Collections.Generic
open System.IO
open System.Reflection

/// One job: a command-line invocation of the `autodesign` CLI that finishes one part of a command (one
/// experiment, one seed, one D²NN stage, one DGGAN candidate). A job that dies is simply started again: the
/// run engine resumes it from its last checkpoint, so the result is the one an uninterrupted job would have
/// produced. A job is done when its process wrote the job's record (the CLI writes it on exit 0, to the path
/// the launcher passes in AUTODESIGN_JOB_RECORD).
type Job =
    {
        /// Unique name, e.g. "uniloss/ap-mnist" (shown in progress lines and Slurm job names).
        Id: string
        /// CLI arguments after the executable.
        Args: IReadOnlyList<string>
        /// The folder of the job's part (absolute): its log and record are written beside it.
        RunDir: string
        /// torch threads the job uses (a local worker slot or Slurm's --cpus-per-task).
        Threads: int
        /// Ids of jobs that must finish first.
        DependsOn: IReadOnlyList<string>
        /// Extra environment variables of the job's process.
        Env: IReadOnlyDictionary<string, string>
        /// Expected seconds (0: unknown): the local pool starts the jobs on the longest remaining path first.
        Expected: float
    }

/// How a job ended.
type JobOutcome =
    | Succeeded
    /// Exit 1 or 2 (a UserError or a bad argument): running it again gives the same error, so it is not retried.
    | Failed of message: string
    /// Crashed or was killed more often than the retry limit allows.
    | GaveUp of message: string

    /// A failure with `message` (the factory for C#).
    static member FailedWith(message: string) = Failed message
    /// Given up after retries, with `message` (the factory for C#).
    static member GaveUpWith(message: string) = GaveUp message

type JobReport =
    {
        Job: Job
        Outcome: JobOutcome
        Attempts: int
        /// The job's output (stdout and stderr of every attempt).
        Log: string
        Seconds: float
    }

module internal ParentProcess =
    [<Runtime.InteropServices.DllImport("libc")>]
    extern int getppid()

module Job =
    /// A job of one thread, without dependencies or extra environment variables.
    [<CompiledName("Create")>]
    let create (id: string) (args: IReadOnlyList<string>) (runDir: string) : Job =
        { Id = id
          Args = List.ofSeq args
          RunDir = Path.GetFullPath runDir
          Threads = 1
          DependsOn = []
          Env = readOnlyDict []
          Expected = 0.0 }

    /// The file a job's output goes to (in its run folder's parent, so the run folder itself stays the run's).
    [<CompiledName("LogPath")>]
    let logPath (j: Job) =
        let dir = Path.GetDirectoryName(j.RunDir.TrimEnd('/'))
        Path.Combine(dir, Path.GetFileName(j.RunDir.TrimEnd('/')) + ".job.log")

    /// The record the job's process writes when it succeeds (beside the log).
    [<CompiledName("RecordPath")>]
    let recordPath (j: Job) = Path.ChangeExtension(logPath j, ".done")

    /// Whether the job's process succeeded (wrote its record).
    [<CompiledName("IsDone")>]
    let isDone (j: Job) = File.Exists(recordPath j)

    /// The environment variables of the job's process: its id, its record path and the job's own.
    [<CompiledName("Environment")>]
    let environment (j: Job) : IReadOnlyList<KeyValuePair<string, string>> =
        [ yield KeyValuePair("AUTODESIGN_JOB", j.Id); yield KeyValuePair("AUTODESIGN_JOB_RECORD", recordPath j); yield! j.Env ] :> IReadOnlyList<_>

    /// In a worker process of the local pool (AUTODESIGN_JOB_PARENT names the pool's process): end this process
    /// as soon as that parent is gone, so a killed pool leaves no workers behind (the next pool resumes their
    /// runs from their checkpoints). Nothing happens elsewhere. The CLI calls it at start.
    [<CompiledName("ExitWithParent")>]
    let exitWithParent () =
        match Environment.GetEnvironmentVariable "AUTODESIGN_JOB_PARENT" with
        | null
        | "" -> ()
        | p when OperatingSystem.IsLinux() || OperatingSystem.IsMacOS() ->
            let parent = int p

            let watch () =
                while ParentProcess.getppid () = parent do
                    Threading.Thread.Sleep 250

                Diagnostics.Process.GetCurrentProcess().Kill()

            if ParentProcess.getppid () <> parent then Diagnostics.Process.GetCurrentProcess().Kill()
            Threading.Thread(watch, IsBackground = true, Name = "exit-with-parent").Start()
        | _ -> ()

    /// In a job's process: record that the job succeeded, when a launcher started this process as a job
    /// (AUTODESIGN_JOB_RECORD set); nothing otherwise. The CLI calls it after a command exits 0.
    [<CompiledName("RecordSuccess")>]
    let recordSuccess () =
        match Environment.GetEnvironmentVariable "AUTODESIGN_JOB_RECORD" with
        | null
        | "" -> ()
        | path ->
            let id = Environment.GetEnvironmentVariable "AUTODESIGN_JOB"
            Atomic.writeAllText path (Json.serialize {| Job = id; Finished = DateTime.UtcNow.ToString("o") |})

    /// Exit codes of deterministic failures (UserError: 1, usage error: 2, run root not visible: 3).
    [<CompiledName("IsDeterministic")>]
    let isDeterministic (exitCode: int) = exitCode = 1 || exitCode = 2 || exitCode = 3

    /// The last "error: ..." line of a log, or a description of the exit code.
    [<CompiledName("ErrorOf")>]
    let errorOf (log: string) (exitCode: int) =
        let last =
            if File.Exists log then
                File.ReadAllLines log |> Array.rev |> Array.tryFind (fun l -> l.TrimStart().StartsWith "error:")
            else
                None

        match last with
        | Some l -> l.Trim().Substring("error:".Length).Trim()
        | None ->
            match exitCode with
            | 137 -> "killed (SIGKILL)"
            | 134 -> "aborted (SIGABRT)"
            | 139 -> "segmentation fault"
            | c -> sprintf "exit code %d" c

/// How to start the `autodesign` CLI in another process.
module internal CliCommand =
    /// [executable; leading arguments]: `autodesign` itself, or `dotnet autodesign.dll`. AUTODESIGN_CLI, when
    /// set, names the autodesign.dll (or executable) to use.
    [<CompiledName("Current")>]
    let current () : string * string list =
        let asDll (dll: string) =
            if dll.EndsWith ".dll" then
                let host = Environment.ProcessPath
                let dotnet = if not (isNull host) && Path.GetFileNameWithoutExtension(host) = "dotnet" then host else "dotnet"
                dotnet, [ dll ]
            else
                dll, []

        match Environment.GetEnvironmentVariable "AUTODESIGN_CLI" with
        | null
        | "" ->
            let entry = Assembly.GetEntryAssembly()

            if not (isNull entry) && entry.GetName().Name = "autodesign" then
                asDll entry.Location
            else
                let nextTo = Path.Combine(AppContext.BaseDirectory, "autodesign.dll")

                if File.Exists nextTo then
                    asDll nextTo
                else
                    Errors.fail "cannot find the autodesign CLI to start jobs with (set AUTODESIGN_CLI to its autodesign.dll)"
        | p -> asDll (Path.GetFullPath p)

    /// Quote one argument for a POSIX shell.
    [<CompiledName("ShellQuote")>]
    let shellQuote (s: string) = "'" + s.Replace("'", "'\\''") + "'"

/// The factory C# calls (`Job.Create`), beside the module's functions.
type Job with
    /// A job of one thread, without dependencies or extra environment variables.
    static member Create(id: string, args: IReadOnlyList<string>, runDir: string) : Job = Job.create id args runDir
