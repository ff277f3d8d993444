module AutoDesign.Tests.UnilossExpTests

open System
open System.IO
open Expecto
open Argu
open TorchSharp
open AutoDesign.Nn
open AutoDesign.Runs
open AutoDesign.UniLoss
open AutoDesign.Reproduce.UniLoss
open AutoDesign.Metrics
open AutoDesign.Nn.UniLoss
open AutoDesign.Cli.Commands.Uniloss

/// Plain-loop AP: for each positive (distinct scores), precision at its rank; averaged.
let private referenceAp (scores: float[]) (pos: bool[]) =
    let n = scores.Length

    let precisions =
        [ for i in 0 .. n - 1 do
              if pos.[i] then
                  let mutable above = 0
                  let mutable posAbove = 0

                  for j in 0 .. n - 1 do
                      if scores.[j] >= scores.[i] then
                          above <- above + 1
                          if pos.[j] then posAbove <- posAbove + 1

                  yield float posAbove / float above ]

    List.average precisions

/// A synthetic 1:4 binary set: positives carry a bright 6×6 patch, everything has noise.
let private synthetic (n: int) (seed: int) : AutoDesign.Data.Dataset =
    let rng = Random(seed)
    let labels = Array.init n (fun i -> if i % 5 = 0 then 1 else 0)

    let images =
        [| for i in 0 .. n - 1 do
               for p in 0..783 do
                   let r, c = p / 28, p % 28
                   let patch = labels.[i] = 1 && r >= 10 && r < 16 && c >= 10 && c < 16
                   yield float32 (rng.NextDouble() * 0.6 + (if patch then 0.35 else 0.0)) |]

    { Name = "synthetic"; Images = images; Labels = labels; Height = 28; Width = 28; Count = n; Source = "synthetic" }

/// The plan of `autodesign uniloss <argv>`.
let internal planOf (argv: string[]) =
    let g, r = AutoDesign.Cli.Program.parse (Array.append [| "uniloss" |] argv)
    AutoDesign.Cli.Commands.Uniloss.plan g (r.GetResult AutoDesign.Cli.Args.AutoDesignArgs.Uniloss)

[<Tests>]
let tests =
    testList
        "uniloss.experiments"
        [ test "MLP maps [B,1,28,28] to [B,2] and ResNet-20 to [B,10] with ~0.27M parameters" {
              use _ = torch.NewDisposeScope()
              let mlp = UniLossModels.Mlp(2)
              let x = torch.rand ([| 4L; 1L; 28L; 28L |])
              Expect.sequenceEqual (mlp.forward(x).shape) [| 4L; 2L |] "MLP output shape"
              let net = UniLossModels.ResNet20(1, 10)
              net.eval ()
              Expect.sequenceEqual (net.forward(x).shape) [| 4L; 10L |] "ResNet-20 output shape"
              let count = net.parameters () |> Seq.sumBy (fun p -> p.numel ())
              Expect.isTrue (count > 260000L && count < 285000L) (sprintf "ResNet-20 has %d parameters" count)
              let convs = net.modules () |> Seq.filter (fun m -> m :? TorchSharp.Modules.Conv2d) |> Seq.length
              Expect.equal convs 21 "1 stem + 18 block convs + 2 projection shortcuts"
          }
          test "crop+flip keeps the shape, is deterministic per seed and varies across seeds" {
              use _ = torch.NewDisposeScope()
              torch.manual_seed 5L |> ignore
              let x = torch.rand ([| 8L; 1L; 28L; 28L |])
              let a = Augment.CropFlip(x, 2, 42L)
              let b = Augment.CropFlip(x, 2, 42L)
              let c = Augment.CropFlip(x, 2, 43L)
              Expect.sequenceEqual a.shape x.shape "shape"
              Expect.isTrue (a.eq(b).all().item<bool>()) "same seed, same output"
              Expect.isFalse (a.eq(c).all().item<bool>()) "another seed, another output"
          }
          test "crop+flip with pad 0 returns each image or its mirror image" {
              use _ = torch.NewDisposeScope()
              let x = torch.rand ([| 16L; 1L; 5L; 7L |])
              let y = Augment.CropFlip(x, 0, 9L)
              let xs = x.data<float32>().ToArray()
              let ys = y.data<float32>().ToArray()
              let mutable flipped = 0

              for i in 0..15 do
                  let same = Seq.forall (fun p -> ys.[i * 35 + p] = xs.[i * 35 + p]) [ 0..34 ]
                  let mirror = Seq.forall (fun p -> ys.[i * 35 + p] = xs.[i * 35 + (p / 7) * 7 + 6 - p % 7]) [ 0..34 ]
                  Expect.isTrue (same || mirror) (sprintf "image %d is neither itself nor its mirror" i)
                  if mirror then flipped <- flipped + 1

              Expect.isTrue (flipped > 0 && flipped < 16) "some images flipped, some not"
          }
          test "crop+flip with padding shifts content: a pixel moves by at most pad" {
              use _ = torch.NewDisposeScope()

              let x =
                  torch.tensor (
                      [| for _ in 1..32 do
                             for p in 0..80 -> (if p = 40 then 1.0f else 0.0f) |],
                      System.ReadOnlySpan<int64>([| 32L; 1L; 9L; 9L |])
                  )

              let y = Augment.CropFlip(x, 2, 1L)
              let ys = y.data<float32>().ToArray()

              for i in 0..31 do
                  let hits =
                      [ for p in 0..80 do
                            if ys.[i * 81 + p] = 1.0f then yield p / 9, p % 9 ]

                  Expect.equal hits.Length 1 "the centre pixel stays inside the crop"
                  let r, c = hits.Head
                  Expect.isTrue (abs (r - 4) <= 2 && abs (c - 4) <= 2) "moved at most pad"
          }
          test "average precision matches scikit-learn's example" {
              let ap = AveragePrecision.ofScores [| 0.1; 0.4; 0.35; 0.8 |] [| false; false; true; true |]
              Expect.floatClose Accuracy.veryHigh ap 0.8333333333333333 "sklearn docs value"
          }
          Properties.seeded 60 "average precision equals the plain-loop reference on distinct scores"
          <| fun _ rng ->
              let n = 2 + rng.Next 40
              let scores = Array.init n (fun i -> rng.NextDouble() + float i * 1e-9)
              let pos = Array.init n (fun i -> i = 0 || rng.NextDouble() < 0.3)
              abs (AveragePrecision.ofScores scores pos - referenceAp scores pos) < 1e-12
          test "a short UniLoss(AP) run lowers the loss and raises test AP on a tiny set" {
              let ds = synthetic 500 3

              let task =
                  { Name = "synthetic"
                    Data = ds
                    TrainIdx = [| 0..399 |]
                    TestIdx = [| 400..499 |]
                    Metric = AveragePrecision
                    MakeModel = (fun () -> UniLossModels.Mlp(2) :> _)
                    Prep = fun x -> x.alias () }

              torch.manual_seed 1L |> ignore
              let model = task.MakeModel()
              let before = ExpTrain.evaluate AveragePrecision model task.Prep ds task.TestIdx torch.CPU
              let dir = Path.Combine(Path.GetTempPath(), sprintf "ule-test-%s" (Guid.NewGuid().ToString("N")))

              try
                  let cfg =
                      { Epochs = 4
                        BatchSize = 50
                        Lr = 0.05
                        Momentum = 0.9
                        WeightDecay = 0.0
                        Milestones = []
                        CropPad = None
                        Seed = 1
                        WarmupSteps = 0
                        Steps = 0 }

                  let options = { RunOptions.Default with Root = dir }
                  let res = ExpRun.run options "a" task (UniLossAP ExpUniLossOptions.Defaults) cfg torch.CPU
                  let first, last = res.Rows.Head, List.last res.Rows
                  Expect.isLessThan last.TrainLoss first.TrainLoss "training loss goes down"
                  Expect.isGreaterThan res.Final before "test AP improves"
                  Expect.isGreaterThan res.Final 0.9 "the patch is easy to rank"
                  Expect.isTrue (File.Exists(Path.Combine(dir, "a", "model.safetensors"))) "weights in safetensors"
                  // The same config again returns the stored result without training; another config is refused.
                  let again = ExpRun.run options "a" task (UniLossAP ExpUniLossOptions.Defaults) cfg torch.CPU
                  Expect.equal again.Rows res.Rows "stored result"

                  Expect.throwsT<UserError>
                      (fun () -> ExpRun.run options "a" task (UniLossAP ExpUniLossOptions.Defaults) { cfg with Epochs = 1 } torch.CPU |> ignore)
                      "other config refused"
              finally
                  if Directory.Exists dir then Directory.Delete(dir, true)
          }
          test "accuracy-resnet20 at a tiny size: its parts finish the run folders the experiment then assembles from" {
              let dir = Path.Combine(Path.GetTempPath(), sprintf "ule-parts-%s" (Guid.NewGuid().ToString("N")))

              try
                  let s =
                      { UnilossExp.defaultSettings torch.CPU with
                          Options = { RunOptions.Default with Root = dir }
                          TrainSize = Some 256
                          Epochs = Some 1
                          Runs = 2 }

                  let p, _ = UnilossAccuracy.accuracyPlan s

                  for (_, run) in UnilossExp.parts s p do
                      run ()

                  let finished = Directory.GetFiles(dir, "metrics.csv", SearchOption.AllDirectories)
                  Expect.equal finished.Length 8 "2 seeds x 4 arms"
                  let rows = UnilossAccuracy.accuracy s
                  Expect.equal rows.Length 4 "CE, thesis form, library defaults, extended"
                  Expect.stringContains rows.[2].Claim "default options" "the library-defaults arm"
                  Expect.stringContains rows.[2].Measured "95% CI" "its paired interval against CE"
                  Expect.stringContains rows.[2].Config "automatic scale" "its config names the automatic scale"
                  Expect.stringContains rows.[1].Config "b* among the good anchors" "the thesis-form arm says which of the authors' choices it keeps"
                  Expect.stringContains rows.[1].Measured "95% CI" "paired interval over 2 seeds"
                  Expect.equal (Directory.GetFiles(dir, "metrics.csv", SearchOption.AllDirectories).Length) 8 "assembling trained nothing new"
              finally
                  if Directory.Exists dir then Directory.Delete(dir, true)
          }
          test "a linear lr warm-up scales the first steps' lr and then restores the epoch's lr" {
              let ds = synthetic 200 5
              torch.manual_seed 1L |> ignore
              let model = UniLossModels.Mlp(2)
              let opt = new SafeSGD(model.parameters (), 0.1, momentum = 0.9)

              let cfg =
                  { Epochs = 2
                    BatchSize = 50
                    Lr = 0.1
                    Momentum = 0.9
                    WeightDecay = 0.0
                    Milestones = [ 1 ]
                    CropPad = None
                    Seed = 1
                    WarmupSteps = 6
                    Steps = 0 }

              use runLoss = ExpTrain.makeLoss CrossEntropy 1
              let seen = ResizeArray<float>()

              for epoch in 0..1 do
                  let batches = ExpData.batches cfg.Seed epoch true cfg.BatchSize [| 0..199 |]

                  for bi in 0 .. batches.Length - 1 do
                      ExpTrain.trainStep cfg CrossEntropy runLoss model opt (fun x -> x.alias ()) ds batches epoch bi torch.CPU |> ignore
                      seen.Add (Seq.head opt.ParamGroups).LearningRate
              // 4 steps per epoch; step g (0-based over the run) uses lr_epoch · min(1, (g+1)/6)
              let expected = [ for g in 0..7 -> (if g < 4 then 0.1 else 0.01) * min 1.0 (float (g + 1) / 6.0) ]
              Expect.sequenceEqual (seen |> Seq.map (fun v -> Math.Round(v, 12))) (expected |> List.map (fun v -> Math.Round(v, 12))) "warm-up lr per step"
          }
          test "CLI parses uniloss ap with its options" {
              match
                  planOf
                      [| "ap"
                         "--quick"
                         "--data"
                         "fashion"
                         "--class"
                         "3"
                         "--seed"
                         "5"
                         "--seeds"
                         "2"
                         "--device"
                         "cpu"
                         "--tau"
                         "0.5"
                         "--anchors"
                         "10" |]
              with
              | PlanAp(s, data, cls) ->
                  Expect.equal (data, cls) ("fashion", 3) "data and class"
                  Expect.isTrue s.Quick "quick"
                  Expect.equal (s.Seed, s.Runs, s.Tau, s.Anchors, s.Power) (5, 2, Some 0.5, Some 10, None) "settings"
              | other -> failtestf "wrong plan %A" other
          }
          test "CLI parses uniloss accuracy and ablation" {
              match planOf [| "accuracy"; "--epochs"; "3"; "--train-size"; "1000" |] with
              | PlanAccuracy s -> Expect.equal (s.Quick, s.Epochs, s.TrainSize) (false, Some 3, Some 1000) "accuracy settings"
              | other -> failtestf "wrong plan %A" other

              match planOf [| "ablation"; "--which"; "anchors"; "--quick"; "--power"; "2" |] with
              | PlanAblation(s, which) -> Expect.equal (which, s.Quick, s.Power) ("anchors", true, Some 2.0) "ablation"
              | other -> failtestf "wrong plan %A" other

              match planOf [| "ablation"; "--which"; "anchors-acc" |] with
              | PlanAblation(_, which) -> Expect.equal which "anchors-acc" "accuracy row of Table 3.4"
              | other -> failtestf "wrong plan %A" other
          }
          test "CLI rejects bad uniloss values with a UserError" {
              Expect.throwsT<ArguParseException> (fun () -> planOf [| "ap"; "--data"; "cifar" |] |> ignore) "unknown data"
              Expect.throwsT<UserError> (fun () -> planOf [| "ap"; "--class"; "11" |] |> ignore) "class range"
              Expect.throwsT<ArguParseException> (fun () -> planOf [| "accuracy"; "--device"; "tpu" |] |> ignore) "device"
              Expect.throwsT<ArguParseException> (fun () -> planOf [| "ablation"; "--which"; "lr" |] |> ignore) "which"
              Expect.throwsT<UserError> (fun () -> planOf [| "accuracy"; "--seeds"; "0" |] |> ignore) "runs"
              Expect.throwsT<UserError> (fun () -> planOf [| "ap"; "--power"; "0" |] |> ignore) "power"
              // ap and accuracy share one union of options; each refuses the ones only the other takes
              Expect.throwsT<UserError> (fun () -> planOf [| "ap"; "--uni-warmup"; "5" |] |> ignore) "uni-warmup is accuracy's"
              Expect.throwsT<UserError> (fun () -> planOf [| "accuracy"; "--data"; "mnist" |] |> ignore) "data is ap's"
              Expect.throwsT<UserError> (fun () -> planOf [| "accuracy"; "--class"; "0" |] |> ignore) "class is ap's"

              match planOf [| "accuracy"; "--uni-warmup"; "5" |] with
              | PlanAccuracy s -> Expect.equal s.UniWarmup (Some 5) "accuracy takes --uni-warmup"
              | other -> failtestf "wrong plan %A" other
          } ]
