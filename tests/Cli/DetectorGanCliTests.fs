module AutoDesign.Tests.DetectorGanCliTests

open System.IO
open Expecto
open AutoDesign.Reproduce.DetectorGAN

[<Tests>]
let tests =
    testList
        "detectorgan.cli"
        [ test "bad options give one clear error line and exit 1" {
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
          } ]

[<Tests>]
let endToEnd =
    testSequenced
    <| testList
        "detectorgan.experiment"
        [ test "tiny end-to-end run: rows, CSV tables, PNGs, phase folders; a finished run returns its rows" {
              let root = Path.Combine(Path.GetTempPath(), "detgan-e2e-" + string (System.Guid.NewGuid()))

              try
                  let settings = { Config = AutoDesign.Reproduce.DetectorGAN.DetGanExperiment.tiny; Seed = 1; Acgan = true; Ablation = false }

                  let run () =
                      AutoDesign.Reproduce.DetectorGAN.DetGanExperiment.run
                          { AutoDesign.Runs.RunOptions.Default with Root = root }
                          "seed1"
                          settings
                          TorchSharp.torch.CPU
                          ignore

                  let rows, dir = run ()

                  Expect.equal
                      (rows |> List.map (fun r -> r.Key))
                      [ "real"; "acgan-like"; "cyclegan-bbox"; "detectorgan-no-unroll"; "detectorgan" ]
                      "rows in Table 4.1 order"

                  for r in rows do
                      Expect.isTrue (r.Ap01 >= 0.0 && r.Ap01 <= 1.0 && r.Recall01 >= 0.0 && r.Recall01 <= 1.0) "AP, recall in [0,1]"
                      Expect.equal r.LocIou.Length 8 "Table 4.2 row"
                      Expect.equal r.LocIobb.Length 5 "Table 4.3 row"
                      Expect.equal r.Ap01Each.Length 2 "one AP@0.1 per final detector (the tiny config trains two)"
                      Expect.floatClose Accuracy.veryHigh r.Ap01 (List.average r.Ap01Each) "the row's AP@0.1 is the final detectors' mean"

                  for f in
                      [ "table-4.1.csv"
                        "table-4.2.csv"
                        "table-4.3.csv"
                        "generator-drift.csv"
                        "samples.png"
                        "inserted-cyclegan-vs-detectorgan.png"
                        "detections-real.png"
                        "pretrain-detector/detector.safetensors"
                        "pretrain-gan/gan.safetensors"
                        "joint/detectorgan/gan.safetensors"
                        "final/real/result.json"
                        "final/real/detector1/detector.safetensors" ] do
                      Expect.isTrue (File.Exists(Path.Combine(dir, f))) f

                  Expect.equal (File.ReadAllLines(Path.Combine(dir, "table-4.1.csv")).Length) 6 "header + 5 rows"
                  let again, _ = run ()
                  Expect.equal (sprintf "%A" again) (sprintf "%A" rows) "the finished run's stored rows"
              finally
                  if Directory.Exists root then Directory.Delete(root, true)
          } ]
