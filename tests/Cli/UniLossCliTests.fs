module AutoDesign.Tests.UniLossCliTests

open System
open System.IO
open Expecto
open AutoDesign.Runs

let private withFiles (files: (string * string) list) (f: string -> unit) =
    let dir = TempDir.fresh "uniloss-cli"

    try
        for name, text in files do
            File.WriteAllText(Path.Combine(dir, name), text)

        f dir
    finally
        Directory.Delete(dir, true)

let private capture (f: unit -> int) =
    let old = Console.Out
    use sw = new StringWriter()
    Console.SetOut sw

    try
        let rc = f ()
        rc, sw.ToString()
    finally
        Console.SetOut old

// sequenced: capture swaps the process-wide Console.Out, which a test running beside it (a
// training loop's progress line) could otherwise write into after the swap is undone
[<Tests>]
let tests =
    testSequenced
    <| testList
        "uniloss.cli"
        [ testCase "eval-metric prints the exact and the refactored value"
          <| fun () ->
              withFiles [ "s.csv", "c0,c1,c2\n1,0,0\n0,2,1\n0.5,0.5,0.1\n"; "y.csv", "0\n1\n2\n" ] (fun d ->
                  let rc, out =
                      capture (fun () ->
                          AutoDesign.Cli.Program.run
                              [| "uniloss"
                                 "eval-metric"
                                 "--metric"
                                 "accuracy"
                                 "--scores"
                                 Path.Combine(d, "s.csv")
                                 "--labels"
                                 Path.Combine(d, "y.csv") |])

                  Expect.equal rc 0 "exit code"
                  Expect.stringContains out "exact: 0.666667" "exact accuracy 2/3"
                  Expect.stringContains out "refactored g(h(f(s))): 0.666667" "refactored value"
                  Expect.stringContains out "comparisons (bits): 6" "3 examples × 2 comparisons")

          testCase "eval-metric with a bad CSV gives one clear error"
          <| fun () ->
              withFiles [ "s.csv", "1,0\n0,zz\n"; "y.csv", "0\n1\n"; "r.csv", "1,0\n0\n" ] (fun d ->
                  let run s =
                      use err = new StringWriter()

                      let rc =
                          AutoDesign.Cli.Program.runWith
                              err
                              [| "uniloss"
                                 "eval-metric"
                                 "--metric"
                                 "accuracy"
                                 "--scores"
                                 Path.Combine(d, s)
                                 "--labels"
                                 Path.Combine(d, "y.csv") |]

                      rc, err.ToString()

                  let rc, msg = run "s.csv"
                  Expect.equal rc 1 "exit code 1"
                  Expect.stringContains msg "error: scores file" "one error line"
                  Expect.stringContains msg "line 2 column 2: 'zz' is not a valid number" "names file position"
                  let rc, msg = run "r.csv"
                  Expect.equal rc 1 "exit code 1"
                  Expect.stringContains msg "line 2 has 1 values" "ragged rows") ]
