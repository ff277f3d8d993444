module AutoDesign.Tests.UnilossSuiteTests

open System
open System.IO
open Expecto
open TorchSharp
open AutoDesign.Runs
open AutoDesign.Reproduce.UniLoss.Suite

[<Tests>]
let tests =
    testList
        "uniloss.suite"
        [ testCase "a tiny suite gives one row per task with a verdict, finite metrics, suite.csv and the chart"
          <| fun () ->
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
                  if Directory.Exists root then Directory.Delete(root, true) ]

/// Rows of a flat [n, inputs] array, as strings (exact float bits) for set membership.
let private rowKeys (inputs: int) (xs: float32[]) =
    [ for i in 0 .. xs.Length / inputs - 1 -> String.Join(",", xs.[i * inputs .. (i + 1) * inputs - 1] |> Array.map (fun v -> BitConverter.SingleToInt32Bits v)) ]

[<Tests>]
let dataTests =
    testList
        "uniloss.suite-data"
        [ testCase "validation sets are the test sets' size and kind, drawn outside the training images and the test images"
          <| fun () ->
              let size = { Train = 300; Test = 200; Epochs = 1; Hidden = 4; TrainQueries = 5; TestQueries = 5 }

              for t in [ AccuracyTask; MacroF1Task; ApTask None; IouTask ] do
                  let test = SuiteTrain.data false t size 1
                  let valid = SuiteTrain.data true t size 1
                  Expect.sequenceEqual valid.TrainY test.TrainY (sprintf "%s: the same training set" (SuiteTrain.taskId t))
                  Expect.equal valid.TestY.Length test.TestY.Length (sprintf "%s: validation set of the test set's size" (SuiteTrain.taskId t))
                  // normalisation uses the training pixels only, so raw rows compare after the same affine map
                  let tr = set (rowKeys valid.Inputs valid.TrainX)
                  let te = set (rowKeys test.Inputs test.TestX)
                  let va = rowKeys valid.Inputs valid.TestX
                  Expect.isTrue (va |> List.forall (tr.Contains >> not)) (sprintf "%s: no validation image is a training image" (SuiteTrain.taskId t))
                  Expect.isTrue (va |> List.forall (te.Contains >> not)) (sprintf "%s: no validation image is a test image" (SuiteTrain.taskId t))

              let lt = SuiteTrain.data true MacroF1Task size 1
              Expect.equal (lt.TestY |> Array.countBy id |> Array.map snd |> Array.distinct) [| 20 |] "long-tailed validation set balanced like its test set" ]
