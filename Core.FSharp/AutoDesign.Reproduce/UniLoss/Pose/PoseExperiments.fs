namespace AutoDesign.Reproduce

open AutoDesign.Reproduce.UniLoss
open AutoDesign.Reproduce.UniLoss.Pose

/// The UniLoss pose experiments (thesis §3.4.3, Tables 3.1 and 3.4) for `autodesign reproduce`.
module PoseExperiments =
    let private settings = UnilossExperiments.settings

    /// One part per (seed, arm); the anchors ablation's 16-anchor arm is the table's UniLoss arm.
    let private exp name description (which: string) (run: ExpSettings -> ReportRow list) : Experiment =
        { System = "uniloss"
          Name = name
          Description = description
          Run = fun ctx -> run (settings ctx)
          Parts =
            fun ctx ->
                [ for (id, _) in PoseExp.parts (settings ctx) which ->
                      ExperimentPart.create id (fun c -> PoseExp.parts (settings c) which |> List.find (fst >> (=) id) |> snd <| ()) ]
          Figures = fun ctx -> if which = "table" then PoseExp.figures (settings ctx) |> List.map (fun (c, p) -> ReportFigure.create c p) else [] }

    let all: Experiment list =
        [ exp
              "pose-table3.1"
              "PCKh of a single-stack hourglass: MSE with Gaussian targets (7 sigmas) vs UniLoss(PCKh), procedural stick figures (stand-in for MPII head joints, thesis Table 3.1)"
              "table"
              PoseExp.table
          exp "pose-anchors" "anchors per type 5/10/16 for UniLoss(PCKh) on the stick-figure pose task (thesis Table 3.4, pose row)" "anchors" PoseExp.anchors ]
