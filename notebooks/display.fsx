// Display functions shared by the notebooks (loaded with `#load "display.fsx"` after the library #r lines):
// Deedle frames show as HTML tables, chart and image files show inline as PNG.
#r "../Cli/bin/Release/net10.0/linux-x64/Deedle.dll"
open System
open System.IO
open System.Net
open Deedle
open Microsoft.DotNet.Interactive
open Microsoft.DotNet.Interactive.Formatting

/// Rows shown at most when a frame is displayed (the first ones and the last ones).
let mutable maxRows = 12

let private cell (v: obj) =
    match v with
    | null -> ""
    | :? float as f when Double.IsNaN f -> "NaN"
    | :? float as f -> f.ToString("G5", Globalization.CultureInfo.InvariantCulture)
    | :? float32 as f -> f.ToString("G5", Globalization.CultureInfo.InvariantCulture)
    | v -> string v
    |> WebUtility.HtmlEncode

/// An HTML table of a frame: row keys, then columns; long frames show their first and last rows.
let frameHtml (f: Frame<'R, 'C>) =
    let cols = f.ColumnKeys |> Array.ofSeq
    let rows = f.RowKeys |> Array.ofSeq
    let n = rows.Length
    let shown = if n <= maxRows then [ 0 .. n - 1 ] else [ 0 .. maxRows / 2 - 1 ] @ [ -1 ] @ [ n - maxRows / 2 .. n - 1 ]
    let sb = Text.StringBuilder()
    sb.Append("<table><thead><tr><th></th>") |> ignore
    for c in cols do sb.Append("<th>").Append(cell (box c)).Append("</th>") |> ignore
    sb.Append("</tr></thead><tbody>") |> ignore
    for i in shown do
        if i < 0 then
            sb.Append("<tr><td>…</td>").Append(String.replicate cols.Length "<td>…</td>").Append("</tr>") |> ignore
        else
            let row = f.Rows.[rows.[i]]
            sb.Append("<tr><td><b>").Append(cell (box rows.[i])).Append("</b></td>") |> ignore
            for c in cols do
                let v = row.TryGet c
                sb.Append("<td>").Append(if v.HasValue then cell v.Value else "").Append("</td>") |> ignore
            sb.Append("</tr>") |> ignore
    sb.Append("</tbody></table>") |> ignore
    sb.Append(sprintf "<p>%d rows × %d columns</p>" n cols.Length).ToString()

type FrameHtml =
    static member Render<'R, 'C when 'R: equality and 'C: equality>(f: Frame<'R, 'C>) = frameHtml f

// Frames returned by a cell (or passed to `display`) render through frameHtml.
Formatter.Register(typedefof<Frame<_, _>>, Action<obj, TextWriter>(fun o w ->
    let m = typeof<FrameHtml>.GetMethod("Render").MakeGenericMethod(o.GetType().GetGenericArguments())
    w.Write(m.Invoke(null, [| o |]) :?> string)), "text/html")

/// Display a PNG file inline.
let showPng (path: string) =
    Convert.ToBase64String(File.ReadAllBytes path).DisplayAs("image/png") |> ignore
