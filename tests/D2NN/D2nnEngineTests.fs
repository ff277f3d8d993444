/// D²NN sweeps on the run engine, end to end through the CLI: a sweep killed (SIGKILL via AUTODESIGN_FAULT)
/// at a training step, during a checkpoint write and between child runs, or again and again inside its λ
/// points, and started again until it finishes, ends with the curve, results, metrics and weights of an
/// uninterrupted one; a λ point trains alone as a job once its warm start is finished.
module AutoDesign.Tests.D2nnEngineTests

open System
open System.IO
open Expecto
open AutoDesign.Runs

let private tempRoot () = TempDir.fresh "d2nn-engine"

/// `d2nn dcn` on embedded MNIST digits (no data set to install): 64 training and 32 test images in batches of 16,
/// `steps` steps a stage, at the λ points `lambdas`, a checkpoint every `every` steps, seed 3, serially under `root`.
let private dcnArgs (steps: int) (lambdas: string list) (every: int) (root: string) =
    [ "d2nn"
      "dcn"
      "--quick"
      "--steps"
      string steps
      "--train-size"
      "64"
      "--test-size"
      "32"
      "--batch"
      "16"
      "--lambdas" ]
    @ lambdas
    @ [ "--checkpoint-every"; string every; "--seed"; "3"; "--runs-root"; root; "--launcher"; "serial" ]

/// The tiny dcn sweep: 4 baseline steps, 2 warm-up, 4 per λ point, both recipes at one λ, the DCN baseline; a
/// checkpoint every 2 steps.
let private sweepArgs (root: string) (extra: string list) = dcnArgs 4 [ "0.5" ] 2 root @ [ "--thesis-recipe" ] @ extra

/// Run the CLI with extra environment variables; returns exit code and output.
let private cli (args: string list) (env: (string * string) list) =
    let o = CliProcess.run None (("AUTODESIGN_QUIET", "1") :: env) args (TimeSpan.FromMinutes 30.0)
    o.Code, o.Out + o.Err

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

let private sweepDir (root: string) = Path.Combine(root, "d2nn", "dcn-quick-sized-v2", "seed3")

/// The uninterrupted sweep, run once.
let private reference =
    lazy
        (let root = tempRoot ()
         let rc, out = cli (sweepArgs root []) []
         if rc <> 0 then failtestf "the uninterrupted sweep failed (%d): %s" rc out
         root)

/// The tiny dcn sweep with λ points long enough to be killed at several places: 12 steps at each of λ 0.5 and
/// 0.9, a checkpoint every 3 steps. A fresh process runs 66 steps before the first λ point (2 baselines of
/// 12 steps, each continued for 18, a warm start of 6), then λ 0.5's 12 and λ 0.9's 12.
let private lambdaArgs (root: string) = dcnArgs 12 [ "0.5"; "0.9" ] 3 root

let private lambdaReference =
    lazy
        (let root = tempRoot ()
         let rc, out = cli (lambdaArgs root) []
         if rc <> 0 then failtestf "the uninterrupted sweep failed (%d): %s" rc out
         root)

/// Kills inside the λ points, one process after another: (fault, what the next start prints). "step:n"
/// counts the steps a process ran; each start after a kill continues from the last checkpoint. Kills right
/// after a checkpoint, one and two steps later, and just before one (a step run, its checkpoint not yet
/// written). A resumed step reaches a node that the steps before it left out, or skips one they reached.
let private lambdaKills =
    [ "step:73", "lambda-0.5: resuming at step 6 of 12" // after λ 0.5's step 7: one past checkpoint 6
      "step:3", "lambda-0.5: resuming at step 6 of 12" // after step 9, checkpoint 9 not written
      "step:5", "lambda-0.5: resuming at step 9 of 12" // after step 11: two past checkpoint 9
      "step:11", "lambda-0.9: resuming at step 6 of 12" // λ 0.5 ends (3 steps), λ 0.9 after step 8: two past 6
      "step:1", "lambda-0.9: resuming at step 6 of 12" ] // after step 7: one past checkpoint 6

[<Tests>]
let tests =
    testSequenced
    <| testList
        "d2nn.engine"
        [ test "a sweep killed at a step, during a checkpoint write and between child runs ends like an uninterrupted one" {
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

              for name in [ "step"; "checkpoint"; "finish" ] do
                  Expect.isTrue (File.Exists(once name)) (name + " fault fired")

              let got = outputs (sweepDir root)
              Expect.equal (got |> List.map fst) (expected |> List.map fst) "same files"

              for ((rel, a), (_, b)) in List.zip got expected do
                  Expect.isTrue (a = b) (sprintf "%s is identical to the uninterrupted run's" rel)
          }

          test "λ points killed before, at and after their checkpoints resume to the uninterrupted metrics and weights" {
              let expected = outputs (sweepDir lambdaReference.Value)

              for rel in
                  [ "points/ce1-detached/lambda-0.5/metrics.csv"
                    "points/ce1-detached/lambda-0.9/metrics.csv"
                    "points/ce1-detached/lambda-0.5/weights.safetensors"
                    "points/ce1-detached/lambda-0.9/weights.safetensors" ] do
                  Expect.isTrue (expected |> List.exists (fun (r, _) -> r = rel)) (sprintf "the reference wrote %s" rel)

              let root = tempRoot ()
              let mutable announced = None

              for (fault, next) in lambdaKills do
                  let rc, out = cli (lambdaArgs root) [ "AUTODESIGN_FAULT", fault ]
                  Expect.equal rc 137 (sprintf "killed by SIGKILL at %s (output: %s)" fault out)

                  announced
                  |> Option.iter (fun (a: string) -> Expect.stringContains out a "the start before continued from the last checkpoint")

                  announced <- Some next

              let rc, out = cli (lambdaArgs root) []
              Expect.equal rc 0 (sprintf "the last start finishes: %s" out)
              Expect.stringContains out announced.Value "it continued from the last checkpoint"
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

              for rel in
                  [ "points/unifiedq-joint/lambda-0.5/result.json"
                    "points/unifiedq-joint/lambda-0.5/weights.safetensors"
                    "points/ce1-detached/lambda-0.5/result.json"
                    "points/ce1-detached/lambda-0.5/weights.safetensors"
                    "warm-start/weights.safetensors" ] do
                  let f = Path.Combine(sweepDir root, rel)

                  let got =
                      if rel.EndsWith ".json" then
                          (Json.parse f (File.ReadAllText f)).["result"].ToJsonString()
                      else
                          Convert.ToHexString(File.ReadAllBytes f)

                  Expect.isTrue (got = expected[rel]) (sprintf "%s equals the one-process sweep's" rel)
              // the whole sweep now only writes the curve
              let rc3, o3 = cli (sweepArgs root []) []
              Expect.equal rc3 0 o3
              Expect.equal (File.ReadAllText(Path.Combine(sweepDir root, "curve.csv"))) expected["curve.csv"] "curve.csv"
          } ]
