namespace AutoDesign.DGGAN

open System
open System.Collections.Generic
open TorchSharp
open AutoDesign.Data
open AutoDesign.Nn.DGGAN

/// Training budget of one candidate (ProgGAN's optimiser: Adam lr 1e-3, β = (0, 0.99)).
type TrainSettings =
    {
        Iterations: int
        BatchSize: int
        LearningRate: float
        /// Samples drawn for each FID (selection and fresh).
        EvalSamples: int
        /// Commit a checkpoint every this many iterations (0: only at the end and every 5 minutes).
        CheckpointEvery: int
        /// Decay of an exponential moving average of G's weights kept beside G for evaluation (ProgGAN's practice);
        /// 0: none. With one, the run also writes weights-ema.safetensors (starting from the EMA of the folder it
        /// continues, when that has one).
        EmaDecay: float
    }

/// The typed configuration of one candidate's run folder (`candidates/<id>` or `final/<name>` in the search
/// run folder). Everything a process needs to train it, besides the search run's own configuration.
type CandidateConfig =
    {
        Id: string
        /// "search", "baseline" or "final"
        Kind: string
        /// Id of the candidate whose architecture it grows ("" for a root).
        Parent: string
        /// Run folder, relative to the search run folder, whose weights it starts from ("" : from scratch).
        InitFrom: string
        Step: int
        Action: string
        Actions: string[]
        /// Whether a last upscale fades in over the first half of the iterations (ProgGAN); false continues a
        /// trained architecture as it is.
        Fade: bool
        Seed: int
        Train: TrainSettings
    }

/// What a candidate's run stores as its result.
type CandidateResult =
    {
        Id: string
        /// FID on the selection samples against the selection real set (what the search ranks by).
        SelectionFid: float
        /// FID on fresh samples against a disjoint real set (never used for selection).
        FreshFid: float
        Diverged: bool
        Inherited: int
        FinalDLoss: float
        FinalGLoss: float
        Iterations: int
        Seconds: float
    }

/// One candidate to train: its folder relative to the search run folder and its configuration.
type CandidateJob = { Folder: string; Config: CandidateConfig }

/// Trains a batch of candidates (one search step's children) and returns their results in job order. In-process
/// and sequential now; a job launcher (worker pool, Slurm) can train the same folders in other processes.
type CandidateRunner = { Train: Func<IReadOnlyList<CandidateJob>, IReadOnlyList<CandidateResult>> }

/// What training and scoring a candidate needs besides its configuration.
type CandidateEnv =
    {
        Model: GanConfig
        /// The real images (labels unused).
        Images: Dataset
        /// Real set and sample seed offset used to select candidates.
        Selection: Evaluator
        /// Disjoint real set for the fresh score.
        Fresh: Evaluator
        Device: torch.Device
    }

/// A candidate's networks as built: G, D and how many layers they inherited from a weights file.
type BuiltCandidate = { Generator: GrowingGenerator; Discriminator: GrowingDiscriminator; InheritedLayers: int }
