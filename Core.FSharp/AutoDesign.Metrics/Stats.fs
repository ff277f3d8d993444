namespace AutoDesign.Metrics

open System

/// Summary statistics used by every report: sample standard deviation (n − 1) everywhere, and paired
/// differences with a t-based confidence interval.
module Stats =
    [<CompiledName("Mean")>]
    let mean (xs: float seq) =
        let a = Array.ofSeq xs
        if a.Length = 0 then nan else Array.average a

    /// Sample standard deviation (divides by n − 1); 0 for one value, NaN for none.
    [<CompiledName("Sd")>]
    let sd (xs: float seq) =
        let a = Array.ofSeq xs
        if a.Length = 0 then nan
        elif a.Length = 1 then 0.0
        else
            let m = Array.average a
            sqrt ((a |> Array.sumBy (fun x -> (x - m) * (x - m))) / float (a.Length - 1))

    /// Two-sided 97.5% quantile of Student's t with `df` degrees of freedom (table for df ≤ 30, normal beyond).
    [<CompiledName("TQuantile975")>]
    let tQuantile975 (df: int) =
        let table = [| nan; 12.706; 4.303; 3.182; 2.776; 2.571; 2.447; 2.365; 2.306; 2.262; 2.228; 2.201; 2.179; 2.160; 2.145; 2.131
                       2.120; 2.110; 2.101; 2.093; 2.086; 2.080; 2.074; 2.069; 2.064; 2.060; 2.056; 2.052; 2.048; 2.045; 2.042 |]
        if df < 1 then nan elif df < table.Length then table.[df] else 1.96

    /// Paired differences b − a: (mean, sample sd, 95% confidence interval of the mean (lo, hi)).
    /// The interval is NaN-wide for fewer than two pairs.
    [<CompiledName("Paired")>]
    let paired (a: float seq) (b: float seq) =
        let a, b = Array.ofSeq a, Array.ofSeq b
        if a.Length <> b.Length then invalidArg "b" (sprintf "paired samples need equal lengths, got %d and %d" a.Length b.Length)
        let d = Array.map2 (fun x y -> y - x) a b
        let m, s = mean d, sd d
        let half = if d.Length < 2 then nan else tQuantile975 (d.Length - 1) * s / sqrt (float d.Length)
        m, s, (m - half, m + half)

    /// "0.123 ± 0.045" with `digits` decimals (the ± part left out for one value).
    [<CompiledName("Format")>]
    let format (digits: int) (xs: float seq) =
        let a = Array.ofSeq xs
        let f (x: float) = x.ToString("F" + string digits, Globalization.CultureInfo.InvariantCulture)
        if a.Length < 2 then f (mean a) else sprintf "%s ± %s" (f (mean a)) (f (sd a))
