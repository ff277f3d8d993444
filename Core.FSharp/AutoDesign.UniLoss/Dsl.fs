namespace AutoDesign.UniLoss

open System.Collections.Generic
open System.Runtime.CompilerServices

/// C#-friendly combinators (static methods). F# code usually opens the Dsl module instead.
[<AbstractClass; Sealed; Extension>]
type Uni =
    static member Const(v: float) : Num = Build.Konst v
    static member True = Build.OfBool true
    static member False = Build.OfBool false
    static member All(bits: IEnumerable<Bit>) = Build.All bits
    static member Any(bits: IEnumerable<Bit>) = Build.Any bits
    static member Not(b: Bit) = Build.Not b
    /// Number of true bits.
    static member Count(bits: IEnumerable<Bit>) : Num = Build.SumBits(0.0, 1.0, bits)
    static member Sum(xs: IEnumerable<Num>) : Num = Build.Sum(0.0, 1.0, xs)

    /// Mean; the mean of nothing is 0.
    static member Mean(xs: IEnumerable<Num>) : Num =
        let xs = Array.ofSeq xs
        if xs.Length = 0 then Build.Konst 0.0 else Build.Sum(0.0, 1.0 / float xs.Length, xs)

    /// Fraction of true bits; 0 for no bits.
    static member Mean(bits: IEnumerable<Bit>) : Num =
        let bs = Array.ofSeq bits
        if bs.Length = 0 then Build.Konst 0.0 else Build.SumBits(0.0, 1.0 / float bs.Length, bs)

    /// a / b with a / 0 = 0.
    static member Ratio(a: Num, b: Num) = Build.Div(a, b)

    /// cond ? a : b, as arithmetic on the bit (cond·a + (1-cond)·b).
    static member Select(cond: Bit, a: Num, b: Num) : Num =
        if isNull cond then Errors.fail "a metric used a null Bit"

        if cond.Negated then
            Uni.Select(Build.Not cond, b, a)
        else
            let c = cond.AsNum
            Build.Affine(0.0, [ 1.0, Build.Binary(NodeKind.Mul, c, a); 1.0, b; -1.0, Build.Binary(NodeKind.Mul, c, b) ])

    static member ToNum(b: Bit) = b.AsNum
    static member Sqrt(x: Num) = Num.Sqrt x
    static member Log(x: Num) = Num.Log x
    static member Exp(x: Num) = Num.Exp x
    static member Abs(x: Num) = Num.Abs x
    static member Pow(x: Num, y: Num) = Num.Pow(x, y)
    static member Min(a: Num, b: Num) = Num.Min(a, b)
    static member Max(a: Num, b: Num) = Num.Max(a, b)
    /// Smallest of a non-empty list.
    static member Min(xs: IEnumerable<Num>) = Uni.Fold("Min", Num.Min, xs)
    /// Largest of a non-empty list.
    static member Max(xs: IEnumerable<Num>) = Uni.Fold("Max", Num.Max, xs)

    static member private Fold(what: string, f: Num * Num -> Num, xs: IEnumerable<Num>) =
        let xs = Array.ofSeq xs
        if xs.Length = 0 then Errors.fail "%s of no numbers" what
        // a balanced tree keeps g shallow
        let rec go (lo: int) (hi: int) = if hi - lo = 1 then xs.[lo] else let m = (lo + hi) / 2 in f (go lo m, go m hi)
        go 0 xs.Length

    /// [class c is the arg-max of these scores], the first maximum winning ties (as numpy and
    /// sklearn): s_c beats every earlier score strictly and no later score beats it. One bit per
    /// pair involving c.
    static member IsArgmax(scores: IList<Score>, c: int) : Bit =
        if c < 0 || c >= scores.Count then Errors.fail "arg-max class %d is outside %d scores" c scores.Count

        Build.All(
            seq {
                for k in 0 .. scores.Count - 1 do
                    if k < c then yield Score.Cmp(scores.[c], scores.[k])
                    elif k > c then yield Build.Not(Score.Cmp(scores.[k], scores.[c]))
            }
        )

    /// Rank of item i among the scores, 1 for the top, ties counting against it:
    /// 1 + #{j ≠ i : s_j ≥ s_i}.
    static member RankOf(scores: IList<Score>, i: int) : Num =
        if i < 0 || i >= scores.Count then Errors.fail "rank of item %d is outside %d scores" i scores.Count

        Build.SumBits(
            1.0,
            1.0,
            seq {
                for j in 0 .. scores.Count - 1 do
                    if j <> i then yield Build.Not(Score.Cmp(scores.[i], scores.[j]))
            }
        )

    [<Extension>]
    static member AllTrue(bits: IEnumerable<Bit>) = Uni.All bits

    [<Extension>]
    static member AnyTrue(bits: IEnumerable<Bit>) = Uni.Any bits

    [<Extension>]
    static member CountTrue(bits: IEnumerable<Bit>) = Uni.Count bits

    [<Extension>]
    static member Total(xs: IEnumerable<Num>) = Uni.Sum xs

    [<Extension>]
    static member MeanOf(xs: IEnumerable<Num>) = Uni.Mean xs

/// F# metric language: open AutoDesign.UniLoss and use all, any, notb (or ~~~), count, sum, mean,
/// meanBits, ratio, select, num, konst, minOf, maxOf, isArgmax, rankOf, and sqrt, log, exp, abs,
/// ** on numbers.
[<AutoOpen>]
module Dsl =
    let all (bits: Bit seq) = Build.All bits
    let any (bits: Bit seq) = Build.Any bits
    let notb (b: Bit) = Build.Not b
    let count (bits: Bit seq) = Uni.Count bits
    let sum (xs: Num seq) = Uni.Sum xs
    let mean (xs: Num seq) = Uni.Mean xs
    let meanBits (bits: Bit seq) = Uni.Mean(bits: IEnumerable<Bit>)
    let ratio (a: Num) (b: Num) = Build.Div(a, b)
    let select (cond: Bit) (a: Num) (b: Num) = Uni.Select(cond, a, b)
    let num (b: Bit) = b.AsNum
    let konst (v: float) = Build.Konst v
    /// Smallest / largest of a non-empty list of numbers.
    let minOf (xs: Num seq) = Uni.Min xs
    let maxOf (xs: Num seq) = Uni.Max xs
    /// [class c is the first arg-max of the scores]
    let isArgmax (scores: Score[]) (c: int) = Uni.IsArgmax(scores, c)
    /// 1 + #{j ≠ i : s_j ≥ s_i}
    let rankOf (scores: Score[]) (i: int) = Uni.RankOf(scores, i)
