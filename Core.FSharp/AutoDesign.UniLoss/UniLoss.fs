namespace AutoDesign.UniLoss

open System
open System.Collections.Generic
open System.Diagnostics
open System.Runtime.InteropServices
open TorchSharp
open AutoDesign.Nn

/// UniLoss (thesis Eq. 3.5–3.10) for a metric written in the metric language, as a TorchSharp loss
/// module: loss.forward(scores, labels) (or loss.call(...), which also runs the module's hooks).
///   c = f(s)                      the traced comparisons
///   ũ = σ(c / τ)                  h̃ (bits outside the trained fraction are held at h(c) = [c > 0])
///   g̃(ũ) = Σ w_i g(a_i) / Σ w_i,  w_i = 1 / d(ũ, a_i)^power, d Euclidean; if some d = 0, g̃ = g(a_i)
///   loss = 1 − g̃ for a metric to maximise; g̃ for Metric.Minimized().
/// b* (Anchors.bestWith, cached per label batch) is never worse than the current configuration
/// h(f(s)): a step whose h(f(s)) beats it replaces it by a search from s (Anchors.noWorseThan).
/// Anchors each step (Sampler): good = b* with goodFlips units flipped, bad = random, nearby =
/// h(c) with nearbyFlips units flipped; anchorsPerType of each (default 16 → 48). Every anchor is
/// a configuration some scores produce, so g̃ — a weighted mean of metric values of real scores —
/// stays inside the metric's range.
/// The combinatorial part (anchors, g, IDW and its gradient) runs on the host in flat arrays; the
/// scores are read once per step and the loss tensor carries the exact gradient to them, so the
/// loss costs a handful of tensor operations whatever the metric.
/// The score gradient is rescaled each batch to norm autoScale/√n (n examples; default 0.5: half of CE's
/// early step length at CE's learning rate; scaleRule picks other rules), or to a fixed gradNorm, or left
/// raw (autoScale = 0, the thesis).
/// Options: UniLossOptions (nearbyCorrective, boundScores, gradNorm, autoScale: see there). Deterministic for a
/// seed; CaptureState / RestoreState checkpoint its random streams.
[<Sealed>]
type UniLoss(metric: Metric, options: UniLossOptions) =
    inherit Loss<torch.Tensor, torch.Tensor, torch.Tensor>(torch.nn.Reduction.Mean)

    do
        if isNull (box metric) then Errors.fail "UniLoss needs a metric"
        if isNull options then Errors.fail "UniLoss: no options given"
        options.Validate()

    let o = options.Clone()
    let rng = new SeededRandom(o.Seed)
    let gen = new torch.Generator(uint64 (int64 o.Seed &&& 0x7fffffffL), torch.CPU)
    let cache = Dictionary<int64, ResizeArray<Labels * int[] * Traced>>()
    let mutable cached = 0
    let mutable lastMetric = nan
    let mutable lastL = 0
    let mutable tauNow = o.Tau

    let mutable timings =
        { Trace = 0.0
          Compile = 0.0
          Best = 0.0
          Anchors = 0.0
          G = 0.0
          Idw = 0.0
          Tensors = 0.0
          Total = 0.0
          NewBatch = false }

    let mutable buf: float[] = [||]
    let running = RunningNorm()
    let ms (t0: int64) = float (Stopwatch.GetTimestamp() - t0) * 1000.0 / float Stopwatch.Frequency

    let toLabels (labels: torch.Tensor) =
        if isNull labels then Errors.fail "%s: no labels given" metric.Name
        if labels.is_floating_point () then Errors.fail "%s: labels must be an integer tensor, got %A" metric.Name labels.dtype
        let data = HostRead.longs labels
        Labels(labels.shape |> Array.map int, data)

    let hostScores (scores: torch.Tensor) : float32[] = HostRead.floats scores

    /// The cached work for (shape, labels), timed into `times` when new.
    let traced (shape: int[]) (labels: Labels) : Traced * (float * float * float) option =
        let key = shape |> Array.fold (fun h d -> (h ^^^ int64 d) * 1099511628211L) labels.Hash

        let hit =
            match cache.TryGetValue key with
            | true, xs -> xs |> Seq.tryFind (fun (y, sh, _) -> sh = shape && y.SameAs labels)
            | _ -> None

        match hit with
        | Some(_, _, tr) -> tr, None
        | None ->
            let t0 = Stopwatch.GetTimestamp()
            let r = Refactor.trace metric shape labels
            let t1 = Stopwatch.GetTimestamp()
            let st = Realise.structure r
            let rz = Realiser st
            let goodUnits = Anchors.units r o.GoodUnit
            let nearbyUnits = Anchors.units r o.NearbyUnit
            let t2 = Stopwatch.GetTimestamp()
            let best = Anchors.bestWith metric r st rz labels

            let tr =
                { R = r
                  St = st
                  Rz = rz
                  Best = best
                  BestCol = Array.map float best.Bits
                  BestVals = Realise.vertexValues st best.Scores
                  GoodUnits = goodUnits
                  NearbyUnits = nearbyUnits
                  GoodTable = null }

            if cached >= 256 then
                cache.Clear()
                cached <- 0

            match cache.TryGetValue key with
            | true, xs -> xs.Add((labels, Array.copy shape, tr))
            | _ -> cache.[key] <- ResizeArray [ (labels, Array.copy shape, tr) ]

            cached <- cached + 1
            let t3 = Stopwatch.GetTimestamp()
            let span (a: int64) (b: int64) = float (b - a) * 1000.0 / float Stopwatch.Frequency
            tr, Some(span t0 t1, span t1 t2, span t2 t3)

    let checkScores (scores: torch.Tensor) =
        if isNull scores then Errors.fail "%s: no scores given" metric.Name

        if not (scores.is_floating_point ()) then
            Errors.fail "%s: scores must be a float tensor, got %A" metric.Name scores.dtype

    /// Anchors of one step for (tr, host scores): fills buf, returns t.
    let sample (tr: Traced) (host: float32[]) (hard: float32[]) =
        let k = o.AnchorsPerType
        let t = 3 * k + 1
        let need = int64 (GEval.rows tr.R) * int64 t

        if need > Limits.MaxTableEntries then
            Errors.fail
                "%s: UniLoss's value table for this batch needs %d rows (%d comparisons and the g nodes over them) x %d configurations (3 x %d anchors + 1) = %d entries, more than Limits.MaxTableEntries = %d; use fewer anchors or a smaller batch"
                metric.Name
                (GEval.rows tr.R)
                tr.R.L
                t
                k
                need
                Limits.MaxTableEntries

        let need = int need
        if buf.Length < need then buf <- Array.zeroCreate need
        Sampler.fill tr o gen rng hard (Realise.vertexValues tr.St host) buf
        t

    new
        (
            metric: Metric,
            [<Optional; DefaultParameterValue(16)>] anchorsPerType: int,
            [<Optional; DefaultParameterValue(1.0)>] tau: float,
            [<Optional; DefaultParameterValue(1.0)>] power: float,
            [<Optional; DefaultParameterValue(1.0)>] bitFraction: float,
            [<Optional; DefaultParameterValue(0)>] seed: int,
            [<Optional; DefaultParameterValue(1)>] goodFlips: int,
            [<Optional; DefaultParameterValue(1)>] nearbyFlips: int,
            [<Optional; DefaultParameterValue(FlipUnit.Bit)>] goodUnit: FlipUnit,
            [<Optional; DefaultParameterValue(FlipUnit.Bit)>] nearbyUnit: FlipUnit,
            [<Optional; DefaultParameterValue(false)>] nearbyCorrective: bool,
            [<Optional; DefaultParameterValue(false)>] boundScores: bool,
            [<Optional; DefaultParameterValue(0.0)>] gradNorm: float,
            [<Optional; DefaultParameterValue(0.5)>] autoScale: float
        ) =
        new UniLoss(
            metric,
            UniLossOptions(
                AnchorsPerType = anchorsPerType,
                Tau = tau,
                Power = power,
                BitFraction = bitFraction,
                Seed = seed,
                GoodFlips = goodFlips,
                NearbyFlips = nearbyFlips,
                GoodUnit = goodUnit,
                NearbyUnit = nearbyUnit,
                NearbyCorrective = nearbyCorrective,
                BoundScores = boundScores,
                GradNorm = gradNorm,
                AutoScale = autoScale
            )
        )

    member _.Metric = metric
    /// A copy of the options this loss was built with.
    member _.Options = o.Clone()
    member _.AnchorsPerType = o.AnchorsPerType
    member _.NearbyCorrective = o.NearbyCorrective
    member _.BoundScores = o.BoundScores
    member _.GradNorm = o.GradNorm
    /// The automatic score-gradient scale a (norm a/√n per batch of n examples; 0: off).
    member _.AutoScale = o.AutoScale

    /// Sigmoid temperature τ of b̃ = σ(c/τ); settable between steps (a τ schedule).
    member _.Tau
        with get () = tauNow
        and set (v: float) =
            if not (v > 0.0) || Double.IsInfinity v then Errors.fail "UniLoss: tau must be positive and finite, got %g" v
            tauNow <- v

    /// Exact metric value g(h(f(s))) on the last batch given to forward.
    member _.LastMetric = lastMetric
    /// Number of bits (comparisons) in the last batch.
    member _.LastBits = lastL
    /// Where the time of the last forward went.
    member _.LastTimings = timings

    /// Loss for a batch: scores (any shape the metric indexes, float) and integer labels. TorchSharp's
    /// entry point; `loss.call(...)` runs it with the module's hooks.
    override _.forward(scores: torch.Tensor, labels: torch.Tensor) : torch.Tensor =
        let t0 = Stopwatch.GetTimestamp()
        checkScores scores
        let shape = scores.shape |> Array.map int
        let y = toLabels labels
        let tr, fresh = traced shape y
        let tTrace, tCompile, tBest0 = defaultArg fresh (0.0, 0.0, 0.0)
        let mutable tBest = tBest0
        let r = tr.R
        let l = r.L
        lastL <- l
        let tRead = Stopwatch.GetTimestamp()
        let host = hostScores scores
        if host |> Array.exists Single.IsNaN then Errors.fail "%s: the scores contain NaN (diverged training?)" metric.Name
        let readMs = ms tRead
        let maximize = metric.Goal = Goal.Maximize

        if l = 0 then
            let v = Refactor.g r [||]

            match metric.Degenerate with
            | Some d when d y ->
                lastMetric <- v
                let lossV = if maximize then 1.0 - v else v
                scores.sum().Mul(0.0).Add(lossV)
            | _ ->
                Errors.fail
                    "%s: the metric makes no score comparisons on this batch of %d labels, so UniLoss has nothing to differentiate; compare scores (e.g. s.[i, y.[i]] >. s.[i, j]), or declare WithDegenerate for label batches where that is expected"
                    metric.Name
                    y.N
        else
            // f, h and the soft bits on the host
            let tA = Stopwatch.GetTimestamp()
            let hard, u = ScoreGradient.softBits o r host tauNow

            let trained =
                if o.BitFraction >= 1.0 then
                    null
                else
                    let mask = Array.init l (fun _ -> rng.NextDouble() < o.BitFraction)
                    if not (Array.contains true mask) then mask.[rng.Next l] <- true

                    for e in 0 .. l - 1 do
                        if not mask.[e] then u.[e] <- float hard.[e]

                    mask

            let t = sample tr host hard
            let mutable anchorsMs = ms tA
            let tG = Stopwatch.GetTimestamp()
            GEval.run r buf t
            let mutable gMs = ms tG
            let nA = t - 1
            // b* is never worse than the current configuration: if h(f(s)) beats it, search from s
            // and draw this step's anchors again around the new b*
            let tB = Stopwatch.GetTimestamp()
            let better = Anchors.noWorseThan metric r tr.St tr.Rz tr.Best host buf.[r.Root * t + nA]

            if not (obj.ReferenceEquals(better, tr.Best)) then
                tr.Best <- better
                tr.BestCol <- Array.map float better.Bits
                tr.BestVals <- Realise.vertexValues tr.St better.Scores
                tr.GoodTable <- null
                tBest <- tBest + ms tB
                let tA2 = Stopwatch.GetTimestamp()
                sample tr host hard |> ignore
                anchorsMs <- anchorsMs + ms tA2
                let tG2 = Stopwatch.GetTimestamp()
                GEval.run r buf t
                gMs <- gMs + ms tG2

            let values = Array.init t (fun a -> buf.[r.Root * t + a])
            lastMetric <- values.[nA]
            // IDW and the chain rule to the scores
            let tI = Stopwatch.GetTimestamp()
            let gradU = Array.zeroCreate<float> l
            let gTilde = HostIdw.interpolate u buf t nA values o.Power gradU
            if Double.IsNaN gTilde then Errors.fail "%s: UniLoss produced NaN (scores too large for tau=%g?)" metric.Name tauNow
            let lossV = if maximize then 1.0 - gTilde else gTilde

            let gs =
                if scores.requires_grad then
                    let gs = ScoreGradient.toScores o r host u gradU trained tauNow (if maximize then -1.0 else 1.0)
                    ScoreGradient.rescale o (if shape.Length = 0 then 1 else max 1 shape.[0]) gs running
                    gs
                else
                    Array.zeroCreate<float> host.Length

            let idwMs = ms tI
            let tT = Stopwatch.GetTimestamp()

            let loss =
                if scores.requires_grad then
                    use scope = torch.NewDisposeScope()
                    let g = torch.tensor(Array.map float32 gs, dtype = torch.ScalarType.Float32).reshape(scores.shape)
                    let g = (if scores.device.``type`` = DeviceType.CPU then g else g.``to`` (scores.device)).to_type(scores.dtype)
                    let lin = (scores * g).sum()
                    (lin - lin.detach ()).Add(lossV).MoveToOuterDisposeScope()
                else
                    ScalarOps.Full([||], lossV, scores.dtype, scores.device)

            let tensorsMs = readMs + ms tT

            timings <-
                { Trace = tTrace
                  Compile = tCompile
                  Best = tBest
                  Anchors = anchorsMs
                  G = gMs
                  Idw = idwMs
                  Tensors = tensorsMs
                  Total = ms t0
                  NewBatch = fresh.IsSome }

            loss

    /// The anchors one forward step on these scores and labels would use (this draws from the same
    /// random streams, so it advances them): rows [good × k; bad × k; nearby × k; h(f(s))], 0/1
    /// floats [3k + 1, l]. For inspecting and testing the anchor rules.
    member _.SampleAnchors(scores: torch.Tensor, labels: torch.Tensor) : torch.Tensor =
        checkScores scores
        let tr, _ = traced (scores.shape |> Array.map int) (toLabels labels)
        let host = hostScores scores
        let l = tr.R.L
        let hard = Array.init l (fun e -> if Refactor.compare tr.R.Comparisons.[e] host > 0.0f then 1.0f else 0.0f)
        let t = sample tr host hard
        let rows = Array.init (t * l) (fun i -> float32 buf.[(i % l) * t + i / l])
        torch.tensor(rows, dtype = torch.ScalarType.Float32).reshape(int64 t, int64 l)

    /// The best configuration b* (0/1 floats [l]) UniLoss uses for these labels and score shape.
    member _.BestConfiguration(shape: int[], labels: torch.Tensor) : float32[] = Array.copy (fst (traced shape (toLabels labels))).Best.Bits

    /// b* with the scores that produce it and where it came from.
    member _.Best(shape: int[], labels: torch.Tensor) : Best = (fst (traced shape (toLabels labels))).Best

    /// Every random stream of this loss, as plain data.
    member _.CaptureState() : UniLossState =
        use s = gen.get_state ()
        use c = s.contiguous ()
        { Random = rng.State; Generator = c.bytes.ToArray(); ScaleNormSum = running.Sum; ScaleSteps = running.Count }

    /// Continue from a captured state: the following steps draw exactly what the captured loss
    /// would have drawn.
    member _.RestoreState(state: UniLossState) =
        if isNull (box state) || isNull (box state.Random) || isNull state.Generator then Errors.fail "UniLoss: an empty state"
        use current = gen.get_state ()

        if int64 state.Generator.Length <> current.numel () then
            Errors.fail "UniLoss: not a UniLoss state (a generator state of %d bytes, expected %d)" state.Generator.Length (current.numel ())

        if isNull state.Random.Table || state.Random.Table.Length <> 56 then
            Errors.fail "UniLoss: not a UniLoss state (bad random table)"

        use t = torch.tensor (state.Generator, dtype = torch.ScalarType.Byte)

        if not (state.ScaleNormSum >= 0.0) || Double.IsInfinity state.ScaleNormSum || state.ScaleSteps < 0L then
            Errors.fail "UniLoss: not a UniLoss state (bad running gradient norm %g over %d steps)" state.ScaleNormSum state.ScaleSteps

        gen.set_state (t)
        rng.State <- state.Random
        running.Sum <- state.ScaleNormSum
        running.Count <- state.ScaleSteps

    override _.Dispose(disposing: bool) =
        if disposing then
            cache.Clear()
            gen.Dispose()

        base.Dispose(disposing)
