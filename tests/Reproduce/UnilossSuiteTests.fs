module AutoDesign.Tests.UnilossSuiteTests

open System
open System.IO
open Expecto
open TorchSharp
open AutoDesign.Runs
open AutoDesign.Reproduce.UniLoss.Suite

[<Tests>]
let tests =
    testList "uniloss.suite" [
        testCase "a tiny suite gives one row per task with a verdict, finite metrics, suite.csv and the chart" <| fun () ->
            let root = Path.Combine(Path.GetTempPath(), sprintf "suite-test-%d" (Random().Next()))
            try
                let size = { Train = 200; Test = 200; Epochs = 1; Hidden = 16; TrainQueries = 16; TestQueries = 16 }
                let rows = SuiteExp.rows { RunOptions.Default with Root = root } size torch.CPU 1
                Expect.equal rows.Length SuiteTrain.all.Length "one row per task"
                for r in rows do
                    Expect.stringContains r.Measured "Verdict: default UniLoss" "verdict"
                    Expect.isFalse (r.Measured.Contains "NaN") (sprintf "finite values: %s" r.Measured)
                let dir = Path.Combine(root, "uniloss", "suite-200-1")
                let csv = File.ReadAllLines(Path.Combine(dir, "suite.csv"))
                Expect.equal csv.Length (1 + 3 * (7 * 3 + 2)) "header + (task, seed, arm) lines"
                Expect.isTrue (File.Exists(Path.Combine(dir, "suite_gaps.png"))) "chart"
                // a second call reads the finished runs back and gives the same rows
                Expect.equal (SuiteExp.rows { RunOptions.Default with Root = root } size torch.CPU 1) rows "rows from the stored runs"
            finally
                if Directory.Exists root then Directory.Delete(root, true)
    ]
