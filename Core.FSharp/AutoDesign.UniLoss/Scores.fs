namespace AutoDesign.UniLoss

open System

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
