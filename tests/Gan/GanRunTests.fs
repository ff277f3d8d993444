/// `dggan search` and `detgan tables` as child processes of the CLI in tiny configs: killed at a training step,
/// during a checkpoint write and between candidates/phases (AUTODESIGN_FAULT), restarted until they finish,
/// they end with the same result files and weights as an uninterrupted run; the run folder's lock, its
/// configuration check and its independence of the working directory.
module AutoDesign.Tests.GanRunTests

open System
open System.IO
open Expecto
open AutoDesign.Runs

let private tempDir () = TempDir.fresh "gan-runs"

/// Every file of a run folder that must come out the same (relative path → bytes): all but the result
/// envelopes (they hold finishing times) and the lock files.
let private files (dir: string) =
    Directory.GetFiles(dir, "*", SearchOption.AllDirectories)
    |> Array.map (fun f -> Path.GetRelativePath(dir, f))
    |> Array.filter (fun f -> Path.GetFileName f <> "result.json" && not (Path.GetFileName(f).StartsWith ".lock"))
    |> Array.sort
    |> Array.map (fun f -> f, File.ReadAllBytes(Path.Combine(dir, f)))

/// Compare two finished run folders file by file.
let private expectSameFolders (a: string) (b: string) (mustHave: string list) =
    let fa, fb = files a, files b
    Expect.equal (fb |> Array.map fst) (fa |> Array.map fst) "the same files"

    for (name, bytes) in fa do
        let other = fb |> Array.find (fst >> (=) name) |> snd
        Expect.isTrue (bytes = other) (sprintf "%s is bit-identical" name)

    for f in mustHave do
        Expect.isTrue (fa |> Array.exists (fst >> (=) f)) (sprintf "%s is there" f)

/// The results stored in a run folder's result.json files (relative path → JSON), without their finishing
/// times and durations.
let private results (dir: string) =
    let rec strip (n: Text.Json.Nodes.JsonNode) =
        match n with
        | :? Text.Json.Nodes.JsonObject as o ->
            for k in [ "finished_utc"; "Seconds" ] do
                o.Remove k |> ignore

            for kv in Seq.toArray o do
                if not (isNull kv.Value) then strip kv.Value
        | :? Text.Json.Nodes.JsonArray as a ->
            for v in a do
                if not (isNull v) then strip v
        | _ -> ()

    Directory.GetFiles(dir, "result.json", SearchOption.AllDirectories)
    |> Array.map (fun f ->
        let node = Text.Json.Nodes.JsonNode.Parse(File.ReadAllText f)
        strip node
        Path.GetRelativePath(dir, f), node.ToJsonString())
    |> Array.sort

/// Kill the command once per fault (when the fault is reached), then restart it without faults until it exits
/// 0. Returns how many launches were killed.
let private killAndRestart (launch: (string * string) list -> int * string * string) (faults: string list) =
    let mutable killed = 0

    for f in faults do
        let rc, out, err = launch [ "AUTODESIGN_FAULT", f ]

        if rc = 137 then killed <- killed + 1
        elif rc <> 0 then failtestf "the run with AUTODESIGN_FAULT=%s failed (%d):\n%s\n%s" f rc out err

    let mutable rc, attempts = -1, 0

    while rc <> 0 do
        attempts <- attempts + 1
        if attempts > 3 then failtest "the run did not finish after 3 restarts"
        let r, out, err = launch []
        rc <- r
        if rc <> 0 then failtestf "the restarted run failed (%d):\n%s\n%s" rc out err

    killed

/// Kill `args` (a function of the runs root) once per fault, the first launch from `root`, the others from
/// another working directory with the root's absolute path, then restart it until it finishes; the runs
/// land under `root/killed`. Expects every fault to have killed a run.
let private killFromTwoDirectories (root: string) (args: string -> string list) (faults: string list) =
    let other = tempDir ()
    let launch = ref 0

    let killed =
        killAndRestart
            (fun env ->
                launch.Value <- launch.Value + 1

                if launch.Value = 1 then
                    CliProcess.runQuiet root env (args "killed")
                else
                    CliProcess.runQuiet other env (args (Path.Combine(root, "killed"))))
            faults

    Expect.equal killed faults.Length "each fault killed a run"
    other

/// Expect a refused command (exit 1) whose error output contains `fragment`.
let private refused (rc: int, _: string, err: string) (fragment: string) (what: string) =
    Expect.equal rc 1 (what + ": exit 1")
    Expect.stringContains err fragment (what + ": the error names it")

let private deleteAll (dirs: string list) =
    for d in dirs do
        Directory.Delete(d, true)

[<Tests>]
let tests =
    testSequencedGroup "gan-cli-runs"
    <| testList
        "gan.runs"
        [ test "dggan search killed at a step, in a checkpoint write and between candidates resumes to the same results" {
              let root = tempDir ()
              let args out = [ "dggan"; "search"; "--tiny"; "--device"; "cpu"; "--runs-root"; out; "--launcher"; "serial" ]
              let rc, out, err = CliProcess.runQuiet root [] (args "clean")
              Expect.equal rc 0 (sprintf "uninterrupted run:\n%s\n%s" out err)
              let clean = Path.Combine(root, "clean", "dggan", "search-mnist-tiny-seed1")
              // killed runs, the last two launched from another working directory with the folder's absolute path
              let other = killFromTwoDirectories root args [ "step:9"; "checkpoint-write:4"; "run-finish:3" ]
              let resumed = Path.Combine(root, "killed", "dggan", "search-mnist-tiny-seed1")

              expectSameFolders
                  clean
                  resumed
                  [ "search.json"
                    "final.csv"
                    "table-per-resolution.csv"
                    "final/dggan/weights.safetensors"
                    "candidates/s00_000/weights.safetensors"
                    "feature-net/weights.safetensors" ]

              Expect.isEmpty (Directory.GetDirectories(resumed, "checkpoints", SearchOption.AllDirectories)) "no checkpoints left once finished"
              // a second process on the folder: one error line naming the holder
              let lockDir = Path.Combine(root, "locked", "dggan", "search-mnist-tiny-seed1")
              use held = RunLock.Acquire(lockDir, false)
              let rc2, _, err2 = CliProcess.runQuiet root [] (args "locked")
              Expect.equal rc2 1 "exit 1"
              let lines = err2.Trim().Split('\n')
              Expect.equal lines.Length 1 (sprintf "one line: %s" err2)
              Expect.stringContains lines.[0] (sprintf "error: run folder %s is being written by process %d" lockDir Environment.ProcessId) "names the holder"
              // another configuration on a finished folder is refused, naming the difference
              refused (CliProcess.runQuiet root [] (args "clean" @ [ "--iterations"; "4" ])) "Train.Iterations: 3 vs 4" "another configuration"
              deleteAll [ root; other ]
          }
          test "dggan candidate trains one candidate from the folders alone" {
              let root = tempDir ()

              let rc, out, err =
                  CliProcess.runQuiet root [] [ "dggan"; "search"; "--tiny"; "--device"; "cpu"; "--runs-root"; "r"; "--launcher"; "serial" ]

              Expect.equal rc 0 (sprintf "search:\n%s\n%s" out err)
              let dir = Path.Combine(root, "r", "dggan", "search-mnist-tiny-seed1")
              let candidate = Path.Combine(dir, "candidates", "s01_000")
              let before = File.ReadAllBytes(Path.Combine(candidate, "weights.safetensors"))

              for f in [ "result.json"; "weights.safetensors"; "metrics.csv" ] do
                  File.Delete(Path.Combine(candidate, f))

              let other = tempDir ()

              let rc2, out2, err2 =
                  CliProcess.runQuiet other [] [ "dggan"; "candidate"; "--search-dir"; dir; "--id"; "s01_000"; "--device"; "cpu" ]

              Expect.equal rc2 0 (sprintf "candidate:\n%s\n%s" out2 err2)
              Expect.isTrue (File.ReadAllBytes(Path.Combine(candidate, "weights.safetensors")) = before) "the same weights as when the coordinator trained it"

              refused
                  (CliProcess.runQuiet other [] [ "dggan"; "candidate"; "--search-dir"; dir; "--id"; "nope"; "--device"; "cpu" ])
                  "error:"
                  "unknown candidate"

              deleteAll [ root; other ]
          }
          test "detgan tables twice in fresh run roots gives identical files, and no tiny arm diverges" {
              let root = tempDir ()
              let args out = [ "detgan"; "tables"; "--tiny"; "--device"; "cpu"; "--runs-root"; out; "--launcher"; "serial" ]

              for out in [ "a"; "b" ] do
                  let rc, o, e = CliProcess.runQuiet root [] (args out)
                  Expect.equal rc 0 (sprintf "run %s:\n%s\n%s" out o e)

              let folder = Path.Combine("detectorgan", "tables-tiny", "seed1")
              let arms = [ "acgan-like"; "cyclegan-bbox"; "detectorgan-no-unroll"; "detectorgan"; "detectorgan-w1-noclip" ]

              expectSameFolders
                  (Path.Combine(root, "a", folder))
                  (Path.Combine(root, "b", folder))
                  [ for a in arms do
                        for j in 0..1 -> sprintf "final/%s/detector%d/detector.safetensors" a j ]

              for line in File.ReadAllLines(Path.Combine(root, "a", folder, "ablation.csv")) |> Array.tail do
                  Expect.isTrue (line.EndsWith ",0.000") (sprintf "not diverged: %s" line)

              Directory.Delete(root, true)
          }
          test "detgan tables killed at a step, in a checkpoint write and between phases resumes to the same results" {
              let root = tempDir ()
              let args out = [ "detgan"; "tables"; "--tiny"; "--device"; "cpu"; "--runs-root"; out ]
              let rc, out, err = CliProcess.runQuiet root [] (args "clean")
              Expect.equal rc 0 (sprintf "uninterrupted run:\n%s\n%s" out err)
              let other = killFromTwoDirectories root args [ "step:7"; "checkpoint-write:9"; "run-finish:4" ]
              let folder = Path.Combine("detectorgan", "tables-tiny", "seed1")

              expectSameFolders
                  (Path.Combine(root, "clean", folder))
                  (Path.Combine(root, "killed", folder))
                  [ "table-4.1.csv"
                    "table-4.2.csv"
                    "ablation.csv"
                    "joint/detectorgan/gan.safetensors"
                    "final/detectorgan/detector0/detector.safetensors"
                    "final/detectorgan/detector1/detector.safetensors"
                    "pretrain-gan/gan.safetensors" ]

              refused (CliProcess.runQuiet root [] (args "clean" @ [ "--no-ablation" ])) "Ablation: true vs false" "another configuration"
              deleteAll [ root; other ]
          }
          // A garbage collection every 128 KiB allocated: what a collection frees (and when) must not change a
          // result. The oneDNN convolutions read memory they had not written, so training went NaN here at random.
          testList
              "under GC stress"
              [ for name, args, folder in
                    [ "dggan search",
                      [ "dggan"; "search"; "--tiny"; "--device"; "cpu"; "--launcher"; "serial" ],
                      Path.Combine("dggan", "search-mnist-tiny-seed1")
                      "detgan tables", [ "detgan"; "tables"; "--tiny"; "--device"; "cpu" ], Path.Combine("detectorgan", "tables-tiny", "seed1") ] ->
                    test (sprintf "%s gives the files and results of an unstressed run" name) {
                        let root = tempDir ()

                        let run (env: (string * string) list) (out: string) =
                            let rc, o, e = CliProcess.runQuiet root env (args @ [ "--runs-root"; out ])
                            Expect.equal rc 0 (sprintf "%s (%A):\n%s\n%s" name env o e)
                            Path.Combine(root, out, folder)

                        let plain = run [] "plain"
                        let stressed = run [ "DOTNET_GCgen0size", "0x20000" ] "stressed"
                        expectSameFolders plain stressed []
                        Expect.sequenceEqual (results stressed) (results plain) "the same results"
                        Directory.Delete(root, true)
                    } ] ]
