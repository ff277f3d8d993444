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
    { System = system; Name = name; Description = "fake " + name
      Run = fun ctx ->
        runs <- runs + 1
        [ { System = system; Experiment = name; Claim = "claim " + name; Thesis = "90%"; Measured = measured ctx
            Config = (if ctx.Quick then "quick" else "full"); Data = data } ]
      Parts = ExperimentPart.none }

let registry (tag: string) =
    [ fake "alpha" "one" "MNIST" (fun _ -> "91% " + tag)
      fake "alpha" "two" "Fashion-MNIST (stand-in for CIFAR-10)" (fun _ -> "a|b " + tag)
      fake "beta" "three" "synthetic" (fun ctx -> sprintf "seed %d %s" ctx.Seed tag) ]

let tableRows (report: string) =
    report.Split('\n') |> Array.filter (fun l -> l.StartsWith "| " && not (l.StartsWith "| Experiment")) |> List.ofArray

let parser = ArgumentParser.Create<AutoDesignArgs>(programName = "autodesign")

[<Tests>]
let tests =
    // reproduce redirects the process's console into each experiment's log: one test at a time
    testSequenced <| testList "foundation.reproduce" [
        test "report has a header, one table per system, and lists stand-in data sets" {
            let root = Path.Combine(Path.GetTempPath(), "autodesign-tests", Guid.NewGuid().ToString("N"))
            let opts = { Quick = true; Only = None; Device = torch.CPU; RunsRoot = root; ReportPath = Path.Combine(root, "REPORT.md"); Seed = 4; Threads = 1; Force = false; Wait = false; WriteReport = true }
            Runner.run (registry "v1") opts |> ignore
            let text = File.ReadAllText opts.ReportPath
            Expect.stringContains text "- Config: quick; 1 torch thread per experiment" "config and threads in header"
            Expect.stringContains text (sprintf "- Machine: %d cores" Environment.ProcessorCount) "cores in header"
            Expect.stringContains text "## alpha" "alpha section"
            Expect.stringContains text "## beta" "beta section"
            Expect.isLessThan (text.IndexOf "## alpha") (text.IndexOf "## beta") "registry order"
            Expect.equal (tableRows text)
                [ "| one | claim one | 90% | 91% v1 | quick | MNIST |"
                  "| two | claim two | 90% | a\\|b v1 | quick | Fashion-MNIST (stand-in for CIFAR-10) |"
                  "| three | claim three | 90% | seed 4 v1 | quick | synthetic |" ] "rows in registry order"
            Expect.equal (tableRows text |> List.length) 3 "three rows"
            Expect.equal (tableRows text).[1] "| two | claim two | 90% | a\\|b v1 | quick | Fashion-MNIST (stand-in for CIFAR-10) |" "escaped pipe"
            let standIn = text.Substring(text.IndexOf "## Stand-in data sets")
            Expect.stringContains standIn "- alpha / two: Fashion-MNIST (stand-in for CIFAR-10)" "stand-in listed"
            Expect.isFalse (standIn.Contains "MNIST |") "non-stand-ins not listed"
        }

        test "stored results are reused; --only --force reruns a subset and keeps the other experiments' rows" {
            let root = Path.Combine(Path.GetTempPath(), "autodesign-tests", Guid.NewGuid().ToString("N"))
            let opts = { Quick = false; Only = None; Device = torch.CPU; RunsRoot = root; ReportPath = Path.Combine(root, "R.md"); Seed = 1; Threads = 1; Force = false; Wait = false; WriteReport = true }
            Runner.run (registry "v1") opts |> ignore
            runs <- 0
            Runner.run (registry "v2") opts |> ignore
            Expect.equal runs 0 "finished experiments are not run again"
            Expect.stringContains (tableRows (File.ReadAllText opts.ReportPath)).[0] "91% v1" "stored rows"
            Expect.throwsT<UserError> (fun () -> Runner.run (registry "v2") { opts with Threads = 2 } |> ignore) "another thread count is another configuration"
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
            let root = Path.Combine(Path.GetTempPath(), "autodesign-tests", Guid.NewGuid().ToString("N"))
            let boom : Experiment =
                { System = "alpha"; Name = "boom"; Description = "fails"
                  Run = fun _ -> printfn "some progress"; failwith "native handle went away"
                  Parts = ExperimentPart.none }
            let reg = [ (registry "f").[0]; boom; (registry "f").[2] ]
            let argv = [| "reproduce"; "--runs-root"; root; "--report"; Path.Combine(root, "R.md"); "--launcher"; "serial" |]
            let g, r = AutoDesign.Cli.Program.parse argv
            let rc = Reproduce.handleWith reg g (r.GetResult AutoDesignArgs.Reproduce)
            Expect.equal rc 1 "non-zero exit"
            let text = File.ReadAllText(Path.Combine(root, "R.md"))
            Expect.stringContains text "FAILED: Exception: native handle went away" "failed row"
            Expect.stringContains text "seed 1 f" "the experiment after it ran"
            Expect.stringContains text "(1 FAILED)" "header counts failures"
            let log = Path.Combine(root, "reproduce", "full-seed1", "alpha", "boom", "log.txt")
            Expect.stringContains (File.ReadAllText log) "some progress" "the log holds the experiment's output"
            Expect.stringContains (File.ReadAllText log) "native handle went away" "and the error"
        }

        test "the CLI registry starts with the foundation experiments and has unique names" {
            let all = AutoDesign.Cli.Experiments.all
            Expect.equal (all.Head.System, all.Head.Name) ("foundation", "mnist-mlp") "first entry"
            let keys = all |> List.map (fun e -> e.System + "/" + e.Name)
            Expect.equal (List.distinct keys) keys "unique"
        }

        test "reproduce options parse" {
            let opts (argv: string[]) =
                let g, r = AutoDesign.Cli.Program.parse argv
                Reproduce.options g (r.GetResult AutoDesignArgs.Reproduce)
            let o = opts [| "reproduce"; "--quick"; "--only"; "uniloss/auc"; "--device"; "cpu"; "--runs-root"; "out"; "--report"; "R.md"; "--seed"; "9" |]
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
        }
    ]
