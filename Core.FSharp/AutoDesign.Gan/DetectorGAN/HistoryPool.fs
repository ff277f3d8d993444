namespace AutoDesign.DetectorGAN

open System
open System.Text.Json.Nodes
open TorchSharp
open AutoDesign.Nn
open AutoDesign.Runs

/// History of generated images (Shrivastava et al. 2017): once full, each new image replaces a random stored one
/// half of the time and the stored one is shown to the discriminator instead. Checkpointable: the stored images
/// and the pool's random stream are part of a run's state.
type HistoryPool(capacity: int, seed: int) =
    let rng = SeededRandom(seed)
    let stored = ResizeArray<torch.Tensor>()
    member _.Count = stored.Count

    /// images [N,...] (detached inside) → a batch of the same shape drawn through the pool.
    member _.Query(images: torch.Tensor) : torch.Tensor =
        let n = int images.shape.[0]

        let outs =
            [ for i in 0 .. n - 1 ->
                  let img = images.narrow(0L, int64 i, 1L).detach().clone()

                  if capacity <= 0 then
                      img
                  elif stored.Count < capacity then
                      stored.Add(img.clone().DetachFromDisposeScope())
                      img
                  elif rng.NextDouble() < 0.5 then
                      let k = rng.Next capacity
                      let old = stored.[k]
                      stored.[k] <- img.clone().DetachFromDisposeScope()
                      let shown = old.clone ()
                      old.Dispose()
                      shown
                  else
                      img ]

        torch.cat (ResizeArray outs, 0L)

    interface IStateful with
        member _.Capture(snap, p) =
            snap.Values.[p + "count"] <- JsonValue.Create stored.Count
            snap.Values.[p + "random"] <- Json.toNode rng.State
            if stored.Count > 0 then snap.Tensors.[p + "images"] <- torch.cat(ResizeArray stored, 0L).DetachFromDisposeScope()

        member _.Restore(snap, p) =
            for t in stored do
                t.Dispose()

            stored.Clear()
            if not (snap.Values.ContainsKey(p + "count")) then Errors.fail "the checkpoint has no history pool %s" p
            let count = int (Json.integer "" (p + "count") snap.Values.[p + "count"])
            rng.State <- Json.ofNode<RandomState> (p + "random") snap.Values.[p + "random"]

            if count > 0 then
                let all =
                    match snap.Tensors.TryGetValue(p + "images") with
                    | true, t -> t
                    | _ -> Errors.fail "the checkpoint has no images for history pool %s" p

                if int all.shape.[0] <> count then Errors.fail "history pool %s: %d images stored, %d counted" p all.shape.[0] count

                for i in 0 .. count - 1 do
                    stored.Add(all.narrow(0L, int64 i, 1L).clone().DetachFromDisposeScope())

    interface ISnapshotCheck with
        member _.Expect(snap, p, file, expected) =
            let count = Json.integer file (p + "count") (Json.memberOf file "" (p + "count") snap.Values)

            if count < 0L || count > int64 (max capacity 0) then
                Errors.fail "%s: field '%scount' is %d; the pool holds 0 to %d images" file p count (max capacity 0)
            // the stored images: [count, channels, height, width] as the generator made them
            if count > 0L then expected.[p + "images"] <- { DType = torch.float32; Shape = [| count; -1L; -1L; -1L |] }

    interface IDisposable with
        member _.Dispose() =
            for t in stored do
                t.Dispose()
