/// The one way the tests start the `autodesign` CLI in a child process: `dotnet autodesign.dll ARGS` (the CLI
/// built beside the tests), output redirected, in a working directory, with extra environment variables.
module AutoDesign.Tests.CliProcess

open System
open System.Diagnostics
open System.IO
open Expecto

/// The CLI the tests run.
let dll = Path.Combine(AppContext.BaseDirectory, "autodesign.dll")

/// `dotnet autodesign.dll args` with standard output and error redirected, in `cwd` (None: the tests'
/// directory), with `env` set (a null value removes the variable).
let startInfo (cwd: string option) (env: (string * string) list) (args: string list) =
    let psi =
        ProcessStartInfo("dotnet", dll :: args, RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false)

    cwd |> Option.iter (fun d -> psi.WorkingDirectory <- d)

    for (k, v) in env do
        if isNull v then psi.Environment.Remove k |> ignore else psi.Environment.[k] <- v

    psi

/// Start the CLI without waiting for it (the caller reads its output).
let start (cwd: string option) (env: (string * string) list) (args: string list) : Process = Process.Start(startInfo cwd env args)

/// How a run of the CLI ended: exit code, standard output, standard error, and the peak resident set
/// (VmHWM, sampled every 10 ms, so the peak up to the sampling interval) in MiB.
type Outcome = { Code: int; Out: string; Err: string; PeakMiB: int64 }

/// Run the CLI to its end; a run longer than `timeout` is killed and fails the test.
let run (cwd: string option) (env: (string * string) list) (args: string list) (timeout: TimeSpan) : Outcome =
    use p = start cwd env args
    let out = p.StandardOutput.ReadToEndAsync()
    let err = p.StandardError.ReadToEndAsync()
    let mutable peak = 0L

    let sample () =
        try
            for line in File.ReadAllLines(sprintf "/proc/%d/status" p.Id) do
                if line.StartsWith "VmHWM:" then
                    let kb = int64 (line.Substring(6).Trim().Split(' ').[0])
                    peak <- max peak (kb / 1024L)
        with _ ->
            ()

    let sw = Stopwatch.StartNew()

    while not (p.WaitForExit 10) do
        sample ()

        if sw.Elapsed > timeout then
            p.Kill true
            failtestf "autodesign %s did not finish in %g minutes" (String.Join(" ", args)) timeout.TotalMinutes

    p.WaitForExit()
    { Code = p.ExitCode; Out = out.Result; Err = err.Result; PeakMiB = peak }

/// Run the CLI in `cwd` quietly, without a fault point unless `env` sets one, with extra environment
/// variables and a 10-minute limit: (exit code, stdout, stderr).
let runQuiet (cwd: string) (env: (string * string) list) (args: string list) =
    let o = run (Some cwd) ([ "AUTODESIGN_QUIET", "1"; "AUTODESIGN_FAULT", null ] @ env) args (TimeSpan.FromMinutes 10.0)
    o.Code, o.Out, o.Err
