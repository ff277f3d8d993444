namespace AutoDesign.D2NN

open System
open System.Collections.Generic
open System.Runtime.InteropServices
open System.Security.Cryptography
open TorchSharp

/// A classification task for D²NN experiments: images [N, ...] on the CPU, labels 0..C-1.
type Task =
    {
        Name: string
        /// The data set, saying "stand-in for X" where it is one.
        Data: string
        TrainX: torch.Tensor
        TrainY: int[]
        /// Held-out examples carved from the training images (never trained on): every choice of λ, threshold
        /// or recipe option is made on them, never on the test split.
        ValX: torch.Tensor
        ValY: int[]
        TestX: torch.Tensor
        TestY: int[]
        Metric: AccuracyMetric
        Classes: int
    }

    /// Fraction of the training examples labelled `label`.
    member t.Prior(label: int) =
        if t.TrainY.Length = 0 then
            0.0
        else
            float (t.TrainY |> Array.sumBy (fun l -> if l = label then 1 else 0)) / float t.TrainY.Length

    /// SHA-256 (hex, first 16 characters) of the shapes, pixels and labels of the three splits: run configurations
    /// record it, so a run folder made on other data is refused instead of silently continued.
    member t.Fingerprint() =
        use sha = SHA256.Create()
        let add (bytes: byte[]) = sha.TransformBlock(bytes, 0, bytes.Length, null, 0) |> ignore

        for x, y in [ t.TrainX, t.TrainY; t.ValX, t.ValY; t.TestX, t.TestY ] do
            for d in x.shape do
                add (BitConverter.GetBytes d)

            use c = x.cpu().contiguous().to_type(torch.float32)
            add (MemoryMarshal.AsBytes(c.data<float32>().ToArray().AsSpan()).ToArray())
            add (MemoryMarshal.AsBytes(y.AsSpan()).ToArray())

        sha.TransformFinalBlock([||], 0, 0) |> ignore
        Convert.ToHexString(sha.Hash).Substring(0, 16).ToLowerInvariant()

/// A static baseline of an architecture: a conventional network of regular nodes (fresh weights on every
/// call of Build).
type Baseline = { Name: string; Build: Func<D2nnGraph> }

/// An architecture of §2.7.3: the D²NN, its static baselines and which baseline normalizes cost.
type Architecture =
    {
        Name: string
        Build: Func<D2nnGraph>
        /// The first one is the cost reference (cost 1.0).
        Baselines: IReadOnlyList<Baseline>
        Output: string
        Classes: int
    }

    /// The reference baseline (cost 1.0).
    member a.Reference = a.Baselines[0]

    /// The baseline named `name`.
    member a.Baseline(name: string) =
        match a.Baselines |> Seq.tryFind (fun b -> b.Name = name) with
        | Some b -> b
        | None -> Errors.fail "architecture %s has no baseline '%s' (it has %s)" a.Name name (a.Baselines |> Seq.map (fun b -> b.Name) |> String.concat ", ")
