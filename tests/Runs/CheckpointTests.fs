/// Checkpoints of the run engine: a restored optimizer steps as the uninterrupted one would, and the tensors
/// file is standard safetensors that an independent reader reads back.
module AutoDesign.Tests.CheckpointTests

open System
open System.IO
open Expecto
open TorchSharp
open AutoDesign.Runs
open AutoDesign.Nn
open AutoDesign.Tests.RunsFixtures

/// Part of the `foundation.runs` list (its tests train and share torch's global state: one at a time).
let internal tests =
    [ test "an optimizer restored from a checkpoint takes the same next step" {
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

          let weights (a: torch.nn.Module<torch.Tensor, torch.Tensor>) (b: torch.nn.Module<torch.Tensor, torch.Tensor>) = Array.append (paramsOf a) (paramsOf b)
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
      } ]
