module AutoDesign.Tests.RunsTests

open System
open System.IO
open System.Globalization
open System.Threading
open Expecto
open TorchSharp
open AutoDesign.Runs
open AutoDesign.Nn

let tempDir () =
    let d = Path.Combine(Path.GetTempPath(), "autodesign-tests", Guid.NewGuid().ToString("N"))
    Directory.CreateDirectory d |> ignore
    d

let paramsOf (m: torch.nn.Module) = m.parameters () |> Seq.map (fun p -> p.detach().clone()) |> Array.ofSeq

/// Exact equality (same shape, every element equal).
let same (p: torch.Tensor) (q: torch.Tensor) = p.shape = q.shape && p.eq(q).all().item<bool>()

let expectSameTensors (a: torch.Tensor[]) (b: torch.Tensor[]) msg =
    Expect.equal a.Length b.Length (msg + ": parameter count")
    Array.iter2 (fun (p: torch.Tensor) (q: torch.Tensor) -> Expect.isTrue (same p q) (msg + ": tensors differ")) a b

/// Tiny synthetic task for training tests: 96 points, 4 features, labels from a fixed rule.
let data () =
    let rng = Random 5
    let xs = Array.init (96 * 4) (fun _ -> float32 (rng.NextDouble() * 2.0 - 1.0))
    let ys = Array.init 96 (fun i -> if xs.[i * 4] + xs.[i * 4 + 1] > 0.0f then 1L else 0L)
    torch.tensor(xs).reshape(96L, 4L), torch.tensor (ys)

/// A CSV file read back by CsvHelper (the reference reader of the engine's writer): rows of (column, text).
let readCsv (path: string) : (string * string) list list =
    use r = new StreamReader(path)
    use csv = CsvHelper.CsvReader.Create(r, CsvHelper.CsvReaderOptions(HasHeader = true), true)

    [ while csv.Read() do
          let header = csv.Headers
          yield [ for i in 0 .. header.Count - 1 -> header.[i], csv.GetString(i) ] ]

exception Interrupted

/// Open a run, pass it to f, close it.
let withRun (options: RunOptions) (name: string) (kind: string) (config: 'C) (f: Run -> 'R) : 'R =
    use r = Run.Open(options, name, kind, config)
    f r

/// The UserError message of f, or "" when it raises none.
let errorOf (f: unit -> unit) =
    try
        f ()
        ""
    with UserError m ->
        m

type TinyConfig = { Lr: float; Optimizer: string; Epochs: int }

/// Train the tiny MLP (dropout: draws from the torch stream) in run folder `root/tiny`; `stopAt` = Some k
/// throws Interrupted when global step k starts (a simulated kill; checkpoints every 5 steps).
let fitTiny (root: string) (cfg: TinyConfig) (stopAt: int option) =
    let x, y = data ()
    use run = Run.Open({ RunOptions.Default with Root = root }, "tiny", "test.tiny/1", cfg)

    let model =
        // weights from a fixed array (the global generator is shared with tests running in parallel)
        let m = Mlp.Create(4L, [| 8L |], 2L)
        let init = Random 3

        using (torch.no_grad ()) (fun _ ->
            for p in m.parameters () do
                p.copy_ (torch.tensor(Array.init (int (p.numel ())) (fun _ -> float32 (init.NextDouble() - 0.5))).reshape(p.shape))
                |> ignore)

        m

    let opt: TorchSharp.Modules.OptimizerHelper =
        match cfg.Optimizer with
        | "sgd" -> new SafeSGD(model.parameters (), cfg.Lr, momentum = 0.9, weight_decay = 1e-3)
        | "rmsprop" -> new SafeRMSProp(model.parameters (), cfg.Lr, momentum = 0.5)
        | _ -> new SafeAdam(model.parameters (), lr = cfg.Lr)

    let gen = new torch.Generator(7UL)

    let mutable step =
        match run.LatestCheckpoint() with
        | Some(s, _, _) -> int s
        | None -> 0

    let loss (idx: int[]) =
        if stopAt = Some step then raise Interrupted
        step <- step + 1
        use i = torch.tensor (idx |> Array.map int64)
        // dropout mask from a private generator (checkpointed), not the shared default one
        let keep = torch.rand([| int64 idx.Length; 2L |], generator = gen).Gt(0.2).to_type(torch.float32)
        torch.nn.functional.cross_entropy (model.forward (x.index_select (0L, i)) * keep, y.index_select (0L, i))

    let batches epoch =
        let r = Random(100 + epoch)
        Array.init 96 id |> Array.sortBy (fun _ -> r.Next()) |> Seq.chunkBySize 16 |> Array.ofSeq

    let spec = { Fit.spec "tiny" model opt loss batches cfg.Epochs with CheckpointEvery = 5 }
    let state = TrainState()
    state.AddGenerator("mask", gen)
    let rows = Fit.runWith run state spec
    model, rows

// Tests that train share torch's global state; run them one at a time (testSequenced).
[<Tests>]
let tests =
    testSequenced
    <| testList
        "foundation.runs"
        [ test "atomic write leaves the old file intact when the writer throws" {
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

          test "an optimizer restored from a checkpoint takes the same next step" {
              let d = tempDir ()
              let x = torch.ones (8L, 4L)

              let make () =
                  let m = Mlp.Create(4L, [| 6L |], 3L)
                  use _ng = torch.no_grad ()

                  for p in m.parameters () do
                      p.Fill(0.1) |> ignore

                  m, new SafeAdam(m.parameters (), lr = 0.01)

              let step (m: Mlp) (o: SafeAdam) =
                  use _ = torch.NewDisposeScope()
                  o.zero_grad ()
                  (m.forward (x) * m.forward (x)).mean().backward()
                  o.step () |> ignore

              let a, oa = make ()
              step a oa
              step a oa
              let st = TrainState()
              st.AddModule("m", a)
              st.AddOptimizer("o", oa)
              let snap = Snapshot.Empty()
              st.Capture snap
              Checkpoints.commit d 2L snap
              let b, ob = make ()
              let st2 = TrainState()
              st2.AddModule("m", b)
              st2.AddOptimizer("o", ob)
              let _, loaded, _ = (Checkpoints.tryLoad d).Value
              st2.Restore loaded
              expectSameTensors (paramsOf a) (paramsOf b) "weights"
              step a oa
              step b ob
              expectSameTensors (paramsOf a) (paramsOf b) "after one more Adam step (same moments and step count)"
          }

          test "a restored optimizer updates the parameters the uninterrupted one would, also those a step leaves out" {
              // two layers under one Adam; which of them take part in a step varies, as the nodes of a D²NN
              let d = tempDir ()
              let x = torch.ones (8L, 4L)

              let make () =
                  torch.manual_seed 11L |> ignore
                  let layer () = torch.nn.Linear(4L, 3L) :> torch.nn.Module<torch.Tensor, torch.Tensor>
                  let a = layer ()
                  let b = layer ()
                  a, b, new SafeAdam(Seq.append (a.parameters ()) (b.parameters ()), lr = 0.01)

              let step (layers: torch.nn.Module<torch.Tensor, torch.Tensor> list) (o: SafeAdam) =
                  use _ = torch.NewDisposeScope()
                  o.zero_grad ()
                  (layers |> List.map (fun l -> l.forward(x).Squared().mean()) |> List.reduce (+)).backward()
                  o.step () |> ignore

              let stateOf (a: torch.nn.Module<torch.Tensor, torch.Tensor>) (b: torch.nn.Module<torch.Tensor, torch.Tensor>) (o: SafeAdam) =
                  let st = TrainState()
                  st.AddModule("a", a)
                  st.AddModule("b", b)
                  st.AddOptimizer("o", o)
                  st

              let weights (a: torch.nn.Module<torch.Tensor, torch.Tensor>) (b: torch.nn.Module<torch.Tensor, torch.Tensor>) =
                  Array.append (paramsOf a) (paramsOf b)
              // commit the state of (a, b, o) as a checkpoint in folder `name`, restore it into (a2, b2, o2)
              let carry (name: string) (a, b, o) (a2, b2, o2) =
                  let snap = Snapshot.Empty()
                  (stateOf a b o).Capture snap
                  Checkpoints.commit (Path.Combine(d, name)) 1L snap
                  let _, loaded, _ = (Checkpoints.tryLoad (Path.Combine(d, name))).Value
                  (stateOf a2 b2 o2).Restore loaded

                  for t in loaded.Tensors.Values do
                      t.Dispose()
              // b took part in the first step, not in the second: Adam still moves it (zero gradient, running moments)
              let a, b, o = make ()
              step [ a; b ] o
              let a2, b2, o2 = make ()
              carry "1" (a, b, o) (a2, b2, o2)
              let movedBefore = paramsOf b
              step [ a ] o
              step [ a2 ] o2
              Expect.isFalse (same movedBefore.[0] (paramsOf b).[0]) "the uninterrupted step moves b"
              expectSameTensors (weights a b) (weights a2 b2) "the resumed step moves b alike"
              // b never took part before the checkpoint; the restoring process gave it a gradient (an earlier
              // training of the same layers): the restore removes it, so the next step leaves b and its Adam step
              // count alone, and a later step that reaches b moves it alike
              let a, b, o = make ()
              step [ a ] o
              let a2, b2, o2 = make ()
              step [ a2; b2 ] o2
              carry "2" (a, b, o) (a2, b2, o2)
              step [ a ] o
              step [ a2 ] o2
              step [ a; b ] o
              step [ a2; b2 ] o2
              expectSameTensors (weights a b) (weights a2 b2) "b without a gradient buffer at the checkpoint"
          }

          test "checkpoint tensors are standard safetensors: an independent reader (python3 json + struct) gets the same values" {
              let d = tempDir ()
              let path = Path.Combine(d, "t.safetensors")
              let f32 = torch.tensor([| 1.5f; -2.25f; 3.0f; 1e-3f; 7.0f; -0.0f |]).reshape(2L, 3L)
              let i64 = torch.tensor ([| 5L; -7L; 9000000000L |])
              let u8 = torch.tensor([| 0uy; 255uy; 17uy; 3uy |]).reshape(2L, 2L)
              Safetensors.save path (dict [ "model/w", f32; "loop/count", i64; "rng/state", u8 ])
              let script = Path.Combine(d, "read.py")

              File.WriteAllText(
                  script,
                  String.Join(
                      "\n",
                      [| "import json, struct, sys"
                         "data = open(sys.argv[1], 'rb').read()"
                         "n = struct.unpack('<Q', data[:8])[0]"
                         "header = json.loads(data[8:8 + n])"
                         "fmt = {'F32': 'f', 'I64': 'q', 'U8': 'B'}"
                         "size = {'F32': 4, 'I64': 8, 'U8': 1}"
                         "out = {}"
                         "for k, e in header.items():"
                         "    if k == '__metadata__': continue"
                         "    a, b = e['data_offsets']"
                         "    raw = data[8 + n + a: 8 + n + b]"
                         "    vals = list(struct.unpack('<%d%s' % (len(raw) // size[e['dtype']], fmt[e['dtype']]), raw))"
                         "    out[k] = {'dtype': e['dtype'], 'shape': e['shape'], 'values': vals}"
                         "print(json.dumps(out, sort_keys=True))" |]
                  )
              )

              let psi =
                  Diagnostics.ProcessStartInfo("python3", sprintf "\"%s\" \"%s\"" script path, RedirectStandardOutput = true, UseShellExecute = false)

              use p = Diagnostics.Process.Start psi
              let out = p.StandardOutput.ReadToEnd()
              p.WaitForExit()
              Expect.equal p.ExitCode 0 "python3 read the file"
              let doc = Text.Json.JsonDocument.Parse(out).RootElement
              let entry (k: string) = doc.GetProperty(k)
              let values (k: string) = [ for v in (entry k).GetProperty("values").EnumerateArray() -> v.GetDouble() ]
              let shape (k: string) = [ for v in (entry k).GetProperty("shape").EnumerateArray() -> v.GetInt64() ]
              Expect.equal ((entry "model/w").GetProperty("dtype").GetString()) "F32" "dtype"
              Expect.equal (shape "model/w") [ 2L; 3L ] "shape"
              Expect.equal (values "model/w") (f32.reshape(-1L).data<float32>().ToArray() |> Array.map float |> List.ofArray) "float32 values"
              Expect.equal (values "loop/count") [ 5.0; -7.0; 9000000000.0 ] "int64 values"
              Expect.equal (values "rng/state") [ 0.0; 255.0; 17.0; 3.0 ] "uint8 values"
              let back = Safetensors.load path
              Expect.isTrue (same back.["model/w"] f32 && same back.["loop/count"] i64 && same back.["rng/state"] u8) "reads back"
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
