module AutoDesign.Tests.ReproduceTests

open System
open System.IO
open Expecto
open Argu
open TorchSharp
open AutoDesign.Runs
open AutoDesign.Reproduce
open AutoDesign.Cli.Args
open AutoDesign.Cli.Commands

/// Test doubles: two systems whose experiments return fixed rows (and count their runs).
let mutable runs = 0

let fake system name (data: string) measured : Experiment =
    { System = system
      Name = name
      Description = "fake " + name
      Run =
        fun ctx ->
            runs <- runs + 1

            [ { System = system
                Experiment = name
                Claim = "claim " + name
                Thesis = "90%"
                Measured = measured ctx
                Config = (if ctx.Quick then "quick" else "full")
                Data = data } ]
      Parts = ExperimentPart.none
      Figures = ReportFigure.none }

let registry (tag: string) =
    [ fake "alpha" "one" "MNIST" (fun _ -> "91% " + tag)
      fake "alpha" "two" "Fashion-MNIST (stand-in for CIFAR-10)" (fun _ -> "a|b " + tag)
      fake "beta" "three" "synthetic" (fun ctx -> sprintf "seed %d %s" ctx.Seed tag) ]

/// A fake experiment of two parts (one per seed), each finishing a run folder that the assembly reads;
/// `partRuns` counts the parts' computations.
let mutable partRuns = 0

let split: Experiment =
    let seedRun (ctx: ExperimentContext) (seed: int) =
        use run = Run.Open(ctx.Options, sprintf "fake/split/seed%d" seed, "test.split/1", {| Seed = seed |})

        if run.IsFinished then
            run.Result<int>()
        else
            partRuns <- partRuns + 1
            File.WriteAllBytes(run.File "figure.png", [| byte seed |])
            run.Finish(seed * 10)
            seed * 10

    { System = "gamma"
      Name = "split"
      Description = "fake with parts"
      Run =
        fun ctx ->
            let values = [ for k in ctx.Seed .. ctx.Seed + 1 -> seedRun ctx k ]

            [ { System = "gamma"
                Experiment = "split"
                Claim = "parts"
                Thesis = "—"
                Measured = sprintf "%A" values
                Config = "c"
                Data = "d" } ]
      Parts = ExperimentPart.perSeed 2 (fun ctx k -> seedRun ctx k |> ignore)
      Figures =
        fun ctx ->
            [ ReportFigure.create (sprintf "seed %d figure" ctx.Seed) (Path.Combine(ctx.RunsRoot, sprintf "fake/split/seed%d/figure.png" ctx.Seed))
              ReportFigure.create "never drawn" (Path.Combine(ctx.RunsRoot, "fake/split/none.png")) ] }

let tableRows (report: string) =
    report.Split('\n')
    |> Array.filter (fun l -> l.StartsWith "| " && not (l.StartsWith "| Row") && not (l.StartsWith "| System"))
    |> List.ofArray

/// A quick run of seed 1 under `root`, its report in `root`/R.md, one torch thread, nothing forced.
let private options (root: string) =
    { Quick = true
      Only = None
      Device = torch.CPU
      RunsRoot = root
      ReportPath = Path.Combine(root, "R.md")
      Seed = 1
      Threads = 1
      Force = false
      Wait = false
      WriteReport = true
      Part = None }

/// A fresh runs root.
let private freshRoot () = TempDir.fresh "reproduce"

let parser = ArgumentParser.Create<AutoDesignArgs>(programName = "autodesign")

[<Tests>]
let tests =
    // reproduce redirects the process's console into each experiment's log: one test at a time
    testSequenced
    <| testList
        "foundation.reproduce"
        [ test "report has a header, one table per system, and lists stand-in data sets" {
              let root = freshRoot ()

              let opts = { options root with ReportPath = Path.Combine(root, "REPORT.md"); Seed = 4 }

              Runner.run (registry "v1") opts |> ignore
              let text = File.ReadAllText opts.ReportPath
              Expect.stringContains text "- Config: quick; 1 torch thread per experiment" "config and threads in header"
              Expect.stringContains text "No row states a verdict." "an empty summary says so"

              Expect.stringContains
                  text
                  "### two\n\nConfig: quick\n\nData: Fashion-MNIST (stand-in for CIFAR-10)\n\n| Row | Claim | Thesis | Measured |"
                  "config and data once per experiment"

              Expect.stringContains text (sprintf "- Machine: %d cores" Environment.ProcessorCount) "cores in header"
              Expect.stringContains text "## alpha" "alpha section"
              Expect.stringContains text "## beta" "beta section"
              Expect.isLessThan (text.IndexOf "## alpha") (text.IndexOf "## beta") "registry order"

              Expect.equal
                  (tableRows text)
                  [ "| one | claim one | 90% | 91% v1 |"
                    "| two | claim two | 90% | a\\|b v1 |"
                    "| three | claim three | 90% | seed 4 v1 |" ]
                  "rows in registry order"

              Expect.equal (tableRows text |> List.length) 3 "three rows"
              Expect.equal (tableRows text).[1] "| two | claim two | 90% | a\\|b v1 |" "escaped pipe"
              let standIn = text.Substring(text.IndexOf "## Stand-in data sets")
              Expect.stringContains standIn "- alpha / two: Fashion-MNIST (stand-in for CIFAR-10)" "stand-in listed"
              Expect.isFalse (standIn.Contains "MNIST |") "non-stand-ins not listed"
          }

          test "stored results are reused; --only --force reruns a subset and keeps the other experiments' rows" {
              let root = freshRoot ()

              let opts = { options root with Quick = false }

              Runner.run (registry "v1") opts |> ignore
              runs <- 0
              Runner.run (registry "v2") opts |> ignore
              Expect.equal runs 0 "finished experiments are not run again"
              Expect.stringContains (tableRows (File.ReadAllText opts.ReportPath)).[0] "91% v1" "stored rows"

              Expect.throwsT<UserError>
                  (fun () -> Runner.run (registry "v2") { opts with Threads = 2 } |> ignore)
                  "another thread count is another configuration"

              Runner.run (registry "v2") { opts with Only = Some "beta"; Force = true } |> ignore
              Expect.equal runs 1 "only beta ran"
              let rows = tableRows (File.ReadAllText opts.ReportPath)
              Expect.equal rows.Length 3 "all three rows still there"
              Expect.stringContains rows.[0] "91% v1" "alpha kept from the first run"
              Expect.stringContains rows.[2] "seed 1 v2" "beta replaced"
              runs <- 0
              Runner.run (registry "v3") { opts with Only = Some "alpha/two"; Force = true } |> ignore
              Expect.equal runs 1 "only alpha/two ran"
              Expect.stringContains (tableRows (File.ReadAllText opts.ReportPath)).[1] "v3" "alpha/two replaced"
              Expect.throwsT<UserError> (fun () -> Runner.select (registry "x") (Some "gamma") |> ignore) "unknown system"
          }

          test "a failing experiment is recorded with its log, the others still run, and the command exits 1" {
              let root = freshRoot ()

              let boom: Experiment =
                  { System = "alpha"
                    Name = "boom"
                    Description = "fails"
                    Run =
                      fun _ ->
                          printfn "some progress"
                          failwith "native handle went away"
                    Parts = ExperimentPart.none
                    Figures = ReportFigure.none }

              let reg = [ (registry "f").[0]; boom; (registry "f").[2] ]
              let argv = [| "reproduce"; "--runs-root"; root; "--report"; Path.Combine(root, "R.md"); "--launcher"; "serial" |]
              let g, r = AutoDesign.Cli.Program.parse argv

              let rc =
                  Reproduce.handleWith reg g (AutoDesignArgs.Reproduce >> AutoDesign.Cli.Args.jobLine r) (r.GetResult AutoDesignArgs.Reproduce)

              Expect.equal rc 1 "non-zero exit"
              let text = File.ReadAllText(Path.Combine(root, "R.md"))
              Expect.stringContains text "FAILED: Exception: native handle went away" "failed row"
              Expect.stringContains text "seed 1 f" "the experiment after it ran"
              Expect.stringContains text "(1 FAILED)" "header counts failures"
              let log = Path.Combine(root, "reproduce", "full-seed1", "alpha", "boom", "log.txt")
              Expect.stringContains (File.ReadAllText log) "some progress" "the log holds the experiment's output"
              Expect.stringContains (File.ReadAllText log) "native handle went away" "and the error"
          }

          test "parts run on their own; the experiment then assembles their finished runs; bad part ids are errors" {
              let root = freshRoot ()

              let opts = { options root with Only = Some "gamma/split"; Seed = 3; WriteReport = false }

              let ctx = Runner.context opts
              Expect.equal (split.Parts ctx |> List.map (fun p -> p.Id)) [ "seed3"; "seed4" ] "one part per seed from ctx.Seed"
              partRuns <- 0

              for id in [ "seed4"; "seed3" ] do
                  Expect.isEmpty (Runner.run [ split ] { opts with Part = Some id }) "a part gives no outcome"

              Expect.equal partRuns 2 "each part computed once"

              Expect.isFalse
                  (File.Exists(Path.Combine(root, "reproduce", "quick-seed3", "gamma", "split", "result.json")))
                  "a part does not finish the experiment"

              match Runner.run [ split ] { opts with WriteReport = true } with
              | [ _, Rows [ row ] ] -> Expect.equal row.Measured "[30; 40]" "assembled from the parts' runs"
              | other -> failtestf "unexpected outcome %A" other

              Expect.equal partRuns 2 "the assembly found every part finished"
              let report = File.ReadAllText opts.ReportPath

              Expect.stringContains
                  report
                  "![seed 3 figure](report-figures/gamma/split/1-figure.png)"
                  "the key figure is shown inline, linked beside the report"

              Expect.equal (File.ReadAllBytes(Path.Combine(root, "report-figures", "gamma", "split", "1-figure.png"))) [| 3uy |] "a copy of the run's figure"
              Expect.stringContains report "Figure not written by this run: never drawn" "a missing figure is named, not dropped"
              Expect.throwsT<UserError> (fun () -> Runner.run [ split ] { opts with Part = Some "seed9" } |> ignore) "unknown part"

              Expect.throwsT<UserError>
                  (fun () -> Runner.run [ split; fake "alpha" "one" "MNIST" (fun _ -> "") ] { opts with Only = None; Part = Some "seed3" } |> ignore)
                  "a part of which experiment?"
          }

          test "the summary lists the rows that state a verdict; paths under the runs root are relative" {
              let root = freshRoot ()
              let row m c = { System = "s"; Experiment = "e"; Claim = "c"; Thesis = "t"; Measured = m; Config = c; Data = "d" }
              let e = fake "s" "e" "d" (fun _ -> "")

              let rows =
                  [ row "gap +0.1 [-0.2, 0.3]: INCONCLUSIVE" (sprintf "runs in %s/d2nn/x/seed1" (Path.GetFullPath root))
                    row "AP 0.91" "other config" ]

              let text = Report.render (Report.header true 1 root) [ e, Rows rows ] (fun _ -> [])
              Expect.stringContains text "| s / e | c | t | gap +0.1 [-0.2, 0.3]: INCONCLUSIVE | INCONCLUSIVE |" "summary row"

              Expect.equal
                  (Report.verdictOf "UniLoss − CE = -0.0023 [-0.0030, -0.0015] (95% CI, 3 seeds): UniLoss worse than CE; per seed ...")
                  (Some "UniLoss worse than CE")
                  "the verdict's clause"

              Expect.isFalse (text.Contains "| AP 0.91 | " && text.Contains "| s / e | c | t | AP 0.91") "a row without a verdict is not in the summary"
              Expect.stringContains text "runs in d2nn/x/seed1" "relative path"
              Expect.isFalse (text.Contains(Path.GetFullPath root)) "no absolute path under the root"
              Expect.stringContains text "| Row | Claim | Thesis | Measured | Config |" "configs that differ stay a column"

              Expect.equal
                  (Report.verdictOf "gap 0.2 [0.1, 0.3]. Verdict: the D2NN costs more than NN. Other text")
                  (Some "the D2NN costs more than NN")
                  "an explicit verdict"
          }

          test "the CLI registry starts with the foundation experiments and has unique names" {
              let all = AutoDesign.Cli.Experiments.all
              Expect.equal (all.Head.System, all.Head.Name) ("foundation", "mnist-mlp") "first entry"
              let keys = all |> List.map (fun e -> e.System + "/" + e.Name)
              Expect.equal (List.distinct keys) keys "unique"

              let ctx = Runner.context { options "runs" with ReportPath = "R.md"; WriteReport = false }

              for e in all do
                  let ids = e.Parts ctx |> List.map (fun p -> p.Id)
                  Expect.equal (List.distinct ids) ids (sprintf "%s/%s: unique part ids" e.System e.Name)

                  for p in e.Parts ctx do
                      Expect.isTrue (p.Id |> Seq.forall (fun c -> Char.IsAsciiLetterOrDigit c || "./-_".Contains c)) (sprintf "%s: id characters" p.Id)

                      for d in p.DependsOn do
                          Expect.contains ids d (sprintf "%s/%s: %s depends on a part of its own" e.System e.Name p.Id)
          }

          test "reproduce options parse" {
              let opts (argv: string[]) =
                  let g, r = AutoDesign.Cli.Program.parse argv
                  Reproduce.options g (r.GetResult AutoDesignArgs.Reproduce)

              let o =
                  opts
                      [| "reproduce"
                         "--quick"
                         "--only"
                         "uniloss/auc"
                         "--device"
                         "cpu"
                         "--runs-root"
                         "out"
                         "--report"
                         "R.md"
                         "--seed"
                         "9" |]

              Expect.equal (o.Quick, o.Only, o.RunsRoot, o.ReportPath, o.Seed) (true, Some "uniloss/auc", "out", "R.md", 9) "values"
              Expect.equal o.Device.``type`` DeviceType.CPU "device"
              let o2 = opts [| "--device"; "cpu"; "--runs-root"; "out2"; "reproduce" |]
              Expect.equal (o2.RunsRoot, o2.Device.``type``) ("out2", DeviceType.CPU) "inherited options also before the subcommand"
              let d = opts [| "reproduce" |]
              Expect.equal (d.Quick, d.Only, d.RunsRoot, d.ReportPath, d.WriteReport) (false, None, "runs", "REPORT.md", true) "defaults"
              Expect.throwsT<ArguParseException> (fun () -> opts [| "reproduce"; "--device"; "tpu" |] |> ignore) "bad device"
              Expect.throwsT<UserError> (fun () -> opts [| "reproduce"; "--threads"; "0" |] |> ignore) "bad thread count"
          }

          test "bench options parse and unknown subcommands are rejected" {
              let r = parser.ParseCommandLine [| "bench"; "checkpoint"; "--repeats"; "3" |]

              match (r.GetResult AutoDesignArgs.Bench).GetSubCommand() with
              | Bench.Checkpoint c -> Expect.equal (c.GetResult Bench.Repeats) 3 "repeats"
              | other -> failtestf "expected bench checkpoint, got %A" other

              Expect.throwsT<ArguParseException> (fun () -> parser.ParseCommandLine [| "bench"; "nothing" |] |> ignore) "unknown bench"
          } ]
