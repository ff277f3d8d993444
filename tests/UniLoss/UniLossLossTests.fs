module AutoDesign.Tests.UniLossLossTests

open System
open Expecto
open TorchSharp
open AutoDesign.Nn
open AutoDesign.UniLoss

let private raisesUser (f: unit -> unit) (fragment: string) =
    try
        f ()
        failtest (sprintf "expected a UserError mentioning '%s'" fragment)
    with UserError msg ->
        Expect.stringContains msg fragment "error message"

let private longs (xs: int[]) = torch.tensor (Array.map int64 xs)

[<Tests>]
let tests =
    testList
        "uniloss.loss"
        [ testCase "IDW: hand-computed values for power 1 and 2"
          <| fun () ->
              use u = torch.tensor ([| 1.0f; 0.5f |])
              use a = torch.tensor([| 0.0f; 0.0f; 1.0f; 1.0f; 1.0f; 0.0f |]).reshape(3L, 2L)
              use v = torch.tensor ([| 0.0f; 1.0f; 0.5f |])
              // d = sqrt 1.25, 0.5, 0.5
              let w1 = [| 1.0 / sqrt 1.25; 2.0; 2.0 |]
              let e1 = (w1.[1] * 1.0 + w1.[2] * 0.5) / Array.sum w1
              use g1 = Idw.interpolate u a v 1.0
              Expect.floatClose Accuracy.medium (float (g1.item<float32>())) e1 "power 1"
              use g2 = Idw.interpolate u a v 2.0
              Expect.floatClose Accuracy.medium (float (g2.item<float32>())) ((4.0 + 2.0) / (0.8 + 8.0)) "power 2"

          testCase "IDW: an exact hit returns that anchor's value"
          <| fun () ->
              use u = torch.tensor ([| 1.0f; 0.0f |], requires_grad = true)
              use a = torch.tensor([| 0.0f; 0.0f; 1.0f; 0.0f; 1.0f; 1.0f |]).reshape(3L, 2L)
              use v = torch.tensor ([| 0.0f; 0.25f; 1.0f |])
              use g = Idw.interpolate u a v 1.0
              Expect.equal (g.item<float32>()) 0.25f "value of the hit anchor"

          testCase "anchors: counts and flip structure per unit"
          <| fun () ->
              let r = Refactor.trace Metrics.accuracy [| 4; 3 |] (Labels [| 0; 1; 2; 0 |])
              let baseRow = Array.create r.L 1.0f
              let rng = Random 3
              // the bits in which anchor a of `rows` differs from the base row
              let flipped (rows: float32[]) (a: int) =
                  set
                      [ for b in 0 .. r.L - 1 do
                            if rows.[a * r.L + b] <> baseRow.[b] then yield b ]

              let rows = Anchors.perturb rng baseRow 16 1 FlipUnit.Bit [||]
              Expect.equal rows.Length (16 * r.L) "16 rows"

              for a in 0..15 do
                  Expect.equal (flipped rows a).Count 1 "one bit flipped"

              let groups = Anchors.units r FlipUnit.Example
              Expect.equal groups.Length 4 "one group per example"
              let ex = Anchors.perturb rng baseRow 16 1 FlipUnit.Example groups

              for a in 0..15 do
                  Expect.isTrue (groups |> Array.exists (fun g -> set g = flipped ex a)) "flipped exactly one example's bits"

              let pix = Anchors.units r FlipUnit.Score
              let sc = Anchors.perturb rng baseRow 8 1 FlipUnit.Score pix

              for a in 0..7 do
                  let diff = flipped sc a
                  Expect.isTrue (pix |> Array.exists (fun g -> set g = diff)) "flipped all bits of one score"
                  let touched = diff |> Seq.map (fun b -> set [ r.Comparisons.[b].K1; r.Comparisons.[b].K2 ]) |> Set.intersectMany
                  Expect.isNonEmpty touched "all flipped bits share one score"

          testCase "loss is deterministic for a seed and lies in [0,1]"
          <| fun () ->
              use s = torch.randn (8L, 4L, generator = new torch.Generator(5UL))
              use y = longs [| 0; 1; 2; 3; 0; 1; 2; 3 |]
              use l1 = new UniLoss(Metrics.accuracy, seed = 11)
              use l2 = new UniLoss(Metrics.accuracy, seed = 11)
              let a = (l1.forward (s, y)).item<float32>()
              let b = (l2.forward (s, y)).item<float32>()
              Expect.equal a b "same seed, same loss"
              Expect.isTrue (a >= 0.0f && a <= 1.0f) "1 - g̃ in [0,1]"

              Expect.floatClose
                  Accuracy.high
                  l1.LastMetric
                  (Refactor.exact Metrics.accuracy [| 8; 4 |] (Labels [| 0; 1; 2; 3; 0; 1; 2; 3 |]) (s.data<float32>().ToArray()))
                  "LastMetric is the exact metric"

          testCase "gradients reach a linear model and SGD with UniLoss raises accuracy"
          <| fun () ->
              torch.manual_seed 1L |> ignore
              let rng = Random 2
              let n = 64
              // 3 separable classes in 2-D
              let centers = [| (2.0, 0.0); (-1.0, 1.7); (-1.0, -1.7) |]
              let y = Array.init n (fun i -> i % 3)

              let x =
                  Array.init n (fun i -> let cx, cy = centers.[y.[i]] in [| float32 (cx + 0.4 * rng.NextDouble()); float32 (cy + 0.4 * rng.NextDouble()) |])
                  |> Array.concat

              use xt = torch.tensor(x).reshape(int64 n, 2L)
              use yt = longs y
              use model = torch.nn.Linear(2L, 3L)
              use opt = new SafeSGD(model.parameters (), 0.5)
              use loss = new UniLoss(Metrics.accuracy, seed = 1)

              let accuracy () =
                  use _ng = torch.no_grad ()
                  use s = model.forward (xt)
                  Refactor.exact Metrics.accuracy [| n; 3 |] (Labels y) (s.data<float32>().ToArray())
              // start from a bad model
              using (torch.no_grad ()) (fun _ -> model.weight.mul_ ((-1.0).ToScalar()) |> ignore)
              let before = accuracy ()
              let mutable firstLoss = nan
              let mutable lastLoss = nan

              for step in 1..60 do
                  use _scope = torch.NewDisposeScope()
                  opt.zero_grad ()
                  let l = loss.forward (model.forward (xt), yt)
                  l.backward ()

                  if step = 1 then
                      Expect.isGreaterThan (model.weight.grad.abs().sum().item<float32>()) 0.0f "gradient reaches the weights"
                      firstLoss <- float (l.item<float32>())

                  lastLoss <- float (l.item<float32>())
                  opt.step () |> ignore

              let after = accuracy ()
              Expect.isGreaterThan after before "accuracy improves"
              Expect.isGreaterThanOrEqual after 0.9 "separable toy problem learned"
              Expect.isLessThan lastLoss firstLoss "loss decreases"

          testCase "bitFraction and structured flips run and give finite gradients"
          <| fun () ->
              use s = torch.randn ([| 4L; 5L; 5L |], requires_grad = true)
              use y = torch.tensor([| 1L; 1L; 2L; 3L; 0L; 4L; 4L; 0L |]).reshape(4L, 2L)

              use l =
                  new UniLoss(Metrics.pckh 1.0, anchorsPerType = 4, bitFraction = 0.2, nearbyUnit = FlipUnit.Score, goodFlips = 3, seed = 2)

              use v = l.forward (s, y)
              v.backward ()
              Expect.isTrue (Single.IsFinite(s.grad.sum().item<float32>())) "finite gradient"
              // radius 1: 5 pixels inside for the two interior joints, 3 for the two corner joints
              Expect.equal l.LastBits (2 * 5 * 20 + 2 * 3 * 22) "pos × neg pixel bits"

          testCase "a degenerate AP batch (no positives) gives a zero-gradient loss"
          <| fun () ->
              use s = torch.randn ([| 6L |], requires_grad = true)
              use y = longs [| 0; 0; 0; 0; 0; 0 |]
              use l = new UniLoss(Metrics.averagePrecision)
              use v = l.forward (s, y)
              v.backward ()
              Expect.equal (v.item<float32>()) 1.0f "loss 1 - AP(=0)"
              Expect.equal (s.grad.abs().sum().item<float32>()) 0.0f "no gradient"

          testCase "user errors: each gives one clear message"
          <| fun () ->
              let noCompare = Metric.Define("labels-only", fun _ y -> konst (float y.N))
              raisesUser (fun () -> (new UniLoss(noCompare)).forward(torch.zeros (3L, 2L), longs [| 0; 1; 0 |]) |> ignore) "makes no score comparisons"
              raisesUser (fun () -> Refactor.trace Metrics.accuracy [| 4 |] (Labels [| 0; 1; 0; 1 |]) |> ignore) "scores must have shape [n, classes]"
              let wrongShape = Metric.Define("3d", fun s _ -> num (s.[0, 0, 0] >. s.[0, 0, 1]))
              raisesUser (fun () -> Refactor.trace wrongShape [| 2; 3 |] (Labels [| 0; 1 |]) |> ignore) "wrong score shape"
              raisesUser (fun () -> Refactor.trace Metrics.accuracy [| 2; 3 |] (Labels [| 0; 3 |]) |> ignore) "out of range for 3 classes"
              raisesUser (fun () -> Refactor.trace Metrics.accuracy [| 2; 3 |] (Labels [| 0; -1 |]) |> ignore) "out of range"

              let branching =
                  Metric.Define("branchy", fun s _ -> if (s.[0, 0] >. s.[0, 1]).Value then num (s.[0, 1] >. s.[0, 2]) else konst 0.0)

              raisesUser (fun () -> Refactor.trace branching [| 1; 3 |] (Labels [| 0 |]) |> ignore) "branches on the outcome of a score comparison"
              raisesUser (fun () -> Refactor.trace Metrics.accuracy [| 3; 3 |] (Labels [| 0; 1 |]) |> ignore) "2 labels for a batch of 3"
              raisesUser (fun () -> (new UniLoss(Metrics.accuracy)).forward(torch.tensor([| nanf; 1.0f |]).reshape(1L, 2L), longs [| 0 |]) |> ignore) "NaN"
              raisesUser (fun () -> new UniLoss(Metrics.accuracy, tau = 0.0) |> ignore) "tau must be positive"
              raisesUser (fun () -> Metrics.byName "bogus" |> ignore) "unknown metric"
              raisesUser (fun () -> (new UniLoss(Metrics.accuracy)).forward(torch.zeros (2L, 3L), torch.zeros (2L)) |> ignore) "integer tensor" ]
