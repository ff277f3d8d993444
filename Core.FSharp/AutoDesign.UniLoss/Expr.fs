namespace AutoDesign.UniLoss

open System
open System.Collections.Generic
open AutoDesign.Runs

/// One comparison of the refactorization f: c = s[K1] - (K2 >= 0 ? s[K2] : 0) - Offset, where s is
/// the FLATTENED (row-major) score tensor. K2 = -1 compares a score with the constant Offset.
[<Struct; CustomEquality; NoComparison>]
type Comparison =
    { K1: int; K2: int; Offset: float }
    override c.Equals(o) =
        match o with
        | :? Comparison as d -> c.K1 = d.K1 && c.K2 = d.K2 && c.Offset = d.Offset
        | _ -> false
    override c.GetHashCode() = HashCode.Combine(c.K1, c.K2, c.Offset)
    interface IEquatable<Comparison> with
        member c.Equals(d: Comparison) = c.K1 = d.K1 && c.K2 = d.K2 && c.Offset = d.Offset

/// One node of g, the DAG over bits. Children always have smaller ids (ids are topological).
/// Values of Leaf/And/Or/Pos nodes are in {0,1}; Div is "safe": a / 0 = 0.
type NodeOp =
    | Leaf of bit: int
    | Const of value: float
    | Affine of bias: float * weights: float[] * children: int[]
    | And of children: int[]
    | Or of children: int[]
    | Mul of a: int * b: int
    | Div of a: int * b: int
    | Pos of x: int

/// Records the DAG while a metric runs on symbolic scores. Identical comparisons are
/// deduplicated (hash-consed) into one leaf.
[<AllowNullLiteral; Sealed>]
type Tracer() =
    let nodes = ResizeArray<NodeOp>()
    let comps = ResizeArray<Comparison>()
    let leafOf = Dictionary<Comparison, int>()
    member _.Nodes = nodes
    member _.Comparisons = comps
    member _.Add(op: NodeOp) =
        nodes.Add op
        nodes.Count - 1
    /// Node id of the leaf for comparison c (created on first use).
    member t.Leaf(c: Comparison) =
        match leafOf.TryGetValue c with
        | true, id -> id
        | _ ->
            comps.Add c
            let id = t.Add(Leaf(comps.Count - 1))
            leafOf.[c] <- id
            id

/// A number computed by a metric: a constant (Tracer = null) or a node of the traced DAG.
/// Operators: + - * / (with Num, float or int on either side; / is safe: x/0 = 0), unary -,
/// and comparisons >. >=. <. <=. giving a Bit (these are g operations on bit-derived numbers).
[<Sealed; AllowNullLiteral>]
type Num internal (tracer: Tracer, id: int, value: float) =
    member internal _.Tracer = tracer
    member internal _.Id = id
    /// The value when IsConstant (always the case when a metric runs on concrete scores).
    member _.Value = value
    member _.IsConstant = isNull tracer
    override n.ToString() = if n.IsConstant then string value else sprintf "node#%d" id
    static member op_Implicit(x: float) : Num = Num(null, -1, x)
    static member op_Implicit(x: int) : Num = Num(null, -1, float x)
    static member (+)(a: Num, b: Num) = Build.Affine(0.0, [ 1.0, a; 1.0, b ])
    static member (+)(a: Num, b: float) = Build.Affine(b, [ 1.0, a ])
    static member (+)(a: float, b: Num) = Build.Affine(a, [ 1.0, b ])
    static member (+)(a: Num, b: int) = Build.Affine(float b, [ 1.0, a ])
    static member (+)(a: int, b: Num) = Build.Affine(float a, [ 1.0, b ])
    static member (-)(a: Num, b: Num) = Build.Affine(0.0, [ 1.0, a; -1.0, b ])
    static member (-)(a: Num, b: float) = Build.Affine(-b, [ 1.0, a ])
    static member (-)(a: float, b: Num) = Build.Affine(a, [ -1.0, b ])
    static member (-)(a: Num, b: int) = Build.Affine(-(float b), [ 1.0, a ])
    static member (-)(a: int, b: Num) = Build.Affine(float a, [ -1.0, b ])
    static member (~-)(a: Num) = Build.Affine(0.0, [ -1.0, a ])
    static member (*)(a: Num, b: Num) = Build.Mul(a, b)
    static member (*)(a: Num, b: float) = Build.Affine(0.0, [ b, a ])
    static member (*)(a: float, b: Num) = Build.Affine(0.0, [ a, b ])
    static member (*)(a: Num, b: int) = Build.Affine(0.0, [ float b, a ])
    static member (*)(a: int, b: Num) = Build.Affine(0.0, [ float a, b ])
    static member (/)(a: Num, b: Num) = Build.Div(a, b)
    static member (/)(a: Num, b: float) = Build.Div(a, Build.Konst b)
    static member (/)(a: float, b: Num) = Build.Div(Build.Konst a, b)
    static member (/)(a: Num, b: int) = Build.Div(a, Build.Konst(float b))
    static member (/)(a: int, b: Num) = Build.Div(Build.Konst(float a), b)
    /// [a > b]
    static member (>.)(a: Num, b: Num) = Build.Pos(Build.Affine(0.0, [ 1.0, a; -1.0, b ]))
    static member (>.)(a: Num, b: float) = Build.Pos(Build.Affine(-b, [ 1.0, a ]))
    /// [a >= b] = not [b > a]
    static member (>=.)(a: Num, b: Num) = Build.Not(Build.Pos(Build.Affine(0.0, [ 1.0, b; -1.0, a ])))
    static member (>=.)(a: Num, b: float) = Build.Not(Build.Pos(Build.Affine(b, [ -1.0, a ])))
    static member (<.)(a: Num, b: Num) = Build.Pos(Build.Affine(0.0, [ 1.0, b; -1.0, a ]))
    static member (<.)(a: Num, b: float) = Build.Pos(Build.Affine(b, [ -1.0, a ]))
    static member (<=.)(a: Num, b: Num) = Build.Not(Build.Pos(Build.Affine(0.0, [ 1.0, a; -1.0, b ])))
    static member (<=.)(a: Num, b: float) = Build.Not(Build.Pos(Build.Affine(-b, [ 1.0, a ])))
    // C# names
    static member op_GreaterThan(a: Num, b: Num) = a >. b
    static member op_GreaterThanOrEqual(a: Num, b: Num) = a >=. b
    static member op_LessThan(a: Num, b: Num) = a <. b
    static member op_LessThanOrEqual(a: Num, b: Num) = a <=. b

/// A 0/1 value computed by a metric (a comparison outcome or a boolean combination of them).
/// Operators: &&& ||| ~~~ (C#: & | !). It cannot be turned into an F#/C# bool: branching on it
/// would make the comparisons depend on the bits, which g(h(f(s))) cannot express.
and [<Sealed; AllowNullLiteral>] Bit internal (n: Num) =
    /// The bit as a 0/1 number.
    member _.AsNum = n
    member _.IsConstant = n.IsConstant
    /// Always raises UserError: a metric may not branch on a comparison outcome.
    member _.Value : bool =
        Errors.fail "the metric branches on the outcome of a score comparison (Bit.Value / bool conversion); comparisons may depend on the labels only. Combine bits with &&&, |||, ~~~, all, any, count or select instead of if/match"
    static member op_Implicit(b: Bit) : bool = b.Value
    static member op_Implicit(b: Bit) : Num = b.AsNum
    static member (&&&)(a: Bit, b: Bit) = Build.All [ a; b ]
    static member (|||)(a: Bit, b: Bit) = Build.Any [ a; b ]
    static member (~~~)(a: Bit) = Build.Not a
    override b.ToString() = sprintf "Bit(%O)" n

/// Smart constructors with constant folding. On concrete scores every comparison is a constant,
/// so folding evaluates the metric exactly, without f, h or g.
and [<AbstractClass; Sealed>] Build =
    static member Konst(v: float) = Num(null, -1, v)
    static member OfBool(b: bool) = Bit(Build.Konst(if b then 1.0 else 0.0))

    static member internal TracerOf(xs: Num seq) =
        xs |> Seq.tryPick (fun x -> if isNull x.Tracer then None else Some x.Tracer) |> Option.toObj

    static member internal Node(t: Tracer, op) = let id = t.Add op in Num(t, id, nan)

    static member internal Check(t: Tracer, xs: Num seq) =
        for x in xs do
            if not (isNull x.Tracer) && not (obj.ReferenceEquals(x.Tracer, t)) then
                Errors.fail "a metric mixed values from two different traces (did it keep a Score, Bit or Num from an earlier call?)"

    /// bias + Σ w·x with constants folded into the bias and zero weights dropped.
    static member Affine(bias: float, terms: (float * Num) seq) : Num =
        let mutable b = bias
        let ws = ResizeArray<float>()
        let cs = ResizeArray<Num>()
        for (w, x) in terms do
            if isNull x then Errors.fail "a metric used a null value"
            if x.IsConstant then b <- b + w * x.Value
            elif w <> 0.0 then
                ws.Add w
                cs.Add x
        if cs.Count = 0 then Build.Konst b
        elif cs.Count = 1 && b = 0.0 && ws.[0] = 1.0 then cs.[0]
        else
            let t = Build.TracerOf cs
            Build.Check(t, cs)
            Build.Node(t, Affine(b, ws.ToArray(), cs |> Seq.map (fun c -> c.Id) |> Array.ofSeq))

    static member private Logical(isAnd: bool, bits: Bit seq) : Bit =
        let kids = ResizeArray<Num>()
        let mutable decided = false
        for b in bits do
            if isNull b then Errors.fail "a metric used a null Bit"
            let n = b.AsNum
            if n.IsConstant then
                // and: a false decides; or: a true decides; the other constant is neutral
                if (n.Value > 0.5) <> isAnd then decided <- true
            else kids.Add n
        if decided then Build.OfBool(not isAnd)
        elif kids.Count = 0 then Build.OfBool isAnd
        elif kids.Count = 1 then Bit(kids.[0])
        else
            let t = Build.TracerOf kids
            Build.Check(t, kids)
            let ids = kids |> Seq.map (fun k -> k.Id) |> Seq.distinct |> Array.ofSeq
            if ids.Length = 1 then Bit(kids.[0])
            else Bit(Build.Node(t, (if isAnd then And ids else Or ids)))

    static member All(bits: Bit seq) = Build.Logical(true, bits)
    static member Any(bits: Bit seq) = Build.Logical(false, bits)
    static member Not(b: Bit) = Bit(Build.Affine(1.0, [ -1.0, b.AsNum ]))

    static member Mul(a: Num, b: Num) : Num =
        if a.IsConstant && b.IsConstant then Build.Konst(a.Value * b.Value)
        elif a.IsConstant then Build.Affine(0.0, [ a.Value, b ])
        elif b.IsConstant then Build.Affine(0.0, [ b.Value, a ])
        else
            Build.Check(a.Tracer, [ b ])
            Build.Node(a.Tracer, Mul(a.Id, b.Id))

    /// Safe division: x / 0 = 0 (as sklearn's zero_division=0).
    static member Div(a: Num, b: Num) : Num =
        if b.IsConstant then
            if b.Value = 0.0 then Build.Konst 0.0
            elif a.IsConstant then Build.Konst(a.Value / b.Value)
            else Build.Affine(0.0, [ 1.0 / b.Value, a ])
        elif a.IsConstant && a.Value = 0.0 then Build.Konst 0.0
        else
            let t = b.Tracer
            Build.Check(t, [ a ])
            let a' = if a.IsConstant then Build.Node(t, Affine(a.Value, [||], [||])) else a
            Build.Node(t, Div(a'.Id, b.Id))

    /// [x > 0]
    static member Pos(x: Num) : Bit =
        if x.IsConstant then Build.OfBool(x.Value > 0.0) else Bit(Build.Node(x.Tracer, Pos x.Id))
