module AutoDesign.Tests.UniLossAnchorRuleTests

open System
open Expecto
open TorchSharp
open AutoDesign.Runs
open AutoDesign.UniLoss

let private longs (xs: int[]) = torch.tensor (Array.map int64 xs)

let private rows (t: torch.Tensor) =
    let l = int t.shape.[1]
    let d = t.contiguous().data<float32>().ToArray()
    Array.init (int t.shape.[0]) (fun i -> Array.sub d (i * l) l)

let private diffBits (a: float32[]) (b: float32[]) =
    [ for i in 0 .. a.Length - 1 do
          if a.[i] <> b.[i] then yield i ]

/// A user metric with a score-vs-constant comparison (and an offset), to check bounded comparisons.
let private aboveHalf: Metric =
    Metric.Define(
        "above-half",
        fun (s: Scores) (y: Labels) -> mean [ for i in 0 .. s.N - 1 -> if y.[i] = 1 then num (s.[i, 0] >. 0.5) else num (s.[i, 0] <=. 0.5) ]
    )

[<Tests>]
let tests =
    testList
        "uniloss.anchor-rules"
        [ testCase "BestAnchor: good anchor 0 is b* itself, the other good anchors stay b* with one bit flipped"
          <| fun () ->
              use s = torch.randn (16L, 5L, generator = new torch.Generator(7UL))
              use y = longs [| for i in 0..15 -> i % 5 |]
              use loss = new UniLoss(Metrics.accuracy, UniLossOptions(Seed = 3, BestAnchor = true))
              let best = loss.BestConfiguration([| 16; 5 |], y)
              let r = rows (loss.SampleAnchors(s, y))
              Expect.sequenceEqual r.[0] best "good anchor 0 is b*"

              for i in 1..15 do
                  Expect.equal (diffBits r.[i] best).Length 1 (sprintf "good anchor %d flips one bit" i)
              // off by default: every good anchor flips a bit
              use plain = new UniLoss(Metrics.accuracy, seed = 3)
              let rp = rows (plain.SampleAnchors(s, y))
              Expect.equal (diffBits rp.[0] best).Length 1 "without BestAnchor good anchor 0 flips a bit"

          testCase "corrective nearby anchors: each flips one wrong bit of h(c); any bit when nothing is wrong"
          <| fun () ->
              use s = torch.randn (16L, 5L, generator = new torch.Generator(7UL))
              use y = longs [| for i in 0..15 -> i % 5 |]
              use loss = new UniLoss(Metrics.accuracy, seed = 3, nearbyCorrective = true)
              let best = loss.BestConfiguration([| 16; 5 |], y)
              use a = loss.SampleAnchors(s, y)
              let r = rows a
              Expect.equal r.Length 49 "16 good + 16 bad + 16 nearby + current"
              let hard = r.[48]
              let wrong = set (diffBits hard best)
              Expect.isNonEmpty wrong "random scores get some comparisons wrong"

              for i in 32..47 do
                  match diffBits r.[i] hard with
                  | [ b ] -> Expect.isTrue (wrong.Contains b) (sprintf "nearby anchor %d flips bit %d, which is not wrong" i b)
                  | d -> failtestf "nearby anchor %d differs from h(c) in %d bits" i d.Length
              // the default rule flips any bit: over 16 anchors it hits a right bit (40 of 64 bits are right)
              use plain = new UniLoss(Metrics.accuracy, seed = 3)
              let rp = rows (plain.SampleAnchors(s, y))

              let hitsRight =
                  [ for i in 32..47 do
                        for b in diffBits rp.[i] rp.[48] do
                            if not (wrong.Contains b) then yield b ]

              Expect.isNonEmpty hitsRight "default nearby anchors also flip right bits"
              // perfect scores: nothing is wrong, so nearby anchors flip one arbitrary bit
              use perfect = torch.nn.functional.one_hot(y, 5L).to_type(torch.ScalarType.Float32)
              let rq = rows (loss.SampleAnchors(perfect, y))
              Expect.sequenceEqual rq.[48] best "perfect scores give b*"

              for i in 32..47 do
                  Expect.equal (diffBits rq.[i] rq.[48]).Length 1 "one bit flipped"

          testCase "corrective nearby anchors with example units flip an example that has a wrong bit"
          <| fun () ->
              use s = torch.randn (12L, 4L, generator = new torch.Generator(9UL))
              use y = longs [| for i in 0..11 -> i % 4 |]
              use loss = new UniLoss(Metrics.accuracy, seed = 5, nearbyCorrective = true, nearbyUnit = FlipUnit.Example)
              let best = loss.BestConfiguration([| 12; 4 |], y)
              let r = rows (loss.SampleAnchors(s, y))
              let hard = r.[r.Length - 1]
              let exOf = (Refactor.trace Metrics.accuracy [| 12; 4 |] (Labels [| for i in 0..11 -> i % 4 |])).ExampleOf
              let wrongExamples = set [ for b in diffBits hard best -> exOf.[b] ]
              Expect.isTrue (wrongExamples.Count < 12) "some examples are right"

              for i in 32..47 do
                  let ex = set [ for b in diffBits r.[i] hard -> exOf.[b] ]
                  Expect.equal ex.Count 1 "one example's bits flipped"
                  Expect.isTrue (wrongExamples.Contains ex.MinimumElement) "that example has a wrong comparison"

          testCase "bounded scores: same signs, exact metric, finite gradients, and b̃ stays in a band"
          <| fun () ->
              let rng = Random 4

              for trial in 0..4 do
                  let n = 10
                  let sv = Array.init (n * 3) (fun _ -> float32 ((rng.NextDouble() - 0.5) * (if trial = 4 then 200.0 else 6.0)))
                  use leaf = torch.tensor (sv, requires_grad = true)
                  use s = leaf.reshape (int64 n, 3L)
                  use y = longs (Array.init n (fun i -> i % 3))
                  let r = Refactor.trace Metrics.accuracy [| n; 3 |] (Labels(Array.init n (fun i -> i % 3)))
                  use prog = new GProgram(r, torch.CPU)
                  use c = prog.Comparisons(s)
                  use cb = prog.BoundedComparisons(s)
                  let cv = c.data<float32>().ToArray()
                  let bv = cb.data<float32>().ToArray()

                  for b in 0 .. cv.Length - 1 do
                      // where σ can tell the two scores apart, the sign is the raw comparison's
                      if abs (float sv.[r.Comparisons.[b].K1]) < 15.0 then Expect.equal (sign bv.[b]) (sign cv.[b]) "same sign"
                      Expect.isTrue (bv.[b] >= -1.0f && bv.[b] <= 1.0f) "bounded in [-1, 1] (σ rounds to 0 or 1 for huge scores)"

                  use loss = new UniLoss(Metrics.accuracy, seed = trial, boundScores = true)
                  use l = loss.forward (s, y)
                  l.backward ()

                  Expect.floatClose
                      Accuracy.high
                      loss.LastMetric
                      (Refactor.exact Metrics.accuracy [| n; 3 |] (Labels(Array.init n (fun i -> i % 3))) sv)
                      "LastMetric is the exact metric of the raw scores"

                  let g = leaf.grad.data<float32>().ToArray()
                  Expect.isTrue (g |> Array.forall (fun x -> not (Single.IsNaN x || Single.IsInfinity x))) "finite gradient"
                  Expect.isTrue (g |> Array.exists (fun x -> x <> 0.0f)) "some gradient"

          testCase "gradNorm keeps the loss value and direction and sets the score-gradient norm"
          <| fun () ->
              let sv = (torch.randn (32L, 4L, generator = new torch.Generator(13UL))).data<float32>().ToArray()
              let y = Array.init 32 (fun i -> i % 4)

              let run (k: float) =
                  use leaf = torch.tensor (sv, requires_grad = true)
                  use s = leaf.reshape (32L, 4L) * 2.0
                  use loss = new UniLoss(Metrics.accuracy, seed = 21, gradNorm = k)
                  use l = loss.forward (s, longs y)
                  l.backward ()
                  float (l.item<float32>()), leaf.grad.data<float32>().ToArray() |> Array.map float

              let v0, g0 = run 0.0
              let v1, g1 = run 0.05
              let norm (g: float[]) = sqrt (Array.sumBy (fun x -> x * x) g)
              Expect.floatClose Accuracy.high v1 v0 "same loss value"
              Expect.isGreaterThan (norm g0) 0.0 "plain gradient is non-zero"
              // ∂/∂leaf = 2 ∂/∂s, so the leaf gradient's norm is 2κ
              Expect.floatClose Accuracy.medium (norm g1) 0.1 "norm 2κ at the leaf"
              let cosine = (Array.map2 (*) g0 g1 |> Array.sum) / (norm g0 * norm g1)
              Expect.floatClose Accuracy.medium cosine 1.0 "same direction"
              Expect.throwsT<UserError> (fun () -> new UniLoss(Metrics.accuracy, gradNorm = -1.0) |> ignore) "negative gradNorm is refused"

          testCase "bounded scores handle score-vs-constant comparisons with an offset"
          <| fun () ->
              let sv = [| 0.9f; 0.2f; 0.6f; 0.4f; 3.0f; -2.0f |]
              use s = torch.tensor(sv).reshape(6L, 1L)
              let lab = [| 1; 0; 0; 1; 1; 0 |]
              let r = Refactor.trace aboveHalf [| 6; 1 |] (Labels lab)
              use prog = new GProgram(r, torch.CPU)
              let c = prog.Comparisons(s).data<float32>().ToArray()
              let cb = prog.BoundedComparisons(s).data<float32>().ToArray()
              Expect.sequenceEqual (Array.map sign cb) (Array.map sign c) "σ(s) − σ(0.5) has the sign of s − 0.5"
              // hand value: σ(0.9) − σ(0.5)
              let sg x = 1.0 / (1.0 + exp (-x))
              Expect.floatClose Accuracy.medium (float cb.[0]) (sg 0.9 - sg 0.5) "σ(s) − σ(offset)" ]
