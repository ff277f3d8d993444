/// The packages as a consumer sees them: a copy of this working tree is packed under a unique version
/// (scripts/pack.sh) into a folder feed, the samples are copied out of the repository, restored from that
/// feed alone (AutoDesign.*) and run. The library packages and the CLI tool are produced; each library carries
/// its README, and AutoDesign.Nn the TorchSharp native-library fix for its consumers (buildTransitive); the
/// tool installs with `dotnet tool install` and runs.
module AutoDesign.Tests.PackagingTests

open System
open System.Diagnostics
open System.IO
open System.IO.Compression
open Expecto

let private repo = Path.GetFullPath(Path.Combine(__SOURCE_DIRECTORY__, "..", ".."))

let private libraries =
    [ "AutoDesign.Core"
      "AutoDesign.D2NN"
      "AutoDesign.Gan"
      "AutoDesign.Metrics"
      "AutoDesign.Nn"
      "AutoDesign.Plots"
      "AutoDesign.Runs"
      "AutoDesign.UniLoss" ]

/// Run a program to its end; returns (exit code, stdout + stderr).
let private exec (cwd: string) (env: (string * string) list) (file: string) (args: string list) (minutes: float) =
    let psi =
        ProcessStartInfo(file, args, RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false, WorkingDirectory = cwd)
    // no MSBuild or compiler server outlives the test
    psi.Environment.["MSBUILDDISABLENODEREUSE"] <- "1"
    psi.Environment.["DOTNET_CLI_USE_MSBUILD_SERVER"] <- "0"
    psi.Environment.["UseSharedCompilation"] <- "false"

    for (k, v) in env do
        psi.Environment.[k] <- v

    use p = Process.Start psi
    let out = p.StandardOutput.ReadToEndAsync()
    let err = p.StandardError.ReadToEndAsync()

    if not (p.WaitForExit(TimeSpan.FromMinutes minutes)) then
        p.Kill true
        failtestf "%s %s did not finish in %g minutes" file (String.Join(" ", args)) minutes

    p.ExitCode, out.Result + err.Result

/// The working tree as a clone would have it plus uncommitted files: tracked and untracked, not ignored.
let private copyTree (target: string) =
    let rc, listing = exec repo [] "git" [ "ls-files"; "-co"; "--exclude-standard"; "-z" ] 1.0
    Expect.equal rc 0 "git ls-files"

    for rel in listing.Split('\000', StringSplitOptions.RemoveEmptyEntries) do
        let src = Path.Combine(repo, rel)

        if File.Exists src then
            let dst = Path.Combine(target, rel)
            Directory.CreateDirectory(Path.GetDirectoryName dst) |> ignore
            File.Copy(src, dst)

let private copyDir (src: string) (dst: string) =
    for f in Directory.GetFiles(src, "*", SearchOption.AllDirectories) do
        let rel = Path.GetRelativePath(src, f)
        let parts = rel.Split(Path.DirectorySeparatorChar)

        if not (parts |> Array.exists (fun p -> p = "bin" || p = "obj")) then
            let target = Path.Combine(dst, rel)
            Directory.CreateDirectory(Path.GetDirectoryName target) |> ignore
            File.Copy(f, target)

[<Tests>]
let tests =
    testSequenced
    <| testList
        "packaging"
        [ test "packed under a unique version, the samples restore from the feed outside the repository and run" {
              let stamp = DateTime.UtcNow.ToString("yyyyMMddHHmmss") + "-" + Guid.NewGuid().ToString("N").Substring(0, 6)
              let version = "0.9.0-t" + stamp
              let work = Path.Combine(Path.GetTempPath(), "autodesign-tests", "packaging-" + stamp)
              let src, feed, apps = Path.Combine(work, "src"), Path.Combine(work, "feed"), Path.Combine(work, "apps")
              let cache = Path.Combine(Environment.GetFolderPath Environment.SpecialFolder.UserProfile, ".nuget", "packages")

              try
                  copyTree src
                  let rc, out = exec src [ "AUTODESIGN_VERSION", version ] "bash" [ "scripts/pack.sh"; feed ] 20.0
                  Expect.equal rc 0 (sprintf "pack.sh failed:\n%s" out)
                  let packed = Directory.GetFiles(feed, "*.nupkg") |> Array.map Path.GetFileName |> Array.sort |> List.ofArray

                  Expect.equal
                      packed
                      ([ for l in "AutoDesign.Cli" :: libraries -> sprintf "%s.%s.nupkg" l version ] |> List.sort)
                      "exactly the library packages and the CLI tool"

                  for l in libraries do
                      use z = ZipFile.OpenRead(Path.Combine(feed, sprintf "%s.%s.nupkg" l version))
                      let names = z.Entries |> Seq.map (fun e -> e.FullName) |> Set.ofSeq
                      Expect.isTrue (names.Contains "README.md") (l + " carries its README")
                      Expect.isTrue (names |> Set.exists (fun n -> n.StartsWith "lib/net10.0/" && n.EndsWith ".xml")) (l + " carries its XML docs")

                      if l = "AutoDesign.Nn" then
                          Expect.isTrue
                              (names |> Set.exists (fun n -> n.StartsWith "buildTransitive/"))
                              "AutoDesign.Nn carries the native-library fix for consumers"

                  copyDir (Path.Combine(repo, "samples")) apps
                  let config = Path.Combine(apps, "nuget.config")
                  File.WriteAllText(config, File.ReadAllText(config).Replace("\"../artifacts/feed\"", sprintf "\"%s\"" feed))

                  let run project args =
                      exec apps [] "dotnet" ([ "run"; "--project"; project; "-c"; "Release"; sprintf "-p:AutoDesignVersion=%s" version; "--" ] @ args) 15.0

                  let rc, out = run "CSharp" []
                  Expect.equal rc 0 (sprintf "the C# sample failed:\n%s" out)
                  Expect.stringContains out "held-out accuracy" "the C# sample trained with UniLoss"
                  Expect.stringContains out "one head each: True" "the C# sample ran a D²NN built in C#"
                  let runs = Path.Combine(work, "runs")
                  let rc, out = run "FSharp" [ runs ]
                  Expect.equal rc 0 (sprintf "the F# sample failed:\n%s" out)
                  Expect.stringContains out "epoch=Number 5.0" "the F# sample trained five epochs"
                  let rc, again = run "FSharp" [ runs ]
                  Expect.equal rc 0 (sprintf "the F# sample's second run failed:\n%s" again)
                  Expect.stringContains again "finished before" "a finished run is read back, not trained again"
                  let assets = File.ReadAllText(Path.Combine(apps, "CSharp", "obj", "project.assets.json"))
                  Expect.stringContains assets (sprintf "AutoDesign.UniLoss/%s" version) "restored the packed version"
                  Expect.isFalse (assets.Contains repo) "nothing restored from the repository itself"
                  // the CLI as a .NET tool: installed from the feed, `autodesign` runs, and starts its own jobs
                  let tools = Path.Combine(work, "tools")

                  let rc, out =
                      exec work [] "dotnet" [ "tool"; "install"; "AutoDesign.Cli"; "--tool-path"; tools; "--add-source"; feed; "--version"; version ] 10.0

                  Expect.equal rc 0 (sprintf "dotnet tool install failed:\n%s" out)
                  let autodesign = Path.Combine(tools, "autodesign")
                  let rc, help = exec work [] autodesign [ "--help" ] 2.0
                  Expect.equal rc 0 (sprintf "autodesign --help failed:\n%s" help)
                  Expect.stringContains help "USAGE: autodesign" "the tool's help"
                  let toolRuns = Path.Combine(work, "tool-runs")

                  let rc, out =
                      exec
                          work
                          []
                          autodesign
                          [ "reproduce"
                            "--quick"
                            "--only"
                            "foundation/resume-determinism"
                            "--runs-root"
                            toolRuns
                            "--report"
                            Path.Combine(toolRuns, "R.md") ]
                          5.0

                  Expect.equal rc 0 (sprintf "the installed tool's reproduce failed:\n%s" out)
                  Expect.stringContains out "1 done" "it ran the experiment as a job of its local pool"
                  Expect.stringContains (File.ReadAllText(Path.Combine(toolRuns, "R.md"))) "w_uninterrupted\\| = 0 over" "and wrote the report"
              finally
                  for l in "AutoDesign.Cli" :: libraries do
                      let d = Path.Combine(cache, l.ToLowerInvariant(), version)
                      if Directory.Exists d then Directory.Delete(d, true)

                  if Directory.Exists work then Directory.Delete(work, true)
          } ]
