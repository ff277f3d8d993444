namespace AutoDesign.UniLoss

open System
open System.Numerics

/// g on many configurations at once, on the host. The value table is node-major: row `id` of
/// v (v.[id * t .. id * t + t - 1]) holds node id's value in each of the t configurations, so rows
/// 0 .. l-1 are the configurations' bits (written by the caller) and every other row is computed
/// in one pass over the nodes in id order, each row an AXPY-style loop over t contiguous values
/// (System.Numerics.Vector lanes). No allocation per node or per configuration.
module GEval =
    /// dst += w · src over t values (rows of v at offsets dst and src).
    let inline private axpy (v: float[]) (dst: int) (src: int) (w: float) (t: int) =
        let mutable a = 0
        let lanes = Vector<float>.Count

        if Vector.IsHardwareAccelerated && t >= lanes then
            let wv = Vector<float>(w)

            while a + lanes <= t do
                (Vector<float>(v, dst + a) + wv * Vector<float>(v, src + a)).CopyTo(v, dst + a)
                a <- a + lanes

        while a < t do
            v.[dst + a] <- v.[dst + a] + w * v.[src + a]
            a <- a + 1

    /// Rows needed for a refactorization: one per node.
    [<CompiledName("Rows")>]
    let rows (r: Refactored) = r.Nodes.Length

    /// Computes every non-bit row of v (length ≥ rows r · t) for t configurations whose bits are in
    /// rows 0 .. l-1. The value of configuration a is then v.[r.Root * t + a].
    [<CompiledName("Run")>]
    let run (r: Refactored) (v: float[]) (t: int) =
        let nodes = r.Nodes
        let kids = r.Kids
        let ws = r.Weights
        if v.Length < nodes.Length * t then invalidArg "v" (sprintf "g needs %d values, got %d" (nodes.Length * t) v.Length)

        for id in r.L .. nodes.Length - 1 do
            let n = nodes.[id]
            let o = id * t

            match n.Kind with
            | NodeKind.Const -> Array.Fill(v, n.Value, o, t)
            | NodeKind.Leaf -> ()
            | NodeKind.Affine ->
                Array.Fill(v, n.Value, o, t)

                for e in n.A .. n.A + n.B - 1 do
                    axpy v o (kids.[e] * t) ws.[e] t
            | NodeKind.And
            | NodeKind.Or ->
                Array.Fill(v, 0.0, o, t)

                for e in n.A .. n.A + n.B - 1 do
                    axpy v o (kids.[e] * t) 1.0 t
                // children are exactly 0/1, so the sum counts the true ones
                let need = if n.Kind = NodeKind.And then float n.B - 0.5 else 0.5

                for a in o .. o + t - 1 do
                    v.[a] <- if v.[a] > need then 1.0 else 0.0
            | NodeKind.Mul ->
                let pa, pb = n.A * t, n.B * t

                for a in 0 .. t - 1 do
                    v.[o + a] <- v.[pa + a] * v.[pb + a]
            | NodeKind.Pos ->
                let pa = n.A * t

                for a in 0 .. t - 1 do
                    v.[o + a] <- if v.[pa + a] > 0.0 then 1.0 else 0.0
            | NodeKind.Div
            | NodeKind.Pow
            | NodeKind.Min
            | NodeKind.Max ->
                let pa, pb = n.A * t, n.B * t

                for a in 0 .. t - 1 do
                    v.[o + a] <- SafeMath.apply n.Kind v.[pa + a] v.[pb + a]
            | k ->
                let pa = n.A * t

                for a in 0 .. t - 1 do
                    v.[o + a] <- SafeMath.apply k v.[pa + a] 0.0

    /// Bounds [lo, hi] of g over ALL configurations by interval arithmetic (bits in [0, 1], each
    /// node's interval from its children's). Sound but not always tight: a ratio of counts gets the
    /// ratio of their extremes; an unbounded case gives ±∞.
    let internal bounds (r: Refactored) : float * float =
        let n = r.Nodes.Length
        let lo = Array.zeroCreate<float> n
        let hi = Array.zeroCreate<float> n
        let inf = Double.PositiveInfinity

        let corners (f: float -> float -> float) (al: float) (ah: float) (bl: float) (bh: float) =
            let xs = [| f al bl; f al bh; f ah bl; f ah bh |]
            if xs |> Array.exists Double.IsNaN then -inf, inf else Array.min xs, Array.max xs

        for id in 0 .. n - 1 do
            let node = r.Nodes.[id]

            let l, h =
                match node.Kind with
                | NodeKind.Leaf
                | NodeKind.And
                | NodeKind.Or
                | NodeKind.Pos -> 0.0, 1.0
                | NodeKind.Const -> node.Value, node.Value
                | NodeKind.Affine ->
                    let mutable a, b = node.Value, node.Value

                    for e in node.A .. node.A + node.B - 1 do
                        let w = r.Weights.[e]
                        let k = r.Kids.[e]

                        if w >= 0.0 then
                            (a <- a + w * lo.[k]
                             b <- b + w * hi.[k])
                        else
                            (a <- a + w * hi.[k]
                             b <- b + w * lo.[k])

                    a, b
                | NodeKind.Mul -> corners (*) lo.[node.A] hi.[node.A] lo.[node.B] hi.[node.B]
                | NodeKind.Div ->
                    let bl, bh = lo.[node.B], hi.[node.B]

                    if bl > 0.0 || bh < 0.0 then
                        let ql, qh = corners (/) lo.[node.A] hi.[node.A] bl bh
                        // x / 0 = 0 never happens here; the quotient's interval is exact on the corners
                        ql, qh
                    else
                        -inf, inf
                | NodeKind.Sqrt -> SafeMath.sqrt lo.[node.A], SafeMath.sqrt hi.[node.A]
                | NodeKind.Exp -> Math.Exp lo.[node.A], Math.Exp hi.[node.A]
                | NodeKind.Log -> (if lo.[node.A] > 0.0 then Math.Log lo.[node.A] else -inf), max 0.0 (SafeMath.log hi.[node.A])
                | NodeKind.Abs ->
                    let a, b = lo.[node.A], hi.[node.A]
                    (if a <= 0.0 && b >= 0.0 then 0.0 else min (abs a) (abs b)), max (abs a) (abs b)
                | NodeKind.Min -> min lo.[node.A] lo.[node.B], min hi.[node.A] hi.[node.B]
                | NodeKind.Max -> max lo.[node.A] lo.[node.B], max hi.[node.A] hi.[node.B]
                | _ -> -inf, inf

            lo.[id] <- (if Double.IsNaN l then -inf else l)
            hi.[id] <- (if Double.IsNaN h then inf else h)

        lo.[r.Root], hi.[r.Root]

    /// g on configurations given as rows (each float32[l]): a convenience for a few configurations.
    [<CompiledName("Values")>]
    let values (r: Refactored) (configs: float32[][]) : float[] =
        let t = configs.Length

        if t = 0 then
            [||]
        else
            let v = Array.zeroCreate<float>(rows r * t)

            for a in 0 .. t - 1 do
                let c = configs.[a]
                if c.Length <> r.L then invalidArg "configs" (sprintf "g expects %d bits, got %d" r.L c.Length)

                for b in 0 .. r.L - 1 do
                    v.[b * t + a] <- float c.[b]

            run r v t
            Array.init t (fun a -> v.[r.Root * t + a])

/// Inverse distance weighting (thesis Eq. 3.10) on the host, with its gradient, for 0/1 anchors
/// stored bit-major (anchor a's bit j at a.[j * stride + a]).
module HostIdw =
    /// g̃(u) = Σ_a w_a v_a / Σ_a w_a, w_a = 1 / d(u, anchor a)^power (d Euclidean), over anchors
    /// 0 .. t-1; computed as softmax(−(power/2)·ln d²)·v. Writes ∂g̃/∂u into grad (length l) and
    /// returns g̃, clamped to [min v, max v] against rounding. An anchor at distance 0 gives its
    /// value and a zero gradient (the first such anchor).
    [<CompiledName("Interpolate")>]
    let interpolate (u: float[]) (anchors: float[]) (stride: int) (t: int) (v: float[]) (power: float) (grad: float[]) : float =
        let l = u.Length
        let d2 = Array.zeroCreate<float> t
        let lanes = Vector<float>.Count
        let vec = Vector.IsHardwareAccelerated && t >= lanes

        for j in 0 .. l - 1 do
            let uj = u.[j]
            let o = j * stride
            let mutable a = 0

            if vec then
                let uv = Vector<float>(uj)

                while a + lanes <= t do
                    let d = uv - Vector<float>(anchors, o + a)
                    (Vector<float>(d2, a) + d * d).CopyTo(d2, a)
                    a <- a + lanes

            while a < t do
                let d = uj - anchors.[o + a]
                d2.[a] <- d2.[a] + d * d
                a <- a + 1

        Array.Fill(grad, 0.0, 0, l)

        match Array.tryFindIndex (fun x -> x = 0.0) d2 with
        | Some a -> v.[a]
        | None ->
            let logW = d2 |> Array.map (fun x -> -(power / 2.0) * Math.Log x)
            let m = Array.max logW
            let w = logW |> Array.map (fun x -> Math.Exp(x - m))
            let sw = Array.sum w
            let mutable g = 0.0

            for a in 0 .. t - 1 do
                w.[a] <- w.[a] / sw
                g <- g + w.[a] * v.[a]
            // ∂g̃/∂u_j = −power · Σ_a β_a (u_j − A_ja),  β_a = w_a (v_a − g̃) / d²_a
            let beta = Array.init t (fun a -> w.[a] * (v.[a] - g) / d2.[a])
            let sb = Array.sum beta

            for j in 0 .. l - 1 do
                let o = j * stride
                let mutable a = 0
                let mutable acc = 0.0

                if vec then
                    let mutable accV = Vector<float>.Zero

                    while a + lanes <= t do
                        accV <- accV + Vector<float>(beta, a) * Vector<float>(anchors, o + a)
                        a <- a + lanes

                    acc <- Vector.Dot(accV, Vector<float>.One)

                while a < t do
                    acc <- acc + beta.[a] * anchors.[o + a]
                    a <- a + 1

                grad.[j] <- -power * (u.[j] * sb - acc)

            let lo = Array.min (Array.sub v 0 t)
            let hi = Array.max (Array.sub v 0 t)
            max lo (min hi g)
