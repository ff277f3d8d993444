module AutoDesign.Tests.D2nnMixedTaskTests

open System
open Expecto
open AutoDesign
open AutoDesign.Reproduce.Data
open AutoDesign.D2NN
open AutoDesign.Reproduce.D2NN

let private mnist = lazy (Datasets.loadMnist ())
let private pool = [| 0..299 |] |> Array.map (fun i -> i * 30)
let private digit (d: int) = mnist.Value.Images[d * 784 .. d * 784 + 783]
let private canvas (x: float32[]) (i: int) = x[i * 784 .. i * 784 + 783]

[<Tests>]
let tests =
    testList
        "d2nn.mixed"
        [ test "shrink averages the source pixels of each target pixel (2×2 blocks at 14, the digit itself at 28)" {
              let d = 4321
              let img = digit d
              let half = Cluttered.shrink mnist.Value d 14

              for r in 0..13 do
                  for c in 0..13 do
                      let block =
                          [ for dr in 0..1 do
                                for dc in 0..1 -> img[(2 * r + dr) * 28 + 2 * c + dc] ]

                      Expect.floatClose Accuracy.high (float half[r * 14 + c]) (float (List.sum block / 4.0f)) (sprintf "pixel %d,%d" r c)

              Expect.sequenceEqual (Cluttered.shrink mnist.Value d 28) img "no shrinking at 28"
          }
          test "mixed canvases: deterministic in (seed, stream); clean ones are the digit; hard ones hold the shrunk digit under clutter" {
              let cfg = Cluttered.mixedConfig
              let x, y, hard = Cluttered.generateMixed mnist.Value pool 400 cfg 5 1L
              let x2, y2, hard2 = Cluttered.generateMixed mnist.Value pool 400 cfg 5 1L
              let x3, _, _ = Cluttered.generateMixed mnist.Value pool 400 cfg 5 2L
              Expect.sequenceEqual x x2 "same seed and stream, same canvases"
              Expect.sequenceEqual y y2 "same labels"
              Expect.sequenceEqual hard hard2 "same difficulty"
              Expect.isFalse (x = x3) "another stream, other canvases"
              Expect.all x (fun v -> v >= 0.0f && v <= 1.0f) "pixel range"
              // half clean: 400 fair draws fall in 200 ± 40 with probability > 0.9999
              let nHard = hard |> Array.filter id |> Array.length
              Expect.isTrue (nHard > 160 && nHard < 240) (sprintf "%d of 400 hard" nHard)

              for i in 0..399 do
                  let c = canvas x i
                  let ofLabel = pool |> Array.filter (fun d -> mnist.Value.Labels[d] = y[i])

                  if not hard[i] then
                      Expect.isTrue (ofLabel |> Array.exists (fun d -> digit d = c)) (sprintf "clean canvas %d is a digit of its label" i)
                  else
                      // the shrunk digit's ink is all on the canvas (clutter only adds, by maximum)
                      let holds (d: int) (k: int) =
                          let s = Cluttered.shrink mnist.Value d k

                          seq {
                              for y0 in 0 .. 28 - k do
                                  for x0 in 0 .. 28 - k -> y0, x0
                          }
                          |> Seq.exists (fun (y0, x0) ->
                              seq {
                                  for r in 0 .. k - 1 do
                                      for q in 0 .. k - 1 -> c[(y0 + r) * 28 + x0 + q] >= s[r * k + q]
                              }
                              |> Seq.forall id)

                      let found = ofLabel |> Array.exists (fun d -> [ cfg.MinScale .. cfg.MaxScale ] |> List.exists (holds d))
                      Expect.isTrue found (sprintf "hard canvas %d holds a shrunk digit of its label" i)
                      Expect.isTrue (Array.sum c > 0.0f) "ink"
          }
          test "bad mixed settings raise one clear error" {
              let bad cfg fragment =
                  Expect.throwsC (fun () -> Cluttered.generateMixed mnist.Value pool 2 cfg 1 1L |> ignore) (fun e ->
                      match e with
                      | UserError msg -> Expect.stringContains msg fragment "message"
                      | e -> failtestf "not a UserError: %O" e)

              bad { Cluttered.mixedConfig with MinScale = 20; MaxScale = 12 } "scales"
              bad { Cluttered.mixedConfig with MaxScale = 29 } "scales"
              bad { Cluttered.mixedConfig with MinFragments = 9 } "fragment counts"
              bad { Cluttered.mixedConfig with FragmentSide = 0 } "fragment side"
          }
          test "the mixed task: sizes, digit-0-vs-rest labels, 10-class labels, validation apart from training" {
              let two = Cluttered.mixedTask 2 300 100 200 1
              let ten = Cluttered.mixedTask 10 300 100 200 1
              Expect.equal (two.TrainY.Length, two.ValY.Length, two.TestY.Length) (300, 100, 200) "sizes"
              Expect.sequenceEqual two.TrainX.shape [| 300L; 1L; 28L; 28L |] "canvas shape"
              Expect.equal two.Metric (F1 1) "F1 of digit 0"
              Expect.equal ten.Metric Accuracy "accuracy"
              // the same canvases, labels mapped: 1 exactly where the digit is 0
              Expect.sequenceEqual two.TrainY (ten.TrainY |> Array.map (fun l -> if l = 0 then 1 else 0)) "binary labels"
              Expect.isTrue (ten.TrainY |> Array.distinct |> Array.length = 10) "all ten digits"
              Expect.isFalse (two.ValX.allclose (two.TrainX.narrow (0L, 0L, 100L))) "validation canvases differ from training"
              // clean canvases are whole digits: training and validation ones from the seed's 8,000, test ones from the other 2,000
              let perm = AutoDesign.Data.Shuffle.permutation 1 0L 10000

              let key (a: float32[]) =
                  let b = Array.zeroCreate<byte>(a.Length * 4)
                  Buffer.BlockCopy(a, 0, b, 0, b.Length)
                  Convert.ToBase64String b

              let index = Collections.Generic.Dictionary<string, int>()

              for k in 0..9999 do
                  index[key (digit perm[k])] <- k

              let positions (x: TorchSharp.torch.Tensor) =
                  let a = x.contiguous().data<float32>().ToArray()

                  [ for i in 0 .. int (x.shape[0]) - 1 do
                        match index.TryGetValue(key (canvas a i)) with
                        | true, k -> yield k
                        | _ -> () ]

              let train, valid, test = positions ten.TrainX, positions ten.ValX, positions ten.TestX
              Expect.isTrue (train.Length > 100 && valid.Length > 30 && test.Length > 60) "about half the canvases are clean"
              Expect.all (train @ valid) (fun k -> k < 8000) "training and validation digits"
              Expect.all test (fun k -> k >= 8000) "test digits"
              Expect.throwsC (fun () -> Cluttered.mixedTask 3 10 10 10 1 |> ignore) (fun _ -> ())
          }
          test "mixed-task architectures: the same graphs and stored latency tables under their own names" {
              for name, variant in [ "highlow", "-mixed"; "cascade", "-mixed"; "hierarchical", "-mixed"; "highlow", "-mixed-long" ] do
                  let baseArch = D2nnExperiment.architecture name
                  let mixed = D2nnExperiment.architecture (name + variant)
                  Expect.equal (D2nnExperiment.graphName mixed) name "graph name"
                  Expect.equal mixed.Classes baseArch.Classes "classes"
                  let a = Preprocess.compile (baseArch.Build.Invoke())
                  let b = Preprocess.compile (mixed.Build.Invoke())
                  Expect.sequenceEqual b.Order a.Order "same nodes"
                  Expect.equal b.FullCost a.FullCost "same multiplications"
                  let t = (D2nnExperiment.storedLatency mixed).Value
                  let s = (StoredLatency.tables name).Value
                  Expect.equal (t.Table(mixed.Name)).Nodes (s.Table(name)).Nodes "the graph's timings under the mixed name"
                  Expect.equal (t.Cost(mixed.Name, mixed.Reference.Name)).Reference (s.Cost(name, baseArch.Reference.Name)).Reference "reference"
          }
          test "highlow-mixed-long: the mixed task at 400 quick baseline steps (5000 full), λ 0.5 added in quick, in its own run folders" {
              let task = Cluttered.mixedTask 2 40 10 10 1
              let o = { ExperimentOptions.Defaults "runs" with Quick = true }
              let mixed = D2nnExperiment.architecture "highlow-mixed"
              let long = D2nnExperiment.architecture "highlow-mixed-long"
              let steps (a: Architecture) o = (D2nnExperiment.settings a task o 1).BaselineSteps
              Expect.equal (steps mixed o, steps long o) (90, 400) "quick baseline steps"
              Expect.equal (steps mixed { o with Quick = false }, steps long { o with Quick = false }) (5000, 5000) "full baseline steps"
              Expect.equal (D2nnExperiment.folder long o 2) "d2nn/highlow-mixed-long-quick-v2-grid2/seed2" "run folder of the λ grid with 0.5"
              Expect.equal (D2nnExperiment.folder long { o with Quick = false } 2) "d2nn/highlow-mixed-long-v2/seed2" "full run folder"
              Expect.equal (D2nnExperiment.folder mixed o 2) "d2nn/highlow-mixed-quick-v2/seed2" "highlow-mixed's run folder"
              Expect.equal (D2nnExperiment.lambdasFor long o) [ 0.5; 0.9; 0.99 ] "quick λ grid"
              Expect.equal (D2nnExperiment.lambdasFor mixed o) [ 0.9; 0.99 ] "highlow-mixed's quick λ grid"
              Expect.equal (D2nnExperiment.lambdasFor long { o with Quick = false }) (D2nnExperiment.defaultLambdas false) "full λ grid"
              Expect.equal (D2nnExperiment.lambdasFor long { o with Lambdas = Some [ 0.7 ] }) [ 0.7 ] "λ given"

              Expect.equal
                  [ for (name, _, _) in D2nnExperiment.stages long o -> name ]
                  [ "baselines"; "warm-start"; "lambda-0.5"; "lambda-0.9"; "lambda-0.99"; "early-exit" ]
                  "one stage per λ"

              Expect.notEqual (D2nnExperiment.folder long o 2) (D2nnExperiment.folder mixed o 2) "apart from highlow-mixed"
              let t = D2nnExperiment.taskFor long { o with Sizes = { o.Sizes with Train = Some 40; Test = Some 10 } } 1
              Expect.equal t.Data (Cluttered.mixedTask 2 40 10 10 1).Data "the mixed task"
              Expect.isSome (D2nnExperiment.earlyExitOf long) "the early-exit arm"
          } ]
