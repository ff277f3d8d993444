namespace AutoDesign.Runs

open System
open System.Globalization
open System.IO

/// One CSV cell: a number (written round-trip, invariant culture) or text.
[<RequireQualifiedAccess>]
type Cell =
    | Number of float
    | Text of string

    /// A number cell.
    static member OfNumber(value: float) = Cell.Number value
    /// A text cell.
    static member OfText(value: string) = Cell.Text value

/// The one CSV writer of AutoDesign (RFC 4180: ',' between cells, "\n" between rows, a cell holding ',', '"',
/// CR or LF quoted with its quotes doubled; numbers round-trip in the invariant culture, so a file reads back
/// the same whatever the machine's locale), written atomically. It lives in the run engine, which writes
/// metrics.csv, and needs no CSV package (the engine's users, D2NN among them, carry none); the tests read
/// its files back with CsvHelper.
module internal Csv =
    let private format (c: Cell) =
        match c with
        | Cell.Number v -> v.ToString("R", CultureInfo.InvariantCulture)
        | Cell.Text s -> s

    /// A cell as it stands in the file (quoted when it must be).
    [<CompiledName("Escape")>]
    let escape (s: string) = if s.IndexOfAny([| ','; '"'; '\r'; '\n' |]) >= 0 then "\"" + s.Replace("\"", "\"\"") + "\"" else s

    /// The text of a file with a header line and rows of cells (every row as wide as the header).
    [<CompiledName("Render")>]
    let render (header: string seq) (rows: Cell list seq) =
        let header = Array.ofSeq header
        let line (cells: string seq) = String.Join(",", cells |> Seq.map escape)
        let sb = Text.StringBuilder()
        sb.Append(line header).Append('\n') |> ignore

        for r in rows do
            if r.Length <> header.Length then
                invalidArg "rows" (sprintf "a row of %d cells under a header of %d" r.Length header.Length)

            sb.Append(line (r |> List.map format)).Append('\n') |> ignore

        sb.ToString()

    /// Write a header and rows of cells.
    [<CompiledName("WriteTable")>]
    let writeTable (path: string) (header: string seq) (rows: Cell list seq) = Atomic.writeAllText path (render header rows)

    /// Write rows of (column, cell) pairs; the header is every column in first-seen order, a missing cell empty.
    [<CompiledName("Write")>]
    let write (path: string) (rows: (string * Cell) list seq) =
        let rows = Array.ofSeq rows
        let columns = rows |> Seq.collect (List.map fst) |> Seq.distinct |> List.ofSeq

        writeTable
            path
            columns
            [ for r in rows ->
                  columns
                  |> List.map (fun c ->
                      match r |> List.tryFind (fst >> (=) c) with
                      | Some(_, cell) -> cell
                      | None -> Cell.Text "") ]

    /// Rows of numbers.
    [<CompiledName("WriteNumbers")>]
    let writeNumbers (path: string) (rows: (string * float) list seq) = write path (rows |> Seq.map (List.map (fun (k, v) -> k, Cell.Number v)))

/// Whether a numeric CSV file starts with a header line.
[<RequireQualifiedAccess>]
type internal CsvHeader =
    /// The first line is a header whatever it holds.
    | Declared
    /// A first line whose every cell is text (no cell a number, NaN or infinity) is a header.
    | Detected

/// Numeric CSV input (scores, labels), read strictly: one plain number per cell, ',' between cells, '.' as
/// the decimal point (invariant culture), every row with the same number of cells. Anything else is a
/// UserError naming the file and line, so a file in another convention (decimal commas, ';' separators,
/// quoted cells, missing values) is refused instead of being read as other numbers.
module internal NumericCsv =
    let private numberWords = set [ "nan"; "inf"; "infinity"; "+inf"; "-inf"; "+infinity"; "-infinity"; "∞"; "-∞" ]

    /// Whether a cell could be meant as a number (so it cannot be a header's column name).
    let private numberLike (cell: string) =
        let c = cell.ToLowerInvariant()

        numberWords.Contains c
        || fst (Double.TryParse(cell, NumberStyles.Float, CultureInfo.InvariantCulture))
        || (c.Length > 0 && (Char.IsDigit c.[0] || c.[0] = '.' || c.[0] = '-' || c.[0] = '+'))

    /// The data rows of `path` as (1-based line number, trimmed cells); the caller parses the cells.
    [<CompiledName("ReadCells")>]
    let readCells (what: string) (path: string) (header: CsvHeader) : (int * string[])[] =
        SafeFiles.checkRegular path
        let bytes = SafeFiles.readAll (256L <<< 20) (256L <<< 20) path

        let text =
            try
                (Text.UTF8Encoding(false, true)).GetString bytes
            with :? Text.DecoderFallbackException ->
                Errors.fail "%s file '%s' is not UTF-8 text" what path

        let text = if text.Length > 0 && text.[0] = '\uFEFF' then text.Substring 1 else text
        let lines = text.Split('\n') |> Array.map (fun l -> l.TrimEnd('\r'))
        // blank lines only at the end: a blank line inside the data would drop a row silently
        let last = lines |> Array.tryFindIndexBack (fun l -> l.Trim() <> "")
        let last = defaultArg last -1

        for i in 0..last do
            if lines.[i].Trim() = "" then
                Errors.fail "%s file '%s' line %d is empty (a missing value?); every line up to the last must hold values" what path (i + 1)

        let cellsOf (i: int) =
            let line = lines.[i]

            if line.Contains '"' then
                Errors.fail
                    "%s file '%s' line %d: quoted cells are not read (write one plain number per cell, '.' as the decimal point): '%s'"
                    what
                    path
                    (i + 1)
                    (line.Trim())

            line.Split(',') |> Array.map (fun c -> c.Trim())

        let first, headerCells =
            if last < 0 then
                0, None
            else
                let c0 = cellsOf 0

                match header with
                | CsvHeader.Declared -> 1, Some c0
                | CsvHeader.Detected when c0 |> Array.forall (fun c -> c <> "" && not (numberLike c)) -> 1, Some c0
                | CsvHeader.Detected when c0 |> Array.exists (fun c -> c <> "" && not (numberLike c)) && c0 |> Array.exists numberLike ->
                    Errors.fail "%s file '%s' line 1 mixes numbers and text: '%s' (a header must hold only column names)" what path (lines.[0].Trim())
                | CsvHeader.Detected -> 0, None

        if first > last then
            Errors.fail "%s file '%s' has no rows%s" what path (if headerCells.IsSome then " after its header" else "")

        let rows = [| for i in first..last -> i + 1, cellsOf i |]

        let width =
            match headerCells with
            | Some h -> h.Length
            | None -> (snd rows.[0]).Length

        for (line, cells) in rows do
            if cells.Length <> width then
                Errors.fail
                    "%s file '%s' line %d has %d values, %s %d"
                    what
                    path
                    line
                    cells.Length
                    (if headerCells.IsSome then "its header has" else "line " + string (fst rows.[0]) + " has")
                    width

        rows
