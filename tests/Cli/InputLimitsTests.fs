/// In-process checks of the input limits and error wording: numeric CSV read strictly, trace and value-table
/// limits, non-finite losses stopping a loop, the thread count in a run's identity, JSON null and
/// directories named as such.
module AutoDesign.Tests.InputLimitsTests

open System
open System.IO
open System.Text.Json.Nodes
open Expecto
open TorchSharp
open AutoDesign.Runs
open AutoDesign.Plots
open AutoDesign.UniLoss

let private tempDir () = TempDir.fresh "limits"

/// The UserError message of f (a failed test when it raises none).
let private errorOf (f: unit -> 'a) =
    try
        f () |> ignore
        failtest "expected a UserError"
    with UserError msg ->
        msg

type private Cfg = { Steps: int }

/// A loop of 5 steps whose step 3 shows `loss` (the others 1.0), committing after every step.
let private lossLoop (recording: bool) (loss: float) =
    let d = tempDir ()
    use run = Run.Open({ RunOptions.Default with Root = d }, "r", "test/loop", { Steps = 5 })
    let spec = { LoopSpec.Of("test loop", 5) with CheckpointEvery = 1 }
    let step (info: StepInfo) (ctx: LoopContext) = ctx.Show [ "loss", (if info.Step = 2 then loss else 1.0); "reward", nan ]
    let go = if recording then Loop.runRecordingDivergence else Loop.run

    let outcome =
        try
            Ok(go run (TrainState()) spec step (fun _ _ -> ()))
        with UserError msg ->
            Error msg

    outcome, run.Dir, run.LatestCheckpoint() |> Option.map (fun (s, _, _) -> s)

let private cells (path: string) (lines: string list) header =
    File.WriteAllLines(path, lines)
    NumericCsv.readCells "scores" path header |> Array.map (fun (line, c) -> line, List.ofArray c) |> List.ofArray

[<Tests>]
let tests =
    testList
        "inputlimits"
        [ test "numeric CSV: a detected header, a declared one, trailing blank lines, a byte-order mark" {
              let d = tempDir ()
              let p = Path.Combine(d, "s.csv")
              Expect.equal (cells p [ "score"; "0.5"; "1e-3"; ""; "" ] CsvHeader.Detected) [ 2, [ "0.5" ]; 3, [ "1e-3" ] ] "a header of names is skipped"
              Expect.equal (cells p [ "1,2"; "0.5,0.25" ] CsvHeader.Declared) [ 2, [ "0.5"; "0.25" ] ] "a declared header is skipped whatever it holds"
              Expect.equal (cells p [ "1,2"; "0.5,0.25" ] CsvHeader.Detected) [ 1, [ "1"; "2" ]; 2, [ "0.5"; "0.25" ] ] "numbers are no header"
              File.WriteAllText(p, "\uFEFF0.9\r\n0.1\r\n")
              Expect.equal (NumericCsv.readCells "scores" p CsvHeader.Detected |> Array.map (snd >> Array.head)) [| "0.9"; "0.1" |] "a BOM and CRLF are read"
          }
          test "numeric CSV: NaN, inf, mixed first lines, blank lines inside, rows of other lengths are errors" {
              let d = tempDir ()
              let p = Path.Combine(d, "s.csv")

              Expect.equal
                  (cells p [ "NaN"; "0.5" ] CsvHeader.Detected)
                  [ 1, [ "NaN" ]; 2, [ "0.5" ] ]
                  "NaN is a value (the caller refuses it), not a header name"

              Expect.equal (cells p [ "-Infinity,nan"; "0.5,1" ] CsvHeader.Detected |> List.length) 2 "nor are infinities and nan"
              Expect.stringContains (errorOf (fun () -> cells p [ "0.1"; ""; "0.2" ] CsvHeader.Detected)) "line 2 is empty" "a blank line inside"
              Expect.stringContains (errorOf (fun () -> cells p [ "a,0.1"; "0.2,0.3" ] CsvHeader.Detected)) "mixes numbers and text" "a half header"
              Expect.stringContains (errorOf (fun () -> cells p [ "0.1,0.2"; "0.3" ] CsvHeader.Detected)) "line 2 has 1 values" "ragged rows"
              Expect.stringContains (errorOf (fun () -> cells p [ "score" ] CsvHeader.Detected)) "no rows after its header" "a header alone"
          }
          test "a non-finite loss stops Loop.run naming the run and the step; nothing of that step is committed" {
              for bad in [ nan; infinity ] do
                  let outcome, dir, last = lossLoop false bad

                  match outcome with
                  | Ok _ -> failtestf "a loss of %g was accepted" bad
                  | Error msg ->
                      Expect.stringContains msg dir "names the run"
                      Expect.stringContains msg "step 3 of 5" "names the step"
                      Expect.stringContains msg "loss is" "names the loss"

                  Expect.equal last (Some 2L) "the last checkpoint is the one before the step"

              let outcome, _, _ = lossLoop false 0.5
              Expect.isOk outcome "finite losses (and a non-finite value that is no loss) pass"
              let outcome, _, _ = lossLoop true nan
              Expect.isOk outcome "a loop that records divergence keeps the value"
          }
          test "a NaN loss in a metrics row stops Loop.run" {
              let d = tempDir ()
              use run = Run.Open({ RunOptions.Default with Root = d }, "r", "test/rows", { Steps = 2 })

              let msg =
                  errorOf (fun () -> Loop.run run (TrainState()) (LoopSpec.Of("rows", 2)) (fun _ _ -> ()) (fun _ ctx -> ctx.Row [ "train_loss", nan ]))

              Expect.stringContains msg "train_loss is NaN" "names the column"
              Expect.isFalse run.IsFinished "no result"
          }
          test "UniLoss: anchors whose value table would pass Limits.MaxTableEntries fail before it is allocated" {
              Expect.stringContains
                  (errorOf (fun () -> new UniLoss(Metrics.accuracy, anchorsPerType = 100_000_000)))
                  "Limits.MaxTableEntries"
                  "checked when built"

              use loss = new UniLoss(Metrics.accuracy, anchorsPerType = 20_000_000)
              use s = torch.rand ([| 4L; 3L |])
              use y = torch.tensor ([| 0L; 1L; 2L; 0L |])
              let before = GC.GetTotalMemory false
              Expect.stringContains (errorOf (fun () -> loss.forward (s, y))) "Limits.MaxTableEntries" "checked on the first batch"
              Expect.isLessThan (GC.GetTotalMemory false - before) (256L <<< 20) "no table was allocated"
          }
          test "Refactor.tryTrace traces within the limits" {
              let mutable r = Unchecked.defaultof<Refactored>
              Expect.isTrue (Refactor.tryTrace Metrics.accuracy [| 4; 3 |] (Labels([| 4 |], [| 0L; 1L; 2L; 0L |])) &r) "a small trace"
              Expect.equal r.L 8 "two comparisons per example"
          }
          test "a run reopened under another torch thread count is refused, the difference named" {
              let d = tempDir ()
              let opts = { RunOptions.Default with Root = d }
              (Run.Open(opts, "r", "test/threads", { Steps = 1 }) :> IDisposable).Dispose()
              let path = Path.Combine(d, "r", "config.json")
              let stored = JsonNode.Parse(File.ReadAllText path)
              let n = torch.get_num_threads ()
              Expect.equal (stored.["threads"].GetValue<int>()) n "config.json records the thread count"
              stored.["threads"] <- JsonValue.Create(n + 1)
              File.WriteAllText(path, stored.ToJsonString())
              let msg = errorOf (fun () -> Run.Open(opts, "r", "test/threads", { Steps = 1 }))
              Expect.stringContains msg (sprintf "threads: %d vs %d" (n + 1) n) "the difference is named"
          }
          test "JSON null and empty JSON are named as such" {
              Expect.stringContains (errorOf (fun () -> Json.parse "x.json" "null")) "JSON null" "null"
              Expect.stringContains (errorOf (fun () -> Json.parse "x.json" "  ")) "is empty" "empty"
              Expect.stringContains (errorOf (fun () -> Json.ofNode<Cfg> "x.json" null)) "holds null" "a null node"
              let d = tempDir ()
              (Run.Open({ RunOptions.Default with Root = d }, "r", "test/null", { Steps = 1 }) :> IDisposable).Dispose()
              File.WriteAllText(Path.Combine(d, "r", "config.json"), "null")

              Expect.stringContains
                  (errorOf (fun () -> Run.Open({ RunOptions.Default with Root = d }, "r", "test/null", { Steps = 1 })))
                  "JSON null"
                  "a config.json of null"
          }
          test "a directory where a file is expected is named a directory" {
              let d = tempDir ()
              Expect.stringContains (errorOf (fun () -> Safetensors.validate d)) "is a directory" "safetensors"
              Expect.stringContains (errorOf (fun () -> AutoDesign.DGGAN.ImageSet.loadIdx d torch.CPU)) "is a directory" "an IDX image set"
              Expect.stringContains (errorOf (fun () -> Safetensors.validate (Path.Combine(d, "none")))) "does not exist" "a missing file"
          } ]
