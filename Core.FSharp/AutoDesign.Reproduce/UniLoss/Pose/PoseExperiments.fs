namespace AutoDesign.Reproduce

open AutoDesign.UniLoss
open AutoDesign.Reproduce.UniLoss
open AutoDesign.Metrics
open AutoDesign.Reproduce.UniLoss.Pose

/// The UniLoss pose experiments (thesis §3.4.3, Tables 3.1 and 3.4) for `autodesign reproduce`.
module PoseExperiments =
    let private exp name description (run: ExpSettings -> ExpSummaryRow list) : Experiment =
        { System = "uniloss"; Name = name; Description = description
          Run = fun ctx ->
                  let s = { UnilossExp.defaultSettings ctx.Device with Quick = ctx.Quick; Options = ctx.Options; Seed = ctx.Seed }
                  run s |> List.map (fun r -> { System = "uniloss"; Experiment = r.Experiment; Claim = r.Claim; Thesis = r.Thesis; Measured = r.Measured; Config = r.Config; Data = r.Data })
          Parts = ExperimentPart.none }

    let all : Experiment list =
        [ exp "pose-table3.1" "PCKh of a single-stack hourglass: MSE with Gaussian targets (7 sigmas) vs UniLoss(PCKh), procedural stick figures (stand-in for MPII head joints, thesis Table 3.1)" PoseExp.table
          exp "pose-anchors" "anchors per type 5/10/16 for UniLoss(PCKh) on the stick-figure pose task (thesis Table 3.4, pose row)" PoseExp.anchors ]
