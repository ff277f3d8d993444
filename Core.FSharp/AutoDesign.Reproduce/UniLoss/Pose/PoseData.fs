namespace AutoDesign.Reproduce.UniLoss.Pose

open System
open TorchSharp
open AutoDesign.Runs
open AutoDesign.UniLoss

/// One generated example: a side×side grayscale image (row-major, 0..1), the head-top joint in
/// continuous image coordinates (pixel (r, c) covers [r, r+1) × [c, c+1)) and the head-segment
/// length (neck → head top) in image pixels.
type PoseSample = { Image: float32[]; HeadRow: float; HeadCol: float; HeadLength: float }

/// A fixed data set with train / validation / test index ranges.
type PoseSet = { Name: string; Side: int; Samples: PoseSample[]; Train: int[]; Val: int[]; Test: int[] }

/// Procedural stick figures (stand-in for MPII head joints): each image shows one articulated
/// stick figure (torso, head disc, two 2-segment arms and legs, random pose, scale, tilt and
/// brightness) over a noisy gradient background with clutter (random line segments and boxes).
/// The joint is the head top; the PCKh radius is half the neck → head-top length. Sample i of a
/// data seed is drawn from its own Random(dataSeed · 1000003 + i), so every split is fixed and
/// independent of how many samples are generated.
module PoseData =
    let name = "procedural stick figures (stand-in for MPII head joints)"

    /// Draw a segment of the given thickness with intensity v (max-blend, 1-pixel soft edge).
    let private segment (img: float32[]) (side: int) (r0: float) (c0: float) (r1: float) (c1: float) (thick: float) (v: float) =
        let half = thick / 2.0
        let lo x y = max 0 (int (floor (min x y - half - 1.0)))
        let hi x y = min (side - 1) (int (ceil (max x y + half + 1.0)))
        let dr, dc = r1 - r0, c1 - c0
        let len2 = max 1e-9 (dr * dr + dc * dc)

        for r in lo r0 r1 .. hi r0 r1 do
            for c in lo c0 c1 .. hi c0 c1 do
                let pr, pc = float r + 0.5, float c + 0.5
                let t = max 0.0 (min 1.0 (((pr - r0) * dr + (pc - c0) * dc) / len2))
                let d = sqrt ((pr - r0 - t * dr) ** 2.0 + (pc - c0 - t * dc) ** 2.0)
                let a = max 0.0 (min 1.0 (half + 0.5 - d))
                let p = r * side + c
                img.[p] <- max img.[p] (float32 (a * v))

    let private disc (img: float32[]) (side: int) (rc: float) (cc: float) (radius: float) (v: float) = segment img side rc cc rc cc (2.0 * radius) v

    let private box (img: float32[]) (side: int) (r0: int) (c0: int) (h: int) (w: int) (v: float) =
        for r in max 0 r0 .. min (side - 1) (r0 + h - 1) do
            for c in max 0 c0 .. min (side - 1) (c0 + w - 1) do
                img.[r * side + c] <- max img.[r * side + c] (float32 v)

    /// Sample `index` of data seed `dataSeed` (side must be at least 32).
    let sample (dataSeed: int) (side: int) (index: int) : PoseSample =
        if side < 32 then Errors.fail "pose images need a side of at least 32 pixels, got %d" side
        let rng = Random(dataSeed * 1000003 + index)
        let u a b = a + (b - a) * rng.NextDouble()
        let img = Array.zeroCreate<float32>(side * side)
        let s = float side / 64.0
        // background: a random linear gradient plus noise
        let g0, gr, gc = u 0.0 0.25, u -0.15 0.15, u -0.15 0.15

        for r in 0 .. side - 1 do
            for c in 0 .. side - 1 do
                let v = g0 + gr * float r / float side + gc * float c / float side + u -0.05 0.05
                img.[r * side + c] <- float32 (max 0.0 (min 1.0 v))
        // clutter: segments and boxes
        for _ in 1 .. rng.Next(3, 7) do
            segment img side (u 0.0 (float side)) (u 0.0 (float side)) (u 0.0 (float side)) (u 0.0 (float side)) (u 1.0 2.5) (u 0.3 0.85)

        for _ in 1 .. rng.Next(0, 3) do
            box img side (rng.Next side) (rng.Next side) (rng.Next(3, 9)) (rng.Next(3, 9)) (u 0.3 0.8)
        // the figure: scale, tilt, position; resample until the head top lies inside the image
        let rec figure attempt =
            let scale = s * u 0.75 1.35
            let headLen = 12.0 * scale
            let torso = 16.0 * scale
            let tilt = u -0.6 0.6 // radians from upright
            let ur, uc = -cos tilt, sin tilt // unit vector pelvis → neck (up)
            let pr, pc = u (0.45 * float side) (0.8 * float side), u (0.25 * float side) (0.75 * float side)
            let nr, nc = pr + torso * ur, pc + torso * uc
            let hr, hc = nr + headLen * ur, nc + headLen * uc
            let inside x = x >= 1.0 && x <= float side - 1.0

            if (inside hr && inside hc && inside nr && inside nc) || attempt > 50 then
                let v = u 0.65 1.0
                let th = max 1.5 (2.2 * scale)
                segment img side pr pc nr nc th v
                disc img side (nr + 0.55 * headLen * ur) (nc + 0.55 * headLen * uc) (0.45 * headLen) v

                let limb (r0: float) (c0: float) (len: float) =
                    let a1 = u 0.0 (2.0 * Math.PI)
                    let r1, c1 = r0 + len * cos a1, c0 + len * sin a1
                    let a2 = a1 + u -1.5 1.5
                    segment img side r0 c0 r1 c1 th v
                    segment img side r1 c1 (r1 + len * cos a2) (c1 + len * sin a2) th v

                let sr, sc = pr + 0.8 * torso * ur, pc + 0.8 * torso * uc
                limb sr sc (8.0 * scale)
                limb sr sc (8.0 * scale)
                limb pr pc (10.0 * scale)
                limb pr pc (10.0 * scale)
                { Image = img; HeadRow = hr; HeadCol = hc; HeadLength = headLen }
            else
                figure (attempt + 1)

        let sampleResult = figure 0
        // sensor noise on top
        for p in 0 .. img.Length - 1 do
            img.[p] <- float32 (max 0.0 (min 1.0 (float img.[p] + u -0.04 0.04)))

        sampleResult

    /// The data set: train, validation and test are disjoint fixed index ranges of one data seed.
    let create (dataSeed: int) (side: int) (nTrain: int) (nVal: int) (nTest: int) : PoseSet =
        if nTrain < 1 || nVal < 0 || nTest < 1 then
            Errors.fail "pose data needs nTrain >= 1, nVal >= 0, nTest >= 1; got %d, %d, %d" nTrain nVal nTest

        let total = nTrain + nVal + nTest
        let samples = Array.Parallel.init total (sample dataSeed side)

        { Name = name
          Side = side
          Samples = samples
          Train = [| 0 .. nTrain - 1 |]
          Val = [| nTrain .. nTrain + nVal - 1 |]
          Test = [| nTrain + nVal .. total - 1 |] }

    /// Images [n,1,side,side] of the given indices.
    let images (set: PoseSet) (idx: int[]) : torch.Tensor =
        let side = set.Side
        let data = Array.zeroCreate<float32>(idx.Length * side * side)
        idx |> Array.iteri (fun k i -> Array.blit set.Samples.[i].Image 0 data (k * side * side) (side * side))
        torch.tensor(data).reshape(int64 idx.Length, 1L, int64 side, int64 side)

    /// RGB copies [n,3,2·side,2·side] (upscaled ×2) with the true head top marked by a red cross
    /// and, when given, a predicted one by a green cross (positions in image coordinates).
    let marked (set: PoseSet) (idx: int[]) (predicted: ImagePoint[] option) : torch.Tensor =
        let side = set.Side
        let big = 2 * side
        let data = Array.zeroCreate<float32>(idx.Length * 3 * big * big)

        idx
        |> Array.iteri (fun k i ->
            let s = set.Samples.[i]

            for r in 0 .. big - 1 do
                for c in 0 .. big - 1 do
                    let v = s.Image.[(r / 2) * side + c / 2]

                    for ch in 0..2 do
                        data.[((k * 3 + ch) * big + r) * big + c] <- v

            let cross (row: float) (col: float) (rgb: float32[]) =
                let r0, c0 = int (floor (2.0 * row)), int (floor (2.0 * col))

                for d in -3 .. 3 do
                    for (r, c) in [ r0 + d, c0; r0, c0 + d ] do
                        if r >= 0 && r < big && c >= 0 && c < big then
                            for ch in 0..2 do
                                data.[((k * 3 + ch) * big + r) * big + c] <- rgb.[ch]

            match predicted with
            | Some p -> cross p.[k].Row p.[k].Col [| 0.1f; 1.0f; 0.1f |]
            | None -> ()

            cross s.HeadRow s.HeadCol [| 1.0f; 0.1f; 0.1f |])

        torch.tensor(data).reshape(int64 idx.Length, 3L, int64 big, int64 big)

/// PCKh labels of the procedural stick figures.
module PoseLabels =
    /// Labels [n·3] (flat, row-major) of examples for heatmaps of side `out` on side×side images.
    let labels (set: PoseSet) (out: int) (idx: int[]) : int64[] =
        let stride = float set.Side / float out

        [| for i in idx do
               let s = set.Samples.[i]
               yield int64 (Math.Round(PoseMetric.milli * (s.HeadRow / stride - 0.5)))
               yield int64 (Math.Round(PoseMetric.milli * (s.HeadCol / stride - 0.5)))
               yield int64 (Math.Round(PoseMetric.milli * (0.5 * s.HeadLength / stride))) |]
