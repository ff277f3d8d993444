namespace AutoDesign.Runs

open System
open System.Collections.Generic
open TorchSharp
open TorchSharp.Modules

/// A plain supervised loop: one model, one optimizer, epochs of batches.
type FitSpec<'B> =
    {
        Label: string
        Model: torch.nn.Module
        Optimizer: OptimizerHelper
        /// One batch → the scalar loss (forward pass included); Fit does zero_grad, backward and step.
        Loss: 'B -> torch.Tensor
        /// The batches of an epoch (0-based); must depend on the epoch only, so a resumed run sees the same.
        Batches: int -> 'B[]
        Epochs: int
        /// Extra metrics after each epoch (e.g. test accuracy), added to that epoch's row.
        EndOfEpoch: int -> (string * float) list
        /// Checkpoint every this many steps too (0: only at epoch ends).
        CheckpointEvery: int
    }

/// `Loop.run` for the common case: the model, the optimizer and torch's default generator (dropout,
/// random initialisation) are checkpointed; one metrics row per epoch (epoch, mean loss, extras).
module Fit =
    [<CompiledName("Spec")>]
    let spec label (model: torch.nn.Module) (optimizer: OptimizerHelper) (loss: 'B -> torch.Tensor) (batches: int -> 'B[]) (epochs: int) : FitSpec<'B> =
        { Label = label
          Model = model
          Optimizer = optimizer
          Loss = loss
          Batches = batches
          Epochs = epochs
          EndOfEpoch = (fun _ -> [])
          CheckpointEvery = 0 }

    /// Fit with extra components in `state` (e.g. a private generator the loss draws from).
    [<CompiledName("RunWith")>]
    let runWith (run: Run) (state: TrainState) (spec: FitSpec<'B>) : (string * Cell) list list =
        if spec.Epochs < 1 then Errors.fail "%s: epochs must be at least 1 (got %d)" spec.Label spec.Epochs
        state.AddModule("model", spec.Model)
        state.AddOptimizer("optimizer", spec.Optimizer)
        state.AddTorchDefault()
        // the running loss sum of the current epoch is part of the state (a resumed epoch continues it)
        let mutable sum = 0.0
        state.AddValue<float>("epoch-loss", Func<float>(fun () -> sum), Action<float>(fun v -> sum <- v))
        // One epoch's batches are kept while the epoch runs. Tensors `Batches` creates belong to Fit: they
        // outlive the steps' dispose scopes and are disposed when the next epoch's batches replace them.
        let cache = Dictionary<int, 'B[]>()
        let mutable perEpoch = -1
        let owned = List<IDisposable>()

        let release () =
            for d in owned do
                d.Dispose()

            owned.Clear()
            cache.Clear()

        let batchesOf e =
            match cache.TryGetValue e with
            | true, b -> b
            | _ ->
                release ()
                let scope = torch.NewDisposeScope()

                let b =
                    try
                        spec.Batches e
                    with _ ->
                        scope.Dispose()
                        reraise ()

                owned.AddRange(scope.DisposablesView)
                scope.Detach(owned)
                scope.Dispose()
                if perEpoch < 0 then perEpoch <- b.Length

                if b.Length < 1 then
                    release ()
                    Errors.fail "%s: epoch %d has no batches" spec.Label e

                if b.Length <> perEpoch then
                    release ()
                    Errors.fail "%s: epoch %d has %d batches, epoch 0 had %d" spec.Label e b.Length perEpoch

                cache.[e] <- b
                b

        batchesOf 0 |> ignore

        let loopSpec =
            { Label = spec.Label
              Steps = spec.Epochs * perEpoch
              StepsPerEpoch = perEpoch
              CheckpointEvery = spec.CheckpointEvery
              CheckpointSeconds = 300.0 }

        spec.Model.train ()

        try
            Loop.run
                run
                state
                loopSpec
                (fun info ctx ->
                    let batch = (batchesOf info.Epoch).[info.StepInEpoch]
                    use _ = torch.NewDisposeScope()
                    if info.StepInEpoch = 0 then sum <- 0.0
                    spec.Optimizer.zero_grad ()
                    let loss = spec.Loss batch
                    let lv = AutoDesign.Nn.ScalarOps.Item(loss)

                    if not (Double.IsFinite lv) then
                        Errors.fail "%s: loss became %g at epoch %d, step %d (try a lower learning rate)" spec.Label lv (info.Epoch + 1) (info.StepInEpoch + 1)

                    loss.backward ()
                    spec.Optimizer.step () |> ignore
                    sum <- sum + lv
                    ctx.Show [ "epoch", float (info.Epoch + 1); "loss", lv ])
                (fun epoch ctx ->
                    let extras = spec.EndOfEpoch epoch
                    spec.Model.train ()
                    ctx.Row([ "epoch", float (epoch + 1); "loss", sum / float perEpoch ] @ extras))
        finally
            release ()

    [<CompiledName("Run")>]
    let run (run: Run) (spec: FitSpec<'B>) = runWith run (TrainState()) spec
