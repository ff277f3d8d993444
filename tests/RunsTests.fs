module AutoDesign.Tests.RunsTests

open System
open System.IO
open Expecto
open TorchSharp
open Deedle
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
    torch.tensor(xs).reshape(96L, 4L), torch.tensor(ys)

let fitTiny (dir: string) (resume: bool) (kill: (int * int) option) (lr: float) =
    let x, y = data ()
    torch.manual_seed 3L |> ignore
    let model = Mlp.Create(4L, [| 8L |], 2L, 0.3) // dropout: uses the torch RNG stream
    let opt = new SafeAdam(model.parameters (), lr = lr)
    let loss (idx: int[]) =
        use i = torch.tensor(idx |> Array.map int64)
        torch.nn.functional.cross_entropy(model.forward(x.index_select(0L, i)), y.index_select(0L, i))
    let batches epoch =
        let r = Random(100 + epoch)
        Array.init 96 id |> Array.sortBy (fun _ -> r.Next()) |> Seq.chunkBySize 16
    let run = { Dir = dir; System = "test"; Name = "tiny" }
    let spec =
        { Training.spec "tiny" model opt loss batches 4 11 run with
            Resume = resume
            OnStep = fun e s -> match kill with Some(ke, ks) when e = ke && s = ks -> failwith "killed" | _ -> () }
    let result = Training.fit spec
    model, result

// Training tests seed torch's global generator, so they must not run in parallel with each other
// (testSequenced: Expecto runs them one at a time, apart from the parallel tests).
[<Tests>]
let tests =
    testSequenced <| testList "foundation.runs" [
        test "atomic write leaves the old file intact when the writer throws" {
            let d = tempDir ()
            let p = Path.Combine(d, "state.txt")
            Atomic.writeAllText p "old"
            Expect.throws (fun () -> Atomic.writeWith p (fun tmp -> File.WriteAllText(tmp, "half"); failwith "crash")) "writer throws"
            Expect.equal (File.ReadAllText p) "old" "old content kept"
            Expect.equal (Directory.GetFiles d |> Array.map Path.GetFileName) [| "state.txt" |] "no temp file left behind"
        }

        test "checkpoint round-trips weights, optimizer state and the state map" {
            let d = tempDir ()
            let p = Path.Combine(d, "ck.bin")
            let x = torch.randn(8L, 4L)
            let step (m: Mlp) (o: torch.optim.Optimizer) =
                use _ = torch.NewDisposeScope()
                o.zero_grad ()
                m.forward(x).pow(torch.tensor 2.0f).mean().backward ()
                o.step () |> ignore
            torch.manual_seed 1L |> ignore
            let a = Mlp.Create(4L, [| 6L |], 3L)
            let oa = new SafeAdam(a.parameters (), lr = 0.01)
            step a oa; step a oa
            let state = Map.ofList [ "epoch", "7"; "note", "a=b;c" ]
            Checkpoint.save p a (Some oa) state
            torch.manual_seed 2L |> ignore
            let b = Mlp.Create(4L, [| 6L |], 3L)
            let ob = new SafeAdam(b.parameters (), lr = 0.01)
            Expect.isFalse (same (paramsOf a).[0] (paramsOf b).[0]) "different init before loading"
            let loaded = Checkpoint.tryLoad p b (Some ob)
            Expect.equal loaded (Some state) "state map"
            expectSameTensors (paramsOf a) (paramsOf b) "weights"
            // Same Adam moments => the next step gives identical weights (a fresh Adam would not).
            step a oa; step b ob
            expectSameTensors (paramsOf a) (paramsOf b) "after one more optimizer step"
            Expect.isNone (Checkpoint.tryLoad (Path.Combine(d, "missing.bin")) b None) "missing file"
            File.WriteAllBytes(Path.Combine(d, "bad.bin"), [| 1uy; 2uy; 3uy |])
            Expect.throwsT<UserError> (fun () -> Checkpoint.tryLoad (Path.Combine(d, "bad.bin")) b None |> ignore) "corrupt file"
        }

        test "a killed run resumed from its checkpoint reaches the same weights as an uninterrupted run" {
            let full, _ = fitTiny (tempDir ()) false None 0.05
            let d = tempDir ()
            Expect.throws (fun () -> fitTiny d false (Some(3, 2)) 0.05 |> ignore) "simulated kill in epoch 3"
            let resumed, r = fitTiny d true None 0.05
            Expect.equal r.ResumedAfter 2 "continued after the last checkpoint (epoch 2)"
            Expect.equal r.History.Length 4 "history restored + continued"
            expectSameTensors (paramsOf full) (paramsOf resumed) "final weights"
            // and the seed stream matters: a different seed gives different weights
            Expect.isFalse (same (paramsOf full).[0] (let m, _ = fitTiny (tempDir ()) false None 0.04 in (paramsOf m).[0])) "sanity: other runs differ"
        }

        test "metrics.csv is written and parses back to the per-epoch history" {
            let d = tempDir ()
            let _, r = fitTiny d false None 0.05
            let f = Frame.ReadCsv(Path.Combine(d, "metrics.csv"))
            Expect.equal (f.RowCount) 4 "one row per epoch"
            Expect.equal (f.ColumnKeys |> List.ofSeq) [ "epoch"; "loss"; "steps"; "seconds" ] "columns"
            let loss = f.GetColumn<float>("loss") |> Series.values |> Array.ofSeq
            let expected = r.History |> List.map (List.find (fst >> (=) "loss") >> snd) |> Array.ofList
            Array.iter2 (fun a b -> Expect.floatClose Accuracy.high a b "loss value") loss expected
            Expect.equal (f.GetColumn<float>("steps") |> Series.values |> List.ofSeq) [ 6.0; 6.0; 6.0; 6.0 ] "96/16 steps"
            Expect.isTrue (File.Exists(Path.Combine(d, "loss.png"))) "loss plot"
            Expect.isTrue (File.Exists(Path.Combine(d, Training.checkpointFile))) "checkpoint"
        }

        test "a NaN loss raises UserError naming epoch and step" {
            let model = Mlp.Create(2L, [| 2L |], 1L)
            let opt = new SafeSGD(model.parameters (), 0.1)
            let loss (k: int) = if k = 3 then model.forward(torch.ones(1L, 2L)).sum() * torch.tensor(nan) else model.forward(torch.ones(1L, 2L)).sum()
            let run = RunFolder.create (tempDir ()) "test" "nan"
            let spec = Training.spec "nan" model opt loss (fun _ -> seq { 0..4 }) 2 1 run
            let msg = try Training.fit spec |> ignore; "" with UserError m -> m
            Expect.stringContains msg "epoch 1, step 4" "names the place"
        }

        test "RunFolder writes config.json and rejects bad names" {
            let root = tempDir ()
            let rf = RunFolder.create root "sys" "exp"
            Expect.equal rf.Dir (Path.Combine(root, "sys", "exp")) "layout runs/<system>/<name>"
            RunFolder.writeConfig rf {| Epochs = 3; Lr = 0.5 |}
            let doc = Text.Json.JsonDocument.Parse(File.ReadAllText(RunFolder.file rf "config.json"))
            Expect.equal (doc.RootElement.GetProperty("Epochs").GetInt32()) 3 "field"
            Expect.throwsT<UserError> (fun () -> RunFolder.create root "a/b" "x" |> ignore) "slash in system"
        }

        test "progress prints periodic plain lines when not on a terminal" {
            use sw = new StringWriter()
            let p = Progress("train", 200, sw, false)
            for i in 1..200 do p.Step [ "loss", float i ]
            p.Done()
            let lines = sw.ToString().Split('\n', StringSplitOptions.RemoveEmptyEntries)
            Expect.isLessThanOrEqual lines.Length 12 "about every 10%"
            Expect.isGreaterThanOrEqual lines.Length 10 "some lines"
            Expect.stringContains lines.[lines.Length - 1] "done: 200/200" "final line"
            Expect.isFalse (sw.ToString().Contains "\r") "no carriage returns in plain mode"
        }
    ]
