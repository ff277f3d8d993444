namespace AutoDesign.Reproduce.UniLoss.Pose

open System
open System.Diagnostics
open TorchSharp
open AutoDesign.Nn
open AutoDesign.Runs
open AutoDesign.Plots
open AutoDesign.UniLoss
open AutoDesign.Reproduce.UniLoss
open AutoDesign.Nn.UniLoss

/// The loss of one pose run.
type PoseLoss =
    /// MSE against Gaussian target heatmaps of this σ (heatmap pixels).
    | Mse of sigma: float
    /// UniLoss(PCKh) with anchors per type, bit fraction, tau and good-anchor flips.
    | UniLossPckh of anchors: int * bitFraction: float * tau: float * goodFlips: int

/// Training configuration of one pose run (thesis §3.6.2: RMSProp, lr ÷ 4 at each milestone).
type PoseConfig = { Channels: int; Depth: int; Epochs: int; Milestones: int list; BatchSize: int; Lr: float; Seed: int }

/// One epoch's record.
type PoseEpoch = { Epoch: int; TrainLoss: float; ValPckh: float; TestPckh: float; Lr: float; Bits: float }

/// The configuration that names one pose run (its run folder's identity).
type PoseRunConfig = { Data: string; Side: int; Train: int; Val: int; Test: int; Loss: PoseLoss; Schedule: PoseConfig }

type PoseRunResult = { Label: string; Rows: PoseEpoch list; Test: float; Dir: string; MsPerStep: float; Bits: float }

/// The fixed training batches `idx` of a pose run as tensors on `device`: images [B, 1, side, side], labels [B, 3]
/// for heatmaps of side `out`, and (for an MSE arm, sigma given) Gaussian target heatmaps [B, out, out].
type PoseBatches(set: PoseSet, idx: int[][], out: int, sigma: float option, device: torch.Device) =
    let labelsOf = idx |> Array.map (fun b -> PoseLabels.labels set out b)
    let images = idx |> Array.map (fun b -> (PoseData.images set b).``to``(device).DetachFromDisposeScope())

    let targets =
        match sigma with
        | Some sigma ->
            idx
            |> Array.mapi (fun i b ->
                torch
                    .tensor(PoseMetric.gaussianTargets labelsOf.[i] out sigma, device = device)
                    .reshape(int64 b.Length, int64 out, int64 out)
                    .DetachFromDisposeScope())
        | None -> [||]

    let labels = idx |> Array.mapi (fun i b -> torch.tensor(labelsOf.[i]).reshape(int64 b.Length, 3L).DetachFromDisposeScope())

    member _.Images = images
    member _.Targets = targets
    member _.Labels = labels

    interface IDisposable with
        member _.Dispose() =
            for t in Array.concat [ images; targets; labels ] do
                t.Dispose()

/// Training and evaluation of the single-stack hourglass on a PoseSet, resumable per epoch.
module PoseTrain =
    let lossName =
        function
        | Mse s -> sprintf "mse-sigma%g" s
        | UniLossPckh(k, f, tau, g) -> sprintf "uniloss-a%d-f%g-t%g-g%d" k f tau g

    let lrAt (cfg: PoseConfig) epoch = cfg.Lr / (4.0 ** float (cfg.Milestones |> List.filter (fun m -> epoch >= m) |> List.length))

    /// Thesis schedule (30 epochs, then ÷4 every 10 until 50) scaled to `epochs`: milestones at 60% and 80%.
    let thesisMilestones (epochs: int) =
        if epochs >= 50 then
            [ 30; 40 ]
        else
            [ int (round (0.6 * float epochs)); int (round (0.8 * float epochs)) ]
            |> List.filter (fun m -> m > 0 && m < epochs)
            |> List.distinct

    let makeModel (cfg: PoseConfig) = new Hourglass(1, 1, cfg.Channels, cfg.Depth)

    /// Heatmaps [n, out, out] for the given indices, in evaluation mode, batches of 128.
    let predict (model: Hourglass) (set: PoseSet) (idx: int[]) (device: torch.Device) : float32[] * int =
        model.eval ()
        use _ng = torch.no_grad ()
        let parts = ResizeArray<float32[]>()
        let mutable out = 0

        for chunk in Array.chunkBySize 128 idx do
            use scope = torch.NewDisposeScope()
            let x = (PoseData.images set chunk).``to``(device)
            let h = model.forward (x)
            out <- int h.shape.[2]
            parts.Add(h.squeeze(1L).cpu().contiguous().data<float32>().ToArray())

        Array.concat parts, out

    /// PCKh (plain arg-max reference) of the model on the indices.
    let evaluate (model: Hourglass) (set: PoseSet) (idx: int[]) (device: torch.Device) =
        if idx.Length = 0 then
            nan
        else
            let scores, out = predict model set idx device
            PoseMetric.reference out out scores (PoseLabels.labels set out idx)

    /// Fixed mini-batches: the training indices permuted once by the seed and cut into batches;
    /// each epoch visits the batches in an order drawn from (seed, epoch). Fixed batch contents let
    /// UniLoss reuse its traced refactorization per label batch after the first epoch.
    let batches (set: PoseSet) (cfg: PoseConfig) = AutoDesign.Data.Shuffle.shuffled cfg.Seed -1L set.Train |> Array.chunkBySize cfg.BatchSize

    let private rowOf (r: (string * Cell) list) =
        let num = ExpLoop.number r

        { Epoch = int (num "epoch")
          TrainLoss = num "train_loss"
          ValPckh = num "val_pckh"
          TestPckh = num "test_pckh"
          Lr = num "lr"
          Bits = num "bits_per_batch" }

    /// Train one run in run folder `relPath` (a run of the engine: a killed run resumes exactly) and return its record.
    let run (options: RunOptions) (relPath: string) (label: string) (set: PoseSet) (loss: PoseLoss) (cfg: PoseConfig) (device: torch.Device) : PoseRunResult =
        let config =
            { Data = set.Name
              Side = set.Side
              Train = set.Train.Length
              Val = set.Val.Length
              Test = set.Test.Length
              Loss = loss
              Schedule = cfg }

        use run = Run.Open(options, relPath, "uniloss.pose/2", config)
        torch.manual_seed (int64 cfg.Seed) |> ignore
        use model = makeModel cfg
        model.``to`` (device) |> ignore

        let rows, msPerStep =
            if run.IsFinished then
                let r = run.Result<{| Rows: PoseEpoch list; MsPerStep: float |}>()
                model.load_state_dict (Safetensors.load (run.File "model.safetensors")) |> ignore
                r.Rows, r.MsPerStep
            else
                use opt = new SafeRMSProp(model.parameters (), lr = cfg.Lr)
                let out = model.OutputSide set.Side
                let bs = batches set cfg

                use data =
                    new PoseBatches(
                        set,
                        bs,
                        out,
                        (match loss with
                         | Mse sigma -> Some sigma
                         | UniLossPckh _ -> None),
                        device
                    )

                let uni =
                    match loss with
                    | UniLossPckh(k, f, tau, g) ->
                        Some(
                            new UniLoss(
                                PoseMetric.pckh,
                                anchorsPerType = k,
                                tau = tau,
                                bitFraction = f,
                                seed = cfg.Seed * 1000003,
                                goodFlips = g,
                                nearbyFlips = 1,
                                goodUnit = FlipUnit.Bit,
                                nearbyUnit = FlipUnit.Score,
                                autoScale = 0.0
                            )
                        )
                    | Mse _ -> None

                let state = ExpLoop.state model opt uni
                let mutable lossSum, bitsSum, bitsN = 0.0, 0.0, 0

                state.AddValue<float * float * int>(
                    "epoch-sums",
                    Func<_>(fun () -> lossSum, bitsSum, bitsN),
                    Action<_>(fun (a, b, c) ->
                        lossSum <- a
                        bitsSum <- b
                        bitsN <- c)
                )

                let orderOf epoch = AutoDesign.Data.Shuffle.permutation cfg.Seed (int64 epoch) bs.Length
                let clock = Stopwatch.StartNew()
                let mutable stepsHere = 0

                try
                    let rows =
                        ExpLoop.run
                            run
                            state
                            label
                            (cfg.Epochs * bs.Length)
                            bs.Length
                            (fun () ->
                                lossSum <- 0.0
                                bitsSum <- 0.0
                                bitsN <- 0)
                            (fun info ctx ->
                                use scope = torch.NewDisposeScope()
                                let lr = lrAt cfg info.Epoch

                                for g in opt.ParamGroups do
                                    g.LearningRate <- lr

                                let bi = (orderOf info.Epoch).[info.StepInEpoch]
                                model.train ()
                                opt.zero_grad ()
                                let h = model.forward(data.Images.[bi]).squeeze(1L) // [B, out, out]

                                let l =
                                    match loss with
                                    | Mse _ -> torch.nn.functional.mse_loss (h, data.Targets.[bi])
                                    | UniLossPckh _ ->
                                        let u = uni.Value
                                        let v = u.forward (h, data.Labels.[bi])
                                        bitsSum <- bitsSum + float u.LastBits
                                        bitsN <- bitsN + 1
                                        v

                                l.backward ()
                                opt.step () |> ignore
                                let v = l.item<float32>() |> float
                                if Double.IsNaN v then Errors.fail "%s: the training loss became NaN at epoch %d (diverged?)" label (info.Epoch + 1)
                                lossSum <- lossSum + v
                                stepsHere <- stepsHere + 1
                                ctx.Show [ "epoch", float (info.Epoch + 1); "loss", v ])
                            (fun epoch ctx ->
                                let valP = evaluate model set set.Val device
                                let testP = evaluate model set set.Test device

                                ctx.Row
                                    [ "epoch", float (epoch + 1)
                                      "train_loss", lossSum / float bs.Length
                                      "val_pckh", valP
                                      "test_pckh", testP
                                      "lr", lrAt cfg epoch
                                      "bits_per_batch", (if bitsN = 0 then nan else bitsSum / float bitsN) ]

                                printfn
                                    "  [%s] epoch %d/%d  loss %.4f  val PCKh %.2f  test PCKh %.2f"
                                    label
                                    (epoch + 1)
                                    cfg.Epochs
                                    (lossSum / float bs.Length)
                                    (100.0 * valP)
                                    (100.0 * testP))
                            rowOf

                    let ms = if stepsHere = 0 then nan else 1000.0 * clock.Elapsed.TotalSeconds / float stepsHere
                    Safetensors.save (run.File "model.safetensors") (model.state_dict ())
                    run.Finish {| Rows = rows; MsPerStep = ms |}
                    rows, ms
                finally
                    uni |> Option.iter (fun u -> (u :> IDisposable).Dispose())
        // the predicted vs true joints on 16 test images
        let show = set.Test |> Array.truncate 16
        let scores, outSide = predict model set show device

        let pred =
            PoseMetric.argmaxCorrect outSide outSide scores (PoseLabels.labels set outSide show)
            |> Array.map (fun p -> PoseMetric.toImage set.Side outSide p.Row p.Col)

        use grid = PoseData.marked set show (Some pred)
        ImageGrid.save (run.File "test_predictions.png") grid 8
        let last = List.tryLast rows

        { Label = label
          Rows = rows
          Test =
            (match last with
             | Some r -> r.TestPckh
             | None -> nan)
          Dir = run.Dir
          MsPerStep = msPerStep
          Bits =
            (match last with
             | Some r -> r.Bits
             | None -> nan) }
