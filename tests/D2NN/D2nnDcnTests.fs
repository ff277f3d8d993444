module AutoDesign.Tests.D2nnDcnTests

open Expecto
open TorchSharp
open AutoDesign.Runs
open AutoDesign.Data
open AutoDesign.Reproduce.Data
open AutoDesign.D2NN
open AutoDesign.Reproduce.D2NN
open AutoDesign.Nn.D2NN

let private mnist = lazy (Datasets.loadMnist ())
let private pool = [| 0..199 |] |> Array.map (fun i -> i * 50)

/// Expect a UserError whose message contains `fragment`.
let private failsWith (fragment: string) (f: unit -> unit) =
    try
        f ()
        failtestf "no error; expected one mentioning '%s'" fragment
    with UserError msg ->
        Expect.stringContains msg fragment "error message"

let private digitSum (d: int) = Array.sum mnist.Value.Images[d * 784 .. d * 784 + 783]

[<Tests>]
let tests =
    testList
        "d2nn.dcn"
        [ test "cluttered MNIST is deterministic in its seed, sized side×side, in 0..1" {
              let cfg = Cluttered.defaultConfig
              let a, la = Cluttered.generate mnist.Value pool 20 cfg 7
              let b, lb = Cluttered.generate mnist.Value pool 20 cfg 7
              let c, _ = Cluttered.generate mnist.Value pool 20 cfg 8
              Expect.equal a.Length (20 * cfg.Side * cfg.Side) "pixels"
              Expect.equal la.Length 20 "labels"
              Expect.sequenceEqual a b "same seed, same images"
              Expect.sequenceEqual la lb "same seed, same labels"
              Expect.isFalse (a = c) "another seed, other images"
              Expect.all a (fun v -> v >= 0.0f && v <= 1.0f) "pixel range"
              Expect.all la (fun l -> l >= 0 && l <= 9) "digit labels"
          }
          test "without clutter the canvas holds exactly the digit; clutter only adds ink" {
              // side 28, no fragments: the canvas is the digit itself (position 0,0), label included
              let one = [| 1234; 5678 |]
              let x, l = Cluttered.generate mnist.Value one 4 { Side = 28; Fragments = 0; FragmentSide = 8 } 3

              for i in 0..3 do
                  let canvas = x[i * 784 .. i * 784 + 783]
                  let d = one |> Array.find (fun d -> mnist.Value.Labels[d] = l[i] && canvas = mnist.Value.Images[d * 784 .. d * 784 + 783])
                  Expect.equal mnist.Value.Labels[d] l[i] "label of the placed digit"
              // larger canvas: the digit's ink is all there (sum preserved) and fragments never remove ink
              let bare, lb = Cluttered.generate mnist.Value one 6 { Side = 40; Fragments = 0; FragmentSide = 8 } 5
              let clut, lc = Cluttered.generate mnist.Value one 6 { Side = 40; Fragments = 6; FragmentSide = 8 } 5

              for i in 0..5 do
                  let s = Array.sum bare[i * 1600 .. i * 1600 + 1599]
                  let ok = one |> Array.exists (fun d -> mnist.Value.Labels[d] = lb[i] && abs (s - digitSum d) < 1e-3f)
                  Expect.isTrue ok (sprintf "example %d keeps the whole digit" i)

                  Expect.isGreaterThanOrEqual
                      (Array.sum clut[i * 1600 .. i * 1600 + 1599])
                      (Array.max [| for d in one -> if mnist.Value.Labels[d] = lc[i] then digitSum d else 0.0f |] - 1e-3f)
                      "clutter adds ink"
          }
          test "bad cluttered MNIST settings raise one clear error" {
              failsWith "at least 28" (fun () -> Cluttered.generate mnist.Value pool 2 { Side = 20; Fragments = 1; FragmentSide = 8 } 1 |> ignore)
              failsWith "fragment side" (fun () -> Cluttered.generate mnist.Value pool 2 { Side = 40; Fragments = 1; FragmentSide = 30 } 1 |> ignore)
          }
          test "the length-4 chain D²NN is valid, its low branches are identities, and costs match hand counts" {
              let c = Preprocess.compile (DcnChain.build ())
              let controls = c.Order |> Array.filter (fun n -> c.Roles[n] = NodeRole.Control)
              Expect.sequenceEqual (Array.sort controls) [| "Q1"; "Q2"; "Q3"; "Q4" |] "four control nodes"

              for q in controls do
                  Expect.equal c.Shapes[q] [| 2L |] (q + " has two actions")

              Expect.equal c.Shapes["out"] [| 10L |] "10 class scores"
              // conv 1→16 3×3 stride 2 on 40×40: 16·9·20·20; H1 conv 16→16 3×3 on 20×20; N13 conv 16→96 4×4 on 5×5 → 2×2, fc 96→10
              Expect.floatClose Expecto.Accuracy.veryHigh c.Costs["N1"] (16.0 * 9.0 * 400.0) "N1"

              for k in 1..4 do
                  Expect.equal c.Costs[sprintf "L%d" k] 0.0 (sprintf "L%d is an identity" k)

              Expect.floatClose Expecto.Accuracy.veryHigh c.Costs["H1"] (16.0 * 16.0 * 9.0 * 400.0) "H1"
              Expect.floatClose Expecto.Accuracy.veryHigh c.Costs["H4"] (16.0 * 16.0 * 9.0 * 25.0) "H4"
              Expect.floatClose Expecto.Accuracy.veryHigh c.Costs["N13"] (96.0 * 16.0 * 16.0 * 4.0 + 960.0) "N13"
              let high = Preprocess.compile (DcnChain.staticPath true ())
              let low = Preprocess.compile (DcnChain.staticPath false ())
              let qCost = controls |> Array.sumBy (fun q -> c.Costs[q])
              // all-low / all-high policies cost exactly the static paths plus the four control nodes
              use _ = torch.NewDisposeScope()
              let x = torch.rand (3L, 1L, 40L, 40L)

              for (action, stat) in [ 0L, low; 1L, high ] do
                  let res = c.Executor.Forward([| x |], ActionPolicy(fun _ q _ -> Array.create (int q.shape[0]) action))

                  for i in 0..2 do
                      Expect.floatClose Expecto.Accuracy.veryHigh res.Cost[i] (stat.FullCost + qCost) (sprintf "cost with action %d" action)

                  Expect.equal res.Values[c.Index["out"]].shape [| 3L; 10L |] "output"

              Expect.isLessThan (low.FullCost * 5.0) high.FullCost "high path is much costlier than the low path"
          }
          test "the DCN-style baseline attends k cells, its cost grows by one fine pass per cell, and it trains" {
              torch.manual_seed 4L |> ignore
              let m = DcnGlimpse.create ()
              let m0, m4 = DcnGlimpse.multiplications m 0, DcnGlimpse.multiplications m 4
              let fine = DcnGlimpse.multiplications m 1 - m0
              // fine layers on a 12×12 patch: conv 1→16 (12×12), conv 16→16 (6×6), conv 16→16 3×3 to 1×1
              Expect.floatClose Expecto.Accuracy.veryHigh fine (16.0 * 9.0 * 144.0 + 16.0 * 16.0 * 9.0 * 36.0 + 16.0 * 16.0 * 9.0) "one fine pass"
              Expect.floatClose Expecto.Accuracy.veryHigh (m4 - m0) (4.0 * fine) "four cells"
              use _ = torch.NewDisposeScope()
              let x = torch.rand (5L, 1L, 40L, 40L)
              let coarse, refined, hint = DcnGlimpse.forward m x 3
              Expect.equal coarse.shape [| 5L; 10L |] "coarse logits"
              Expect.equal refined.shape [| 5L; 10L |] "refined logits"
              Expect.isFalse (torch.allclose (coarse, refined)) "attended cells change the prediction"
              let c0, r0, _ = DcnGlimpse.forward m x 0
              Expect.isTrue (torch.allclose (c0, r0)) "k = 0 is the coarse model"
              Expect.isTrue (hint.requires_grad) "the hint loss trains the coarse layers"
          }
          test "balanced sampling is refused for a 10-class task" {
              let task =
                  { Name = "t"
                    Data = "t"
                    TrainX = torch.zeros (4L, 1L, 40L, 40L)
                    TrainY = [| 0; 1; 2; 3 |]
                    ValX = torch.zeros (1L, 1L, 40L, 40L)
                    ValY = [| 0 |]
                    TestX = torch.zeros (1L, 1L, 40L, 40L)
                    TestY = [| 0 |]
                    Metric = AccuracyMetric.Accuracy
                    Classes = 10 }

              failsWith "binary tasks only" (fun () -> BatchSampler(task, 2, 0.3, System.Random 1) |> ignore)
          } ]
