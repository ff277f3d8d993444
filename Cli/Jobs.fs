/// Commands that consist of independent runs hand them to the launcher as jobs: each job is this command
/// line narrowed to one part (`--seed k --seeds 1`, one D²NN stage, one DGGAN candidate, one experiment),
/// run with `--launcher serial`. The command then collects in this process, where every part finds its run
/// finished; results never depend on the launcher.
module AutoDesign.Cli.Jobs

open System
open System.IO
open System.Security.Cryptography
open System.Text
open AutoDesign.Runs
open AutoDesign.Cli.Globals

/// Launcher options with a value, and flags, dropped from a job's command line (a job runs serially).
let private launchOptions = set [ "--launcher"; "--workers"; "--retries"; "--partition"; "--gres"; "--cpus-per-task"; "--mem"; "--time"; "--max-jobs"; "--sbatch-arg"; "--requeue" ]

/// The command line without launcher options.
let private stripped (argv: string list) =
    let rec go args =
        match args with
        | (f: string) :: _ :: rest when launchOptions.Contains f -> go rest
        | x :: rest -> x :: go rest
        | [] -> []
    go argv

/// A job's arguments: this command line plus `extra` (later options override earlier ones), serially, with
/// the absolute run root (a job may start in another directory, e.g. on a Slurm node), waiting for a run
/// folder still held by a worker of a pool that was killed (it ends within a second).
let childArgs (g: Globals) (extra: string list) =
    let waits = if List.contains "--wait" g.Argv then [] else [ "--wait" ]
    stripped g.Argv @ extra @ waits @ [ "--launcher"; "serial"; "--runs-root"; Path.GetFullPath g.RunsRoot ]

/// A short stable key of this command line (names the folder of its jobs' logs).
let key (g: Globals) =
    use sha = SHA256.Create()
    let bytes = sha.ComputeHash(Encoding.UTF8.GetBytes(String.Join("\u0000", stripped g.Argv)))
    Convert.ToHexString(bytes, 0, 6).ToLowerInvariant()

/// A job of this command line narrowed by `extra`, finishing the run folder `runDir`.
let job (g: Globals) (id: string) (extra: string list) (runDir: string) : Job =
    { Job.create id (childArgs g extra) runDir with Threads = g.Threads }

/// Run `jobs` with `choice`; a failed job is an error listing each failure with its log.
let run (g: Globals) (choice: LauncherChoice) (jobs: Job list) =
    let reports = Launcher.run choice (Path.GetFullPath g.RunsRoot) (Action<string> log) jobs
    let failed = Launcher.failures reports
    if failed.Count > 0 then Errors.fail "%d of %d jobs failed: %s" failed.Count jobs.Length (String.Join("; ", failed))

/// With a launcher and more than one seed: one job per seed (this command line with `--seed k --seeds 1`),
/// each logging to `<runs root>/jobs/<name>-<key>/seed<k>.job.log`. Returns the options for collecting the
/// finished runs in this process (without --force: the jobs already started over).
let seeds (g: Globals) (name: string) (seeds: int list) : Globals =
    match g.LauncherChoice with
    | Some choice when seeds.Length > 1 ->
        let dir = Path.Combine(g.RunsRoot, "jobs", sprintf "%s-%s" name (key g))
        let jobs =
            [ for k in seeds ->
                job g (sprintf "%s/seed%d" name k) [ "--seed"; string k; "--seeds"; "1" ] (Path.Combine(dir, sprintf "seed%d" k)) ]
        run g choice jobs
        { g with Force = false }
    | _ -> g
