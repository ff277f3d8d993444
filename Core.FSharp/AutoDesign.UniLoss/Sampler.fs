namespace AutoDesign.UniLoss

open System
open System.Runtime.InteropServices
open TorchSharp
open AutoDesign.Nn

/// Fast reads of CPU tensors (TorchSharp's element accessor costs ~50 ns per element).
module internal HostRead =
    /// The values of a tensor (any dtype, device, layout) as float32.
    let floats (t: torch.Tensor) : float32[] =
        if t.dtype = torch.ScalarType.Float32 && t.device_type = DeviceType.CPU && t.is_contiguous () then
            MemoryMarshal.Cast<byte, float32>(t.bytes).ToArray()
        else
            use d = t.detach ()
            use c = d.to_type(torch.ScalarType.Float32).cpu().contiguous()
            MemoryMarshal.Cast<byte, float32>(c.bytes).ToArray()

    /// The values of an integer tensor as int64.
    let longs (t: torch.Tensor) : int64[] =
        if t.dtype = torch.ScalarType.Int64 && t.device_type = DeviceType.CPU && t.is_contiguous () then
            MemoryMarshal.Cast<byte, int64>(t.bytes).ToArray()
        else
            use c = t.to_type(torch.ScalarType.Int64).cpu().contiguous()
            MemoryMarshal.Cast<byte, int64>(c.bytes).ToArray()

/// Everything UniLoss derives once per (score shape, label batch).
type internal Traced =
    {
        R: Refactored
        St: Structure
        Rz: Realiser
        /// b*: replaced when a step's current configuration beats it (Anchors.noWorseThan).
        mutable Best: Best
        /// b* as a column (stride 1) for Realiser.Perturb.
        mutable BestCol: float[]
        /// Vertex values of b*'s scores.
        mutable BestVals: float32[]
        GoodUnits: int[][]
        NearbyUnits: int[][]
        /// b*'s SingleFlipTable, built on first need.
        mutable GoodTable: bool[]
    }

/// Draws one step's anchors into the columns of a node-major value table (GEval layout, t = 3k + 1
/// columns): good 0 .. k-1 (b* with goodFlips units flipped; good 0 is b* itself under BestAnchor), bad k .. 2k-1, nearby 2k .. 3k-1
/// (h(f(s)) with nearbyFlips units flipped), and the current configuration h(f(s)) in column 3k.
/// Draw order and streams are fixed: good, nearby, bad; bit flips and bad bits from the torch
/// generator, unit flips and bit-fraction masks from the host stream.
///
/// Every anchor is realisable (produced by some score tensor): a flipped configuration is kept when
/// it is (always so when the comparison graph is a forest, e.g. accuracy), otherwise the same bits
/// are flipped by moving scores (Realiser.Perturb). Bad anchors are uniform random bits when every
/// configuration is realisable, and otherwise the configurations of random scores.
module internal Sampler =
    let private readLongs (t: torch.Tensor) = HostRead.longs t

    /// Flip lists drawn for k anchors: Bit units as the torch generator's [k, flips] indices
    /// (restricted to `allowed` positions when given and non-empty), other units from the host stream.
    let private draws
        (gen: torch.Generator)
        (rng: Random)
        (l: int)
        (k: int)
        (flips: int)
        (unit: FlipUnit)
        (groups: int[][])
        (allowed: int[] option)
        : ResizeArray<int>[] =
        match unit with
        | FlipUnit.Bit ->
            if flips = 0 || l = 0 then
                Array.init k (fun _ -> ResizeArray())
            else
                let idx =
                    match allowed with
                    | Some pos when pos.Length > 0 ->
                        use pick =
                            torch.randint (0L, int64 pos.Length, [| int64 k * int64 flips |], dtype = torch.ScalarType.Int64, generator = gen)

                        readLongs pick |> Array.map (fun i -> int64 pos.[int i])
                    | _ ->
                        use d = torch.randint (0L, int64 l, [| int64 k; int64 flips |], dtype = torch.ScalarType.Int64, generator = gen)
                        readLongs d

                Array.init k (fun a -> ResizeArray(Seq.init flips (fun f -> int idx.[a * flips + f])))
        | _ -> Anchors.drawUnits rng l k flips unit groups

    /// Fills columns 0 .. 3k of buf (stride t = 3k + 1) from the current configuration `hard` and
    /// the current scores' vertex values.
    let fill (tr: Traced) (o: UniLossOptions) (gen: torch.Generator) (rng: Random) (hard: float32[]) (vals: float32[]) (buf: float[]) =
        let l = tr.R.L
        let k = o.AnchorsPerType
        let t = 3 * k + 1
        let st = tr.St
        let rz = tr.Rz
        let cur = 3 * k
        // the draws, in their fixed order: good, nearby, bad
        let good = draws gen rng l k o.GoodFlips o.GoodUnit tr.GoodUnits None |> Array.map rz.Distinct
        // BestAnchor: good anchor 0 is b* unflipped (drawn like the others, so the streams do not move)
        if o.BestAnchor && k > 0 then good.[0] <- good.[0].GetRange(0, 0)

        let nearby =
            if not o.NearbyCorrective then
                draws gen rng l k o.NearbyFlips o.NearbyUnit tr.NearbyUnits None
            else
                // corrective: only units holding a bit where h(f(s)) differs from b*
                let wrong =
                    [| for e in 0 .. l - 1 do
                           if hard.[e] <> tr.Best.Bits.[e] then yield e |]

                match o.NearbyUnit with
                | FlipUnit.Bit -> draws gen rng l k o.NearbyFlips o.NearbyUnit tr.NearbyUnits (Some wrong)
                | _ ->
                    let isWrong = Array.zeroCreate<bool> l

                    for e in wrong do
                        isWrong.[e] <- true

                    let fixing = tr.NearbyUnits |> Array.filter (Array.exists (fun b -> isWrong.[b]))
                    draws gen rng l k o.NearbyFlips o.NearbyUnit (if fixing.Length > 0 then fixing else tr.NearbyUnits) None

        let nearby = nearby |> Array.map rz.Distinct
        // bad: uniform bits when every configuration is realisable, else random scores' configurations
        let badBits, badVals =
            if st.IsForest then
                use bad = torch.randint (0L, 2L, [| int64 k; int64 l |], dtype = torch.ScalarType.Float32, generator = gen)
                HostRead.floats bad, null
            else
                let n = st.N
                use u = torch.rand ([| int64 k; int64 n |], dtype = torch.ScalarType.Float32, generator = gen)
                let r = HostRead.floats u
                // spread the random scores over the thresholds, so each threshold splits them;
                // vertex-major, so a bit's k configurations read two contiguous runs
                let lo, hi = if st.Consts.Length > 0 then st.Consts.[0] - 1.0f, st.Consts.[st.Consts.Length - 1] + 1.0f else 0.0f, 1.0f
                let rv = Array.zeroCreate<float32>(st.Vertices * k)

                for x in 0 .. st.Vertices - 1 do
                    for a in 0 .. k - 1 do
                        rv.[x * k + a] <- if x < n then lo + (hi - lo) * r.[a * n + x] else vals.[x]

                null, rv
        // one pass, row by row (contiguous): b* in the good columns, bad, h(f(s)) in the nearby ones
        for e in 0 .. l - 1 do
            let o = e * t
            let b = tr.BestCol.[e]
            let h = float hard.[e]

            for a in 0 .. k - 1 do
                buf.[o + a] <- b

            if isNull badVals then
                for a in 0 .. k - 1 do
                    buf.[o + k + a] <- float badBits.[a * l + e]
            else
                let p, q = st.P.[e] * k, st.Q.[e] * k

                for a in 0 .. k - 1 do
                    buf.[o + k + a] <- if badVals.[p + a] > badVals.[q + a] then 1.0 else 0.0

            for a in 0 .. k - 1 do
                buf.[o + 2 * k + a] <- h

            buf.[o + cur] <- h
        // flips, each kept only if realisable, else made by score moves
        if not st.IsForest && tr.Best.TieFree && isNull tr.GoodTable && good |> Array.exists (fun f -> f.Count > 0) then
            tr.GoodTable <- rz.SingleFlipTable(tr.BestCol, 0, 1, tr.BestVals)

        for a in 0 .. k - 1 do
            rz.Perturb(buf, a, t, good.[a], tr.BestVals, tr.Best.TieFree, tr.GoodTable) |> ignore

        let tieFree = Realise.isTieFree st vals

        let table =
            // built from h(f(s)) as its own column (stride 1, = column cur of buf): the table walks
            // bits in vertex order, and a stride-t column of a large table misses the cache at each one
            if not st.IsForest && tieFree && nearby |> Array.exists (fun f -> f.Count > 0) then
                rz.SingleFlipTable(Array.map float hard, 0, 1, vals)
            else
                null

        for a in 0 .. k - 1 do
            rz.Perturb(buf, 2 * k + a, t, nearby.[a], vals, tieFree, table) |> ignore
