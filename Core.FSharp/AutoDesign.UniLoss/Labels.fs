namespace AutoDesign.UniLoss

open System

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
