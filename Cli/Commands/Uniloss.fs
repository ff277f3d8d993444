/// `autodesign uniloss ...`: the UniLoss sub-union. Other helpers add their cases to UnilossArgs
/// and a line to Uniloss.run.
module AutoDesign.Cli.Commands.Uniloss

open System
open System.Globalization
open System.IO
open Argu
open AutoDesign.Core
open AutoDesign.Core.UniLoss

type EvalMetricArgs =
    | [<Mandatory>] Metric of name: string
    | [<Mandatory>] Scores of path: string
    | [<Mandatory>] Labels of path: string
    | Heatmap of shape: string
    interface IArgParserTemplate with
        member a.Usage =
            match a with
            | Metric _ -> "accuracy, top-K, precision, recall, f1, ap or pckh-R (e.g. top-5, pckh-2)."
            | Scores _ -> "CSV of scores, one row per example (an optional header line is skipped)."
            | Labels _ -> "CSV of integer labels, one row per example (pckh: row,col of the joint)."
            | Heatmap _ -> "HxW: read each score row as an H×W heatmap (for pckh)."

and [<RequireSubcommand>] UnilossArgs =
    | [<CliPrefix(CliPrefix.None)>] Eval_Metric of ParseResults<EvalMetricArgs>
    interface IArgParserTemplate with
        member a.Usage =
            match a with
            | Eval_Metric _ -> "print a metric's exact value and its refactored g(h(f(s))) value on a CSV batch."

/// Rows of a numeric CSV; a first line that does not parse is taken as a header.
let readCsv (path: string) (parse: string -> 'T option) (kind: string) : 'T[][] =
    if not (File.Exists path) then Errors.fail "%s file '%s' does not exist" kind path
    let lines = File.ReadAllLines path
    let rows = ResizeArray<'T[]>()
    for li in 0 .. lines.Length - 1 do
        let line = lines.[li].Trim()
        if line <> "" then
            let cells = line.Split(',') |> Array.map (fun c -> c.Trim())
            let parsed = cells |> Array.map parse
            match Array.tryFindIndex Option.isNone parsed with
            | Some col when rows.Count = 0 && li = (lines |> Array.findIndex (fun l -> l.Trim() <> "")) && Array.forall Option.isNone parsed -> () // header
            | Some col -> Errors.fail "%s file '%s' line %d column %d: '%s' is not a valid %s" kind path (li + 1) (col + 1) cells.[col] (if kind = "labels" then "integer" else "number")
            | None ->
                let row = parsed |> Array.map Option.get
                if rows.Count > 0 && row.Length <> rows.[0].Length then
                    Errors.fail "%s file '%s' line %d has %d values, earlier rows have %d" kind path (li + 1) row.Length rows.[0].Length
                rows.Add row
    if rows.Count = 0 then Errors.fail "%s file '%s' has no rows" kind path
    rows.ToArray()

let private parseFloat (s: string) =
    match Single.TryParse(s, NumberStyles.Float, CultureInfo.InvariantCulture) with
    | true, v when not (Single.IsNaN v) -> Some v
    | _ -> None

let private parseInt (s: string) =
    match Int64.TryParse(s, NumberStyles.Integer, CultureInfo.InvariantCulture) with
    | true, v -> Some v
    | _ -> None

let evalMetric (args: ParseResults<EvalMetricArgs>) : int =
    let metric = Metrics.byName (args.GetResult EvalMetricArgs.Metric)
    let scorePath = args.GetResult EvalMetricArgs.Scores
    let scores = readCsv scorePath parseFloat "scores"
    let labels = readCsv (args.GetResult EvalMetricArgs.Labels) parseInt "labels"
    let n = scores.Length
    let cols = scores.[0].Length
    let shape =
        match args.TryGetResult EvalMetricArgs.Heatmap with
        | Some hw ->
            match hw.ToLowerInvariant().Split('x') |> Array.map Int32.TryParse with
            | [| (true, h); (true, w) |] when h > 0 && w > 0 ->
                if h * w <> cols then Errors.fail "--heatmap %s needs %d scores per row, '%s' has %d" hw (h * w) scorePath cols
                [| n; h; w |]
            | _ -> Errors.fail "--heatmap must look like 64x64, got '%s'" hw
        | None -> if cols = 1 then [| n |] else [| n; cols |]
    let lab =
        let k = labels.[0].Length
        AutoDesign.Core.UniLoss.Labels((if k = 1 then [| labels.Length |] else [| labels.Length; k |]), Array.concat labels)
    let values = Array.concat scores
    let exact = Refactor.exact metric shape lab values
    let r = Refactor.trace metric shape lab
    let refactored = Refactor.refactored r values
    printfn "metric: %s" metric.Name
    printfn "examples: %d" n
    printfn "exact: %.6f" exact
    printfn "refactored g(h(f(s))): %.6f" refactored
    printfn "comparisons (bits): %d" r.L
    0

let run (args: ParseResults<UnilossArgs>) : int =
    match args.GetSubCommand() with
    | Eval_Metric a -> evalMetric a
