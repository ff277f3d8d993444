/// The job launchers on real processes: the local worker pool, and Slurm on a real single-node cluster
/// (scripts/slurm-cluster.sh). Jobs are real CLI invocations (`reproduce --only foundation/...`); a job
/// killed, cancelled or requeued ends with the same result as an uninterrupted one.
module AutoDesign.Tests.LauncherTests

open System
open System.Diagnostics
open System.IO
open System.Threading
open Expecto
open AutoDesign.Runs

let private tempRoot () = TempDir.fresh "launch"

/// A reproduce job for one foundation experiment under `root` (each job writes its own report file).
let reproduceJob (root: string) (name: string) =
    let runDir = Path.Combine(root, "reproduce", "quick-seed1", "foundation", name)

    Job.create
        ("foundation/" + name)
        [ "reproduce"
          "--quick"
          "--only"
          "foundation/" + name
          "--runs-root"
          root
          "--report"
          Path.Combine(root, name + ".md")
          "--wait"
          "--launcher"
          "serial" ]
        runDir

let private resultOf (j: Job) = File.ReadAllText(Path.Combine(j.RunDir, "result.json")) |> fun t -> (Json.parse "result" t).["result"].ToJsonString()

/// Run `cmd` with /bin/sh: (exit code, standard output then standard error).
let internal sh (cmd: string) =
    let psi =
        ProcessStartInfo("/bin/sh", [ "-c"; cmd ], RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false)

    use p = Process.Start psi
    let out = p.StandardOutput.ReadToEnd() + p.StandardError.ReadToEnd()
    p.WaitForExit()
    p.ExitCode, out

/// The reference results: the same jobs, one at a time, uninterrupted.
let private reference =
    lazy
        (let root = tempRoot ()
         let jobs = [ reproduceJob root "mnist-mlp"; reproduceJob root "resume-determinism" ]
         let reports = LocalLauncher.run 1 0 null jobs

         for r in reports do
             if r.Outcome <> Succeeded then failtestf "reference job %s failed: %A" r.Job.Id r.Outcome

         jobs |> List.map (fun j -> j.Id, resultOf j) |> Map.ofList)

/// Whether a Slurm cluster answers (sinfo).
let slurmAnswers () = SlurmLauncher.available ()

/// Slurm is needed here: on CI (AUTODESIGN_REQUIRE_SLURM=1) its absence fails the test, elsewhere it skips.
let requireSlurm () =
    if not (SlurmLauncher.available ()) then
        if Environment.GetEnvironmentVariable "AUTODESIGN_REQUIRE_SLURM" = "1" then
            failtest "no Slurm cluster answers (sinfo); start one with scripts/slurm-cluster.sh start (as root)"
        else
            skiptest "no Slurm cluster answers (sinfo); start one with scripts/slurm-cluster.sh start (as root)"

/// Wait until `f` holds (polling), or fail after `seconds`.
let private waitFor (seconds: float) (what: string) (f: unit -> bool) =
    let sw = Stopwatch.StartNew()

    while not (f ()) do
        if sw.Elapsed.TotalSeconds > seconds then failtestf "timed out waiting for %s" what
        Thread.Sleep 200

[<Tests>]
let tests =
    testSequenced
    <| testList
        "launcher"
        [ test "local pool: two workers give the serial results; a job killed with SIGKILL is restarted and resumes" {
              let root = tempRoot ()
              let once = Path.Combine(root, "killed-once")

              let jobs =
                  [ reproduceJob root "mnist-mlp"
                    { reproduceJob root "resume-determinism" with Env = readOnlyDict [ "AUTODESIGN_FAULT", "step:40:" + once ] } ]

              let lines = Collections.Concurrent.ConcurrentQueue<string>()
              let reports = LocalLauncher.run 2 2 (Action<string> lines.Enqueue) jobs

              for r in reports do
                  Expect.equal r.Outcome Succeeded (sprintf "%s: %A" r.Job.Id r.Outcome)

              Expect.isTrue (File.Exists once) "the fault fired once"
              let killed = reports |> Seq.find (fun r -> r.Job.Id = "foundation/resume-determinism")
              Expect.equal killed.Attempts 2 "killed once, then resumed"
              Expect.isTrue (lines |> Seq.exists (fun l -> l.Contains "killed (SIGKILL)")) "the kill is reported"
              Expect.isTrue (lines |> Seq.exists (fun l -> l.Contains "ETA")) "progress with an ETA"

              for j in jobs do
                  Expect.equal (resultOf j) reference.Value.[j.Id] (j.Id + ": same result as the serial run")
          }

          test "local pool: a job that fails deterministically is reported once, with its error and log" {
              let root = tempRoot ()

              let bad =
                  Job.create
                      "bad"
                      [ "reproduce"; "--quick"; "--only"; "nosuch/experiment"; "--runs-root"; root; "--launcher"; "serial" ]
                      (Path.Combine(root, "bad"))

              let dependent = { reproduceJob root "mnist-mlp" with DependsOn = [ "bad" ] }
              let reports = LocalLauncher.run 2 3 null [ bad; dependent ]

              match List.ofSeq reports with
              | [ b; d ] ->
                  Expect.equal b.Attempts 1 "not retried"

                  match b.Outcome with
                  | Failed m -> Expect.stringContains m "matches no experiment" "the job's error line"
                  | other -> failtestf "expected Failed, got %A" other

                  Expect.isTrue (File.Exists b.Log) "its log"

                  match d.Outcome with
                  | Failed m -> Expect.stringContains m "job bad failed" "a dependent job is not run"
                  | other -> failtestf "expected the dependent job to fail, got %A" other
              | other -> failtestf "expected two reports, got %d" other.Length
          }

          test "slurm: a job array gives the serial results; a job cancelled with scancel and one requeued mid-run finish identically" {
              requireSlurm ()
              let root = tempRoot ()
              let jobs = [ reproduceJob root "mnist-mlp"; reproduceJob root "resume-determinism" ]
              let lines = Collections.Concurrent.ConcurrentQueue<string>()
              let opts = { SlurmOptions.Default with PollSeconds = 0.5; Retries = 3 }
              let worker = Tasks.Task.Run(fun () -> SlurmLauncher.run opts root (Action<string> lines.Enqueue) jobs)
              // once both are running: cancel one, requeue the other
              let sidOf (id: string) =
                  lines
                  |> Seq.tryPick (fun l -> if l.StartsWith(id + " submitted as Slurm job ") then Some(l.Substring(l.LastIndexOf ' ' + 1)) else None)

              waitFor 120.0 "both jobs to be submitted" (fun () -> (sidOf jobs.[0].Id).IsSome && (sidOf jobs.[1].Id).IsSome)
              let running (sid: string) = fst (sh (sprintf "squeue -h -r -j %s -o %%T | grep -q RUNNING" sid)) = 0
              waitFor 120.0 "the jobs to run" (fun () -> running (sidOf jobs.[0].Id).Value && running (sidOf jobs.[1].Id).Value)
              Thread.Sleep 1500
              let rc1, o1 = sh (sprintf "scancel %s" (sidOf jobs.[0].Id).Value)
              Expect.equal rc1 0 ("scancel: " + o1)
              let rc2, o2 = sh (sprintf "scontrol requeue %s" (sidOf jobs.[1].Id).Value)
              Expect.equal rc2 0 ("scontrol requeue: " + o2)
              let reports = worker.Result

              for r in reports do
                  Expect.equal r.Outcome Succeeded (sprintf "%s: %A" r.Job.Id r.Outcome)

              Expect.isTrue (lines |> Seq.exists (fun l -> l.Contains "left the queue without an exit code")) "the cancellation was seen"

              for j in jobs do
                  Expect.equal (resultOf j) reference.Value.[j.Id] (j.Id + ": same result as the serial run")
          }

          test "slurm: a job whose node goes away (slurmd stopped, started again) finishes with the serial result" {
              requireSlurm ()
              let root = tempRoot ()
              let job = reproduceJob root "resume-determinism"
              let lines = Collections.Concurrent.ConcurrentQueue<string>()
              let opts = { SlurmOptions.Default with PollSeconds = 0.5; Retries = 3 }
              let worker = Tasks.Task.Run(fun () -> SlurmLauncher.run opts root (Action<string> lines.Enqueue) [ job ])
              waitFor 120.0 "the job to run" (fun () -> lines |> Seq.exists (fun l -> l.Contains "submitted as Slurm job"))
              Thread.Sleep 2000
              let script = Path.Combine(__SOURCE_DIRECTORY__, "..", "..", "scripts", "slurm-cluster.sh")
              let rc, out = sh (sprintf "%s stop-node && sleep 3 && %s start-node" script script)
              Expect.equal rc 0 ("node restart: " + out)
              let reports = worker.Result
              Expect.equal reports.[0].Outcome Succeeded (sprintf "%A" reports.[0].Outcome)
              Expect.equal (resultOf job) reference.Value.[job.Id] "same result as the serial run"
          }

          test "local pool: a DGGAN search whose candidates train as worker processes ends like a serial search" {
              let root = tempRoot ()
              let args out launcher = [ "dggan"; "search"; "--tiny"; "--device"; "cpu"; "--runs-root"; Path.Combine(root, out); "--launcher"; launcher ]
              let rc, out, err = CliProcess.runQuiet root [] (args "serial" "serial")
              Expect.equal rc 0 (sprintf "serial search:\n%s\n%s" out err)
              let rc, out, err = CliProcess.runQuiet root [] (args "local" "local" @ [ "--workers"; "2" ])
              Expect.equal rc 0 (sprintf "search on the local pool:\n%s\n%s" out err)
              let folder = Path.Combine("dggan", "search-mnist-tiny-seed1")
              Expect.isNonEmpty (Directory.GetFiles(Path.Combine(root, "local", folder, "candidates"), "*.job.log")) "the candidates ran as jobs"

              for f in [ "search.json"; "final.csv"; "table-per-resolution.csv" ] do
                  let a = File.ReadAllBytes(Path.Combine(root, "serial", folder, f))
                  let b = File.ReadAllBytes(Path.Combine(root, "local", folder, f))
                  Expect.isTrue (a = b) (sprintf "%s is identical to the serial search's" f)
          }
          test
              "slurm: a DGGAN search with candidates as Slurm jobs (one requeued, one cancelled, the coordinator killed and restarted) ends like a serial search" {
              requireSlurm ()
              let root = tempRoot ()
              let args out launcher = [ "dggan"; "search"; "--tiny"; "--device"; "cpu"; "--runs-root"; Path.Combine(root, out); "--launcher"; launcher ]
              let rc, out, err = CliProcess.runQuiet root [] (args "serial" "serial")
              Expect.equal rc 0 (sprintf "serial search:\n%s\n%s" out err)

              let coordinator () =
                  let p = CliProcess.start (Some root) [ "AUTODESIGN_QUIET", "1" ] (args "slurm" "slurm" @ [ "--retries"; "3" ])
                  let out = p.StandardOutput.ReadToEndAsync()
                  let err = p.StandardError.ReadToEndAsync()
                  p, out, err

              let jobs state =
                  let _, o = sh (sprintf "squeue -h -r -t %s -o '%%i %%j'" state)

                  [ for l in o.Split('\n', StringSplitOptions.RemoveEmptyEntries) do
                        match l.Trim().Split(' ') with
                        | [| id; name |] when name.StartsWith "ad-" -> yield id
                        | _ -> () ]

              let c1, _, c1err = coordinator ()
              // the first candidate job to run is requeued, the next one cancelled
              waitFor 300.0 "a candidate job to run" (fun () -> not (jobs "RUNNING").IsEmpty)
              let requeued = List.head (jobs "RUNNING")
              let rcq, oq = sh (sprintf "scontrol requeue %s" requeued)
              Expect.equal rcq 0 ("scontrol requeue: " + oq)
              // the job is taken from the same squeue answer that showed it running (a tiny candidate may end at once)
              let mutable other = None

              waitFor 300.0 "another candidate job to run" (fun () ->
                  other <- jobs "RUNNING" |> List.tryFind ((<>) requeued)
                  other.IsSome)

              let cancelled = other.Value
              let rcc, oc = sh (sprintf "scancel %s" cancelled)
              Expect.equal rcc 0 ("scancel: " + oc)
              Thread.Sleep 3000
              Expect.isFalse c1.HasExited (sprintf "the coordinator is still running when it is killed:\n%s" c1err.Result)
              c1.Kill true
              c1.WaitForExit()
              let c2, c2out, c2err = coordinator ()

              if not (c2.WaitForExit(TimeSpan.FromMinutes 10.0)) then
                  c2.Kill true
                  failtest "the restarted coordinator did not finish in 10 minutes"

              Expect.equal c2.ExitCode 0 (sprintf "restarted coordinator:\n%s\n%s" c2out.Result c2err.Result)
              let folder = Path.Combine("dggan", "search-mnist-tiny-seed1")

              for f in [ "search.json"; "final.csv"; "table-per-resolution.csv" ] do
                  let a = File.ReadAllBytes(Path.Combine(root, "serial", folder, f))
                  let b = File.ReadAllBytes(Path.Combine(root, "slurm", folder, f))
                  Expect.isTrue (a = b) (sprintf "%s is identical to the serial search's" f)
          } ]
