namespace AutoDesign.UniLoss

open System
open AutoDesign.Runs

/// The refactorization e = g(h(f(s))) of a metric for one batch of labels, found by tracing.
/// f: Comparisons (c_b = s[K1] - s[K2] - Offset on the flattened scores, deduplicated);
/// h: b = [c > 0] (strict: ties give 0); g: Nodes, a DAG over the l bits (pruned to what the
/// result depends on; ids are topological; Leaf b reads bit b), whose value is node Root.
type Refactored =
    { Shape: int[]
      Comparisons: Comparison[]
      Nodes: NodeOp[]
      Root: int
      /// Example index (first score dimension) of each bit's K1 score: the default flip group.
      ExampleOf: int[] }
    member r.L = r.Comparisons.Length
    member r.NumScores = Array.fold (*) 1 r.Shape

module Refactor =
    let private shapeStr (shape: int[]) = String.Join(", ", shape)

    let private validate (metric: Metric) (shape: int[]) (labels: Labels) =
        if isNull (box metric) then Errors.fail "no metric given"
        if shape.Length = 0 then Errors.fail "%s: scores must have a batch dimension, got a scalar" metric.Name
        if shape |> Array.exists (fun d -> d <= 0) then Errors.fail "%s: scores of shape [%s] are empty" metric.Name (shapeStr shape)
        if labels.N <> shape.[0] then
            Errors.fail "%s: %d labels for a batch of %d scores (shape [%s])" metric.Name labels.N shape.[0] (shapeStr shape)

    let private run (metric: Metric) (s: Scores) (labels: Labels) : Num =
        let v = metric.Definition s labels
        if isNull v then Errors.fail "%s: the metric returned null" metric.Name
        v

    /// Evaluate the metric's definition directly on concrete scores (row-major, shape `shape`):
    /// every comparison is a constant and the combinators fold, so no f, h or g is involved.
    let exact (metric: Metric) (shape: int[]) (labels: Labels) (values: float32[]) : float =
        validate metric shape labels
        if values.Length <> Array.fold (*) 1 shape then
            Errors.fail "%s: %d score values for shape [%s]" metric.Name values.Length (shapeStr shape)
        if values |> Array.exists Single.IsNaN then Errors.fail "%s: the scores contain NaN" metric.Name
        let v = run metric (Scores(shape, null, values)) labels
        if not v.IsConstant then Errors.fail "%s: the metric mixed a value from an earlier trace into its result" metric.Name
        v.Value

    /// Run the metric once on symbolic scores for these labels and extract f, h, g.
    let trace (metric: Metric) (shape: int[]) (labels: Labels) : Refactored =
        validate metric shape labels
        let tracer = Tracer()
        let v = run metric (Scores(shape, tracer, null)) labels
        if v.IsConstant then
            { Shape = Array.copy shape; Comparisons = [||]; Nodes = [| Const v.Value |]; Root = 0; ExampleOf = [||] }
        elif not (obj.ReferenceEquals(v.Tracer, tracer)) then
            Errors.fail "%s: the metric returned a value from an earlier trace" metric.Name
        else
            let nodes = tracer.Nodes
            let keep = Array.zeroCreate nodes.Count
            keep.[v.Id] <- true
            for id in v.Id .. -1 .. 0 do
                if keep.[id] then
                    match nodes.[id] with
                    | Leaf _ | Const _ -> ()
                    | Affine(_, _, cs) | And cs | Or cs -> for c in cs do keep.[c] <- true
                    | Mul(a, b) | Div(a, b) -> keep.[a] <- true; keep.[b] <- true
                    | Pos x -> keep.[x] <- true
            let newId = Array.create nodes.Count -1
            let out = ResizeArray<NodeOp>()
            let comps = ResizeArray<Comparison>()
            for id in 0 .. v.Id do
                if keep.[id] then
                    let m c = newId.[c]
                    let op =
                        match nodes.[id] with
                        | Leaf b ->
                            comps.Add tracer.Comparisons.[b]
                            Leaf(comps.Count - 1)
                        | Const x -> Const x
                        | Affine(b, w, cs) -> Affine(b, w, Array.map m cs)
                        | And cs -> And(Array.map m cs)
                        | Or cs -> Or(Array.map m cs)
                        | Mul(a, b) -> Mul(m a, m b)
                        | Div(a, b) -> Div(m a, m b)
                        | Pos x -> Pos(m x)
                    newId.[id] <- out.Count
                    out.Add op
            let perExample = (Array.fold (*) 1 shape) / shape.[0]
            let comps = comps.ToArray()
            { Shape = Array.copy shape
              Comparisons = comps
              Nodes = out.ToArray()
              Root = newId.[v.Id]
              ExampleOf = comps |> Array.map (fun c -> c.K1 / perExample) }

    /// f on concrete scores (float32 arithmetic, as on tensors).
    let comparisons (r: Refactored) (values: float32[]) : float32[] =
        r.Comparisons |> Array.map (fun c -> values.[c.K1] - (if c.K2 >= 0 then values.[c.K2] else 0.0f) - float32 c.Offset)

    /// h: b = [c > 0].
    let h (c: float32[]) : float32[] = c |> Array.map (fun x -> if x > 0.0f then 1.0f else 0.0f)

    /// Reference (per-anchor, plain loop) evaluation of g on one bit configuration.
    let g (r: Refactored) (bits: float32[]) : float =
        if bits.Length <> r.L then invalidArg "bits" (sprintf "g expects %d bits, got %d" r.L bits.Length)
        let v = Array.zeroCreate<float> r.Nodes.Length
        for id in 0 .. r.Nodes.Length - 1 do
            v.[id] <-
                match r.Nodes.[id] with
                | Leaf b -> float bits.[b]
                | Const x -> x
                | Affine(b, w, cs) ->
                    let mutable acc = b
                    for e in 0 .. cs.Length - 1 do acc <- acc + w.[e] * v.[cs.[e]]
                    acc
                | And cs -> if cs |> Array.forall (fun c -> v.[c] > 0.5) then 1.0 else 0.0
                | Or cs -> if cs |> Array.exists (fun c -> v.[c] > 0.5) then 1.0 else 0.0
                | Mul(a, b) -> v.[a] * v.[b]
                | Div(a, b) -> if v.[b] = 0.0 then 0.0 else v.[a] / v.[b]
                | Pos x -> if v.[x] > 0.0 then 1.0 else 0.0
        v.[r.Root]

    /// g(h(f(s))) with the reference evaluator.
    let refactored (r: Refactored) (values: float32[]) : float = g r (h (comparisons r values))
