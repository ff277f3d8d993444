module AutoDesign.Tests.D2nnEarlyExitTests

open System
open System.IO
open Expecto
open TorchSharp
open AutoDesign.Runs
open AutoDesign.D2NN
open AutoDesign.Reproduce.D2NN
open AutoDesign.Tests.D2nnSweepTests

let private failsWith (fragment: string) (f: unit -> unit) =
    let msg =
        try
            f ()
            ""
        with UserError m ->
            m

    Expect.stringContains msg fragment "the UserError says why"

/// A tiny early-exit network on 8 features: stage 1 a linear exit, stage 2 a wider MLP.
let private toy () =
    torch.manual_seed 3L |> ignore
    let lin i o () = torch.nn.Linear(int64 i, int64 o) :> Layers.M

    EarlyExitCascade(
        [| 8L |],
        [| ExitStage.Of("B1", Func<_>(lin 8 8), "x", "H1", Func<_>(lin 8 2))
           ExitStage.Last("B2", Func<_>(fun () -> Layers.seq [ lin 8 32 (); Layers.relu (); lin 32 2 () ]), "B1") |],
        2
    )

let private toyTask () =
    torch.manual_seed 5L |> ignore
    let x = torch.randn (96L, 8L)
    let v = x.data<float32>().ToArray()
    let y = Array.init 96 (fun i -> if v[i * 8] + v[i * 8 + 1] > 0.0f then 1 else 0)

    splitTask "toy" "random features (test)" x y

[<Tests>]
let tests =
    testSequenced
    <| testList
        "d2nn.early-exit"
        [ test "threshold 0 leaves every example at the first exit, above 1 none, and the final exit then equals the static path" {
              let net = toy ()
              let task = toyTask ()
              let c = net.Network
              let first = c.CostOf [ "B1"; "H1" ]
              let all = c.CostOf [ "B1"; "H1"; "B2" ]
              let e0 = net.Evaluate(task, TestSplit, 0.0, all)
              Expect.floatClose Accuracy.high e0.Mults first "stage 1 and its exit only"
              Expect.isTrue (e0.Paths |> Array.forall (fun p -> p = "B1+H1")) "every example leaves at H1"
              let e2 = net.Evaluate(task, TestSplit, 2.0, all)
              Expect.floatClose Accuracy.high e2.Mults all "every stage"
              // the final exit alone, computed by hand
              use _ = torch.NewDisposeScope()
              c.Train false
              let m name = c.Plan.Nodes[c.Index[name]].Function.Module :?> Layers.M
              use _ng = torch.no_grad ()
              let byHand = (m "B2").call((m "B1").call(task.TestX)).argmax(1L).data<int64>().ToArray() |> Array.map int
              Expect.equal e2.Predictions byHand "threshold above 1: the last stage's prediction"
              let mid = net.Evaluate(task, TestSplit, 0.9, all)
              Expect.isTrue (mid.Mults >= e0.Mults && mid.Mults <= e2.Mults) "cost between the extremes"
          }
          test "an example leaves exactly when its exit's max softmax reaches the threshold" {
              let net = toy ()
              let task = toyTask ()
              let c = net.Network
              use _ = torch.NewDisposeScope()
              c.Train false
              let m name = c.Plan.Nodes[c.Index[name]].Function.Module :?> Layers.M

              let conf =
                  use _ng = torch.no_grad ()
                  (m "H1").call((m "B1").call(task.TestX)).softmax(1L).amax([| 1L |]).data<float32>().ToArray()

              let t = (Array.sort conf)[conf.Length / 2] |> float
              let e = net.Evaluate(task, TestSplit, t, 1.0)

              for i in 0 .. conf.Length - 1 do
                  let left = e.Paths[i] = "B1+H1"
                  Expect.equal left (float conf[i] >= t) (sprintf "example %d (confidence %g, threshold %g)" i conf[i] t)
          }
          test "joint training trains every exit and is a resumable run of the engine" {
              let net = toy ()
              let task = toyTask ()
              let root = TempDir.fresh "exit"
              let before = [ for p in net.Network.Parameters -> p.detach().clone() ]
              let opts = { TrainOptions.Default with Steps = 6; BatchSize = 16; Seed = 2 }
              use run = Run.Open({ RunOptions.Default with Root = root }, "exit", "test.exit/1", opts)
              net.Train(run, task, opts, [| 1.0; 0.5 |], torch.CPU, 3) |> ignore
              let after = [ for p in net.Network.Parameters -> p.detach () ]
              let changed = List.map2 (fun (a: torch.Tensor) (b: torch.Tensor) -> not (a.allclose (b))) before after
              Expect.isTrue (List.forall id changed) "every parameter (both exits' paths) moved"
              Expect.isTrue (File.Exists(Path.Combine(run.Dir, "metrics.csv"))) "metrics rows"
          }
          test "bad stages are refused with the reason" {
              let lin () = torch.nn.Linear(8L, 2L) :> Layers.M

              failsWith "needs an exit head" (fun () ->
                  EarlyExitCascade([| 8L |], [| ExitStage.Last("B1", Func<_>(lin), "x"); ExitStage.Last("B2", Func<_>(lin), "x") |], 2)
                  |> ignore)

              failsWith "neither the input x nor an earlier" (fun () -> EarlyExitCascade([| 8L |], [| ExitStage.Last("B1", Func<_>(lin), "B9") |], 2) |> ignore)
              failsWith "at least one stage" (fun () -> EarlyExitCascade([| 8L |], [||], 2) |> ignore)
              let net = toy ()
              failsWith "threshold must be >= 0" (fun () -> net.Threshold <- -0.5)
          }
          test "selection takes the cheapest candidate within the tolerance of the reference, else the most accurate" {
              let xs = [ 0.80, 0.2; 0.895, 0.5; 0.91, 0.9; 0.905, 0.7 ]
              let pick reference = Selection.cheapestWithin 0.01 reference (Func<_, _>(fst)) (Func<_, _>(snd)) xs
              Expect.equal (pick 0.90) (0.895, 0.5) "cheapest within 0.01"
              Expect.equal (pick 0.95) (0.91, 0.9) "none within: the most accurate"
              Expect.equal (pick 0.50) (0.80, 0.2) "all within: the cheapest"
              failsWith "no candidate" (fun () -> Selection.cheapestWithin 0.01 0.9 (Func<_, _>(fst)) (Func<_, _>(snd)) ([]: (float * float) list) |> ignore)
          }
          test "the sweep's early-exit arm trains once for the D2NN's total steps and scores every threshold on both splits" {
              let task = tinyTask ()
              let ctx = tinyContext Architectures.highLow task 2
              Sweep.openSweep ctx
              let curve = Sweep.earlyExitRun ctx (Func<_>(Architectures.highLowEarlyExit)) [| 0.0; 0.9; 2.0 |]
              Expect.equal (curve |> Array.map (fun p -> p.Threshold)) [| 0.0; 0.9; 2.0 |] "one point per threshold"

              Expect.isTrue
                  (curve
                   |> Array.forall (fun p -> not (isNull (box p.Result.Validation)) && p.Result.Validation.Counts.ChunkSizes |> Array.sum = 16))
                  "validation scored on the 16 held-out images"

              Expect.isTrue (curve[0].Result.Cost < curve[2].Result.Cost) "threshold 0 is the cheap path, 2 the full one"
              Expect.isTrue (curve[2].Result.Cost >= 1.0) "above 1: the High NN's multiplications and the low exit's"
              let again = Sweep.earlyExitRun ctx (Func<_>(Architectures.highLowEarlyExit)) [| 0.0; 0.9; 2.0 |]
              Expect.equal (again |> Array.map (fun p -> p.Result.Metric)) (curve |> Array.map (fun p -> p.Result.Metric)) "a finished run is read back"
          }
          test "the 10-class Fashion-MNIST task keeps every label and carves validation apart from training" {
              let t = Tasks.fashionTen 300 100 200 4
              Expect.equal (t.TrainY.Length, t.ValY.Length, t.TestY.Length) (300, 100, 200) "sizes"
              Expect.equal (t.TrainX.shape, t.TestX.shape) ([| 300L; 1L; 28L; 28L |], [| 200L; 1L; 28L; 28L |]) "images"
              Expect.equal (t.Metric, t.Classes) (Accuracy, 10) "accuracy over ten classes"
              Expect.equal (Array.distinct t.TrainY |> Array.sort) [| 0..9 |] "every class in training, labels unchanged"
              Expect.isTrue (Tasks.confusableTops |> Array.forall (fun c -> Array.contains c t.TestY)) "the confusable tops are in the test split"
              // the labels are Fashion-MNIST's own: the same rows of the dataset under the same seed
              let again = Tasks.fashionTen 300 100 200 4
              Expect.equal (again.TrainY, again.ValY, again.TestY) (t.TrainY, t.ValY, t.TestY) "deterministic in the seed"
              Expect.notEqual (Tasks.fashionTen 300 100 200 5).TrainY t.TrainY "another seed, another subset"
              // no validation image is a training image (row sums as a fingerprint of each image)
              let sums (x: torch.Tensor) = x.reshape(x.shape[0], -1L).sum(1L).data<float32>().ToArray() |> Set.ofArray
              Expect.isTrue (Set.intersect (sums t.TrainX) (sums t.ValX) |> Set.count < 3) "training and validation images are different images"
              failsWith "do not fit" (fun () -> Tasks.fashionTen 59900 200 10 1 |> ignore)
              failsWith "at least 1 example" (fun () -> Tasks.fashionTen 100 20 0 1 |> ignore)
          }
          test "the 10-class fast cascade: 10-class exits, two-action control nodes, the early exit under the same node names" {
              let arch = D2nnExperiment.architecture "cascade-fashion10"
              Expect.equal arch.Classes 10 "ten classes"
              torch.manual_seed 1L |> ignore
              let c = Preprocess.compile (arch.Build.Invoke())
              use _ = torch.NewDisposeScope()
              c.Train false
              let x = torch.rand (3L, 1L, 28L, 28L)
              let m name = c.Plan.Nodes[c.Index[name]].Function.Module :?> Layers.M
              use _ng = torch.no_grad ()
              let f1 = (m "N1").call x
              Expect.equal ((m "N2").call f1).shape [| 3L; 10L |] "exit 1 scores ten classes"
              Expect.equal ((m "Q1").call f1).shape [| 3L; 2L |] "Q1 stops or continues"
              Expect.equal ((m "N7").call((m "N5").call((m "N3").call f1))).shape [| 3L; 10L |] "the trunk scores ten classes"
              let exit = FastCascade.earlyExit10 ()

              for n in [ "N1"; "N2"; "N3"; "N4"; "N5"; "N6"; "N7" ] do
                  Expect.isTrue (exit.Network.Index.ContainsKey n) (sprintf "the early exit has %s" n)

              Expect.equal (exit.Network.CostOf [ "N1"; "N3"; "N5"; "N7" ]) (c.CostOf [ "N1"; "N3"; "N5"; "N7" ]) "the same trunk"
              Expect.equal (D2nnExperiment.earlyExitOf arch).IsSome true "reproduce trains its early-exit arm"
          } ]
