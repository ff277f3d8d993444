/// Plain-loop reference implementations of the built-in metrics, independent of the metric
/// language (the test oracles), and random batch generators with frequent ties.
module AutoDesign.Tests.UniLossReference

open System

let accuracy (n: int) (c: int) (s: float32[]) (y: int[]) =
    let mutable ok = 0

    for i in 0 .. n - 1 do
        let mutable win = true

        for j in 0 .. c - 1 do
            if j <> y.[i] && not (s.[i * c + y.[i]] > s.[i * c + j]) then win <- false

        if win then ok <- ok + 1

    float ok / float n

let topK (k: int) (n: int) (c: int) (s: float32[]) (y: int[]) =
    let mutable ok = 0

    for i in 0 .. n - 1 do
        let mutable atLeast = 0

        for j in 0 .. c - 1 do
            if j <> y.[i] && s.[i * c + j] >= s.[i * c + y.[i]] then atLeast <- atLeast + 1

        if atLeast < k then ok <- ok + 1

    float ok / float n

/// Binary predictions from scores with `cols` columns (1: s > 0; 2: s1 > s0).
let predictions (n: int) (cols: int) (s: float32[]) = Array.init n (fun i -> if cols = 2 then s.[2 * i + 1] > s.[2 * i] else s.[i] > 0.0f)

let confusion (pred: bool[]) (y: int[]) =
    let tp = Seq.zip pred y |> Seq.filter (fun (p, t) -> p && t = 1) |> Seq.length
    let fp = Seq.zip pred y |> Seq.filter (fun (p, t) -> p && t = 0) |> Seq.length
    let fn = Seq.zip pred y |> Seq.filter (fun (p, t) -> not p && t = 1) |> Seq.length
    float tp, float fp, float fn

let precision pred y = let tp, fp, _ = confusion pred y in if tp + fp = 0.0 then 0.0 else tp / (tp + fp)
let recall pred y = let tp, _, fn = confusion pred y in if tp + fn = 0.0 then 0.0 else tp / (tp + fn)
let f1 pred y = let tp, fp, fn = confusion pred y in if 2.0 * tp + fp + fn = 0.0 then 0.0 else 2.0 * tp / (2.0 * tp + fp + fn)

/// sklearn's average_precision_score: sort by decreasing score, one step per DISTINCT score
/// (tied scores form one threshold), AP = Σ (R_k − R_{k−1}) P_k; 0 without positives.
let averagePrecision (scores: float32[]) (y: int[]) =
    let total = y |> Array.sumBy (fun v -> if v = 1 then 1 else 0)

    if total = 0 then
        0.0
    else
        let order = Array.init scores.Length id |> Array.sortBy (fun i -> -scores.[i])
        let mutable tp = 0
        let mutable fp = 0
        let mutable prevRecall = 0.0
        let mutable ap = 0.0
        let mutable k = 0

        while k < order.Length do
            let v = scores.[order.[k]]

            while k < order.Length && scores.[order.[k]] = v do
                if y.[order.[k]] = 1 then tp <- tp + 1 else fp <- fp + 1
                k <- k + 1

            let r = float tp / float total
            ap <- ap + (r - prevRecall) * (float tp / float (tp + fp))
            prevRecall <- r

        ap

/// Heatmap [n,h,w] with joints (row, col): correct iff the best pixel within the radius scores
/// strictly higher than the best pixel outside it.
let pckh (radius: float) (n: int) (h: int) (w: int) (s: float32[]) (joints: (int * int)[]) =
    let mutable ok = 0

    for k in 0 .. n - 1 do
        let r0, c0 = joints.[k]
        let mutable bestIn = Single.NegativeInfinity
        let mutable bestOut = Single.NegativeInfinity
        let mutable anyOut = false

        for a in 0 .. h - 1 do
            for b in 0 .. w - 1 do
                let v = s.[k * h * w + a * w + b]

                if float ((a - r0) * (a - r0) + (b - c0) * (b - c0)) <= radius * radius then
                    bestIn <- max bestIn v
                else
                    anyOut <- true
                    bestOut <- max bestOut v

        if not anyOut || bestIn > bestOut then ok <- ok + 1

    float ok / float n

/// Scores drawn from a few small integers, so ties are frequent.
/// The random streams the metric checks draw their batches from: `Random 1` … `Random count`, new ones each call.
let streams (count: int) = Seq.init count (fun i -> Random(i + 1))

let tiedScores (rng: Random) (count: int) = Array.init count (fun _ -> float32 (rng.Next 4 - 1))
