namespace AutoDesign.Runs

open System.Collections.Generic

/// One metrics row as C# builds and reads it: named cells in column order (the F# loop API writes the
/// same rows as (name, cell) lists).
[<Sealed>]
type MetricsRow() =
    let names = ResizeArray<string>()
    let cells = ResizeArray<Cell>()

    let indexOf (name: string) =
        match names.IndexOf name with
        | -1 -> Errors.fail "the metrics row has no column '%s' (it has %s)" name (String.concat ", " names)
        | i -> i

    /// Append a column holding a number; returns this row.
    member r.Number(name: string, value: float) =
        names.Add name
        cells.Add(Cell.Number value)
        r

    /// Append a column holding text; returns this row.
    member r.Text(name: string, value: string) =
        names.Add name
        cells.Add(Cell.Text value)
        r

    /// The column names, in order.
    member _.Names = names :> IReadOnlyList<string>
    /// The cells, in column order.
    member _.Cells = cells :> IReadOnlyList<Cell>
    /// Whether the row has column `name`.
    member _.Has(name: string) = names.Contains name

    /// The number in column `name` (a UserError when the column is missing or holds text).
    member _.NumberOf(name: string) : float =
        match cells.[indexOf name] with
        | Cell.Number v -> v
        | Cell.Text s -> Errors.fail "the metrics column '%s' holds text ('%s'), not a number" name s

    /// The text in column `name` (a number as the CSV writes it).
    member _.TextOf(name: string) : string =
        match cells.[indexOf name] with
        | Cell.Number v -> v.ToString("R", System.Globalization.CultureInfo.InvariantCulture)
        | Cell.Text s -> s

    member internal _.Pairs = List.zip (List.ofSeq names) (List.ofSeq cells)

    /// The numbers of the row, for a progress line.
    member internal _.NumberPairs =
        List.zip (List.ofSeq names) (List.ofSeq cells)
        |> List.choose (fun (k, c) ->
            match c with
            | Cell.Number v -> Some(k, v)
            | Cell.Text _ -> None)

    static member internal OfNumbers(pairs: (string * float) list) =
        let r = MetricsRow()

        for (k, v) in pairs do
            r.Number(k, v) |> ignore

        r

    static member internal OfPairs(pairs: (string * Cell) list) =
        let r = MetricsRow()

        for (k, c) in pairs do
            match c with
            | Cell.Number v -> r.Number(k, v) |> ignore
            | Cell.Text s -> r.Text(k, s) |> ignore

        r
