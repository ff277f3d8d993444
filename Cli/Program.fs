module AutoDesign.Cli.Program

open System
open System.IO
open Argu
open AutoDesign.Runs
open AutoDesign.Cli.Args

let private version () =
    let v = Reflection.Assembly.GetExecutingAssembly().GetName().Version
    printfn "autodesign %O" v

/// Parse and run one command line, letting errors propagate.
let execute (argv: string[]) : int =
    let parser = ArgumentParser.Create<AutoDesignArgs>(programName = "autodesign")
    let results = parser.ParseCommandLine(argv, raiseOnUsage = true)
    match results.GetAllResults() with
    | [ Version ] -> version (); 0
    | [ D2nn r ] -> AutoDesign.Cli.Commands.D2nn.handle r
    | [ Uniloss u ] -> AutoDesign.Cli.Commands.Uniloss.run u
    | [ Reproduce r ] -> Commands.Reproduce.handle r
    | [ Bench b ] -> Commands.Bench.handle b
    | [ Data args ] -> Commands.Data.handle args
    | [ Dggan args ] -> Commands.Dggan.handle args
    | [ Gan args ] -> Commands.Gan.handle args
    | [ Detgan args ] -> Commands.Detgan.handle args
    | _ ->
        printfn "%s" (parser.PrintUsage())
        0

/// Run one command line and return the exit code: usage errors print to `err` and give 2, a
/// UserError prints the one line `error: <message>` to `err` and gives 1 (no stack trace).
let runWith (err: TextWriter) (argv: string[]) : int =
    try
        execute argv
    with
    | :? ArguParseException as e when e.ErrorCode = ErrorCode.HelpText ->
        printfn "%s" e.Message
        0
    | :? ArguParseException as e ->
        err.WriteLine e.Message
        2
    | UserError msg ->
        err.WriteLine("error: " + msg.Replace('\n', ' ').Replace('\r', ' '))
        1

/// Run one command line with errors going to standard error; the exit code is returned.
let run (argv: string[]) : int = runWith Console.Error argv

[<EntryPoint>]
let main argv = run argv
