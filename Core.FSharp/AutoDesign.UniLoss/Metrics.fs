namespace AutoDesign.UniLoss

open System
open AutoDesign.Runs

/// Built-in metrics, written in the same user-facing metric language as any user metric.
/// Ties follow the language: [a >. b] is strict, so a tie never counts as a win.
module Metrics =
    let private shapeStr (s: Scores) = String.Join(", ", s.Shape)

    let private requireRank2 name (s: Scores) =
        if s.Rank <> 2 then Errors.fail "%s: scores must have shape [n, classes], got [%s]" name (shapeStr s)

    /// Ideal scores for class labels: 1 at the label's column, 0 elsewhere ([n, C]).
    let private oneHot (shape: int[]) (y: Labels) =
        let c = shape.[1]
        let s = Array.zeroCreate<float32> (shape.[0] * c)
        for i in 0 .. shape.[0] - 1 do
            let k = y.[i]
            if k >= 0 && k < c then s.[i * c + k] <- 1.0f
        s

    /// Accuracy on scores [n, C], labels [n] in [0, C): example i is correct iff its label's score
    /// beats every other class strictly (a tie is an error). Bits: s[i,y_i] > s[i,j], j ≠ y_i.
    let accuracy : Metric =
        Metric.Define("accuracy", fun s y ->
            requireRank2 "accuracy" s
            y.RequireClasses(s.Dim 1, "accuracy")
            mean [ for i in 0 .. s.N - 1 ->
                     num (all [ for j in 0 .. s.Dim 1 - 1 do if j <> y.[i] then yield s.[i, y.[i]] >. s.[i, j] ]) ])
            .WithIdeal(oneHot)

    /// Top-k accuracy: example i is correct iff fewer than k other classes score at least as high
    /// as its label (ties count against it).
    let topK (k: int) : Metric =
        if k < 1 then Errors.fail "top-k accuracy needs k >= 1, got %d" k
        let name = sprintf "top-%d" k
        Metric.Define(name, fun s y ->
            requireRank2 name s
            y.RequireClasses(s.Dim 1, name)
            mean [ for i in 0 .. s.N - 1 ->
                     let beaten = count [ for j in 0 .. s.Dim 1 - 1 do if j <> y.[i] then yield notb (s.[i, y.[i]] >. s.[i, j]) ]
                     num (beaten <. float k) ])
            .WithIdeal(oneHot)

    /// Binary scores: [n, 2] → predicted positive iff s[i,1] > s[i,0]; [n] or [n, 1] → iff s[i] > 0.
    let private predicted name (s: Scores) (i: int) : Bit =
        if s.Rank = 2 && s.Dim 1 = 2 then s.[i, 1] >. s.[i, 0]
        elif s.Rank = 1 || (s.Rank = 2 && s.Dim 1 = 1) then s.[i] >. 0.0
        else Errors.fail "%s: binary scores must have shape [n], [n, 1] or [n, 2], got [%s]" name (shapeStr s)

    let private binaryIdeal (shape: int[]) (y: Labels) =
        if shape.Length = 2 && shape.[1] = 2 then oneHot shape y
        else Array.init shape.[0] (fun i -> if y.[i] = 1 then 1.0f else -1.0f)

    let private noPositives (y: Labels) = y.Data |> Array.forall (fun v -> v <> 1L)

    let private binary name (combine: Num -> Num -> float -> Num) : Metric =
        Metric.Define(name, fun s y ->
            y.RequireClasses(2, name)
            let tp = count [ for i in 0 .. s.N - 1 do if y.[i] = 1 then yield predicted name s i ]
            let fp = count [ for i in 0 .. s.N - 1 do if y.[i] = 0 then yield predicted name s i ]
            let positives = y.Data |> Array.sumBy (fun v -> if v = 1L then 1.0 else 0.0)
            combine tp fp positives)
            .WithIdeal(binaryIdeal)
            .WithDegenerate(noPositives)

    /// Binary precision TP / (TP + FP) (0 when nothing is predicted positive, as sklearn's zero_division=0).
    let precision = binary "precision" (fun tp fp _ -> ratio tp (tp + fp))
    /// Binary recall TP / P (0 without positives).
    let recall = binary "recall" (fun tp _ p -> ratio tp (konst p))
    /// Binary F1 = 2TP / (2TP + FP + FN) (0 when the denominator is 0).
    let f1 = binary "f1" (fun tp fp p -> ratio (2.0 * tp) (2.0 * tp + fp + (p - tp)))

    /// The score that ranks example i for the ranking metrics: s.[i] for [n] or [n, 1], the class-1
    /// column for [n, 2].
    let private rankingScore (metric: string) (s: Scores) (i: int) =
        if s.Rank = 2 && s.Dim 1 = 2 then s.[i, 1]
        elif s.Rank = 1 || (s.Rank = 2 && s.Dim 1 = 1) then s.[i]
        else Errors.fail "%s: scores must have shape [n], [n, 1] or [n, 2], got [%s]" metric (shapeStr s)

    /// Average precision as sklearn defines it: the mean over positives p of the precision at
    /// threshold s_p, #{pos ≥ s_p} / #{all ≥ s_p}. Because a tie counts as "at or above" (via the
    /// strict bits: s_q ≥ s_p ⟺ not [s_p > s_q]), this equals sklearn exactly, tied groups included.
    /// Bits: pos-vs-neg [s_p > s_j] and pos-vs-pos [s_p > s_q]. Scores [n] or [n,1]; for [n,2]
    /// the class-1 column ranks. 0 without positives (as sklearn).
    let averagePrecision : Metric =
        Metric.Define("ap", fun s y ->
            y.RequireClasses(2, "ap")
            let score = rankingScore "ap" s
            let pos = [ for i in 0 .. s.N - 1 do if y.[i] = 1 then yield i ]
            let neg = [ for i in 0 .. s.N - 1 do if y.[i] = 0 then yield i ]
            mean [ for p in pos ->
                     let posAbove = 1 + count [ for q in pos do if q <> p then yield notb (score p >. score q) ]
                     let negAbove = count [ for j in neg -> notb (score p >. score j) ]
                     ratio posAbove (posAbove + negAbove) ])
            .WithIdeal(fun shape y ->
                let c = if shape.Length = 2 then shape.[1] else 1
                Array.init (shape.[0] * c) (fun k -> if k % c = c - 1 && y.[k / c] = 1 then 1.0f else 0.0f))
            .WithDegenerate(noPositives)

    /// Average precision in the thesis's refactorization (§3.4.2): positive-vs-negative bits only.
    /// For positive p, n_p = #{negatives at or above s_p}; its rank among positives k_p is read from
    /// the n's (1 + #{q: n_q < n_p}, equal n's broken by index), and its precision is k_p / (k_p + n_p).
    /// With untied scores this equals sklearn's AP exactly (positives with equal n_p have no negative
    /// between them, so swapping their ranks leaves the sum unchanged); it uses P·N bits instead of
    /// P·N + P² and is the form the AP experiment trains with.
    let averagePrecisionPosNeg : Metric =
        Metric.Define("ap-posneg", fun s y ->
            y.RequireClasses(2, "ap-posneg")
            let score = rankingScore "ap-posneg" s
            let pos = [| for i in 0 .. s.N - 1 do if y.[i] = 1 then yield i |]
            let neg = [ for i in 0 .. s.N - 1 do if y.[i] = 0 then yield i ]
            let negAbove = pos |> Array.map (fun p -> count [ for j in neg -> notb (score p >. score j) ])
            mean [ for a in 0 .. pos.Length - 1 ->
                     let n = negAbove.[a]
                     let rank = 1 + count [ for b in 0 .. pos.Length - 1 do
                                              if b < a then yield negAbove.[b] <=. n
                                              elif b > a then yield negAbove.[b] <. n ]
                     ratio rank (rank + n) ])
            .WithIdeal(fun shape y ->
                let c = if shape.Length = 2 then shape.[1] else 1
                Array.init (shape.[0] * c) (fun k -> if k % c = c - 1 && y.[k / c] = 1 then 1.0f else 0.0f))
            .WithDegenerate(noPositives)

    /// Pixels of an h×w heatmap within Euclidean distance `radius` of (row, col).
    let inRadius (h: int) (w: int) (radius: float) (row: int) (col: int) =
        [| for a in 0 .. h - 1 do
             for b in 0 .. w - 1 do
                 let d2 = float ((a - row) * (a - row) + (b - col) * (b - col))
                 yield d2 <= radius * radius |]

    /// PCKh-style keypoint accuracy on heatmaps [n, H, W] with labels [n, 2] = (row, col):
    /// heatmap k is correct iff some pixel within `radius` of the joint beats every pixel outside
    /// (so its argmax lies within the radius). Bits: [s_k,pos > s_k,neg].
    let pckh (radius: float) : Metric =
        if not (radius >= 0.0) then Errors.fail "pckh needs a radius >= 0, got %g" radius
        let name = sprintf "pckh-%g" radius
        let check (shape: int[]) (y: Labels) =
            if shape.Length <> 3 then Errors.fail "%s: scores must be heatmaps [n, H, W], got [%s]" name (String.Join(", ", shape))
            if y.Columns <> 2 then Errors.fail "%s: labels must be joint coordinates [n, 2] (row, col), got [%s]" name (String.Join(", ", y.Shape))
            for k in 0 .. y.N - 1 do
                if y.[k, 0] < 0 || y.[k, 0] >= shape.[1] || y.[k, 1] < 0 || y.[k, 1] >= shape.[2] then
                    Errors.fail "%s: joint (%d, %d) of example %d is outside the %dx%d heatmap" name y.[k, 0] y.[k, 1] k shape.[1] shape.[2]
        Metric.Define(name, fun s y ->
            check s.Shape y
            let h, w = s.Dim 1, s.Dim 2
            mean [ for k in 0 .. s.N - 1 ->
                     let inside = inRadius h w radius y.[k, 0] y.[k, 1]
                     let pos = [ for p in 0 .. h * w - 1 do if inside.[p] then yield p ]
                     let neg = [ for p in 0 .. h * w - 1 do if not inside.[p] then yield p ]
                     num (any [ for p in pos ->
                                  all [ for q in neg -> s.[k, p / w, p % w] >. s.[k, q / w, q % w] ] ]) ])
            .WithIdeal(fun shape y ->
                check shape y
                [| for k in 0 .. shape.[0] - 1 do
                     for inside in inRadius shape.[1] shape.[2] radius y.[k, 0] y.[k, 1] -> if inside then 1.0f else 0.0f |])

    /// Names: accuracy, top-K (e.g. top-5), precision, recall, f1, ap, pckh-R (e.g. pckh-2).
    let byName (name: string) : Metric =
        let n = (if isNull name then "" else name.Trim().ToLowerInvariant())
        match n with
        | "accuracy" | "acc" -> accuracy
        | "precision" -> precision
        | "recall" -> recall
        | "f1" -> f1
        | "ap" | "average-precision" -> averagePrecision
        | "ap-posneg" -> averagePrecisionPosNeg
        | _ when n.StartsWith "top-" && fst (Int32.TryParse(n.Substring 4)) -> topK (int (n.Substring 4))
        | _ when n.StartsWith "pckh-" && fst (Double.TryParse(n.Substring 5, Globalization.NumberStyles.Float, Globalization.CultureInfo.InvariantCulture)) ->
            pckh (Double.Parse(n.Substring 5, Globalization.CultureInfo.InvariantCulture))
        | _ -> Errors.fail "unknown metric '%s' (known: accuracy, top-K, precision, recall, f1, ap, pckh-R)" name
