/// Plain-loop reference implementations of the built-in metrics beyond the thesis, as
/// scikit-learn defines them (arg-max predictions, the first maximum winning ties), independent of
/// the metric language: the test oracles.
module AutoDesign.Tests.UniLossBuiltinReference

open System

/// numpy argmax of row i of [n, c] scores (the first maximum).
let argmax (c: int) (s: float32[]) (i: int) =
    let mutable best = 0

    for j in 1 .. c - 1 do
        if s.[i * c + j] > s.[i * c + best] then best <- j

    best

/// Predicted classes of [n, c] scores; c = 1 means binary [n] scores (1 iff s > 0).
let predictions (n: int) (c: int) (s: float32[]) = Array.init n (fun i -> if c = 1 then (if s.[i] > 0.0f then 1 else 0) else argmax c s i)

/// sklearn balanced_accuracy_score.
let balancedAccuracy (yTrue: int[]) (yPred: int[]) =
    let classes = yTrue |> Array.distinct

    classes
    |> Array.averageBy (fun c ->
        let idx =
            [| for i in 0 .. yTrue.Length - 1 do
                   if yTrue.[i] = c then yield i |]

        float (idx |> Array.filter (fun i -> yPred.[i] = c) |> Array.length) / float idx.Length)

/// sklearn f1_score(average='macro', zero_division=0) with the default labels (true ∪ predicted).
let macroF1 (yTrue: int[]) (yPred: int[]) =
    let labels = Array.append yTrue yPred |> Array.distinct

    labels
    |> Array.averageBy (fun c ->
        let mutable tp, fp, fn = 0, 0, 0

        for i in 0 .. yTrue.Length - 1 do
            if yPred.[i] = c && yTrue.[i] = c then tp <- tp + 1
            elif yPred.[i] = c then fp <- fp + 1
            elif yTrue.[i] = c then fn <- fn + 1

        if 2 * tp + fp + fn = 0 then 0.0 else 2.0 * float tp / float (2 * tp + fp + fn))

/// sklearn fbeta_score (binary, pos_label=1, zero_division=0).
let fBeta (beta: float) (yTrue: int[]) (yPred: int[]) =
    let mutable tp, fp, fn = 0.0, 0.0, 0.0

    for i in 0 .. yTrue.Length - 1 do
        if yPred.[i] = 1 && yTrue.[i] = 1 then tp <- tp + 1.0
        elif yPred.[i] = 1 then fp <- fp + 1.0
        elif yTrue.[i] = 1 then fn <- fn + 1.0

    let b2 = beta * beta
    let d = (1.0 + b2) * tp + b2 * fn + fp
    if d = 0.0 then 0.0 else (1.0 + b2) * tp / d

/// sklearn matthews_corrcoef (multi-class form from the confusion matrix; 0 when undefined).
let mcc (classes: int) (yTrue: int[]) (yPred: int[]) =
    let cm = Array2D.zeroCreate<float> classes classes

    for i in 0 .. yTrue.Length - 1 do
        cm.[yTrue.[i], yPred.[i]] <- cm.[yTrue.[i], yPred.[i]] + 1.0

    let t = Array.init classes (fun k -> Seq.sum (seq { for j in 0 .. classes - 1 -> cm.[k, j] }))
    let p = Array.init classes (fun k -> Seq.sum (seq { for j in 0 .. classes - 1 -> cm.[j, k] }))
    let c = Seq.sum (seq { for k in 0 .. classes - 1 -> cm.[k, k] })
    let s = float yTrue.Length
    let cov = c * s - Array.fold2 (fun acc a b -> acc + a * b) 0.0 p t
    let vp = s * s - Array.sumBy (fun x -> x * x) p
    let vt = s * s - Array.sumBy (fun x -> x * x) t
    if vp * vt = 0.0 then 0.0 else cov / sqrt (vp * vt)

/// Rank of item i, ties counting against it: 1 + #{j ≠ i : s_j ≥ s_i}.
let pessimisticRank (s: float32[]) (i: int) =
    1
    + (seq {
        for j in 0 .. s.Length - 1 do
            if j <> i && s.[j] >= s.[i] then yield j
       }
       |> Seq.length)

let precisionAtK (k: int) (s: float32[]) (rel: int[]) =
    float (Array.init s.Length id |> Array.filter (fun i -> rel.[i] > 0 && pessimisticRank s i <= k) |> Array.length)
    / float k

let recallAtK (k: int) (s: float32[]) (rel: int[]) =
    let total = rel |> Array.filter (fun r -> r > 0) |> Array.length

    if total = 0 then
        0.0
    else
        float (Array.init s.Length id |> Array.filter (fun i -> rel.[i] > 0 && pessimisticRank s i <= k) |> Array.length)
        / float total

let private idcg (k: int) (rel: int[]) =
    rel
    |> Array.sortDescending
    |> Array.truncate k
    |> Array.mapi (fun r g -> float g / Math.Log2(float r + 2.0))
    |> Array.sum

/// NDCG@k with pessimistic ranks (each tied item gets the last position of its tie group).
let ndcgAtK (k: int) (s: float32[]) (rel: int[]) =
    let ideal = idcg k rel

    if ideal = 0.0 then
        0.0
    else
        let dcg =
            Array.init s.Length id
            |> Array.sumBy (fun i -> let r = pessimisticRank s i in if rel.[i] > 0 && r <= k then float rel.[i] / Math.Log2(float r + 1.0) else 0.0)

        dcg / ideal

/// sklearn ndcg_score(k) on tie-free scores: sort by decreasing score, discount the first k.
let ndcgSorted (k: int) (s: float32[]) (rel: int[]) =
    let ideal = idcg k rel

    if ideal = 0.0 then
        0.0
    else
        let order = Array.init s.Length id |> Array.sortBy (fun i -> -s.[i])
        let dcg = order |> Array.truncate k |> Array.mapi (fun r i -> float rel.[i] / Math.Log2(float r + 2.0)) |> Array.sum
        dcg / ideal

/// Pixel predictions of class maps [n, c, p] (p pixels per map), the first arg-max per pixel.
let pixelPredictions (n: int) (c: int) (p: int) (s: float32[]) =
    Array.init (n * p) (fun q ->
        let i, x = q / p, q % p
        let mutable best = 0

        for j in 1 .. c - 1 do
            if s.[(i * c + j) * p + x] > s.[(i * c + best) * p + x] then best <- j

        best)

/// sklearn jaccard_score(average='macro') on flattened maps (labels: true ∪ predicted).
let meanIoU (yTrue: int[]) (yPred: int[]) =
    Array.append yTrue yPred
    |> Array.distinct
    |> Array.averageBy (fun c ->
        let inter = Array.fold2 (fun acc a b -> if a = c && b = c then acc + 1 else acc) 0 yTrue yPred
        let union = Array.fold2 (fun acc a b -> if a = c || b = c then acc + 1 else acc) 0 yTrue yPred
        float inter / float union)

/// Mean Dice = sklearn f1_score(average='macro') on flattened maps.
let dice (yTrue: int[]) (yPred: int[]) = macroF1 yTrue yPred
