namespace AutoDesign.Metrics

open System

/// Count, mean, sample standard deviation and the 95% t-interval of the mean (Lo, Hi: NaN when N < 2).
type SampleStats = { N: int; Mean: float; Sd: float; Lo: float; Hi: float }

/// Summary statistics used by every report: sample standard deviation (n − 1) everywhere, and paired
/// differences with a t-based confidence interval.
module Stats =
    [<CompiledName("Mean")>]
    let mean (xs: float seq) =
        let a = Array.ofSeq xs
        if a.Length = 0 then nan else Array.average a

    /// Sample standard deviation (divides by n − 1; MathNet.Numerics); 0 for one value, NaN for none.
    [<CompiledName("Sd")>]
    let sd (xs: float seq) =
        let a = Array.ofSeq xs

        if a.Length = 0 then nan
        elif a.Length = 1 then 0.0
        else MathNet.Numerics.Statistics.Statistics.StandardDeviation a

    /// Two-sided 97.5% quantile of Student's t with `df` degrees of freedom (MathNet.Numerics); NaN for df < 1.
    [<CompiledName("TQuantile975")>]
    let tQuantile975 (df: int) = if df < 1 then nan else MathNet.Numerics.Distributions.StudentT.InvCDF(0.0, 1.0, float df, 0.975)

    /// Count, mean, sample sd and the 95% t-interval of the mean of `xs` (the interval NaN for fewer than two).
    [<CompiledName("Summary")>]
    let summary (xs: float seq) : SampleStats =
        let a = Array.ofSeq xs
        let m, s = mean a, sd a
        let half = if a.Length < 2 then nan else tQuantile975 (a.Length - 1) * s / sqrt (float a.Length)
        { N = a.Length; Mean = m; Sd = s; Lo = m - half; Hi = m + half }

    /// Paired differences b − a (the summary of b_k − a_k). The interval is NaN-wide for fewer than two pairs.
    [<CompiledName("Paired")>]
    let paired (a: float seq) (b: float seq) : SampleStats =
        let a, b = Array.ofSeq a, Array.ofSeq b

        if a.Length <> b.Length then
            invalidArg "b" (sprintf "paired samples need equal lengths, got %d and %d" a.Length b.Length)

        summary (Array.map2 (fun x y -> y - x) a b)

    /// "0.123 ± 0.045" with `digits` decimals (the ± part left out for one value).
    [<CompiledName("Format")>]
    let format (digits: int) (xs: float seq) =
        let a = Array.ofSeq xs
        let f (x: float) = x.ToString("F" + string digits, Globalization.CultureInfo.InvariantCulture)
        if a.Length < 2 then f (mean a) else sprintf "%s ± %s" (f (mean a)) (f (sd a))
