namespace AutoDesign.UniLoss

open System

/// The refactorization e = g(h(f(s))) of a metric for one batch of labels, found by tracing.
/// f: Comparisons (c_b = x1 - x2 - Offset on the flattened scores, deduplicated);
/// h: b = [c > 0] (strict: ties give 0); g: Nodes, a DAG over the l bits pruned to what the result
/// depends on, ids topological, the l leaves first (node b < l reads bit b); its value is node Root.
/// N-ary nodes (Affine, And, Or) own edge ranges of Kids / Weights.
type Refactored =
    {
        Shape: int[]
        Comparisons: Comparison[]
        Nodes: Node[]
        Kids: int[]
        Weights: float[]
        Root: int
        /// Example index (first score dimension) of each bit's first score: the default flip group.
        ExampleOf: int[]
    }

    member r.L = r.Comparisons.Length
    member r.NumScores = Array.fold (*) 1 r.Shape

module Refactor =
    let private shapeStr (shape: int[]) = String.Join(", ", shape)

    let private validate (metric: Metric) (shape: int[]) (labels: Labels) =
        if isNull (box metric) then Errors.fail "no metric given"
        if isNull shape || shape.Length = 0 then Errors.fail "%s: scores must have a batch dimension, got a scalar" metric.Name

        if shape |> Array.exists (fun d -> d <= 0) then
            Errors.fail "%s: scores of shape [%s] are empty" metric.Name (shapeStr shape)

        if isNull labels then Errors.fail "%s: no labels given" metric.Name

        if labels.N <> shape.[0] then
            Errors.fail "%s: %d labels for a batch of %d scores (shape [%s])" metric.Name labels.N shape.[0] (shapeStr shape)

    /// Runs the definition; every UserError it raises names the metric.
    let private run (metric: Metric) (s: Scores) (labels: Labels) : Num =
        let v =
            try
                metric.Definition s labels
            with UserError msg when not (msg.StartsWith(metric.Name + ":")) ->
                raise (UserError(metric.Name + ": " + msg))

        if isNull v then Errors.fail "%s: the metric returned null" metric.Name
        v

    /// Evaluate the metric's definition directly on concrete scores (row-major, shape `shape`):
    /// every comparison is a constant and the combinators fold, so no f, h or g is involved.
    [<CompiledName("Exact")>]
    let exact (metric: Metric) (shape: int[]) (labels: Labels) (values: float32[]) : float =
        validate metric shape labels

        if isNull values || values.Length <> Array.fold (*) 1 shape then
            Errors.fail "%s: %d score values for shape [%s]" metric.Name (if isNull values then 0 else values.Length) (shapeStr shape)

        if values |> Array.exists Single.IsNaN then Errors.fail "%s: the scores contain NaN" metric.Name
        let v = run metric (Scores(shape, null, values)) labels
        if not v.IsConstant then Errors.fail "%s: the metric mixed a value from an earlier trace into its result" metric.Name
        v.Value

    let private traceWith (tracer: Tracer) (metric: Metric) (shape: int[]) (labels: Labels) : Refactored =
        let v = run metric (Scores(shape, tracer, null)) labels

        if v.IsConstant then
            { Shape = Array.copy shape
              Comparisons = [||]
              Nodes = [| { Kind = NodeKind.Const; A = 0; B = 0; Value = v.Value } |]
              Kids = [||]
              Weights = [||]
              Root = 0
              ExampleOf = [||] }
        elif not (obj.ReferenceEquals(v.Tracer, tracer)) then
            Errors.fail "%s: the metric returned a value from an earlier trace" metric.Name
        else
            let nodes = tracer.Nodes
            let kids = tracer.Kids
            let root = v.Id
            // keep what the root depends on
            let keep = Array.zeroCreate<bool>(root + 1)
            keep.[root] <- true
            let mutable leaves = 0
            let mutable edges = 0

            for id in root .. -1 .. 0 do
                if keep.[id] then
                    let n = nodes.[id]

                    match n.Kind with
                    | NodeKind.Leaf -> leaves <- leaves + 1
                    | NodeKind.Const -> ()
                    | NodeKind.Affine
                    | NodeKind.And
                    | NodeKind.Or ->
                        edges <- edges + n.B

                        for e in n.A .. n.A + n.B - 1 do
                            keep.[kids.[e]] <- true
                    | NodeKind.Mul
                    | NodeKind.Div
                    | NodeKind.Pow
                    | NodeKind.Min
                    | NodeKind.Max ->
                        keep.[n.A] <- true
                        keep.[n.B] <- true
                    | _ -> keep.[n.A] <- true
            // leaves first (in creation order: bit b is the b-th kept leaf), then the rest in order
            let newId = Array.create (root + 1) -1
            let mutable nextLeaf = 0
            let mutable nextNode = leaves

            for id in 0..root do
                if keep.[id] then
                    if nodes.[id].Kind = NodeKind.Leaf then
                        newId.[id] <- nextLeaf
                        nextLeaf <- nextLeaf + 1
                    else
                        newId.[id] <- nextNode
                        nextNode <- nextNode + 1

            let outNodes = Array.zeroCreate<Node> nextNode
            let outKids = Array.zeroCreate<int> edges
            let outW = Array.zeroCreate<float> edges
            let comps = Array.zeroCreate<Comparison> leaves
            let mutable e0 = 0

            for id in 0..root do
                if keep.[id] then
                    let n = nodes.[id]
                    let m = newId.[id]

                    outNodes.[m] <-
                        match n.Kind with
                        | NodeKind.Leaf ->
                            comps.[m] <- tracer.Comparisons.[n.A]
                            { n with A = m }
                        | NodeKind.Const -> n
                        | NodeKind.Affine
                        | NodeKind.And
                        | NodeKind.Or ->
                            let start = e0

                            for e in n.A .. n.A + n.B - 1 do
                                outKids.[e0] <- newId.[kids.[e]]
                                outW.[e0] <- tracer.Weights.[e]
                                e0 <- e0 + 1

                            { n with A = start }
                        | NodeKind.Mul
                        | NodeKind.Div
                        | NodeKind.Pow
                        | NodeKind.Min
                        | NodeKind.Max -> { n with A = newId.[n.A]; B = newId.[n.B] }
                        | _ -> { n with A = newId.[n.A] }

            let perExample = (Array.fold (*) 1 shape) / shape.[0]

            { Shape = Array.copy shape
              Comparisons = comps
              Nodes = outNodes
              Kids = outKids
              Weights = outW
              Root = newId.[root]
              ExampleOf = comps |> Array.map (fun c -> (if c.K1 >= 0 then c.K1 else c.K2) / perExample) }

    /// Run the metric once on symbolic scores for these labels and extract f, h, g.
    [<CompiledName("Trace")>]
    let trace (metric: Metric) (shape: int[]) (labels: Labels) : Refactored =
        validate metric shape labels
        let tracer = Tracer.Open()

        try
            try
                traceWith tracer metric shape labels
            with TraceTooLarge what ->
                tracer.Discard()

                Errors.fail
                    "%s: the trace of this batch (scores [%s]) is too large to hold: %s; use a smaller batch or smaller heatmaps"
                    metric.Name
                    (shapeStr shape)
                    what
        finally
            tracer.Close()

    /// `trace`, or false (and no trace) when the trace would pass Limits.MaxComparisons or
    /// Limits.MaxGraphSize; memory stays within those limits either way.
    [<CompiledName("TryTrace")>]
    let tryTrace (metric: Metric) (shape: int[]) (labels: Labels) ([<System.Runtime.InteropServices.Out>] result: byref<Refactored>) : bool =
        validate metric shape labels
        let tracer = Tracer.Open()

        try
            try
                result <- traceWith tracer metric shape labels
                true
            with TraceTooLarge _ ->
                tracer.Discard()
                false
        finally
            tracer.Close()

    /// One comparison on concrete scores (float32 arithmetic, as f on tensors).
    [<CompiledName("Compare")>]
    let inline compare (c: Comparison) (values: float32[]) : float32 =
        let x1 = if c.K1 >= 0 then values.[c.K1] else 0.0f
        let x2 = if c.K2 >= 0 then values.[c.K2] else 0.0f
        x1 - x2 - float32 c.Offset

    /// f on concrete scores.
    [<CompiledName("Comparisons")>]
    let comparisons (r: Refactored) (values: float32[]) : float32[] = r.Comparisons |> Array.map (fun c -> compare c values)

    /// h: b = [c > 0].
    [<CompiledName("H")>]
    let h (c: float32[]) : float32[] = c |> Array.map (fun x -> if x > 0.0f then 1.0f else 0.0f)

    /// The value of node id given the values of its children in v (bits are read from v too).
    [<CompiledName("NodeValue")>]
    let inline nodeValue (r: Refactored) (v: float[]) (id: int) : float =
        let n = r.Nodes.[id]

        match n.Kind with
        | NodeKind.Leaf -> v.[id]
        | NodeKind.Const -> n.Value
        | NodeKind.Affine ->
            let mutable acc = n.Value

            for e in n.A .. n.A + n.B - 1 do
                acc <- acc + r.Weights.[e] * v.[r.Kids.[e]]

            acc
        | NodeKind.And ->
            let mutable ok = true

            for e in n.A .. n.A + n.B - 1 do
                if not (v.[r.Kids.[e]] > 0.5) then ok <- false

            if ok then 1.0 else 0.0
        | NodeKind.Or ->
            let mutable any = false

            for e in n.A .. n.A + n.B - 1 do
                if v.[r.Kids.[e]] > 0.5 then any <- true

            if any then 1.0 else 0.0
        | NodeKind.Mul
        | NodeKind.Div
        | NodeKind.Pow
        | NodeKind.Min
        | NodeKind.Max -> SafeMath.apply n.Kind v.[n.A] v.[n.B]
        | k -> SafeMath.apply k v.[n.A] 0.0

    /// Reference (plain loop) evaluation of g on one bit configuration.
    [<CompiledName("G")>]
    let g (r: Refactored) (bits: float32[]) : float =
        if bits.Length <> r.L then invalidArg "bits" (sprintf "g expects %d bits, got %d" r.L bits.Length)
        let v = Array.zeroCreate<float> r.Nodes.Length

        for b in 0 .. r.L - 1 do
            v.[b] <- float bits.[b]

        for id in r.L .. r.Nodes.Length - 1 do
            v.[id] <- nodeValue r v id

        v.[r.Root]

    /// g(h(f(s))) with the reference evaluator.
    [<CompiledName("Refactored")>]
    let refactored (r: Refactored) (values: float32[]) : float = g r (h (comparisons r values))

    /// Number of g nodes that compute something (not bits, not constants).
    [<CompiledName("ComputedNodes")>]
    let computedNodes (r: Refactored) = r.Nodes |> Array.sumBy (fun n -> if n.Kind = NodeKind.Leaf || n.Kind = NodeKind.Const then 0 else 1)
