namespace AutoDesign.Reproduce.UniLoss

open System
open System.IO
open TorchSharp
open AutoDesign.Nn
open AutoDesign.Runs
open AutoDesign.UniLoss

/// The outcome of one run.
type ExpResult = { Loss: string; Rows: ExpEpochRow list; Final: float; Dir: string }

/// The configuration that names one training run (its run folder's identity).
type ExpRunConfig = { Task: string; Data: string; Train: int; Test: int; Metric: string; Loss: ExpLoss; Schedule: ExpTrainConfig }

/// One (task, loss, config) trained to completion as a run of the engine: weights, optimizer, the UniLoss's
/// random streams and torch's generator are checkpointed (every epoch and every 2 minutes), so a killed run
/// resumes to the result an uninterrupted one gives.
module ExpRun =
    let kind = "uniloss.train/4"

    let private metricName (m: ExpMetric) =
        match m with
        | AveragePrecision -> "AP"
        | Accuracy -> "acc"

    let private rowOf (r: (string * Cell) list) =
        let num = ExpLoop.number r

        { Epoch = int (num "epoch"); TrainLoss = num "train_loss"; TestMetric = num "test_metric"; Lr = num "lr" }

    /// Train `loss` on `task` under `cfg` in run folder `relPath` under `options.Root`.
    let run (options: RunOptions) (relPath: string) (task: ExpTask) (loss: ExpLoss) (cfg: ExpTrainConfig) (device: torch.Device) : ExpResult =
        let config =
            { Task = task.Name
              Data = task.Data.Name
              Train = task.TrainIdx.Length
              Test = task.TestIdx.Length
              Metric = metricName task.Metric
              Loss = loss
              Schedule = cfg }

        use run = Run.Open(options, relPath, kind, config)
        let steps = (task.TrainIdx.Length + cfg.BatchSize - 1) / cfg.BatchSize

        let rows =
            if run.IsFinished then
                // one row per epoch (the last one possibly partial when the schedule counts steps), in order
                let rows = run.Result<ExpEpochRow list>()
                let epochs = if cfg.Steps > 0 then (cfg.Steps + steps - 1) / steps else cfg.Epochs

                if rows.Length <> epochs then
                    run.DamagedResult(sprintf "holds %d epoch rows; this run has %d epochs" rows.Length epochs)

                rows
                |> List.iteri (fun i r -> if r.Epoch <> i + 1 then run.DamagedResult(sprintf "row %d is for epoch %d, not %d" i r.Epoch (i + 1)))

                rows
            else
                torch.manual_seed (int64 cfg.Seed) |> ignore
                use model = task.MakeModel()
                model.``to`` (device) |> ignore
                use opt = new SafeSGD(model.parameters (), cfg.Lr, momentum = cfg.Momentum, weight_decay = cfg.WeightDecay)
                use runLoss = ExpTrain.makeLoss loss (cfg.Seed * 1000003)
                let state = ExpLoop.state model opt runLoss.Uni
                let mutable total, count = 0.0, 0

                state.AddValue<float * int>(
                    "epoch-loss",
                    Func<_>(fun () -> total, count),
                    Action<_>(fun (t, c) ->
                        total <- t
                        count <- c)
                )

                let batchesOf = Collections.Generic.Dictionary<int, int[][]>()

                let batches epoch =
                    match batchesOf.TryGetValue epoch with
                    | true, b -> b
                    | _ ->
                        batchesOf.Clear()
                        let b = ExpData.batches cfg.Seed epoch true cfg.BatchSize task.TrainIdx
                        batchesOf.[epoch] <- b
                        b

                let label = ExpTrain.lossName loss
                let totalSteps = if cfg.Steps > 0 then cfg.Steps else cfg.Epochs * steps
                let clock = Diagnostics.Stopwatch.StartNew()

                let rows =
                    ExpLoop.run
                        run
                        state
                        label
                        totalSteps
                        steps
                        (fun () ->
                            total <- 0.0
                            count <- 0)
                        (fun info ctx ->
                            match
                                ExpTrain.trainStep cfg loss runLoss model opt task.Prep task.Data (batches info.Epoch) info.Epoch info.StepInEpoch device
                            with
                            | Some v ->
                                total <- total + v
                                count <- count + 1
                                ctx.Show [ "epoch", float (info.Epoch + 1); "loss", v ]
                            | None -> ())
                        (fun epoch ctx ->
                            if count = 0 then
                                Errors.fail
                                    "%s: no batch of epoch %d held both classes, so the loss had nothing to train on (%d training images in batches of %d); use more training images"
                                    label
                                    (epoch + 1)
                                    task.TrainIdx.Length
                                    cfg.BatchSize

                            let metric = ExpTrain.evaluate task.Metric model task.Prep task.Data task.TestIdx device
                            let trainLoss = total / float count
                            ctx.Row [ "epoch", float (epoch + 1); "train_loss", trainLoss; "test_metric", metric; "lr", ExpTrain.lrAt cfg epoch ]

                            printfn
                                "  [%s] epoch %d/%d  train loss %.4f  test %s %.4f  (%.1f s)"
                                label
                                (epoch + 1)
                                cfg.Epochs
                                trainLoss
                                (metricName task.Metric)
                                metric
                                clock.Elapsed.TotalSeconds)
                        rowOf

                Safetensors.save (run.File "model.safetensors") (model.state_dict ())

                Csv.writeNumbers
                    (run.File "metrics.csv")
                    [ for r in rows -> [ "epoch", float r.Epoch; "train_loss", r.TrainLoss; "test_metric", r.TestMetric; "lr", r.Lr ] ]

                run.Finish rows
                rows

        let final =
            match List.tryLast rows with
            | Some r -> r.TestMetric
            | None -> nan

        { Loss = ExpTrain.lossName loss; Rows = rows; Final = final; Dir = run.Dir }
