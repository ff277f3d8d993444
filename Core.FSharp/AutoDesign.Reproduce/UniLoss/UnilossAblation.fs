namespace AutoDesign.Reproduce.UniLoss

open System
open System.IO
open TorchSharp
open AutoDesign.Nn
open AutoDesign.UniLoss
open AutoDesign.Reproduce

/// Cheap versions of the hyper-parameter ablations of thesis §3.4.5 (Tables 3.3 and 3.4).
module UnilossAblation =
    /// Why anchor counts train alike: on the same scores and labels, the cosine between UniLoss's score
    /// gradient with k anchors per type and with 16, against the cosine between two independent draws of 16
    /// (the sampling-noise floor); averaged over `batches` batches of an untrained seeded MLP.
    let gradientAgreement (task: ExpTask) (o: ExpUniLossOptions) (counts: int list) (batches: int) =
        torch.manual_seed 4L |> ignore
        use model = task.MakeModel()

        let grad (k: int) (seed: int) (x: torch.Tensor) (y: torch.Tensor) =
            use l = ExpTrain.makeLoss (UniLossAP { o with AnchorsPerType = k }) seed
            let logits = model.forward(x).detach().requires_grad_(true)

            match l.Compute logits y with
            | Some v ->
                v.backward ()
                logits.grad.detach().clone().reshape(-1L)
            | None -> torch.zeros (logits.numel ())

        let cos (a: torch.Tensor) (b: torch.Tensor) = (a * b).sum().Item() / (a.norm().Item() * b.norm().Item() + 1e-30)
        let perCount = Collections.Generic.Dictionary<int, ResizeArray<float>>()
        let floor = ResizeArray<float>()

        for bi in 0 .. batches - 1 do
            use _ = torch.NewDisposeScope()
            let idx = task.TrainIdx.[bi * 128 .. bi * 128 + 127]
            let x, y = ExpData.toTensors task.Data idx torch.CPU
            let reference = grad 16 (100 + bi) x y
            floor.Add(cos reference (grad 16 (200 + bi) x y))

            for k in counts do
                if not (perCount.ContainsKey k) then perCount.[k] <- ResizeArray()
                perCount.[k].Add(cos reference (grad k (300 + bi) x y))

        [ for k in counts -> k, Seq.average perCount.[k] ], Seq.average floor

    /// Table 3.4 (AP row): anchors per type 5/10/16 for UniLoss(AP) on MNIST 0 vs rest.
    let private apCounts = [ 5, "0.9988"; 10, "0.9987"; 16, "0.9988" ]

    /// The plan of the AP anchors ablation.
    let anchorsPlan (s: ExpSettings) =
        let trainN = defaultArg s.TrainSize 8000
        let epochs = defaultArg s.Epochs (if s.Quick then 10 else 30)

        let cfg = ExpTrain.sgd epochs (defaultArg s.UniLr 0.01) s.Seed

        let o = UnilossExp.uniOptsFor s
        let expDir = Path.Combine("uniloss", sprintf "ablation-anchors-%s" (if s.Quick then "quick" else "full"))
        let arms = [ for (k, _) in apCounts -> sprintf "anchors%d" k, UniLossAP { o with AnchorsPerType = k }, cfg ]
        UnilossExp.plan s expDir (fun seed -> ExpTasks.mnistZeroVsRest seed trainN 2000) arms, (trainN, epochs, cfg, o)

    let anchors (s: ExpSettings) : ReportRow list =
        let p, (trainN, epochs, cfg, o) = anchorsPlan s
        let counts = apCounts
        let res = UnilossExp.compare s p

        let config =
            sprintf "MLP 784-500-300-2, SGD lr %g momentum 0.9, batch 128, %d epochs, tau %g, power %g, seed %d" cfg.Lr epochs o.Tau o.Power s.Seed

        let data = "MNIST 10k digits, 0 vs rest (8k/2k split)"
        let agreement, noise = gradientAgreement (ExpTasks.mnistZeroVsRest s.Seed trainN 2000) o [ 5; 10 ] 8

        [ for (k, thesis) in counts ->
              let v = res |> List.find (fst >> (=) (sprintf "anchors%d" k)) |> snd

              { System = "uniloss"
                Experiment = "ablation-anchors"
                Claim = sprintf "AP with %d anchors per type (%d total)" k (3 * k)
                Thesis = sprintf "AP %s" thesis
                Measured = sprintf "AP %s" (UnilossExp.fmt 4 v)
                Config = config
                Data = data } ]
        @ [ let verdict =
                if agreement |> List.forall (fun (_, c) -> c >= noise - 0.02) then
                    "Fewer anchors change the direction no more than redrawing them does, so this ablation cannot tell the counts apart"
                else
                    "Fewer anchors change the direction more than redrawing them does"

            { System = "uniloss"
              Experiment = "ablation-anchors"
              Claim = "why the anchor counts train alike: the score gradient they give"
              Thesis = "AP 0.9987-0.9988 for 5/10/16 (no difference either)"
              Measured =
                sprintf
                    "cosine of the score gradient with k anchors per type to the one with 16, same batch: %s; two independent draws of 16: %.3f (8 batches of an untrained MLP). %s"
                    (agreement |> List.map (fun (k, c) -> sprintf "k=%d %.3f" k c) |> String.concat ", ")
                    noise
                    verdict
              Config = config
              Data = data } ]

    /// Table 3.4 (accuracy row): anchors per type 5/10/16 for the ResNet-20 accuracy experiment's
    /// UniLoss arm (UnilossAccuracy.accuracyResNetDefaults, same data, schedule and lr), one seed.
    let private accCounts = [ 5, "91.55"; 10, "91.54"; 16, "91.64" ]

    /// The plan of the accuracy anchors ablation.
    let anchorsAccuracyPlan (s: ExpSettings) =
        let trainN, testN, _, _, width, cfg = UnilossAccuracy.accuracySetup s
        let o = UnilossExp.uniOptsFrom UnilossAccuracy.accuracyResNetDefaults s
        let uniCfg = { cfg with Lr = defaultArg s.UniLr (UnilossAccuracy.accuracyLrFactor * cfg.Lr) }
        let expDir = Path.Combine("uniloss", sprintf "ablation-anchors-acc-%s" (if s.Quick then "quick" else "full"))
        let arms = [ for (k, _) in accCounts -> sprintf "anchors%d" k, UniLossAccuracy { o with AnchorsPerType = k }, uniCfg ]
        UnilossExp.plan s expDir (fun seed -> ExpTasks.fashionResNet false (fst width) (snd width) seed trainN testN) arms

    let anchorsAccuracy (s: ExpSettings) : ReportRow list =
        let trainN, testN, epochs, _, width, _ = UnilossAccuracy.accuracySetup s
        let o = UnilossExp.uniOptsFrom UnilossAccuracy.accuracyResNetDefaults s
        let p = anchorsAccuracyPlan s
        let uniCfg = p.Arms |> List.head |> fun (_, _, c) -> c
        let counts = accCounts
        let res = UnilossExp.compare s p

        [ for (k, thesis) in counts ->
              let v = res |> List.find (fst >> (=) (sprintf "anchors%d" k)) |> snd |> List.map ((*) 100.0)

              { System = "uniloss"
                Experiment = "ablation-anchors-acc"
                Claim = sprintf "accuracy with %d anchors per type (%d total)" k (3 * k)
                Thesis = sprintf "%s%% (CIFAR-10 ResNet-20)" thesis
                Measured = sprintf "%s%%" (UnilossExp.fmt 2 v)
                Config =
                  sprintf
                      "%s, SGD lr %g momentum 0.9 wd 5e-4, /10 at epochs %A, batch 128, %d epochs, %d train / %d test, inputs normalised per channel, tau %s, %s, seed %d"
                      (UnilossAccuracy.resNetText width)
                      uniCfg.Lr
                      uniCfg.Milestones
                      epochs
                      trainN
                      testN
                      (UnilossExp.tauText o)
                      (UnilossExp.anchorText o)
                      s.Seed
                Data = "Fashion-MNIST (stand-in for CIFAR-10)" } ]

    /// Table 3.3: mini-batch size for UniLoss(accuracy); cheap stand-in: MLP 784-500-300-10 on the
    /// 10k MNIST digits instead of ResNet-20 on CIFAR-10. Every batch size gets the same number of SGD steps
    /// (those of `epochs` epochs at batch 128), so the sizes differ in what a step sees, not in how many.
    let private batchThesis =
        [ 8, "87.89"; 16, "90.05"; 32, "90.82"; 64, "91.23"; 128, "91.64"; 256, "90.94"; 512, "89.10"; 1024, "87.20" ]

    /// The plan of the batch-size ablation.
    let batchSizePlan (s: ExpSettings) =
        let thesis = batchThesis
        let sizes = if s.Quick then [ 32; 128; 512 ] else thesis |> List.map fst
        let trainN = defaultArg s.TrainSize 8000
        let epochs = defaultArg s.Epochs (if s.Quick then 5 else 30)
        let steps = epochs * ((trainN + 127) / 128)
        let epochsFor b = (steps + (trainN + b - 1) / b - 1) / ((trainN + b - 1) / b)
        let o = UnilossExp.uniOptsFrom UnilossAccuracy.accuracyDefaults s
        let lr = defaultArg s.UniLr 0.05

        let arms =
            [ for b in sizes ->
                  sprintf "batch%d" b, UniLossAccuracy o, { ExpTrain.sgd (epochsFor b) lr s.Seed with BatchSize = b; WeightDecay = 5e-4; Steps = steps } ]

        let expDir = Path.Combine("uniloss", sprintf "ablation-batch-%s" (if s.Quick then "quick" else "full"))
        UnilossExp.plan s expDir (fun seed -> ExpTasks.mnistDigitsMlp seed trainN 2000) arms, (sizes, steps, epochs, o, lr)

    let batchSize (s: ExpSettings) : ReportRow list =
        let thesis = batchThesis
        let p, (sizes, steps, epochs, o, lr) = batchSizePlan s
        let res = UnilossExp.compare s p

        [ for b in sizes ->
              let v = res |> List.find (fst >> (=) (sprintf "batch%d" b)) |> snd |> List.map ((*) 100.0)

              { System = "uniloss"
                Experiment = "ablation-batch"
                Claim = sprintf "UniLoss accuracy with batch size %d" b
                Thesis = sprintf "%s%% (CIFAR-10 ResNet-20)" (thesis |> List.find (fst >> (=) b) |> snd)
                Measured = sprintf "%s%%" (UnilossExp.fmt 2 v)
                Config =
                  sprintf
                      "MLP 784-500-300-10, SGD lr %g momentum 0.9 wd 5e-4, %d SGD steps for every batch size (%d epochs at batch 128), %d anchors/type, tau %g, power %g, seed %d"
                      lr
                      steps
                      epochs
                      o.AnchorsPerType
                      o.Tau
                      o.Power
                      s.Seed
                Data = "MNIST 10k digits, 10 classes (stand-in for CIFAR-10)" } ]
