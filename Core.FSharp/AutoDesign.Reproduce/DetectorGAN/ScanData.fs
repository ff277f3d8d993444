namespace AutoDesign.Reproduce.DetectorGAN

open System
open AutoDesign.Runs
open AutoDesign.DetectorGAN
open AutoDesign.Metrics

/// Procedural nodule scans (stand-in for NIH ChestX-ray nodules): a smooth random background with
/// rib-like horizontal bands and pixel noise; objects are faint Gaussian blobs inside a central "lung"
/// region, boxed at ±2σ. Everything follows from the seed.
module ScanData =
    let dataName = "procedural nodule scans (stand-in for NIH ChestX-ray nodules)"

    let private gauss (rng: Random) = sqrt (-2.0 * log (1.0 - rng.NextDouble())) * cos (2.0 * Math.PI * rng.NextDouble())

    let private background (rng: Random) (size: int) =
        let s = float size

        let bumps =
            Array.init 6 (fun _ -> s * rng.NextDouble(), s * rng.NextDouble(), s * (0.18 + 0.2 * rng.NextDouble()), 0.2 * (rng.NextDouble() - 0.5))

        let period = s * (0.16 + 0.08 * rng.NextDouble())
        let phase = 2.0 * Math.PI * rng.NextDouble()

        Array.init (size * size) (fun k ->
            let x, y = float (k % size) + 0.5, float (k / size) + 0.5
            let mutable v = 0.4 + 0.05 * sin (2.0 * Math.PI * y / period + phase)
            // darker lung fields left and right of the centre line, brighter edges
            v <- v - 0.08 * exp (-((x - 0.3 * s) ** 2.0 + (y - 0.5 * s) ** 2.0) / (0.08 * s * s))
            v <- v - 0.08 * exp (-((x - 0.7 * s) ** 2.0 + (y - 0.5 * s) ** 2.0) / (0.08 * s * s))

            for (bx, by, bs, ba) in bumps do
                v <- v + ba * exp (-((x - bx) ** 2.0 + (y - by) ** 2.0) / (2.0 * bs * bs))

            v + 0.025 * gauss rng)

    /// Add one faint blob centred at (cx, cy) with width sigma and amplitude amp; returns its ±2σ box.
    let addBlob (size: int) (px: float[]) (cx: float) (cy: float) (sigma: float) (amp: float) =
        for k in 0 .. px.Length - 1 do
            let x, y = float (k % size) + 0.5, float (k / size) + 0.5
            px.[k] <- px.[k] + amp * exp (-((x - cx) ** 2.0 + (y - cy) ** 2.0) / (2.0 * sigma * sigma))

        Box.clip (float size) (Box.make (cx - 2.0 * sigma) (cy - 2.0 * sigma) (cx + 2.0 * sigma) (cy + 2.0 * sigma))

    let private scan (rng: Random) (spec: ScanSpec) (objects: int) =
        let size = spec.Size
        let px = background rng size
        let s = float size

        let boxes =
            [ for _ in 1..objects ->
                  let sigma = spec.NoduleScale * s / 32.0 * (1.0 + 0.8 * rng.NextDouble())
                  let cx = s * (0.2 + 0.6 * rng.NextDouble())
                  let cy = s * (0.2 + 0.6 * rng.NextDouble())
                  addBlob size px cx cy sigma (spec.Contrast * (0.14 + 0.12 * rng.NextDouble())) ]

        { Pixels = px |> Array.map (fun v -> float32 (max 0.0 (min 1.0 v))); Boxes = boxes }

    /// The original stand-in (32 labelled scans, nodules at full contrast and size).
    let easySpec = { Size = 32; Labelled = 32; Clean = 400; Test = 120; Contrast = 1.0; NoduleScale = 1.0 }
    /// The small-data regime of the quick config: half the labelled scans and nodules at 0.8 of the contrast, where
    /// a detector trained on real data only is clearly imperfect (calibrated 2026-11-28 with 500-iteration real-only
    /// detectors, seeds 1-2: AP@0.1 0.15-0.17, recall@0.1 0.70-0.75, AP@0.5 0.01; the easy spec's 32 scans at full
    /// contrast reach recall 0.78, contrast 0.6 leaves AP@0.1 below 0.1).
    let quickSpec = { Size = 32; Labelled = 16; Clean = 400; Test = 160; Contrast = 0.8; NoduleScale = 1.0 }
    let fullSpec = { Size = 48; Labelled = 24; Clean = 1000; Test = 300; Contrast = 0.8; NoduleScale = 1.0 }

    /// Generate the task. Labelled and test scans hold 1–3 objects each (all annotated); clean scans none.
    let generate (spec: ScanSpec) (seed: int) : ScanSet =
        if spec.Size < 16 then Errors.fail "scan size must be at least 16 pixels, got %d" spec.Size

        if spec.Labelled < 1 || spec.Clean < 1 || spec.Test < 1 then
            Errors.fail "scan set needs at least one labelled, clean and test image (got %d, %d, %d)" spec.Labelled spec.Clean spec.Test

        if not (spec.Contrast > 0.0) || not (spec.NoduleScale > 0.0) then
            Errors.fail "nodule contrast and scale must be positive (got %g, %g)" spec.Contrast spec.NoduleScale

        let rng = Random(seed)
        let labelled = Array.init spec.Labelled (fun _ -> scan rng spec (1 + rng.Next 3))
        let clean = Array.init spec.Clean (fun _ -> scan rng spec 0)
        let test = Array.init spec.Test (fun _ -> scan rng spec (1 + rng.Next 3))
        { Size = spec.Size; Labelled = labelled; Clean = clean; Test = test; Seed = seed }

    /// 4×4-block average (the descriptor used to match a clean scan to its most similar labelled scan).
    let private thumb (size: int) (px: float32[]) =
        let c = 4
        let cell = size / c

        Array.init (c * c) (fun k ->
            let cx, cy = k % c, k / c
            let mutable s = 0.0f

            for y in cy * cell .. cy * cell + cell - 1 do
                for x in cx * cell .. cx * cell + cell - 1 do
                    s <- s + px.[y * size + x]

            s / float32 (cell * cell))

    /// §4.3.1: match each clean scan to the most similar labelled scan (L2 on block averages), take one of
    /// its boxes and jitter the location by up to ±Size/8 pixels, kept inside the image.
    let insertionBoxes (set: ScanSet) (seed: int) : Insertion[] =
        let rng = Random(seed)
        let thumbs = set.Labelled |> Array.map (fun s -> thumb set.Size s.Pixels)
        let jitter = float set.Size / 8.0

        set.Clean
        |> Array.map (fun c ->
            let t = thumb set.Size c.Pixels

            let best =
                thumbs
                |> Array.mapi (fun i u -> i, Array.fold2 (fun acc (a: float32) b -> acc + float ((a - b) * (a - b))) 0.0 t u)
                |> Array.minBy snd
                |> fst

            let boxes = set.Labelled.[best].Boxes |> Array.ofSeq
            let b = boxes.[rng.Next boxes.Length]
            let dx, dy = jitter * (2.0 * rng.NextDouble() - 1.0), jitter * (2.0 * rng.NextDouble() - 1.0)

            { Labelled = best
              Source = b
              Target = Box.shiftInside (float set.Size) (Box.make (b.X0 + dx) (b.Y0 + dy) (b.X1 + dx) (b.Y1 + dy)) })
