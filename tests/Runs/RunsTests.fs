module AutoDesign.Tests.RunsTests

open System
open System.IO
open System.Globalization
open System.Threading
open Expecto
open TorchSharp
open AutoDesign.Runs
open AutoDesign.Nn
open AutoDesign.Tests.RunsFixtures

// Tests that train share torch's global state; run them one at a time (testSequenced).
[<Tests>]
let tests =
    testSequenced
    <| testList
        "foundation.runs"
        ([ test "atomic write leaves the old file intact when the writer throws" {
               let d = tempDir ()
               let p = Path.Combine(d, "state.txt")
               Atomic.writeAllText p "old"

               Expect.throws
                   (fun () ->
                       Atomic.writeWith p (fun tmp ->
                           File.WriteAllText(tmp, "half")
                           failwith "crash"))
                   "writer throws"

               Expect.equal (File.ReadAllText p) "old" "old content kept"
               Expect.equal (Directory.GetFiles d |> Array.map Path.GetFileName) [| "state.txt" |] "no temp file left behind"
           }

           for opt in [ "adam"; "sgd"; "rmsprop" ] do
               test (sprintf "an interrupted run (%s) resumed mid-epoch ends with the weights and rows of an uninterrupted one" opt) {
                   let cfg = { Lr = 0.05; Optimizer = opt; Epochs = 4 }
                   let full, fullRows = fitTiny (tempDir ()) cfg None
                   let d = tempDir ()
                   Expect.throwsT<Interrupted> (fun () -> fitTiny d cfg (Some 16) |> ignore) "interrupted at step 16 (epoch 3 = steps 12-17)"
                   Expect.equal (Checkpoints.latestName (Path.Combine(d, "tiny"))) (Some "000000000015") "last checkpoint at step 15, mid-epoch"
                   let resumed, rows = fitTiny d cfg None
                   expectSameTensors (paramsOf full) (paramsOf resumed) "final weights"
                   Expect.equal rows fullRows "metrics rows"
                   let other, _ = fitTiny (tempDir ()) { cfg with Lr = 0.04 } None
                   Expect.isFalse (same (paramsOf full).[0] (paramsOf other).[0]) "sanity: another learning rate gives other weights"
               }

           test "Fit keeps tensor batches alive for their epoch and disposes them after" {
               let d = tempDir ()
               use run = Run.Open({ RunOptions.Default with Root = d }, "tensor-batches", "test.tensor-batches/1", {| Epochs = 3 |})
               let model = torch.nn.Linear(3L, 1L)
               let opt = new SafeSGD(model.parameters (), 0.01)
               let made = ResizeArray<torch.Tensor>()

               let batches epoch =
                   Array.init 4 (fun b ->
                       let x = ScalarOps.Full([| 5L; 3L |], float (epoch + b), torch.float32, torch.CPU)
                       made.Add x
                       x)

               let spec = Fit.spec "tensor-batches" model opt (fun (x: torch.Tensor) -> model.forward(x).Squared().mean()) batches 3
               let rows = Fit.run run spec
               Expect.equal rows.Length 3 "one row per epoch"
               Expect.isGreaterThanOrEqual made.Count 12 "every epoch's batches were made"
               Expect.isTrue (made |> Seq.forall (fun t -> t.IsInvalid)) "every batch tensor was disposed by the end"
           }

           testProperty "the CSV writer's cells read back through CsvHelper unchanged (quotes, commas, line breaks)"
           <| fun (cells: (string * float) list) ->
               let d = tempDir ()
               let path = Path.Combine(d, "t.csv")
               let texts = cells |> List.map (fun (s, _) -> if isNull s then "" else s.Replace("\000", ""))
               let numbers = cells |> List.map snd |> List.filter Double.IsFinite

               Csv.writeTable
                   path
                   [ "text"; "number" ]
                   [ for t, v in List.zip texts (texts |> List.mapi (fun i _ -> if i < numbers.Length then numbers.[i] else 0.5)) ->
                         [ Cell.Text t; Cell.Number v ] ]

               let back = readCsv path

               back.Length = texts.Length
               && List.forall2 (fun (row: (string * string) list) t -> snd row.[0] = t) back texts
               && List.forall2
                   (fun (row: (string * string) list) i ->
                       Double.Parse(snd row.[1], CultureInfo.InvariantCulture) = (if i < numbers.Length then numbers.[i] else 0.5))
                   back
                   [ 0 .. texts.Length - 1 ]

           test "metrics.csv holds one row per epoch and reads back in any locale" {
               let d = tempDir ()
               let saved = Thread.CurrentThread.CurrentCulture

               try
                   Thread.CurrentThread.CurrentCulture <- CultureInfo("de-DE")
                   let _, rows = fitTiny d { Lr = 0.05; Optimizer = "adam"; Epochs = 3 } None
                   let back = readCsv (Path.Combine(d, "tiny", "metrics.csv"))
                   Expect.equal (back |> List.map (List.map fst)) [ for _ in 1..3 -> [ "epoch"; "loss" ] ] "columns"
                   let loss = back |> List.map (List.find (fst >> (=) "loss") >> snd >> fun s -> Double.Parse(s, CultureInfo.InvariantCulture))
                   Expect.equal loss (Rows.column "loss" rows) "round-trip values (invariant culture)"
               finally
                   Thread.CurrentThread.CurrentCulture <- saved
           }

           test "a finished run returns its stored result; another configuration is refused with the difference named" {
               let root = tempDir ()
               let o = { RunOptions.Default with Root = root }

               withRun o "a/b" "test.kind/1" {| Epochs = 4; Lr = 0.5 |} (fun r ->
                   Expect.isFalse r.IsFinished "new run"
                   r.Finish {| Accuracy = 0.75 |})

               withRun o "a/b" "test.kind/1" {| Epochs = 4; Lr = 0.5 |} (fun r ->
                   Expect.isTrue r.IsFinished "same config: the finished run"
                   Expect.equal (r.Result<{| Accuracy: float |}>()).Accuracy 0.75 "stored result")

               let msg = errorOf (fun () -> withRun o "a/b" "test.kind/1" {| Epochs = 1; Lr = 0.5 |} ignore)
               Expect.stringContains msg "Epochs: 4 vs 1" "names the differing field"
               Expect.stringContains msg "--force" "says how to discard it"
               Expect.isTrue (File.Exists(Path.Combine(root, "a", "b", "result.json"))) "the finished run is untouched"

               withRun { o with Force = true } "a/b" "test.kind/1" {| Epochs = 1; Lr = 0.5 |} (fun r ->
                   Expect.isFalse r.IsFinished "--force discards the old run")

               let kindMsg = errorOf (fun () -> withRun o "a/b" "test.other/1" {| Epochs = 1; Lr = 0.5 |} ignore)
               Expect.stringContains kindMsg "kind" "another kind of run is refused too"
           }

           test "damaged run folders are clear errors, not silent restarts" {
               let root = tempDir ()
               let o = { RunOptions.Default with Root = root }
               withRun o "r" "test.kind/1" {| Epochs = 4 |} ignore
               let cfgPath = Path.Combine(root, "r", "config.json")
               File.WriteAllText(cfgPath, (File.ReadAllText cfgPath).Substring(0, 10))
               let msg = errorOf (fun () -> withRun o "r" "test.kind/1" {| Epochs = 4 |} ignore)
               Expect.stringContains msg "config.json" "a truncated config.json is named"
               let file = Path.Combine(root, "plain-file")
               File.WriteAllText(file, "x")
               Expect.throwsT<UserError> (fun () -> Run.Open({ RunOptions.Default with Root = file }, "r", "k/1", 1) |> ignore) "runs root is a file"
               Expect.throwsT<UserError> (fun () -> Run.Open({ RunOptions.Default with Root = root }, "plain-file/r", "k/1", 1) |> ignore) "a file on the path"
               Expect.throwsT<UserError> (fun () -> Run.Open({ RunOptions.Default with Root = root }, "../escape", "k/1", 1) |> ignore) ".. in the name"
               // a checkpoint whose tensors file is truncated
               let d = tempDir ()
               let model = Mlp.Create(4L, [| 3L |], 2L)
               let st = TrainState()
               st.AddModule("m", model)
               let snap = Snapshot.Empty()
               st.Capture snap
               Checkpoints.commit d 5L snap
               let tf = Path.Combine(Checkpoints.folder d, "000000000005", "tensors.safetensors")
               let bytes = File.ReadAllBytes tf
               File.WriteAllBytes(tf, bytes.[0 .. bytes.Length - 9])
               Expect.throwsT<UserError> (fun () -> Checkpoints.tryLoad d |> ignore) "truncated tensors"
               File.WriteAllText(Path.Combine(Checkpoints.folder d, "LATEST"), "nonsense")
               Expect.throwsT<UserError> (fun () -> Checkpoints.tryLoad d |> ignore) "LATEST naming no checkpoint"
           }

           test "a checkpoint carries its format version; an unknown version is refused with one error line" {
               let d = tempDir ()
               let snap = Snapshot.Empty()
               snap.Values.["loop/step"] <- System.Text.Json.Nodes.JsonValue.Create 3
               Checkpoints.commit d 3L snap
               let state = Path.Combine(Checkpoints.folder d, "000000000003", "state.json")
               let text = File.ReadAllText state
               Expect.stringContains text "\"format\": \"autodesign.state/1\"" "the format is written"
               let _, back, _ = (Checkpoints.tryLoad d).Value
               Expect.isFalse (back.Values.ContainsKey "format") "the format field is not part of the state"
               Expect.isTrue (back.Values.ContainsKey "loop/step") "the state is"
               File.WriteAllText(state, "{ \"loop/step\": 3 }")
               Expect.isSome (Checkpoints.tryLoad d) "a file without the field (written before it existed) is version 1"
               File.WriteAllText(state, text.Replace("autodesign.state/1", "autodesign.state/2"))
               let msg = errorOf (fun () -> Checkpoints.tryLoad d |> ignore)
               Expect.stringContains msg "format 'autodesign.state/2'" "the unknown version is named"
               Expect.isFalse (msg.Contains '\n') "one line"
           }

           test "a second writer gets an error naming the holder; --wait waits for the release" {
               let root = tempDir ()
               let first = Run.Open({ RunOptions.Default with Root = root }, "locked", "test.kind/1", 1)
               let msg = errorOf (fun () -> withRun { RunOptions.Default with Root = root } "locked" "test.kind/1" 1 ignore)
               Expect.stringContains msg (sprintf "process %d" Environment.ProcessId) "names the holder's PID"
               Expect.stringContains msg "--wait" "says how to wait"
               let released = Diagnostics.Stopwatch.StartNew()

               let t =
                   Thread(
                       (fun () ->
                           Thread.Sleep 1000
                           (first :> IDisposable).Dispose()),
                       IsBackground = true
                   )

               t.Start()

               withRun { RunOptions.Default with Root = root; Wait = true } "locked" "test.kind/1" 1 (fun _ ->
                   Expect.isGreaterThan released.Elapsed.TotalSeconds 0.9 "waited for the first writer")
           }

           test "JSON differences name the paths that differ" {
               let a = Json.toNode {| A = 1; B = {| C = [ 1; 2 ] |}; D = "x" |}
               let b = Json.toNode {| A = 1; B = {| C = [ 1; 3 ] |}; D = "y" |}
               Expect.equal (Json.differences a b) [ "B.C[1]: 2 vs 3"; "D: \"x\" vs \"y\"" ] "paths"
           }

           test "progress prints periodic plain lines with an ETA when not on a terminal" {
               use sw = new StringWriter()
               let p = Progress("train", 200, 0, sw, false)
               let wasQuiet = Progress.Quiet
               Progress.Quiet <- false

               try
                   for i in 1..200 do
                       p.Step(MetricsRow().Number("loss", float i))

                   p.Done()
               finally
                   Progress.Quiet <- wasQuiet

               let lines = sw.ToString().Split('\n', StringSplitOptions.RemoveEmptyEntries)
               Expect.isLessThanOrEqual lines.Length 12 "about every 10%"
               Expect.isGreaterThanOrEqual lines.Length 10 "some lines"
               Expect.stringContains lines.[0] "ETA" "an ETA"
               Expect.stringContains lines.[lines.Length - 1] "done: 200 steps" "final line"
               Expect.isFalse (sw.ToString().Contains "\r") "no carriage returns in plain mode"
           } ]
         @ CheckpointTests.tests)
