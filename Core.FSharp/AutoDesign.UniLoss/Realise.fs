namespace AutoDesign.UniLoss

open System
open System.Collections.Generic

/// The order structure of a refactorization's comparisons. Every bit is an order relation
/// between two vertices — scores (vertex k = flat score k) or threshold constants (vertex N + i
/// for the i-th smallest distinct threshold): bit e is 1 iff vertex P.[e] lies above vertex Q.[e].
/// A configuration is REALISABLE iff some tie-free score tensor produces it, i.e. iff the directed
/// graph with an edge P→Q for every 1-bit, Q→P for every 0-bit and the fixed edges between
/// consecutive thresholds has no cycle (then a topological order gives the scores).
type Structure =
    {
        /// Number of scores N.
        N: int
        /// Distinct thresholds (float32, as f compares them), ascending; vertex N + i.
        Consts: float32[]
        P: int[]
        Q: int[]
        /// CSR: vertex x's incident bits are Inc.[Start.[x] .. Start.[x + 1] - 1].
        Start: int[]
        Inc: int[]
        /// Component of each vertex (connected through bits and threshold edges); -1 if unused.
        Comp: int[]
        /// CSR: component c's vertices are CompVerts.[CompStart.[c] .. CompStart.[c + 1] - 1].
        CompStart: int[]
        CompVerts: int[]
        /// No cycle in the undirected comparison graph: then every configuration is realisable.
        IsForest: bool
    }

    member s.Vertices = s.N + s.Consts.Length

module Realise =
    /// The structure of a refactorization's comparisons.
    [<CompiledName("Structure")>]
    let structure (r: Refactored) : Structure =
        let n = r.NumScores
        let l = r.L

        let consts =
            r.Comparisons
            |> Array.choose (fun c ->
                if c.K2 < 0 then Some(float32 c.Offset)
                elif c.K1 < 0 then Some(-(float32 c.Offset))
                else None)
            |> Array.distinct
            |> Array.sort

        let constVertex (v: float32) = n + Array.BinarySearch(consts, v)
        let p = Array.zeroCreate<int> l
        let q = Array.zeroCreate<int> l

        for e in 0 .. l - 1 do
            let c = r.Comparisons.[e]

            if c.K2 < 0 then
                (p.[e] <- c.K1
                 q.[e] <- constVertex (float32 c.Offset))
            elif c.K1 < 0 then
                (p.[e] <- constVertex (-(float32 c.Offset))
                 q.[e] <- c.K2)
            else
                (p.[e] <- c.K1
                 q.[e] <- c.K2)

        let nv = n + consts.Length
        let start = Array.zeroCreate<int>(nv + 1)

        for e in 0 .. l - 1 do
            start.[p.[e] + 1] <- start.[p.[e] + 1] + 1
            start.[q.[e] + 1] <- start.[q.[e] + 1] + 1

        for x in 0 .. nv - 1 do
            start.[x + 1] <- start.[x + 1] + start.[x]

        let inc = Array.zeroCreate<int>(2 * l)
        let fill = Array.copy start

        for e in 0 .. l - 1 do
            inc.[fill.[p.[e]]] <- e
            fill.[p.[e]] <- fill.[p.[e]] + 1
            inc.[fill.[q.[e]]] <- e
            fill.[q.[e]] <- fill.[q.[e]] + 1
        // union-find: components, and whether an edge ever joins an already joined pair
        let parent = Array.init nv id

        let rec find x =
            if parent.[x] = x then
                x
            else
                (let r = find parent.[x] in
                 parent.[x] <- r
                 r)

        let mutable forest = true

        let union a b =
            let ra, rb = find a, find b
            if ra = rb then forest <- false else parent.[ra] <- rb

        for e in 0 .. l - 1 do
            union p.[e] q.[e]

        for i in 0 .. consts.Length - 2 do
            union (n + i) (n + i + 1)

        let used = Array.init nv (fun x -> start.[x + 1] > start.[x] || x >= n)
        let comp = Array.create nv -1
        let rootComp = Dictionary<int, int>()

        for x in 0 .. nv - 1 do
            if used.[x] then
                let r = find x

                match rootComp.TryGetValue r with
                | true, c -> comp.[x] <- c
                | _ ->
                    comp.[x] <- rootComp.Count
                    rootComp.[r] <- comp.[x]

        let nc = rootComp.Count
        let compStart = Array.zeroCreate<int>(nc + 1)

        for x in 0 .. nv - 1 do
            if comp.[x] >= 0 then compStart.[comp.[x] + 1] <- compStart.[comp.[x] + 1] + 1

        for c in 0 .. nc - 1 do
            compStart.[c + 1] <- compStart.[c + 1] + compStart.[c]

        let compVerts = Array.zeroCreate<int> compStart.[nc]
        let cf = Array.copy compStart

        for x in 0 .. nv - 1 do
            if comp.[x] >= 0 then
                compVerts.[cf.[comp.[x]]] <- x
                cf.[comp.[x]] <- cf.[comp.[x]] + 1

        { N = n
          Consts = consts
          P = p
          Q = q
          Start = start
          Inc = inc
          Comp = comp
          CompStart = compStart
          CompVerts = compVerts
          IsForest = forest }

    /// Vertex values for scores (row-major float32): the scores, then the thresholds.
    [<CompiledName("VertexValues")>]
    let vertexValues (s: Structure) (scores: float32[]) : float32[] =
        let v = Array.zeroCreate<float32> s.Vertices
        Array.blit scores 0 v 0 s.N
        Array.blit s.Consts 0 v s.N s.Consts.Length
        v

    /// Bit e of the configuration the vertex values produce (= h(f(s)).[e]).
    [<CompiledName("BitOf")>]
    let inline bitOf (s: Structure) (vals: float32[]) (e: int) = vals.[s.P.[e]] > vals.[s.Q.[e]]

    /// Tie-free: no bit compares two equal values, so the values realise their configuration
    /// strictly and every edge of its graph goes strictly downhill in them.
    [<CompiledName("IsTieFree")>]
    let isTieFree (s: Structure) (vals: float32[]) =
        let mutable ok = true

        for e in 0 .. s.P.Length - 1 do
            if vals.[s.P.[e]] = vals.[s.Q.[e]] then ok <- false

        ok
