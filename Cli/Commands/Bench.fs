/// `autodesign bench <system>`: speed measurements printed as ratios measured in one run.
module AutoDesign.Cli.Commands.Bench

open Argu
open AutoDesign.Cli
open AutoDesign.Cli.Globals

[<CliPrefix(CliPrefix.DoubleDash)>]
type BenchCheckpointArgs =
    | Repeats of n: int
    | Hidden of width: int

    interface IArgParserTemplate with
        member a.Usage =
            match a with
            | Repeats _ -> "writes per variant (default 20)."
            | Hidden _ -> "hidden width of the benchmarked MLP (default 1024, ~1.9M weights)."

[<CliPrefix(CliPrefix.DoubleDash)>]
type BenchLoaderArgs =
    | Batch of size: int
    | Epochs of n: int

    interface IArgParserTemplate with
        member a.Usage =
            match a with
            | Batch _ -> "batch size (default 128)."
            | Epochs _ -> "passes over the embedded MNIST per variant (default 3)."

/// The options of `bench uniloss` and `bench step`.
[<CliPrefix(CliPrefix.DoubleDash)>]
type BenchStepsArgs =
    | Steps of n: int

    interface IArgParserTemplate with
        member a.Usage =
            match a with
            | Steps _ ->
                "timed steps (default 10): uniloss, per loss after 3 warm-up steps (the MLP gets 4x as many); step, per variant for ResNet-20 (the MLPs get 30x as many)."

/// One case per system.
type BenchArgs =
    | [<CliPrefix(CliPrefix.None)>] Checkpoint of ParseResults<BenchCheckpointArgs>
    | [<CliPrefix(CliPrefix.None)>] Loader of ParseResults<BenchLoaderArgs>
    | [<CliPrefix(CliPrefix.None)>] Step of ParseResults<BenchStepsArgs>
    | [<CliPrefix(CliPrefix.None)>] Uniloss of ParseResults<BenchStepsArgs>
    | [<CliPrefix(CliPrefix.None)>] D2nn of ParseResults<AutoDesign.Cli.Commands.D2nn.D2nnExpArgs>

    interface IArgParserTemplate with
        member a.Usage =
            match a with
            | D2nn _ ->
                "fast cascade D²NN and its early-exit baseline, λ with the mini-bag prior (data or sampled; --bags-at-sampled-prior fixes it) and the threshold chosen on validation (cheapest within 0.01 of the full network's validation metric): test metric and wall time against the full network at batch 256 and 1."
            | Loader _ -> "data Loader (shuffled index batches -> tensors) vs raw slicing of one preloaded tensor, batches/s."
            | Step _ ->
                "a training step of the quick configurations' networks: the arithmetic alone vs a hand loop vs the run engine, with per-step or per-epoch batch tensors."
            | Checkpoint _ -> "atomic checkpoint (weights + Adam state + map, fsync + rename) vs plain Module.save of the weights."
            | Uniloss _ -> "UniLoss / CE training-step time on the same network and batch (128, 48 anchors); target <= 1.25."

/// `--steps`, checked.
let private steps (r: ParseResults<BenchStepsArgs>) = Values.positive "steps" (r.GetResult(Steps, defaultValue = 10))

let handle (g: Globals) (r: ParseResults<BenchArgs>) =
    g.NoJobs "bench"

    match r.GetSubCommand() with
    | Checkpoint c ->
        AutoDesign.Reproduce.CheckpointCost.run (c.GetResult(Repeats, defaultValue = 20)) (c.GetResult(Hidden, defaultValue = 1024))
        0
    | Step st ->
        AutoDesign.Reproduce.StepCost.run (steps st) |> ignore

        0
    | Uniloss u ->
        AutoDesign.Reproduce.UniLoss.UnilossBenchReport.run (g.Start()) (steps u)
        0
    | Loader l ->
        AutoDesign.Reproduce.LoaderCost.run (l.GetResult(Batch, defaultValue = 128)) (l.GetResult(Epochs, defaultValue = 3))
        0
    | D2nn d -> AutoDesign.Cli.Commands.D2nn.bench g d
