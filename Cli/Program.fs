module AutoDesign.Cli.Program

open System
open System.IO
open Argu
open AutoDesign.Runs
open AutoDesign.Cli.Args
open AutoDesign.Cli.Globals

let private version () =
    let v = Reflection.Assembly.GetExecutingAssembly().GetName().Version
    printfn "autodesign %O" v

/// The parser of the whole grammar; `-h` is accepted beside `--help`.
let parser () =
    ArgumentParser.Create<AutoDesignArgs>(programName = "autodesign")

/// Parse a command line: the inherited options as Globals, and the parse results.
let parse (argv: string[]) : Globals * ParseResults<AutoDesignArgs> =
    let results = (parser ()).ParseCommandLine(argv, raiseOnUsage = true)
    globals argv results, results

/// Parse and run one command line, letting errors propagate.
let execute (argv: string[]) : int =
    let p = parser ()
    let g, results = parse argv
    let commands =
        results.GetAllResults()
        |> List.filter (function
            | Version | D2nn _ | Uniloss _ | Reproduce _ | Bench _ | Data _ | Dggan _ | Gan _ | Detgan _ -> true
            | _ -> false)
    match commands with
    | [ Version ] -> version (); 0
    | [ D2nn r ] -> Commands.D2nn.handle g r
    | [ Uniloss u ] -> Commands.Uniloss.run g u
    | [ Reproduce r ] -> Commands.Reproduce.handle g r
    | [ Bench b ] -> Commands.Bench.handle g b
    | [ Data args ] -> Commands.Data.handle g args
    | [ Dggan args ] -> Commands.Dggan.handle g args
    | [ Gan args ] -> Commands.Gan.handle g args
    | [ Detgan args ] -> Commands.Detgan.handle g args
    | [] ->
        eprintfn "%s" (p.PrintUsage())
        eprintfn "error: no command given (see 'autodesign --help')"
        2
    | _ -> Errors.fail "give one subcommand (see 'autodesign --help')"

/// The one line for a parse error: Argu's first line (without its `ERROR: ` prefix) and the help
/// command of the subcommand it came from, read from the usage line that follows.
let parseErrorLine (message: string) =
    let lines = message.Split('\n') |> Array.map (fun l -> l.TrimEnd())
    let first = lines |> Array.tryFind (fun l -> l.Trim() <> "") |> Option.defaultValue "invalid arguments"
    let first = if first.StartsWith "ERROR: " then first.Substring 7 else first
    let command =
        lines
        |> Array.tryPick (fun l ->
            if l.StartsWith "USAGE: " then
                let words = l.Substring(7).Split(' ', StringSplitOptions.RemoveEmptyEntries)
                Some(words |> Array.takeWhile (fun w -> not (w.StartsWith "[") && not (w.StartsWith "<") && not (w.StartsWith "-")) |> String.concat " ")
            else None)
        |> Option.defaultValue "autodesign"
    sprintf "error: %s (see '%s --help')" (first.TrimEnd('.')) command

/// Run one command line and return the exit code. Help goes to standard output (exit 0). A parse
/// error or a missing subcommand gives exit 2 and a UserError exit 1, each as the one line
/// `error: ...` on `err`. Anything else is a defect: one `error: internal error ...` line, exit 1;
/// the stack trace only with AUTODESIGN_TRACE=1. Runs under the invariant culture, whatever the locale.
let runWith (err: TextWriter) (argv: string[]) : int =
    let oneLine (s: string) = s.Replace('\n', ' ').Replace('\r', ' ')
    // numbers on the command line, in files and in reports are read and written the same in every locale
    // (a decimal comma in de_DE or a Turkish dotless i must not change `--tau 0.5` or a CSV field)
    Globalization.CultureInfo.DefaultThreadCurrentCulture <- Globalization.CultureInfo.InvariantCulture
    Globalization.CultureInfo.DefaultThreadCurrentUICulture <- Globalization.CultureInfo.InvariantCulture
    Globalization.CultureInfo.CurrentCulture <- Globalization.CultureInfo.InvariantCulture
    Globalization.CultureInfo.CurrentUICulture <- Globalization.CultureInfo.InvariantCulture
    try
        execute argv
    with
    | :? ArguParseException as e when e.ErrorCode = ErrorCode.HelpText ->
        printfn "%s" e.Message
        0
    | :? ArguParseException as e ->
        err.WriteLine(parseErrorLine e.Message)
        2
    | UserError msg ->
        err.WriteLine("error: " + oneLine msg)
        1
    | e ->
        let e = match e with :? AggregateException as a when a.InnerExceptions.Count = 1 -> a.InnerException | e -> e
        match e with
        | UserError msg ->
            err.WriteLine("error: " + oneLine msg)
            1
        // a file-system failure the command did not anticipate (disk full, read-only, no permission) is
        // the environment's, not a defect: the system's message names the path and the reason
        | :? IOException | :? UnauthorizedAccessException ->
            err.WriteLine("error: " + oneLine (e.Message.Trim()))
            1
        | e ->
            err.WriteLine(sprintf "error: internal error (%s: %s); AUTODESIGN_TRACE=1 prints the stack trace" (e.GetType().Name) (oneLine e.Message))
            if Environment.GetEnvironmentVariable "AUTODESIGN_TRACE" = "1" then err.WriteLine(e.ToString())
            1

/// Run one command line with errors going to standard error; the exit code is returned.
let run (argv: string[]) : int = runWith Console.Error argv

/// The process entry: run the command line; in a launcher's job, a success is recorded for the launcher.
[<EntryPoint>]
let main argv =
    Job.exitWithParent ()
    match run argv with
    | 0 ->
        try
            Job.recordSuccess ()
            0
        with e ->
            eprintfn "error: cannot record the job's success (%s)" (e.Message.Replace('\n', ' '))
            1
    | rc -> rc
