namespace AutoDesign.Reproduce

open System.IO
open TorchSharp
open AutoDesign.Runs
open AutoDesign.Plots
open AutoDesign.Data
open AutoDesign.Reproduce.Data
open AutoDesign.Nn
open AutoDesign.Metrics

/// Foundation baseline: a small MLP on the embedded 10k MNIST digits (80/20 split), trained with
/// the run engine (Fit). It exercises data layer + run folder + checkpoints end to end; no thesis number.
module FoundationMnist =
    /// Accuracy of `model` on the examples `idx` of `ds` (batched, no grad).
    let accuracy (model: torch.nn.Module<torch.Tensor, torch.Tensor>) (ds: Dataset) (idx: int[]) (device: torch.Device) =
        use _ = torch.no_grad ()
        model.eval ()

        let correct =
            Loader.batches 0 0 false 500 idx
            |> Seq.sumBy (fun b ->
                use _ = torch.NewDisposeScope()
                let batch = Loader.toTensors ds b device
                let x, y = batch.ImageTensor, batch.LabelTensor
                Classification.correct (model.forward x) y)

        model.train ()
        float correct / float idx.Length

    let mlp: Experiment =
        { System = "foundation"
          Name = "mnist-mlp"
          Description = "MLP 784-256-128-10 with Adam on the embedded 10k MNIST digits, 80/20 split"
          Run =
            fun ctx ->
                let epochs = if ctx.Quick then 3 else 15
                let ds = Datasets.load "mnist"

                let trainIdx, testIdx =
                    match List.ofSeq (Splits.split ctx.Seed ds.Count [ 0.8; 0.2 ]) with
                    | [ a; b ] -> a, b
                    | other -> failwithf "expected two splits, got %d" other.Length

                use run =
                    Run.Open(
                        { RunOptions.Default with Root = ctx.RunsRoot },
                        "foundation/mnist-mlp",
                        "foundation.mnist-mlp/1",
                        {| Model = "MLP 784-256-128-10"
                           Optimizer = "Adam"
                           LearningRate = 1e-3
                           Batch = 64
                           Epochs = epochs
                           Train = trainIdx.Length
                           Test = testIdx.Length
                           Seed = ctx.Seed
                           Device = string ctx.Device |}
                    )

                let rows =
                    if run.IsFinished then
                        run.Result<(string * float) list list>()
                    else
                        torch.manual_seed (int64 ctx.Seed) |> ignore
                        let model = Mlp.Create(784L, [| 256L; 128L |], 10L)
                        model.``to`` (ctx.Device) |> ignore
                        let opt = new SafeAdam(model.parameters (), lr = 1e-3)

                        let loss (b: int[]) =
                            let batch = Loader.toTensors ds b ctx.Device
                            let x, y = batch.ImageTensor, batch.LabelTensor
                            torch.nn.functional.cross_entropy (model.forward x, y)

                        let spec =
                            { Fit.spec "foundation/mnist-mlp" model opt loss (fun e -> Loader.batches ctx.Seed e true 64 trainIdx |> Array.ofSeq) epochs with
                                EndOfEpoch = fun _ -> [ "test_accuracy", accuracy model ds testIdx ctx.Device ] }

                        let rows =
                            Fit.run run spec
                            |> List.map (
                                List.choose (fun (k, c) ->
                                    match c with
                                    | Cell.Number v -> Some(k, v)
                                    | Cell.Text _ -> None)
                            )

                        run.Finish rows
                        rows

                let accs =
                    List.zip (rows |> List.map (List.find (fst >> (=) "epoch") >> snd)) (rows |> List.map (List.find (fst >> (=) "test_accuracy") >> snd))

                Plot.lines (run.File "accuracy.png") "MNIST MLP: test accuracy" "epoch" "accuracy" [ "test", Array.ofList accs ]

                (use _ = torch.NewDisposeScope()
                 let spread = Array.init (min 32 testIdx.Length) (fun k -> testIdx.[k * testIdx.Length / min 32 testIdx.Length])
                 let batch = Loader.toTensors ds spread torch.CPU
                 let x = batch.ImageTensor
                 ImageGrid.save (run.File "test-samples.png") x 8)

                let acc = snd (List.last accs)

                [ { System = "foundation"
                    Experiment = "mnist-mlp"
                    Claim = "baseline: the run infrastructure trains a plain MLP to a sane MNIST accuracy"
                    Thesis = "—"
                    Measured = sprintf "test accuracy %.2f%% (%d test digits)" (100.0 * acc) testIdx.Length
                    Config = sprintf "%s: %d epochs, batch 64, Adam 1e-3, seed %d" (if ctx.Quick then "quick" else "full") epochs ctx.Seed
                    Data = sprintf "MNIST, the 10k digits embedded in the repo (%d train / %d test split)" trainIdx.Length testIdx.Length } ]
          Parts = ExperimentPart.none
          Figures =
            fun ctx ->
                let dir = Path.Combine(ctx.RunsRoot, "foundation", "mnist-mlp")

                [ ReportFigure.create "MNIST MLP: test accuracy per epoch" (Path.Combine(dir, "accuracy.png"))
                  ReportFigure.create "32 test digits" (Path.Combine(dir, "test-samples.png")) ] }
