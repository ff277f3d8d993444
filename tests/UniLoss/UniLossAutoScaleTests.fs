module AutoDesign.Tests.UniLossAutoScaleTests

open System
open Expecto
open TorchSharp
open AutoDesign.Nn
open AutoDesign.UniLoss

let private longs (xs: int[]) = torch.tensor (Array.map int64 xs)
let private norm (g: float[]) = sqrt (Array.sumBy (fun x -> x * x) g)
let private cosine (a: float[]) (b: float[]) = (Array.map2 (*) a b |> Array.sum) / (norm a * norm b)

/// accuracy times a constant c (a metric on another scale: its raw IDW gradient is c times accuracy's).
let private scaledAccuracy (c: float) : Metric =
    Metric.Define(
        sprintf "accuracy-x%g" c,
        fun (s: Scores) (y: Labels) ->
            c
            * mean
                [ for i in 0 .. s.N - 1 ->
                      num (
                          all
                              [ for j in 0 .. s.Dim 1 - 1 do
                                    if j <> y.[i] then yield s.[i, y.[i]] >. s.[i, j] ]
                      ) ]
    )

/// (loss value, gradient on the scores) of one step of `loss` on scores sv [n, C] and labels y.
let private step (loss: UniLoss) (sv: float32[]) (n: int) (c: int) (y: int[]) =
    use leaf = torch.tensor (sv, requires_grad = true)
    use s = leaf.reshape (int64 n, int64 c)
    use l = loss.forward (s, longs y)
    l.backward ()
    float (l.item<float32>()), leaf.grad.data<float32>().ToArray() |> Array.map float

/// Gaussian blobs, `k` classes in 2-D, n points: (features [n, 2], labels).
let private blobs (seed: int) (n: int) (k: int) =
    let rng = Random(seed)
    let gauss () = sqrt (-2.0 * log (1.0 - rng.NextDouble())) * cos (2.0 * Math.PI * rng.NextDouble())
    let y = Array.init n (fun i -> i % k)

    let x =
        y
        |> Array.collect (fun c ->
            let a = 2.0 * Math.PI * float c / float k
            [| float32 (2.0 * cos a + 0.7 * gauss ()); float32 (2.0 * sin a + 0.7 * gauss ()) |])

    x, y

/// Train a linear layer on the blobs with SGD at CE's recipe (lr 0.1, momentum 0.9) for `steps` full-batch
/// steps; the training accuracy after each step.
let private train (lossOf: torch.Tensor -> torch.Tensor -> torch.Tensor) (steps: int) =
    torch.manual_seed 7L |> ignore
    let xv, yv = blobs 3 96 4
    use x = torch.tensor(xv).reshape(96L, 2L)
    use y = longs yv
    use model = torch.nn.Linear(2L, 4L)
    use opt = new SafeSGD(model.parameters (), 0.1, momentum = 0.9)

    [ for _ in 1..steps ->
          use _ = torch.NewDisposeScope()
          opt.zero_grad ()
          let l = lossOf (model.forward x) y
          l.backward ()
          opt.step () |> ignore
          use _ng = torch.no_grad ()
          (model.forward x).argmax(1L).eq(y).to_type(torch.ScalarType.Float32).mean().item<float32>() |> float ]

[<Tests>]
let tests =
    testList
        "uniloss.auto-scale"
        [ testCase "the default scale sets the score-gradient norm to a/sqrt(n), keeping the loss value and the direction"
          <| fun () ->
              for n, c, a in [ 8, 3, 1.0; 32, 4, 1.0; 128, 10, 0.5; 128, 10, 2.0 ] do
                  let sv = (torch.randn (int64 n, int64 c, generator = new torch.Generator(uint64 (n + c)))).data<float32>().ToArray()
                  let y = Array.init n (fun i -> i % c)
                  use raw = new UniLoss(Metrics.accuracy, seed = 4, autoScale = 0.0)
                  use auto = new UniLoss(Metrics.accuracy, UniLossOptions(Seed = 4, AutoScale = a))
                  let v0, g0 = step raw sv n c y
                  let v1, g1 = step auto sv n c y
                  Expect.floatClose Accuracy.high v1 v0 "same loss value"
                  Expect.isGreaterThan (norm g0) 0.0 "non-zero raw gradient"
                  Expect.floatClose Accuracy.medium (norm g1) (a / sqrt (float n)) (sprintf "norm a/sqrt(n) at n=%d a=%g" n a)
                  Expect.floatClose Accuracy.medium (cosine g0 g1) 1.0 "same direction"

              Expect.equal (UniLossOptions().AutoScale) 0.5 "on by default, a = 0.5"
              Expect.equal (UniLossOptions().ScaleRule) ScaleRule.Batch "per batch by default"
              use d = new UniLoss(Metrics.accuracy)
              Expect.equal d.AutoScale 0.5 "the named-argument constructor has the same default"

          testCase "ScaleRule.Example gives each example's part norm a/n; ScaleRule.Running scales by the running mean of the raw norms"
          <| fun () ->
              let n, c = 24, 5
              let y = Array.init n (fun i -> i % c)
              let scoresOf (k: int) = (torch.randn (int64 n, int64 c, generator = new torch.Generator(uint64 (40 + k)))).data<float32>().ToArray()
              use raw = new UniLoss(Metrics.accuracy, seed = 6, autoScale = 0.0)
              use per = new UniLoss(Metrics.accuracy, UniLossOptions(Seed = 6, AutoScale = 0.5, ScaleRule = ScaleRule.Example))
              let _, g0 = step raw (scoresOf 0) n c y
              let _, g1 = step per (scoresOf 0) n c y

              for i in 0 .. n - 1 do
                  let p0, p1 = g0.[i * c .. i * c + c - 1], g1.[i * c .. i * c + c - 1]

                  if norm p0 > 1e-12 then
                      Expect.floatClose Accuracy.medium (norm p1) (0.5 / float n) (sprintf "example %d: norm a/n" i)
                      Expect.floatClose Accuracy.medium (cosine p0 p1) 1.0 (sprintf "example %d: same direction" i)
                  else
                      Expect.floatClose Accuracy.high (norm p1) 0.0 (sprintf "example %d: a zero part stays zero" i)
              // Running: independently, g_k · a / (√n · mean(‖raw g_1‖ .. ‖raw g_k‖)) on the same anchors (same seed)
              use rawR = new UniLoss(Metrics.accuracy, seed = 8, autoScale = 0.0)
              use run = new UniLoss(Metrics.accuracy, UniLossOptions(Seed = 8, AutoScale = 0.5, ScaleRule = ScaleRule.Running))
              let norms = ResizeArray<float>()

              for k in 0..3 do
                  let sv = scoresOf (10 + k)
                  let _, gr = step rawR sv n c y
                  let _, gs = step run sv n c y
                  norms.Add(norm gr)
                  let f = 0.5 / (sqrt (float n) * Seq.average norms)

                  for i in 0 .. gr.Length - 1 do
                      Expect.floatClose { absolute = 1e-7; relative = 1e-4 } gs.[i] (gr.[i] * f) (sprintf "step %d, score %d" k i)

              if norms.[0] > 0.0 then Expect.isTrue (norms |> Seq.forall (fun x -> x > 0.0)) "non-zero raw gradients"
              // the running mean is part of the checkpointed state
              let st = run.CaptureState()
              Expect.isGreaterThan st.ScaleNormSum 0.0 "running norm captured"
              Expect.equal st.ScaleSteps 4L "steps captured"
              use back = new UniLoss(Metrics.accuracy, UniLossOptions(Seed = 99, AutoScale = 0.5, ScaleRule = ScaleRule.Running))
              back.RestoreState st
              let sv = scoresOf 20
              Expect.sequenceEqual (snd (step back sv n c y)) (snd (step run sv n c y)) "a restored loss continues with the same running scale"
              Expect.throwsT<UserError> (fun () -> back.RestoreState { st with ScaleSteps = -1L }) "a bad running state is refused"
              Expect.throwsT<UserError> (fun () -> new UniLoss(Metrics.accuracy, UniLossOptions(ScaleRule = enum<ScaleRule> 7)) |> ignore) "unknown rule"

          testCase "property: with the automatic scale the score gradient does not depend on the metric's scale; the raw one does"
          <| fun () ->
              let rng = Random(11)

              for trial in 0..7 do
                  let n, c = 4 + rng.Next 40, 2 + rng.Next 6
                  let k = Math.Pow(10.0, -2.0 + 4.0 * rng.NextDouble())
                  let sv = Array.init (n * c) (fun _ -> float32 (3.0 * (rng.NextDouble() - 0.5)))
                  let y = Array.init n (fun _ -> rng.Next c)

                  let grads (autoScale: float) =
                      use plain = new UniLoss(scaledAccuracy 1.0, seed = trial, autoScale = autoScale)
                      use scaled = new UniLoss(scaledAccuracy k, seed = trial, autoScale = autoScale)
                      snd (step plain sv n c y), snd (step scaled sv n c y)

                  let p0, s0 = grads 0.0

                  if norm p0 > 1e-9 then
                      Expect.floatClose { absolute = 1e-9; relative = 1e-3 } (norm s0) (k * norm p0) (sprintf "raw gradient scales with the metric (x%g)" k)
                      let p1, s1 = grads 1.0
                      Expect.floatClose Accuracy.medium (norm p1) (1.0 / sqrt (float n)) "norm 1/sqrt(n)"

                      for i in 0 .. p1.Length - 1 do
                          Expect.floatClose { absolute = 1e-6; relative = 1e-3 } s1.[i] p1.[i] (sprintf "trial %d: gradient %d the same at scale x%g" trial i k)

          testCase "bad autoScale values are refused with a UserError"
          <| fun () ->
              for v in [ -1.0; nan; infinity; -infinity ] do
                  Expect.throwsT<UserError> (fun () -> new UniLoss(Metrics.accuracy, autoScale = v) |> ignore) (sprintf "autoScale %g" v)
                  Expect.throwsT<UserError> (fun () -> new UniLoss(Metrics.accuracy, UniLossOptions(AutoScale = v)) |> ignore) (sprintf "options %g" v)

          testCase "default UniLoss trains a tiny task as fast as CE at CE's learning rate; the raw gradient is slower"
          <| fun () ->
              let ce = train (fun s y -> torch.nn.functional.cross_entropy (s, y)) 30
              use dflt = new UniLoss(Metrics.accuracy, seed = 2)
              let uni = train (fun s y -> dflt.forward (s, y)) 30
              use rawLoss = new UniLoss(Metrics.accuracy, seed = 2, autoScale = 0.0)
              let raw = train (fun s y -> rawLoss.forward (s, y)) 30
              let at k (xs: float list) = xs.[k - 1]
              Expect.isGreaterThanOrEqual (at 30 uni) (at 30 ce - 0.03) (sprintf "default UniLoss %.3f vs CE %.3f after 30 steps" (at 30 uni) (at 30 ce))
              Expect.isGreaterThanOrEqual (at 10 uni) (at 10 ce - 0.1) (sprintf "and after 10: %.3f vs %.3f" (at 10 uni) (at 10 ce))
              Expect.isGreaterThan (at 30 uni) 0.85 "the blobs are nearly separable"
              // measured: raw 0.53 after 10 steps, where CE and the default are at 0.95
              Expect.isLessThan (at 10 raw) (at 10 uni - 0.2) (sprintf "the raw IDW gradient is slower at CE's lr: %.3f after 10 steps" (at 10 raw)) ]
