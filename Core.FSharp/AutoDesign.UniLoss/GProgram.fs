namespace AutoDesign.UniLoss

open System
open System.Collections.Generic
open TorchSharp
open AutoDesign.Nn
open AutoDesign.Runs

/// One batched step of the compiled g: computes the nodes of one (level, kind) group into the
/// contiguous value columns [Start, Start + M) of V [t, columns].
type internal LevelOp =
    | LAffine of start: int * m: int * bias: torch.Tensor * childCols: torch.Tensor * seg: torch.Tensor * w: torch.Tensor
    | LAnd of start: int * m: int * childCols: torch.Tensor * seg: torch.Tensor * need: torch.Tensor
    | LOr of start: int * m: int * childCols: torch.Tensor * seg: torch.Tensor
    | LMul of start: int * m: int * a: torch.Tensor * b: torch.Tensor
    | LDiv of start: int * m: int * a: torch.Tensor * b: torch.Tensor
    | LPos of start: int * m: int * x: torch.Tensor

/// f and g of a Refactored compiled to tensor programs on a device.
/// f: c = s_flat[K1] - s_ext[K2] - Offset (one index_select each, differentiable).
/// g: the DAG is levelized (level = 1 + max level of the children; bits are level 0) and each
/// (level, op kind) group runs as a handful of tensor ops on all anchors at once: gather the
/// children's columns (index_select), segment-sum them into the group's nodes (index_add_),
/// then threshold / multiply / divide. The op count is O(depth × kinds), not O(nodes).
[<Sealed>]
type GProgram(r: Refactored, device: torch.Device) =
    let l = r.L
    let nodes = r.Nodes
    // detached from any dispose scope: the program outlives the caller's training-step scope
    let longT (xs: int[]) = torch.tensor(Array.map int64 xs, dtype = torch.ScalarType.Int64, device = device).DetachFromDisposeScope()
    let floatT (xs: float[]) = torch.tensor(Array.map float32 xs, dtype = torch.ScalarType.Float32, device = device).DetachFromDisposeScope()

    // ---- f
    let k1 = longT (r.Comparisons |> Array.map (fun c -> c.K1))
    let hasConst = r.Comparisons |> Array.exists (fun c -> c.K2 < 0)
    let k2 = longT (r.Comparisons |> Array.map (fun c -> if c.K2 >= 0 then c.K2 else r.NumScores))
    let hasOffset = r.Comparisons |> Array.exists (fun c -> c.Offset <> 0.0)
    let offset = floatT (r.Comparisons |> Array.map (fun c -> c.Offset))

    // ---- g: levels and columns
    let level = Array.zeroCreate<int> nodes.Length
    let kindOf op =
        match op with
        | Leaf _ | Const _ -> 0
        | Affine _ -> 1
        | And _ -> 2
        | Or _ -> 3
        | Mul _ -> 4
        | Div _ -> 5
        | Pos _ -> 6
    do
        for id in 0 .. nodes.Length - 1 do
            let kids =
                match nodes.[id] with
                | Leaf _ | Const _ -> [||]
                | Affine(_, _, cs) | And cs | Or cs -> cs
                | Mul(a, b) | Div(a, b) -> [| a; b |]
                | Pos x -> [| x |]
            level.[id] <- (match nodes.[id] with Leaf _ | Const _ -> 0 | _ -> 1 + (kids |> Array.fold (fun m c -> max m level.[c]) 0))
    let computed =
        [| 0 .. nodes.Length - 1 |]
        |> Array.filter (fun id -> level.[id] > 0)
        |> Array.sortBy (fun id -> level.[id], kindOf nodes.[id], id)
    let col = Array.create nodes.Length -1
    do
        for id in 0 .. nodes.Length - 1 do
            match nodes.[id] with
            | Leaf b -> col.[id] <- b
            | _ -> ()
        computed |> Array.iteri (fun i id -> col.[id] <- l + i)
    let columns = l + computed.Length
    let rootConst = match nodes.[r.Root] with Const v -> Some v | _ -> None
    let ops =
        computed
        |> Array.groupBy (fun id -> level.[id], kindOf nodes.[id])
        |> Array.map (fun (_, ids) ->
            let start = col.[ids.[0]]
            let m = ids.Length
            let edges (kids: int -> int[]) =
                let cc = ResizeArray<int>()
                let seg = ResizeArray<int>()
                ids |> Array.iteri (fun j id -> for c in kids id do cc.Add col.[c]; seg.Add j)
                cc.ToArray(), seg.ToArray()
            let pairCols (pick: NodeOp -> int * int) =
                let ps = ids |> Array.map (fun id -> pick nodes.[id])
                longT (ps |> Array.map (fun (a, _) -> col.[a])), longT (ps |> Array.map (fun (_, b) -> col.[b]))
            match nodes.[ids.[0]] with
            | Affine _ ->
                let cc = ResizeArray<int>()
                let seg = ResizeArray<int>()
                let w = ResizeArray<float>()
                let bias =
                    ids |> Array.mapi (fun j id ->
                        match nodes.[id] with
                        | Affine(b, ws, cs) ->
                            for e in 0 .. cs.Length - 1 do cc.Add col.[cs.[e]]; seg.Add j; w.Add ws.[e]
                            b
                        | _ -> failwith "unreachable")
                LAffine(start, m, floatT bias, longT (cc.ToArray()), longT (seg.ToArray()), floatT (w.ToArray()))
            | And _ ->
                let cc, seg = edges (fun id -> match nodes.[id] with And cs -> cs | _ -> [||])
                let need = ids |> Array.map (fun id -> match nodes.[id] with And cs -> float cs.Length - 0.5 | _ -> 0.0)
                LAnd(start, m, longT cc, longT seg, floatT need)
            | Or _ ->
                let cc, seg = edges (fun id -> match nodes.[id] with Or cs -> cs | _ -> [||])
                LOr(start, m, longT cc, longT seg)
            | Mul _ -> let a, b = pairCols (function Mul(a, b) -> a, b | _ -> 0, 0) in LMul(start, m, a, b)
            | Div _ -> let a, b = pairCols (function Div(a, b) -> a, b | _ -> 0, 0) in LDiv(start, m, a, b)
            | Pos _ -> let a, _ = pairCols (function Pos x -> x, x | _ -> 0, 0) in LPos(start, m, a)
            | _ -> failwith "unreachable")

    // the flattened scores, and the same with a trailing 0 that constant comparisons read as K2
    let flatExt (scores: torch.Tensor) =
        let flat = scores.reshape(-1L)
        flat, (if hasConst then torch.cat([| flat; flat.new_zeros(1L) |], 0L) else flat)

    member _.Refactored = r
    member _.L = l
    /// Number of (level, kind) groups: the compiled g runs a few tensor ops per group.
    member _.Groups = ops.Length
    member _.Depth = if computed.Length = 0 then 0 else level.[computed.[computed.Length - 1]]

    /// f: the l comparisons c from scores of the traced shape (any float dtype; differentiable).
    member _.Comparisons(scores: torch.Tensor) : torch.Tensor =
        let flat, ext = flatExt scores
        let c = flat.index_select(0L, k1) - ext.index_select(0L, k2)
        if hasOffset then c - offset.to_type(c.dtype) else c

    /// f on sigmoid-bounded scores: σ(s[K1]) − σ(s_ext[K2] + Offset), in (−1, 1). σ is strictly
    /// increasing, so its sign equals the sign of Comparisons(scores) wherever σ does not round two
    /// different values to one float (use Comparisons for the exact configuration).
    member _.BoundedComparisons(scores: torch.Tensor) : torch.Tensor =
        let flat, ext = flatExt scores
        let b = ext.index_select(0L, k2)
        let b = if hasOffset then b.Plus(offset.to_type(b.dtype)) else b
        torch.sigmoid(flat.index_select(0L, k1)) - torch.sigmoid(b)

    /// g on a batch of configurations bits [t, l] (0/1 floats) → [t]. Not differentiable.
    /// The value table is kept node-major, V [columns, t]: gathering and segment-summing whole
    /// rows of t anchors touches contiguous memory (about twice as fast as anchor-major on a CPU).
    member _.Eval(bits: torch.Tensor) : torch.Tensor =
        use _ng = torch.no_grad()
        let t = bits.shape.[0]
        match rootConst with
        | Some v -> ScalarOps.Full([| t |], v, torch.ScalarType.Float32, bits.device)
        | None ->
            use scope = torch.NewDisposeScope()
            let v = torch.empty([| int64 columns; t |], dtype = torch.ScalarType.Float32, device = bits.device)
            if l > 0 then v.narrow(0L, 0L, int64 l).copy_(bits.t()) |> ignore
            use one = (1.0f).ToScalar()
            let segSum (m: int) (cc: torch.Tensor) (seg: torch.Tensor) (w: torch.Tensor option) =
                let src = v.index_select(0L, cc)
                let src = match w with Some w -> src * w.unsqueeze(1L) | None -> src
                torch.zeros([| int64 m; t |], dtype = torch.ScalarType.Float32, device = bits.device).index_add_(0L, seg, src, one)
            for op in ops do
                let start, m, out =
                    match op with
                    | LAffine(s, m, bias, cc, seg, w) -> s, m, (segSum m cc seg (Some w)).Plus(bias.unsqueeze(1L))
                    | LAnd(s, m, cc, seg, need) -> s, m, (segSum m cc seg None).gt(need.unsqueeze(1L)).to_type(torch.ScalarType.Float32)
                    | LOr(s, m, cc, seg) -> s, m, (segSum m cc seg None).Gt(0.5).to_type(torch.ScalarType.Float32)
                    | LMul(s, m, a, b) -> s, m, v.index_select(0L, a) * v.index_select(0L, b)
                    | LDiv(s, m, a, b) ->
                        let num = v.index_select(0L, a)
                        let den = v.index_select(0L, b)
                        let zero = den.Eq(0.0)
                        s, m, torch.where(zero, torch.zeros_like(num), num / torch.where(zero, torch.ones_like(den), den))
                    | LPos(s, m, x) -> s, m, v.index_select(0L, x).Gt(0.0).to_type(torch.ScalarType.Float32)
                v.narrow(0L, int64 start, int64 m).copy_(out) |> ignore
            v.select(0L, int64 col.[r.Root]).clone().MoveToOuterDisposeScope()

    interface IDisposable with
        member _.Dispose() =
            for t in [ k1; k2; offset ] do t.Dispose()
            for op in ops do
                match op with
                | LAffine(_, _, a, b, c, d) -> a.Dispose(); b.Dispose(); c.Dispose(); d.Dispose()
                | LAnd(_, _, a, b, c) -> a.Dispose(); b.Dispose(); c.Dispose()
                | LOr(_, _, a, b) | LMul(_, _, a, b) | LDiv(_, _, a, b) -> a.Dispose(); b.Dispose()
                | LPos(_, _, a) -> a.Dispose()
