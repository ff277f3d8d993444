namespace AutoDesign.UniLoss

open System

/// How a good/nearby anchor is perturbed: one flip changes a single bit (Bit), every bit whose
/// first score belongs to one example (Example), or every bit that reads one score (Score: e.g.
/// one heatmap pixel, as the thesis' pose anchors).
type FlipUnit =
    | Bit = 0
    | Example = 1
    | Score = 2

/// The best configuration b* for one batch of labels, with the scores that produce it.
type Best =
    {
        /// b* = h(f(Scores)) (0/1 floats [l]).
        Bits: float32[]
        /// A score tensor (row-major) producing b*.
        Scores: float32[]
        /// g(b*).
        Value: float
        /// Where it came from: "ideal" (declared), a label-derived candidate's name, plus "+ search" when
        /// score moves improved it.
        Source: string
        /// Scores produce b* without ties (see Realise.isTieFree).
        TieFree: bool
    }

module Anchors =
    /// Bit lists of the flip units of a refactorization (Bit units are not materialised).
    [<CompiledName("Units")>]
    let units (r: Refactored) (unit: FlipUnit) : int[][] =
        match unit with
        | FlipUnit.Bit -> [||]
        | FlipUnit.Example -> r.ExampleOf |> Array.indexed |> Array.groupBy snd |> Array.sortBy fst |> Array.map (fun (_, xs) -> Array.map fst xs)
        | FlipUnit.Score ->
            r.Comparisons
            |> Array.indexed
            |> Array.collect (fun (b, c) ->
                [| if c.K1 >= 0 then yield c.K1, b
                   if c.K2 >= 0 && c.K2 <> c.K1 then yield c.K2, b |])
            |> Array.groupBy fst
            |> Array.sortBy fst
            |> Array.map (fun (_, xs) -> Array.map snd xs)
        | u -> Errors.fail "unknown flip unit %A" u

    /// Node evaluations the score-space search may spend on one label batch (a few ms).
    let mutable SearchBudget = 1_000_000L

    /// Configurations evaluated together by the search.
    let private searchWidth = 32

    /// h(f(scores)) through the structure, as 0/1 floats.
    let private bitsOf (st: Structure) (vals: float32[]) = Array.init st.P.Length (fun e -> if Realise.bitOf st vals e then 1.0f else 0.0f)

    /// Greedy ascent in score space from (scores, bits): evaluates, searchWidth at a time, the
    /// score move that flips each bit (Realiser.FlipMove) and keeps the best strict improvement of
    /// each batch, until a sweep over all bits improves nothing (≤ 4 sweeps) or the budget is spent.
    /// Every configuration visited is h(f(scores)) of the moved scores.
    let internal search (r: Refactored) (st: Structure) (rz: Realiser) (sign: float) (vals: float32[]) (bits: float32[]) (value: float) : float * bool =
        let l = r.L
        let t = searchWidth
        let buf = Array.zeroCreate<float>(GEval.rows r * t)
        let mutable cur = value
        let mutable improved = false
        let mutable spent = 0L
        let mutable sweep = 0
        let mutable changed = true
        let moves = Array.zeroCreate<struct (int * float32)> t

        while changed && sweep < 4 && spent < SearchBudget do
            changed <- false
            sweep <- sweep + 1
            let mutable j0 = 0

            while j0 < l && spent < SearchBudget do
                let width = min t (l - j0)

                for a in 0 .. t - 1 do
                    for e in 0 .. l - 1 do
                        buf.[e * t + a] <- float bits.[e]

                for a in 0 .. width - 1 do
                    let m = rz.FlipMove(buf, a, t, vals, j0 + a)
                    moves.[a] <- m
                    let struct (x, nv) = m

                    if x >= 0 then
                        rz.Move(buf, a, t, vals, x, nv)
                        rz.Undo vals

                GEval.run r buf t
                spent <- spent + int64 (r.Nodes.Length * t)
                let mutable bestA = -1
                let mutable bestV = cur

                for a in 0 .. width - 1 do
                    let struct (x, _) = moves.[a]
                    let v = sign * buf.[r.Root * t + a]

                    if x >= 0 && v > bestV + 1e-12 then
                        bestA <- a
                        bestV <- v

                if bestA >= 0 then
                    let struct (x, nv) = moves.[bestA]
                    vals.[x] <- nv

                    for e in 0 .. l - 1 do
                        bits.[e] <- float32 buf.[e * t + bestA]

                    cur <- bestV
                    improved <- true
                    changed <- true

                j0 <- j0 + width

        cur, improved

    /// The best configuration b* for these labels:
    ///  1. the metric declares Ideal: b* = h(f(ideal scores)), taken as given;
    ///  2. otherwise the label-derived candidates (Ideals.candidates) are evaluated in order, and
    ///     the best wins (the earliest on ties); the first to reach the best value possible — the
    ///     top of the metric's declared Range or of g's interval bounds (GEval.bounds), whichever
    ///     is lower — ends the list; when none does, a greedy search in score space (search, at
    ///     most SearchBudget node evaluations) tries to improve the best.
    /// Either way b* is produced by the returned scores, so some network output can reach it.
    [<CompiledName("BestWith")>]
    let bestWith (metric: Metric) (r: Refactored) (st: Structure) (rz: Realiser) (labels: Labels) : Best =
        let sign = if metric.Goal = Goal.Minimize then -1.0 else 1.0

        match metric.Ideal with
        | Some f ->
            let s = f (Array.copy r.Shape) labels

            if isNull s || s.Length <> r.NumScores then
                Errors.fail
                    "%s: Ideal returned %d scores, expected %d (shape [%s])"
                    metric.Name
                    (if isNull s then 0 else s.Length)
                    r.NumScores
                    (String.Join(", ", r.Shape))

            if s |> Array.exists Single.IsNaN then Errors.fail "%s: Ideal returned NaN scores" metric.Name
            let vals = Realise.vertexValues st s
            let bits = bitsOf st vals

            { Bits = bits
              Scores = Array.copy s
              Value = (GEval.values r [| bits |]).[0]
              Source = "ideal"
              TieFree = Realise.isTieFree st vals }
        | None ->
            // the best any configuration can do: the declared range, tightened by g's interval bounds
            let glo, ghi = GEval.bounds r

            let lo, hi =
                match metric.Range with
                | Some(lo, hi) -> max lo glo, min hi ghi
                | None -> glo, ghi

            let reaches (v: float) = if sign > 0.0 then v >= hi - 1e-9 * max 1.0 (abs hi) else v <= lo + 1e-9 * max 1.0 (abs lo)
            // candidates in order; stop at the first that reaches the top of the declared range
            let mutable best = None
            use e = (Ideals.candidates r.Shape labels st.Consts).GetEnumerator()
            let mutable stop = false

            while not stop && e.MoveNext() do
                let name, s = e.Current
                let bits = bitsOf st (Realise.vertexValues st s)
                let v = (GEval.values r [| bits |]).[0]

                match best with
                | Some(_, _, _, bv) when not (sign * v > sign * bv) -> ()
                | _ -> best <- Some(name, s, bits, v)

                if reaches v then stop <- true

            let name, s, bits, v = best.Value

            if stop || r.L = 0 then
                { Bits = bits
                  Scores = Array.copy s
                  Value = v
                  Source = name
                  TieFree = Realise.isTieFree st (Realise.vertexValues st s) }
            else
                let vals = Realise.vertexValues st s
                let bits = Array.copy bits
                let sv, improved = search r st rz sign vals bits (sign * v)

                { Bits = bits
                  Scores = Array.sub vals 0 st.N
                  Value = sign * sv
                  Source = (if improved then name + " + search" else name)
                  TieFree = Realise.isTieFree st vals }

    /// A target no worse than the configuration `scores` produce: when that configuration's value
    /// `value` = g(h(f(scores))) beats best.Value strictly (in the metric's direction), the greedy
    /// search (search) runs from those scores and its result is returned; otherwise best itself.
    /// The current configuration is realisable (the scores produce it), so b* never needs to be worse.
    [<CompiledName("NoWorseThan")>]
    let noWorseThan (metric: Metric) (r: Refactored) (st: Structure) (rz: Realiser) (best: Best) (scores: float32[]) (value: float) : Best =
        let sign = if metric.Goal = Goal.Minimize then -1.0 else 1.0

        if r.L = 0 || not (sign * value > sign * best.Value + 1e-12 * max 1.0 (abs best.Value)) then
            best
        else
            let vals = Realise.vertexValues st scores
            let bits = bitsOf st vals
            let sv, improved = search r st rz sign vals bits (sign * value)

            { Bits = bits
              Scores = Array.sub vals 0 st.N
              Value = sign * sv
              Source = (if improved then "current + search" else "current")
              TieFree = Realise.isTieFree st vals }

    /// b* (see bestWith) with a fresh structure.
    [<CompiledName("Best")>]
    let best (metric: Metric) (r: Refactored) (labels: Labels) : float32[] =
        let st = Realise.structure r
        (bestWith metric r st (Realiser st) labels).Bits

    /// `count` copies of `baseRow`, each with `flips` random units flipped (a unit drawn twice
    /// flips once); row-major [count × l]. Plain bit flips: no realisability repair.
    [<CompiledName("Perturb")>]
    let perturb (rng: Random) (baseRow: float32[]) (count: int) (flips: int) (unit: FlipUnit) (groups: int[][]) : float32[] =
        let l = baseRow.Length
        let out = Array.zeroCreate<float32>(count * l)

        for a in 0 .. count - 1 do
            Array.blit baseRow 0 out (a * l) l

            if l > 0 then
                let chosen = Collections.Generic.HashSet<int>()

                for _ in 1..flips do
                    match unit with
                    | FlipUnit.Bit -> chosen.Add(rng.Next l) |> ignore
                    | _ ->
                        if groups.Length > 0 then
                            for b in groups.[rng.Next groups.Length] do
                                chosen.Add b |> ignore

                for b in chosen do
                    out.[a * l + b] <- 1.0f - baseRow.[b]

        out

    /// The units drawn like `perturb` draws them, as bit lists per anchor (same random stream).
    [<CompiledName("DrawUnits")>]
    let drawUnits (rng: Random) (l: int) (count: int) (flips: int) (unit: FlipUnit) (groups: int[][]) : ResizeArray<int>[] =
        Array.init count (fun _ ->
            let chosen = ResizeArray<int>()

            if l > 0 then
                for _ in 1..flips do
                    match unit with
                    | FlipUnit.Bit -> chosen.Add(rng.Next l)
                    | _ -> if groups.Length > 0 then chosen.AddRange groups.[rng.Next groups.Length]

            chosen)
