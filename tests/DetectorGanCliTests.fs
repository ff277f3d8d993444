module AutoDesign.Tests.DetectorGanCliTests

open System.IO
open Expecto

[<Tests>]
let tests =
    testList "detectorgan.cli" [
        test "bad options give one clear error line and exit 1" {
            use err = new StringWriter()
            let rc = AutoDesign.Cli.Program.runWith err [| "detgan"; "tables"; "--quick"; "--threads"; "0" |]
            Expect.equal rc 1 "exit code"
            Expect.stringContains (err.ToString()) "--threads must be at least 1" "message"
        }
        test "data writes the samples PNG" {
            let dir = Path.Combine(Path.GetTempPath(), "detgan-cli-" + string (System.Guid.NewGuid()))
            try
                let rc = AutoDesign.Cli.Program.runWith (new StringWriter()) [| "detgan"; "data"; "--quick"; "--out"; dir |]
                Expect.equal rc 0 "exit code"
                let png = File.ReadAllBytes(Path.Combine(dir, "samples.png"))
                Expect.sequenceEqual png.[1..3] "PNG"B "PNG signature"
            finally
                if Directory.Exists dir then Directory.Delete(dir, true)
        }
    ]
