namespace AutoDesign.Reproduce

open System.IO
open AutoDesign.Reproduce.UniLoss

/// The UniLoss experiments registered for `autodesign reproduce` (thesis chapter 3).
module UnilossExperiments =
    /// The experiments' settings for a reproduce context (its device, quick mode, run options and first seed).
    let settings (ctx: ExperimentContext) : ExpSettings =
        { UnilossExp.defaultSettings ctx.Device with Quick = ctx.Quick; Options = ctx.Options; Seed = ctx.Seed }

    /// An experiment whose parts are its plan's (seed, arm) runs ("seed<k>/<label>", UnilossExp.parts);
    /// `run` then finds their run folders finished.
    let private exp name description (run: ExpSettings -> ReportRow list) (plan: ExpSettings -> ExpPlan) : Experiment =
        let parts (s: ExpSettings) = UnilossExp.parts s (plan s)

        { System = "uniloss"
          Name = name
          Description = description
          Run = (fun ctx -> run (settings ctx))
          Parts =
            fun ctx ->
                [ for (id, _) in parts (settings ctx) -> ExperimentPart.create id (fun c -> (parts (settings c) |> List.find (fst >> (=) id) |> snd) ()) ]
          Figures =
            fun ctx ->
                let s = settings ctx

                [ ReportFigure.create
                      (sprintf "%s: test metric per epoch and arm, seed %d" name ctx.Seed)
                      (Path.Combine(UnilossExp.seedSetDir s (plan s), "test_metric.png")) ] }

    /// The UniLoss-vs-CE comparisons run seeds ctx.Seed .. ctx.Seed + 2 and report the paired per-seed gap
    /// with its 95% interval; the verdict follows from the interval.
    let private seeds = 3

    let all: Experiment list =
        let withSeeds (s: ExpSettings) = { s with Runs = seeds }

        [ exp
              "ap-mnist"
              "UniLoss(AP) vs 2-class CE, MNIST 0 vs rest, MLP 784-500-300-2 (thesis 3.4.2)"
              (fun s -> UnilossAp.ap (withSeeds s) "mnist" 0)
              (fun s -> UnilossAp.apSetup (withSeeds s) "mnist" 0 |> fst)
          exp
              "ap-fashion"
              "UniLoss(AP) vs 2-class CE, Fashion-MNIST class 0 vs rest, MLP (thesis 3.4.2 on a second data set)"
              (fun s -> UnilossAp.ap (withSeeds s) "fashion" 0)
              (fun s -> UnilossAp.apSetup (withSeeds s) "fashion" 0 |> fst)
          exp
              "accuracy-resnet20"
              "UniLoss(accuracy) vs CE, ResNet-20 on Fashion-MNIST (stand-in for CIFAR-10, thesis 3.4.4)"
              (fun s -> UnilossAccuracy.accuracy (withSeeds s))
              (fun s -> UnilossAccuracy.accuracyPlan (withSeeds s) |> fst)
          exp
              "ablation-anchors"
              "anchors per type 5/10/16 for UniLoss(AP) on MNIST (thesis Table 3.4)"
              UnilossAblation.anchors
              (UnilossAblation.anchorsPlan >> fst)
          exp
              "ablation-anchors-acc"
              "anchors per type 5/10/16 for UniLoss(accuracy), ResNet-20 on Fashion-MNIST (thesis Table 3.4, accuracy row)"
              UnilossAblation.anchorsAccuracy
              UnilossAblation.anchorsAccuracyPlan
          exp
              "ablation-batch"
              "batch size for UniLoss(accuracy), MLP on MNIST digits (thesis Table 3.3)"
              UnilossAblation.batchSize
              (UnilossAblation.batchSizePlan >> fst)
          AutoDesign.Reproduce.UniLoss.Suite.SuiteExp.experiment ]
