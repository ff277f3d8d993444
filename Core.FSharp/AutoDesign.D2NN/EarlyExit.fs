namespace AutoDesign.D2NN

open System
open System.Collections.Generic
open System.Runtime.InteropServices
open TorchSharp
open AutoDesign.Runs
open AutoDesign.Nn.D2NN

/// One stage of an early-exit cascade: a body on the output of `From` (the input "x" or an earlier stage's
/// body), and an exit head on the body's features giving class scores. The last stage has no exit head:
/// its body gives the class scores. From C#: `ExitStage.Of("N1", () => body, "x", "N2", () => head)` and
/// `ExitStage.Last("N7", () => body, "N5")`.
type ExitStage =
    {
        Body: string
        BodyModule: Func<Layers.M>
        From: string
        /// Null on the last stage.
        Exit: string
        ExitModule: Func<Layers.M>
    }

    static member Of(body: string, bodyModule: Func<Layers.M>, from: string, exit: string, exitModule: Func<Layers.M>) =
        { Body = body; BodyModule = bodyModule; From = from; Exit = exit; ExitModule = exitModule }

    static member Last(body: string, bodyModule: Func<Layers.M>, from: string) =
        { Body = body; BodyModule = bodyModule; From = from; Exit = null; ExitModule = null }

/// One threshold of an early-exit curve: its test result, with the validation score choices are made on.
type ExitPoint = { Threshold: float; Result: PointResult }

/// An early-exit cascade (BranchyNet, Teerapittayanon et al. 2016) as a D²NN graph run by the same
/// executor: after each stage but the last, a ConfidenceGate control node (G1, G2, ...) reads the stage's
/// exit scores; an example leaves there (through the identity node E<k> into the sum merge "M" → "out")
/// when the exit's max softmax is at least `Threshold`, else it continues to the next stage. Costs,
/// execution counts and wall time are measured exactly as for a D²NN. Modules are drawn fresh on
/// construction (seed torch first for reproducible weights).
[<Sealed>]
type EarlyExitCascade(inputShape: int64[], stages: IReadOnlyList<ExitStage>, classes: int) =
    do
        if isNull stages || stages.Count = 0 then Errors.fail "an early-exit cascade needs at least one stage"
        if classes < 2 then Errors.fail "an early-exit cascade needs at least 2 classes, got %d" classes

        stages
        |> Seq.iteri (fun i s ->
            let last = i = stages.Count - 1
            if String.IsNullOrEmpty s.Body || isNull s.BodyModule then Errors.fail "early-exit stage %d has no body" (i + 1)

            if not last && (String.IsNullOrEmpty s.Exit || isNull s.ExitModule) then
                Errors.fail "early-exit stage %d (%s) needs an exit head (only the last stage has none)" (i + 1) s.Body

            if last && not (String.IsNullOrEmpty s.Exit) then
                Errors.fail "the last early-exit stage (%s) has no exit head: its body gives the class scores" s.Body

            let earlier = [ for j in 0 .. i - 1 -> stages[j].Body ]

            if s.From <> "x" && not (List.contains s.From earlier) then
                Errors.fail "early-exit stage %d (%s) reads '%s', which is neither the input x nor an earlier stage's body" (i + 1) s.Body s.From)

    let gates = ResizeArray<ConfidenceGate>()

    let graph =
        let b = GraphBuilder().Input("x", inputShape).Merge("M", new SumMerge()).Output("out").Data("M", "out")
        let zeros () = torch.zeros (int64 classes)

        stages
        |> Seq.iteri (fun i s ->
            b.Module(s.Body, s.BodyModule.Invoke()).Data(s.From, s.Body) |> ignore
            if i > 0 then b.Control(sprintf "G%d" i, s.Body) |> ignore

            if String.IsNullOrEmpty s.Exit then
                b.Data(s.Body, "M", zeros ()) |> ignore
            else
                let g = new ConfidenceGate(1.0)
                gates.Add g
                let gn, en = sprintf "G%d" (i + 1), sprintf "E%d" (i + 1)

                b
                    .Module(s.Exit, s.ExitModule.Invoke())
                    .Data(s.Body, s.Exit)
                    .Module(gn, g)
                    .Data(s.Exit, gn)
                    .Module(en, Layers.identity ())
                    .Data(s.Exit, en)
                    .Control(gn, en)
                    .Data(en, "M", zeros ())
                |> ignore)

        b.Build()

    let compiled = Preprocess.compile graph
    let exits = [| for s in stages -> if String.IsNullOrEmpty s.Exit then s.Body else s.Exit |]
    let mutable threshold = 1.0

    /// Thresholds of the default curve: 0 (every example leaves at the first exit) to 2 (none leaves early).
    static member DefaultThresholds = [| 0.0; 0.6; 0.7; 0.8; 0.9; 0.95; 0.98; 0.99; 2.0 |]
    member _.Graph = graph
    member _.Network = compiled
    /// The node whose output is the class scores.
    member _.Output = "out"
    /// The class-score nodes: each stage's exit head, then the last stage's body.
    member _.Exits = Array.copy exits

    /// An example leaves at the first exit whose max softmax is at least this.
    member _.Threshold
        with get () = threshold
        and set (v: float) =
            if Double.IsNaN v || v < 0.0 then Errors.fail "early-exit threshold must be >= 0, got %g" v
            threshold <- v

            for g in gates do
                g.Threshold <- v

    /// Joint training for `options.Steps` steps: Σ_k weights[k] · cross-entropy of exit k (Exits order) on
    /// every example; a run of the engine (resumes from the run's latest checkpoint). Null weights: all 1.
    member _.Train
        (
            run: Run,
            task: Task,
            options: TrainOptions,
            [<Optional; DefaultParameterValue(null: float[])>] weights: float[],
            [<Optional; DefaultParameterValue(null: torch.Device)>] device: torch.Device,
            [<Optional; DefaultParameterValue(100)>] checkpointEvery: int
        ) =
        let w = if isNull weights then Array.create exits.Length 1.0 else weights

        let trainer =
            D2nnTrainer(compiled, task, "out", (if isNull device then torch.CPU else device), CheckpointEvery = checkpointEvery)

        trainer.Train(run, options, Exits(exits, w))

    /// Greedy inference at `threshold` on one split; cost = multiplications / `normalizer`.
    member t.Evaluate
        (task: Task, split: EvalSplit, threshold: float, normalizer: float, [<Optional; DefaultParameterValue(null: torch.Device)>] device: torch.Device)
        =
        t.Threshold <- threshold
        Evaluation.evaluateSplit compiled task split normalizer "out" (if isNull device then torch.CPU else device)

    /// The curve over `thresholds`: each point's test result with its validation score.
    member t.Curve
        (task: Task, thresholds: float[], normalizer: float, [<Optional; DefaultParameterValue(null: torch.Device)>] device: torch.Device)
        : ExitPoint[] =
        [| for th in thresholds ->
               let v = t.Evaluate(task, ValidationSplit, th, normalizer, device)
               let e = t.Evaluate(task, TestSplit, th, normalizer, device)
               { Threshold = th; Result = Evaluation.summarize e v } |]
