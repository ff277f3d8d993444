module AutoDesign.Cli.Program

open System
open Argu
open AutoDesign.Core
open AutoDesign.Cli.Args

let private version () =
    let v = Reflection.Assembly.GetExecutingAssembly().GetName().Version
    printfn "autodesign %O" v

let run (argv: string[]) : int =
    let parser = ArgumentParser.Create<AutoDesignArgs>(programName = "autodesign")
    let results = parser.ParseCommandLine(argv, raiseOnUsage = true)
    match results.GetAllResults() with
    | [ Version ] -> version (); 0
    | [ D2nn r ] -> AutoDesign.Cli.Commands.D2nn.handle r
    | _ ->
        printfn "%s" (parser.PrintUsage())
        0

[<EntryPoint>]
let main argv =
    try
        run argv
    with
    | :? ArguParseException as e when e.ErrorCode = ErrorCode.HelpText ->
        printfn "%s" e.Message
        0
    | :? ArguParseException as e ->
        eprintfn "%s" e.Message
        2
    | UserError msg ->
        eprintfn "error: %s" msg
        1
