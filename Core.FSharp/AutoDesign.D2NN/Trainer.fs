namespace AutoDesign.D2NN

open System
open System.Runtime.InteropServices
open TorchSharp
open AutoDesign.Runs

/// Training and evaluation of one compiled D²NN (or static network) on a task — the entry point from C#:
///   var net = D2nn.Compile(graph);
///   var trainer = new D2nnTrainer(net, task, "out");
///   using (var run = Run.Open(RunOptions.Default, "d2nn/mine", "mine/1", config))
///       trainer.Train(run, TrainOptions.Default.With(steps: 300), lambda: 0.9, normalizer: reference.FullCost);
///   var result = trainer.Evaluate(reference.FullCost);
/// Each training call is a run of the engine: it resumes from the run's latest checkpoint.
[<Sealed>]
type D2nnTrainer(network: CompiledD2nn, task: Task, output: string, device: torch.Device) =
    do
        if isNull (box network) then Errors.fail "D2nnTrainer needs a compiled network"

        if not (network.Index.ContainsKey output) then
            Errors.fail "the network has no node '%s' to read class scores from" output

    let mutable checkpointEvery = 100
    /// A trainer on the CPU.
    new(network: CompiledD2nn, task: Task, output: string) = D2nnTrainer(network, task, output, torch.CPU)

    member _.Network = network
    member _.Task = task
    member _.Output = output

    /// Commit a checkpoint every this many steps (0: only at the end and every 5 minutes); default 100.
    member _.CheckpointEvery
        with get () = checkpointEvery
        and set v = checkpointEvery <- max 0 v

    /// The training job of `options` and `phase` on this trainer's network, task and device (for Training's
    /// functions, e.g. Training.TrainKeepingState). `onStep` (may be null) sees every step run.
    member _.Job(options: TrainOptions, phase: TrainPhase, [<Optional; DefaultParameterValue(null: Action<int, StepStats>)>] onStep: Action<int, StepStats>) =
        { Network = network
          Task = task
          Options = options
          Phase = phase
          Output = output
          Device = device
          CheckpointEvery = checkpointEvery
          OnStep = onStep }

    /// Train for `phase` in `run` (metrics rows: metrics.csv in its folder): Q-learning (TrainPhase.LearnWith),
    /// the warm-up (TrainPhase.Warmup) or joint early-exit training (TrainPhase.ExitsOf).
    member t.Train
        (run: Run, options: TrainOptions, phase: TrainPhase, [<Optional; DefaultParameterValue(null: Action<int, StepStats>)>] onStep: Action<int, StepStats>)
        =
        Training.train run (t.Job(options, phase, onStep))

    /// Train at trade-off weight λ (reward λ·metric + (1 − λ)·(1 − multiplications / `normalizer`)).
    member t.Train
        (
            run: Run,
            options: TrainOptions,
            lambda: float,
            normalizer: float,
            [<Optional; DefaultParameterValue(null: Action<int, StepStats>)>] onStep: Action<int, StepStats>
        ) =
        t.Train(run, options, Learn(Reward.tradeoff task.Metric lambda, Multiplications normalizer), onStep)

    /// Greedy inference on the test set; cost = multiplications / `normalizer`.
    member _.Evaluate(normalizer: float) = Evaluation.evaluate network task normalizer output device

    /// Greedy inference on the test set with the modeled latency of `latency`.
    member _.Evaluate(normalizer: float, latency: LatencyCost) = Evaluation.evaluateWithLatency network task normalizer latency output device

    member _.SaveWeights(path: string) = Training.saveWeights path network
    member _.LoadWeights(path: string) = Training.loadWeights path network
