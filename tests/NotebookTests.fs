module AutoDesign.Tests.NotebookTests

open System
open System.Collections.Concurrent
open System.Diagnostics
open System.IO
open System.Text.Json
open System.Text.Json.Nodes
open Expecto

/// Executes every notebooks/*.ipynb headless: one Expecto test per notebook file. Each code cell
/// is sent as a SubmitCode command to `dotnet-interactive stdio`; a CommandFailed fails the test.
/// dotnet-interactive 1.0.712001 is installed into .tools/dotnet-interactive (gitignored) on first
/// use, and its FSharp.Core 10.0 is replaced by the 10.1 one our libraries (and Deedle) need.
let toolVersion = "1.0.712001"

let repoRoot =
    let rec up (d: DirectoryInfo) =
        if isNull d then failwith "cannot find the repository root (Pipelines.sln) above the test binary"
        elif File.Exists(Path.Combine(d.FullName, "Pipelines.sln")) then d.FullName
        else up d.Parent
    up (DirectoryInfo AppContext.BaseDirectory)

let toolDir = Path.Combine(repoRoot, ".tools", "dotnet-interactive")
let toolExe = Path.Combine(toolDir, "dotnet-interactive")

let private runTool (file: string) (args: string) =
    let psi = ProcessStartInfo(file, args, RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false)
    use p = Process.Start psi
    let out = p.StandardOutput.ReadToEndAsync()
    let err = p.StandardError.ReadToEnd()
    if not (p.WaitForExit 600000) then p.Kill true; failwithf "%s %s timed out" file args
    if p.ExitCode <> 0 then failwithf "%s %s failed (%d): %s %s" file args p.ExitCode out.Result err

/// Install the tool if absent and patch its FSharp.Core (idempotent).
let ensureTool =
    lazy (
        if not (File.Exists toolExe) then
            runTool "dotnet" (sprintf "tool install Microsoft.dotnet-interactive --version %s --tool-path \"%s\"" toolVersion toolDir)
        let ours = Path.Combine(AppContext.BaseDirectory, "FSharp.Core.dll")
        let theirs =
            Directory.GetFiles(Path.Combine(toolDir, ".store"), "FSharp.Core.dll", SearchOption.AllDirectories)
            |> Array.filter (fun f -> f.Replace('\\', '/').Contains("/tools/net10.0/any/"))
        if theirs.Length = 0 then failwith "dotnet-interactive installed, but its tools/net10.0/any/FSharp.Core.dll was not found"
        let ourVersion = FileVersionInfo.GetVersionInfo(ours).FileVersion
        for f in theirs do
            if FileVersionInfo.GetVersionInfo(f).FileVersion <> ourVersion then File.Copy(ours, f, true))

/// Code cells of a notebook as (kernel name, source).
let codeCells (path: string) =
    let doc = JsonNode.Parse(File.ReadAllText path)
    let defaultKernel =
        match doc.["metadata"] with
        | null -> "fsharp"
        | m ->
            match m.["polyglot_notebook"] with
            | null -> "fsharp"
            | p -> match p.["kernelInfo"] with null -> "fsharp" | k -> (match k.["defaultKernelName"] with null -> "fsharp" | v -> v.GetValue<string>())
    [ for c in doc.["cells"].AsArray() do
        if c.["cell_type"].GetValue<string>() = "code" then
            let src =
                match c.["source"] with
                | :? JsonArray as a -> a |> Seq.map (fun l -> l.GetValue<string>()) |> String.concat ""
                | s -> s.GetValue<string>()
            let kernel =
                let md = c.["metadata"]
                let pick (n: JsonNode) (k: string) = if isNull n || isNull n.[k] then None else Some n.[k]
                match pick md "polyglot_notebook" |> Option.bind (fun p -> pick p "kernelName"),
                      pick md "dotnet_interactive" |> Option.bind (fun p -> pick p "language") with
                | Some k, _ | None, Some k -> k.GetValue<string>()
                | None, None -> defaultKernel
            if not (String.IsNullOrWhiteSpace src) then yield kernel, src ]

/// Run a notebook; returns the list of failures (cell number, message).
let execute (path: string) (cellTimeout: TimeSpan) =
    ensureTool.Force()
    let psi =
        ProcessStartInfo(toolExe, "stdio --default-kernel fsharp",
                         RedirectStandardInput = true, RedirectStandardOutput = true, RedirectStandardError = true,
                         UseShellExecute = false, WorkingDirectory = Path.GetDirectoryName(Path.GetFullPath path))
    psi.Environment.["DOTNET_INTERACTIVE_CLI_TELEMETRY_OPTOUT"] <- "1"
    psi.Environment.["DOTNET_CLI_TELEMETRY_OPTOUT"] <- "1"
    use p = Process.Start psi
    let events = new BlockingCollection<JsonNode>()
    let reader =
        Threading.Thread((fun () ->
            let mutable line = p.StandardOutput.ReadLine()
            while not (isNull line) do
                if line.StartsWith "{" then
                    try events.Add(JsonNode.Parse line) with :? JsonException -> ()
                line <- p.StandardOutput.ReadLine()
            events.CompleteAdding()), IsBackground = true)
    reader.Start()
    let stderr = p.StandardError.ReadToEndAsync()
    let failures = ResizeArray<string>()
    try
        codeCells path |> List.iteri (fun i (kernel, code) ->
            if failures.Count = 0 then
                let token = sprintf "cell-%d" (i + 1)
                let cmd = JsonObject()
                cmd.["commandType"] <- JsonValue.Create "SubmitCode"
                cmd.["token"] <- JsonValue.Create token
                let inner = JsonObject()
                inner.["code"] <- JsonValue.Create code
                inner.["targetKernelName"] <- JsonValue.Create kernel
                cmd.["command"] <- inner
                p.StandardInput.WriteLine(cmd.ToJsonString())
                p.StandardInput.Flush()
                let deadline = DateTime.UtcNow + cellTimeout
                let mutable finished = false
                while not finished do
                    let left = deadline - DateTime.UtcNow
                    let mutable ev : JsonNode = null
                    if left <= TimeSpan.Zero || not (events.TryTake(&ev, left)) then
                        failures.Add(sprintf "code cell %d: no result within %.0f s (kernel exited: %b) %s" (i + 1) cellTimeout.TotalSeconds p.HasExited
                                         (if p.HasExited then stderr.Result else ""))
                        finished <- true
                    elif not (isNull ev) then
                        let typ = ev.["eventType"] |> Option.ofObj |> Option.map (fun v -> v.GetValue<string>())
                        let tok = ev.["command"] |> Option.ofObj |> Option.bind (fun c -> Option.ofObj c.["token"]) |> Option.map (fun v -> v.GetValue<string>())
                        if tok = Some token then
                            match typ with
                            | Some "CommandSucceeded" -> finished <- true
                            | Some "CommandFailed" ->
                                failures.Add(sprintf "code cell %d failed: %s" (i + 1) (ev.["event"].["message"].GetValue<string>()))
                                finished <- true
                            | _ -> ())
    finally
        (try p.StandardInput.Close() with _ -> ())
        if not (p.WaitForExit 5000) then p.Kill true
    List.ofSeq failures

let notebooks () =
    let dir = Path.Combine(repoRoot, "notebooks")
    if Directory.Exists dir then Directory.GetFiles(dir, "*.ipynb") |> Array.sort |> List.ofArray else []

// Sequenced: each notebook starts a kernel process (heavy on 2 cores) and the install must happen once.
[<Tests>]
let tests =
    testSequenced <| testList "foundation.notebooks" [
        test "notebooks folder is not empty" {
            Expect.isNonEmpty (notebooks ()) "notebooks/*.ipynb"
        }
        test "the runner reports a failing cell" {
            let bad = Path.Combine(Path.GetTempPath(), "autodesign-tests", Guid.NewGuid().ToString("N"), "bad.ipynb")
            Directory.CreateDirectory(Path.GetDirectoryName bad) |> ignore
            File.WriteAllText(bad, """{"cells":[{"cell_type":"code","metadata":{},"source":["let a = 1"]},{"cell_type":"code","metadata":{},"source":["failwith<unit> \"boom\""]},{"cell_type":"code","metadata":{},"source":["let c = 3"]}],"metadata":{},"nbformat":4,"nbformat_minor":5}""")
            let failures = execute bad (TimeSpan.FromMinutes 3.0)
            Expect.equal failures.Length 1 "one failure"
            Expect.stringContains failures.Head "code cell 2" "names the cell"
            Expect.stringContains failures.Head "boom" "carries the message"
        }
        for nb in notebooks () do
            test (Path.GetFileName nb) {
                let failures = execute nb (TimeSpan.FromMinutes 5.0)
                if not failures.IsEmpty then failtestf "%s: %s" (Path.GetFileName nb) (String.concat "\n" failures)
            }
    ]
