namespace AutoDesign.Reproduce

open System
open System.Globalization

/// Mean, sample standard deviation and a 95% t-interval of per-seed values (AutoDesign.Metrics.Stats).
type SeedStats = AutoDesign.Metrics.SampleStats

/// What the numbers say about a claim.
type Verdict =
    | Reproduced
    | NotReproduced
    | Inconclusive

/// Per-seed statistics for REPORT rows: mean ± sd, paired differences and verdicts decided by the 95% interval
/// of the paired difference (never by the sign of a single run).
module Paired =
    /// Statistics of the finite values in `xs`.
    let stats (xs: float list) : SeedStats = AutoDesign.Metrics.Stats.summary (xs |> List.filter Double.IsFinite)

    /// Per-seed differences a_k − b_k (pairs with a non-finite side are left out).
    let difference (a: float list) (b: float list) : SeedStats =
        if a.Length <> b.Length then invalidArg "b" (sprintf "paired lists differ in length (%d vs %d)" a.Length b.Length)
        stats (List.map2 (-) a b |> List.filter Double.IsFinite)

    /// Verdict on "the difference is positive": reproduced when the 95% interval lies above 0, not reproduced
    /// when it lies below 0, inconclusive otherwise (also with fewer than 2 seeds).
    let verdict (d: SeedStats) =
        if d.N < 2 || Double.IsNaN d.Lo then Inconclusive
        elif d.Lo > 0.0 then Reproduced
        elif d.Hi < 0.0 then NotReproduced
        else Inconclusive

    let verdictText (v: Verdict) =
        match v with
        | Reproduced -> "REPRODUCED"
        | NotReproduced -> "NOT REPRODUCED (the opposite holds)"
        | Inconclusive -> "INCONCLUSIVE"

    let private f (digits: int) (x: float) = x.ToString("F" + string digits, CultureInfo.InvariantCulture)

    /// "12.34 ± 0.56" (mean ± sd over seeds).
    let meanSd (digits: int) (s: SeedStats) =
        if s.N = 0 then "n/a"
        elif s.N < 2 then f digits s.Mean
        else sprintf "%s ± %s" (f digits s.Mean) (f digits s.Sd)

    /// "+1.23 [95% CI -0.40, 2.86], n = 3".
    let interval (digits: int) (s: SeedStats) =
        if s.N = 0 then
            "n/a"
        elif s.N < 2 then
            sprintf "%s (one seed, no interval)" (f digits s.Mean)
        else
            sprintf "%s%s [95%% CI %s, %s], n = %d" (if s.Mean >= 0.0 then "+" else "") (f digits s.Mean) (f digits s.Lo) (f digits s.Hi) s.N

    /// The per-seed values, "a / b / c".
    let values (digits: int) (xs: float list) = xs |> List.map (f digits) |> String.concat " / "

    /// Half the width of the 95% interval (NaN with fewer than 2 seeds).
    let halfWidth (s: SeedStats) = if s.N < 2 then nan else (s.Hi - s.Lo) / 2.0

    /// The reading of "the difference is positive" against an effect of size `effect` (`what` names it, e.g. "the
    /// thesis's effect"): the interval excludes 0 (REPRODUCED, or NOT REPRODUCED when it lies below 0), or it contains
    /// 0 and its half-width is at most effect / 2, so it lies inside ±effect: "no effect of that size" either way;
    /// INCONCLUSIVE otherwise.
    let decisiveText (digits: int) (effect: float) (what: string) (s: SeedStats) =
        let hw = halfWidth s

        match verdict s with
        | Reproduced
        | NotReproduced as v -> sprintf "%s (the 95%% interval excludes 0)" (verdictText v)
        | Inconclusive when Double.IsFinite hw && hw <= effect / 2.0 ->
            sprintf
                "NO EFFECT OF SIZE %s (the 95%% interval contains 0 and its half-width %s is at most %s, half of %s %s, so it excludes an effect of %s either way)"
                (f digits effect)
                (f digits hw)
                (f digits (effect / 2.0))
                what
                (f digits effect)
                (f digits effect)
        | Inconclusive when Double.IsFinite hw ->
            sprintf
                "INCONCLUSIVE (the 95%% interval contains 0 and its half-width %s exceeds %s, half of %s %s)"
                (f digits hw)
                (f digits (effect / 2.0))
                what
                (f digits effect)
        | Inconclusive -> "INCONCLUSIVE (fewer than 2 seeds)"

    /// Seeds a paired comparison with per-seed difference sd `sd` needs for its 95% interval's half-width to be at
    /// most `halfWidth` (the smallest n with t(n-1) sd / sqrt n <= halfWidth); None beyond `cap` seeds.
    let seedsFor (sd: float) (target: float) (cap: int) =
        if not (Double.IsFinite sd && target > 0.0) then
            None
        else
            [ 2..cap ] |> List.tryFind (fun n -> AutoDesign.Metrics.Stats.tQuantile975 (n - 1) * sd / sqrt (float n) <= target)
