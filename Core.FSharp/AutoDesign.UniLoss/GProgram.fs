namespace AutoDesign.UniLoss

open System
open TorchSharp
open AutoDesign.Nn

/// One batched step of the compiled g: the nodes Ids of one (level, kind) group, with views into
/// the program's two bulk index/weight tensors.
type internal LevelOp =
    {
        Kind: NodeKind
        Ids: torch.Tensor
        M: int64
        /// n-ary: child rows and segment (position in Ids) per edge; binary/unary: A (and B) rows
        A: torch.Tensor
        B: torch.Tensor
        /// Affine: weight per edge; And/Or: unused
        W: torch.Tensor
        /// Affine: bias per node; And: child count − ½ per node
        Bias: torch.Tensor
    }

/// f and g of a Refactored compiled to tensor programs on a device (for evaluating g on many
/// configurations at once on a device; UniLoss itself evaluates g on the host, GEval).
/// f: c = s_ext[K1] - s_ext[K2] - Offset (s_ext = flattened scores with a trailing 0 that a
/// threshold comparison reads; one index_select each, differentiable).
/// g: nodes are levelized (level = 1 + max level of the children; bits and constants are level 0)
/// and each (level, kind) group runs as a few tensor ops on all configurations at once, on a
/// node-major value table V [nodes, t] (row = node id). All index and weight arrays are built in
/// one pass into two flat host arrays and become two tensors; groups are views into them.
[<Sealed>]
type GProgram(r: Refactored, device: torch.Device) =
    let l = r.L
    let nodes = r.Nodes
    let nn = nodes.Length
    let detach (t: torch.Tensor) = t.DetachFromDisposeScope()

    // ---- f
    let needExt = r.Comparisons |> Array.exists (fun c -> c.K1 < 0 || c.K2 < 0)

    // the score index of each comparison's side `side` (a threshold side reads the extra zero score at NumScores)
    let scoreIndex (side: Comparison -> int) =
        torch.tensor (
            r.Comparisons |> Array.map (fun c -> if side c >= 0 then int64 (side c) else int64 r.NumScores),
            dtype = torch.ScalarType.Int64,
            device = device
        )
        |> detach

    let k1 = scoreIndex (fun c -> c.K1)
    let k2 = scoreIndex (fun c -> c.K2)

    let hasOffset = r.Comparisons |> Array.exists (fun c -> c.Offset <> 0.0)

    let offset =
        torch.tensor (r.Comparisons |> Array.map (fun c -> float32 c.Offset), dtype = torch.ScalarType.Float32, device = device)
        |> detach

    // ---- g: levels, groups sorted by (level, kind, id)
    let level = Array.zeroCreate<int> nn
    let isBinary (k: NodeKind) = k = NodeKind.Mul || k = NodeKind.Div || k = NodeKind.Pow || k = NodeKind.Min || k = NodeKind.Max
    let isNary (k: NodeKind) = k = NodeKind.Affine || k = NodeKind.And || k = NodeKind.Or

    do
        for id in l .. nn - 1 do
            let n = nodes.[id]

            level.[id] <-
                if n.Kind = NodeKind.Const || n.Kind = NodeKind.Leaf then
                    0
                elif isNary n.Kind then
                    let mutable m = 0

                    for e in n.A .. n.A + n.B - 1 do
                        m <- max m level.[r.Kids.[e]]

                    m + 1
                elif isBinary n.Kind then
                    1 + max level.[n.A] level.[n.B]
                else
                    1 + level.[n.A]

    let computed =
        [| for id in l .. nn - 1 do
               if nodes.[id].Kind <> NodeKind.Const then
                   yield (int64 level.[id] <<< 40) ||| (int64 nodes.[id].Kind <<< 32) ||| int64 id |]

    do Array.sortInPlace computed

    let constIds =
        [| for id in l .. nn - 1 do
               if nodes.[id].Kind = NodeKind.Const then yield id |]
    // group boundaries
    let groups =
        let out = ResizeArray<int * int>()
        let mutable s = 0

        for i in 1 .. computed.Length do
            if i = computed.Length || (computed.[i] >>> 32) <> (computed.[s] >>> 32) then
                out.Add((s, i))
                s <- i

        out.ToArray()

    let nodeOf (i: int) = int (computed.[i] &&& 0xffffffffL)
    // one flat int64 array and one float32 array for every group's indices and weights
    let longs = ResizeArray<int64>()
    let floats = ResizeArray<float32>()

    let spans =
        groups
        |> Array.map (fun (s, e) ->
            let kind = nodes.[nodeOf s].Kind
            let idsAt = longs.Count

            for i in s .. e - 1 do
                longs.Add(int64 (nodeOf i))

            let aAt = longs.Count

            let bAt, wAt, biasAt =
                if isNary kind then
                    let wAt = floats.Count

                    for i in s .. e - 1 do
                        let n = nodes.[nodeOf i]

                        for k in n.A .. n.A + n.B - 1 do
                            longs.Add(int64 r.Kids.[k])
                            floats.Add(float32 r.Weights.[k])

                    let bAt = longs.Count

                    for i in s .. e - 1 do
                        let n = nodes.[nodeOf i]

                        for _ in 1 .. n.B do
                            longs.Add(int64 (i - s))

                    let biasAt = floats.Count

                    for i in s .. e - 1 do
                        let n = nodes.[nodeOf i]
                        floats.Add(if kind = NodeKind.And then float32 n.B - 0.5f else float32 n.Value)

                    bAt, wAt, biasAt
                else
                    for i in s .. e - 1 do
                        longs.Add(int64 nodes.[nodeOf i].A)

                    let bAt = longs.Count

                    if isBinary kind then
                        for i in s .. e - 1 do
                            longs.Add(int64 nodes.[nodeOf i].B)

                    bAt, 0, 0

            kind, (s, e), idsAt, aAt, bAt, wAt, biasAt)

    let longT = torch.tensor (longs.ToArray(), dtype = torch.ScalarType.Int64, device = device) |> detach
    let floatT = torch.tensor (floats.ToArray(), dtype = torch.ScalarType.Float32, device = device) |> detach
    let constIdT = torch.tensor (constIds |> Array.map int64, dtype = torch.ScalarType.Int64, device = device) |> detach

    let constValT =
        torch.tensor (constIds |> Array.map (fun id -> float32 nodes.[id].Value), dtype = torch.ScalarType.Float32, device = device)
        |> detach

    let ops =
        spans
        |> Array.map (fun (kind, (s, e), idsAt, aAt, bAt, wAt, biasAt) ->
            let m = int64 (e - s)
            let view (t: torch.Tensor) (at: int) (len: int64) = t.narrow (0L, int64 at, len) |> detach
            let edges = if isNary kind then (bAt - aAt) else 0

            { Kind = kind
              Ids = view longT idsAt m
              M = m
              A = view longT aAt (if isNary kind then int64 edges else m)
              B =
                (if isNary kind then view longT bAt (int64 edges)
                 elif isBinary kind then view longT bAt m
                 else null)
              W = (if kind = NodeKind.Affine then view floatT wAt (int64 edges) else null)
              Bias = (if kind = NodeKind.Affine || kind = NodeKind.And then view floatT biasAt m else null) })

    // the flattened scores, with a trailing 0 that threshold comparisons read
    let flatExt (scores: torch.Tensor) =
        let flat = scores.reshape (-1L)
        flat, (if needExt then torch.cat ([| flat; flat.new_zeros (1L) |], 0L) else flat)

    member _.Refactored = r
    member _.L = l
    /// Number of (level, kind) groups: the compiled g runs a few tensor ops per group.
    member _.Groups = ops.Length
    member _.Depth = if computed.Length = 0 then 0 else int (computed.[computed.Length - 1] >>> 40)

    /// f: the l comparisons c from scores of the traced shape (any float dtype; differentiable).
    member _.Comparisons(scores: torch.Tensor) : torch.Tensor =
        let _, ext = flatExt scores
        let c = ext.index_select (0L, k1) - ext.index_select (0L, k2)
        if hasOffset then c - offset.to_type (c.dtype) else c

    /// f on sigmoid-bounded scores: σ(x1) − σ(x2 + Offset), in (−1, 1). σ is strictly increasing,
    /// so its sign equals the sign of Comparisons(scores) wherever σ does not round two different
    /// values to one float (use Comparisons for the exact configuration).
    member _.BoundedComparisons(scores: torch.Tensor) : torch.Tensor =
        let _, ext = flatExt scores
        let b = ext.index_select (0L, k2)
        let b = if hasOffset then b.Plus(offset.to_type (b.dtype)) else b
        torch.sigmoid (ext.index_select (0L, k1)) - torch.sigmoid (b)

    /// g on a batch of configurations bits [t, l] (0/1 floats) → [t]. Not differentiable.
    member _.Eval(bits: torch.Tensor) : torch.Tensor =
        use _ng = torch.no_grad ()
        let t = bits.shape.[0]
        use scope = torch.NewDisposeScope()
        let f32 = torch.ScalarType.Float32
        let v = torch.zeros ([| int64 nn; t |], dtype = f32, device = bits.device)
        if l > 0 then v.narrow(0L, 0L, int64 l).copy_(bits.t ()) |> ignore

        if constIds.Length > 0 then
            v.index_copy_ (0L, constIdT, constValT.unsqueeze(1L).expand(int64 constIds.Length, t)) |> ignore

        use one = (1.0f).ToScalar()
        let finiteOr0 (x: torch.Tensor) = torch.where (torch.isfinite (x), x, torch.zeros_like (x))

        for op in ops do
            let segSum (w: torch.Tensor) =
                let src = v.index_select (0L, op.A)
                let src = if isNull w then src else src * w.unsqueeze (1L)
                torch.zeros([| op.M; t |], dtype = f32, device = bits.device).index_add_(0L, op.B, src, one)

            let a () = v.index_select (0L, op.A)
            let b () = v.index_select (0L, op.B)

            let out =
                match op.Kind with
                | NodeKind.Affine -> (segSum op.W).Plus(op.Bias.unsqueeze (1L))
                | NodeKind.And -> (segSum null).gt(op.Bias.unsqueeze (1L)).to_type(f32)
                | NodeKind.Or -> (segSum null).Gt(0.5).to_type(f32)
                | NodeKind.Mul -> a () * b ()
                | NodeKind.Div ->
                    let num, den = a (), b ()
                    let zero = den.Eq(0.0)
                    finiteOr0 (torch.where (zero, torch.zeros_like (num), num / torch.where (zero, torch.ones_like (den), den)))
                | NodeKind.Pos -> (a ()).Gt(0.0).to_type(f32)
                | NodeKind.Sqrt -> (a ()).ClampMin(0.0).sqrt()
                | NodeKind.Log ->
                    let x = a ()
                    let pos = x.Gt(0.0)
                    torch.where (pos, torch.where(pos, x, torch.ones_like (x)).log(), torch.zeros_like (x))
                | NodeKind.Exp -> finiteOr0 ((a ()).exp())
                | NodeKind.Abs -> (a ()).abs()
                | NodeKind.Pow -> finiteOr0 (torch.pow (a (), b ()))
                | NodeKind.Min -> torch.minimum (a (), b ())
                | NodeKind.Max -> torch.maximum (a (), b ())
                | k -> failwithf "unexpected node kind %A" k

            v.index_copy_ (0L, op.Ids, out) |> ignore

        v.select(0L, int64 r.Root).clone().MoveToOuterDisposeScope()

    interface IDisposable with
        member _.Dispose() =
            for op in ops do
                for t in [ op.Ids; op.A; op.B; op.W; op.Bias ] do
                    if not (isNull t) then t.Dispose()

            for t in [ k1; k2; offset; longT; floatT; constIdT; constValT ] do
                t.Dispose()
