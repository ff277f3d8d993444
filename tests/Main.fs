module AutoDesign.Tests.Main

open System
open Expecto
open Expecto.Impl

/// Lists left out of the fast tier: they start child processes that train, kill and resume runs,
/// start a Slurm cluster, pack NuGet packages or execute notebooks.
let slowLists =
    set
        [ "crash"
          "soak"
          "launcher"
          "launcher.fanout"
          "locale"
          "launcher.robust"
          "foundation.notebooks"
          "foundation.reproduce"
          "packaging"
          "gan.runs"
          "d2nn.engine"
          "badinput"
          "badfiles"
          "clidocs"
          "reproduce.exact"
          "uniloss.suite" ]

/// Runs every [<Tests>] value in this assembly (`--fast`: all but `slowLists`), then prints the real
/// counts as the plain line `N passed, N failed, N skipped` (CI reads it; Expecto's own line is
/// coloured and differently worded).
[<EntryPoint>]
let main argv =
    // progress lines of every library call and child process off (the suite's own output stays readable)
    Environment.SetEnvironmentVariable("AUTODESIGN_QUIET", "1")

    if argv.Length > 0 && argv.[0] = "soak" then
        AutoDesign.Tests.Soak.main argv
    else if argv.Length > 0 && argv.[0] = "notebooks" then
        AutoDesign.Tests.NotebookTests.main argv.[1..]
    else if argv.Length > 0 && argv.[0] = "cli-docs" then
        AutoDesign.Tests.CliDocsTests.main ()
    else
        let mutable summary: TestRunSummary option = None

        let printer =
            { TestPrinters.defaultPrinter with
                summary =
                    fun cfg s ->
                        async {
                            summary <- Some s
                            do! TestPrinters.defaultPrinter.summary cfg s
                        } }

        let fast = argv |> Array.contains "--fast"
        let argv = argv |> Array.filter ((<>) "--fast")
        let all = testFromThisAssembly () |> Option.defaultValue (TestList([], Normal))
        let tests = if fast then all |> Test.filter "/" (fun path -> not (path |> List.exists slowLists.Contains)) else all
        let rc = runTestsWithCLIArgs [ CLIArguments.Printer printer ] argv tests
        Console.Out.Flush()

        match summary with
        | Some s ->
            let failed = List.length s.failed + List.length s.errored
            // Expecto's logger may leave an ANSI reset behind; start on a clean line.
            Console.Out.Write("\n")
            Console.Out.Write(sprintf "%d passed, %d failed, %d skipped\n" (List.length s.passed) failed (List.length s.ignored))
            Console.Out.Flush()
            if failed > 0 then 1 else rc
        | None ->
            Console.Out.Write("\n0 passed, 1 failed, 0 skipped\n")
            if rc = 0 then 1 else rc
