namespace AutoDesign.UniLoss

open System
open System.Collections.Generic
open System.Runtime.CompilerServices
open AutoDesign.Runs

/// One score of the batch (an index into the flattened score tensor). Compare two scores of the
/// same batch with >. <. >=. <=. (C#: > < >= <=) or a score with a constant threshold with
/// >. and <=. . Ties: [a >. b] is STRICT (a tie gives 0); a >=. b is defined as not (b >. a).
[<Sealed; AllowNullLiteral>]
type Score internal (owner: Scores, flat: int) =
    /// Row-major index into the flattened score tensor.
    member _.Index = flat
    member internal _.Owner = owner
    static member internal Cmp(a: Score, b: Score) : Bit =
        if not (obj.ReferenceEquals(a.Owner, b.Owner)) then
            Errors.fail "a metric compared scores of two different batches"
        if a.Index = b.Index then Build.OfBool false
        else a.Owner.Compare(a.Index, b.Index, 0.0)
    static member (>.)(a: Score, b: Score) = Score.Cmp(a, b)
    static member (<.)(a: Score, b: Score) = Score.Cmp(b, a)
    static member (>=.)(a: Score, b: Score) = Build.Not(Score.Cmp(b, a))
    static member (<=.)(a: Score, b: Score) = Build.Not(Score.Cmp(a, b))
    /// [s - threshold > 0]
    static member (>.)(a: Score, threshold: float) = a.Owner.Compare(a.Index, -1, threshold)
    /// not [s > threshold]
    static member (<=.)(a: Score, threshold: float) = Build.Not(a.Owner.Compare(a.Index, -1, threshold))
    static member op_GreaterThan(a: Score, b: Score) = a >. b
    static member op_LessThan(a: Score, b: Score) = a <. b
    static member op_GreaterThanOrEqual(a: Score, b: Score) = a >=. b
    static member op_LessThanOrEqual(a: Score, b: Score) = a <=. b
    static member op_GreaterThan(a: Score, t: float) = a >. t
    static member op_LessThanOrEqual(a: Score, t: float) = a <=. t

/// The batch of scores a metric sees: symbolic while tracing, concrete when evaluating exactly.
/// Index it like the score tensor: s.[i], s.[i, j], s.[i, j, k] (C#: s[i, j]). A [n,1] tensor
/// may be indexed s.[i].
and [<Sealed; AllowNullLiteral>] Scores internal (shape: int[], tracer: Tracer, values: float32[]) =
    let size = Array.fold (*) 1 shape
    let strides =
        let st = Array.create shape.Length 1
        for d in shape.Length - 2 .. -1 .. 0 do st.[d] <- st.[d + 1] * shape.[d + 1]
        st
    /// The score tensor's shape; Shape.[0] is the batch size.
    member _.Shape = Array.copy shape
    member _.Rank = shape.Length
    /// Batch size (first dimension).
    member _.N = shape.[0]
    /// Size of dimension d.
    member _.Dim(d: int) =
        if d < 0 || d >= shape.Length then
            Errors.fail "the metric asked for dimension %d of scores of shape [%s]" d (String.Join(", ", shape))
        shape.[d]
    member internal _.Compare(k1: int, k2: int, offset: float) : Bit =
        if isNull tracer then
            let c = values.[k1] - (if k2 >= 0 then values.[k2] else 0.0f) - float32 offset
            Build.OfBool(c > 0.0f)
        else
            let id = tracer.Leaf { K1 = k1; K2 = k2; Offset = offset }
            Bit(Num(tracer, id, nan))
    /// The score at a full index (one entry per dimension).
    member s.At(index: int[]) : Score =
        let index =
            if index.Length = shape.Length - 1 && shape.[shape.Length - 1] = 1 then Array.append index [| 0 |]
            else index
        if index.Length <> shape.Length then
            Errors.fail "the metric indexed scores with %d indices [%s] but the scores have shape [%s] (wrong score shape for this metric?)"
                index.Length (String.Join(", ", index)) (String.Join(", ", shape))
        let mutable flat = 0
        for d in 0 .. index.Length - 1 do
            if index.[d] < 0 || index.[d] >= shape.[d] then
                Errors.fail "score index [%s] is outside scores of shape [%s] (wrong score shape, or a label out of range?)"
                    (String.Join(", ", index)) (String.Join(", ", shape))
            flat <- flat + index.[d] * strides.[d]
        Score(s, flat)
    member s.Item with get (i: int) = s.At [| i |]
    member s.Item with get (i: int, j: int) = s.At [| i; j |]
    member s.Item with get (i: int, j: int, k: int) = s.At [| i; j; k |]
    member internal _.Size = size

/// Concrete integer labels of a batch: shape [n] (class ids) or [n, k] (e.g. joint coordinates).
[<Sealed; AllowNullLiteral>]
type Labels(shape: int[], data: int64[]) =
    do
        if shape.Length = 0 || shape.Length > 2 then Errors.fail "labels must have shape [n] or [n, k], got [%s]" (String.Join(", ", shape))
        if Array.fold (*) 1 shape <> data.Length then Errors.fail "labels of shape [%s] need %d values, got %d" (String.Join(", ", shape)) (Array.fold (*) 1 shape) data.Length
    let cols = if shape.Length = 2 then shape.[1] else 1
    new(labels: int[]) = Labels([| labels.Length |], Array.map int64 labels)
    member _.Shape = Array.copy shape
    /// Number of examples.
    member _.N = shape.[0]
    /// Values per example (1 for class labels).
    member _.Columns = cols
    member _.Data = data
    /// Label of example i (labels of shape [n] or [n,1]).
    member _.Item
        with get (i: int) : int =
            if cols <> 1 then Errors.fail "the metric read labels as one value per example, but the labels have shape [%s]" (String.Join(", ", shape))
            if i < 0 || i >= shape.[0] then Errors.fail "label index %d is outside %d labels" i shape.[0]
            int data.[i]
    member _.Item
        with get (i: int, j: int) : int =
            if i < 0 || i >= shape.[0] || j < 0 || j >= cols then
                Errors.fail "label index [%d, %d] is outside labels of shape [%s]" i j (String.Join(", ", shape))
            int data.[i * cols + j]
    /// A stable key of shape and values (used to cache traces per label vector).
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
/// Ideal (optional) builds the best possible scores for the labels (same shape as the scores),
/// from which the best bit configuration is read; Degenerate (optional) marks label batches on
/// which the metric legitimately makes no comparison (e.g. AP without positives).
[<Sealed; AllowNullLiteral>]
type Metric
    internal (name: string, define: Scores -> Labels -> Num, ideal: (int[] -> Labels -> float32[]) option, goal: Goal,
              degenerate: (Labels -> bool) option) =
    member _.Name = name
    /// The user's definition (F# function).
    member _.Definition = define
    member _.Ideal = ideal
    member _.Goal = goal
    member _.Degenerate = degenerate
    /// F#: Metric.Define("accuracy", fun s y -> ...)
    static member Define(name: string, define: Scores -> Labels -> Num) = Metric(name, define, None, Goal.Maximize, None)
    /// C#: Metric.Create("accuracy", (s, y) => ...)
    static member Create(name: string, define: Func<Scores, Labels, Num>) =
        Metric(name, (fun s y -> define.Invoke(s, y)), None, Goal.Maximize, None)
    /// ideal(scoreShape, labels) → best scores (row-major, same shape); F# lambdas convert.
    member _.WithIdeal(f: Func<int[], Labels, float32[]>) = Metric(name, define, Some(fun sh y -> f.Invoke(sh, y)), goal, degenerate)
    member _.WithDegenerate(f: Func<Labels, bool>) = Metric(name, define, ideal, goal, Some(fun y -> f.Invoke y))
    /// Mark a metric to minimise (an error); UniLoss then returns g̃ itself as the loss.
    member _.Minimized() = Metric(name, define, ideal, Goal.Minimize, degenerate)

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
    static member Count(bits: IEnumerable<Bit>) : Num = Build.Affine(0.0, bits |> Seq.map (fun b -> 1.0, b.AsNum))
    static member Sum(xs: IEnumerable<Num>) : Num = Build.Affine(0.0, xs |> Seq.map (fun x -> 1.0, x))
    /// Mean; the mean of nothing is 0.
    static member Mean(xs: IEnumerable<Num>) : Num =
        let xs = Array.ofSeq xs
        if xs.Length = 0 then Build.Konst 0.0 else Build.Affine(0.0, xs |> Seq.map (fun x -> 1.0 / float xs.Length, x))
    /// Fraction of true bits; 0 for no bits.
    static member Mean(bits: IEnumerable<Bit>) : Num = Uni.Mean(bits |> Seq.map (fun b -> b.AsNum))
    /// a / b with a / 0 = 0.
    static member Ratio(a: Num, b: Num) = Build.Div(a, b)
    /// cond ? a : b, as arithmetic on the bit (cond·a + (1-cond)·b).
    static member Select(cond: Bit, a: Num, b: Num) : Num =
        Build.Affine(0.0, [ 1.0, Build.Mul(cond.AsNum, a); 1.0, b; -1.0, Build.Mul(cond.AsNum, b) ])
    static member ToNum(b: Bit) = b.AsNum
    [<Extension>] static member AllTrue(bits: IEnumerable<Bit>) = Uni.All bits
    [<Extension>] static member AnyTrue(bits: IEnumerable<Bit>) = Uni.Any bits
    [<Extension>] static member CountTrue(bits: IEnumerable<Bit>) = Uni.Count bits
    [<Extension>] static member Total(xs: IEnumerable<Num>) = Uni.Sum xs
    [<Extension>] static member MeanOf(xs: IEnumerable<Num>) = Uni.Mean xs

/// F# metric language: open AutoDesign.Core.UniLoss and use
/// all, any, notb (or ~~~), count, sum, mean, meanBits, ratio, select, num, konst.
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
