namespace AutoDesign.UniLoss

open System
open System.Collections.Generic
open System.Runtime.CompilerServices

/// One score of the batch (an index into the flattened score tensor). Compare two scores of the
/// same batch with >. <. >=. <=. (C#: > < >= <=) or a score with a constant threshold θ with the
/// same operators. Ties: [a >. b] is STRICT (a tie gives 0); a >=. b is defined as not (b >. a).
[<Struct; NoEquality; NoComparison>]
type Score internal (owner: Scores, flat: int) =
    /// Row-major index into the flattened score tensor.
    member _.Index = flat
    member internal _.Owner = owner

    static member internal Cmp(a: Score, b: Score) : Bit =
        if isNull a.Owner || isNull b.Owner then Errors.fail "a metric compared an uninitialised score"
        if not (obj.ReferenceEquals(a.Owner, b.Owner)) then Errors.fail "a metric compared scores of two different batches"
        if a.Index = b.Index then Build.OfBool false else a.Owner.Compare(a.Index, b.Index, 0.0)

    static member (>.)(a: Score, b: Score) = Score.Cmp(a, b)
    static member (<.)(a: Score, b: Score) = Score.Cmp(b, a)
    static member (>=.)(a: Score, b: Score) = Build.Not(Score.Cmp(b, a))
    static member (<=.)(a: Score, b: Score) = Build.Not(Score.Cmp(a, b))
    /// [s - θ > 0]
    static member (>.)(a: Score, threshold: float) = a.Owner.Compare(a.Index, -1, threshold)
    /// not [s > θ]
    static member (<=.)(a: Score, threshold: float) = Build.Not(a.Owner.Compare(a.Index, -1, threshold))
    /// [θ - s > 0]
    static member (<.)(a: Score, threshold: float) = a.Owner.Compare(-1, a.Index, -threshold)
    /// not [s < θ]
    static member (>=.)(a: Score, threshold: float) = Build.Not(a.Owner.Compare(-1, a.Index, -threshold))
    static member op_GreaterThan(a: Score, b: Score) = a >. b
    static member op_LessThan(a: Score, b: Score) = a <. b
    static member op_GreaterThanOrEqual(a: Score, b: Score) = a >=. b
    static member op_LessThanOrEqual(a: Score, b: Score) = a <=. b
    static member op_GreaterThan(a: Score, t: float) = a >. t
    static member op_LessThan(a: Score, t: float) = a <. t
    static member op_GreaterThanOrEqual(a: Score, t: float) = a >=. t
    static member op_LessThanOrEqual(a: Score, t: float) = a <=. t

/// The batch of scores a metric sees: symbolic while tracing, concrete when evaluating exactly.
/// Index it like the score tensor, any rank: s.[i], s.[i, j], s.[i, c, h, w] (C#: s[i, c, h, w]),
/// or s.At [| ... |]. A tensor whose last dimension is 1 may be indexed without it (s.[i] on [n, 1]).
and [<Sealed; AllowNullLiteral>] Scores internal (shape: int[], tracer: Tracer, values: float32[]) =
    let size = Array.fold (*) 1 shape

    let strides =
        let st = Array.create shape.Length 1

        for d in shape.Length - 2 .. -1 .. 0 do
            st.[d] <- st.[d + 1] * shape.[d + 1]

        st

    let shapeText () = String.Join(", ", shape)
    /// The score tensor's shape; Shape.[0] is the batch size.
    member _.Shape = Array.copy shape
    member _.Rank = shape.Length
    /// Batch size (first dimension).
    member _.N = shape.[0]

    /// Size of dimension d.
    member _.Dim(d: int) =
        if d < 0 || d >= shape.Length then
            Errors.fail "the metric asked for dimension %d of scores of shape [%s]" d (shapeText ())

        shape.[d]

    member internal _.Compare(k1: int, k2: int, offset: float) : Bit =
        if isNull tracer then
            let x1 = if k1 >= 0 then values.[k1] else 0.0f
            let x2 = if k2 >= 0 then values.[k2] else 0.0f
            Build.OfBool(x1 - x2 - float32 offset > 0.0f)
        else
            Bit(tracer, tracer.Leaf { K1 = k1; K2 = k2; Offset = offset }, nan, false)

    member private s.Flat(index: int[]) =
        let index = if index.Length = shape.Length - 1 && shape.[shape.Length - 1] = 1 then Array.append index [| 0 |] else index

        if index.Length <> shape.Length then
            Errors.fail
                "the metric indexed scores with %d indices [%s] but the scores have shape [%s] (wrong score shape for this metric?)"
                index.Length
                (String.Join(", ", index))
                (shapeText ())

        let mutable flat = 0

        for d in 0 .. index.Length - 1 do
            if index.[d] < 0 || index.[d] >= shape.[d] then
                Errors.fail
                    "score index [%s] is outside scores of shape [%s] (wrong score shape, or a label out of range?)"
                    (String.Join(", ", index))
                    (shapeText ())

            flat <- flat + index.[d] * strides.[d]

        flat

    /// The score at a full index (one entry per dimension).
    member s.At(index: int[]) : Score = Score(s, s.Flat index)

    /// The score at a row-major position of the flattened tensor.
    member s.AtFlat(flat: int) : Score =
        if flat < 0 || flat >= size then Errors.fail "flat score index %d is outside %d scores" flat size
        Score(s, flat)
    // the indexers below compute the flat index without an index array (tracing makes millions)
    member s.Item
        with get (i: int) =
            if (shape.Length = 1 || (shape.Length = 2 && shape.[1] = 1)) && i >= 0 && i < shape.[0] then
                Score(s, i)
            else
                s.At [| i |]

    member s.Item
        with get (i: int, j: int) =
            if shape.Length = 2 && i >= 0 && i < shape.[0] && j >= 0 && j < shape.[1] then
                Score(s, i * strides.[0] + j)
            else
                s.At [| i; j |]

    member s.Item
        with get (i: int, j: int, k: int) =
            if shape.Length = 3 && i >= 0 && i < shape.[0] && j >= 0 && j < shape.[1] && k >= 0 && k < shape.[2] then
                Score(s, i * strides.[0] + j * strides.[1] + k)
            else
                s.At [| i; j; k |]

    member s.Item
        with get (i: int, j: int, k: int, l: int) =
            if
                shape.Length = 4
                && i >= 0
                && i < shape.[0]
                && j >= 0
                && j < shape.[1]
                && k >= 0
                && k < shape.[2]
                && l >= 0
                && l < shape.[3]
            then
                Score(s, i * strides.[0] + j * strides.[1] + k * strides.[2] + l)
            else
                s.At [| i; j; k; l |]

    member s.Item
        with get (i: int, j: int, k: int, l: int, m: int) = s.At [| i; j; k; l; m |]

    /// Number of scores.
    member _.Size = size

/// Concrete integer labels of a batch, any rank with the batch first: [n] (class ids or
/// relevance), [n, k] (e.g. joint coordinates, multi-label), [n, H, W] (label maps).
[<Sealed; AllowNullLiteral>]
type Labels(shape: int[], data: int64[]) =
    do
        if isNull shape || shape.Length = 0 then Errors.fail "labels need a batch dimension"

        if shape |> Array.exists (fun d -> d < 0) then
            Errors.fail "labels of shape [%s] have a negative dimension" (String.Join(", ", shape))

        if isNull data || Array.fold (*) 1 shape <> data.Length then
            Errors.fail
                "labels of shape [%s] need %d values, got %d"
                (String.Join(", ", shape))
                (Array.fold (*) 1 shape)
                (if isNull data then 0 else data.Length)

    let cols = if shape.[0] = 0 then 1 else data.Length / shape.[0]

    let strides =
        let st = Array.create shape.Length 1

        for d in shape.Length - 2 .. -1 .. 0 do
            st.[d] <- st.[d + 1] * shape.[d + 1]

        st

    let hash =
        lazy
            (let mutable h = 1469598103934665603L

             for d in shape do
                 h <- (h ^^^ int64 d) * 1099511628211L

             for v in data do
                 h <- (h ^^^ v) * 1099511628211L

             h)

    let shapeText () = String.Join(", ", shape)
    new(labels: int[]) = Labels([| labels.Length |], Array.map int64 labels)
    member _.Shape = Array.copy shape
    member _.Rank = shape.Length
    /// Number of examples.
    member _.N = shape.[0]
    /// Values per example (1 for class labels).
    member _.Columns = cols
    member _.Data = data

    /// Label of example i (labels of shape [n] or [n,1]).
    member _.Item
        with get (i: int): int =
            if cols <> 1 then
                Errors.fail "the metric read labels as one value per example, but the labels have shape [%s]" (shapeText ())

            if i < 0 || i >= shape.[0] then Errors.fail "label index %d is outside %d labels" i shape.[0]
            int data.[i]

    /// The label at a full index (one entry per dimension).
    member _.At(index: int[]) : int =
        if index.Length <> shape.Length then
            Errors.fail "the metric indexed labels with %d indices [%s] but the labels have shape [%s]" index.Length (String.Join(", ", index)) (shapeText ())

        let mutable flat = 0

        for d in 0 .. index.Length - 1 do
            if index.[d] < 0 || index.[d] >= shape.[d] then
                Errors.fail "label index [%s] is outside labels of shape [%s]" (String.Join(", ", index)) (shapeText ())

            flat <- flat + index.[d] * strides.[d]

        int data.[flat]

    member l.Item
        with get (i: int, j: int): int = l.At [| i; j |]

    member l.Item
        with get (i: int, j: int, k: int): int = l.At [| i; j; k |]

    member l.Item
        with get (i: int, j: int, k: int, m: int): int = l.At [| i; j; k; m |]

    /// A 64-bit hash of shape and values (UniLoss caches its work per label batch).
    member _.Hash = hash.Value

    /// Same shape and values.
    member _.SameAs(o: Labels) =
        not (isNull o)
        && shape.Length = o.Rank
        && Array.forall2 (=) shape o.Shape
        && MemoryExtensions.SequenceEqual(ReadOnlySpan<int64>(data), ReadOnlySpan<int64>(o.Data))

    /// A stable text key of shape and values.
    member _.Key = String.Join(",", shape) + "|" + String.Join(",", data)

    /// Raise a UserError unless every label is a class id in [0, classes).
    member l.RequireClasses(classes: int, metric: string) =
        for i in 0 .. data.Length - 1 do
            if data.[i] < 0L || data.[i] >= int64 classes then
                Errors.fail "%s: label %d of example %d is out of range for %d classes (scores have %d columns)" metric data.[i] (i / cols) classes classes

type Goal =
    | Maximize = 0
    | Minimize = 1

/// A performance metric written as ordinary code over a batch of scores and concrete labels.
/// Optional declarations: Ideal builds the best scores for the labels (same shape as the scores;
/// without it UniLoss derives candidates from the labels and searches), Range the metric's bounds
/// (lets UniLoss stop searching once a candidate reaches the best bound), Degenerate the label
/// batches on which the metric legitimately makes no comparison (e.g. AP without positives).
[<Sealed; AllowNullLiteral>]
type Metric
    internal
    (
        name: string,
        define: Scores -> Labels -> Num,
        ideal: (int[] -> Labels -> float32[]) option,
        goal: Goal,
        degenerate: (Labels -> bool) option,
        range: (float * float) option
    ) =
    do if String.IsNullOrWhiteSpace name then Errors.fail "a metric needs a name"
    member _.Name = name
    // The F#-typed parts stay inside the library (UniLoss reads them when it builds the loss); users set them
    // through Define/Create and the With* members below.
    /// The user's definition (F# function).
    member internal _.Definition = define
    member internal _.Ideal = ideal
    member _.Goal = goal
    member internal _.Degenerate = degenerate
    /// Declared (lowest, highest) value over all scores and labels, if any.
    member internal _.Range = range

    /// F#: Metric.Define("accuracy", fun s y -> ...)
    static member Define(name: string, define: Scores -> Labels -> Num) =
        if isNull (box define) then Errors.fail "%s: no definition given" name
        Metric(name, define, None, Goal.Maximize, None, None)

    /// C#: Metric.Create("accuracy", (s, y) => ...)
    static member Create(name: string, define: Func<Scores, Labels, Num>) =
        if isNull define then Errors.fail "%s: no definition given" name
        Metric(name, (fun s y -> define.Invoke(s, y)), None, Goal.Maximize, None, None)

    /// ideal(scoreShape, labels) → best scores (row-major, same shape); F# lambdas convert.
    member _.WithIdeal(f: Func<int[], Labels, float32[]>) = Metric(name, define, Some(fun sh y -> f.Invoke(sh, y)), goal, degenerate, range)
    member _.WithDegenerate(f: Func<Labels, bool>) = Metric(name, define, ideal, goal, Some(fun y -> f.Invoke y), range)

    /// Declare the metric's bounds: no value below lo or above hi on any scores and labels.
    member _.WithRange(lo: float, hi: float) =
        if not (lo <= hi) then Errors.fail "%s: range [%g, %g] is empty" name lo hi
        Metric(name, define, ideal, goal, degenerate, Some(lo, hi))

    /// Mark a metric to minimise (an error); UniLoss then returns g̃ itself as the loss.
    member _.Minimized() = Metric(name, define, ideal, Goal.Minimize, degenerate, range)

/// C#-friendly combinators (static methods). F# code usually opens the Dsl module instead.
[<AbstractClass; Sealed; Extension>]
type Uni =
    static member Const(v: float) : Num = Build.Konst v
    static member True = Build.OfBool true
    static member False = Build.OfBool false
    static member All(bits: IEnumerable<Bit>) = Build.All bits
    static member Any(bits: IEnumerable<Bit>) = Build.Any bits
    static member Not(b: Bit) = Build.Not b
    /// Number of true bits.
    static member Count(bits: IEnumerable<Bit>) : Num = Build.SumBits(0.0, 1.0, bits)
    static member Sum(xs: IEnumerable<Num>) : Num = Build.Sum(0.0, 1.0, xs)

    /// Mean; the mean of nothing is 0.
    static member Mean(xs: IEnumerable<Num>) : Num =
        let xs = Array.ofSeq xs
        if xs.Length = 0 then Build.Konst 0.0 else Build.Sum(0.0, 1.0 / float xs.Length, xs)

    /// Fraction of true bits; 0 for no bits.
    static member Mean(bits: IEnumerable<Bit>) : Num =
        let bs = Array.ofSeq bits
        if bs.Length = 0 then Build.Konst 0.0 else Build.SumBits(0.0, 1.0 / float bs.Length, bs)

    /// a / b with a / 0 = 0.
    static member Ratio(a: Num, b: Num) = Build.Div(a, b)

    /// cond ? a : b, as arithmetic on the bit (cond·a + (1-cond)·b).
    static member Select(cond: Bit, a: Num, b: Num) : Num =
        if isNull cond then Errors.fail "a metric used a null Bit"

        if cond.Negated then
            Uni.Select(Build.Not cond, b, a)
        else
            let c = cond.AsNum
            Build.Affine(0.0, [ 1.0, Build.Binary(NodeKind.Mul, c, a); 1.0, b; -1.0, Build.Binary(NodeKind.Mul, c, b) ])

    static member ToNum(b: Bit) = b.AsNum
    static member Sqrt(x: Num) = Num.Sqrt x
    static member Log(x: Num) = Num.Log x
    static member Exp(x: Num) = Num.Exp x
    static member Abs(x: Num) = Num.Abs x
    static member Pow(x: Num, y: Num) = Num.Pow(x, y)
    static member Min(a: Num, b: Num) = Num.Min(a, b)
    static member Max(a: Num, b: Num) = Num.Max(a, b)
    /// Smallest of a non-empty list.
    static member Min(xs: IEnumerable<Num>) = Uni.Fold("Min", Num.Min, xs)
    /// Largest of a non-empty list.
    static member Max(xs: IEnumerable<Num>) = Uni.Fold("Max", Num.Max, xs)

    static member private Fold(what: string, f: Num * Num -> Num, xs: IEnumerable<Num>) =
        let xs = Array.ofSeq xs
        if xs.Length = 0 then Errors.fail "%s of no numbers" what
        // a balanced tree keeps g shallow
        let rec go (lo: int) (hi: int) = if hi - lo = 1 then xs.[lo] else let m = (lo + hi) / 2 in f (go lo m, go m hi)
        go 0 xs.Length

    /// [class c is the arg-max of these scores], the first maximum winning ties (as numpy and
    /// sklearn): s_c beats every earlier score strictly and no later score beats it. One bit per
    /// pair involving c.
    static member IsArgmax(scores: IList<Score>, c: int) : Bit =
        if c < 0 || c >= scores.Count then Errors.fail "arg-max class %d is outside %d scores" c scores.Count

        Build.All(
            seq {
                for k in 0 .. scores.Count - 1 do
                    if k < c then yield Score.Cmp(scores.[c], scores.[k])
                    elif k > c then yield Build.Not(Score.Cmp(scores.[k], scores.[c]))
            }
        )

    /// Rank of item i among the scores, 1 for the top, ties counting against it:
    /// 1 + #{j ≠ i : s_j ≥ s_i}.
    static member RankOf(scores: IList<Score>, i: int) : Num =
        if i < 0 || i >= scores.Count then Errors.fail "rank of item %d is outside %d scores" i scores.Count

        Build.SumBits(
            1.0,
            1.0,
            seq {
                for j in 0 .. scores.Count - 1 do
                    if j <> i then yield Build.Not(Score.Cmp(scores.[i], scores.[j]))
            }
        )

    [<Extension>]
    static member AllTrue(bits: IEnumerable<Bit>) = Uni.All bits

    [<Extension>]
    static member AnyTrue(bits: IEnumerable<Bit>) = Uni.Any bits

    [<Extension>]
    static member CountTrue(bits: IEnumerable<Bit>) = Uni.Count bits

    [<Extension>]
    static member Total(xs: IEnumerable<Num>) = Uni.Sum xs

    [<Extension>]
    static member MeanOf(xs: IEnumerable<Num>) = Uni.Mean xs

/// F# metric language: open AutoDesign.UniLoss and use all, any, notb (or ~~~), count, sum, mean,
/// meanBits, ratio, select, num, konst, minOf, maxOf, isArgmax, rankOf, and sqrt, log, exp, abs,
/// ** on numbers.
[<AutoOpen>]
module Dsl =
    let all (bits: Bit seq) = Build.All bits
    let any (bits: Bit seq) = Build.Any bits
    let notb (b: Bit) = Build.Not b
    let count (bits: Bit seq) = Uni.Count bits
    let sum (xs: Num seq) = Uni.Sum xs
    let mean (xs: Num seq) = Uni.Mean xs
    let meanBits (bits: Bit seq) = Uni.Mean(bits: IEnumerable<Bit>)
    let ratio (a: Num) (b: Num) = Build.Div(a, b)
    let select (cond: Bit) (a: Num) (b: Num) = Uni.Select(cond, a, b)
    let num (b: Bit) = b.AsNum
    let konst (v: float) = Build.Konst v
    /// Smallest / largest of a non-empty list of numbers.
    let minOf (xs: Num seq) = Uni.Min xs
    let maxOf (xs: Num seq) = Uni.Max xs
    /// [class c is the first arg-max of the scores]
    let isArgmax (scores: Score[]) (c: int) = Uni.IsArgmax(scores, c)
    /// 1 + #{j ≠ i : s_j ≥ s_i}
    let rankOf (scores: Score[]) (i: int) = Uni.RankOf(scores, i)
