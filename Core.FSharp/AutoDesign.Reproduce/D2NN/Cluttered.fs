namespace AutoDesign.Reproduce.D2NN

open System
open TorchSharp
open AutoDesign.Runs
open AutoDesign.Data
open AutoDesign.Reproduce.Data
open AutoDesign.D2NN

/// Cluttered MNIST (Mnih et al., 2014) built from the 10,000 embedded MNIST digits: each example is one
/// 28×28 digit at a random position on a larger blank canvas, over fragments (random square crops) of
/// other digits at random positions; pixels combine by maximum. The label is the whole digit's class.
module Cluttered =
    /// Canvas side, number of fragments and fragment side of the stand-in task.
    type Config = { Side: int; Fragments: int; FragmentSide: int }

    let defaultConfig = { Side = 40; Fragments = 6; FragmentSide = 8 }

    /// `count` cluttered images [count; side*side] (row-major, 0..1) and labels, drawing digits from
    /// `pool` (indices into `digits`); deterministic in `seed`.
    let generate (digits: Dataset) (pool: int[]) (count: int) (cfg: Config) (seed: int) : float32[] * int[] =
        if digits.Height <> 28 || digits.Width <> 28 then
            Errors.fail "cluttered MNIST needs 28×28 digits, got %d×%d (width × height)" digits.Width digits.Height

        if cfg.Side < 28 then Errors.fail "cluttered MNIST canvas side must be at least 28, got %d" cfg.Side

        if cfg.FragmentSide < 1 || cfg.FragmentSide > 28 then
            Errors.fail "fragment side must be in 1..28, got %d" cfg.FragmentSide

        if cfg.Fragments < 0 then Errors.fail "number of fragments must be >= 0, got %d" cfg.Fragments
        if pool.Length < 2 then Errors.fail "cluttered MNIST needs at least 2 digits to draw from, got %d" pool.Length
        let s, f = cfg.Side, cfg.FragmentSide
        let px = s * s
        let images = Array.zeroCreate<float32>(count * px)
        let labels = Array.zeroCreate<int> count
        let rng = Random seed

        /// Max-paste an h×w crop of digit d (from row r0, column c0) at canvas (y, x) of example i.
        let paste (i: int) (d: int) (r0: int) (c0: int) (h: int) (w: int) (y: int) (x: int) =
            let src = d * 784
            let dst = i * px

            for r in 0 .. h - 1 do
                for c in 0 .. w - 1 do
                    let v = digits.Images[src + (r0 + r) * 28 + c0 + c]
                    let k = dst + (y + r) * s + x + c
                    if v > images[k] then images[k] <- v

        for i in 0 .. count - 1 do
            let d = pool[rng.Next pool.Length]

            for _ in 1 .. cfg.Fragments do
                let mutable o = pool[rng.Next pool.Length]

                while o = d do
                    o <- pool[rng.Next pool.Length]

                paste i o (rng.Next(29 - f)) (rng.Next(29 - f)) f f (rng.Next(s - f + 1)) (rng.Next(s - f + 1))

            paste i d 0 0 28 28 (rng.Next(s - 27)) (rng.Next(s - 27))
            labels[i] <- digits.Labels[d]

        images, labels

    /// Train, validation and test tasks: the embedded digits are split 8,000 / 2,000 (seeded), so test
    /// canvases show digits never seen in training; validation canvases are drawn from the training digits
    /// (a separate random stream). Stand-in for Cluttered MNIST 100×100.
    let task (trainCount: int) (valCount: int) (testCount: int) (cfg: Config) (seed: int) : Task =
        let mnist = Datasets.loadMnist ()
        let perm = Array.init mnist.Count id
        let rng = Random seed

        for i in perm.Length - 1 .. -1 .. 1 do
            let j = rng.Next(i + 1)
            let t = perm[i] in
            perm[i] <- perm[j]
            perm[j] <- t

        let cut = mnist.Count * 4 / 5
        let tx, ty = generate mnist perm[.. cut - 1] trainCount cfg (seed + 1)
        let vx, vy = generate mnist perm[cut..] testCount cfg (seed + 2)
        let ux, uy = generate mnist perm[.. cut - 1] valCount cfg (seed + 3)
        let toT (x: float32[]) n = torch.tensor(x).reshape(int64 n, 1L, int64 cfg.Side, int64 cfg.Side)

        { Name = "cluttered-mnist"
          Data =
            sprintf
                "Cluttered MNIST %d×%d built from the embedded MNIST digits, %d fragments of %d×%d (stand-in for Cluttered MNIST 100×100)"
                cfg.Side
                cfg.Side
                cfg.Fragments
                cfg.FragmentSide
                cfg.FragmentSide
          TrainX = toT tx trainCount
          TrainY = ty
          ValX = toT ux valCount
          ValY = uy
          TestX = toT vx testCount
          TestY = vy
          Metric = Accuracy
          Classes = 10 }
