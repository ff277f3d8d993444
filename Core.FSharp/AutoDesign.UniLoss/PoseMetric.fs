namespace AutoDesign.UniLoss

open System
open TorchSharp
open AutoDesign.UniLoss

/// The arg-max pixel (Row, Col) of one heatmap and whether it lies within the joint's radius.
type HeatmapPeak = { Correct: bool; Row: int; Col: int }

/// A point in image coordinates (pixels, rows down, columns right).
type ImagePoint = { Row: float; Col: float }

/// PCKh on heatmaps with a per-example radius, written in the UniLoss metric language, and its
/// plain arg-max reference; joint labels, Gaussian MSE targets.
///
/// Heatmap geometry: an output pixel (i, j) of an h×w heatmap for a side×side image has stride
/// side/h and its centre at image point ((i+½)·stride, (j+½)·stride); in heatmap units the joint
/// is at (row/stride − ½, col/stride − ½) and the PCKh radius is ½ · head length / stride.
/// Labels are integers [n, 3] = (1000·row, 1000·col, 1000·radius) in heatmap units, so the
/// traced metric, the reference and the reported PCKh test exactly the same integer inequality
/// (1000·i − R)² + (1000·j − C)² ≤ Rad².
module PoseMetric =
    let milli = 1000.0

    let inline private inside (i: int) (j: int) (r: int64) (c: int64) (rad: int64) =
        let di, dj = 1000L * int64 i - r, 1000L * int64 j - c
        di * di + dj * dj <= rad * rad

    let private check (name: string) (shape: int[]) (y: Labels) =
        if shape.Length <> 3 then Errors.fail "%s: scores must be heatmaps [n, H, W], got [%s]" name (String.Join(", ", shape))

        if y.Shape.Length <> 2 || y.Columns <> 3 || y.N <> shape.[0] then
            Errors.fail "%s: labels must be [n, 3] = (1000·row, 1000·col, 1000·radius) for %d heatmaps, got [%s]" name shape.[0] (String.Join(", ", y.Shape))

        for k in 0 .. y.N - 1 do
            if y.[k, 2] < 0 then Errors.fail "%s: example %d has a negative radius %d" name k y.[k, 2]

    let private label (y: Labels) k = int64 y.[k, 0], int64 y.[k, 1], int64 y.[k, 2]

    /// PCKh in the metric language with the thesis's pos-vs-neg refactorization (§3.4.3): heatmap k
    /// is correct iff some positive pixel (within the radius) beats every negative pixel; the bits
    /// are b_{k,i,j} = [s_pos,i − s_neg,j > 0]. A heatmap without a positive pixel is wrong and adds
    /// no bits. Ideal: 1 on positive pixels, 0 elsewhere.
    let pckh: Metric =
        let name = "pckh-head"

        Metric
            .Define(
                name,
                fun s y ->
                    check name s.Shape y
                    let h, w = s.Dim 1, s.Dim 2

                    mean
                        [ for k in 0 .. s.N - 1 ->
                              let r, c, rad = label y k

                              let pos =
                                  [ for p in 0 .. h * w - 1 do
                                        if inside (p / w) (p % w) r c rad then yield p ]

                              let neg =
                                  [ for p in 0 .. h * w - 1 do
                                        if not (inside (p / w) (p % w) r c rad) then yield p ]

                              num (any [ for p in pos -> all [ for q in neg -> s.[k, p / w, p % w] >. s.[k, q / w, q % w] ] ]) ]
            )
            .WithIdeal(fun shape y ->
                check name shape y

                [| for k in 0 .. shape.[0] - 1 do
                       let r, c, rad = label y k
                       for p in 0 .. shape.[1] * shape.[2] - 1 -> if inside (p / shape.[2]) (p % shape.[2]) r c rad then 1.0f else 0.0f |])
            .WithRange(0.0, 1.0)

    /// Plain reference: the arg-max pixel (first maximum in row-major order) of each heatmap
    /// [n·h·w] and whether it lies within the radius, per heatmap.
    [<CompiledName("ArgmaxCorrect")>]
    let argmaxCorrect (h: int) (w: int) (scores: float32[]) (labels: int64[]) : HeatmapPeak[] =
        let n = labels.Length / 3
        if scores.Length <> n * h * w then Errors.fail "pckh reference: %d scores for %d heatmaps of %dx%d" scores.Length n h w

        [| for k in 0 .. n - 1 ->
               let mutable best = 0

               for p in 1 .. h * w - 1 do
                   if scores.[k * h * w + p] > scores.[k * h * w + best] then best <- p

               { HeatmapPeak.Correct = inside (best / w) (best % w) labels.[3 * k] labels.[3 * k + 1] labels.[3 * k + 2]
                 Row = best / w
                 Col = best % w } |]

    /// PCKh (fraction of correct heatmaps) by the plain reference.
    [<CompiledName("Reference")>]
    let reference (h: int) (w: int) (scores: float32[]) (labels: int64[]) =
        let r = argmaxCorrect h w scores labels
        if r.Length = 0 then 0.0 else float (r |> Array.filter (fun p -> p.Correct) |> Array.length) / float r.Length

    /// Gaussian target heatmaps [n, out, out] (Tompson et al.; Newell et al.): a bump
    /// exp(−d²/2σ²) centred on the joint's nearest heatmap pixel, cut to a (2⌈3σ⌉+1)² window
    /// (size 7 for σ = 1), zero elsewhere.
    [<CompiledName("GaussianTargets")>]
    let gaussianTargets (labels: int64[]) (out: int) (sigma: float) : float32[] =
        if not (sigma > 0.0) then Errors.fail "Gaussian target sigma must be positive, got %g" sigma
        let n = labels.Length / 3
        let t = Array.zeroCreate<float32>(n * out * out)
        let half = int (ceil (3.0 * sigma))

        for k in 0 .. n - 1 do
            let cr = max 0 (min (out - 1) (int (Math.Round(float labels.[3 * k] / milli))))
            let cc = max 0 (min (out - 1) (int (Math.Round(float labels.[3 * k + 1] / milli))))

            for r in max 0 (cr - half) .. min (out - 1) (cr + half) do
                for c in max 0 (cc - half) .. min (out - 1) (cc + half) do
                    let d2 = float ((r - cr) * (r - cr) + (c - cc) * (c - cc))
                    t.[(k * out + r) * out + c] <- float32 (exp (-d2 / (2.0 * sigma * sigma)))

        t

    /// Image coordinates of the centre of heatmap pixel (row, col).
    [<CompiledName("ToImage")>]
    let toImage (side: int) (out: int) (row: int) (col: int) : ImagePoint =
        let stride = float side / float out
        { ImagePoint.Row = (float row + 0.5) * stride; Col = (float col + 0.5) * stride }
