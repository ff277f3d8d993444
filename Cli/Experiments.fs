/// The reproduce registry: every system's experiments, in report order.
module AutoDesign.Cli.Experiments

open AutoDesign.Reproduce

let all: Experiment list =
    List.concat
        [ FoundationExperiments.all
          UnilossExperiments.all
          PoseExperiments.all
          AutoDesign.Reproduce.D2nnExperiments.all
          AutoDesign.Reproduce.DgganExperiments.all
          AutoDesign.Reproduce.DetectorGanExperiments.all
          // each system appends its list here, e.g. UniLossExperiments.all
          ]
