namespace AutoDesign.Plots

open AutoDesign.Runs

open System
open System.Collections.Generic
open System.IO
open ScottPlot

/// How an axis is scaled.
type AxisScale =
    | Linear
    /// Base-10 logarithmic (values must be positive).
    | Log10

/// One series of a chart: points, drawn as a line or as markers, with optional ± error bars on y.
type Series =
    {
        Name: string
        Points: (float * float)[]
        Lines: bool
        /// Half-widths of error bars, one per point (null: none).
        Errors: float[]
    }

/// Charts through ScottPlot 5 (real fonts, Unicode labels such as λ, σ, ²; log axes; error bars), written
/// as PNG, or as SVG when the path ends in ".svg". Every chart has a title, axis labels and a legend.
module Plot =
    let private width, height = 900, 560

    [<CompiledName("Series")>]
    let series (name: string) (points: (float * float)[]) = { Name = name; Points = points; Lines = true; Errors = null }

    let private logTicks () =
        let tg = TickGenerators.NumericAutomatic()
        tg.MinorTickGenerator <- TickGenerators.LogMinorTickGenerator()
        tg.LabelFormatter <- (fun v -> (10.0 ** v).ToString("G4", Globalization.CultureInfo.InvariantCulture))
        tg.IntegerTicksOnly <- true
        tg

    /// Draw `data` into a chart file.
    [<CompiledName("Chart")>]
    let chart (path: string) (title: string) (xLabel: string) (yLabel: string) (xScale: AxisScale) (yScale: AxisScale) (data: IReadOnlyList<Series>) =
        if data.Count = 0 then Errors.fail "plot '%s' has no series" title

        let tx v =
            match xScale with
            | Linear -> v
            | Log10 -> log10 v

        let ty v =
            match yScale with
            | Linear -> v
            | Log10 -> log10 v

        let plt = new Plot()

        for s in data do
            let pts = s.Points |> Array.filter (fun (x, y) -> Double.IsFinite(tx x) && Double.IsFinite(ty y))
            let xs, ys = pts |> Array.map (fst >> tx), pts |> Array.map (snd >> ty)
            let sc = plt.Add.Scatter(xs, ys)
            sc.LegendText <- s.Name
            if not s.Lines then sc.LineWidth <- 0.0f
            sc.MarkerSize <- (if s.Lines then 5.0f else 8.0f)

            match s.Errors with
            | null -> ()
            | e when e.Length = s.Points.Length ->
                let keep =
                    s.Points
                    |> Array.mapi (fun i (x, y) -> i, x, y)
                    |> Array.filter (fun (_, x, y) -> Double.IsFinite(tx x) && Double.IsFinite(ty y))

                let eb =
                    plt.Add.ErrorBar(
                        keep |> Array.map (fun (_, x, _) -> tx x),
                        keep |> Array.map (fun (_, _, y) -> ty y),
                        keep |> Array.map (fun (i, _, _) -> e.[i])
                    )

                eb.Color <- sc.Color
            | _ -> ()

        if xScale = Log10 then plt.Axes.Bottom.TickGenerator <- logTicks ()
        if yScale = Log10 then plt.Axes.Left.TickGenerator <- logTicks ()
        plt.Title(title)
        plt.XLabel(xLabel)
        plt.YLabel(yLabel)
        plt.ShowLegend() |> ignore
        Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath path)) |> ignore

        Atomic.writeWith path (fun tmp ->
            if path.EndsWith(".svg", StringComparison.OrdinalIgnoreCase) then
                plt.SaveSvg(tmp, width, height) |> ignore
            else
                plt.SavePng(tmp, width, height) |> ignore)

    /// Line chart: each series is (name, points in drawing order).
    [<CompiledName("Lines")>]
    let lines (path: string) (title: string) (xLabel: string) (yLabel: string) (data: IReadOnlyList<string * (float * float)[]>) =
        chart path title xLabel yLabel Linear Linear [ for (n, p) in data -> series n p ]

    /// Scatter chart: each series is (name, points).
    [<CompiledName("Scatter")>]
    let scatter (path: string) (title: string) (xLabel: string) (yLabel: string) (data: IReadOnlyList<string * (float * float)[]>) =
        chart path title xLabel yLabel Linear Linear [ for (n, p) in data -> { series n p with Lines = false } ]
