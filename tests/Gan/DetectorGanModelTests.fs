module AutoDesign.Tests.DetectorGanModelTests

open System
open Expecto
open TorchSharp
open AutoDesign.Nn
open AutoDesign.DetectorGAN
open AutoDesign.Reproduce.DetectorGAN
open AutoDesign.Metrics
open AutoDesign.Nn.DetectorGAN

let private cpu = torch.CPU

let private scalar (t: torch.Tensor) =
    let v = t.Item() in
    t.Dispose()
    v

[<Tests>]
let tests =
    testSequenced
    <| testList
        "detectorgan.models"
        [ test "box encode/decode round-trip and the anchor itself encodes to zero" {
              let anchor = [| 4.0f; 6.0f; 12.0f; 10.0f |]
              let rng = Random(1)

              for _ in 1..50 do
                  let x0, y0 = float32 (rng.NextDouble() * 20.0), float32 (rng.NextDouble() * 20.0)
                  let box = [| x0; y0; x0 + 1.0f + float32 (rng.NextDouble() * 10.0); y0 + 1.0f + float32 (rng.NextDouble() * 10.0) |]
                  let back = BoxMath.Decode(anchor, ReadOnlySpan(BoxMath.Encode(anchor, box)))

                  for k in 0..3 do
                      Expect.floatClose Accuracy.medium (float back.[k]) (float box.[k]) "round trip"

              Expect.sequenceEqual (BoxMath.Encode(anchor, anchor)) [| 0.0f; 0.0f; 0.0f; 0.0f |] "anchor → 0"
              // hand case: box centre shifted by half the anchor width, twice as wide
              let e = BoxMath.Encode(anchor, [| 8.0f; 6.0f; 24.0f; 10.0f |])
              Expect.floatClose Accuracy.high (float e.[0]) 1.0 "dx = (16-8)/8"
              Expect.floatClose Accuracy.high (float e.[2]) (log 2.0) "dw = log 2"
          }
          test "focal loss and smooth-L1 match hand computations" {
              use logits = torch.tensor ([| 0.0; 2.0; -1.0 |])
              use labels = torch.tensor ([| 1.0; 0.0; 0.0 |])
              use valid = torch.tensor ([| 1.0; 1.0; 0.0 |])
              let got = scalar (TinyRetinaNet.FocalSum(logits, labels, valid, 0.25, 2.0))
              let sigm x = 1.0 / (1.0 + exp (-x))
              // positive at logit 0: α(1-p)^γ·(-log p); negative at logit 2: (1-α)p^γ·(-log(1-p)); third ignored
              let p0, p1 = sigm 0.0, sigm 2.0
              let expected = 0.25 * (1.0 - p0) ** 2.0 * -(log p0) + 0.75 * p1 ** 2.0 * -(log (1.0 - p1))
              Expect.floatClose Accuracy.high got expected "focal"
              Expect.floatClose Accuracy.high got 1.28088033 "focal (number by hand: 0.0433217 + 1.2375586)"
              use d = torch.tensor([| 0.05; 1.0; 0.0; 0.0; 5.0; 5.0; 5.0; 5.0 |]).reshape(1L, 2L, 4L)
              use t = torch.zeros (1L, 2L, 4L, dtype = torch.float64)
              use pos = torch.tensor([| 1.0; 0.0 |]).reshape(1L, 2L)
              let beta = 1.0 / 9.0
              let sl1 = scalar (TinyRetinaNet.SmoothL1Sum(d, t, pos, beta))
              Expect.floatClose Accuracy.high sl1 (0.5 * 0.05 * 0.05 / beta + (1.0 - 0.5 * beta)) "smooth L1 over positives only"
          }
          test "detector: anchors, shapes, matching gives every box a positive, loss finite without positives" {
              torch.manual_seed 2L |> ignore
              use det = new TinyRetinaNet(32, 4, 8)
              Expect.equal det.AnchorCount (8 * 8 * 2 + 4 * 4 * 2) "anchors on P3 and P4"
              use x = torch.rand (3L, 1L, 32L, 32L)
              let heads = det.Heads(x)
              let logits, deltas = heads.Logits, heads.Deltas
              Expect.equal logits.shape [| 3L; 160L |] "logits"
              Expect.equal deltas.shape [| 3L; 160L; 4L |] "deltas"

              let boxes =
                  ResizeArray [ [| [| 10.0f; 10.0f; 15.0f; 15.0f |] |]; [| [| 2.0f; 20.0f; 9.0f; 27.0f |]; [| 20.0f; 3.0f; 26.0f; 9.0f |] |]; [||] ]

              use t = det.Targets(boxes, cpu)
              Expect.isGreaterThanOrEqual t.Positives 3 "one positive per box at least"
              use perImage = t.Labels.sum (1L)
              Expect.equal (perImage.[2L].item<float32>()) 0.0f "no positives on the empty image"
              let l = scalar (det.Loss(x, t))
              Expect.isTrue (Double.IsFinite l && l > 0.0) "loss finite"
              use t0 = det.Targets(ResizeArray [ [||]; [||]; [||] ], cpu)
              Expect.equal t0.Positives 0 "no positives"
              Expect.isTrue (Double.IsFinite(scalar (det.Loss(x, t0)))) "normalised by max(1, 0)"
              // the functional forward with the module's own weights is the same computation
              let l2 = scalar (det.Loss(x, t, ResizeArray(det.Weights |> Seq.map (fun w -> w.detach ()))))
              Expect.floatClose Accuracy.high l2 l "explicit weight list"
          }
          test "NMS keeps the best of overlapping boxes and leaves separate boxes" {
              let boxes =
                  ResizeArray [ PredictedBox(0f, 0f, 10f, 10f, 0.5f); PredictedBox(1f, 0f, 11f, 10f, 0.9f); PredictedBox(20f, 20f, 30f, 30f, 0.3f) ]

              let kept = BoxMath.Nms(boxes, 0.5, 10)
              Expect.equal (kept |> Seq.map (fun b -> b.Score) |> List.ofSeq) [ 0.9f; 0.3f ] "suppressed the 0.5 box"
              Expect.equal (BoxMath.Nms(ResizeArray(), 0.5, 10)).Count 0 "no candidates"
          }
          test "detector training lowers the loss and predictions come back in the image" {
              let data = ScanData.generate { ScanData.easySpec with Labelled = 16; Clean = 1; Test = 4 } 7
              let cfg = { DetGanExperiment.quick with Batch = 8; LrDet = 3e-3 }
              use det = DetectorTrainer.create cfg 1 torch.float32 cpu
              use x = ScanTensors.images 32 data.Labelled torch.float32 cpu
              use t = ScanTensors.targets det (data.Labelled |> Seq.map (fun s -> s.Boxes)) cpu
              let before = scalar (det.Loss(x, t))

              use run =
                  AutoDesign.Runs.Run.Open(
                      { AutoDesign.Runs.RunOptions.Default with
                          Root = IO.Path.Combine(IO.Path.GetTempPath(), "detgan-" + string (Guid.NewGuid())) },
                      "det",
                      "test.detector/1",
                      1
                  )

              DetectorTrainer.train run cfg det data.Labelled [||] 60 3 "test detector" cpu
              let after = scalar (det.Loss(x, t))
              Expect.isLessThan after (0.7 * before) "loss decreased"
              let preds = ScanTensors.predict det 32 data.Test cpu
              Expect.equal preds.Count 4 "one list per image"

              for p in Seq.concat preds do
                  Expect.isTrue (p.Box.X0 >= 0.0 && p.Box.X1 <= 32.0 && p.Score >= 0.05) "inside, above threshold"
          }
          test "generator, PatchGAN and box crops: shapes; generator starts near the identity" {
              torch.manual_seed 3L |> ignore
              use g = new MaskedResNetGenerator(4L, 2)
              use d = new PatchDiscriminator(4L)
              use x = torch.rand (2L, 1L, 32L, 32L)

              use m =
                  BoxOps.Masks(ResizeArray [ [| [| 4.0f; 4.0f; 10.0f; 10.0f |] |]; [| [| 0.5f; 0.0f; 3.2f; 2.0f |] |] ], 32, torch.float32, cpu)

              Expect.equal (m.sum().item<float32>()) (36.0f + 8.0f) "mask pixels (6×6, and 4×2 after rounding outwards)"
              use y = g.forward (x, m)
              Expect.equal y.shape [| 2L; 1L; 32L; 32L |] "G output"
              Expect.isLessThan ((y - x).abs().mean().Item()) 0.2 "residual output starts close to the input"
              Expect.equal (d.forward(x).shape) [| 2L; 1L; 7L; 7L |] "global PatchGAN"
              use crops = BoxOps.CropResize(x, ResizeArray [ [| 4.0f; 4.0f; 10.0f; 10.0f |]; [| 0.0f; 0.0f; 32.0f; 32.0f |] ], 16)
              Expect.equal crops.shape [| 2L; 1L; 16L; 16L |] "crops"
              Expect.equal (d.forward(crops).shape) [| 2L; 1L; 3L; 3L |] "local PatchGAN"
          }
          test "history pool returns batches of the input's shape and stores at most its capacity" {
              use pool = new HistoryPool(3, 1)

              for _ in 1..5 do
                  use _ = torch.NewDisposeScope()
                  use x = torch.rand (2L, 1L, 8L, 8L)
                  Expect.equal (pool.Query(x).shape) [| 2L; 1L; 8L; 8L |] "shape"

              Expect.equal pool.Count 3 "capacity"
              // a pool restored from a snapshot answers the next queries exactly as the original
              let snap = AutoDesign.Runs.Snapshot.Empty()
              let saved: AutoDesign.Runs.IStateful = pool
              saved.Capture(snap, "pool/")
              use copy = new HistoryPool(3, 99)
              let restored: AutoDesign.Runs.IStateful = copy
              restored.Restore(snap, "pool/")

              for k in 1..4 do
                  use _ = torch.NewDisposeScope()
                  use x = torch.ones(2L, 1L, 8L, 8L).Mul(float k)
                  Expect.isTrue (pool.Query(x).eq(copy.Query(x)).all().item<bool>()) "same images shown after a restore"
          }
          test "unrolled real-image loss: autograd gradient w.r.t. generator weights matches finite differences (float64)" {
              torch.manual_seed 4L |> ignore
              let f64 = torch.float64
              use g = new MaskedResNetGenerator(2L, 1, f64)
              use det = new TinyRetinaNet(16, 2, 4, f64)
              let data = ScanData.generate { ScanData.easySpec with Size = 16; Labelled = 2; Clean = 2; Test = 1 } 5
              let ins = ScanData.insertionBoxes data 6
              use real = ScanTensors.images 16 data.Labelled f64 cpu
              use clean = ScanTensors.images 16 data.Clean f64 cpu
              use mask = ScanTensors.masks 16 (ins |> Seq.map (fun i -> [ i.Target ])) f64 cpu
              use realT = ScanTensors.targets det (data.Labelled |> Seq.map (fun s -> s.Boxes)) cpu
              use synT = ScanTensors.targets det (ins |> Seq.map (fun i -> [ i.Target ])) cpu
              // the detector's Adam after two real steps (non-zero moments), as in the joint loop
              use opt = new SafeAdam(det.parameters (), lr = 2e-3)

              for _ in 1..2 do
                  opt.zero_grad ()
                  let l = det.Loss(real, realT)
                  l.backward ()
                  opt.step () |> ignore

              let f () =
                  use syn = g.forward (clean, mask)
                  Losses.unrolledRealLoss det opt real realT syn synT

              g.zero_grad ()
              (f ()).backward()
              let ps = g.parameters () |> Array.ofSeq
              let analytic = ps |> Array.map (fun p -> p.grad.clone ())
              let total = analytic |> Array.sumBy (fun a -> a.abs().sum().Item())
              Expect.isGreaterThan total 1e-8 "the generator receives a gradient through the unrolled step"
              let rng = Random(8)
              let eps = 1e-6

              for _ in 1..12 do
                  let pi = rng.Next ps.Length
                  let p = ps.[pi]
                  let k = int64 (rng.Next(int (p.numel ())))
                  use flat = p.detach().view(-1L)
                  let orig = flat.[k].Item()

                  let set (v: float) =
                      use _ = torch.no_grad ()
                      flat.[k] <- torch.tensor (v, f64)

                  let eval v =
                      set v
                      scalar (f ())

                  let up = eval (orig + eps)
                  let down = eval (orig - eps)
                  set orig
                  let fd = (up - down) / (2.0 * eps)
                  let an = analytic.[pi].view(-1L).[k].Item()
                  Expect.isLessThan (abs (fd - an)) (1e-5 + 1e-3 * abs an) (sprintf "param %d[%d]: autograd %g vs finite difference %g" pi k an fd)
          }
          test "Adam look-ahead equals the step the optimizer then takes (the unrolled update is the actual one)" {
              torch.manual_seed 9L |> ignore
              use det = new TinyRetinaNet(16, 2, 4)
              let data = ScanData.generate { ScanData.easySpec with Size = 16; Labelled = 4; Clean = 1; Test = 1 } 3
              use x = ScanTensors.images 16 data.Labelled torch.float32 cpu
              use t = ScanTensors.targets det (data.Labelled |> Seq.map (fun s -> s.Boxes)) cpu
              use opt = new SafeAdam(det.parameters (), lr = 2e-3, weight_decay = 1e-4)

              for step in 1..3 do
                  let grads = torch.autograd.grad (ResizeArray [ det.Loss(x, t) ], ResizeArray det.Weights)
                  let ahead = opt.LookAhead(ResizeArray grads) |> Seq.map (fun w -> w.detach().clone()) |> Array.ofSeq
                  opt.zero_grad ()
                  let l = det.Loss(x, t)
                  l.backward ()
                  opt.step () |> ignore

                  Seq.iteri2
                      (fun i (w: torch.Tensor) (a: torch.Tensor) ->
                          let diff = (w.detach () - a).abs().max().Item()
                          Expect.isLessThan diff 1e-6 (sprintf "step %d, weight %d: look-ahead vs Adam's step differ by %g" step i diff))
                      det.Weights
                      ahead
          } ]
