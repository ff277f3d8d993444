namespace AutoDesign.Data

open TorchSharp

/// A batch as tensors: images [B,1,H,W] float32 and labels [B] int64.
type LabelledBatch = { ImageTensor: torch.Tensor; LabelTensor: torch.Tensor }

/// Mini-batches of example indices, and their tensors.
module Loader =
    /// The batches of one epoch: `indices` in a permutation fixed by (seed, epoch) when `shuffle`,
    /// else in the given order, cut into batches of `batchSize` (the last may be smaller). Every
    /// index appears exactly once per epoch; a resumed run gets the same order for the same epoch.
    [<CompiledName("Batches")>]
    let batches (seed: int) (epoch: int) (shuffle: bool) (batchSize: int) (indices: int[]) : seq<int[]> =
        if batchSize <= 0 then Errors.fail "batch size must be positive, got %d" batchSize
        let order = if shuffle then Shuffle.shuffled seed (int64 epoch) indices else Array.copy indices
        Seq.chunkBySize batchSize order

    /// Number of batches `batches` yields for n indices.
    [<CompiledName("BatchCount")>]
    let batchCount (batchSize: int) (n: int) = (n + batchSize - 1) / batchSize

    /// Images [B,1,H,W] float32 and labels [B] int64 of the examples `idx`, created on `device`.
    /// New tensors every call: dispose them (or create them inside a torch.NewDisposeScope()).
    [<CompiledName("ToTensors")>]
    let toTensors (ds: Dataset) (idx: int[]) (device: torch.Device) : LabelledBatch =
        let px = ds.Height * ds.Width
        let images = Array.zeroCreate<float32>(idx.Length * px)
        let labels = Array.zeroCreate<int64> idx.Length

        idx
        |> Array.iteri (fun j i ->
            if i < 0 || i >= ds.Count then invalidArg "idx" (sprintf "index %d outside 0..%d" i (ds.Count - 1))
            System.Array.Copy(ds.Images, i * px, images, j * px, px)
            labels.[j] <- int64 ds.Labels.[i])

        let xShape = [| int64 idx.Length; 1L; int64 ds.Height; int64 ds.Width |]
        let x = torch.tensor (images, System.ReadOnlySpan<int64>(xShape), device = device)
        let y = torch.tensor (labels, System.ReadOnlySpan<int64>([| int64 idx.Length |]), device = device)
        { ImageTensor = x; LabelTensor = y }
