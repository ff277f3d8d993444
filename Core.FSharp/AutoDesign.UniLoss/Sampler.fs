namespace AutoDesign.UniLoss

open System
open TorchSharp
open AutoDesign.Nn

/// Everything UniLoss derives once per (score shape, label batch).
type internal Traced =
    { R: Refactored
      St: Structure
      Rz: Realiser
      Best: Best
      /// b* as a column (stride 1) for Realiser.Perturb.
      BestCol: float[]
      /// Vertex values of b*'s scores.
      BestVals: float32[]
      GoodUnits: int[][]
      NearbyUnits: int[][] }

/// Draws one step's anchors into the columns of a node-major value table (GEval layout, t = 3k + 1
/// columns): good 0 .. k-1 (b* with goodFlips units flipped), bad k .. 2k-1, nearby 2k .. 3k-1
/// (h(f(s)) with nearbyFlips units flipped), and the current configuration h(f(s)) in column 3k.
/// Draw order and streams are fixed: good, nearby, bad; bit flips and bad bits from the torch
/// generator, unit flips and bit-fraction masks from the host stream.
///
/// Every anchor is realisable (produced by some score tensor): a flipped configuration is kept when
/// it is (always so when the comparison graph is a forest, e.g. accuracy), otherwise the same bits
/// are flipped by moving scores (Realiser.Perturb). Bad anchors are uniform random bits when every
/// configuration is realisable, and otherwise the configurations of random scores.
module internal Sampler =
    let private readLongs (t: torch.Tensor) = (use c = t.contiguous() in c.data<int64>().ToArray())

    /// Flip lists drawn for k anchors: Bit units as the torch generator's [k, flips] indices
    /// (restricted to `allowed` positions when given and non-empty), other units from the host stream.
    let private draws (gen: torch.Generator) (rng: Random) (l: int) (k: int) (flips: int) (unit: FlipUnit)
                      (groups: int[][]) (allowed: int[] option) : ResizeArray<int>[] =
        match unit with
        | FlipUnit.Bit ->
            if flips = 0 || l = 0 then Array.init k (fun _ -> ResizeArray())
            else
                let idx =
                    match allowed with
                    | Some pos when pos.Length > 0 ->
                        use pick = torch.randint(0L, int64 pos.Length, [| int64 k * int64 flips |], dtype = torch.ScalarType.Int64, generator = gen)
                        readLongs pick |> Array.map (fun i -> int64 pos.[int i])
                    | _ ->
                        use d = torch.randint(0L, int64 l, [| int64 k; int64 flips |], dtype = torch.ScalarType.Int64, generator = gen)
                        readLongs d
                Array.init k (fun a -> ResizeArray(Seq.init flips (fun f -> int idx.[a * flips + f])))
        | _ -> Anchors.drawUnits rng l k flips unit groups

    /// Fills columns 0 .. 3k of buf (stride t = 3k + 1) from the current configuration `hard` and
    /// the current scores' vertex values.
    let fill (tr: Traced) (o: UniLossOptions) (gen: torch.Generator) (rng: Random)
             (hard: float32[]) (vals: float32[]) (buf: float[]) =
        let l = tr.R.L
        let k = o.AnchorsPerType
        let t = 3 * k + 1
        let st = tr.St
        let rz = tr.Rz
        let cur = 3 * k
        for e in 0 .. l - 1 do buf.[e * t + cur] <- float hard.[e]
        // good: b* with flips
        let good = draws gen rng l k o.GoodFlips o.GoodUnit tr.GoodUnits None
        for a in 0 .. k - 1 do
            rz.Perturb(tr.BestCol, 0, 1, buf, a, t, rz.Distinct good.[a], tr.BestVals, tr.Best.TieFree) |> ignore
        // nearby: h(f(s)) with flips (corrective: only units holding a wrong bit)
        let nearby =
            if not o.NearbyCorrective then draws gen rng l k o.NearbyFlips o.NearbyUnit tr.NearbyUnits None
            else
                let wrong = [| for e in 0 .. l - 1 do if hard.[e] <> tr.Best.Bits.[e] then yield e |]
                match o.NearbyUnit with
                | FlipUnit.Bit -> draws gen rng l k o.NearbyFlips o.NearbyUnit tr.NearbyUnits (Some wrong)
                | _ ->
                    let isWrong = Array.zeroCreate<bool> l
                    for e in wrong do isWrong.[e] <- true
                    let fixing = tr.NearbyUnits |> Array.filter (Array.exists (fun b -> isWrong.[b]))
                    draws gen rng l k o.NearbyFlips o.NearbyUnit (if fixing.Length > 0 then fixing else tr.NearbyUnits) None
        let tieFree = Realise.isTieFree st vals
        for a in 0 .. k - 1 do
            rz.Perturb(buf, cur, t, buf, 2 * k + a, t, rz.Distinct nearby.[a], vals, tieFree) |> ignore
        // bad
        if st.IsForest then
            use bad = torch.randint(0L, 2L, [| int64 k; int64 l |], dtype = torch.ScalarType.Float32, generator = gen)
            let b = (use c = bad.contiguous() in c.data<float32>().ToArray())
            for a in 0 .. k - 1 do
                for e in 0 .. l - 1 do buf.[e * t + k + a] <- float b.[a * l + e]
        else
            let n = st.N
            use u = torch.rand([| int64 k; int64 n |], dtype = torch.ScalarType.Float32, generator = gen)
            let r = (use c = u.contiguous() in c.data<float32>().ToArray())
            // spread the random scores over the thresholds, so each threshold splits them
            let lo, hi = if st.Consts.Length > 0 then st.Consts.[0] - 1.0f, st.Consts.[st.Consts.Length - 1] + 1.0f else 0.0f, 1.0f
            let rv = Array.copy vals
            for a in 0 .. k - 1 do
                for x in 0 .. n - 1 do rv.[x] <- lo + (hi - lo) * r.[a * n + x]
                for e in 0 .. l - 1 do buf.[e * t + k + a] <- if Realise.bitOf st rv e then 1.0 else 0.0
