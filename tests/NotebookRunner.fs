/// Runs a notebook headless for the notebook tests: each code cell is sent as a SubmitCode command to
/// `dotnet-interactive stdio`; a CommandFailed is a failure. dotnet-interactive 1.0.712001 is installed into
/// .tools/dotnet-interactive (gitignored) on first use, and its FSharp.Core 10.0 is replaced by the 10.1 one
/// our libraries (and Deedle) need.
module AutoDesign.Tests.NotebookRunner

open System
open System.Collections.Concurrent
open System.Diagnostics
open System.IO
open System.Text.Json
open System.Text.Json.Nodes
open Expecto

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

    if not (p.WaitForExit 600000) then
        p.Kill true
        failwithf "%s %s timed out" file args

    if p.ExitCode <> 0 then failwithf "%s %s failed (%d): %s %s" file args p.ExitCode out.Result err

/// Install the tool if absent and patch its FSharp.Core (idempotent).
let ensureTool =
    lazy
        (if not (File.Exists toolExe) then
             runTool "dotnet" (sprintf "tool install Microsoft.dotnet-interactive --version %s --tool-path \"%s\"" toolVersion toolDir)

         let ours = Path.Combine(AppContext.BaseDirectory, "FSharp.Core.dll")

         let theirs =
             Directory.GetFiles(Path.Combine(toolDir, ".store"), "FSharp.Core.dll", SearchOption.AllDirectories)
             |> Array.filter (fun f -> f.Replace('\\', '/').Contains("/tools/net10.0/any/"))

         if theirs.Length = 0 then
             failwith "dotnet-interactive installed, but its tools/net10.0/any/FSharp.Core.dll was not found"

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
            | p ->
                match p.["kernelInfo"] with
                | null -> "fsharp"
                | k ->
                    (match k.["defaultKernelName"] with
                     | null -> "fsharp"
                     | v -> v.GetValue<string>())

    [ for c in doc.["cells"].AsArray() do
          if c.["cell_type"].GetValue<string>() = "code" then
              let src =
                  match c.["source"] with
                  | :? JsonArray as a -> a |> Seq.map (fun l -> l.GetValue<string>()) |> String.concat ""
                  | s -> s.GetValue<string>()

              let kernel =
                  let md = c.["metadata"]
                  let pick (n: JsonNode) (k: string) = if isNull n || isNull n.[k] then None else Some n.[k]

                  match
                      pick md "polyglot_notebook" |> Option.bind (fun p -> pick p "kernelName"),
                      pick md "dotnet_interactive" |> Option.bind (fun p -> pick p "language")
                  with
                  | Some k, _
                  | None, Some k -> k.GetValue<string>()
                  | None, None -> defaultKernel

              if not (String.IsNullOrWhiteSpace src) then yield kernel, src ]

/// What one notebook run produced: failures (cell number, message) and, per code cell (in the order of
/// `codeCells`), its outputs in the Jupyter nbformat 4 shape (stream, display_data, execute_result, error).
type Execution = { Failures: string list; Outputs: JsonArray list }

let private toJupyter (ev: JsonNode) (executionCount: int) : JsonNode option =
    let typ = ev.["eventType"].GetValue<string>()

    let data () =
        let d = JsonObject()

        match ev.["event"].["formattedValues"] with
        | :? JsonArray as values ->
            for v in values do
                let suppressed =
                    match v.["suppressDisplay"] with
                    | null -> false
                    | b -> b.GetValue<bool>()

                if not suppressed then d.[v.["mimeType"].GetValue<string>()] <- JsonValue.Create(v.["value"].GetValue<string>())
        | _ -> ()

        d

    let withData (outputType: string) =
        let d = data ()

        if d.Count = 0 then
            None
        else
            let o = JsonObject()
            o.["output_type"] <- JsonValue.Create outputType
            o.["data"] <- d
            o.["metadata"] <- JsonObject()
            if outputType = "execute_result" then o.["execution_count"] <- JsonValue.Create executionCount
            Some(o :> JsonNode)

    match typ with
    | "DisplayedValueProduced" -> withData "display_data"
    | "ReturnValueProduced" -> withData "execute_result"
    | "StandardOutputValueProduced"
    | "StandardErrorValueProduced" ->
        let o = JsonObject()
        o.["output_type"] <- JsonValue.Create "stream"
        o.["name"] <- JsonValue.Create(if typ = "StandardOutputValueProduced" then "stdout" else "stderr")

        let text =
            match ev.["event"].["formattedValues"] with
            | :? JsonArray as a when a.Count > 0 -> a.[0].["value"].GetValue<string>()
            | _ -> ""

        o.["text"] <- JsonValue.Create text
        Some(o :> JsonNode)
    | "CommandFailed" ->
        let o = JsonObject()
        o.["output_type"] <- JsonValue.Create "error"
        o.["ename"] <- JsonValue.Create "Error"
        o.["evalue"] <- JsonValue.Create(ev.["event"].["message"].GetValue<string>())
        o.["traceback"] <- JsonArray()
        Some(o :> JsonNode)
    | _ -> None

/// Append an output, merging consecutive stream chunks of the same name.
let private addOutput (outputs: JsonArray) (o: JsonNode) =
    let last = if outputs.Count > 0 then outputs.[outputs.Count - 1] else null

    if
        not (isNull last)
        && o.["output_type"].GetValue<string>() = "stream"
        && last.["output_type"].GetValue<string>() = "stream"
        && last.["name"].GetValue<string>() = o.["name"].GetValue<string>()
    then
        last.["text"] <- JsonValue.Create(last.["text"].GetValue<string>() + o.["text"].GetValue<string>())
    else
        outputs.Add o

/// Stop a kernel process and everything it started (the kernel may leave restore or build children).
let private stopKernel (p: Process) =
    (try
        p.StandardInput.Close()
     with _ ->
         ())

    try
        if not (p.WaitForExit 5000) then p.Kill true
        p.WaitForExit 10000 |> ignore
    with _ ->
        ()

/// Run a notebook, one kernel per notebook (stopped at the end, also on failure or timeout): the first
/// failing cell ends the run.
let run (path: string) (cellTimeout: TimeSpan) : Execution =
    ensureTool.Force()

    let psi =
        ProcessStartInfo(
            toolExe,
            "stdio --default-kernel fsharp",
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
            WorkingDirectory = Path.GetDirectoryName(Path.GetFullPath path)
        )

    psi.Environment.["DOTNET_INTERACTIVE_CLI_TELEMETRY_OPTOUT"] <- "1"
    psi.Environment.["DOTNET_CLI_TELEMETRY_OPTOUT"] <- "1"
    // restores started by `#r "nuget: ..."` must not leave MSBuild or compiler servers running
    psi.Environment.["MSBUILDDISABLENODEREUSE"] <- "1"
    psi.Environment.["DOTNET_CLI_USE_MSBUILD_SERVER"] <- "0"
    psi.Environment.["UseSharedCompilation"] <- "false"
    use p = Process.Start psi
    let events = new BlockingCollection<JsonNode>()

    let reader =
        Threading.Thread(
            (fun () ->
                let mutable line = p.StandardOutput.ReadLine()

                while not (isNull line) do
                    if line.StartsWith "{" then
                        try
                            events.Add(JsonNode.Parse line)
                        with :? JsonException ->
                            ()

                    line <- p.StandardOutput.ReadLine()

                events.CompleteAdding()),
            IsBackground = true
        )

    reader.Start()
    let stderr = p.StandardError.ReadToEndAsync()
    let failures = ResizeArray<string>()
    let outputs = ResizeArray<JsonArray>()

    try
        codeCells path
        |> List.iteri (fun i (kernel, code) ->
            let cellOutputs = JsonArray()
            outputs.Add cellOutputs

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
                    let mutable ev: JsonNode = null

                    if left <= TimeSpan.Zero || not (events.TryTake(&ev, left)) then
                        failures.Add(
                            sprintf
                                "code cell %d: no result within %.0f s (kernel exited: %b) %s"
                                (i + 1)
                                cellTimeout.TotalSeconds
                                p.HasExited
                                (if p.HasExited then stderr.Result else "")
                        )

                        finished <- true
                    elif not (isNull ev) then
                        let typ = ev.["eventType"] |> Option.ofObj |> Option.map (fun v -> v.GetValue<string>())

                        let tok =
                            ev.["command"]
                            |> Option.ofObj
                            |> Option.bind (fun c -> Option.ofObj c.["token"])
                            |> Option.map (fun v -> v.GetValue<string>())
                        // events of this cell carry its token (possibly extended by child commands: "cell-3.1")
                        let ours =
                            match tok with
                            | Some t -> t = token || t.StartsWith(token + ".")
                            | None -> false

                        if ours then
                            toJupyter ev (i + 1) |> Option.iter (addOutput cellOutputs)

                            if tok = Some token then
                                match typ with
                                | Some "CommandSucceeded" -> finished <- true
                                | Some "CommandFailed" ->
                                    failures.Add(sprintf "code cell %d failed: %s" (i + 1) (ev.["event"].["message"].GetValue<string>()))
                                    finished <- true
                                | _ -> ())
    finally
        stopKernel p

    { Failures = List.ofSeq failures; Outputs = List.ofSeq outputs }

/// Failures only (kept for callers that need no outputs).
let execute (path: string) (cellTimeout: TimeSpan) = (run path cellTimeout).Failures

/// Mime types of every output of a run.
let mimeTypes (e: Execution) =
    [ for cell in e.Outputs do
          for o in cell do
              match o.["data"] with
              | :? JsonObject as d ->
                  for kv in d do
                      yield kv.Key, kv.Value.GetValue<string>()
              | _ -> () ]

/// A Deedle table as the notebooks display it: HTML with a <table>.
let hasTable (e: Execution) = mimeTypes e |> List.exists (fun (m, v) -> m = "text/html" && v.Contains "<table")

/// A chart or image: a PNG, or a Plotly.NET chart (HTML that calls Plotly).
let hasChart (e: Execution) = mimeTypes e |> List.exists (fun (m, v) -> m = "image/png" || (m = "text/html" && v.Contains "Plotly.newPlot"))

/// Write the outputs of a run into the notebook file (cells in order; execution counts set), the way
/// a notebook front end saves an executed notebook.
let save (path: string) (e: Execution) =
    let doc = JsonNode.Parse(File.ReadAllText path)
    let mutable k = 0

    for c in doc.["cells"].AsArray() do
        if c.["cell_type"].GetValue<string>() = "code" then
            let src =
                match c.["source"] with
                | :? JsonArray as a -> a |> Seq.map (fun l -> l.GetValue<string>()) |> String.concat ""
                | s -> s.GetValue<string>()

            if String.IsNullOrWhiteSpace src then
                c.["outputs"] <- JsonArray()
                c.["execution_count"] <- null
            else
                let outs = if k < e.Outputs.Length then e.Outputs.[k] else JsonArray()
                c.["outputs"] <- JsonNode.Parse(outs.ToJsonString())
                c.["execution_count"] <- JsonValue.Create(k + 1)
                k <- k + 1

    let options =
        JsonSerializerOptions(WriteIndented = true, Encoder = Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping)

    File.WriteAllText(path, doc.ToJsonString(options) + "\n")

let notebooks () =
    let dir = Path.Combine(repoRoot, "notebooks")
    if Directory.Exists dir then Directory.GetFiles(dir, "*.ipynb") |> Array.sort |> List.ofArray else []
