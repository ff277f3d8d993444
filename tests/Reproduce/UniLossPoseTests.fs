module AutoDesign.Tests.UniLossPoseTests

open System
open System.IO
open Expecto
open TorchSharp
open AutoDesign.Nn
open AutoDesign.Runs
open AutoDesign.UniLoss
open AutoDesign.Reproduce.UniLoss
open AutoDesign.Reproduce.UniLoss.Pose
open AutoDesign.Nn.UniLoss
open Argu

module Cli = AutoDesign.Cli.Commands.Uniloss

let private randomLabels (rng: Random) n h w =
    [| for _ in 1..n do
           yield int64 (rng.Next(0, 1000 * (h - 1)))
           yield int64 (rng.Next(0, 1000 * (w - 1)))
           yield int64 (rng.Next(700, 2600)) |]

[<Tests>]
let tests =
    testList
        "uniloss.pose"
        [ test "PCKh (pos-neg, metric language) equals the plain arg-max loop on random heatmaps" {
              let rng = Random 11

              for trial in 0..19 do
                  let n, h, w = 3, 8, 8
                  let scores = Array.init (n * h * w) (fun _ -> float32 (rng.NextDouble()))
                  let lab = randomLabels rng n h w
                  // make some heatmaps correct: put the maximum on the pixel nearest the joint
                  if trial % 2 = 0 then
                      let r, c = int (Math.Round(float lab.[0] / 1000.0)), int (Math.Round(float lab.[1] / 1000.0))
                      scores.[r * w + c] <- 2.0f

                  let labels = Labels([| n; 3 |], lab)
                  let expected = PoseMetric.reference h w scores lab
                  let exact = Refactor.exact PoseMetric.pckh [| n; h; w |] labels scores
                  let r = Refactor.trace PoseMetric.pckh [| n; h; w |] labels
                  let refactored = Refactor.refactored r scores
                  Expect.floatClose Accuracy.veryHigh exact expected (sprintf "exact, trial %d" trial)
                  Expect.floatClose Accuracy.veryHigh refactored expected (sprintf "g(h(f(s))), trial %d" trial)
                  // bits: for each heatmap, (#pos) × (#neg)
                  let posCount k =
                      let mutable c = 0

                      for i in 0 .. h - 1 do
                          for j in 0 .. w - 1 do
                              let di, dj = 1000L * int64 i - lab.[3 * k], 1000L * int64 j - lab.[3 * k + 1]
                              if di * di + dj * dj <= lab.[3 * k + 2] * lab.[3 * k + 2] then c <- c + 1

                      c

                  let expectedBits = List.sum [ for k in 0 .. n - 1 -> posCount k * (h * w - posCount k) ]
                  Expect.equal r.L expectedBits "one bit per (positive, negative) pixel pair"
          }

          test "PCKh ideal configuration reaches 1 and bad labels raise a UserError" {
              let labels = Labels([| 2; 3 |], [| 3000L; 4000L; 1500L; 0L; 7000L; 900L |])
              let r = Refactor.trace PoseMetric.pckh [| 2; 8; 8 |] labels
              Expect.equal (Refactor.g r (Anchors.best PoseMetric.pckh r labels)) 1.0 "b* is all correct"

              Expect.throwsT<UserError>
                  (fun () -> Refactor.trace PoseMetric.pckh [| 2; 8; 8 |] (Labels([| 2; 2 |], [| 1L; 2L; 3L; 4L |])) |> ignore)
                  "two columns"

              Expect.throwsT<UserError> (fun () -> Refactor.trace PoseMetric.pckh [| 2; 64 |] labels |> ignore) "not heatmaps"
          }

          test "efficient IDW distances and interpolation equal the plain ones (values and gradients)" {
              use g = new torch.Generator(7UL)
              let t, l = 48L, 5000L
              use a = torch.randint (0L, 2L, [| t; l |], dtype = torch.ScalarType.Float32, generator = g)
              use v = torch.rand ([| t |], generator = g)
              use u0 = torch.rand ([| l |], generator = g)
              use dPlain = Idw.sqDistances u0 a false false
              use dEff = Idw.sqDistances u0 a true true
              use dEffGen = Idw.sqDistances u0 a true false
              Expect.isTrue (dPlain.allclose (dEff, rtol = 1e-4, atol = 1e-2)) "binary form"
              Expect.isTrue (dPlain.allclose (dEffGen, rtol = 1e-4, atol = 1e-2)) "general form"

              let grad efficient =
                  use u = u0.clone().requires_grad_(true)
                  use r = Idw.interpolateWith u a v 1.0 efficient true
                  r.backward ()
                  float (r.item<float32>()), u.grad.clone ()

              let vp, gp = grad false
              let ve, ge = grad true
              Expect.floatClose Accuracy.medium ve vp "g~"
              Expect.isTrue (gp.allclose (ge, rtol = 1e-3, atol = 1e-7)) "gradient"
              gp.Dispose()
              ge.Dispose()
          }

          test "hourglass output is one heatmap per joint at input/4" {
              torch.manual_seed 3L |> ignore
              use m = new Hourglass(1, 1, 16, 3)
              use x = torch.rand ([| 2L; 1L; 64L; 64L |])
              use y = m.forward (x)
              Expect.equal y.shape [| 2L; 1L; 16L; 16L |] "64x64 → 16x16"
              use m2 = new Hourglass(3, 4, 8, 2)
              use x2 = torch.rand ([| 1L; 3L; 32L; 32L |])
              use y2 = m2.forward (x2)
              Expect.equal y2.shape [| 1L; 4L; 8L; 8L |] "4 joints, 32x32 → 8x8"
              Expect.throws (fun () -> m.forward (torch.rand ([| 1L; 1L; 48L; 48L |])) |> ignore) "48 is not divisible by 32"
          }

          test "data generator is deterministic, splits are disjoint and joints lie inside" {
              let a = PoseData.sample 4 64 17
              let b = PoseData.sample 4 64 17
              let c = PoseData.sample 4 64 18
              Expect.equal a.Image b.Image "same image"
              Expect.equal (a.HeadRow, a.HeadCol, a.HeadLength) (b.HeadRow, b.HeadCol, b.HeadLength) "same joint"
              Expect.notEqual a.Image c.Image "different index, different image"
              let ds = PoseData.create 4 64 20 5 6
              Expect.equal ds.Samples.[17].Image a.Image "create draws the same samples"
              Expect.isEmpty (Set.intersect (set ds.Train) (set ds.Test)) "train/test disjoint"
              Expect.isEmpty (Set.intersect (set ds.Val) (set ds.Test)) "val/test disjoint"
              Expect.equal (ds.Train.Length + ds.Val.Length + ds.Test.Length) 31 "sizes"

              for s in ds.Samples do
                  Expect.isTrue (s.HeadRow >= 1.0 && s.HeadRow <= 63.0 && s.HeadCol >= 1.0 && s.HeadCol <= 63.0) "head inside"
                  Expect.isTrue (s.HeadLength >= 8.9 && s.HeadLength <= 16.3) "head length in range"
                  Expect.isTrue (s.Image |> Array.forall (fun v -> v >= 0.0f && v <= 1.0f)) "pixels in [0,1]"
          }

          test "Gaussian targets: peak 1 at the joint pixel, bump of size 7 for sigma 1" {
              let t = PoseMetric.gaussianTargets [| 8000L; 7600L; 1500L |] 16 1.0
              Expect.equal t.[8 * 16 + 8] 1.0f "peak at the rounded joint"
              Expect.equal (t |> Array.filter (fun v -> v > 0.0f) |> Array.length) 49 "7x7 window"
              Expect.floatClose Accuracy.medium (float t.[8 * 16 + 9]) (exp -0.5) "one pixel away"
              Expect.throwsT<UserError> (fun () -> PoseMetric.gaussianTargets [| 0L; 0L; 1000L |] 16 0.0 |> ignore) "sigma 0"
          }

          test "CLI parses uniloss pose and rejects a bad --which with a UserError" {
              let plan (argv: string[]) =
                  let g, r = AutoDesign.Cli.Program.parse (Array.append [| "uniloss" |] argv)
                  Cli.plan g (r.GetResult AutoDesign.Cli.Args.AutoDesignArgs.Uniloss)

              match plan [| "pose"; "--which"; "bench"; "--quick"; "--anchors"; "10"; "--epochs"; "3" |] with
              | Cli.PlanPose(st, which) -> Expect.equal (which, st.Quick, st.Anchors, st.Epochs) ("bench", true, Some 10, Some 3) "pose settings"
              | other -> failtestf "wrong plan %A" other

              match plan [| "pose" |] with
              | Cli.PlanPose(_, which) -> Expect.equal which "all" "default"
              | other -> failtestf "wrong plan %A" other

              Expect.throwsT<ArguParseException> (fun () -> plan [| "pose"; "--which"; "sigma" |] |> ignore) "which"
              Expect.throwsT<ArguParseException> (fun () -> plan [| "pose"; "--nearby"; "any" |] |> ignore) "an ap/accuracy option"
          }

          testSequenced
          <| test "a short UniLoss(PCKh) run on free heatmaps lowers the loss and raises PCKh" {
              torch.manual_seed 5L |> ignore
              let n, h = 8, 12
              let lab = randomLabels (Random 5) n h h
              use labels = torch.tensor(lab).reshape(int64 n, 3L)
              use s = new TorchSharp.Modules.Parameter(torch.randn ([| int64 n; int64 h; int64 h |]))
              use opt = new SafeAdam([| s |], lr = 0.05)

              use loss =
                  new UniLoss(PoseMetric.pckh, anchorsPerType = 16, bitFraction = 0.5, seed = 1, goodFlips = 5, nearbyUnit = FlipUnit.Score)

              let values =
                  [ for _ in 1..60 do
                        opt.zero_grad ()
                        use l = loss.forward (s, labels)
                        l.backward ()
                        opt.step () |> ignore
                        yield float (l.item<float32>()), loss.LastMetric ]

              let first = values |> List.take 5 |> List.averageBy fst
              let last = values |> List.skip 55 |> List.averageBy fst
              Expect.isLessThan last (first - 0.1) (sprintf "loss %.3f → %.3f" first last)
              let p0 = PoseMetric.reference h h (Array.zeroCreate (n * h * h) |> Array.mapi (fun i _ -> 0.0f)) lab
              let pEnd = PoseMetric.reference h h (s.detach().contiguous().data<float32>().ToArray()) lab
              Expect.isGreaterThan pEnd (snd values.Head + 0.2) (sprintf "PCKh %.2f → %.2f (all-zero maps %.2f)" (snd values.Head) pEnd p0)
          }

          testSequenced
          <| test "a pose run trains one epoch, writes its files and resumes" {
              let dir = Path.Combine(Path.GetTempPath(), "pose-run-" + Guid.NewGuid().ToString("N"))

              try
                  let set = PoseData.create 4 64 32 8 8
                  let cfg = { Channels = 8; Depth = 3; Epochs = 1; Milestones = []; BatchSize = 16; Lr = 2.5e-4; Seed = 1 }
                  let options = { RunOptions.Default with Root = dir }
                  let r = PoseTrain.run options "uni" "uni" set (UniLossPckh(4, 0.5, 1.0, 5)) cfg torch.CPU
                  Expect.equal r.Rows.Length 1 "one epoch"
                  Expect.isTrue (r.Bits > 100.0) "bits counted"

                  for f in [ "config.json"; "metrics.csv"; "model.safetensors"; "result.json"; "test_predictions.png" ] do
                      Expect.isTrue (File.Exists(Path.Combine(dir, "uni", f))) f

                  let again = PoseTrain.run options "uni" "uni" set (UniLossPckh(4, 0.5, 1.0, 5)) cfg torch.CPU
                  let key (rows: PoseEpoch list) = rows |> List.map (fun e -> e.Epoch, e.TrainLoss, e.ValPckh, e.TestPckh)
                  Expect.equal (key again.Rows) (key r.Rows) "the stored result, nothing retrained"
                  let m = PoseTrain.run options "mse" "mse" set (Mse 1.0) cfg torch.CPU
                  Expect.isTrue (m.Test >= 0.0 && m.Test <= 1.0) "PCKh in [0,1]"
              finally
                  if Directory.Exists dir then Directory.Delete(dir, true)
          } ]
