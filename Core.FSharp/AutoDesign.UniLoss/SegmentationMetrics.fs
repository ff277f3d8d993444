namespace AutoDesign.UniLoss

open System
open AutoDesign.UniLoss.MetricKit

/// Segmentation metrics on per-pixel class scores [n, C, H, W] (any spatial rank ≥ 1) and label
/// maps [n, H, W]; each pixel predicts its first arg-max class. Pixels of the whole batch are
/// pooled, as scikit-learn's jaccard_score / f1_score with average='macro' on flattened maps.
module SegmentationMetrics =
    /// Per-class intersections, predicted counts and label counts.
    let private counts (name: string) (s: Scores) (y: Labels) =
        if s.Rank < 3 then Errors.fail "%s: scores must be class maps [n, C, H, W], got [%s]" name (shapeText s.Shape)
        let classes = s.Dim 1
        let spatial = s.Shape.[2..]
        let expected = Array.append [| s.N |] spatial

        if y.Shape <> expected then
            Errors.fail "%s: labels must be maps [%s] for scores [%s], got [%s]" name (shapeText expected) (shapeText s.Shape) (shapeText y.Shape)

        y.RequireClasses(classes, name)
        let perEx = Array.fold (*) 1 spatial
        let pixels = s.N * perEx
        // pixel p = (i, spatial index q): class scores at flat (i·C + c)·perEx + q
        let pred =
            Array.init pixels (fun p ->
                let i, q = p / perEx, p % perEx
                let r = Array.init classes (fun c -> s.AtFlat((i * classes + c) * perEx + q))
                Array.init classes (predicts r))

        let label p = int y.Data.[p]

        let inter =
            Array.init classes (fun c ->
                count
                    [ for p in 0 .. pixels - 1 do
                          if label p = c then yield pred.[p].[c] ])

        let predicted = Array.init classes (fun c -> count [ for p in 0 .. pixels - 1 -> pred.[p].[c] ])
        let support = Array.init classes (fun c -> y.Data |> Array.sumBy (fun v -> if v = int64 c then 1 else 0))
        classes, inter, predicted, support

    /// Mean intersection over union: mean over classes present in labels or predictions of
    /// |pred ∩ label| / |pred ∪ label|.
    let meanIoU: Metric =
        macroOfCounts "mean-iou" counts (fun inter predicted support -> ratio inter (predicted + support - inter))

    /// Mean Dice: mean over classes present in labels or predictions of 2|pred ∩ label| / (|pred| + |label|).
    let dice: Metric = macroOfCounts "dice" counts (fun inter predicted support -> ratio (2.0 * inter) (predicted + support))
