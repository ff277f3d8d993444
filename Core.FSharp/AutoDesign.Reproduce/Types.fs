namespace AutoDesign.Reproduce

open TorchSharp
open AutoDesign.Runs

/// One line of REPORT.md. `Data` names the data set and says "stand-in for X" where it is one.
type ReportRow = { System: string; Experiment: string; Claim: string; Thesis: string; Measured: string; Config: string; Data: string }

/// What an experiment gets: quick (minutes on 2 cores) or full config, device, where its run folders go
/// (and whether an existing one of another configuration may be discarded), seed, and torch's intra-op
/// thread count (pinned: results depend on it).
type ExperimentContext = { Quick: bool; Device: torch.Device; RunsRoot: string; Options: RunOptions; Seed: int; Threads: int }

/// One independently runnable piece of an experiment: one seed, one arm, one seed's stage. `Run` finishes
/// the run folders that the experiment's own `Run` then finds finished, so running the parts first (as
/// parallel jobs) and the experiment after them gives the rows a serial run gives.
type ExperimentPart =
    {
        /// Unique within the experiment, e.g. "seed2/ce" (letters, digits, '.', '-', '_' and '/').
        Id: string
        /// Ids of parts of the same experiment that must finish first.
        DependsOn: string list
        Run: ExperimentContext -> unit
    }

/// A figure REPORT.md shows under an experiment's heading: a caption and where the experiment's runs wrote
/// the image (absolute). `reproduce` copies it beside REPORT.md, so the report shows it without the runs root.
type ReportFigure = { Caption: string; Path: string }

/// A reproducible experiment; each system exposes `<System>Experiments.all : Experiment list`.
type Experiment =
    {
        System: string
        Name: string
        Description: string
        /// The rows: runs every part not yet finished, in this process, then assembles.
        Run: ExperimentContext -> ReportRow list
        /// The pieces `reproduce` hands to the launcher as jobs before `Run` assembles (empty: one job).
        Parts: ExperimentContext -> ExperimentPart list
        /// The key figures (curves, sample grids) REPORT.md shows inline, once the experiment has run.
        Figures: ExperimentContext -> ReportFigure list
    }

module ExperimentPart =
    /// A part without dependencies.
    let create (id: string) (run: ExperimentContext -> unit) = { Id = id; DependsOn = []; Run = run }

    /// One part per seed `ctx.Seed .. ctx.Seed + count - 1`, with ids "seed<k>".
    let perSeed (count: int) (run: ExperimentContext -> int -> unit) (ctx: ExperimentContext) =
        [ for k in ctx.Seed .. ctx.Seed + count - 1 -> create (sprintf "seed%d" k) (fun c -> run c k) ]

    /// No parts: the experiment runs as one job.
    let none (_: ExperimentContext) : ExperimentPart list = []

module ReportFigure =
    let create (caption: string) (path: string) = { Caption = caption; Path = path }

    /// No figures in the report.
    let none (_: ExperimentContext) : ReportFigure list = []
