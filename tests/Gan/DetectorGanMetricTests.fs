module AutoDesign.Tests.DetectorGanMetricTests

open Expecto
open AutoDesign.DetectorGAN
open AutoDesign.Reproduce.DetectorGAN
open AutoDesign.Metrics

let private b = Box.make
let private det box score = { Box = box; Score = score }

[<Tests>]
let tests =
    testList
        "detectorgan.metrics"
        [ test "IoU and IoBB: hand cases and edges (no overlap, touching, empty boxes) without NaN" {
              let a = b 0.0 0.0 10.0 10.0
              Expect.floatClose Accuracy.veryHigh (Box.iou a a) 1.0 "identical"
              // half overlap: inter 50, union 150
              Expect.floatClose Accuracy.veryHigh (Box.iou (b 5.0 0.0 15.0 10.0) a) (50.0 / 150.0) "shifted"
              Expect.floatClose Accuracy.veryHigh (Box.iobb (b 5.0 0.0 15.0 10.0) a) 0.5 "IoBB = inter / predicted area"
              // prediction inside the truth: IoBB 1, IoU 25/100
              Expect.floatClose Accuracy.veryHigh (Box.iobb (b 0.0 0.0 5.0 5.0) a) 1.0 "inside"
              Expect.floatClose Accuracy.veryHigh (Box.iou (b 0.0 0.0 5.0 5.0) a) 0.25 "inside IoU"
              Expect.equal (Box.iou (b 20.0 20.0 30.0 30.0) a) 0.0 "disjoint"
              Expect.equal (Box.iou (b 10.0 0.0 20.0 10.0) a) 0.0 "touching edges"
              let empty = b 3.0 3.0 3.0 3.0
              Expect.equal (Box.iou empty empty) 0.0 "two empty boxes: 0, not NaN"
              Expect.equal (Box.iobb empty a) 0.0 "empty prediction: IoBB 0, not NaN"
              Expect.equal (Box.iou (b 5.0 5.0 2.0 2.0) a) 0.0 "inverted box counts as empty"
          }
          test "AP: two images, one false positive ranked between two true positives" {
              let results =
                  [ { Truth = [ b 0.0 0.0 10.0 10.0 ]; Predictions = [ det (b 0.0 0.0 10.0 10.0) 0.9 ] }
                    { Truth = [ b 20.0 20.0 30.0 30.0 ]
                      Predictions = [ det (b 50.0 50.0 60.0 60.0) 0.8; det (b 20.0 20.0 30.0 30.0) 0.7 ] } ]
              // precision 1, 1/2, 2/3 at recall 1/2, 1/2, 1 → envelope 1, 2/3, 2/3 → AP = 0.5·1 + 0.5·2/3
              let r = DetMetrics.averagePrecision 0.5 results
              Expect.floatClose Accuracy.veryHigh r.Ap (0.5 + 0.5 * 2.0 / 3.0) "AP"
              Expect.equal r.Recall 1.0 "recall"
              Expect.equal (r.TruePositives, r.Detections, r.GroundTruth) (2, 3, 2) "counts"
          }
          test "AP: duplicate detections count once, the threshold decides, missed truth lowers recall" {
              let truth = [ b 0.0 0.0 10.0 10.0; b 20.0 0.0 30.0 10.0 ]
              let preds = [ det (b 0.0 0.0 10.0 5.0) 0.9; det (b 0.0 0.0 10.0 10.0) 0.8 ] // IoU 0.5 and 1.0 with the first box
              let r5 = DetMetrics.averagePrecision 0.5 [ { Truth = truth; Predictions = preds } ]
              // rank 1 TP (P=1, R=1/2), rank 2 duplicate → FP; AP = 0.5
              Expect.floatClose Accuracy.veryHigh r5.Ap 0.5 "AP at 0.5"
              Expect.equal r5.Recall 0.5 "recall at 0.5"
              let r6 = DetMetrics.averagePrecision 0.6 [ { Truth = truth; Predictions = preds } ]
              // rank 1 FP (IoU 0.5 < 0.6), rank 2 TP: precision 1/2 at recall 1/2 → AP 0.25
              Expect.floatClose Accuracy.veryHigh r6.Ap 0.25 "AP at 0.6"
          }
          test "AP edges: no predictions, no ground truth, predictions only on empty images" {
              let none = DetMetrics.averagePrecision 0.1 [ { Truth = [ b 0.0 0.0 4.0 4.0 ]; Predictions = [] } ]
              Expect.equal (none.Ap, none.Recall) (0.0, 0.0) "no predictions"
              let noGt = DetMetrics.averagePrecision 0.1 [ { Truth = []; Predictions = [ det (b 0.0 0.0 4.0 4.0) 0.5 ] } ]
              Expect.equal (noGt.Ap, noGt.Recall) (0.0, 0.0) "no ground truth"
              Expect.equal (DetMetrics.averagePrecision 0.1 []).Ap 0.0 "empty test set"

              let mixed =
                  DetMetrics.averagePrecision
                      0.1
                      [ { Truth = []; Predictions = [ det (b 0.0 0.0 4.0 4.0) 0.9 ] }
                        { Truth = [ b 0.0 0.0 4.0 4.0 ]; Predictions = [ det (b 0.0 0.0 4.0 4.0) 0.5 ] } ]
              // FP then TP: precision 1/2 at recall 1
              Expect.floatClose Accuracy.veryHigh mixed.Ap 0.5 "FP on an image without truth"
          }
          test "localization accuracy: top-scoring box only, images without truth skipped, no predictions wrong" {
              let g = b 0.0 0.0 10.0 10.0

              let results =
                  [ { Truth = [ g ]; Predictions = [ det g 0.9 ] }
                    { Truth = [ g ]; Predictions = [ det (b 5.0 0.0 15.0 10.0) 0.8; det g 0.1 ] } // IoU 1/3, IoBB 1/2
                    { Truth = [ g ]; Predictions = [] }
                    { Truth = []; Predictions = [ det g 0.9 ] } ]

              let acc (f: Box -> Box -> float) t = DetMetrics.localizationAccuracy (System.Func<_, _, _> f) t results
              Expect.floatClose Accuracy.veryHigh (acc Box.iou 0.3) (2.0 / 3.0) "IoU 0.3"
              Expect.floatClose Accuracy.veryHigh (acc Box.iou 0.4) (1.0 / 3.0) "IoU 0.4"
              Expect.floatClose Accuracy.veryHigh (acc Box.iobb 0.5) (2.0 / 3.0) "IoBB 0.5"
              Expect.floatClose Accuracy.veryHigh (acc Box.iobb 0.75) (1.0 / 3.0) "IoBB 0.75"
              Expect.equal (DetMetrics.localizationAccuracy (System.Func<_, _, _> Box.iou) 0.1 [ { Truth = []; Predictions = [] } ]) 0.0 "no truth anywhere: 0"
              let row = List.ofSeq (DetMetrics.localizationIou results)
              Expect.equal row.Length 8 "7 thresholds + average"
              Expect.floatClose Accuracy.veryHigh (List.last row) (List.average (List.take 7 row)) "average"
              // thresholds 0.1..0.3 → 2/3, 0.4..0.7 → 1/3
              Expect.floatClose Accuracy.veryHigh (List.last row) ((3.0 * 2.0 / 3.0 + 4.0 / 3.0) / 7.0) "average by hand"
              Expect.equal (DetMetrics.localizationIobb results).Count 5 "4 thresholds + average"
          }
          test "procedural scans: seeded, counts, boxes inside, insertion boxes keep the matched box's size" {
              let spec = { ScanData.easySpec with Labelled = 12; Clean = 30; Test = 10 }
              let a = ScanData.generate spec 3
              let c = ScanData.generate spec 3
              Expect.equal a.Labelled.[5].Pixels c.Labelled.[5].Pixels "same seed, same pixels"
              Expect.notEqual (ScanData.generate spec 4).Labelled.[0].Pixels a.Labelled.[0].Pixels "other seed differs"
              Expect.equal (a.Labelled.Length, a.Clean.Length, a.Test.Length) (12, 30, 10) "counts"

              for s in Array.append a.Labelled a.Test do
                  Expect.isTrue (s.Boxes.Count >= 1 && s.Boxes.Count <= 3) "1-3 objects"

                  for bx in s.Boxes do
                      Expect.isTrue (bx.X0 >= 0.0 && bx.Y0 >= 0.0 && bx.X1 <= 32.0 && bx.Y1 <= 32.0 && bx.Area > 4.0) "box inside"

              for s in a.Clean do
                  Expect.isEmpty s.Boxes "clean scans carry no objects"

              Expect.isTrue (a.Labelled |> Array.forall (fun s -> s.Pixels |> Array.forall (fun v -> v >= 0.0f && v <= 1.0f))) "pixels in [0,1]"
              let ins = ScanData.insertionBoxes a 5
              Expect.equal ins.Length 30 "one insertion per clean scan"

              for i in ins do
                  Expect.isTrue (Seq.contains i.Source a.Labelled.[i.Labelled].Boxes) "source box from the matched scan"
                  Expect.isTrue (i.Target.X0 >= 0.0 && i.Target.Y0 >= 0.0 && i.Target.X1 <= 32.0 && i.Target.Y1 <= 32.0) "target inside"
                  Expect.floatClose Accuracy.high i.Target.Width i.Source.Width "width kept"
                  Expect.isTrue (abs (i.Target.CenterX - i.Source.CenterX) <= 32.0 / 8.0 + i.Source.Width) "jitter bounded"

              Expect.throws (fun () -> ScanData.generate { spec with Size = 8 } 1 |> ignore) "too small"
          }
          test "objects are faint but present: mean inside boxes exceeds the same scan's background" {
              let a = ScanData.generate { ScanData.easySpec with Labelled = 20; Clean = 1; Test = 1 } 9

              let brighter =
                  a.Labelled
                  |> Array.filter (fun s ->
                      let bx = s.Boxes.[0]
                      let cx, cy = int bx.CenterX, int bx.CenterY
                      s.Pixels.[cy * 32 + cx] > (Array.average s.Pixels))

              Expect.isGreaterThan brighter.Length 14 "object centres brighter than the scan mean in most scans"
          }
          test "verdict rows decide: the interval excludes 0, or its half-width is at most half the thesis's effect" {
              let row key ap =
                  { Key = key
                    Label = key
                    Ap01 = ap
                    Recall01 = 0.5
                    Ap05 = ap / 10.0
                    Recall05 = 0.1
                    Ap01Each = [ ap ]
                    LocIou = [ 0.1 ]
                    LocIobb = [ 0.1 ]
                    DriftOutside = nan
                    DriftInside = nan
                    Diverged = false }
              // per seed: real, cyclegan-bbox, no-unroll, detectorgan
              let runs (f: int -> float * float * float * float) =
                  [ for k in 1..8 ->
                        let r, c, n, d = f k
                        k, [ row "real" r; row "cyclegan-bbox" c; row "detectorgan-no-unroll" n; row "detectorgan" d ] ]

              let jitter k = 0.002 * float (k % 3 - 1)
              let measured (rows: AutoDesign.Reproduce.ReportRow list) exp = (rows |> List.find (fun r -> r.Experiment = exp)).Measured
              // detectorgan +0.1 over real everywhere; equal to no-unroll within ±0.002; cyclegan wildly apart
              let rows =
                  AutoDesign.Reproduce.DetectorGanExperiments.reportRows
                      DetGanExperiment.quick
                      true
                      (runs (fun k -> 0.15 + jitter k, (if k % 2 = 0 then 0.0 else 0.5), 0.25 + jitter (k + 1), 0.25))

              Expect.stringStarts (measured rows "verdict") "REPRODUCED (the 95% interval excludes 0)" "excludes 0"
              Expect.stringStarts (measured rows "verdict-unrolling") "NO EFFECT OF SIZE 0.112" "narrow interval around 0"

              Expect.stringContains
                  (measured rows "verdict-unrolling")
                  "also rules out the thesis's own difference here, +0.033"
                  "the thesis's own difference too"

              Expect.stringStarts (measured rows "verdict-vs-cyclegan") "INCONCLUSIVE (the 95% interval contains 0 and its half-width" "wide interval"
              Expect.stringContains (measured rows "verdict-vs-cyclegan") "a half-width of 0.056 takes" "seeds a decision would take"
              Expect.stringContains (measured rows "verdict") "n = 8" "eight seeds"
              Expect.isFalse (rows |> List.exists (fun r -> r.Experiment = "final-detectors")) "no final-detector noise row with one detector per arm"
              // two final detectors per arm: detector 0 of the real arm is 0.3 higher in odd seeds, detector 1 equal to the rest
              let two key (a0: float) (a1: float) = { row key ((a0 + a1) / 2.0) with Ap01Each = [ a0; a1 ] }

              let twoRuns =
                  [ for k in 1..8 ->
                        let bump = if k % 2 = 1 then 0.3 else 0.0

                        k,
                        [ two "real" (0.15 + bump) 0.15
                          two "cyclegan-bbox" 0.15 0.15
                          two "detectorgan-no-unroll" 0.15 0.15
                          two "detectorgan" 0.16 0.16 ] ]

              let noiseRow =
                  AutoDesign.Reproduce.DetectorGanExperiments.reportRows DetGanExperiment.quick true twoRuns
                  |> List.find (fun r -> r.Experiment = "final-detectors")
              // within a seed: sd of (0.45, 0.15) = 0.212 in odd seeds, 0 in even ones: root mean square 0.150
              Expect.stringContains noiseRow.Measured "real: within a seed 0.150, between seeds (mean of 2) 0.080" "within- and between-seed sd"
              Expect.stringContains noiseRow.Measured "sd 0.160 with the first final detector of each arm" "one detector per arm"
              Expect.stringContains noiseRow.Measured "0.080 with the mean of 2" "the mean of both"
              Expect.equal (AutoDesign.Reproduce.Paired.seedsFor 1.0 1.0 100) (Some 7) "t(6) 2.447 / sqrt 7 = 0.925 <= 1 < t(5) 2.571 / sqrt 6"
              Expect.equal (AutoDesign.Reproduce.Paired.seedsFor 100.0 0.001 100) None "beyond the cap"
          } ]
