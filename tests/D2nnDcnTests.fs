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
let private pool = [| 0 .. 199 |] |> Array.map (fun i -> i * 50)

/// Expect a UserError whose message contains `fragment`.
let private failsWith (fragment: string) (f: unit -> unit) =
    try
        f ()
        failtestf "no error; expected one mentioning '%s'" fragment
    with UserError msg -> Expect.stringContains msg fragment "error message"

let private digitSum (d: int) = Array.sum mnist.Value.Images[d * 784 .. d * 784 + 783]

[<Tests>]
let tests =
    testList "d2nn.dcn" [
        test "cluttered MNIST is deterministic in its seed, sized side×side, in 0..1" {
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
            for i in 0 .. 3 do
                let canvas = x[i * 784 .. i * 784 + 783]
                let d = one |> Array.find (fun d -> mnist.Value.Labels[d] = l[i] && canvas = mnist.Value.Images[d * 784 .. d * 784 + 783])
                Expect.equal mnist.Value.Labels[d] l[i] "label of the placed digit"
            // larger canvas: the digit's ink is all there (sum preserved) and fragments never remove ink
            let bare, lb = Cluttered.generate mnist.Value one 6 { Side = 40; Fragments = 0; FragmentSide = 8 } 5
            let clut, lc = Cluttered.generate mnist.Value one 6 { Side = 40; Fragments = 6; FragmentSide = 8 } 5
            for i in 0 .. 5 do
                let s = Array.sum bare[i * 1600 .. i * 1600 + 1599]
                let ok = one |> Array.exists (fun d -> mnist.Value.Labels[d] = lb[i] && abs (s - digitSum d) < 1e-3f)
                Expect.isTrue ok (sprintf "example %d keeps the whole digit" i)
                Expect.isGreaterThanOrEqual (Array.sum clut[i * 1600 .. i * 1600 + 1599]) (Array.max [| for d in one -> if mnist.Value.Labels[d] = lc[i] then digitSum d else 0.0f |] - 1e-3f) "clutter adds ink"
        }
        test "bad cluttered MNIST settings raise one clear error" {
            failsWith "at least 28" (fun () -> Cluttered.generate mnist.Value pool 2 { Side = 20; Fragments = 1; FragmentSide = 8 } 1 |> ignore)
            failsWith "fragment side" (fun () -> Cluttered.generate mnist.Value pool 2 { Side = 40; Fragments = 1; FragmentSide = 30 } 1 |> ignore)
        }
        test "the length-4 chain D²NN is valid, has 4 two-way links, and costs match hand counts" {
            let c = Preprocess.compile (DcnChain.build ())
            let controls = c.Order |> Array.filter (fun n -> c.Roles[n] = NodeRole.Control)
            Expect.sequenceEqual (Array.sort controls) [| "Q1"; "Q2"; "Q3"; "Q4" |] "four control nodes"
            for q in controls do Expect.equal c.Shapes[q] [| 2L |] (q + " has two actions")
            Expect.equal c.Shapes["out"] [| 10L |] "10 class scores"
            // conv 1→8 3×3 stride 2 on 40×40: 8·9·20·20; conv 8→16 1×1 on 20×20: 16·8·400; fc 128→10
            Expect.floatClose Expecto.Accuracy.veryHigh c.Costs["N1"] (8.0 * 9.0 * 400.0) "N1"
            Expect.floatClose Expecto.Accuracy.veryHigh c.Costs["L1"] (16.0 * 8.0 * 400.0) "L1"
            Expect.floatClose Expecto.Accuracy.veryHigh c.Costs["H1"] (16.0 * 8.0 * 9.0 * 400.0) "H1"
            Expect.floatClose Expecto.Accuracy.veryHigh c.Costs["N2"] 1280.0 "head"
            let high = Preprocess.compile (DcnChain.staticPath true ())
            let low = Preprocess.compile (DcnChain.staticPath false ())
            let qCost = controls |> Array.sumBy (fun q -> c.Costs[q])
            // all-low / all-high policies cost exactly the static paths plus the four control nodes
            use _ = torch.NewDisposeScope()
            let x = torch.rand(3L, 1L, 40L, 40L)
            for (action, stat) in [ 0L, low; 1L, high ] do
                let res = c.Executor.Forward([| x |], ActionPolicy(fun _ q _ -> Array.create (int q.shape[0]) action))
                for i in 0 .. 2 do Expect.floatClose Expecto.Accuracy.veryHigh res.Cost[i] (stat.FullCost + qCost) (sprintf "cost with action %d" action)
                Expect.equal res.Values[c.Index["out"]].shape [| 3L; 10L |] "output"
            Expect.isLessThan (low.FullCost * 5.0) high.FullCost "high path is much costlier than the low path"
        }
        test "balanced sampling is refused for a 10-class task" {
            let task = { Name = "t"; Data = "t"; TrainX = torch.zeros(4L, 1L, 40L, 40L); TrainY = [| 0; 1; 2; 3 |]
                         TestX = torch.zeros(1L, 1L, 40L, 40L); TestY = [| 0 |]; Metric = AccuracyMetric.Accuracy; Classes = 10 }
            let c = Preprocess.compile (DcnChain.staticPath false ())
            let spec = { Steps = 1; BatchSize = 2; BagSize = 1; Lr = 1e-3; EpsilonSteps = 1; RegularLoss = CrossEntropy 1.0
                         PositiveFraction = Some 0.3; DetachControlInputs = true; Seed = 1; Device = torch.CPU }
            failsWith "binary tasks only" (fun () -> Runner.train c task spec (Reward.tradeoff AccuracyMetric.Accuracy 1.0) 1.0 "out" (fun _ _ -> ()))
        }
    ]
