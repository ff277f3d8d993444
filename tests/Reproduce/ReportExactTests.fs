/// The committed REPORT.md is reproducible: a quick subset of its experiments, run again from scratch in a
/// fresh run root with the README's settings (one torch thread per job), gives rows identical character
/// for character to the committed ones.
module AutoDesign.Tests.ReportExactTests

open System
open System.IO
open Expecto

let private repo = Path.GetFullPath(Path.Combine(__SOURCE_DIRECTORY__, "..", ".."))

/// The experiments re-run (about a minute on 2 cores) and the first cell of their rows.
let subset =
    [ "foundation/mnist-mlp", "mnist-mlp"
      "foundation/resume-determinism", "resume-determinism"
      "uniloss/ablation-anchors", "ablation-anchors"
      "uniloss/ap-mnist", "ap-mnist" ]

/// The table rows of one experiment in a report.
let rowsOf (report: string) (name: string) = report.Replace("\r", "").Split('\n') |> Array.filter (fun l -> l.StartsWith(sprintf "| %s |" name)) |> List.ofArray

[<Tests>]
let tests =
    testList
        "reproduce.exact"
        [ test "a quick subset of REPORT.md, run again from scratch, gives the committed rows exactly" {
              let committed = File.ReadAllText(Path.Combine(repo, "REPORT.md"))
              let root = Path.Combine(Path.GetTempPath(), "autodesign-tests", "exact-" + Guid.NewGuid().ToString("N"))
              Directory.CreateDirectory root |> ignore

              try
                  let report = Path.Combine(root, "REPORT.md")

                  for (id, _) in subset do
                      let rc, out =
                          CrashTests.runCli [] [ "reproduce"; "--quick"; "--only"; id; "--runs-root"; root; "--report"; report; "--launcher"; "serial" ]

                      Expect.equal rc 0 (sprintf "reproduce --only %s:\n%s" id out)

                  let fresh = File.ReadAllText report

                  for (_, name) in subset do
                      let expected = rowsOf committed name
                      Expect.isNonEmpty expected (sprintf "REPORT.md has rows for %s" name)
                      Expect.equal (rowsOf fresh name) expected (sprintf "%s: the rows of a fresh run equal the committed ones" name)
              finally
                  Directory.Delete(root, true)
          } ]
