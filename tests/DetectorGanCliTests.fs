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

[<Tests>]
let endToEnd =
    testSequenced <| testList "detectorgan.experiment" [
        test "tiny end-to-end run: five rows, CSV tables, PNGs; rerun reuses finished rows" {
            let cfg =
                { AutoDesign.Reproduce.DetectorGAN.DetGanExperiment.quick with
                    Spec = { Size = 16; Labelled = 6; Clean = 8; Test = 6 }
                    GenChannels = 2L; GenBlocks = 1; DiscChannels = 2L; DetChannels = 2; DetFeatures = 4
                    Batch = 2; PretrainGan = 2; PretrainDet = 2; Joint = 2; FinalDet = 3; Synthetic = 4 }
            let dir = Path.Combine(Path.GetTempPath(), "detgan-e2e-" + string (System.Guid.NewGuid()))
            try
                let run seed = AutoDesign.Reproduce.DetectorGAN.DetGanExperiment.run cfg seed dir TorchSharp.torch.CPU ignore
                let rows = run 1
                Expect.equal (rows |> List.map (fun r -> r.Key)) [ "real"; "acgan-like"; "cyclegan-bbox"; "detectorgan-no-unroll"; "detectorgan" ] "rows in Table 4.1 order"
                for r in rows do
                    Expect.isTrue (r.Ap01 >= 0.0 && r.Ap01 <= 1.0 && r.Recall01 >= 0.0 && r.Recall01 <= 1.0) "AP, recall in [0,1]"
                    Expect.equal r.LocIou.Length 8 "Table 4.2 row"
                    Expect.equal r.LocIobb.Length 5 "Table 4.3 row"
                for f in [ "table-4.1.csv"; "table-4.2.csv"; "table-4.3.csv"; "generator-drift.csv"; "samples.png"; "inserted-cyclegan-vs-detectorgan.png"; "detections-real.png" ] do
                    Expect.isTrue (File.Exists(Path.Combine(dir, f))) f
                Expect.equal (File.ReadAllLines(Path.Combine(dir, "table-4.1.csv")).Length) 6 "header + 5 rows"
                let again = run 1
                Expect.equal (again |> List.map (fun r -> r.Seconds)) (rows |> List.map (fun r -> r.Seconds)) "finished rows reused"
            finally
                if Directory.Exists dir then Directory.Delete(dir, true)
        }
    ]
