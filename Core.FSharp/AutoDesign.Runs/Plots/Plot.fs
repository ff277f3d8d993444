namespace AutoDesign.Runs

open System
open AutoDesign.Runs
open AutoDesign.Nn.Plotting

/// PNG charts (self-contained rasterizer + PNG encoder in AutoDesign.Nn.Plotting): title,
/// axis labels, "nice" ticks with grid lines, and a legend naming every series.
module Plot =
    let private width, height = 900, 560
    let private left, right, top, bottom = 90, 30, 50, 70
    let private palette = [| 0x1F77B4u; 0xD62728u; 0x2CA02Cu; 0xFF7F0Eu; 0x9467BDu; 0x8C564Bu; 0xE377C2u; 0x17BECFu |]
    let private ink, grid, axisGray = 0x202020u, 0xE4E4E4u, 0x606060u

    /// Tick positions at 1/2/5 x 10^k steps covering [lo, hi] with about `count` ticks.
    let niceTicks (lo: float) (hi: float) (count: int) =
        let span = hi - lo
        let raw = span / float (max 1 count)
        let mag = 10.0 ** floor (log10 raw)
        let stepSize =
            [ 1.0; 2.0; 5.0; 10.0 ] |> List.map (fun m -> m * mag) |> List.find (fun s -> s >= raw * 0.999)
        let first = ceil (lo / stepSize - 1e-9) * stepSize
        [ let mutable t = first
          while t <= hi + stepSize * 1e-9 do
              yield (if abs t < stepSize * 1e-9 then 0.0 else t)
              t <- t + stepSize ]

    let private fmt (v: float) =
        let a = abs v
        if a <> 0.0 && (a >= 1e5 || a < 1e-3) then v.ToString("0.##e0", Globalization.CultureInfo.InvariantCulture)
        else v.ToString("0.####", Globalization.CultureInfo.InvariantCulture)

    let private range (values: float seq) =
        let vs = values |> Seq.filter Double.IsFinite |> Seq.toArray
        if vs.Length = 0 then 0.0, 1.0
        else
            let lo, hi = Array.min vs, Array.max vs
            if hi - lo < 1e-12 then (let pad = max 1.0 (abs lo) * 0.05 in lo - pad, hi + pad)
            else let pad = (hi - lo) * 0.04 in lo - pad, hi + pad

    let private render (path: string) (title: string) (xLabel: string) (yLabel: string)
                       (series: (string * (float * float)[]) list) (asLines: bool) =
        if List.isEmpty series then Errors.fail "plot '%s' has no series" title
        let c = Canvas(width, height)
        let pts = series |> List.collect (fun (_, p) -> List.ofArray p)
        let x0, x1 = range (pts |> Seq.map fst)
        let y0, y1 = range (pts |> Seq.map snd)
        let pw, ph = width - left - right, height - top - bottom
        let sx x = float left + (x - x0) / (x1 - x0) * float pw
        let sy y = float (top + ph) - (y - y0) / (y1 - y0) * float ph
        // grid + ticks
        for t in niceTicks x0 x1 8 do
            let px = int (round (sx t))
            c.FillRect(px, top, 1, ph, grid)
            c.FillRect(px, top + ph, 1, 6, axisGray)
            let s = fmt t
            c.DrawText(px - Canvas.TextWidth(s, 1) / 2, top + ph + 10, s, ink, 1)
        for t in niceTicks y0 y1 6 do
            let py = int (round (sy t))
            c.FillRect(left, py, pw, 1, grid)
            c.FillRect(left - 6, py, 6, 1, axisGray)
            let s = fmt t
            c.DrawText(left - 10 - Canvas.TextWidth(s, 1), py - 3, s, ink, 1)
        c.DrawRect(left, top, pw, ph, axisGray)
        // data
        series |> List.iteri (fun i (_, p) ->
            let col = palette.[i % palette.Length]
            let p = p |> Array.filter (fun (x, y) -> Double.IsFinite x && Double.IsFinite y)
            if asLines then
                for k in 1 .. p.Length - 1 do
                    let (ax, ay), (bx, by) = p.[k - 1], p.[k]
                    c.DrawLine(sx ax, sy ay, sx bx, sy by, col, 2)
                if p.Length = 1 then c.FillCircle(sx (fst p.[0]), sy (snd p.[0]), 3, col)
            else
                for (x, y) in p do c.FillCircle(sx x, sy y, 3, col))
        // title and axis labels
        c.DrawText((width - Canvas.TextWidth(title, 2)) / 2, 15, title, ink, 2)
        c.DrawText(left + (pw - Canvas.TextWidth(xLabel, 2)) / 2, height - 28, xLabel, ink, 2)
        c.DrawText(18, top + (ph + Canvas.TextWidth(yLabel, 2)) / 2, yLabel, ink, 2, vertical = true)
        // legend (top right inside the plot area)
        let names = series |> List.map fst
        let lw = 34 + (names |> List.map (fun n -> Canvas.TextWidth(n, 1)) |> List.max)
        let lh = 8 + 14 * names.Length
        let lx, ly = left + pw - lw - 8, top + 8
        c.FillRect(lx, ly, lw, lh, 0xFFFFFFu)
        c.DrawRect(lx, ly, lw, lh, axisGray)
        names |> List.iteri (fun i n ->
            let col = palette.[i % palette.Length]
            let yy = ly + 6 + 14 * i
            if asLines then c.FillRect(lx + 6, yy + 3, 18, 2, col) else c.FillCircle(float (lx + 15), float (yy + 3), 3, col)
            c.DrawText(lx + 28, yy, n, ink, 1))
        Atomic.writeAllBytes path (c.ToPng())

    /// Line chart: each series is (name, points in drawing order).
    let lines (path: string) (title: string) (xLabel: string) (yLabel: string) (series: (string * (float * float)[]) list) =
        render path title xLabel yLabel series true

    /// Scatter chart: each series is (name, points).
    let scatter (path: string) (title: string) (xLabel: string) (yLabel: string) (series: (string * (float * float)[]) list) =
        render path title xLabel yLabel series false
