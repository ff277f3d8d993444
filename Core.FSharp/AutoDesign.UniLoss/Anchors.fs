namespace AutoDesign.UniLoss

open System
open AutoDesign.Runs

/// How a good/nearby anchor is perturbed: one flip changes a single bit (Bit), every bit whose
/// first score K1 belongs to one example (Example), or every bit that reads one score, as K1 or
/// K2 (Score: e.g. one heatmap pixel, as the thesis' pose anchors).
type FlipUnit =
    | Bit = 0
    | Example = 1
    | Score = 2

module Anchors =
    /// Bit lists of the flip units of a refactorization (Bit units are not materialised).
    let units (r: Refactored) (unit: FlipUnit) : int[][] =
        match unit with
        | FlipUnit.Bit -> [||]
        | FlipUnit.Example ->
            r.ExampleOf |> Array.indexed |> Array.groupBy snd |> Array.sortBy fst |> Array.map (fun (_, xs) -> Array.map fst xs)
        | FlipUnit.Score ->
            r.Comparisons
            |> Array.indexed
            |> Array.collect (fun (b, c) -> if c.K2 >= 0 && c.K2 <> c.K1 then [| c.K1, b; c.K2, b |] else [| c.K1, b |])
            |> Array.groupBy fst |> Array.sortBy fst |> Array.map (fun (_, xs) -> Array.map snd xs)
        | u -> Errors.fail "unknown flip unit %A" u

    /// Largest bit vector on which the best configuration is improved by greedy bit flips.
    let GreedyLimit = 4096

    /// The best configuration b* for these labels, by this rule:
    ///  1. candidates: h(f(ideal scores)) when the metric declares Ideal, all ones, all zeros;
    ///     the candidate with the best g wins (earlier wins ties);
    ///  2. when the metric declares no Ideal and l <= GreedyLimit, greedy ascent from EACH
    ///     candidate first: sweep the bits, keep every single flip that strictly improves g,
    ///     until a sweep changes nothing (≤ 4 sweeps).
    /// Every built-in metric declares Ideal, whose configuration reaches the metric's maximum.
    let best (metric: Metric) (r: Refactored) (labels: Labels) : float32[] =
        let l = r.L
        let sign = if metric.Goal = Goal.Minimize then -1.0 else 1.0
        let score b = sign * Refactor.g r b
        let ideal =
            match metric.Ideal with
            | Some f ->
                let s = f (Array.copy r.Shape) labels
                if isNull s || s.Length <> r.NumScores then
                    Errors.fail "%s: Ideal returned %d scores, expected %d (shape [%s])" metric.Name (if isNull s then 0 else s.Length) r.NumScores (String.Join(", ", r.Shape))
                [ Refactor.h (Refactor.comparisons r s) ]
            | None -> []
        let candidates = ideal @ [ Array.create l 1.0f; Array.zeroCreate l ]
        let climb (start: float32[]) =
            let b = Array.copy start
            let mutable cur = score b
            let mutable changed = true
            let mutable sweeps = 0
            while changed && sweeps < 4 do
                changed <- false
                sweeps <- sweeps + 1
                for i in 0 .. l - 1 do
                    b.[i] <- 1.0f - b.[i]
                    let v = score b
                    if v > cur then
                        cur <- v
                        changed <- true
                    else
                        b.[i] <- 1.0f - b.[i]
            b
        let candidates =
            if metric.Ideal.IsNone && l <= GreedyLimit then candidates |> List.map climb else candidates
        candidates |> List.maxBy score // maxBy keeps the first maximum

    /// `count` copies of `baseRow`, each with `flips` random units flipped (a unit drawn twice
    /// flips once); row-major [count × l].
    let perturb (rng: Random) (baseRow: float32[]) (count: int) (flips: int) (unit: FlipUnit) (groups: int[][]) : float32[] =
        let l = baseRow.Length
        let out = Array.zeroCreate<float32> (count * l)
        for a in 0 .. count - 1 do
            Array.blit baseRow 0 out (a * l) l
            if l > 0 then
                let chosen = Collections.Generic.HashSet<int>()
                for _ in 1 .. flips do
                    match unit with
                    | FlipUnit.Bit -> chosen.Add(rng.Next l) |> ignore
                    | _ -> if groups.Length > 0 then for b in groups.[rng.Next groups.Length] do chosen.Add b |> ignore
                for b in chosen do out.[a * l + b] <- 1.0f - baseRow.[b]
        out
