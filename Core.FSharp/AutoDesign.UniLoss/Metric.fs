namespace AutoDesign.UniLoss

open System

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
