namespace AutoDesign.Reproduce.UniLoss

open System
open System.IO
open System.Diagnostics
open TorchSharp
open AutoDesign.Nn
open AutoDesign.Runs
open AutoDesign.UniLoss
open AutoDesign.Metrics

/// The outcome of one run.
type ExpResult =
    { Loss: string
      Rows: ExpEpochRow list
      Final: float
      Dir: string }

/// Runs one (task, loss, config) to completion in its own folder, resuming after a kill: after
/// every epoch the weights, the optimizer state and metrics.csv are written atomically.
module ExpRun =
    let private csvHeader = "epoch,train_loss,test_metric,lr,seconds"

    let private rowToCsv (r: ExpEpochRow) =
        String.Join(",", [| string r.Epoch; r.TrainLoss.ToString("R"); r.TestMetric.ToString("R"); r.Lr.ToString("R"); r.Seconds.ToString("F2") |])

    let private parseRows (path: string) =
        if not (File.Exists path) then []
        else
            File.ReadAllLines path
            |> Array.skip 1
            |> Array.filter (fun l -> l.Trim() <> "")
            |> Array.map (fun l ->
                let f = l.Split ','
                try
                    { Epoch = int f.[0]; TrainLoss = float f.[1]; TestMetric = float f.[2]; Lr = float f.[3]; Seconds = float f.[4] }
                with _ -> Errors.fail "metrics file %s is corrupt (line '%s'); delete the run folder to start over" path l)
            |> List.ofArray

    let writeCsv (path: string) (rows: ExpEpochRow list) =
        Atomic.writeAllText path (String.Join("\n", csvHeader :: (rows |> List.map rowToCsv)) + "\n")

    /// Learning rate of `epoch` (0-based): divided by 10 at each passed milestone.
    let lrAt (cfg: ExpTrainConfig) (epoch: int) =
        let passed = cfg.Milestones |> List.filter (fun m -> epoch >= m) |> List.length
        cfg.Lr * (0.1 ** float passed)

    /// A stable text describing the run, stored in config.json; a resumed run must match it.
    let describe (task: ExpTask) (loss: ExpLoss) (cfg: ExpTrainConfig) =
        let lossText =
            match loss with
            | CrossEntropy -> "\"cross-entropy\""
            | UniLossAP o | UniLossAccuracy o ->
                let tauEnd = match o.TauEnd with Some t -> sprintf ", \"tau_end\": %g" t | None -> ""
                // options that are off are left out, so run folders written before they existed still resume
                let extra =
                    (if o.NearbyCorrective then ", \"nearby_corrective\": true" else "")
                    + (if o.BoundScores then ", \"bound_scores\": true" else "")
                    + (if o.GradNorm > 0.0 then sprintf ", \"grad_norm\": %g" o.GradNorm else "")
                sprintf "{ \"kind\": \"%s\", \"anchors_per_type\": %d, \"tau\": %g%s, \"power\": %g, \"flip_bits\": %d, \"nearby_unit\": \"%s\"%s }" (ExpTrain.lossName loss) o.AnchorsPerType o.Tau tauEnd o.Power o.FlipBits (string o.NearbyUnit) extra
        sprintf "{\n  \"task\": \"%s\",\n  \"data\": \"%s\",\n  \"train\": %d,\n  \"test\": %d,\n  \"loss\": %s,\n  \"epochs\": %d,\n  \"batch_size\": %d,\n  \"lr\": %g,\n  \"momentum\": %g,\n  \"weight_decay\": %g,\n  \"milestones\": [%s],\n  \"crop_pad\": %s,\n  \"seed\": %d%s\n}\n"
            task.Name task.Data.Name task.TrainIdx.Length task.TestIdx.Length lossText cfg.Epochs cfg.BatchSize cfg.Lr cfg.Momentum cfg.WeightDecay
            (String.Join(", ", cfg.Milestones)) (match cfg.CropPad with Some p -> string p | None -> "null") cfg.Seed
            (if cfg.WarmupSteps > 0 then sprintf ",\n  \"warmup_steps\": %d" cfg.WarmupSteps else "")

    /// Train `loss` on `task` under `cfg` in folder `dir`; prints one line per epoch.
    let run (dir: string) (task: ExpTask) (loss: ExpLoss) (cfg: ExpTrainConfig) (device: torch.Device) : ExpResult =
        Directory.CreateDirectory dir |> ignore
        let configPath = Path.Combine(dir, "config.json")
        let metricsPath = Path.Combine(dir, "metrics.csv")
        let weightsPath = Path.Combine(dir, "model.bin")
        let optPath = Path.Combine(dir, "optimizer.bin")
        let desc = describe task loss cfg
        let mutable rows =
            if File.Exists configPath && File.ReadAllText configPath = desc && File.Exists weightsPath then parseRows metricsPath
            else []
        torch.manual_seed(int64 cfg.Seed) |> ignore
        let model = task.MakeModel()
        model.``to``(device) |> ignore
        let opt = new SafeSGD(model.parameters(), cfg.Lr, momentum = cfg.Momentum, weight_decay = cfg.WeightDecay)
        if not rows.IsEmpty then
            model.load(weightsPath) |> ignore
            if File.Exists optPath then opt.load_state_dict(optPath)
            printfn "  [%s] resuming after epoch %d" (ExpTrain.lossName loss) rows.Length
        else
            Atomic.writeAllText configPath desc
        // Seeded by the epoch it starts at, so a resumed run draws its anchors deterministically.
        let lossFn, setProgress, lossHandle = ExpTrain.makeScheduledLoss loss (cfg.Seed * 1000003 + rows.Length)
        use _ = lossHandle
        for epoch in rows.Length .. cfg.Epochs - 1 do
            let lr = lrAt cfg epoch
            for g in opt.ParamGroups do g.LearningRate <- lr
            let sw = Stopwatch.StartNew()
            let steps = (task.TrainIdx.Length + cfg.BatchSize - 1) / cfg.BatchSize
            // progress inside the epoch (a ResNet-20 epoch takes minutes on a CPU)
            let progress = AutoDesign.Runs.Progress(sprintf "  [%s] epoch %d/%d" (ExpTrain.lossName loss) (epoch + 1) cfg.Epochs, steps)
            let trainLoss =
                ExpTrain.trainEpoch cfg loss lossFn model opt task.Prep task.Data task.TrainIdx epoch device setProgress (fun _ v ->
                    progress.Step [ "loss", v ])
            progress.Done()
            let metric = ExpTrain.evaluate task.Metric model task.Prep task.Data task.TestIdx device
            let row = { Epoch = epoch + 1; TrainLoss = trainLoss; TestMetric = metric; Lr = lr; Seconds = sw.Elapsed.TotalSeconds }
            rows <- rows @ [ row ]
            Atomic.writeWith weightsPath (fun tmp -> model.save(tmp) |> ignore)
            Atomic.writeWith optPath (fun tmp -> opt.save_state_dict(tmp))
            writeCsv metricsPath rows
            printfn "  [%s] epoch %d/%d  train loss %.4f  test %s %.4f  (%.1f s)" (ExpTrain.lossName loss) (epoch + 1) cfg.Epochs trainLoss
                (match task.Metric with AveragePrecision -> "AP" | Accuracy -> "acc") metric row.Seconds
        let final = match List.tryLast rows with Some r -> r.TestMetric | None -> nan
        { Loss = ExpTrain.lossName loss; Rows = rows; Final = final; Dir = dir }
