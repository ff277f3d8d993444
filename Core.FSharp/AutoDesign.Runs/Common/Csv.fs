namespace AutoDesign.Runs

open System
open System.Globalization
open System.IO
open CsvHelper

/// One CSV cell: a number (written round-trip, invariant culture) or text.
[<RequireQualifiedAccess>]
type Cell =
    | Number of float
    | Text of string

/// CSV files, written through CsvHelper with the invariant culture (so a file reads back the same
/// whatever the machine's locale) and atomically.
module internal Csv =
    let private format (c: Cell) =
        match c with
        | Cell.Number v -> v.ToString("R", CultureInfo.InvariantCulture)
        | Cell.Text s -> s

    /// Write rows of (column, cell) pairs; the header is every column in first-seen order, a missing cell empty.
    [<CompiledName("Write")>]
    let write (path: string) (rows: (string * Cell) list seq) =
        let rows = Array.ofSeq rows
        let columns = rows |> Seq.collect (List.map fst) |> Seq.distinct |> Array.ofSeq
        Atomic.writeWith path (fun tmp ->
            use w = new StreamWriter(tmp)
            let options = CsvWriterOptions(NewLine = "\n")
            use csv = CsvWriter.Create(w, options, true)
            csv.WriteRecord(columns)
            for r in rows do
                csv.WriteRecord(columns |> Array.map (fun c ->
                    match r |> List.tryFind (fst >> (=) c) with
                    | Some(_, cell) -> format cell
                    | None -> ""))
            csv.Flush())

    /// Rows of numbers.
    [<CompiledName("WriteNumbers")>]
    let writeNumbers (path: string) (rows: (string * float) list seq) =
        write path (rows |> Seq.map (List.map (fun (k, v) -> k, Cell.Number v)))

    /// Read a CSV file written by `write` as rows of (column, text) pairs. A malformed file raises UserError.
    [<CompiledName("Read")>]
    let read (path: string) : (string * string) list list =
        try
            use r = new StreamReader(path)
            use csv = CsvReader.Create(r, CsvReaderOptions(HasHeader = true), true)
            [ while csv.Read() do
                let header = csv.Headers
                if csv.FieldCount <> header.Count then Errors.fail "%s: a row has %d fields, the header %d" path csv.FieldCount header.Count
                yield [ for i in 0 .. header.Count - 1 -> header.[i], csv.GetString(i) ] ]
        with
        | :? CsvFormatException as e -> Errors.fail "%s is not a valid CSV file: %s" path e.Message
        | :? IOException as e -> Errors.fail "cannot read %s: %s" path e.Message
