namespace AutoDesign.Metrics

open System
open System.Collections.Generic

/// Detection metrics over a test set: per image, the predictions and the ground-truth boxes.
type ImageResult = { Predictions: IReadOnlyList<Detection>; Truth: IReadOnlyList<Box> }

type ApResult = { Ap: float; Recall: float; TruePositives: int; Detections: int; GroundTruth: int }

module DetMetrics =
    /// Average precision at an IoU threshold (PASCAL VOC 2010+ all-point interpolation): detections of all
    /// images ranked by score; each is a true positive when its best-overlapping ground-truth box in the same
    /// image has IoU ≥ threshold and was not matched by a higher-ranked detection. Recall = TP / #ground truth
    /// with all detections kept. No ground truth at all gives AP = recall = 0 (no division by zero).
    [<CompiledName("AveragePrecision")>]
    let averagePrecision (iouThreshold: float) (results: IReadOnlyList<ImageResult>) : ApResult =
        let images = Array.ofSeq results
        let nGt = images |> Array.sumBy (fun r -> r.Truth.Count)
        let truth = images |> Array.map (fun r -> Array.ofSeq r.Truth)
        let matched = truth |> Array.map (fun t -> Array.zeroCreate<bool> t.Length)

        let ranked =
            images
            |> Array.mapi (fun i r -> List.ofSeq r.Predictions |> List.map (fun d -> i, d))
            |> List.concat
            |> List.sortByDescending (fun (_, d) -> d.Score) // stable: ties keep image order
            |> Array.ofList

        let tp = Array.zeroCreate<bool> ranked.Length

        for k in 0 .. ranked.Length - 1 do
            let i, d = ranked.[k]
            let gts = truth.[i]

            if gts.Length > 0 then
                let best = [| 0 .. gts.Length - 1 |] |> Array.maxBy (fun g -> Box.iou d.Box gts.[g])

                if Box.iou d.Box gts.[best] >= iouThreshold && not matched.[i].[best] then
                    matched.[i].[best] <- true
                    tp.[k] <- true

        let nTp = tp |> Array.filter id |> Array.length

        let ap =
            if nGt = 0 || ranked.Length = 0 then
                0.0
            else
                AveragePrecision.compute Envelope false (ranked |> Array.map (fun (_, d) -> d.Score)) tp nGt

        { Ap = ap
          Recall = (if nGt = 0 then 0.0 else float nTp / float nGt)
          TruePositives = nTp
          Detections = ranked.Length
          GroundTruth = nGt }

    /// Localization accuracy (Wang et al. 2017): the fraction of images with ground truth whose top-scoring
    /// prediction overlaps some ground-truth box with `overlap` ≥ threshold. An image without predictions counts
    /// as wrong; images without ground truth are skipped; no such image at all gives 0.
    [<CompiledName("LocalizationAccuracy")>]
    let localizationAccuracy (overlap: Func<Box, Box, float>) (threshold: float) (results: IReadOnlyList<ImageResult>) =
        let scored = List.ofSeq results |> List.filter (fun r -> r.Truth.Count > 0)

        if scored.IsEmpty then
            0.0
        else
            let correct =
                scored
                |> List.filter (fun r ->
                    match List.ofSeq r.Predictions with
                    | [] -> false
                    | ps ->
                        let top = ps |> List.maxBy (fun d -> d.Score)
                        r.Truth |> Seq.exists (fun g -> overlap.Invoke(top.Box, g) >= threshold))
                |> List.length

            float correct / float scored.Length

    let private iouList = [ 0.1; 0.2; 0.3; 0.4; 0.5; 0.6; 0.7 ]
    let private iobbList = [ 0.1; 0.25; 0.5; 0.75 ]

    /// The T_IoU thresholds of Table 4.2.
    [<CompiledName("IouThresholds")>]
    let iouThresholds: IReadOnlyList<float> = iouList

    /// The T_IoBB thresholds of Table 4.3.
    [<CompiledName("IobbThresholds")>]
    let iobbThresholds: IReadOnlyList<float> = iobbList

    /// Table 4.2 row: accuracy at each T_IoU, then their average.
    [<CompiledName("LocalizationIou")>]
    let localizationIou (results: IReadOnlyList<ImageResult>) : IReadOnlyList<float> =
        let xs = iouList |> List.map (fun t -> localizationAccuracy (Func<_, _, _>(fun a b -> Box.iou a b)) t results)
        xs @ [ List.average xs ] :> IReadOnlyList<_>

    /// Table 4.3 row: accuracy at each T_IoBB, then their average.
    [<CompiledName("LocalizationIobb")>]
    let localizationIobb (results: IReadOnlyList<ImageResult>) : IReadOnlyList<float> =
        let xs = iobbList |> List.map (fun t -> localizationAccuracy (Func<_, _, _>(fun a b -> Box.iobb a b)) t results)
        xs @ [ List.average xs ] :> IReadOnlyList<_>
