namespace AutoDesign.Reproduce

open TorchSharp

/// One line of REPORT.md. `Data` names the data set and says "stand-in for X" where it is one.
type ReportRow =
    { System: string
      Experiment: string
      Claim: string
      Thesis: string
      Measured: string
      Config: string
      Data: string }

/// What an experiment gets: quick (minutes on 2 cores) or full config, device, where run folders go, seed.
type ExperimentContext =
    { Quick: bool
      Device: torch.Device
      RunsRoot: string
      Seed: int }

/// A reproducible experiment; each system exposes `<System>Experiments.all : Experiment list`.
type Experiment =
    { System: string
      Name: string
      Description: string
      Run: ExperimentContext -> ReportRow list }
