namespace AutoDesign.UniLoss

open System
open System.Collections.Generic

/// Scratch state for realisability checks and score moves on one Structure (not thread safe).
[<Sealed>]
type Realiser(s: Structure) =
    let nv = s.Vertices
    let mark = Array.zeroCreate<int> nv
    let mutable gen = 0
    let flipStamp = Array.zeroCreate<int> s.P.Length
    let mutable flipGen = 0
    let stack = Stack<struct (int * int)>()
    let queue = Queue<int>()
    let undo = Stack<struct (int * float32)>()

    let nextGen () =
        gen <- gen + 2

        if gen > Int32.MaxValue - 4 then
            (Array.Fill(mark, 0)
             gen <- 2)

    // position of each vertex inside its component's vertex list
    let localIdx =
        let li = Array.create nv -1

        for c in 0 .. s.CompStart.Length - 2 do
            for i in s.CompStart.[c] .. s.CompStart.[c + 1] - 1 do
                li.[s.CompVerts.[i]] <- i - s.CompStart.[c]

        li

    member _.Structure = s

    /// Largest reachability table (64-bit words) SingleFlipTable builds.
    static member val TableLimit = 1_000_000L with get, set

    /// For a tie-free base configuration (column col, realised strictly by vals): per bit, whether
    /// toggling that bit alone keeps the configuration realisable — iff its edge u→v is the only
    /// path from u to v, i.e. v is not reachable from another out-neighbour of u (reachability as
    /// bit sets, built sinks first along decreasing values). null when the table would be too big.
    member _.SingleFlipTable(buf: float[], col: int, t: int, vals: float32[]) : bool[] =
        let nc = s.CompStart.Length - 1
        let mutable words = 0L

        for c in 0 .. nc - 1 do
            let vc = s.CompStart.[c + 1] - s.CompStart.[c]
            words <- words + int64 vc * int64 ((vc + 63) / 64)

        if words > Realiser.TableLimit then
            null
        else
            let ok = Array.create s.P.Length true

            for c in 0 .. nc - 1 do
                let c0 = s.CompStart.[c]
                let vc = s.CompStart.[c + 1] - c0
                let w = (vc + 63) / 64
                let reach = Array.zeroCreate<uint64>(vc * w)
                let union = Array.zeroCreate<uint64> w
                // targets reached by two parallel edges: flipping one of them leaves the other
                let dup = Array.zeroCreate<uint64> w
                let order = Array.sub s.CompVerts c0 vc
                let keys = order |> Array.map (fun x -> vals.[x])
                Array.Sort(keys, order)
                // the out-neighbour of x through incident position k (Start[x+1]: the threshold edge), or -1
                let outAt (x: int) (k: int) =
                    if k < s.Start.[x + 1] then
                        let e = s.Inc.[k]

                        if buf.[e * t + col] > 0.5 then (if s.P.[e] = x then s.Q.[e] else -1)
                        elif s.Q.[e] = x then s.P.[e]
                        else -1
                    elif x > s.N then
                        x - 1
                    else
                        -1

                for x in order do
                    let rx = localIdx.[x] * w
                    Array.Fill(union, 0UL)
                    Array.Fill(dup, 0UL)

                    for k in s.Start.[x] .. s.Start.[x + 1] do
                        let y = outAt x k

                        if y >= 0 then
                            let ly = localIdx.[y]
                            let ry = ly * w

                            for i in 0 .. w - 1 do
                                union.[i] <- union.[i] ||| reach.[ry + i]

                            let bit = 1UL <<< (ly % 64)
                            if reach.[rx + ly / 64] &&& bit <> 0UL then dup.[ly / 64] <- dup.[ly / 64] ||| bit
                            reach.[rx + ly / 64] <- reach.[rx + ly / 64] ||| bit

                    for i in 0 .. w - 1 do
                        reach.[rx + i] <- reach.[rx + i] ||| union.[i]
                    // an edge x→y is redundant iff y is reachable through another out-neighbour
                    for k in s.Start.[x] .. s.Start.[x + 1] - 1 do
                        let y = outAt x k

                        if y >= 0 then
                            let ly = localIdx.[y]
                            if (union.[ly / 64] ||| dup.[ly / 64]) &&& (1UL <<< (ly % 64)) <> 0UL then ok.[s.Inc.[k]] <- false

            ok

    /// Whether component c of configuration (buf, col, t) has a directed cycle (iterative DFS).
    member _.HasCycle(buf: float[], col: int, t: int, c: int) : bool =
        nextGen ()
        let grey, black = gen - 1, gen
        let mutable cycle = false
        let mutable vi = s.CompStart.[c]

        while not cycle && vi < s.CompStart.[c + 1] do
            let root = s.CompVerts.[vi]
            vi <- vi + 1

            if mark.[root] <> black then
                stack.Clear()
                mark.[root] <- grey
                stack.Push(struct (root, s.Start.[root]))

                while not cycle && stack.Count > 0 do
                    let struct (x, k) = stack.Pop()
                    // the next out-neighbour from incident position k (k = Start[x+1] is the threshold edge)
                    let mutable k = k
                    let mutable next = -1

                    while next < 0 && k <= s.Start.[x + 1] do
                        if k < s.Start.[x + 1] then
                            let e = s.Inc.[k]

                            if buf.[e * t + col] > 0.5 then (if s.P.[e] = x then next <- s.Q.[e])
                            elif s.Q.[e] = x then next <- s.P.[e]
                        elif x > s.N then
                            next <- x - 1

                        k <- k + 1

                    if next < 0 then
                        mark.[x] <- black
                    else
                        stack.Push(struct (x, k))

                        if mark.[next] = grey then
                            cycle <- true
                        elif mark.[next] <> black then
                            mark.[next] <- grey
                            stack.Push(struct (next, s.Start.[next]))

        cycle

    /// Whether dst is reachable from src in configuration (buf, col, t) without bit `skip`,
    /// visiting only vertices whose value is at least `floor` (a tie-free base's edges go downhill).
    member _.Reaches(buf: float[], col: int, t: int, src: int, dst: int, skip: int, vals: float32[], floor: float32) : bool =
        nextGen ()
        queue.Clear()
        mark.[src] <- gen
        queue.Enqueue src
        let mutable found = false

        while not found && queue.Count > 0 do
            let x = queue.Dequeue()
            let last = s.Start.[x + 1]
            let mutable k = s.Start.[x]

            while not found && k <= last do
                let mutable y = -1

                if k < last then
                    let e = s.Inc.[k]

                    if e <> skip then
                        if buf.[e * t + col] > 0.5 then (if s.P.[e] = x then y <- s.Q.[e])
                        elif s.Q.[e] = x then y <- s.P.[e]
                elif x > s.N then
                    y <- x - 1

                if y >= 0 then
                    if y = dst then
                        found <- true
                    elif mark.[y] <> gen && vals.[y] >= floor then
                        mark.[y] <- gen
                        queue.Enqueue y

                k <- k + 1

        found

    /// Is configuration (buf, col, t) — a realisable base with the distinct bits `flips` toggled —
    /// realisable? `tieFree`: the base is produced without ties by `vals` (then one flip in a
    /// component is checked by a pruned search for a path closing a cycle).
    member r.FlipsRealisable(buf: float[], col: int, t: int, flips: ResizeArray<int>, vals: float32[], tieFree: bool) : bool =
        r.FlipsRealisable(buf, col, t, flips, vals, tieFree, null)

    /// FlipsRealisable with the base's SingleFlipTable (or null) answering one flip per component.
    member r.FlipsRealisable(buf: float[], col: int, t: int, flips: ResizeArray<int>, vals: float32[], tieFree: bool, table: bool[]) : bool =
        if s.IsForest || flips.Count = 0 then
            true
        else
            let mutable ok = true

            for i in 0 .. flips.Count - 1 do
                let c = s.Comp.[s.P.[flips.[i]]]
                // each component once: at its first flip
                let mutable first = true
                let mutable inC = 0

                for j in 0 .. flips.Count - 1 do
                    if s.Comp.[s.P.[flips.[j]]] = c then
                        if j < i then first <- false
                        inC <- inC + 1

                if ok && first then
                    if tieFree && inC = 1 && not (isNull table) then
                        if not table.[flips.[i]] then ok <- false
                    elif tieFree && inC = 1 then
                        // the toggled bit's new edge u→w closes a cycle iff w reaches u in the rest
                        let e = flips.[i]
                        let pe, qe = s.P.[e], s.Q.[e]
                        let nowOne = buf.[e * t + col] > 0.5
                        let src, dst = if nowOne then qe, pe else pe, qe
                        if r.Reaches(buf, col, t, src, dst, e, vals, vals.[dst]) then ok <- false
                    elif r.HasCycle(buf, col, t, c) then
                        ok <- false

            ok

    /// Changes of bits if vertex x took value nv (given the current values and configuration).
    member private _.Changes(buf: float[], col: int, t: int, vals: float32[], x: int, nv: float32) =
        let mutable n = 0

        for k in s.Start.[x] .. s.Start.[x + 1] - 1 do
            let e = s.Inc.[k]
            let vp = if s.P.[e] = x then nv else vals.[s.P.[e]]
            let vq = if s.Q.[e] = x then nv else vals.[s.Q.[e]]
            if (vp > vq) <> (buf.[e * t + col] > 0.5) then n <- n + 1

        n

    /// Sets vertex x to value nv (logged for Undo) and rewrites its incident bits.
    member _.Move(buf: float[], col: int, t: int, vals: float32[], x: int, nv: float32) =
        undo.Push(struct (x, vals.[x]))
        vals.[x] <- nv

        for k in s.Start.[x] .. s.Start.[x + 1] - 1 do
            let e = s.Inc.[k]
            buf.[e * t + col] <- if vals.[s.P.[e]] > vals.[s.Q.[e]] then 1.0 else 0.0

    /// The score move that flips bit e with the fewest changed bits: one endpoint score moves just
    /// past the other endpoint (ties: the lower endpoint moves). Returns (vertex, new value), or
    /// (-1, 0) when no move flips it (an endpoint at ±∞).
    member internal r.FlipMove(buf: float[], col: int, t: int, vals: float32[], e: int) : struct (int * float32) =
        let pe, qe = s.P.[e], s.Q.[e]
        let one = buf.[e * t + col] > 0.5
        // P crosses Q, or Q crosses P
        let nvP = if one then MathF.BitDecrement vals.[qe] else MathF.BitIncrement vals.[qe]
        let nvQ = if one then MathF.BitIncrement vals.[pe] else MathF.BitDecrement vals.[pe]
        let flipsWith x nv = x < s.N && Single.IsFinite nv && ((if x = pe then nv else vals.[pe]) > (if x = qe then nv else vals.[qe])) <> one
        let okP, okQ = flipsWith pe nvP, flipsWith qe nvQ

        if okP && okQ then
            let cP = r.Changes(buf, col, t, vals, pe, nvP)
            let cQ = r.Changes(buf, col, t, vals, qe, nvQ)
            let lowerFirst = if one then struct (qe, nvQ) else struct (pe, nvP)

            if cP < cQ then struct (pe, nvP)
            elif cQ < cP then struct (qe, nvQ)
            else lowerFirst
        elif okP then
            struct (pe, nvP)
        elif okQ then
            struct (qe, nvQ)
        else
            struct (-1, 0.0f)

    /// Undo every Move since the last Undo (restores vals).
    member _.Undo(vals: float32[]) =
        while undo.Count > 0 do
            let struct (x, v) = undo.Pop()
            vals.[x] <- v

    /// Forget the move log (keep the moved values).
    member _.Commit() = undo.Clear()

    /// Column col of buf holds a realisable base configuration (realised by vals); toggles the
    /// bits `flips` if the result is realisable, otherwise flips them by score moves from vals
    /// (each not yet flipped bit in turn), which is realisable by construction. vals is restored.
    /// Returns true when score moves were needed.
    member r.Perturb(buf: float[], col: int, t: int, flips: ResizeArray<int>, vals: float32[], tieFree: bool, table: bool[]) : bool =
        for e in flips do
            buf.[e * t + col] <- 1.0 - buf.[e * t + col]

        if r.FlipsRealisable(buf, col, t, flips, vals, tieFree, table) then
            false
        else
            for e in flips do
                buf.[e * t + col] <- 1.0 - buf.[e * t + col]

            let baseBits = flips.ConvertAll(fun e -> buf.[e * t + col])
            undo.Clear()

            for i in 0 .. flips.Count - 1 do
                let e = flips.[i]

                if buf.[e * t + col] = baseBits.[i] then
                    let struct (x, nv) = r.FlipMove(buf, col, t, vals, e)
                    if x >= 0 then r.Move(buf, col, t, vals, x, nv)

            r.Undo vals
            true

    /// Distinct bits of a list (in first-occurrence order).
    member _.Distinct(bits: seq<int>) : ResizeArray<int> =
        flipGen <- flipGen + 1
        let out = ResizeArray<int>()

        for e in bits do
            if flipStamp.[e] <> flipGen then
                flipStamp.[e] <- flipGen
                out.Add e

        out
