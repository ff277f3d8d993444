namespace AutoDesign.Data

open System.Collections.Generic
open AutoDesign.Runs

/// Deterministic, seeded train/validation/test index sets.
module Splits =
    // Stream ids keep split shuffles independent of loader shuffles with the same seed.
    let private splitStream = 0x5EEDL

    let private checkFractions (fractions: float list) =
        if List.isEmpty fractions then Errors.fail "split fractions: need at least one fraction"

        if fractions |> List.exists (fun f -> System.Double.IsNaN f || f <= 0.0 || f > 1.0) then
            Errors.fail "split fractions must each be in (0, 1], got %s" (fractions |> List.map string |> String.concat ", ")

        let total = List.sum fractions
        if total > 1.0 + 1e-9 then Errors.fail "split fractions add up to %g, more than 1" total
        total

    /// Sizes of the parts: rounded cumulative fractions of n; when the fractions add up to 1 the
    /// parts cover all n items.
    let private sizesOf (n: int) (fractions: float list) : int list =
        let total = checkFractions fractions
        let covers = abs (total - 1.0) < 1e-9
        let cumulative = fractions |> List.scan (+) 0.0 |> List.tail

        let ends =
            cumulative
            |> List.mapi (fun i c ->
                if covers && i = List.length fractions - 1 then
                    n
                else
                    int (System.Math.Round(c * float n, System.MidpointRounding.AwayFromZero)) |> min n)

        List.map2 (-) ends (0 :: List.take (List.length ends - 1) ends)

    /// Sizes of the parts: rounded cumulative fractions of n; when the fractions add up to 1 the
    /// parts cover all n items.
    [<CompiledName("Sizes")>]
    let sizes (n: int) (fractions: IReadOnlyList<float>) : IReadOnlyList<int> = sizesOf n (List.ofSeq fractions) :> IReadOnlyList<_>

    let private cut (order: int[]) (sizes: int list) =
        sizes |> List.mapFold (fun start size -> Array.sort order.[start .. start + size - 1], start + size) 0 |> fst

    /// Split 0..n-1 into disjoint index sets of the given fractions (e.g. [0.8; 0.1; 0.1]), each
    /// sorted ascending. Same seed, same sets; when the fractions add up to 1 they cover 0..n-1.
    [<CompiledName("Split")>]
    let split (seed: int) (n: int) (fractions: IReadOnlyList<float>) : IReadOnlyList<int[]> =
        let fractions = List.ofSeq fractions
        if n < 0 then Errors.fail "cannot split %d items" n
        let order = Shuffle.permutation seed splitStream n
        cut order (sizesOf n fractions) :> IReadOnlyList<_>

    /// Like `split`, but each class is split separately so every part keeps the class proportions.
    [<CompiledName("Stratified")>]
    let stratified (seed: int) (labels: int[]) (fractions: IReadOnlyList<float>) : IReadOnlyList<int[]> =
        let fractions = List.ofSeq fractions
        checkFractions fractions |> ignore
        let parts = Array.init (List.length fractions) (fun _ -> ResizeArray<int>())

        labels
        |> Array.indexed
        |> Array.groupBy snd
        |> Array.sortBy fst
        |> Array.iter (fun (cls, members) ->
            let idx = members |> Array.map fst
            let order = Shuffle.shuffled seed (splitStream + 1L + int64 cls) idx
            cut order (sizesOf idx.Length fractions) |> List.iteri (fun k a -> parts.[k].AddRange a))

        parts |> Array.map (fun p -> p.ToArray() |> Array.sort) |> List.ofArray :> IReadOnlyList<_>
