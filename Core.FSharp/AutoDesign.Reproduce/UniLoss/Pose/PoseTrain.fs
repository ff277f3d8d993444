namespace AutoDesign.Reproduce.UniLoss.Pose

open System
open System.IO
open System.Diagnostics
open TorchSharp
open AutoDesign.Nn
open AutoDesign.Runs
open AutoDesign.UniLoss
open AutoDesign.Reproduce.UniLoss
open AutoDesign.Metrics
open AutoDesign.Nn.UniLoss

/// The loss of one pose run.
type PoseLoss =
    /// MSE against Gaussian target heatmaps of this σ (heatmap pixels).
    | Mse of sigma: float
    /// UniLoss(PCKh) with anchors per type, bit fraction, tau and good-anchor flips.
    | UniLossPckh of anchors: int * bitFraction: float * tau: float * goodFlips: int

/// Training configuration of one pose run (thesis §3.6.2: RMSProp, lr ÷ 4 at each milestone).
type PoseConfig =
    { Channels: int
      Depth: int
      Epochs: int
      Milestones: int list
      BatchSize: int
      Lr: float
      Seed: int }

/// One epoch's record.
type PoseEpoch =
    { Epoch: int; TrainLoss: float; ValPckh: float; TestPckh: float; Lr: float; Seconds: float; MsPerStep: float; Bits: float }

type PoseRunResult =
    { Label: string; Rows: PoseEpoch list; Test: float; Dir: string; MsPerStep: float; Bits: float }

/// Training and evaluation of the single-stack hourglass on a PoseSet, resumable per epoch.
module PoseTrain =
    let lossName = function
        | Mse s -> sprintf "mse-sigma%g" s
        | UniLossPckh (k, f, tau, g) -> sprintf "uniloss-a%d-f%g-t%g-g%d" k f tau g

    let lrAt (cfg: PoseConfig) epoch = cfg.Lr / (4.0 ** float (cfg.Milestones |> List.filter (fun m -> epoch >= m) |> List.length))

    /// Thesis schedule (30 epochs, then ÷4 every 10 until 50) scaled to `epochs`: milestones at 60% and 80%.
    let thesisMilestones (epochs: int) =
        if epochs >= 50 then [ 30; 40 ] else [ int (round (0.6 * float epochs)); int (round (0.8 * float epochs)) ] |> List.filter (fun m -> m > 0 && m < epochs) |> List.distinct

    let makeModel (cfg: PoseConfig) = new Hourglass(1, 1, cfg.Channels, cfg.Depth)

    /// Heatmaps [n, out, out] for the given indices, in evaluation mode, batches of 128.
    let predict (model: Hourglass) (set: PoseSet) (idx: int[]) (device: torch.Device) : float32[] * int =
        model.eval()
        use _ng = torch.no_grad()
        let parts = ResizeArray<float32[]>()
        let mutable out = 0
        for chunk in Array.chunkBySize 128 idx do
            use scope = torch.NewDisposeScope()
            let x = (PoseData.images set chunk).``to``(device)
            let h = model.forward(x)
            out <- int h.shape.[2]
            parts.Add(h.squeeze(1L).cpu().contiguous().data<float32>().ToArray())
        Array.concat parts, out

    /// PCKh (plain arg-max reference) of the model on the indices.
    let evaluate (model: Hourglass) (set: PoseSet) (idx: int[]) (device: torch.Device) =
        if idx.Length = 0 then nan
        else
            let scores, out = predict model set idx device
            PoseMetric.reference out out scores (PoseLabels.labels set out idx)

    let private header = "epoch,train_loss,val_pckh,test_pckh,lr,seconds,ms_per_step,bits_per_batch"

    let private toCsv (r: PoseEpoch) =
        String.Join(",", [| string r.Epoch; r.TrainLoss.ToString("R"); r.ValPckh.ToString("R"); r.TestPckh.ToString("R"); r.Lr.ToString("R"); r.Seconds.ToString("F2"); r.MsPerStep.ToString("F2"); (if Double.IsNaN r.Bits then "" else r.Bits.ToString("F0")) |])

    let private parse (path: string) =
        if not (File.Exists path) then []
        else
            File.ReadAllLines path |> Array.skip 1 |> Array.filter (fun l -> l.Trim() <> "")
            |> Array.map (fun l ->
                let f = l.Split ','
                try { Epoch = int f.[0]; TrainLoss = float f.[1]; ValPckh = float f.[2]; TestPckh = float f.[3]; Lr = float f.[4]; Seconds = float f.[5]; MsPerStep = float f.[6]
                      Bits = (if f.Length > 7 && f.[7] <> "" then float f.[7] else nan) }
                with _ -> Errors.fail "metrics file %s is corrupt (line '%s'); delete the run folder to start over" path l)
            |> List.ofArray

    let describe (set: PoseSet) (loss: PoseLoss) (cfg: PoseConfig) =
        sprintf "{\n  \"data\": \"%s\",\n  \"side\": %d,\n  \"train\": %d,\n  \"val\": %d,\n  \"test\": %d,\n  \"loss\": \"%s\",\n  \"model\": \"single-stack hourglass, %d channels, depth %d\",\n  \"optimizer\": \"RMSProp\",\n  \"lr\": %g,\n  \"lr_drop\": \"divide by 4 at epochs [%s]\",\n  \"epochs\": %d,\n  \"batch_size\": %d,\n  \"seed\": %d\n}\n"
            set.Name set.Side set.Train.Length set.Val.Length set.Test.Length (lossName loss) cfg.Channels cfg.Depth cfg.Lr
            (String.Join(", ", cfg.Milestones)) cfg.Epochs cfg.BatchSize cfg.Seed

    /// Fixed mini-batches: the training indices permuted once by the seed and cut into batches;
    /// each epoch visits the batches in an order drawn from (seed, epoch). Fixed batch contents let
    /// UniLoss reuse its traced refactorization per label batch after the first epoch.
    let batches (set: PoseSet) (cfg: PoseConfig) =
        let rng = Random(cfg.Seed)
        let perm = Array.copy set.Train
        for i in perm.Length - 1 .. -1 .. 1 do
            let j = rng.Next(i + 1)
            let t = perm.[i] in perm.[i] <- perm.[j]; perm.[j] <- t
        Array.chunkBySize cfg.BatchSize perm

    /// Train one run in `dir` (resuming after a kill) and return its record.
    let run (dir: string) (label: string) (set: PoseSet) (loss: PoseLoss) (cfg: PoseConfig) (device: torch.Device) : PoseRunResult =
        Directory.CreateDirectory dir |> ignore
        let configPath, metricsPath = Path.Combine(dir, "config.json"), Path.Combine(dir, "metrics.csv")
        let weightsPath, optPath = Path.Combine(dir, "model.bin"), Path.Combine(dir, "optimizer.bin")
        let desc = describe set loss cfg
        let mutable rows = if File.Exists configPath && File.ReadAllText configPath = desc && File.Exists weightsPath then parse metricsPath else []
        torch.manual_seed(int64 cfg.Seed) |> ignore
        use model = makeModel cfg
        model.``to``(device) |> ignore
        use opt = new SafeRMSProp(model.parameters(), lr = cfg.Lr)
        if not rows.IsEmpty then
            model.load(weightsPath) |> ignore
            if File.Exists optPath then opt.load_state_dict(optPath)
            printfn "  [%s] resuming after epoch %d" label rows.Length
        else Atomic.writeAllText configPath desc
        let out = model.OutputSide set.Side
        let bs = batches set cfg
        let labelsOf = bs |> Array.map (fun b -> PoseLabels.labels set out b)
        let trainImages = bs |> Array.map (fun b -> (PoseData.images set b).``to``(device).DetachFromDisposeScope())
        let targets =
            match loss with
            | Mse sigma -> bs |> Array.mapi (fun i b -> torch.tensor(PoseMetric.gaussianTargets labelsOf.[i] out sigma, device = device).reshape(int64 b.Length, int64 out, int64 out).DetachFromDisposeScope())
            | UniLossPckh _ -> [||]
        let labelT = bs |> Array.mapi (fun i b -> torch.tensor(labelsOf.[i]).reshape(int64 b.Length, 3L).DetachFromDisposeScope())
        let uni =
            match loss with
            | UniLossPckh (k, f, tau, g) ->
                Some (new UniLoss(PoseMetric.pckh, anchorsPerType = k, tau = tau, bitFraction = f, seed = cfg.Seed * 1000003 + rows.Length,
                                  goodFlips = g, nearbyFlips = 1, goodUnit = FlipUnit.Bit, nearbyUnit = FlipUnit.Score))
            | Mse _ -> None
        let progress = Progress(sprintf "  [%s]" label, max 1 ((cfg.Epochs - rows.Length) * bs.Length))
        try
            for epoch in rows.Length .. cfg.Epochs - 1 do
                let lr = lrAt cfg epoch
                for g in opt.ParamGroups do g.LearningRate <- lr
                let sw = Stopwatch.StartNew()
                let order = Array.init bs.Length id
                let rng = Random(cfg.Seed * 7919 + epoch)
                for i in order.Length - 1 .. -1 .. 1 do
                    let j = rng.Next(i + 1)
                    let t = order.[i] in order.[i] <- order.[j]; order.[j] <- t
                let mutable lossSum = 0.0
                let mutable bitsSum, bitsN = 0.0, 0
                model.train()
                for bi in order do
                    use scope = torch.NewDisposeScope()
                    opt.zero_grad()
                    let h = model.forward(trainImages.[bi]).squeeze(1L)   // [B, out, out]
                    let l =
                        match loss with
                        | Mse _ -> torch.nn.functional.mse_loss(h, targets.[bi])
                        | UniLossPckh _ ->
                            let u = uni.Value
                            let v = u.Forward(h, labelT.[bi])
                            bitsSum <- bitsSum + float u.LastBits
                            bitsN <- bitsN + 1
                            v
                    l.backward()
                    opt.step() |> ignore
                    let v = l.item<float32>() |> float
                    if Double.IsNaN v then Errors.fail "%s: the training loss became NaN at epoch %d (diverged?)" label (epoch + 1)
                    lossSum <- lossSum + v
                    progress.Step [ "epoch", float (epoch + 1); "loss", v ]
                let trainSeconds = sw.Elapsed.TotalSeconds
                let valP = evaluate model set set.Val device
                let testP = evaluate model set set.Test device
                let row = { Epoch = epoch + 1; TrainLoss = lossSum / float order.Length; ValPckh = valP; TestPckh = testP; Lr = lr
                            Seconds = sw.Elapsed.TotalSeconds; MsPerStep = 1000.0 * trainSeconds / float order.Length
                            Bits = (if bitsN = 0 then nan else bitsSum / float bitsN) }
                rows <- rows @ [ row ]
                Atomic.writeWith weightsPath (fun tmp -> model.save(tmp) |> ignore)
                Atomic.writeWith optPath (fun tmp -> opt.save_state_dict(tmp))
                Atomic.writeAllText metricsPath (String.Join("\n", header :: (rows |> List.map toCsv)) + "\n")
                printfn "  [%s] epoch %d/%d  loss %.4f  val PCKh %.2f  test PCKh %.2f  (%.1f s, %.0f ms/step)" label (epoch + 1) cfg.Epochs row.TrainLoss (100.0 * valP) (100.0 * testP) row.Seconds row.MsPerStep
            progress.Done()
        finally
            uni |> Option.iter (fun u -> (u :> IDisposable).Dispose())
            for t in trainImages do t.Dispose()
            for t in targets do t.Dispose()
            for t in labelT do t.Dispose()
        // the predicted vs true joints on 16 test images
        let show = set.Test |> Array.truncate 16
        let scores, outSide = predict model set show device
        let pred = PoseMetric.argmaxCorrect outSide outSide scores (PoseLabels.labels set outSide show) |> Array.map (fun (_, r, c) -> PoseMetric.toImage set.Side outSide r c)
        use grid = PoseData.marked set show (Some pred)
        ImageGrid.save (Path.Combine(dir, "test_predictions.png")) grid 8
        let last = List.tryLast rows
        { Label = label; Rows = rows; Test = (match last with Some r -> r.TestPckh | None -> nan); Dir = dir
          MsPerStep = (if rows.IsEmpty then nan else rows |> List.averageBy (fun r -> r.MsPerStep))
          Bits = (match last with Some r -> r.Bits | None -> nan) }
