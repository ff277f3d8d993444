namespace AutoDesign.UniLoss

open System
open System.Collections.Generic

/// One comparison of the refactorization f: c = x1 - x2 - Offset, where x1 = s[K1] (or 0 when
/// K1 = -1) and x2 = s[K2] (or 0 when K2 = -1), s the FLATTENED (row-major) score tensor. A
/// comparison of two scores has Offset 0; a score against a threshold θ is [s - θ > 0] (K2 = -1,
/// Offset θ) or [θ - s > 0] (K1 = -1, Offset -θ).
[<Struct; CustomEquality; NoComparison>]
type Comparison =
    { K1: int
      K2: int
      Offset: float }

    override c.Equals(o) =
        match o with
        | :? Comparison as d -> c.K1 = d.K1 && c.K2 = d.K2 && c.Offset = d.Offset
        | _ -> false

    override c.GetHashCode() = HashCode.Combine(c.K1, c.K2, c.Offset)

    interface IEquatable<Comparison> with
        member c.Equals(d: Comparison) = c.K1 = d.K1 && c.K2 = d.K2 && c.Offset = d.Offset

/// Operation of a node of g.
type NodeKind =
    /// bit A (0/1)
    | Leaf = 0
    /// the constant Value
    | Const = 1
    /// Value + Σ Weights[e]·x[Kids[e]] over the B edges starting at A
    | Affine = 2
    /// 1 iff every child (B edges from A) is 1
    | And = 3
    /// 1 iff some child (B edges from A) is 1
    | Or = 4
    /// x[A]·x[B]
    | Mul = 5
    /// x[A] / x[B], 0 when x[B] = 0
    | Div = 6
    /// [x[A] > 0]
    | Pos = 7
    /// √x[A], 0 for x[A] ≤ 0
    | Sqrt = 8
    /// ln x[A], 0 for x[A] ≤ 0
    | Log = 9
    /// e^x[A], 0 where it overflows
    | Exp = 10
    /// |x[A]|
    | Abs = 11
    /// x[A]^x[B], 0 where undefined or infinite
    | Pow = 12
    /// min(x[A], x[B])
    | Min = 13
    /// max(x[A], x[B])
    | Max = 14

/// One node of g. Children always have smaller ids (ids are topological); n-ary nodes (Affine,
/// And, Or) own the edge range [A, A + B) of the graph's Kids (and Weights for Affine).
[<Struct>]
type Node = { Kind: NodeKind; A: int; B: int; Value: float }

/// Limits that bound the memory of a trace and of UniLoss's value table. Each is checked before the memory
/// it bounds is allocated (a trace stops at the limit; the table is sized before it is made) and an
/// exceeded limit is a UserError naming it. Raise them on a machine with more memory.
[<Sealed>]
type Limits private () =
    /// Most distinct comparisons (bits) one trace may hold: 2^21, about 0.5 GB of trace. Every experiment
    /// stays far below (pose: ~30k per batch), and `uniloss eval-metric`'s largest traced batch (AP on
    /// 2000 examples, 1,999,000 comparisons) fits.
    static member val MaxComparisons = 1 <<< 21 with get, set
    /// Most nodes plus edges of g in one trace (a metric can build nodes without new comparisons).
    static member val MaxGraphSize = 1 <<< 23 with get, set
    /// Most entries (8 bytes each) of UniLoss's value table: (comparisons + g nodes) × (3 × anchors per type + 1)
    /// per step; 2^26 entries = 512 MiB. The pose experiment uses about 2M, the AP and accuracy ones less.
    static member val MaxTableEntries = 1L <<< 26 with get, set

/// A trace passed Limits.MaxComparisons or Limits.MaxGraphSize (the message says which).
exception internal TraceTooLarge of string

/// The arithmetic of g, shared by constant folding, the reference evaluator and the batched
/// evaluators: no operation ever yields NaN or ±∞ (division by 0, √ and ln outside their domain,
/// overflowing exp and pow give 0), so g is finite on every configuration.
module SafeMath =
    [<CompiledName("FiniteOr0")>]
    let inline finiteOr0 (x: float) = if Double.IsFinite x then x else 0.0

    [<CompiledName("Div")>]
    let div (a: float) (b: float) = if b = 0.0 then 0.0 else finiteOr0 (a / b)

    [<CompiledName("Sqrt")>]
    let sqrt (x: float) = if x > 0.0 then Math.Sqrt x else 0.0

    [<CompiledName("Log")>]
    let log (x: float) = if x > 0.0 then Math.Log x else 0.0

    [<CompiledName("Exp")>]
    let exp (x: float) = finiteOr0 (Math.Exp x)

    [<CompiledName("Pow")>]
    let pow (a: float) (b: float) = finiteOr0 (Math.Pow(a, b))

    /// The value of a unary or binary node kind on its children's values.
    [<CompiledName("Apply")>]
    let apply (kind: NodeKind) (a: float) (b: float) =
        match kind with
        | NodeKind.Mul -> a * b
        | NodeKind.Div -> div a b
        | NodeKind.Pos -> if a > 0.0 then 1.0 else 0.0
        | NodeKind.Sqrt -> sqrt a
        | NodeKind.Log -> log a
        | NodeKind.Exp -> exp a
        | NodeKind.Abs -> abs a
        | NodeKind.Pow -> pow a b
        | NodeKind.Min -> min a b
        | NodeKind.Max -> max a b
        | k -> invalidArg "kind" (sprintf "%A is not a unary or binary node kind" k)

/// The growable storage of one trace; reused by later traces on the same thread (cleared, its
/// capacity kept), so tracing a batch like the last one allocates almost nothing for g.
[<Sealed; AllowNullLiteral>]
type internal TraceStore() =
    member val Nodes = ResizeArray<Node>(256)
    member val Kids = ResizeArray<int>(512)
    member val Weights = ResizeArray<float>(512)
    member val Comparisons = ResizeArray<Comparison>(256)
    member val LeafOf = Dictionary<Comparison, int>(256)
    /// per-node stamps for duplicate detection in And/Or children
    member val Stamp: int[] = Array.zeroCreate 256 with get, set
    member val Generation = 0 with get, set

    member s.Clear() =
        s.Nodes.Clear()
        s.Kids.Clear()
        s.Weights.Clear()
        s.Comparisons.Clear()
        s.LeafOf.Clear()

/// Records g while a metric runs on symbolic scores, in flat growable arrays (a node is a struct,
/// not an object). Identical comparisons are deduplicated (hash-consed) into one leaf. A tracer is
/// closed when its trace is done; a value kept from it cannot add nodes later.
[<AllowNullLiteral; Sealed>]
type Tracer internal (store: TraceStore) =
    let mutable closed = false

    [<ThreadStatic; DefaultValue>]
    static val mutable private spare: TraceStore

    /// A tracer on this thread's spare storage (or new storage when it is in use).
    static member internal Open() =
        let st = if isNull Tracer.spare then TraceStore() else Tracer.spare
        Tracer.spare <- null
        st.Clear()
        Tracer(st)

    /// End the trace: nothing may be added any more; the storage goes back to the thread's spare.
    member internal _.Close() =
        if not closed then
            closed <- true
            Tracer.spare <- store

    /// End the trace and drop its storage (after a trace that passed a limit: its capacity is not kept).
    member internal _.Discard() = closed <- true
    new() = Tracer(TraceStore())
    member _.Nodes = store.Nodes
    member _.Kids = store.Kids
    member _.Weights = store.Weights
    member _.Comparisons = store.Comparisons

    member _.Add(n: Node) =
        if closed then
            Errors.fail "a metric used a value from an earlier trace (did it keep a Score, Bit or Num from an earlier call?)"

        if store.Nodes.Count + store.Kids.Count >= Limits.MaxGraphSize then
            raise (TraceTooLarge(sprintf "g holds more than %d nodes and edges (Limits.MaxGraphSize)" Limits.MaxGraphSize))

        store.Nodes.Add n
        store.Nodes.Count - 1

    /// An n-ary node over children (with weights for Affine; ignored otherwise).
    member t.AddNary(kind: NodeKind, bias: float, ids: ResizeArray<int>, ws: ResizeArray<float>) =
        let start = store.Kids.Count
        store.Kids.AddRange ids

        if isNull ws then
            for _ in 1 .. ids.Count do
                store.Weights.Add 1.0
        else
            store.Weights.AddRange ws

        t.Add { Kind = kind; A = start; B = ids.Count; Value = bias }

    /// Removes duplicate ids in place (keeps first occurrences, in order).
    member _.Distinct(ids: ResizeArray<int>) =
        if store.Stamp.Length < store.Nodes.Count then
            store.Stamp <- Array.zeroCreate (max store.Nodes.Count (2 * store.Stamp.Length))

        store.Generation <- store.Generation + 1
        let g = store.Generation
        let stamp = store.Stamp
        let mutable w = 0

        for r in 0 .. ids.Count - 1 do
            let id = ids.[r]

            if stamp.[id] <> g then
                stamp.[id] <- g
                ids.[w] <- id
                w <- w + 1

        ids.RemoveRange(w, ids.Count - w)

    /// Node id of the leaf for comparison c (created on first use).
    member t.Leaf(c: Comparison) =
        match store.LeafOf.TryGetValue c with
        | true, id -> id
        | _ ->
            if store.Comparisons.Count >= Limits.MaxComparisons then
                raise (TraceTooLarge(sprintf "it makes more than %d distinct score comparisons (Limits.MaxComparisons)" Limits.MaxComparisons))

            store.Comparisons.Add c
            let id = t.Add { Kind = NodeKind.Leaf; A = store.Comparisons.Count - 1; B = 0; Value = 0.0 }
            store.LeafOf.[c] <- id
            id
