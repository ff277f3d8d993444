module AutoDesign.Tests.DgganAnalysisTests

open System
open System.IO
open System.IO.Compression
open Expecto
open TorchSharp
open AutoDesign.Nn
open AutoDesign.Runs
open AutoDesign.Plots
open AutoDesign.DGGAN
open AutoDesign.Reproduce
open AutoDesign.Reproduce.DGGAN
open AutoDesign.Metrics

let private tempDir () = TempDir.fresh "dggan-analysis"

let private rec' id kind parent step action res fid =
    { Id = id
      Kind = kind
      Parent = parent
      Folder = "candidates/" + id
      Step = step
      Action = action
      Actions = [||]
      Resolution = res
      GParams = 100L
      DParams = 50L
      Iterations = 10
      Fid = fid
      FreshFid = fid + 1.0
      Diverged = false
      Inherited = 0
      Weights = "" }

/// Hand-built table. Baseline FID: 8 at 8x8 (b01, the later step), 20 at 16x16. Normalised FIDs:
/// s0 2.0; s1a 0.5 (G,3,8); s1b 1.5 (D,7,8); s2a 0.4 (Up from s1a); s2b 1.8 (Up from s1b).
let private baseline =
    [ rec' "b00" "baseline" "" 0 "init" 8 10.0
      rec' "b01" "baseline" "b00" 1 "G,3,8" 8 8.0
      rec' "b02" "baseline" "b01" 2 "Up" 16 20.0 ]

let private search =
    [ rec' "s0" "search" "" 0 "init" 8 16.0
      rec' "s1a" "search" "s0" 1 "G,3,8" 8 4.0
      rec' "s1b" "search" "s0" 1 "D,7,8" 8 12.0
      rec' "s2a" "search" "s1a" 2 "Up" 16 8.0
      rec' "s2b" "search" "s1b" 2 "Up" 16 36.0 ]

[<Tests>]
let tests =
    testList
        "dggan.analysis"
        [ test "image sets load from a PNG directory, a PNG file and IDX, and equal the saved images" {
              let dir = tempDir ()

              try
                  let rng = Random(3)
                  let raw = Array.init (5 * 8 * 8) (fun _ -> float32 (rng.Next 256) / 127.5f - 1.0f)
                  use x = torch.tensor(raw).reshape(5L, 1L, 8L, 8L)
                  ImageGrid.saveEach (Path.Combine(dir, "pngs")) x
                  ImageSet.save (Path.Combine(dir, "set.idx")) x
                  use a = ImageSet.load (Path.Combine(dir, "pngs")) torch.CPU
                  use b = ImageSet.load (Path.Combine(dir, "set.idx")) torch.CPU
                  use one = ImageSet.load (Path.Combine(dir, "pngs", "00003.png")) torch.CPU
                  Expect.equal a.shape [| 5L; 1L; 8L; 8L |] "shape"
                  Expect.isLessThan ((a - x).abs().max().Item()) 1e-5 "PNG values"
                  Expect.isLessThan ((a - b).abs().max().Item()) 1e-6 "PNG = IDX"
                  Expect.isLessThan ((one - x.narrow (0L, 3L, 1L)).abs().max().Item()) 1e-5 "single file"
                  Directory.CreateDirectory(Path.Combine(dir, "empty")) |> ignore
                  Expect.throwsT<UserError> (fun () -> ImageSet.load (Path.Combine(dir, "empty")) torch.CPU |> ignore) "empty dir"
                  File.WriteAllBytes(Path.Combine(dir, "pngs", "00009.png"), Images.encodePng 4 4 1 (Array.zeroCreate 16))
                  Expect.throwsT<UserError> (fun () -> ImageSet.load (Path.Combine(dir, "pngs")) torch.CPU |> ignore) "mixed sizes"
              finally
                  Directory.Delete(dir, true)
          }
          test "SWD refuses image sides its Laplacian pyramid cannot halve" {
              // 102 -> 51 -> 25: three levels, and 51 does not halve evenly.
              use a = torch.zeros (2L, 1L, 102L, 102L)
              Expect.throwsT<UserError> (fun () -> Swd.compute 1 a a |> ignore) "102x102 refused"
              use b = torch.zeros (2L, 1L, 102L, 100L)
              Expect.throwsT<UserError> (fun () -> Swd.compute 1 b b |> ignore) "non-square refused"
          }
          test "Table 5.1 and Fig 5.5/5.6 analyses on a hand-built candidate table" {
              // like with like: the last model at each resolution on the best route (s0 -> s1a -> s2a) vs ProgGAN's
              // last there, by fresh FID (selection FID + 1 here), with the iterations of each route
              let expected =
                  [ { Resolution = 8
                      ProgGanId = "b01"
                      ProgGanFid = 9.0
                      ProgGanIterations = 20
                      DgganId = "s1a"
                      DgganFid = 5.0
                      DgganIterations = 20
                      ProgGanMinSelectionFid = 8.0
                      DgganMinSelectionFid = 4.0 }
                    { Resolution = 16
                      ProgGanId = "b02"
                      ProgGanFid = 21.0
                      ProgGanIterations = 30
                      DgganId = "s2a"
                      DgganFid = 9.0
                      DgganIterations = 30
                      ProgGanMinSelectionFid = 20.0
                      DgganMinSelectionFid = 8.0 } ]

              Expect.equal (Analysis.perResolution search baseline |> List.ofSeq) expected "per resolution"
              Expect.equal (Analysis.best search baseline).Id "s2a" "best"
              Expect.equal (Search.route search (Analysis.best search baseline) |> List.ofSeq |> List.map (fun c -> c.Id)) [ "s0"; "s1a"; "s2a" ] "route"

              let eff =
                  Analysis.actionEffects search baseline
                  |> List.ofSeq
                  |> List.map (fun e -> e.ActionName, (e.Children, e.ShareImproving, e.MeanImprovement, e.SdImprovement))
                  |> Map.ofList

              let close (n, s, m, sd) (n', s', m', sd') = n = n' && abs (s - s') < 1e-12 && abs (m - m') < 1e-12 && abs (sd - sd') < 1e-12
              Expect.isTrue (close eff.["G,3,8"] (1, 1.0, 0.75, 0.0)) "G: 1 - 0.5/2"
              Expect.isTrue (close eff.["D,7,8"] (1, 1.0, 0.25, 0.0)) "D: 1 - 1.5/2"
              Expect.isTrue (close eff.["Up"] (2, 0.5, 0.0, sqrt 0.08)) "Up: +0.2 and -0.2 (sample sd)"
              let t1 = Analysis.parentQuality search baseline |> List.ofSeq |> List.find (fun r -> r.Threshold = 1.0)
              let g, ng, so, ns = t1.GoodParentShare, t1.GoodParentChildren, t1.SuboptimalParentShare, t1.SuboptimalParentChildren
              Expect.equal (ng, ns) (1, 3) "one good parent pair, three sub-optimal"
              Expect.floatClose Accuracy.veryHigh g 1.0 "good parent -> good child"
              Expect.floatClose Accuracy.veryHigh so (1.0 / 3.0) "sub-optimal parents: 1 of 3"
          }
          test "K/p simulation replays only recorded candidates" {
              let rng = Random(1)
              let best1, n1 = Simulation.replay 0.4 search baseline 1 0.4 rng
              Expect.floatClose Accuracy.veryHigh best1 0.4 "K=1 follows s1a to s2a"
              Expect.equal n1 4 "root + 2 + 1"
              let best2, n2 = Simulation.replay 0.4 search baseline 2 0.4 rng
              Expect.floatClose Accuracy.veryHigh best2 0.4 "K=2 finds s2a too"
              Expect.equal n2 5 "root + 2 + 2"

              for (k, p, m, reached, trained) in Simulation.grid 2 0.4 search baseline 50 1 do
                  Expect.isTrue (reached = 50 && m >= 0.4 - 1e-12 && m <= 1.8 + 1e-12) (sprintf "K=%d p=%g mean %g" k p m)
                  Expect.isTrue (trained >= 3.0 && trained <= 5.0) "cost between the thinnest and the full replay"
          }
          test "analysis plots and simulation CSV are written and readable" {
              let dir = tempDir ()

              try
                  let s =
                      { Config = AutoDesign.Nn.DGGAN.GanConfig(8, 4, 1, 8)
                        Kernels = [ 3 ]
                        Filters = [ 8 ]
                        FinalResolution = 16
                        Depth = 2
                        TopK = 2
                        P = 0.4
                        Seed = 1 }

                  AnalysisPlots.writeAll dir s search baseline

                  for f in
                      [ "fig5-4-g2d-ratio.png"
                        "fig5-5-action-share.png"
                        "fig5-5-action-improvement.png"
                        "fig5-6-parent-quality.png"
                        "fig5-6-simulation.png" ] do
                      let d = Images.load (Path.Combine(dir, f))
                      Expect.isGreaterThan d.Width 100 f

                  let lines = File.ReadAllLines(Path.Combine(dir, "simulation.csv"))
                  Expect.equal lines.Length (1 + 2 * 4) "header + K x 4 p values"
              finally
                  Directory.Delete(dir, true)
          }
          test "reproduce registers dggan/search" {
              let keys = AutoDesign.Cli.Experiments.all |> List.map (fun e -> e.System + "/" + e.Name)
              Expect.contains keys "dggan/search" "registered"

              Expect.equal
                  (AutoDesign.Reproduce.Runner.select AutoDesign.Cli.Experiments.all (Some "dggan") |> List.map (fun e -> e.Name))
                  [ "search" ]
                  "--only dggan"
          }
          test "report rows compare like with like over seeds and decide the verdict from the paired interval" {
              let s = DgganExperiment.quick "mnist" 1

              let score fid =
                  { Id = "x"
                    Actions = "G,3,8 Up"
                    GParams = 100L
                    DParams = 50L
                    Iterations = 1200
                    Fid = fid
                    Swd = 1.0
                    IsMean = 2.0
                    IsSd = 0.1 }

              let summary (prog: float) (dg: float) =
                  { PerResolution = Analysis.perResolution search baseline |> List.ofSeq
                    RouteLast = score (dg + 1.0)
                    ProgGanLast = score (prog + 1.0)
                    FinalDggan = score dg
                    FinalProgGan = score prog
                    Variants = [ { Variant = "final stage, EMA of G"; Dggan = score (dg - 1.0); ProgGan = score prog } ]
                    RealFloorFid = 0.5
                    RealIsMean = 7.0
                    RealIsSd = 0.2
                    FeatureChecks =
                      [ { Set = "real"; Fid = 0.5 }
                        { Set = "light"; Fid = 2.0 }
                        { Set = "heavy"; Fid = 30.0 }
                        { Set = "shuffled"; Fid = 90.0 } ]
                    FaintNoise = { Set = "faint"; Fid = 0.4 }
                    FeatureAccuracy = 0.96
                    SearchCandidates = 5
                    BaselineCandidates = 3
                    FinalResolution = 16
                    Seconds = 1.0 }

              let runs (pairs: (float * float) list) =
                  pairs
                  |> List.mapi (fun i (p, d) -> { Seed = i + 1; Dir = sprintf "d%d" i; Summary = summary p d; Search = search; Baseline = baseline })

              let rows = DgganExperiments.rows true s (runs [ 20.0, 10.0; 22.0, 11.0; 21.0, 12.0 ])
              Expect.equal (rows |> List.map (fun r -> r.Experiment)) [ "table-5.1"; "final-metrics"; "verdict"; "noise"; "feature-net"; "analyses" ] "rows"
              Expect.stringContains rows.[0].Measured "16x16 ProgGAN 21.0 ± 0.0 vs DGGAN 9.0 ± 0.0" "per resolution, like with like"
              Expect.stringContains rows.[2].Measured "REPRODUCED" "consistent improvement"
              Expect.stringContains rows.[2].Measured "+10.00 [95% CI" "paired difference with its interval"
              Expect.stringContains rows.[4].Measured "in 3 of 3 seeds: its FID units rank" "feature-net ordering"
              Expect.stringContains rows.[4].Measured "above it in 0 of 3 seeds" "faint noise against the floor"
              // ProgGAN 21 ± 1, DGGAN 11 ± 1; differences 10 / 11 / 9 (sd 1): 34% of 21 = 7.14, half-width 3.57 needs 3 seeds
              Expect.stringContains
                  rows.[3].Measured
                  (sprintf "after the final stage (+%d iterations): ProgGAN 1.0, DGGAN 1.0; paired difference sd 1.0" s.FinalIterations)
                  "per-arm sd"

              Expect.stringContains rows.[3].Measured "needs 3 seeds" "seeds for a decision at 34%"
              Expect.stringContains rows.[3].Measured "This run has enough seeds for a decision" "decidable here"
              Expect.stringContains rows.[3].Measured "final stage, EMA of G: ProgGAN 1.0, DGGAN 1.0" "variant sd"
              Expect.stringContains rows.[5].Measured "pooled over 3 seeds. Fig 5.4: " "analyses pooled over seeds"
              Expect.stringContains rows.[5].Measured "Fig 5.6 (threshold nFID 1): good children of good parents " "parent quality with counts"
              let noisy = DgganExperiments.rows true s (runs [ 20.0, 10.0; 10.0, 20.0; 15.0, 15.5 ])
              Expect.stringContains noisy.[3].Measured "--launcher slurm" "names the configuration that would decide"
              Expect.stringContains rows.[0].Data "stand-in for CIFAR-10" "stand-in"
              Expect.stringContains rows.[0].Config "best route 1200" "budgets from the records"
              let mixed = DgganExperiments.rows true s (runs [ 20.0, 10.0; 10.0, 20.0; 15.0, 15.5 ])
              Expect.stringContains mixed.[2].Measured "INCONCLUSIVE" "mixed seeds"
              // differences 10 / -10 / -0.5 (sd 10.0): half-width 24.9 > 0.34 * 15 / 2 = 2.55
              Expect.stringContains mixed.[2].Measured "It cannot decide: the interval contains 0 and its half-width 24.9 exceeds 2.6" "why it cannot decide"

              let need =
                  (AutoDesign.Reproduce.Paired.seedsFor (AutoDesign.Reproduce.Paired.difference [ 20.0; 10.0; 15.0 ] [ 10.0; 20.0; 15.5 ]).Sd 2.55 10000).Value

              Expect.isGreaterThan need 3 "more seeds than the run has"
              Expect.stringContains mixed.[2].Measured (sprintf "a decision takes %d seeds" need) "seeds a decision takes"

              Expect.stringContains
                  mixed.[2].Measured
                  (sprintf "`autodesign dggan search --seeds %d --launcher slurm` with the full config" need)
                  "the configuration that would decide, with its seeds"

              Expect.isFalse (rows.[2].Measured.Contains "cannot decide") "a decided verdict says nothing more"
              let worse = DgganExperiments.rows true s (runs [ 10.0, 20.0; 11.0, 22.0; 12.0, 21.0 ])
              Expect.stringContains worse.[2].Measured "NOT REPRODUCED" "consistently worse"
          }
          test "quick config: 8x8, depth equals the ProgGAN schedule, overrides validated" {
              let q = DgganExperiment.quick "mnist" 1
              Expect.equal q.Search.Depth ((Architecture.progGanSchedule q.Search.Config q.Search.FinalResolution).Count) "depth = schedule"
              let o = DgganExperiment.withOverrides (Some 10) (Some 7) (Some 32) (Some 3) (Some 0.5) q
              Expect.equal (o.Search.Depth, o.Search.TopK, o.Train.Iterations, o.FinalIterations) (8, 3, 10, 7) "overrides"
              Expect.throwsT<UserError> (fun () -> DgganExperiment.withOverrides None None (Some 12) None None q |> ignore) "bad resolution"
              Expect.throwsT<UserError> (fun () -> DgganExperiment.withOverrides None None None None (Some 0.0) q |> ignore) "bad p"
          } ]
