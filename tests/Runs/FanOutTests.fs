/// Every command that fans out into launcher jobs (`--seeds` on uniloss, d2nn, dggan and detgan; D²NN stages
/// and λ points; DGGAN search candidates; reproduce experiments), run on the local pool and on a real Slurm
/// cluster in tiny configs: each command exits 0 and leaves the same run folders as `--launcher serial`.
module AutoDesign.Tests.FanOutTests

open System
open System.IO
open Expecto

/// Files that are the launcher's own (job logs, success records, sbatch scripts, exit codes), lock files,
/// report files (they name the run root) and experiment logs (they hold durations) are not compared.
let private compared (root: string) =
    Directory.GetFiles(root, "*", SearchOption.AllDirectories)
    |> Array.map (fun f -> Path.GetRelativePath(root, f))
    |> Array.filter (fun f ->
        let name = Path.GetFileName f

        not (f.StartsWith("jobs" + string Path.DirectorySeparatorChar))
        && not (name.StartsWith ".lock")
        && not (name.EndsWith ".job.log")
        && not (name.EndsWith ".job.done")
        && not (name.Contains ".job.log.")
        && not (name.EndsWith ".md")
        && name <> "log.txt")
    |> Array.sort

/// A file's content for the comparison: result envelopes without their finishing time and measured
/// durations (a DGGAN candidate's "Seconds").
let private content (path: string) =
    if Path.GetFileName path = "result.json" then
        File.ReadAllLines path
        |> Array.filter (fun l -> not (l.Contains "\"finished_utc\"") && not (l.TrimStart().StartsWith "\"Seconds\""))
        |> String.concat "\n"
        |> Text.Encoding.UTF8.GetBytes
    else
        File.ReadAllBytes path

/// A seed job of a command over several seeds also leaves the summary of its own seed (seeds<k>-<k>/).
let private ofOneSeedJob (f: string) =
    f.Split(Path.DirectorySeparatorChar)
    |> Array.exists (fun part ->
        let m = Text.RegularExpressions.Regex.Match(part, "^seeds(\\d+)-(\\d+)$")
        m.Success && m.Groups.[1].Value = m.Groups.[2].Value)

let private expectSameRuns (serial: string) (other: string) (what: string) =
    let a = compared serial
    let b = compared other |> Array.filter (fun f -> Array.contains f a || not (ofOneSeedJob f))
    Expect.isNonEmpty a (what + ": the serial run wrote files")
    Expect.equal b a (what + ": the same files as the serial run (besides one-seed summaries of seed jobs)")

    for f in a do
        Expect.isTrue (content (Path.Combine(serial, f)) = content (Path.Combine(other, f))) (sprintf "%s: %s equals the serial run's" what f)

/// The fanning-out commands, each in a tiny config (without --runs-root and --launcher).
let private commands =
    [ "uniloss ap --seeds 2", CliCommands.unilossApOneEpoch [ "--seeds"; "2" ]
      "d2nn cascade stages and λ points", CliCommands.d2nnCascade [ "0.5"; "0.9" ] []
      "d2nn cascade --seeds 2", CliCommands.d2nnCascade [ "0.9" ] [ "--seeds"; "2" ]
      "dggan search candidates", [ "dggan"; "search"; "--tiny" ]
      "dggan search --seeds 2", [ "dggan"; "search"; "--tiny"; "--seeds"; "2" ]
      "detgan tables --seeds 2", [ "detgan"; "tables"; "--tiny"; "--no-ablation"; "--seeds"; "2" ]
      "reproduce experiments", [ "reproduce"; "--quick"; "--only"; "foundation"; "--report"; "REPORT.md" ] ]

let private run (root: string) (launcher: string list) (args: string list) =
    Directory.CreateDirectory root |> ignore
    let rc, out, err = CliProcess.runQuiet root [] (args @ [ "--device"; "cpu"; "--runs-root"; root ] @ launcher)
    Expect.equal rc 0 (sprintf "autodesign %s %s exits 0:\n%s\n%s" (String.Join(" ", args)) (String.Join(" ", launcher)) out err)

let private case (name: string, args: string list) =
    test name {
        let root = Path.Combine(Path.GetTempPath(), "autodesign-fanout", Guid.NewGuid().ToString("N"))
        let slurm = LauncherTests.slurmAnswers ()
        run (Path.Combine(root, "serial")) [ "--launcher"; "serial" ] args
        run (Path.Combine(root, "local")) [] args
        expectSameRuns (Path.Combine(root, "serial")) (Path.Combine(root, "local")) (name + " on the local pool")

        if slurm then
            run (Path.Combine(root, "slurm")) [ "--launcher"; "slurm" ] args
            expectSameRuns (Path.Combine(root, "serial")) (Path.Combine(root, "slurm")) (name + " on Slurm")

        Directory.Delete(root, true)
        if not slurm then LauncherTests.requireSlurm ()
    }

[<Tests>]
let tests = testSequenced <| testList "launcher.fanout" (commands |> List.map case)
