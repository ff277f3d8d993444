/// Kill -9 and resume, on the real CLI: a command run uninterrupted, and the same command run as a child
/// process killed with SIGKILL at chosen points (AUTODESIGN_FAULT: inside an epoch, during a checkpoint
/// write, between runs) and started again until it finishes, end with byte-identical metrics and weights.
module AutoDesign.Tests.CrashTests

open System
open System.IO
open Expecto

/// Run the CLI with `args` (and extra environment); returns (exit code, output).
let runCli (env: (string * string) list) (args: string list) =
    let o = CliProcess.run None env args (TimeSpan.FromMinutes 15.0)
    o.Code, o.Out + o.Err

let private tempRoot () = TempDir.fresh "crash"

/// The files under `root` whose names are in `names` (relative paths, sorted).
let private filesNamed (root: string) (names: string list) =
    Directory.GetFiles(root, "*", SearchOption.AllDirectories)
    |> Array.filter (fun f -> List.contains (Path.GetFileName f) names)
    |> Array.map (fun f -> Path.GetRelativePath(root, f))
    |> Array.sort

/// Run `args` (with `--runs-root`-style root argument produced by `withRoot`) uninterrupted, then once per
/// fault killed and resumed; compare the files named `compare` byte for byte.
let killAndResume (withRoot: string -> string list) (faults: string list) (compare: string list) =
    let reference = tempRoot ()
    let rc, out = runCli [ "AUTODESIGN_CHECKPOINT_EVERY", "3" ] (withRoot reference)
    Expect.equal rc 0 (sprintf "uninterrupted run failed:\n%s" out)
    let expected = filesNamed reference compare
    Expect.isNonEmpty expected "the run wrote the files to compare"

    for fault in faults do
        let root = tempRoot ()
        let rc1, out1 = runCli [ "AUTODESIGN_FAULT", fault; "AUTODESIGN_CHECKPOINT_EVERY", "3" ] (withRoot root)
        Expect.equal rc1 137 (sprintf "%s: expected the process to die by SIGKILL (137), got %d:\n%s" fault rc1 out1)
        let mutable rc2, out2 = runCli [ "AUTODESIGN_CHECKPOINT_EVERY", "3" ] (withRoot root)
        Expect.equal rc2 0 (sprintf "%s: the resumed run failed:\n%s" fault out2)
        Expect.equal (filesNamed root compare) expected (fault + ": the same files")

        for f in expected do
            Expect.isTrue
                (File.ReadAllBytes(Path.Combine(root, f)) = File.ReadAllBytes(Path.Combine(reference, f)))
                (sprintf "%s: %s differs from the uninterrupted run's" fault f)

[<Tests>]
let tests =
    testSequenced
    <| testList
        "crash"
        [ test "uniloss ap: killed inside an epoch, during a checkpoint write and between arms, resumed, identical" {
              killAndResume CliCommands.unilossAp [ "step:10"; "checkpoint-write:2"; "run-finish:1" ] [ "metrics.csv"; "model.safetensors" ]
          } ]
