/// What a careless user or a dying machine does to launched work: a local pool killed with SIGKILL leaves no
/// workers and its restart finishes; temporary files of a killed writer are removed when the run is opened
/// again; a read-only run root is an error, not a wait; commands over other seeds keep their own summaries;
/// on Slurm, a job that can never start ends the command with its pending reason, and an interrupted command
/// cancels the jobs it submitted.
module AutoDesign.Tests.LauncherRobustTests

open System
open System.Diagnostics
open System.IO
open System.Threading
open Expecto

let private tempRoot () = TempDir.fresh "robust"

/// A tiny UniLoss AP command (two seeds) under `root`.
let private apArgs (root: string) (extra: string list) =
    [ "uniloss"; "ap"; "--quick"; "--epochs"; "1"; "--train-size"; "200"; "--device"; "cpu"; "--runs-root"; root ] @ extra

/// Start the CLI without waiting for it.
let private start (args: string list) =
    let p = CliProcess.start None [ "AUTODESIGN_QUIET", "1" ] args
    p.OutputDataReceived.Add ignore
    p.ErrorDataReceived.Add ignore
    p.BeginOutputReadLine()
    p.BeginErrorReadLine()
    p

/// Processes whose environment holds `entry` (KEY=value).
let private withEnvironment (entry: string) =
    [ for d in Directory.GetDirectories "/proc" do
          match Int32.TryParse(Path.GetFileName d) with
          | true, pid ->
              let env =
                  try
                      File.ReadAllText(Path.Combine(d, "environ"))
                  with _ ->
                      ""

              if env.Split('\000') |> Array.contains entry then yield pid
          | _ -> () ]

let private waitFor (seconds: float) (what: string) (f: unit -> bool) =
    let sw = Stopwatch.StartNew()

    while not (f ()) do
        if sw.Elapsed.TotalSeconds > seconds then failtestf "timed out after %.0f s waiting for %s" seconds what
        Thread.Sleep 200

let private sh = LauncherTests.sh

[<Tests>]
let tests =
    testSequenced
    <| testList
        "launcher.robust"
        [ test "a local pool killed with SIGKILL leaves no workers; the same command then finishes" {
              let root = tempRoot ()

              let args =
                  [ "uniloss"
                    "ap"
                    "--quick"
                    "--epochs"
                    "3"
                    "--train-size"
                    "2000"
                    "--seeds"
                    "2"
                    "--device"
                    "cpu"
                    "--runs-root"
                    root ]

              use pool = start args
              let entry = sprintf "AUTODESIGN_JOB_PARENT=%d" pool.Id
              waitFor 120.0 "two workers" (fun () -> (withEnvironment entry).Length = 2)
              pool.Kill()
              pool.WaitForExit()
              waitFor 10.0 "the workers to end with their pool" (fun () -> (withEnvironment entry).IsEmpty)
              let rc, out, err = CliProcess.runQuiet root [] args
              Expect.equal rc 0 (sprintf "the restarted command finishes:\n%s\n%s" out err)
              Directory.Delete(root, true)
          }
          test "temporary files of a killed writer are removed when the run is opened again" {
              let root = tempRoot ()
              let rc, _, err = CliProcess.runQuiet root [] (apArgs root [ "--launcher"; "serial" ])
              Expect.equal rc 0 err
              let run = Path.Combine(root, "uniloss", "ap-mnist-quick", "seed1", "ce")

              let left =
                  [ Path.Combine(run, ".metrics.csv." + String('a', 32) + ".tmp")
                    Path.Combine(run, "sub", ".weights.safetensors." + String('0', 32) + ".tmp") ]

              for f in left do
                  Directory.CreateDirectory(Path.GetDirectoryName f) |> ignore
                  File.WriteAllText(f, "partial")

              let keep = Path.Combine(run, "notes.tmp")
              File.WriteAllText(keep, "a user's file")
              let rc2, _, err2 = CliProcess.runQuiet root [] (apArgs root [ "--launcher"; "serial" ])
              Expect.equal rc2 0 err2

              for f in left do
                  Expect.isFalse (File.Exists f) (f + " is removed")

              Expect.isTrue (File.Exists keep) "other files stay"
              Directory.Delete(root, true)
          }
          test "a run root on a read-only mount is one error line, also with --wait" {
              let root = tempRoot ()
              let rc, _, err = CliProcess.runQuiet root [] (apArgs (Path.Combine(root, "rw")) [ "--launcher"; "serial" ])
              Expect.equal rc 0 err
              let ro = Path.Combine(root, "ro")
              Directory.CreateDirectory ro |> ignore
              let mrc, mout = sh (sprintf "mount --bind '%s' '%s' && mount -o remount,ro,bind '%s'" (Path.Combine(root, "rw")) ro ro)
              Expect.equal mrc 0 (sprintf "a read-only bind mount (needs root):\n%s" mout)

              try
                  let sw = Stopwatch.StartNew()
                  let rc2, _, err2 = CliProcess.runQuiet root [] (apArgs ro [ "--launcher"; "serial"; "--wait" ])
                  Expect.equal rc2 1 (sprintf "exit 1:\n%s" err2)
                  Expect.isLessThan sw.Elapsed.TotalSeconds 60.0 "no endless wait"
                  let lines = err2.Split('\n') |> Array.filter (fun l -> l.StartsWith "error:")
                  Expect.equal lines.Length 1 err2
                  Expect.stringContains lines.[0] "writable" "says the folder cannot be written"
              finally
                  sh (sprintf "umount '%s'" ro) |> ignore

              Directory.Delete(root, true)
          }
          test "commands over other seeds in one run root keep their own summaries" {
              let root = tempRoot ()

              for seed in [ "1"; "2" ] do
                  let rc, _, err = CliProcess.runQuiet root [] (apArgs root [ "--launcher"; "serial"; "--seed"; seed ])
                  Expect.equal rc 0 err

              let exp = Path.Combine(root, "uniloss", "ap-mnist-quick")

              for seed in [ 1; 2 ] do
                  let lines = File.ReadAllLines(Path.Combine(exp, sprintf "seeds%d-%d" seed seed, "summary.csv"))
                  Expect.equal lines.Length 3 "a header and two arms"

                  for l in lines.[1..] do
                      Expect.stringContains l (sprintf ",%d," seed) "rows of this command's seed"

              Directory.Delete(root, true)
          }
          test "slurm: a job that can never start ends the command with its pending reason, and is cancelled" {
              LauncherTests.requireSlurm ()
              let root = tempRoot ()
              let sw = Stopwatch.StartNew()

              let rc, _, err =
                  CliProcess.runQuiet root [] (apArgs root [ "--seeds"; "2"; "--launcher"; "slurm"; "--cpus-per-task"; "512" ])

              Expect.equal rc 1 err
              Expect.stringContains err "PartitionConfig" "names the reason"
              Expect.isLessThan sw.Elapsed.TotalSeconds 180.0 "within a bounded wait"
              let _, q = sh "squeue -h -o '%j'"
              Expect.isFalse (q.Contains "ad-uniloss-ap") (sprintf "no job of it is left queued:\n%s" q)
              Directory.Delete(root, true)
          }
          test "slurm: a command stopped with SIGTERM cancels the jobs it submitted" {
              LauncherTests.requireSlurm ()
              let root = tempRoot ()
              use p = start (apArgs root [ "--epochs"; "5"; "--train-size"; "2000"; "--seeds"; "2"; "--launcher"; "slurm" ])
              let queued () = snd (sh "squeue -h -o '%j'")
              waitFor 60.0 "the jobs to be submitted" (fun () -> (queued ()).Contains "ad-uniloss-ap")
              sh (sprintf "kill -TERM %d" p.Id) |> ignore
              p.WaitForExit()
              waitFor 30.0 "the jobs to leave the queue" (fun () -> not ((queued ()).Contains "ad-uniloss-ap"))
              Directory.Delete(root, true)
          } ]
