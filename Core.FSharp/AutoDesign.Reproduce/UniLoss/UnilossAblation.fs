namespace AutoDesign.Reproduce.UniLoss

open System.IO
open AutoDesign.UniLoss
open AutoDesign.Metrics

/// Cheap versions of the hyper-parameter ablations of thesis §3.4.5 (Tables 3.3 and 3.4).
module UnilossAblation =
    /// Table 3.4 (AP row): anchors per type 5/10/16 for UniLoss(AP) on MNIST 0 vs rest.
    let anchors (s: ExpSettings) : ExpSummaryRow list =
        let trainN = defaultArg s.TrainSize 8000
        let epochs = defaultArg s.Epochs (if s.Quick then 10 else 30)
        let cfg = { Epochs = epochs; BatchSize = 128; Lr = defaultArg s.UniLr 0.01; Momentum = 0.9; WeightDecay = 0.0; Milestones = []; CropPad = None; Seed = s.Seed; WarmupSteps = 0 }
        let o = UnilossExp.uniOptsFor s
        let counts = [ 5, "0.9988"; 10, "0.9987"; 16, "0.9988" ]
        let expDir = Path.Combine(s.RunsRoot, "uniloss", sprintf "ablation-anchors-%s" (if s.Quick then "quick" else "full"))
        let arms = [ for (k, _) in counts -> sprintf "anchors%d" k, UniLossAP { o with AnchorsPerType = k }, cfg ]
        let res = UnilossExp.compare s expDir (fun seed -> ExpTasks.mnistZeroVsRest seed trainN 2000) arms
        [ for (k, thesis) in counts ->
            let v = res |> List.find (fst >> (=) (sprintf "anchors%d" k)) |> snd
            { Experiment = "ablation-anchors"; Claim = sprintf "AP with %d anchors per type (%d total)" k (3 * k)
              Thesis = sprintf "AP %s" thesis; Measured = sprintf "AP %s" (UnilossExp.fmt 4 v)
              Config = sprintf "MLP 784-500-300-2, SGD lr %g momentum 0.9, batch 128, %d epochs, tau %g, power %g, seed %d" cfg.Lr epochs o.Tau o.Power s.Seed
              Data = "MNIST 10k digits, 0 vs rest (8k/2k split)" } ]

    /// Table 3.4 (accuracy row): anchors per type 5/10/16 for the ResNet-20 accuracy experiment's
    /// UniLoss arm (UnilossExp.accuracyResNetDefaults, same data, schedule and lr), one seed.
    let anchorsAccuracy (s: ExpSettings) : ExpSummaryRow list =
        let trainN, testN, epochs, _, cfg = UnilossExp.accuracySetup s
        let o = UnilossExp.uniOptsFrom UnilossExp.accuracyResNetDefaults s
        let uniCfg = { cfg with Lr = defaultArg s.UniLr (UnilossExp.accuracyLrFactor * cfg.Lr) }
        let counts = [ 5, "91.55"; 10, "91.54"; 16, "91.64" ]
        let expDir = Path.Combine(s.RunsRoot, "uniloss", sprintf "ablation-anchors-acc-%s" (if s.Quick then "quick" else "full"))
        let arms = [ for (k, _) in counts -> sprintf "anchors%d" k, UniLossAccuracy { o with AnchorsPerType = k }, uniCfg ]
        let res = UnilossExp.compare s expDir (fun seed -> ExpTasks.fashionResNet false seed trainN testN s.Device) arms
        [ for (k, thesis) in counts ->
            let v = res |> List.find (fst >> (=) (sprintf "anchors%d" k)) |> snd |> List.map ((*) 100.0)
            { Experiment = "ablation-anchors-acc"; Claim = sprintf "accuracy with %d anchors per type (%d total)" k (3 * k)
              Thesis = sprintf "%s%% (CIFAR-10 ResNet-20)" thesis; Measured = sprintf "%s%%" (UnilossExp.fmt 2 v)
              Config = sprintf "ResNet-20, SGD lr %g momentum 0.9 wd 5e-4, /10 at epochs %A, batch 128, crop pad 2 + flip, %d epochs, %d train / %d test, tau %s, %s, seed %d" uniCfg.Lr uniCfg.Milestones epochs trainN testN (UnilossExp.tauText o) (UnilossExp.anchorText o) s.Seed
              Data = "Fashion-MNIST (stand-in for CIFAR-10)" } ]

    /// Table 3.3: mini-batch size for UniLoss(accuracy); cheap stand-in: MLP 784-500-300-10 on the
    /// 10k MNIST digits instead of ResNet-20 on CIFAR-10.
    let batchSize (s: ExpSettings) : ExpSummaryRow list =
        let thesis = [ 8, "87.89"; 16, "90.05"; 32, "90.82"; 64, "91.23"; 128, "91.64"; 256, "90.94"; 512, "89.10"; 1024, "87.20" ]
        let sizes = if s.Quick then [ 32; 128; 512 ] else thesis |> List.map fst
        let trainN = defaultArg s.TrainSize 8000
        let epochs = defaultArg s.Epochs (if s.Quick then 5 else 30)
        let o = UnilossExp.uniOptsFrom UnilossExp.accuracyDefaults s
        let lr = defaultArg s.UniLr 0.05
        let arms =
            [ for b in sizes ->
                sprintf "batch%d" b, UniLossAccuracy o,
                { Epochs = epochs; BatchSize = b; Lr = lr; Momentum = 0.9; WeightDecay = 5e-4; Milestones = []; CropPad = None; Seed = s.Seed; WarmupSteps = 0 } ]
        let expDir = Path.Combine(s.RunsRoot, "uniloss", sprintf "ablation-batch-%s" (if s.Quick then "quick" else "full"))
        let res = UnilossExp.compare s expDir (fun seed -> ExpTasks.mnistDigitsMlp seed trainN 2000) arms
        [ for b in sizes ->
            let v = res |> List.find (fst >> (=) (sprintf "batch%d" b)) |> snd |> List.map ((*) 100.0)
            { Experiment = "ablation-batch"; Claim = sprintf "UniLoss accuracy with batch size %d" b
              Thesis = sprintf "%s%% (CIFAR-10 ResNet-20)" (thesis |> List.find (fst >> (=) b) |> snd)
              Measured = sprintf "%s%%" (UnilossExp.fmt 2 v)
              Config = sprintf "MLP 784-500-300-10, SGD lr %g momentum 0.9 wd 5e-4, %d epochs, %d anchors/type, tau %g, power %g, seed %d" lr epochs o.AnchorsPerType o.Tau o.Power s.Seed
              Data = "MNIST 10k digits, 10 classes (stand-in for CIFAR-10)" } ]
