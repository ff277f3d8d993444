/// The command-line grammar (Argu): the options every command takes (inherited by every subcommand),
/// and one subcommand per system; Program.fs dispatches.
module AutoDesign.Cli.Args

open System
open System.IO
open System.Security.Cryptography
open System.Text
open Argu
open AutoDesign.Runs
open AutoDesign.Cli.Globals
open AutoDesign.Cli.Commands.D2nn
open AutoDesign.Cli.Commands.UnilossGrammar
open AutoDesign.Cli.Commands.Reproduce
open AutoDesign.Cli.Commands.Bench
open AutoDesign.Cli.Commands.Data
open AutoDesign.Cli.Commands.Dggan
open AutoDesign.Cli.Commands.Gan
open AutoDesign.Cli.Commands.Detgan

[<CliPrefix(CliPrefix.DoubleDash); HelpFlags("--help", "-h")>]
type AutoDesignArgs =
    | [<AltCommandLine("-v")>] Version
    | [<Inherit>] Device of DeviceArg
    | [<Inherit>] Threads of int
    | [<Inherit>] Runs_Root of dir: string
    | [<Inherit>] Force
    | [<Inherit>] Wait
    | [<Inherit>] Launcher of LauncherArg
    | [<Inherit>] Workers of int
    | [<Inherit>] Retries of int
    | [<Inherit>] Partition of string
    | [<Inherit>] Gres of string
    | [<Inherit>] Cpus_Per_Task of int
    | [<Inherit>] Mem of string
    | [<Inherit>] Time of string
    | [<Inherit>] Max_Jobs of int
    | [<Inherit>] Sbatch_Arg of string
    | [<Inherit>] Requeue of Toggle
    | [<CliPrefix(CliPrefix.None)>] D2nn of ParseResults<D2nnArgs>
    | [<CliPrefix(CliPrefix.None)>] Uniloss of ParseResults<UnilossArgs>
    | [<CliPrefix(CliPrefix.None)>] Reproduce of ParseResults<ReproduceArgs>
    | [<CliPrefix(CliPrefix.None)>] Bench of ParseResults<BenchArgs>
    | [<CliPrefix(CliPrefix.None)>] Data of ParseResults<DataArgs>
    | [<CliPrefix(CliPrefix.None)>] Dggan of ParseResults<DgganArgs>
    | [<CliPrefix(CliPrefix.None)>] Gan of ParseResults<GanArgs>
    | [<CliPrefix(CliPrefix.None)>] Detgan of ParseResults<DetganArgs>

    interface IArgParserTemplate with
        member a.Usage =
            match a with
            | Version -> "print the version and exit."
            | Device _ -> "where tensors live: cuda when TorchSharp reports it (auto, the default), cpu or cuda."
            | Threads _ -> "torch intra-op threads per process (default 1; results depend on it, so run configurations record it)."
            | Runs_Root _ -> "root folder of the run folders (default runs)."
            | Force -> "discard stored runs of another configuration (and, for reproduce, stored results) and run again."
            | Wait -> "wait for another process writing the same run folder instead of failing."
            | Launcher _ ->
                "where jobs (experiments, seeds, λ points, DGGAN candidates) run: in this process (serial), on a pool of worker processes (local, the default) or as Slurm jobs (slurm; the run root must be on a filesystem the nodes share)."
            | Workers _ -> "local launcher: worker processes (default: cores ÷ threads)."
            | Retries _ -> "restarts of a job that crashed or was killed before it is given up (default 3); deterministic failures are not retried."
            | Partition _ -> "slurm: partition (sbatch --partition)."
            | Gres _ -> "slurm: generic resources per job, e.g. gpu:1 (sbatch --gres)."
            | Cpus_Per_Task _ -> "slurm: CPUs per job (default: --threads)."
            | Mem _ -> "slurm: memory per job, e.g. 8G (sbatch --mem)."
            | Time _ -> "slurm: time limit per job, e.g. 02:00:00 (sbatch --time)."
            | Max_Jobs _ -> "slurm: at most this many jobs queued at once (default 100)."
            | Sbatch_Arg _ -> "slurm: one more sbatch argument, passed through (repeatable)."
            | Requeue _ -> "slurm: let Slurm requeue a job whose node fails or that is preempted (default on)."
            | D2nn _ -> "dynamic deep neural networks (chapter 2): accuracy-cost sweeps."
            | Uniloss _ -> "UniLoss: metrics written once as code, refactored into differentiable losses; experiments of thesis chapter 3."
            | Reproduce _ -> "run the registered experiments and write REPORT.md (thesis vs measured)."
            | Bench _ -> "speed benchmarks, one per system, printed as ratios."
            | Data _ -> "list, fetch and inspect data sets (mnist, fashion-mnist) and IDX files."
            | Dggan _ -> "Dynamically Grown GAN: architecture search vs the ProgGAN baseline (chapter 5)."
            | Gan _ -> "GAN metrics (FID, SWD) on saved image sets."
            | Detgan _ -> "DetectorGAN: synthetic training data for small-data detection (chapter 4), Tables 4.1-4.3."

/// What a job of this command line does with an option of this level.
type private Role =
    /// The job takes it as given (it changes what the job computes or stores).
    | Kept
    /// The launcher's: a job runs with `--launcher serial`, and the command line's key leaves it out.
    | Launch
    /// The job is given its own (`--wait`, the absolute run root), or it is not an option of a job.
    | Own

let private role =
    function
    | Device _
    | Threads _
    | Force -> Kept
    | Launcher _
    | Workers _
    | Retries _
    | Partition _
    | Gres _
    | Cpus_Per_Task _
    | Mem _
    | Time _
    | Max_Jobs _
    | Sbatch_Arg _
    | Requeue _ -> Launch
    | Wait
    | Runs_Root _
    | Version
    | D2nn _
    | Uniloss _
    | Reproduce _
    | Bench _
    | Data _
    | Dggan _
    | Gan _
    | Detgan _ -> Own

/// The options of a parsed command line (given at any level) that have role `r`, in the order given.
let private withRole (r: Role) (results: ParseResults<AutoDesignArgs>) = results.GetAllResults() |> List.filter (fun x -> role x = r)

/// The arguments of a job running `command` (this command line's subcommand, narrowed): the kept global
/// options, `--wait --launcher serial --runs-root <absolute>`, then the command, unparsed by Argu.
let jobLine (r: ParseResults<AutoDesignArgs>) (command: AutoDesignArgs) : string list =
    let root = Path.GetFullPath(r.GetResult(Runs_Root, defaultValue = "runs"))
    r.Parser.PrintCommandLineArguments(withRole Kept r @ [ Wait; Launcher Serial; Runs_Root root; command ]) |> List.ofArray

/// A short stable key of a command line without its launcher options (names the folder of its jobs' logs).
let private key (r: ParseResults<AutoDesignArgs>) =
    let args = r.GetAllResults() |> List.filter (fun x -> role x <> Launch)
    use sha = SHA256.Create()
    let bytes = sha.ComputeHash(Encoding.UTF8.GetBytes(String.Join("\u0000", r.Parser.PrintCommandLineArguments args)))
    Convert.ToHexString(bytes, 0, 6).ToLowerInvariant()

/// The inherited options of a parsed command line (given at any level) as `Globals`, checked.
let globals (r: ParseResults<AutoDesignArgs>) : Globals =
    let threads = Values.positive "threads" (r.GetResult(Threads, defaultValue = 1))
    let root = r.GetResult(Runs_Root, defaultValue = "runs")
    if String.IsNullOrWhiteSpace root then Errors.fail "--runs-root is empty"

    // the launcher options given, each once, in the grammar's order
    let launchFlags =
        withRole Launch r
        |> List.map r.Parser.GetArgumentCaseInfo
        |> List.sortBy (fun c -> c.UnionCaseInfo.Tag)
        |> List.map (fun c -> c.Name.Value)
        |> List.distinct

    let launcher = r.GetResult(Launcher, defaultValue = Local)
    let slurmOnly = launchFlags |> List.filter (fun f -> not (List.contains f [ "--launcher"; "--workers"; "--retries" ]))

    if launcher <> Slurm && not slurmOnly.IsEmpty then
        Errors.fail "%s appl%s to --launcher slurm only" (String.Join(", ", slurmOnly)) (if slurmOnly.Length = 1 then "ies" else "y")

    if launcher <> Local && r.Contains Workers then Errors.fail "--workers applies to --launcher local only"

    { Key = key r
      Device = r.GetResult(Device, defaultValue = Auto)
      Threads = threads
      RunsRoot = root
      Force = r.Contains Force
      Wait = r.Contains Wait
      Launcher = launcher
      Workers = r.TryGetResult Workers |> Option.map (Values.positive "workers")
      Retries = Values.nonNegative "retries" (r.GetResult(Retries, defaultValue = 3))
      Slurm =
        { SlurmOptions.Default with
            Partition = r.TryGetResult Partition |> Option.toObj
            Gres = r.TryGetResult Gres |> Option.toObj
            CpusPerTask = r.TryGetResult Cpus_Per_Task |> Option.map (Values.positive "cpus-per-task") |> Option.toNullable
            Mem = r.TryGetResult Mem |> Option.toObj
            Time = r.TryGetResult Time |> Option.toObj
            MaxJobs = Values.positive "max-jobs" (r.GetResult(Max_Jobs, defaultValue = SlurmOptions.Default.MaxJobs))
            SbatchArgs = r.GetResults Sbatch_Arg
            Requeue = (r.GetResult(Requeue, defaultValue = On) = On) }
      LaunchFlags = launchFlags }
