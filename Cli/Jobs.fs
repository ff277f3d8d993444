/// Commands that consist of independent runs hand them to the launcher as jobs: each job is this command
/// line narrowed to one part (`--seed k --seeds 1`, one D²NN stage, one DGGAN candidate, one experiment),
/// run with `--launcher serial`. The command then collects in this process, where every part finds its run
/// finished; results never depend on the launcher. A job's arguments are the parse results, narrowed and
/// unparsed by Argu (`Line`), never edited as text.
module AutoDesign.Cli.Jobs

open System
open System.IO
open Argu
open Microsoft.FSharp.Reflection
open AutoDesign.Runs
open AutoDesign.Cli.Globals

/// A job's arguments from a command's parse results (narrowed to the job): the global options of this
/// command line without the launcher's, then `--wait --launcher serial --runs-root <absolute>` (a job may
/// start in another directory, e.g. on a Slurm node, and waits for a run folder still held by a worker of a
/// pool that was killed), then the command, all unparsed by Argu.
type Line<'T when 'T :> IArgParserTemplate> = ParseResults<'T> -> string list

let private tag (x: 'T) = (fst (FSharpValue.GetUnionFields(x, typeof<'T>))).Tag

/// Whether a case holds a subcommand's results.
let private isSubcommand (x: 'T) =
    snd (FSharpValue.GetUnionFields(x, typeof<'T>))
    |> Array.exists (fun f -> not (isNull f) && f.GetType().IsGenericType && f.GetType().GetGenericTypeDefinition() = typedefof<ParseResults<_>>)

/// `r` with the cases of `replace` in place of those of the same kind (`--seed k --seeds 1` in place of
/// `--seed s --seeds n`); a subcommand stays last, where it is unparsed after this level's options.
let narrow (r: ParseResults<'T>) (replace: 'T list) : ParseResults<'T> =
    let replaced = replace |> List.map tag |> set

    let options, subcommands =
        r.GetAllResults() |> List.filter (fun x -> not (replaced.Contains(tag x))) |> List.partition (isSubcommand >> not)

    r.Parser.ToParseResults(options @ replace @ subcommands)

/// The results of one subcommand level holding `case` alone (a narrowed subcommand under it).
let only (r: ParseResults<'T>) (case: 'T) : ParseResults<'T> = r.Parser.ToParseResults [ case ]

/// A job with arguments `args` (a `Line`'s), finishing the run folder `runDir`.
let job (g: Globals) (id: string) (args: string list) (runDir: string) : Job = { Job.create id args runDir with Threads = g.Threads }

/// Run `jobs` with `choice`; a failed job is an error listing each failure with its log.
let run (g: Globals) (choice: LauncherChoice) (jobs: Job list) =
    let reports = Launcher.run choice (Path.GetFullPath g.RunsRoot) (Action<string> log) jobs
    let failed = Launcher.failures reports
    if failed.Count > 0 then Errors.fail "%d of %d jobs failed: %s" failed.Count jobs.Length (String.Join("; ", failed))

/// With a launcher and more than one seed: one job per seed (`seedLine k`: this command line with
/// `--seed k --seeds 1`), each logging to `<runs root>/jobs/<name>-<key>/seed<k>.job.log`. Returns the
/// options for collecting the finished runs in this process (without --force: the jobs already started over).
let seeds (g: Globals) (name: string) (seeds: int list) (seedLine: int -> string list) : Globals =
    match g.LauncherChoice with
    | Some choice when seeds.Length > 1 ->
        let dir = Path.Combine(g.RunsRoot, "jobs", sprintf "%s-%s" name g.Key)
        let jobs = [ for k in seeds -> job g (sprintf "%s/seed%d" name k) (seedLine k) (Path.Combine(dir, sprintf "seed%d" k)) ]
        run g choice jobs
        { g with Force = false }
    | _ -> g
