namespace AutoDesign.Reproduce.D2NN

open System
open AutoDesign.Metrics
open AutoDesign.D2NN

/// A comparison over seeds: its title and the measured text with the verdict.
type Verdict = { Comparison: string; Measured: string }

/// Verdicts of a D²NN architecture over seeds, each decided by 95% paired intervals: per seed, every
/// method's operating point is chosen on the validation split by Selection's rule (the cheapest point
/// within 0.01 of the reference network's validation metric, the reference trained as long as the D²NN),
/// and its test metric and time are compared. Time is the modeled wall-time fraction of the reference
/// (stored per-node latency tables), or the multiplication fraction where there are no tables.
module D2nnVerdicts =
    let private inv (v: float) = v.ToString("0.###", Globalization.CultureInfo.InvariantCulture)

    /// The reference network at the D²NN's total training (at its own steps without equal-budget runs).
    let reference (o: SweepOutcome) =
        let name = o.Architecture.Reference.Name

        match o.EqualBudget |> List.tryFind (fun b -> b.Series = name) with
        | Some p -> p
        | None -> o.Baselines |> List.find (fun b -> b.Series = name)

    let private hasTime (o: SweepOutcome) = o.Latency.IsSome
    let private validationCost (o: SweepOutcome) (p: CurvePoint) : float = if hasTime o then o.ValidationLatencyOf p else p.Result.Validation.Cost
    let private testCost (o: SweepOutcome) (p: CurvePoint) = if hasTime o then o.LatencyOf p else p.Result.Cost

    /// The point Selection's rule picks among `candidates` of one seed's sweep.
    let choose (o: SweepOutcome) (candidates: CurvePoint list) : CurvePoint =
        Selection.cheapestWithin
            Selection.Tolerance
            (reference o).Result.Validation.Metric
            (Func<CurvePoint, float>(fun p -> p.Result.Validation.Metric))
            (Func<CurvePoint, float>(validationCost o))
            candidates

    /// "+0.012 [-0.004, +0.028]": mean of the paired differences b − a and its 95% interval.
    let private diff (a: float list) (b: float list) =
        let d = Stats.paired a b
        sprintf "%+.3f [%+.3f, %+.3f]" d.Mean d.Lo d.Hi, d.Lo, d.Hi

    let private within (o: SweepOutcome) (p: CurvePoint) = p.Result.Metric >= (reference o).Result.Metric - Selection.Tolerance

    /// D²NN (recipe `recipe`, λ chosen on validation) against the reference at equal training, and against
    /// the early-exit curve (threshold chosen on validation) where the architecture has one.
    let verdicts (outcomes: SweepOutcome list) (recipe: Recipe) : Verdict list =
        let first = List.head outcomes
        let metric = first.Task.Metric.Name
        let refName = first.Architecture.Reference.Name
        let unit = if hasTime first then "modeled time fraction" else "multiplication fraction"
        let refs = outcomes |> List.map reference

        let d2nn =
            outcomes |> List.map (fun o -> choose o (o.Points |> List.filter (fun (p: CurvePoint) -> p.Recipe = recipe.Name)))

        let metricOf (ps: CurvePoint list) = ps |> List.map (fun (p: CurvePoint) -> p.Result.Metric)
        let timeOf (ps: CurvePoint list) = List.map2 testCost outcomes ps
        let reached (ps: CurvePoint list) = List.map2 within outcomes ps |> List.filter id |> List.length
        let n = outcomes.Length
        let mText, mLo, mHi = diff (metricOf refs) (metricOf d2nn)
        let tText, tLo, tHi = diff (timeOf refs) (timeOf d2nn)

        let versusReference =
            let verdict =
                if mHi < -Selection.Tolerance then
                    sprintf "the D2NN is less accurate than %s by more than %g" refName Selection.Tolerance
                elif mLo >= -Selection.Tolerance && tHi < 0.0 then
                    sprintf "the D2NN comes within %g of %s at a lower cost" Selection.Tolerance refName
                elif tHi < 0.0 then
                    sprintf "the D2NN is cheaper than %s, but its %s is not shown within %g" refName metric Selection.Tolerance
                elif tLo > 0.0 then
                    sprintf "the D2NN costs more than %s" refName
                else
                    "not decided at 95%: the intervals allow either"

            { Comparison = sprintf "D2NN vs %s at equal training" refName
              Measured =
                sprintf
                    "λ per seed chosen on validation: %s; test %s minus %s's (%d steps): %s; %s minus %s's: %s; within %g of %s on test: %d of %d seeds. Verdict: %s."
                    (d2nn |> List.map (fun (p: CurvePoint) -> inv p.Lambda) |> String.concat ", ")
                    metric
                    refName
                    (List.head refs).Steps
                    mText
                    unit
                    refName
                    tText
                    Selection.Tolerance
                    refName
                    (reached d2nn)
                    n
                    verdict }

        let versusExit =
            if first.EarlyExit.IsEmpty then
                []
            else
                let exits = outcomes |> List.map (fun o -> choose o o.ExitCurve)
                let mText, _, _ = diff (metricOf exits) (metricOf d2nn)
                let tText, tLo, tHi = diff (timeOf exits) (timeOf d2nn)

                let verdict =
                    if tHi < 0.0 then "the D2NN needs less time than the early exit to come within 0.01 of the reference"
                    elif tLo > 0.0 then "the early exit needs less time than the D2NN to come within 0.01 of the reference: prefer it here"
                    else "no difference shown at 95%"

                [ { Comparison = "D2NN vs early exit"
                    Measured =
                      sprintf
                          "early exit (same stages and exits, trained jointly for the D2NN's %d steps) threshold per seed chosen on validation: %s (%s %s at %s %s); D2NN minus early exit: test %s %s, %s %s; within %g of %s on test: D2NN %d, early exit %d of %d seeds. Verdict: %s."
                          first.Settings.D2nnTotalSteps
                          (exits |> List.map (fun (p: CurvePoint) -> inv p.Lambda) |> String.concat ", ")
                          metric
                          (Stats.format 3 (metricOf exits))
                          unit
                          (Stats.format 3 (timeOf exits))
                          metric
                          mText
                          unit
                          tText
                          Selection.Tolerance
                          refName
                          (reached d2nn)
                          (reached exits)
                          n
                          verdict } ]

        versusReference :: versusExit
