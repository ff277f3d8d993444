namespace AutoDesign.Reproduce.D2NN

open TorchSharp
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

    /// Max-paste an h×w crop (from row r0, column c0) of the image at `src` (row-major, `width` wide) in
    /// `pixels` at (y, x) of canvas i of `images` (canvases `side`×`side`).
    let private pasteCrop
        (images: float32[])
        (side: int)
        (i: int)
        (pixels: float32[])
        (src: int)
        (width: int)
        (r0: int)
        (c0: int)
        (h: int)
        (w: int)
        (y: int)
        (x: int)
        =
        let dst = i * side * side

        for r in 0 .. h - 1 do
            for c in 0 .. w - 1 do
                let v = pixels[src + (r0 + r) * width + c0 + c]
                let k = dst + (y + r) * side + x + c
                if v > images[k] then images[k] <- v

    let private checkDigits (digits: Dataset) (pool: int[]) =
        if digits.Height <> 28 || digits.Width <> 28 then
            Errors.fail "cluttered MNIST needs 28×28 digits, got %d×%d (width × height)" digits.Width digits.Height

        if pool.Length < 2 then Errors.fail "cluttered MNIST needs at least 2 digits to draw from, got %d" pool.Length

    /// `count` cluttered images [count; side*side] (row-major, 0..1) and labels, drawing digits from
    /// `pool` (indices into `digits`); deterministic in `seed` (SplitMix stream (seed, 1)).
    let generate (digits: Dataset) (pool: int[]) (count: int) (cfg: Config) (seed: int) : float32[] * int[] =
        checkDigits digits pool

        if cfg.Side < 28 then Errors.fail "cluttered MNIST canvas side must be at least 28, got %d" cfg.Side

        if cfg.FragmentSide < 1 || cfg.FragmentSide > 28 then
            Errors.fail "fragment side must be in 1..28, got %d" cfg.FragmentSide

        if cfg.Fragments < 0 then Errors.fail "number of fragments must be >= 0, got %d" cfg.Fragments
        let s, f = cfg.Side, cfg.FragmentSide
        let px = s * s
        let images = Array.zeroCreate<float32>(count * px)
        let labels = Array.zeroCreate<int> count
        let rng = Shuffle.Rng(seed, 1L)
        let paste i d r0 c0 h w y x = pasteCrop images s i digits.Images (d * 784) 28 r0 c0 h w y x

        for i in 0 .. count - 1 do
            let d = pool[rng.Below pool.Length]

            for _ in 1 .. cfg.Fragments do
                let mutable o = pool[rng.Below pool.Length]

                while o = d do
                    o <- pool[rng.Below pool.Length]

                paste i o (rng.Below(29 - f)) (rng.Below(29 - f)) f f (rng.Below(s - f + 1)) (rng.Below(s - f + 1))

            paste i d 0 0 28 28 (rng.Below(s - 27)) (rng.Below(s - 27))
            labels[i] <- digits.Labels[d]

        images, labels

    /// Per-image difficulty of the mixed task: a canvas is clean (the whole digit, nothing else) with
    /// probability CleanPercent/100, else hard: the digit shrunk to k×k (k uniform in MinScale..MaxScale)
    /// at a random position under MinFragments..MaxFragments fragments of FragmentSide×FragmentSide.
    type MixedConfig = { CleanPercent: int; MinScale: int; MaxScale: int; MinFragments: int; MaxFragments: int; FragmentSide: int }

    /// The task of docs/d2nn.md, "A second routing task" (fixed before any run on it).
    let mixedConfig = { CleanPercent = 50; MinScale = 12; MaxScale = 18; MinFragments = 4; MaxFragments = 8; FragmentSide = 8 }

    /// Digit `d` shrunk to k×k (k ≤ 28): each pixel the mean of the source pixels that fall in it.
    let shrink (digits: Dataset) (d: int) (k: int) : float32[] =
        let sum = Array.zeroCreate<float32>(k * k)
        let n = Array.zeroCreate<int>(k * k)

        for r in 0..27 do
            for c in 0..27 do
                let t = (r * k / 28) * k + c * k / 28
                sum[t] <- sum[t] + digits.Images[d * 784 + r * 28 + c]
                n[t] <- n[t] + 1

        Array.map2 (fun v c -> v / float32 c) sum n

    /// `count` 28×28 canvases [count; 784] of mixed difficulty (`cfg`), labels and whether each is hard,
    /// drawing digits from `pool`; deterministic in (seed, stream).
    let generateMixed (digits: Dataset) (pool: int[]) (count: int) (cfg: MixedConfig) (seed: int) (stream: int64) =
        checkDigits digits pool

        if cfg.MinScale < 1 || cfg.MaxScale > 28 || cfg.MinScale > cfg.MaxScale then
            Errors.fail "digit scales must satisfy 1 <= min <= max <= 28, got %d..%d" cfg.MinScale cfg.MaxScale

        if cfg.MinFragments < 0 || cfg.MinFragments > cfg.MaxFragments then
            Errors.fail "fragment counts must satisfy 0 <= min <= max, got %d..%d" cfg.MinFragments cfg.MaxFragments

        if cfg.FragmentSide < 1 || cfg.FragmentSide > 28 then
            Errors.fail "fragment side must be in 1..28, got %d" cfg.FragmentSide

        let f = cfg.FragmentSide
        let images = Array.zeroCreate<float32>(count * 784)
        let labels = Array.zeroCreate<int> count
        let hard = Array.zeroCreate<bool> count
        let rng = Shuffle.Rng(seed, stream)
        let draw () = pool[rng.Below pool.Length]
        let between lo hi = lo + rng.Below(hi - lo + 1)

        for i in 0 .. count - 1 do
            let d = draw ()
            labels[i] <- digits.Labels[d]
            hard[i] <- rng.Below 100 >= cfg.CleanPercent

            if not hard[i] then
                pasteCrop images 28 i digits.Images (d * 784) 28 0 0 28 28 0 0
            else
                for _ in 1 .. between cfg.MinFragments cfg.MaxFragments do
                    let mutable o = draw ()

                    while o = d do
                        o <- draw ()

                    pasteCrop images 28 i digits.Images (o * 784) 28 (rng.Below(29 - f)) (rng.Below(29 - f)) f f (rng.Below(29 - f)) (rng.Below(29 - f))

                let k = between cfg.MinScale cfg.MaxScale
                pasteCrop images 28 i (shrink digits d k) 0 k 0 0 k k (rng.Below(29 - k)) (rng.Below(29 - k))

        images, labels, hard

    /// The mixed-difficulty task (docs/d2nn.md, "A second routing task"): the embedded digits split
    /// 8,000 / 2,000 by a permutation of the seed; training (stream 1) and validation (stream 3) canvases
    /// from the 8,000, test canvases (stream 2) from the 2,000. `classes` 10: the digit, by accuracy;
    /// 2: digit 0 against the rest, by F1 of class 0.
    let mixedTask (classes: int) (trainCount: int) (valCount: int) (testCount: int) (seed: int) : Task =
        if classes <> 2 && classes <> 10 then Errors.fail "the mixed MNIST task has 2 or 10 classes, got %d" classes
        let mnist = Datasets.loadMnist ()
        let perm = Shuffle.permutation seed 0L mnist.Count
        let cut = mnist.Count * 4 / 5
        let label = if classes = 2 then Array.map (fun l -> if l = 0 then 1 else 0) else id

        let make (pool: int[]) n stream =
            let x, y, _ = generateMixed mnist pool n mixedConfig seed stream
            torch.tensor(x).reshape(int64 n, 1L, 28L, 28L), label y

        let tx, ty = make perm[.. cut - 1] trainCount 1L
        let vx, vy = make perm[cut..] testCount 2L
        let ux, uy = make perm[.. cut - 1] valCount 3L

        Tasks.create
            (if classes = 2 then "mixed-mnist-0-vs-rest" else "mixed-mnist")
            (sprintf
                "MNIST 28×28 of mixed difficulty built from the embedded digits: half clean, half shrunk to 12-18 px under 4-8 fragments of 8×8%s; not a thesis data set"
                (if classes = 2 then ", digit 0 vs rest" else ""))
            (if classes = 2 then F1 1 else Accuracy)
            classes
            (tx, ty)
            (ux, uy)
            (vx, vy)

    /// Train, validation and test tasks: the embedded digits are split 8,000 / 2,000 (seeded), so test
    /// canvases show digits never seen in training; validation canvases are drawn from the training digits
    /// (a separate random stream). Stand-in for Cluttered MNIST 100×100.
    let task (trainCount: int) (valCount: int) (testCount: int) (cfg: Config) (seed: int) : Task =
        let mnist = Datasets.loadMnist ()
        let perm = Shuffle.permutation seed 0L mnist.Count
        let cut = mnist.Count * 4 / 5
        let tx, ty = generate mnist perm[.. cut - 1] trainCount cfg (seed + 1)
        let vx, vy = generate mnist perm[cut..] testCount cfg (seed + 2)
        let ux, uy = generate mnist perm[.. cut - 1] valCount cfg (seed + 3)
        let toT (x: float32[]) n = torch.tensor(x).reshape(int64 n, 1L, int64 cfg.Side, int64 cfg.Side)

        Tasks.create
            "cluttered-mnist"
            (sprintf
                "Cluttered MNIST %d×%d built from the embedded MNIST digits, %d fragments of %d×%d (stand-in for Cluttered MNIST 100×100)"
                cfg.Side
                cfg.Side
                cfg.Fragments
                cfg.FragmentSide
                cfg.FragmentSide)
            Accuracy
            10
            (toT tx trainCount, ty)
            (toT ux valCount, uy)
            (toT vx testCount, vy)
