namespace AutoDesign.Reproduce.UniLoss

open System
open TorchSharp
open TorchSharp.Modules
open AutoDesign.Runs
open AutoDesign.UniLoss

/// What the UniLoss experiments' training runs (ExpRun, PoseTrain) share around the engine's loop: the state a
/// checkpoint holds, the per-epoch reset of running sums, and reading numbers back from metrics rows.
module ExpLoop =
    /// The number in column `name` of a metrics row (NaN when the row has none).
    let number (row: (string * Cell) list) (name: string) =
        match row |> List.tryFind (fst >> (=) name) with
        | Some(_, Cell.Number v) -> v
        | _ -> nan

    /// A run's checkpointed state: the model, the optimizer, torch's default generator and, for a UniLoss arm, the
    /// loss's random streams.
    let state (model: torch.nn.Module) (opt: OptimizerHelper) (uni: UniLoss option) =
        let state = TrainState()
        state.AddModule("model", model)
        state.AddOptimizer("optimizer", opt)
        state.AddTorchDefault()

        uni
        |> Option.iter (fun u -> state.AddValue<UniLossState>("uniloss", Func<_>(u.CaptureState), Action<_>(u.RestoreState)))

        state

    /// Loop.run over `steps` steps of `stepsPerEpoch` per epoch, shown as "[label]" and checkpointed every 2 minutes and
    /// at each epoch's end; calls `startEpoch` before the first step of every epoch (to reset the epoch's running
    /// sums) and reads the metrics rows with `rowOf`.
    let run
        (run: Run)
        (state: TrainState)
        (label: string)
        (steps: int)
        (stepsPerEpoch: int)
        (startEpoch: unit -> unit)
        (step: StepInfo -> LoopContext -> unit)
        (endOfEpoch: int -> LoopContext -> unit)
        (rowOf: ((string * Cell) list) -> 'Row)
        : 'Row list =
        let spec = { LoopSpec.Of(sprintf "  [%s]" label, steps) with StepsPerEpoch = stepsPerEpoch; CheckpointSeconds = 120.0 }

        Loop.run
            run
            state
            spec
            (fun info ctx ->
                if info.StepInEpoch = 0 then startEpoch ()
                step info ctx)
            endOfEpoch
        |> List.map rowOf
