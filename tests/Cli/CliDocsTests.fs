/// docs/cli.md is the CLI's own help, command by command (`autodesign [COMMAND ...] --help`), so the
/// reference cannot drift from the parser: the test regenerates it and compares;
/// `dotnet run --project tests -c Release --no-build -- cli-docs` rewrites the file.
module AutoDesign.Tests.CliDocsTests

open System
open System.Diagnostics
open System.IO
open System.Text
open Expecto

let docPath = Path.GetFullPath(Path.Combine(__SOURCE_DIRECTORY__, "..", "..", "docs", "cli.md"))

let private help (path: string list) =
    let o = CliProcess.run None [ "COLUMNS", "100" ] (path @ [ "--help" ]) (TimeSpan.FromMinutes 5.0)
    if o.Code <> 0 then failwithf "autodesign %s --help exited %d" (String.Join(" ", path)) o.Code
    o.Out.Replace("\r", "").TrimEnd()

/// The subcommands listed under SUBCOMMANDS: in a help text.
let private subcommands (text: string) =
    let lines = text.Split('\n')

    match Array.tryFindIndex (fun (l: string) -> l.Trim() = "SUBCOMMANDS:") lines with
    | None -> []
    | Some i ->
        [ for l in lines.[i + 1 ..] |> Array.takeWhile (fun l -> not (l.StartsWith "OPTIONS:") && not (l.Trim().StartsWith "Use '")) do
              // a subcommand line: four spaces, the name, then " <options>" (continuation lines are indented further)
              if l.StartsWith "    " && not (l.StartsWith "     ") then
                  let name = l.Trim().Split(' ').[0]
                  if name <> "" then yield name ]

/// The option entries of a help text: (name, lines), an entry being its first line (four spaces, then the
/// option) and the more deeply indented lines after it.
let private withoutOptions (names: Set<string>) (text: string) =
    let lines = text.Split('\n')
    let out = ResizeArray<string>()
    let mutable skipping = false

    for l in lines do
        if l.StartsWith "    --" || (l.StartsWith "    -" && not (l.StartsWith "     ")) then
            let name = l.Trim().Split([| ' '; ',' |]).[0]
            skipping <- names.Contains name
            if not skipping then out.Add l
        elif skipping && l.StartsWith "     " then
            ()
        else
            skipping <- false
            out.Add l

    String.Join("\n", out)

let private optionNames (text: string) =
    text.Split('\n')
    |> Array.filter (fun l -> l.StartsWith "    --" && not (l.StartsWith "     "))
    |> Array.map (fun l -> l.Trim().Split([| ' '; ',' |]).[0])
    |> Set.ofArray
    |> Set.remove "--help"

/// The whole reference: every command's help, depth first (the top level's options only once).
let generate () =
    let sb = StringBuilder()

    sb
        .Append("# CLI reference\n\nGenerated from `autodesign ... --help` (the test `clidocs` checks that it is current; ")
        .Append("`dotnet run --project tests -c Release --no-build -- cli-docs` regenerates it). ")
        .Append("The options of the top level (device, threads, run root, launcher and Slurm options) are accepted by every command ")
        .Append("and are listed once, under `autodesign`.\n")
    |> ignore

    let inherited = optionNames (help [])

    let rec visit (path: string list) =
        let text = if path.IsEmpty then help path else withoutOptions inherited (help path)

        sb.Append(sprintf "\n## autodesign%s\n\n```text\n%s\n```\n" (path |> List.map ((+) " ") |> String.concat "") text)
        |> ignore

        for sub in subcommands text do
            visit (path @ [ sub ])

    visit []
    sb.ToString()

let main () =
    File.WriteAllText(docPath, generate ())
    printfn "wrote %s" docPath
    0

[<Tests>]
let tests =
    testList
        "clidocs"
        [ test "docs/cli.md is the CLI's current help" {
              Expect.isTrue (File.Exists docPath) "docs/cli.md exists"
              let expected = generate ()
              let actual = File.ReadAllText(docPath).Replace("\r", "")

              Expect.isTrue
                  (actual = expected)
                  "docs/cli.md differs from the CLI's help; regenerate it: dotnet run --project tests -c Release --no-build -- cli-docs"
          } ]
