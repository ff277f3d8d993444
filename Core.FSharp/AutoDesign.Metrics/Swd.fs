namespace AutoDesign.Metrics

open System
open System.Collections.Generic
open TorchSharp
open AutoDesign.Nn

/// The sliced Wasserstein distance of two image sets (Swd.Compute).
type SwdResult =
    {
        /// SWD×10³ per pyramid level, finest first.
        PerLevel: IReadOnlyList<float>
        /// Their average.
        Average: float
    }

/// Sliced Wasserstein distance as in ProgGAN's official code (metrics/sliced_wasserstein.py): Laplacian pyramid
/// down to 16×16 (a single level for images smaller than 16), 128 random 7×7 neighbourhoods per image and level,
/// descriptors normalised per channel within each set, 4 repeats × 128 random unit directions, mean |sorted
/// projection difference|, ×10³. Returns the per-level values (finest first) and their average.
module Swd =
    let nhoodSize = 7
    let nhoodsPerImage = 128
    let dirRepeats = 4
    let dirsPerRepeat = 128

    let private gaussian () =
        let k = [| 1.0f; 4.0f; 6.0f; 4.0f; 1.0f |]
        torch.tensor(Array.init 25 (fun i -> k.[i / 5] * k.[i % 5] / 256.0f): float32[]).reshape(1L, 1L, 5L, 5L)

    let private blur (x: torch.Tensor) (scale: float32) =
        AutoDesign.Nn.CpuKernels.UseLibTorchConvolutions() // not oneDNN's (see CpuKernels)
        let n, c, h, w = x.shape.[0], x.shape.[1], x.shape.[2], x.shape.[3]
        let flat = x.reshape (n * c, 1L, h, w)
        let padded = torch.nn.functional.pad (flat, [| 2L; 2L; 2L; 2L |], mode = PaddingModes.Reflect)
        use g = gaussian().``to``(x.device)
        torch.nn.functional.conv2d(padded, g.Mul(float scale)).reshape(n, c, h, w)

    /// cv2.pyrDown: blur (mirror border), keep every second pixel.
    [<CompiledName("PyrDown")>]
    let pyrDown (x: torch.Tensor) =
        let b = blur x 1.0f

        b.index (
            torch.TensorIndex.Colon,
            torch.TensorIndex.Colon,
            torch.TensorIndex.Slice(System.Nullable 0L, System.Nullable(), System.Nullable 2L),
            torch.TensorIndex.Slice(System.Nullable 0L, System.Nullable(), System.Nullable 2L)
        )

    /// cv2.pyrUp: zero-interleave, blur with 4× the kernel.
    [<CompiledName("PyrUp")>]
    let pyrUp (x: torch.Tensor) =
        let n, c, h, w = x.shape.[0], x.shape.[1], x.shape.[2], x.shape.[3]
        let z = torch.zeros ([| n; c; h * 2L; w * 2L |], device = x.device)

        z.index_put_ (
            x,
            torch.TensorIndex.Colon,
            torch.TensorIndex.Colon,
            torch.TensorIndex.Slice(System.Nullable 0L, System.Nullable(), System.Nullable 2L),
            torch.TensorIndex.Slice(System.Nullable 0L, System.Nullable(), System.Nullable 2L)
        )
        |> ignore

        blur z 4.0f

    [<CompiledName("LaplacianPyramid")>]
    let laplacianPyramid (x: torch.Tensor) (levels: int) : IReadOnlyList<torch.Tensor> =
        let pyr = ResizeArray [ x ]

        for _ in 1 .. levels - 1 do
            let small = pyrDown pyr.[pyr.Count - 1]
            pyr.[pyr.Count - 1] <- pyr.[pyr.Count - 1] - pyrUp small
            pyr.Add small

        List.ofSeq pyr :> IReadOnlyList<_>

    /// Random 7×7 neighbourhoods [N·128, C·49], normalised per channel over the whole set.
    [<CompiledName("Descriptors")>]
    let descriptors (rng: Random) (x: torch.Tensor) =
        let n, h, w = int x.shape.[0], int x.shape.[2], int x.shape.[3]
        let half = nhoodSize / 2

        if h < nhoodSize || w < nhoodSize then
            Errors.fail "SWD needs images of at least %dx%d (width x height), got %dx%d" nhoodSize nhoodSize w h

        let m = n * nhoodsPerImage
        let img = Array.init m (fun i -> int64 (i / nhoodsPerImage))
        let ys = Array.init m (fun _ -> int64 (rng.Next(half, h - half) - half))
        let xs = Array.init m (fun _ -> int64 (rng.Next(half, w - half) - half))
        let c = int x.shape.[1]
        // Flat indices ((img·C + chan)·H + y)·W + x of every neighbourhood pixel, as ProgGAN's ogrid gather.
        let k = nhoodSize
        let flat = Array.zeroCreate<int64>(m * c * k * k)
        let mutable o = 0

        for i in 0 .. m - 1 do
            for ch in 0 .. c - 1 do
                for dy in 0 .. k - 1 do
                    for dx in 0 .. k - 1 do
                        flat.[o] <- ((img.[i] * int64 c + int64 ch) * int64 h + ys.[i] + int64 dy) * int64 w + xs.[i] + int64 dx
                        o <- o + 1

        let d = x.contiguous().take(torch.tensor(flat: int64[]).``to``(x.device)).reshape(int64 m, int64 c, int64 k, int64 k)
        // d: [M, C, 7, 7]
        let mean = d.mean ([| 0L; 2L; 3L |], keepdim = true)
        let std = d.std ([| 0L; 2L; 3L |], unbiased = false, keepdim = true)
        ((d - mean) / std.Add(1e-12)).reshape(int64 m, -1L)

    [<CompiledName("Sliced")>]
    let sliced (rng: Random) (a: torch.Tensor) (b: torch.Tensor) =
        let dim = int a.shape.[1]

        let results =
            [ for _ in 1..dirRepeats do
                  use _ = torch.NewDisposeScope()
                  // Box–Muller normal directions from the seeded System.Random, normalised per direction.
                  let gauss () =
                      let u1 = 1.0 - rng.NextDouble()
                      let u2 = rng.NextDouble()
                      float32 (sqrt (-2.0 * log u1) * cos (2.0 * Math.PI * u2))

                  let dirs =
                      torch.tensor(Array.init (dim * dirsPerRepeat) (fun _ -> gauss ()): float32[]).reshape(int64 dim, int64 dirsPerRepeat).``to``(a.device)

                  let dirs = dirs / dirs.Squared().sum(0L, keepdim = true).sqrt()
                  // Projections as [dirs, M] (contiguous rows: sorting along the last dim is much faster).
                  let struct (pa, _) = torch.matmul(dirs.t (), a.t ()).contiguous().sort(1L)
                  let struct (pb, _) = torch.matmul(dirs.t (), b.t ()).contiguous().sort(1L)
                  yield (pa - pb).abs().mean().Item() ]

        List.average results

    /// SWD×10³ per pyramid level (finest first) and the average, for two image sets [N,C,H,W] (same N used:
    /// the larger set is cut to the smaller's size).
    [<CompiledName("Compute")>]
    let compute (seed: int) (real: torch.Tensor) (fake: torch.Tensor) : SwdResult =
        use _ = torch.NewDisposeScope()

        if real.shape.[2] <> fake.shape.[2] || real.shape.[3] <> fake.shape.[3] || real.shape.[1] <> fake.shape.[1] then
            Errors.fail "SWD: image sets differ in shape (%A vs %A)" real.shape fake.shape

        let n = min real.shape.[0] fake.shape.[0]
        let real = real.narrow(0L, 0L, n).to_type(torch.float32)
        let fake = fake.narrow(0L, 0L, n).to_type(torch.float32)
        let res = int real.shape.[2]
        let levels = max 1 (Seq.length (Seq.unfold (fun r -> if r >= 16 then Some(r, r / 2) else None) res))
        let step = 1 <<< (levels - 1)

        if real.shape.[2] <> real.shape.[3] || res % step <> 0 then
            Errors.fail "SWD needs square images whose side halves evenly down to 16 (e.g. 16, 32, 64); got %dx%d (width x height)" (int real.shape.[3]) res

        let rng = Random(seed)
        let pr = List.ofSeq (laplacianPyramid real levels)
        let pf = List.ofSeq (laplacianPyramid fake levels)

        let per =
            List.map2
                (fun (a: torch.Tensor) (b: torch.Tensor) ->
                    let da = descriptors rng a
                    let db = descriptors rng b
                    sliced rng da db * 1e3)
                pr
                pf

        { PerLevel = per; Average = List.average per }
