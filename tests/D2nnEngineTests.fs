/// D²NN sweeps on the run engine, end to end through the CLI: a sweep killed (SIGKILL via AUTODESIGN_FAULT)
/// at a training step, during a checkpoint write and between child runs, and started again until it
/// finishes, ends with the curve, results and weights of an uninterrupted one; a λ point trains alone
/// as a job once its warm start is finished.
module AutoDesign.Tests.D2nnEngineTests

open System
open System.Diagnostics
open System.IO
open Expecto
open AutoDesign.Runs

let private tempRoot () =
    let d = Path.Combine(Path.GetTempPath(), "autodesign-tests", "d2nn-engine-" + Guid.NewGuid().ToString("N"))
    Directory.CreateDirectory d |> ignore
    d

/// The tiny dcn sweep (embedded MNIST digits, so no data set to install): 4 baseline steps, 2 warm-up, 4 per
/// λ point, both recipes at one λ, the DCN baseline; a checkpoint every 2 steps.
let private sweepArgs (root: string) (extra: string list) =
    [ "d2nn"; "dcn"; "--quick"; "--steps"; "4"; "--train-size"; "64"; "--test-size"; "32"; "--batch"; "16"
      "--lambdas"; "0.5"; "--thesis-recipe"; "--checkpoint-every"; "2"; "--seed"; "3"; "--runs-root"; root; "--launcher"; "serial" ] @ extra

/// Run the CLI (`dotnet autodesign.dll ...`) with extra environment variables; returns exit code and output.
let private cli (args: string list) (env: (string * string) list) =
    let dll = Path.Combine(AppContext.BaseDirectory, "autodesign.dll")
    let psi = ProcessStartInfo("dotnet", RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false)
    psi.ArgumentList.Add dll
    for a in args do psi.ArgumentList.Add a
    psi.Environment["AUTODESIGN_QUIET"] <- "1"
    for (k, v) in env do psi.Environment[k] <- v
    use p = Process.Start psi
    let err = p.StandardError.ReadToEndAsync()
    let out = p.StandardOutput.ReadToEnd()
    p.WaitForExit()
    p.ExitCode, out + err.Result

/// Every file of a sweep that must not depend on how it was scheduled: curve.csv, dcn.csv, paths.csv,
/// each child's weights and metrics, and each result (without its finishing time).
let private outputs (sweepDir: string) =
    [ for f in Directory.GetFiles(sweepDir, "*", SearchOption.AllDirectories) |> Array.sort do
        let rel = Path.GetRelativePath(sweepDir, f)
        let name = Path.GetFileName f
        if name = "result.json" then
            yield rel, (Json.parse f (File.ReadAllText f)).["result"].ToJsonString()
        elif name = "weights.safetensors" || name = "final-state.safetensors" then
            yield rel, Convert.ToHexString(File.ReadAllBytes f)
        elif List.contains name [ "curve.csv"; "dcn.csv"; "paths.csv"; "metrics.csv"; "config.json" ] then
            yield rel, File.ReadAllText f ]

let private sweepDir (root: string) = Path.Combine(root, "d2nn", "dcn-quick-sized", "seed3")

/// The uninterrupted sweep, run once.
let private reference =
    lazy (
        let root = tempRoot ()
        let rc, out = cli (sweepArgs root []) []
        if rc <> 0 then failtestf "the uninterrupted sweep failed (%d): %s" rc out
        root)

[<Tests>]
let tests =
    testSequenced <| testList "d2nn.engine" [
        test "a sweep killed at a step, during a checkpoint write and between child runs ends like an uninterrupted one" {
            let expected = outputs (sweepDir reference.Value)
            Expect.isTrue (expected |> List.exists (fun (r, _) -> r = "curve.csv")) "the reference wrote curve.csv"
            Expect.isTrue (expected |> List.exists (fun (r, _) -> r.EndsWith "weights.safetensors")) "and weights"
            let root = tempRoot ()
            let once name = Path.Combine(root, name)
            let faults = [ "step:7:" + once "step"; "checkpoint-write:5:" + once "checkpoint"; "run-finish:3:" + once "finish" ]
            let mutable killed = 0
            for f in faults do
                let rc, out = cli (sweepArgs root []) [ "AUTODESIGN_FAULT", f ]
                Expect.equal rc 137 (sprintf "killed by SIGKILL at %s (output: %s)" f out)
                killed <- killed + 1
            let mutable attempts = 0
            let mutable finished = false
            while not finished && attempts < 3 do
                let rc, out = cli (sweepArgs root []) []
                attempts <- attempts + 1
                if rc = 0 then finished <- true
                elif rc <> 137 then failtestf "restart failed (%d): %s" rc out
            Expect.isTrue finished "the restarted sweep finished"
            for name in [ "step"; "checkpoint"; "finish" ] do Expect.isTrue (File.Exists(once name)) (name + " fault fired")
            let got = outputs (sweepDir root)
            Expect.equal (got |> List.map fst) (expected |> List.map fst) "same files"
            for ((rel, a), (_, b)) in List.zip got expected do
                Expect.isTrue (a = b) (sprintf "%s is identical to the uninterrupted run's" rel)
        }

        test "λ points train as separate jobs after the warm start: --only stages give the sweep's results" {
            let expected = outputs (sweepDir reference.Value) |> Map.ofList
            let root = tempRoot ()
            // a point before its warm start is refused, naming the stage to run
            let rc, out = cli (sweepArgs root [ "--only"; "points" ]) []
            Expect.equal rc 1 "refused"
            Expect.stringContains out "--only warm-start" "names the warm-start job"
            for stage in [ "baselines"; "warm-start" ] do
                let rc, out = cli (sweepArgs root [ "--only"; stage ]) []
                Expect.equal rc 0 (sprintf "--only %s: %s" stage out)
            // the thesis recipe's point alone, then the other recipe's
            let point (extra: string list) = cli (sweepArgs root ([ "--only"; "points" ] @ extra)) []
            let rc1, o1 = point [ "--unified-q"; "--joint-control-grad" ]
            Expect.equal rc1 0 o1
            let rc2, o2 = point []
            Expect.equal rc2 0 o2
            for rel in [ "points/unifiedq-joint/lambda-0.5/result.json"; "points/unifiedq-joint/lambda-0.5/weights.safetensors"
                         "points/ce1-detached/lambda-0.5/result.json"; "points/ce1-detached/lambda-0.5/weights.safetensors"
                         "warm-start/weights.safetensors" ] do
                let f = Path.Combine(sweepDir root, rel)
                let got = if rel.EndsWith ".json" then (Json.parse f (File.ReadAllText f)).["result"].ToJsonString() else Convert.ToHexString(File.ReadAllBytes f)
                Expect.isTrue (got = expected[rel]) (sprintf "%s equals the one-process sweep's" rel)
            // the whole sweep now only writes the curve
            let rc3, o3 = cli (sweepArgs root []) []
            Expect.equal rc3 0 o3
            Expect.equal (File.ReadAllText(Path.Combine(sweepDir root, "curve.csv"))) expected["curve.csv"] "curve.csv"
        }
    ]
