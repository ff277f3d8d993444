namespace AutoDesign.D2NN

open System
open AutoDesign.Runs
open AutoDesign.Data

/// Where a sampler is in its stream of mini-batches: the current permutation of the training set and the
/// next position in it (uniform shuffling; empty for class-balanced draws). Saved in checkpoints.
type SamplerState = { Order: int[]; Position: int }

/// Mini-batches of training-example indices of `task`, drawn from `random` (checkpoint both):
/// - `positiveFraction` = 0: uniform shuffling; each pass over the training set is a fresh permutation
///   (Shuffle.permutation, seeded by a draw from `random`), a batch never straddles two passes;
/// - `positiveFraction` in (0, 1), binary tasks only: each example is a positive (label 1) with that
///   probability, then drawn uniformly within its class (class-balanced mini-batches and mini-bags).
[<Sealed>]
type BatchSampler(task: Task, batchSize: int, positiveFraction: float, random: Random) =
    let n = task.TrainY.Length

    let positives =
        [| for i in 0 .. n - 1 do
               if task.TrainY[i] = 1 then yield i |]

    let negatives =
        [| for i in 0 .. n - 1 do
               if task.TrainY[i] <> 1 then yield i |]

    do
        if batchSize < 1 then Errors.fail "mini-batch size must be >= 1, got %d" batchSize

        if Double.IsNaN positiveFraction || positiveFraction < 0.0 || positiveFraction >= 1.0 then
            Errors.fail "positive fraction must be in (0, 1), or 0 for uniform sampling; got %g" positiveFraction

        if positiveFraction > 0.0 then
            if task.Classes <> 2 then
                Errors.fail "a positive fraction applies to binary tasks only; '%s' has %d classes" task.Name task.Classes

            if positives.Length = 0 || negatives.Length = 0 then
                Errors.fail "task '%s' needs both positive and negative training examples for balanced sampling" task.Name
        elif batchSize > n then
            Errors.fail "mini-batch size %d exceeds the %d training examples of '%s'" batchSize n task.Name

    let mutable order = if positiveFraction > 0.0 then [||] else Array.init n id
    let mutable position = n

    /// The next mini-batch of training-example indices.
    member _.Next() : int[] =
        if positiveFraction > 0.0 then
            Array.init batchSize (fun _ ->
                if random.NextDouble() < positiveFraction then
                    positives[random.Next positives.Length]
                else
                    negatives[random.Next negatives.Length])
        else
            if position + batchSize > n then
                order <- Shuffle.permutation (random.Next()) 0L n
                position <- 0

            position <- position + batchSize
            order[position - batchSize .. position - 1]

    /// The sampler's position (the random stream is saved separately).
    member _.State
        with get () = { Order = Array.copy order; Position = position }
        and set (s: SamplerState) =
            if isNull s.Order || s.Order.Length <> order.Length || s.Position < 0 || s.Position > n then
                Errors.fail "the checkpoint's sampler state does not fit a training set of %d examples" n

            order <- Array.copy s.Order
            position <- s.Position

    /// Register the sampler's position with `state` under `name`.
    member s.Register(state: TrainState, name: string) =
        state.AddValue<SamplerState>(name, Func<SamplerState>(fun () -> s.State), Action<SamplerState>(fun v -> s.State <- v))
