/// The reproduce registry: every system's experiments, in report order.
module AutoDesign.Cli.Experiments

open AutoDesign.Core.Reproduce

let all : Experiment list =
    List.concat [
        FoundationExperiments.all
        UnilossExperiments.all
        PoseExperiments.all
        AutoDesign.Core.D2NN.D2nnExperiments.all
        AutoDesign.Core.DGGAN.DgganExperiments.all
        AutoDesign.Core.DetectorGAN.DetectorGanExperiments.all
        // each system appends its list here, e.g. UniLossExperiments.all
    ]
