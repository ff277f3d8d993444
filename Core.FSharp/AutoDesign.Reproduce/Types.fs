namespace AutoDesign.Reproduce

open TorchSharp
open AutoDesign.Runs

/// One line of REPORT.md. `Data` names the data set and says "stand-in for X" where it is one.
type ReportRow =
    { System: string
      Experiment: string
      Claim: string
      Thesis: string
      Measured: string
      Config: string
      Data: string }

/// What an experiment gets: quick (minutes on 2 cores) or full config, device, where its run folders go
/// (and whether an existing one of another configuration may be discarded), seed, and torch's intra-op
/// thread count (pinned: results depend on it).
type ExperimentContext =
    { Quick: bool
      Device: torch.Device
      RunsRoot: string
      Options: RunOptions
      Seed: int
      Threads: int }

/// A reproducible experiment; each system exposes `<System>Experiments.all : Experiment list`.
type Experiment =
    { System: string
      Name: string
      Description: string
      Run: ExperimentContext -> ReportRow list }
