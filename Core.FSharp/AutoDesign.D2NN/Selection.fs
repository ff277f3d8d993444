namespace AutoDesign.D2NN

open System

/// How an operating point is chosen (a λ of a D²NN sweep, a threshold of an early-exit curve, a recipe
/// option): on the validation split carved from the training images, never on the test split. The rule:
/// the cheapest candidate whose validation metric is within `Tolerance` of the reference network's
/// validation metric; when none is, the most accurate candidate on validation (the cheaper on ties).
/// The test metric and cost of the chosen point are what reports show.
module Selection =
    /// How far below the reference's validation metric a chosen point may be.
    [<Literal>]
    let Tolerance = 0.01

    /// The candidate the rule picks from `candidates` (validation metric and cost of each).
    [<CompiledName("CheapestWithin")>]
    let cheapestWithin (tolerance: float) (reference: float) (metric: Func<'T, float>) (cost: Func<'T, float>) (candidates: seq<'T>) : 'T =
        let xs = List.ofSeq candidates
        if xs.IsEmpty then Errors.fail "no candidate to choose from"

        match xs |> List.filter (fun x -> metric.Invoke x >= reference - tolerance) with
        | [] -> xs |> List.sortBy (fun x -> -(metric.Invoke x), cost.Invoke x) |> List.head
        | close -> close |> List.minBy cost.Invoke

    /// Whether the rule found a candidate within `tolerance` (false: it fell back to the most accurate).
    [<CompiledName("IsWithin")>]
    let isWithin (tolerance: float) (reference: float) (validationMetric: float) = validationMetric >= reference - tolerance
