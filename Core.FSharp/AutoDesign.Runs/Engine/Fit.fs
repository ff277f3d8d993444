namespace AutoDesign.Runs

open System
open System.Collections.Generic
open TorchSharp
open TorchSharp.Modules

/// A plain supervised loop: one model, one optimizer, epochs of batches.
type FitSpec<'B> =
    { Label: string
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
      CheckpointEvery: int }

/// `Loop.run` for the common case: the model, the optimizer and torch's default generator (dropout,
/// random initialisation) are checkpointed; one metrics row per epoch (epoch, mean loss, extras).
module Fit =
    let spec label (model: torch.nn.Module) (optimizer: OptimizerHelper) (loss: 'B -> torch.Tensor) (batches: int -> 'B[]) (epochs: int) : FitSpec<'B> =
        { Label = label; Model = model; Optimizer = optimizer; Loss = loss; Batches = batches; Epochs = epochs
          EndOfEpoch = (fun _ -> []); CheckpointEvery = 0 }

    /// Fit with extra components in `state` (e.g. a private generator the loss draws from).
    let runWith (run: Run) (state: TrainState) (spec: FitSpec<'B>) : (string * Cell) list list =
        if spec.Epochs < 1 then Errors.fail "%s: epochs must be at least 1 (got %d)" spec.Label spec.Epochs
        let perEpoch = (spec.Batches 0).Length
        if perEpoch < 1 then Errors.fail "%s: an epoch has no batches" spec.Label
        state.AddModule("model", spec.Model)
        state.AddOptimizer("optimizer", spec.Optimizer)
        state.AddTorchDefault()
        // the running loss sum of the current epoch is part of the state (a resumed epoch continues it)
        let mutable sum = 0.0
        state.AddValue<float>("epoch-loss", Func<float>(fun () -> sum), Action<float>(fun v -> sum <- v))
        let cache = Dictionary<int, 'B[]>()
        let batchesOf e =
            match cache.TryGetValue e with
            | true, b -> b
            | _ ->
                let b = spec.Batches e
                if b.Length <> perEpoch then Errors.fail "%s: epoch %d has %d batches, epoch 0 had %d" spec.Label e b.Length perEpoch
                cache.Clear()
                cache.[e] <- b
                b
        let loopSpec =
            { Label = spec.Label; Steps = spec.Epochs * perEpoch; StepsPerEpoch = perEpoch
              CheckpointEvery = spec.CheckpointEvery; CheckpointSeconds = 300.0 }
        spec.Model.train ()
        Loop.run run state loopSpec
            (fun info ctx ->
                use _ = torch.NewDisposeScope()
                if info.StepInEpoch = 0 then sum <- 0.0
                spec.Optimizer.zero_grad ()
                let loss = spec.Loss (batchesOf info.Epoch).[info.StepInEpoch]
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

    let run (run: Run) (spec: FitSpec<'B>) = runWith run (TrainState()) spec
