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
let parser () = ArgumentParser.Create<AutoDesignArgs>(programName = "autodesign")

/// Parse a command line: the inherited options as Globals, and the parse results.
let parse (argv: string[]) : Globals * ParseResults<AutoDesignArgs> =
    let results = (parser ()).ParseCommandLine(argv, raiseOnUsage = true)
    globals results, results

/// Parse and run one command line, letting errors propagate.
let execute (argv: string[]) : int =
    let g, results = parse argv
    let line = jobLine results

    match results.TryGetSubCommand() with
    | Some _ when results.Contains Version -> Errors.fail "--version takes no subcommand (see 'autodesign --help')"
    | None when results.Contains Version ->
        version ()
        0
    | Some(D2nn r) -> Commands.D2nn.handle g (D2nn >> line) r
    | Some(Uniloss u) -> Commands.Uniloss.run g (Uniloss >> line) u
    | Some(Reproduce r) -> Commands.Reproduce.handle g (Reproduce >> line) r
    | Some(Bench b) -> Commands.Bench.handle g b
    | Some(Data args) -> Commands.Data.handle g args
    | Some(Dggan args) -> Commands.Dggan.handle g (Dggan >> line) args
    | Some(Gan args) -> Commands.Gan.handle g args
    | Some(Detgan args) -> Commands.Detgan.handle g (Detgan >> line) args
    | Some other -> Errors.fail "%A is not a subcommand" other
    | None ->
        eprintfn "%s" (results.Parser.PrintUsage())
        eprintfn "error: no command given (see 'autodesign --help')"
        2

/// The subcommands a command line names, in order (`d2nn cascade`), read from the grammar: each word that
/// names a subcommand of the level reached so far goes one level down.
let commandPath (argv: string[]) : string list =
    let rec go (level: ArgumentParser) (args: string list) =
        match args with
        | [] -> []
        | a :: rest ->
            let sub =
                level.GetSubCommandParsers()
                |> List.tryFind (fun p -> p.ParentInfo |> Option.exists (fun i -> List.contains a i.CommandLineNames.Value))

            match sub with
            | Some p -> a :: go p rest
            | None -> go level rest

    go (parser ()) (List.ofArray argv)

/// The one line for a parse error: Argu's first line (without its `ERROR: ` prefix) and the help command of
/// the subcommand the command line reached.
let parseErrorLine (argv: string[]) (message: string) =
    let first =
        message.Split('\n')
        |> Array.map (fun l -> l.Trim())
        |> Array.tryFind (fun l -> l <> "")
        |> Option.defaultValue "invalid arguments"

    let first = if first.StartsWith "ERROR: " then first.Substring 7 else first
    sprintf "error: %s (see '%s --help')" (first.TrimEnd('.')) (String.Join(" ", "autodesign" :: commandPath argv))

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

    // a number written with a comma ("1,5", "0,5,0,9") would be read with invariant thousands separators (15,
    // 50.9): refused before parsing, whatever the option
    match argv |> Array.tryFind (fun a -> Text.RegularExpressions.Regex.IsMatch(a, @"^[+-]?\d+(,\d+)+(\.\d*)?$")) with
    | Some a ->
        err.WriteLine(sprintf "error: '%s' is not a number here: decimals take a point (%s) and lists take spaces (0.5 0.9)" a (a.Replace(',', '.')))

        2
    | None ->
        try
            execute argv
        with
        | :? ArguParseException as e when e.ErrorCode = ErrorCode.HelpText ->
            printfn "%s" e.Message
            0
        | :? ArguParseException as e ->
            err.WriteLine(parseErrorLine argv e.Message)
            2
        | UserError msg ->
            err.WriteLine("error: " + oneLine msg)
            1
        | e ->
            let e =
                match e with
                | :? AggregateException as a when a.InnerExceptions.Count = 1 -> a.InnerException
                | e -> e

            match e with
            | UserError msg ->
                err.WriteLine("error: " + oneLine msg)
                1
            // a file-system failure the command did not anticipate (disk full, read-only, no permission) is
            // the environment's, not a defect: the system's message names the path and the reason
            | :? IOException
            | :? UnauthorizedAccessException ->
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
