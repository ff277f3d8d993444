module AutoDesign.Tests.UniLossModuleTests

open System.Text.Json
open Expecto
open TorchSharp
open AutoDesign.Nn
open AutoDesign.UniLoss

let private longs (xs: int[]) = torch.tensor (Array.map int64 xs)
let private floats (t: torch.Tensor) = t.detach().contiguous().data<float32>().ToArray()

/// Loss value and score gradient of one Forward.
let private step (loss: UniLoss) (sv: float32[]) (shape: int64[]) (y: torch.Tensor) =
    use leaf = torch.tensor (sv, requires_grad = true)
    use l = loss.forward (leaf.reshape (shape), y)
    l.backward ()
    l.item<float32>(), floats leaf.grad

[<Tests>]
let tests =
    testList
        "uniloss.module"
        [ testCase "UniLoss is a TorchSharp loss module: call / forward / .to() give Forward's value"
          <| fun () ->
              use s = torch.randn (16L, 4L, generator = new torch.Generator(2UL))
              use y = longs [| for i in 0..15 -> i % 4 |]
              use a = new UniLoss(Metrics.accuracy, seed = 9)
              use b = new UniLoss(Metrics.accuracy, seed = 9)
              let m = b :> torch.nn.Module<torch.Tensor, torch.Tensor, torch.Tensor>
              Expect.isTrue (obj.ReferenceEquals(box (b.``to`` (torch.CPU)), box b)) ".to() returns the module"
              use va = a.forward (s, y)
              use vb = m.call (s, y)
              Expect.equal (vb.item<float32>()) (va.item<float32>()) "call = Forward (same seed)"
              use vc = a.forward (s, y)
              use vd = b.forward (s, y)
              Expect.equal (vc.item<float32>()) (vd.item<float32>()) "forward = Forward"
              // float64 scores work and give a float64 loss
              use s64 = s.to_type(torch.ScalarType.Float64).requires_grad_(true)
              use l64 = a.forward (s64, y)
              Expect.equal l64.dtype torch.ScalarType.Float64 "loss in the scores' dtype"
              l64.backward ()
              Expect.isTrue (s64.grad.abs().sum().item<float>() > 0.0) "gradient reaches float64 scores"

          testCase "an options object and the named arguments build the same loss; options are copied and validated"
          <| fun () ->
              let sv = (torch.randn (24L, 3L, generator = new torch.Generator(4UL))).data<float32>().ToArray()
              use y = longs [| for i in 0..23 -> i % 3 |]
              let o = UniLossOptions(Seed = 3, Tau = 0.5, AnchorsPerType = 8, NearbyCorrective = true, GradNorm = 0.2)
              use a = new UniLoss(Metrics.accuracy, o)
              o.Tau <- 9.0
              use b = new UniLoss(Metrics.accuracy, seed = 3, tau = 0.5, anchorsPerType = 8, nearbyCorrective = true, gradNorm = 0.2)
              let va, ga = step a sv [| 24L; 3L |] y
              let vb, gb = step b sv [| 24L; 3L |] y
              Expect.equal va vb "same loss"
              Expect.sequenceEqual ga gb "same gradient"
              Expect.equal a.Options.Tau 0.5 "the loss kept its own copy of the options"
              Expect.throwsT<UserError> (fun () -> new UniLoss(Metrics.accuracy, UniLossOptions(AnchorsPerType = 0)) |> ignore) "anchors"
              Expect.throwsT<UserError> (fun () -> new UniLoss(Metrics.accuracy, UniLossOptions(BitFraction = 1.5)) |> ignore) "bit fraction"
              Expect.throwsT<UserError> (fun () -> new UniLoss(Metrics.accuracy, (null: UniLossOptions)) |> ignore) "no options"

          testCase "CaptureState / RestoreState: a restored loss continues with identical anchors, values and gradients"
          <| fun () ->
              let o = UniLossOptions(Seed = 17, BitFraction = 0.5, NearbyUnit = FlipUnit.Example, GoodFlips = 2)
              use a = new UniLoss(Metrics.macroF1, o)

              let batch (k: int) =
                  let g = new torch.Generator(uint64 (100 + k))
                  (torch.randn (20L, 4L, generator = g)).data<float32>().ToArray(), longs [| for i in 0..19 -> (i * (k + 1)) % 4 |]

              for k in 0..2 do
                  let sv, y = batch k
                  step a sv [| 20L; 4L |] y |> ignore

              let state = a.CaptureState()
              // plain data: a JSON round trip keeps it
              let json = JsonSerializer.Serialize state
              let back = JsonSerializer.Deserialize<UniLossState> json
              Expect.sequenceEqual back.Generator state.Generator "generator state survives JSON"
              Expect.sequenceEqual back.Random.Table state.Random.Table "host stream survives JSON"

              use b =
                  new UniLoss(Metrics.macroF1, UniLossOptions(Seed = 99, BitFraction = 0.5, NearbyUnit = FlipUnit.Example, GoodFlips = 2))

              b.RestoreState back

              for k in 3..5 do
                  let sv, y = batch k
                  let va, ga = step a sv [| 20L; 4L |] y
                  let vb, gb = step b sv [| 20L; 4L |] y
                  Expect.equal vb va (sprintf "step %d: same loss" k)
                  Expect.sequenceEqual gb ga (sprintf "step %d: same gradient" k)
                  use s = torch.tensor(sv).reshape(20L, 4L)
                  Expect.sequenceEqual (floats (b.SampleAnchors(s, y))) (floats (a.SampleAnchors(s, y))) (sprintf "step %d: same anchors" k)

              Expect.throwsT<UserError> (fun () -> b.RestoreState { state with Generator = [| 1uy |] }) "a foreign state is refused"

          testCase "the loss and its gradient equal autograd through tensor IDW on the same anchors"
          <| fun () ->
              for metric, shape, y in
                  [ Metrics.accuracy, [| 10L; 3L |], [| for i in 0..9 -> i % 3 |]
                    Metrics.averagePrecision, [| 12L |], [| for i in 0..11 -> if i % 3 = 0 then 1 else 0 |] ] do
                  let sv = (torch.randn (shape, generator = new torch.Generator(8UL))).data<float32>().ToArray()
                  let yt = longs y

                  for power, tau in [ 1.0, 1.0; 2.0, 0.5 ] do
                      use a = new UniLoss(metric, seed = 5, power = power, tau = tau, autoScale = 0.0)
                      use b = new UniLoss(metric, seed = 5, power = power, tau = tau, autoScale = 0.0)
                      use s = torch.tensor(sv).reshape(shape)
                      use anchors = a.SampleAnchors(s, yt)
                      let value, grad = step b sv shape yt
                      // reference: autograd through GProgram's f, σ and Idw.interpolateWith
                      let r = Refactor.trace metric (shape |> Array.map int) (Labels y)
                      use prog = new GProgram(r, torch.CPU)
                      use leaf = torch.tensor (sv, requires_grad = true)
                      let u = torch.sigmoid (prog.Comparisons(leaf.reshape (shape)).Div(tau))
                      let t = anchors.shape.[0] - 1L
                      let anc = anchors.narrow (0L, 0L, t)
                      let v = prog.Eval(anc)
                      let gTilde = Idw.interpolateWith u anc v power false true
                      let lossRef = gTilde.RSub(1.0)
                      lossRef.backward ()
                      Expect.floatClose { absolute = 1e-5; relative = 1e-5 } (float value) (float (lossRef.item<float32>())) (sprintf "%s loss" metric.Name)
                      let gr = floats leaf.grad

                      for i in 0 .. gr.Length - 1 do
                          Expect.floatClose { absolute = 1e-5; relative = 1e-3 } (float grad.[i]) (float gr.[i]) (sprintf "%s gradient %d" metric.Name i)

          testCase "LastTimings: a new label batch pays trace, compile and b*; a cached one does not"
          <| fun () ->
              use s = torch.randn (32L, 5L, generator = new torch.Generator(6UL))
              use y = longs [| for i in 0..31 -> i % 5 |]
              use loss = new UniLoss(Metrics.accuracy)
              loss.forward (s, y) |> ignore
              let t1 = loss.LastTimings
              Expect.isTrue t1.NewBatch "first batch is new"
              Expect.isGreaterThan t1.Trace 0.0 "trace timed"
              loss.forward (s, y) |> ignore
              let t2 = loss.LastTimings
              Expect.isFalse t2.NewBatch "same labels are cached"
              Expect.equal (t2.Trace, t2.Compile, t2.Best) (0.0, 0.0, 0.0) "nothing traced"

              for part in [ t2.Anchors; t2.G; t2.Idw; t2.Tensors ] do
                  Expect.isTrue (part >= 0.0 && part <= t2.Total) "each part within the total" ]
