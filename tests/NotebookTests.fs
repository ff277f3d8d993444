/// The notebooks run headless (one test each, failing on a failed cell or a missing table or chart), the
/// runner's own checks, and the `notebooks` command that executes (and saves) them.
module AutoDesign.Tests.NotebookTests

open System
open System.Diagnostics
open System.IO
open System.Text.Json
open Expecto
open AutoDesign.Tests.NotebookRunner

/// A notebook file `name` in a fresh folder, of code cells given as their source lines.
let private writeNotebook (name: string) (cells: string list list) =
    let path = Path.Combine(TempDir.fresh "notebook", name)

    let doc =
        {| cells = [ for source in cells -> {| cell_type = "code"; metadata = Map.empty<string, string>; source = source |} ]
           metadata = Map.empty<string, string>
           nbformat = 4
           nbformat_minor = 5 |}

    File.WriteAllText(path, JsonSerializer.Serialize doc)
    path

// Sequenced: each notebook starts a kernel process (heavy on 2 cores) and the install must happen once.
[<Tests>]
let tests =
    testSequenced
    <| testList
        "foundation.notebooks"
        [ test "notebooks folder is not empty" { Expect.isNonEmpty (notebooks ()) "notebooks/*.ipynb" }
          test "the runner reports a failing cell" {
              let bad = writeNotebook "bad.ipynb" [ [ "let a = 1" ]; [ "failwith<unit> \"boom\"" ]; [ "let c = 3" ] ]
              let failures = execute bad (TimeSpan.FromMinutes 3.0)
              Expect.equal failures.Length 1 "one failure"
              Expect.stringContains failures.Head "code cell 2" "names the cell"
              Expect.stringContains failures.Head "boom" "carries the message"
          }
          test "the runner captures displayed outputs" {
              let nb = writeNotebook "outputs.ipynb" [ [ "printfn \"hello\"\n"; "1 + 1" ] ]
              let e = run nb (TimeSpan.FromMinutes 3.0)
              Expect.isEmpty e.Failures "no failure"
              let outs = e.Outputs.Head

              Expect.isTrue
                  (outs
                   |> Seq.exists (fun o -> o.["output_type"].GetValue<string>() = "stream" && o.["text"].GetValue<string>().Contains "hello"))
                  "stdout captured"

              Expect.isTrue (outs |> Seq.exists (fun o -> o.["output_type"].GetValue<string>() = "execute_result")) "return value captured"
              save nb e
              Expect.stringContains (File.ReadAllText nb) "hello" "saved into the file"
          }
          for nb in notebooks () do
              test (Path.GetFileName nb) {
                  let e = run nb (TimeSpan.FromMinutes 5.0)
                  let name = Path.GetFileName nb
                  if not e.Failures.IsEmpty then failtestf "%s: %s" name (String.concat "\n" e.Failures)
                  // a display that silently broke (a formatter not registered, an image not shown) fails here
                  Expect.isTrue (hasTable e) (sprintf "%s displays at least one table (HTML <table>)" name)
                  Expect.isTrue (hasChart e) (sprintf "%s displays at least one chart (image/png or Plotly)" name)
              } ]

/// `dotnet run --project tests -c Release --no-build -- notebooks [--save] [NAME.ipynb ...]`: execute the
/// notebooks (all, or those named) headless; with --save write their outputs into the .ipynb files (this
/// is how the committed outputs are made). Exit code 1 when a cell fails or a table or chart is missing.
let main (argv: string[]) =
    let saveOutputs = argv |> Array.contains "--save"
    let names = argv |> Array.filter (fun a -> not (a.StartsWith "--"))

    let chosen =
        if names.Length = 0 then
            notebooks ()
        else
            [ for n in names -> if File.Exists n then Path.GetFullPath n else Path.Combine(repoRoot, "notebooks", Path.GetFileName n) ]

    let mutable rc = 0

    for nb in chosen do
        let sw = Stopwatch.StartNew()
        let e = run nb (TimeSpan.FromMinutes 5.0)
        let ok = e.Failures.IsEmpty && hasTable e && hasChart e
        if not ok then rc <- 1
        if saveOutputs && e.Failures.IsEmpty then save nb e

        printfn
            "%s: %s in %.0f s (table %b, chart %b)%s%s"
            (Path.GetFileName nb)
            (if ok then "ok" else "FAILED")
            sw.Elapsed.TotalSeconds
            (hasTable e)
            (hasChart e)
            (if saveOutputs && e.Failures.IsEmpty then sprintf ", saved (%d bytes)" (FileInfo(nb).Length) else "")
            (if e.Failures.IsEmpty then "" else "\n  " + String.concat "\n  " e.Failures)

    rc
