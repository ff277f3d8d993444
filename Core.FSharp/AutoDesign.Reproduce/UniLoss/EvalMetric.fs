/// `autodesign uniloss eval-metric`: a metric's exact value and its refactored g(h(f(s))) value on a batch of
/// scores and labels read from CSV files.
module AutoDesign.Reproduce.UniLoss.EvalMetric

open System
open System.Globalization
open AutoDesign.Runs
open AutoDesign.UniLoss
open AutoDesign.Metrics

/// Rows of a numeric CSV file, read strictly (NumericCsv): every cell must parse with `parse`, else the error
/// names the file, line and cell.
let private readCsv (path: string) (parse: string -> 'T option) (kind: string) (header: CsvHeader) : 'T[][] =
    let rows = NumericCsv.readCells kind path header

    [| for (line, cells) in rows ->
           cells
           |> Array.mapi (fun col c ->
               match parse c with
               | Some v -> v
               | None ->
                   Errors.fail
                       "%s file '%s' line %d column %d: '%s' is not a valid %s"
                       kind
                       path
                       line
                       (col + 1)
                       c
                       (if kind = "labels" then "integer" else "number (finite, within float32 range, '.' as the decimal point)")) |]

/// Whether a scores file reads as decimal commas would: several cells per row, every one a bare integer
/// ("0,95" is read as the two cells 0 and 95). Such a file is refused as ambiguous.
let private looksLikeDecimalCommas (path: string) (header: CsvHeader) =
    let rows = NumericCsv.readCells "scores" path header
    let bareInteger (c: string) = c.Length > 0 && c.TrimStart('-', '+') |> Seq.forall Char.IsDigit && c.TrimStart('-', '+') <> ""
    (snd rows.[0]).Length >= 2 && rows |> Array.forall (fun (_, cells) -> Array.forall bareInteger cells)

let private parseFloat (s: string) =
    match Single.TryParse(s, NumberStyles.Float, CultureInfo.InvariantCulture) with
    | true, v when Single.IsFinite v -> Some v
    | _ -> None

let private parseInt (s: string) =
    match Int64.TryParse(s, NumberStyles.Integer, CultureInfo.InvariantCulture) with
    | true, v -> Some v
    | _ -> None

/// Batches up to this many examples are also evaluated through the traced definition (exact and refactored
/// values); ranking metrics trace O(n²) comparisons, so larger batches get the metrics layer's value only.
let traceLimit = 2000

/// The metric's value from the metrics layer (O(n log n)), for the built-ins it has.
let private layerValue (metric: Metric) (shape: int[]) (labels: int64[]) (values: float32[]) : float option =
    let n = shape.[0]
    let cols = if shape.Length = 2 then shape.[1] else 1

    match metric.Name with
    | "ap" when shape.Length = 1 || cols <= 2 ->
        let score i = float values.[i * cols + (cols - 1)]
        let positive = labels |> Array.map (fun l -> l = 1L)
        if Array.exists id positive then Some(AveragePrecision.ofScores (Array.init n score) positive) else Some 0.0
    | "accuracy" when shape.Length = 2 && cols >= 2 ->
        Some(Classification.accuracyOfScores (Array.init n (fun i -> values.[i * cols .. i * cols + cols - 1])) (labels |> Array.map int))
    | _ -> None

/// Print `metricName`'s exact value on the examples of the CSV files `scorePath` and `labelPath` (`header`: their
/// first lines are a header), and its refactored g(h(f(s))) value where the batch can be traced; `heatmap`
/// ("HxW") reads each score row as an H×W heatmap.
let run (metricName: string) (scorePath: string) (labelPath: string) (heatmap: string option) (header: bool) =
    let metric = Metrics.byName metricName
    let header = if header then CsvHeader.Declared else CsvHeader.Detected
    let scores = readCsv scorePath parseFloat "scores" header
    let labels = readCsv labelPath parseInt "labels" header

    if heatmap.IsNone && looksLikeDecimalCommas scorePath header then
        Errors.fail
            "scores file '%s': every row is %d integers separated by ',', which is how decimal commas read ('0,95' as 0 and 95); write decimals with '.' (0.95), or integer class scores with a decimal point (0.0,95.0)"
            scorePath
            scores.[0].Length

    let n = scores.Length
    if labels.Length <> n then Errors.fail "%d score rows but %d label rows" n labels.Length
    let cols = scores.[0].Length

    let shape =
        match heatmap with
        | Some hw ->
            match hw.ToLowerInvariant().Split('x') |> Array.map Int32.TryParse with
            | [| (true, h); (true, w) |] when h > 0 && w > 0 ->
                if int64 h * int64 w <> int64 cols then
                    Errors.fail "--heatmap %s needs %d scores per row, '%s' has %d" hw (int64 h * int64 w) scorePath cols

                [| n; h; w |]
            | _ -> Errors.fail "--heatmap must look like 64x64, got '%s'" hw
        | None -> if cols = 1 then [| n |] else [| n; cols |]

    let lab =
        let k = labels.[0].Length
        AutoDesign.UniLoss.Labels((if k = 1 then [| labels.Length |] else [| labels.Length; k |]), Array.concat labels)

    let values = Array.concat scores
    printfn "metric: %s" metric.Name
    printfn "examples: %d" n

    if n <= traceLimit then
        printfn "exact: %.6f" (Refactor.exact metric shape lab values)
        let mutable r = Unchecked.defaultof<Refactored>

        if Refactor.tryTrace metric shape lab &r then
            printfn "refactored g(h(f(s))): %.6f" (Refactor.refactored r values)
            printfn "comparisons (bits): %d" r.L
        else
            printfn
                "refactored g(h(f(s))): not traced (more than %d comparisons or %d g nodes and edges, the trace limits)"
                Limits.MaxComparisons
                Limits.MaxGraphSize
    else
        match (if labels.[0].Length = 1 then layerValue metric shape (Array.concat labels) values else None) with
        | Some v ->
            printfn "exact: %.6f" v
            printfn "refactored g(h(f(s))): not traced (more than %d examples)" traceLimit
        | None ->
            Errors.fail
                "%s over %d examples: this metric is evaluated through its traced definition, which is limited to %d examples (split the batch)"
                metric.Name
                n
                traceLimit
