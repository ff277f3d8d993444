namespace AutoDesign.Data

/// Deterministic shuffling that does not depend on System.Random's implementation: SplitMix64
/// seeded from (seed, stream), so the same (seed, epoch) gives the same order on every platform
/// and .NET version, and a resumed run sees exactly the order it would have seen.
module Shuffle =
    let private mix (z0: uint64) =
        let mutable z = z0
        z <- (z ^^^ (z >>> 30)) * 0xBF58476D1CE4E5B9UL
        z <- (z ^^^ (z >>> 27)) * 0x94D049BB133111EBUL
        z ^^^ (z >>> 31)

    /// A SplitMix64 generator for the pair (seed, stream).
    type Rng(seed: int, stream: int64) =
        let mutable state = mix (uint64 (int64 seed) * 0x9E3779B97F4A7C15UL ^^^ mix (uint64 stream + 0x632BE59BD9B4E019UL))

        member _.NextUInt64() =
            state <- state + 0x9E3779B97F4A7C15UL
            mix state

        /// Uniform in 0 .. bound-1 (bound > 0), without modulo bias.
        member this.Below(bound: int) =
            let b = uint64 bound
            let limit = System.UInt64.MaxValue - (System.UInt64.MaxValue % b)
            let mutable r = this.NextUInt64()

            while r >= limit do
                r <- this.NextUInt64()

            int (r % b)

    /// Fisher-Yates shuffle of a copy of `items`.
    [<CompiledName("Shuffled")>]
    let shuffled (seed: int) (stream: int64) (items: 'T[]) : 'T[] =
        let a = Array.copy items
        let rng = Rng(seed, stream)

        for i in a.Length - 1 .. -1 .. 1 do
            let j = rng.Below(i + 1)
            let t = a.[i]
            a.[i] <- a.[j]
            a.[j] <- t

        a

    /// A random permutation of 0 .. n-1.
    [<CompiledName("Permutation")>]
    let permutation (seed: int) (stream: int64) (n: int) : int[] = shuffled seed stream (Array.init n id)
