/// The durations a launcher keeps to start the longest work first: the critical-path priorities, the store.
module AutoDesign.Tests.DurationsTests

open System
open System.IO
open Expecto
open AutoDesign.Runs

let private job (id: string) (seconds: float) (deps: string list) =
    { Job.create id [ "--help" ] (Path.Combine(Path.GetTempPath(), "d", id)) with Expected = seconds; DependsOn = deps }

[<Tests>]
let tests =
    testList
        "launcher.order"
        [ test "a job's priority is its seconds plus the longest chain waiting for it" {
              let jobs =
                  [ job "short-head" 10.0 []; job "tail" 50.0 [ "short-head" ]; job "alone" 40.0 []; job "end" 5.0 [ "tail"; "alone" ] ]

              let p = Durations.priorities jobs
              Expect.equal p.["end"] 5.0 "last job"
              Expect.equal p.["tail"] 55.0 "tail then end"
              Expect.equal p.["short-head"] 65.0 "a short job heading a long chain goes first"
              Expect.equal p.["alone"] 45.0 "alone then end"
          }
          test "unknown durations count as the mean of the known ones (60 s when none is known)" {
              let p = Durations.priorities [ job "a" 10.0 []; job "b" 30.0 []; job "c" 0.0 [] ]
              Expect.equal p.["c"] 20.0 "mean of known"
              let q = Durations.priorities [ job "x" 0.0 []; job "y" 0.0 [ "x" ] ]
              Expect.equal q.["x"] 120.0 "60 s each"
          }
          test "stored durations round-trip by job folder, junk lines are skipped, known estimates are kept" {
              let root = Path.Combine(Path.GetTempPath(), "autodesign-tests", Guid.NewGuid().ToString("N"))
              let a = { Job.create "a" [] (Path.Combine(root, "reproduce", "x", "a")) with Expected = 0.0 }
              let b = { Job.create "b" [] (Path.Combine(root, "reproduce", "x", "b")) with Expected = 7.0 }
              Expect.equal (Durations.keyOf root a) "reproduce/x/a" "key relative to the root"

              Durations.record
                  root
                  [ { Job = a; Outcome = Succeeded; Attempts = 1; Log = ""; Seconds = 12.5 }
                    { Job = b; Outcome = Failed "no"; Attempts = 1; Log = ""; Seconds = 99.0 } ]

              File.AppendAllText(Durations.pathOf root, "garbage line\nreproduce/x/c,NaN\nreproduce/x/d,-1\n")
              let stored = Durations.load root
              Expect.equal (stored |> Seq.map (fun kv -> kv.Key, kv.Value) |> List.ofSeq) [ "reproduce/x/a", 12.5 ] "only the success, junk skipped"

              match Durations.fill root stored [ a; b ] |> List.ofSeq with
              | [ a'; b' ] ->
                  Expect.equal a'.Expected 12.5 "filled from the store"
                  Expect.equal b'.Expected 7.0 "a known estimate is kept"
              | other -> failtestf "expected two jobs, got %A" other
          }
          test "a dependency cycle is an error, not a hang" {
              Expect.throwsT<UserError> (fun () -> Durations.priorities [ job "a" 1.0 [ "b" ]; job "b" 1.0 [ "a" ] ] |> ignore) "cycle"
          } ]
