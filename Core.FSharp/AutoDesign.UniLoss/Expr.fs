namespace AutoDesign.UniLoss

open System
open System.Collections.Generic

/// A number computed by a metric: a constant (Tracer = null) or a node of the traced g.
/// Operators: + - * / (with Num, float or int on either side; / is safe: x/0 = 0), unary -,
/// comparisons >. >=. <. <=. giving a Bit (C#: > >= < <=), and the functions sqrt, log, exp, abs,
/// ** (F#) / Num.Sqrt, Log, Exp, Abs, Pow, Min, Max (C#) — all exact on configurations, as g is.
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
    static member (+)(a: Num, b: Num) = Build.Lin(0.0, 1.0, a, 1.0, b)
    static member (+)(a: Num, b: float) = Build.Lin(b, 1.0, a, 0.0, null)
    static member (+)(a: float, b: Num) = Build.Lin(a, 1.0, b, 0.0, null)
    static member (+)(a: Num, b: int) = Build.Lin(float b, 1.0, a, 0.0, null)
    static member (+)(a: int, b: Num) = Build.Lin(float a, 1.0, b, 0.0, null)
    static member (-)(a: Num, b: Num) = Build.Lin(0.0, 1.0, a, -1.0, b)
    static member (-)(a: Num, b: float) = Build.Lin(-b, 1.0, a, 0.0, null)
    static member (-)(a: float, b: Num) = Build.Lin(a, -1.0, b, 0.0, null)
    static member (-)(a: Num, b: int) = Build.Lin(-(float b), 1.0, a, 0.0, null)
    static member (-)(a: int, b: Num) = Build.Lin(float a, -1.0, b, 0.0, null)
    static member (~-)(a: Num) = Build.Lin(0.0, -1.0, a, 0.0, null)
    static member (*)(a: Num, b: Num) = Build.Binary(NodeKind.Mul, a, b)
    static member (*)(a: Num, b: float) = Build.Lin(0.0, b, a, 0.0, null)
    static member (*)(a: float, b: Num) = Build.Lin(0.0, a, b, 0.0, null)
    static member (*)(a: Num, b: int) = Build.Lin(0.0, float b, a, 0.0, null)
    static member (*)(a: int, b: Num) = Build.Lin(0.0, float a, b, 0.0, null)
    static member (/)(a: Num, b: Num) = Build.Div(a, b)
    static member (/)(a: Num, b: float) = Build.Div(a, Build.Konst b)
    static member (/)(a: float, b: Num) = Build.Div(Build.Konst a, b)
    static member (/)(a: Num, b: int) = Build.Div(a, Build.Konst(float b))
    static member (/)(a: int, b: Num) = Build.Div(Build.Konst(float a), b)
    /// √x (0 for x ≤ 0); F#: sqrt x
    static member Sqrt(x: Num) = Build.Unary(NodeKind.Sqrt, x)
    /// ln x (0 for x ≤ 0); F#: log x
    static member Log(x: Num) = Build.Unary(NodeKind.Log, x)
    /// eˣ (0 where it overflows); F#: exp x
    static member Exp(x: Num) = Build.Unary(NodeKind.Exp, x)
    /// |x|; F#: abs x
    static member Abs(x: Num) = Build.Unary(NodeKind.Abs, x)
    /// xʸ (0 where undefined or infinite); F#: x ** y
    static member Pow(x: Num, y: Num) = Build.Binary(NodeKind.Pow, x, y)
    static member Pow(x: Num, y: float) = Build.Binary(NodeKind.Pow, x, Build.Konst y)
    static member Min(a: Num, b: Num) = Build.Binary(NodeKind.Min, a, b)
    static member Max(a: Num, b: Num) = Build.Binary(NodeKind.Max, a, b)
    /// [a > b]
    static member (>.)(a: Num, b: Num) = Build.Pos(Build.Lin(0.0, 1.0, a, -1.0, b))
    static member (>.)(a: Num, b: float) = Build.Pos(Build.Lin(-b, 1.0, a, 0.0, null))
    /// [a >= b] = not [b > a]
    static member (>=.)(a: Num, b: Num) = Build.Not(Build.Pos(Build.Lin(0.0, 1.0, b, -1.0, a)))
    static member (>=.)(a: Num, b: float) = Build.Not(Build.Pos(Build.Lin(b, -1.0, a, 0.0, null)))
    static member (<.)(a: Num, b: Num) = Build.Pos(Build.Lin(0.0, 1.0, b, -1.0, a))
    static member (<.)(a: Num, b: float) = Build.Pos(Build.Lin(b, -1.0, a, 0.0, null))
    static member (<=.)(a: Num, b: Num) = Build.Not(Build.Pos(Build.Lin(0.0, 1.0, a, -1.0, b)))
    static member (<=.)(a: Num, b: float) = Build.Not(Build.Pos(Build.Lin(-b, 1.0, a, 0.0, null)))
    // C# names
    static member op_GreaterThan(a: Num, b: Num) = a >. b
    static member op_GreaterThanOrEqual(a: Num, b: Num) = a >=. b
    static member op_LessThan(a: Num, b: Num) = a <. b
    static member op_LessThanOrEqual(a: Num, b: Num) = a <=. b

/// A 0/1 value computed by a metric (a comparison outcome or a boolean combination of them).
/// Operators: &&& ||| ~~~ (C#: & | !). It cannot be turned into an F#/C# bool: branching on it
/// would make the comparisons depend on the bits, which g(h(f(s))) cannot express.
/// A negation is kept as a flag (no node) until the bit is used as a number on its own.
and [<Sealed; AllowNullLiteral>] Bit internal (tracer: Tracer, id: int, value: float, negated: bool) =
    let mutable asNum: Num = null
    member internal _.Tracer = tracer
    /// Node of the un-negated bit.
    member internal _.Id = id
    /// Value of the un-negated bit when constant.
    member internal _.BaseValue = value
    member internal _.Negated = negated

    /// The bit as a 0/1 number.
    member _.AsNum =
        if isNull asNum then
            let n = Num(tracer, id, value)
            asNum <- if negated then Build.Lin(1.0, -1.0, n, 0.0, null) else n

        asNum

    member _.IsConstant = isNull tracer

    /// Always raises UserError: a metric may not branch on a comparison outcome.
    member _.Value: bool =
        Errors.fail
            "the metric branches on the outcome of a score comparison (Bit.Value / bool conversion); comparisons may depend on the labels only. Combine bits with &&&, |||, ~~~, all, any, count or select instead of if/match"

    static member op_Implicit(b: Bit) : bool = b.Value
    static member op_Implicit(b: Bit) : Num = b.AsNum
    static member (&&&)(a: Bit, b: Bit) = Build.All [| a; b |]
    static member (|||)(a: Bit, b: Bit) = Build.Any [| a; b |]
    static member (~~~)(a: Bit) = Build.Not a

    override b.ToString() =
        if isNull tracer then
            sprintf "Bit(%b)" ((value > 0.5) <> negated)
        else
            sprintf "Bit(%snode#%d)" (if negated then "not " else "") id

/// Scratch lists for the smart constructors, rented and returned in stack order (a metric's lazy
/// sequences may build nodes while a constructor is still reading them).
and [<AbstractClass; Sealed>] internal Scratch =
    [<ThreadStatic; DefaultValue>]
    static val mutable private ints: Stack<ResizeArray<int>>

    [<ThreadStatic; DefaultValue>]
    static val mutable private floats: Stack<ResizeArray<float>>

    [<ThreadStatic; DefaultValue>]
    static val mutable private bits: Stack<ResizeArray<Bit>>

    static member Ints() =
        if isNull Scratch.ints then Scratch.ints <- Stack()
        if Scratch.ints.Count > 0 then Scratch.ints.Pop() else ResizeArray<int>(16)

    static member Floats() =
        if isNull Scratch.floats then Scratch.floats <- Stack()
        if Scratch.floats.Count > 0 then Scratch.floats.Pop() else ResizeArray<float>(16)

    static member Bits() =
        if isNull Scratch.bits then Scratch.bits <- Stack()
        if Scratch.bits.Count > 0 then Scratch.bits.Pop() else ResizeArray<Bit>(16)

    static member Return(x: ResizeArray<int>) =
        x.Clear()
        Scratch.ints.Push x

    static member Return(x: ResizeArray<float>) =
        x.Clear()
        Scratch.floats.Push x

    static member Return(x: ResizeArray<Bit>) =
        x.Clear()
        Scratch.bits.Push x

/// Smart constructors with constant folding. On concrete scores every comparison is a constant,
/// so folding evaluates the metric exactly, without f, h or g.
and [<AbstractClass; Sealed>] Build =
    static member Konst(v: float) = Num(null, -1, v)
    static member OfBool(b: bool) = Bit(null, -1, (if b then 1.0 else 0.0), false)

    static member internal Node(t: Tracer, n: Node) = Num(t, t.Add n, nan)

    static member internal Join(t: Tracer, x: Num) : Tracer =
        if isNull x then Errors.fail "a metric used a null value"
        Build.JoinTracer(t, x.Tracer)

    static member internal JoinTracer(t: Tracer, xt: Tracer) : Tracer =
        if isNull xt then
            t
        elif isNull t then
            xt
        elif obj.ReferenceEquals(xt, t) then
            t
        else
            Errors.fail "a metric mixed values from two different traces (did it keep a Score, Bit or Num from an earlier call?)"

    /// bias + wa·a + wb·b (b may be null), constants folded.
    static member internal Lin(bias: float, wa: float, a: Num, wb: float, b: Num) : Num =
        let mutable t = Build.Join(null, a)
        if not (isNull b) then t <- Build.Join(t, b)
        let mutable bias = bias
        let mutable n = 0
        let mutable id0, w0, id1, w1 = 0, 0.0, 0, 0.0

        if a.IsConstant then
            bias <- bias + wa * a.Value
        elif wa <> 0.0 then
            (id0 <- a.Id
             w0 <- wa
             n <- 1)

        if not (isNull b) then
            if b.IsConstant then
                bias <- bias + wb * b.Value
            elif wb <> 0.0 then
                if n = 0 then
                    (id0 <- b.Id
                     w0 <- wb)
                else
                    (id1 <- b.Id
                     w1 <- wb)

                n <- n + 1

        if n = 0 then
            Build.Konst bias
        elif n = 1 && bias = 0.0 && w0 = 1.0 then
            Num(t, id0, nan)
        else
            let ids = Scratch.Ints()
            let ws = Scratch.Floats()
            ids.Add id0
            ws.Add w0

            if n = 2 then
                (ids.Add id1
                 ws.Add w1)

            let r = Num(t, t.AddNary(NodeKind.Affine, bias, ids, ws), nan)
            Scratch.Return ids
            Scratch.Return ws
            r

    /// The Affine node bias + Σ ws·ids, or a constant / the single child when that is all it is;
    /// returns the scratch lists.
    static member internal Finish(t: Tracer, bias: float, ids: ResizeArray<int>, ws: ResizeArray<float>) : Num =
        let r =
            if ids.Count = 0 then Build.Konst bias
            elif ids.Count = 1 && bias = 0.0 && ws.[0] = 1.0 then Num(t, ids.[0], nan)
            else Num(t, t.AddNary(NodeKind.Affine, bias, ids, ws), nan)

        Scratch.Return ids
        Scratch.Return ws
        r

    /// bias + Σ w·x with constants folded into the bias and zero weights dropped.
    static member internal Affine(bias: float, terms: (float * Num) seq) : Num =
        let mutable bias = bias
        let mutable t: Tracer = null
        let ids = Scratch.Ints()
        let ws = Scratch.Floats()

        for (w, x) in terms do
            t <- Build.Join(t, x)

            if x.IsConstant then
                bias <- bias + w * x.Value
            elif w <> 0.0 then
                (ids.Add x.Id
                 ws.Add w)

        Build.Finish(t, bias, ids, ws)

    /// bias + Σ w·x over numbers with one weight.
    static member internal Sum(bias: float, w: float, xs: Num seq) : Num = Build.Affine(bias, xs |> Seq.map (fun x -> w, x))

    /// bias + Σ w·bit over bits with one weight (a negated bit adds w·(1 − x), no node).
    static member internal SumBits(bias: float, w: float, bits: Bit seq) : Num =
        let mutable bias = bias
        let mutable t: Tracer = null
        let ids = Scratch.Ints()
        let ws = Scratch.Floats()

        for b in bits do
            if isNull b then Errors.fail "a metric used a null Bit"
            t <- Build.JoinTracer(t, b.Tracer)

            if b.IsConstant then
                bias <- bias + w * (if b.Negated then 1.0 - b.BaseValue else b.BaseValue)
            elif w <> 0.0 then
                ids.Add b.Id

                if b.Negated then
                    (bias <- bias + w
                     ws.Add(-w))
                else
                    ws.Add w

        Build.Finish(t, bias, ids, ws)

    static member private Logical(isAnd: bool, bits: Bit seq) : Bit =
        let kids = Scratch.Bits()
        let mutable decided = false
        let mutable t: Tracer = null

        for b in bits do
            if isNull b then Errors.fail "a metric used a null Bit"
            t <- Build.JoinTracer(t, b.Tracer)

            if b.IsConstant then
                let v = (b.BaseValue > 0.5) <> b.Negated
                // and: a false decides; or: a true decides; the other constant is neutral
                if v <> isAnd then decided <- true
            else
                kids.Add b

        let result =
            if decided then
                Build.OfBool(not isAnd)
            elif kids.Count = 0 then
                Build.OfBool isAnd
            elif kids.Count = 1 then
                kids.[0]
            else
                // De Morgan keeps an all-negated list node-free: all (not x) = not (any x)
                let mutable allNegated = true

                for b in kids do
                    if not b.Negated then allNegated <- false

                let ids = Scratch.Ints()

                for b in kids do
                    ids.Add(if allNegated then b.Id else b.AsNum.Id)

                t.Distinct ids
                let kind = if isAnd <> allNegated then NodeKind.And else NodeKind.Or
                let id = if ids.Count = 1 then ids.[0] else t.AddNary(kind, 0.0, ids, null)
                Scratch.Return ids
                Bit(t, id, nan, allNegated)

        Scratch.Return kids
        result

    static member All(bits: Bit seq) = Build.Logical(true, bits)
    static member Any(bits: Bit seq) = Build.Logical(false, bits)

    static member Not(b: Bit) =
        if isNull b then Errors.fail "a metric used a null Bit"
        if b.IsConstant then Build.OfBool(not ((b.BaseValue > 0.5) <> b.Negated)) else Bit(b.Tracer, b.Id, nan, not b.Negated)

    /// A unary node (constants folded).
    static member internal Unary(kind: NodeKind, x: Num) : Num =
        let t = Build.Join(null, x)

        if isNull t then
            Build.Konst(SafeMath.apply kind x.Value 0.0)
        else
            Build.Node(t, { Kind = kind; A = x.Id; B = 0; Value = 0.0 })

    /// A binary node (constants folded; a constant operand becomes a Const node).
    static member internal Binary(kind: NodeKind, a: Num, b: Num) : Num =
        let t = Build.Join(Build.Join(null, a), b)

        if isNull t then
            Build.Konst(SafeMath.apply kind a.Value b.Value)
        elif kind = NodeKind.Mul && a.IsConstant then
            Build.Lin(0.0, a.Value, b, 0.0, null)
        elif kind = NodeKind.Mul && b.IsConstant then
            Build.Lin(0.0, b.Value, a, 0.0, null)
        else
            let idOf (x: Num) = if x.IsConstant then t.Add { Kind = NodeKind.Const; A = 0; B = 0; Value = x.Value } else x.Id
            let ia = idOf a
            Build.Node(t, { Kind = kind; A = ia; B = idOf b; Value = 0.0 })

    /// Safe division: x / 0 = 0 (as sklearn's zero_division=0).
    static member Div(a: Num, b: Num) : Num =
        if isNull a || isNull b then Errors.fail "a metric used a null value"

        if b.IsConstant then
            if b.Value = 0.0 then Build.Konst 0.0
            elif a.IsConstant then Build.Konst(SafeMath.div a.Value b.Value)
            else Build.Lin(0.0, 1.0 / b.Value, a, 0.0, null)
        elif a.IsConstant && a.Value = 0.0 then
            Build.Konst 0.0
        else
            Build.Binary(NodeKind.Div, a, b)

    /// [x > 0]
    static member Pos(x: Num) : Bit =
        let t = Build.Join(null, x)

        if isNull t then
            Build.OfBool(x.Value > 0.0)
        else
            Bit(t, t.Add { Kind = NodeKind.Pos; A = x.Id; B = 0; Value = 0.0 }, nan, false)
