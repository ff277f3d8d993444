namespace AutoDesign.Reproduce.DetectorGAN

open TorchSharp
open AutoDesign.Runs
open AutoDesign.Plots
open AutoDesign.DetectorGAN
open AutoDesign.Metrics

/// Image grids with box outlines (green: ground truth / insertion box, red: predictions).
module Visuals =
    let green = (0.1f, 0.9f, 0.2f)
    let red = (1.0f, 0.15f, 0.1f)

    /// RGB planes [3·S·S] of a grayscale scan with the given box outlines painted on.
    let withBoxes (size: int) (pixels: float32[]) (boxes: (Box * (float32 * float32 * float32)) list) =
        let rgb = Array.init (3 * size * size) (fun k -> pixels.[k % (size * size)])

        let put x y (r, g, b) =
            if x >= 0 && x < size && y >= 0 && y < size then
                rgb.[y * size + x] <- r
                rgb.[size * size + y * size + x] <- g
                rgb.[2 * size * size + y * size + x] <- b

        for (bx, c) in boxes do
            let x0, y0 = int (floor bx.X0), int (floor bx.Y0)
            let x1, y1 = max x0 (int (ceil bx.X1) - 1), max y0 (int (ceil bx.Y1) - 1)

            for x in x0..x1 do
                put x y0 c
                put x y1 c

            for y in y0..y1 do
                put x0 y c
                put x1 y c

        rgb

    /// Save a grid of RGB planes (each 3·S·S) to a PNG.
    let save (path: string) (size: int) (images: float32[] list) (columns: int) =
        let n = images.Length
        let data = Array.concat images
        use flat = torch.tensor (data)
        use t = flat.reshape (int64 n, 3L, int64 size, int64 size)
        ImageGrid.save path t columns

    let scanWithTruth (size: int) (s: Scan) = withBoxes size s.Pixels [ for b in s.Boxes -> b, green ]

    /// Ground truth (green) and predictions with score ≥ minScore (red).
    let detections (size: int) (s: Scan) (preds: Detection seq) (minScore: float) =
        withBoxes
            size
            s.Pixels
            ([ for b in s.Boxes -> b, green ]
             @ [ for d in preds do
                     if d.Score >= minScore then yield d.Box, red ])
