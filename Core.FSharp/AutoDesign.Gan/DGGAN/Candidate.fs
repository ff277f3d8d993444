namespace AutoDesign.DGGAN

open System
open System.IO
open System.Collections.Generic
open TorchSharp
open AutoDesign.Nn
open AutoDesign.Runs
open AutoDesign.Nn.DGGAN

/// Building, training and storing one candidate (configurations and results: CandidateTypes.fs).
module Candidate =
    let kind = "dggan.candidate/1"
    let weightsFile = "weights.safetensors"
    /// The EMA generator's weights (with D's), written when the candidate's EmaDecay is above 0.
    let emaWeightsFile = "weights-ema.safetensors"
    /// Offsets added to a candidate's seed for the latent vectors of its selection and fresh samples.
    let selectionSampleSeed = 7919
    let freshSampleSeed = 104729

    [<CompiledName("Architecture")>]
    let architecture (model: GanConfig) (actions: string seq) = { Config = model; Steps = actions |> Seq.map GrowStep.parse |> List.ofSeq :> IReadOnlyList<_> }

    let private optimizer (m: torch.nn.Module) (lr: float) = new SafeAdam(m.parameters (), lr = lr, beta1 = 0.0, beta2 = 0.99, eps = 1e-8)

    /// G and D weights (prefixed "G." / "D."), leaving out the fade-in's transitional old toRGB/fromRGB.
    [<CompiledName("Capture")>]
    let capture (g: GrowingGenerator) (d: GrowingDiscriminator) =
        let l = g.Layout
        let w = NamedWeights.Capture(g, "G.")

        for kv in NamedWeights.Capture(d, "D.") do
            w.[kv.Key] <- kv.Value

        let drop (name: string) =
            match w.TryGetValue name with
            | true, t ->
                t.Dispose()
                w.Remove name |> ignore
            | _ -> ()

        if g.Fading then
            drop ("G." + l.OldToRgbName + ".weight")
            drop ("G." + l.OldToRgbName + ".bias")

        if d.Fading then
            drop ("D." + l.OldFromRgbName + ".weight")
            drop ("D." + l.OldFromRgbName + ".bias")

        w

    /// Build G and D for an architecture (with the fade-in path when `fade` and the last action is an upscale),
    /// inheriting every layer of the weights file `initFrom` (null: none) that has the same name and shape.
    [<CompiledName("Build")>]
    let build (arch: Architecture) (fade: bool) (initFrom: string) (device: torch.Device) =
        let layout = Architecture.layout arch
        let g = GrowingGenerator.Create(layout, fade, device)
        let d = GrowingDiscriminator.Create(layout, fade, device)

        let inherited =
            match initFrom with
            | null -> 0
            | path ->
                let w = Safetensors.load path

                try
                    NamedWeights.Inherit(g, w, "G.").Count + NamedWeights.Inherit(d, w, "D.").Count
                finally
                    for t in w.Values do
                        t.Dispose()

        { Generator = g; Discriminator = d; InheritedLayers = inherited }

    /// The generator of a finished candidate (α = 1), from the weights file `file` of its folder (weightsFile, or
    /// emaWeightsFile for its EMA generator).
    [<CompiledName("LoadGeneratorFile")>]
    let loadGeneratorFile (model: GanConfig) (folder: string) (file: string) (actions: string seq) (device: torch.Device) =
        let path = Path.Combine(folder, file)

        if not (File.Exists path) then
            Errors.fail "candidate %s has no %s (it has not finished, or keeps no such generator)" folder file

        let built = build (architecture model actions) false path device
        built.Discriminator.Dispose()
        built.Generator.Alpha <- 1.0
        built.Generator

    /// The generator of a finished candidate (α = 1), from its folder.
    [<CompiledName("LoadGenerator")>]
    let loadGenerator (model: GanConfig) (folder: string) (actions: string seq) (device: torch.Device) =
        loadGeneratorFile model folder weightsFile actions device

    /// Train the candidate of `run` (configuration `cfg`) with WGAN-GP through the run engine: G, D, both Adams,
    /// the batch stream, the noise generator and torch's default generator are checkpointed, so a killed run
    /// resumes exactly. At the end its weights go to weights.safetensors, its FIDs to result.json.
    [<CompiledName("Train")>]
    let train (env: CandidateEnv) (searchDir: string) (run: Run) (cfg: CandidateConfig) (log: Action<string>) : CandidateResult =
        let sw = Diagnostics.Stopwatch.StartNew()
        let arch = architecture env.Model cfg.Actions
        let device = env.Device
        let s = cfg.Train

        if s.Iterations < 0 || s.BatchSize < 1 || s.EvalSamples < 1 then
            Errors.fail "candidate %s: iterations must be >= 0, batch size and evaluation samples >= 1" cfg.Id

        let initFrom =
            if cfg.InitFrom = "" then
                null
            else
                let p = Path.Combine(searchDir, cfg.InitFrom, weightsFile)

                if not (File.Exists p) then
                    Errors.fail "candidate %s starts from %s, which has no %s yet" cfg.Id cfg.InitFrom weightsFile

                p

        torch.manual_seed (int64 cfg.Seed) |> ignore
        let built = build arch cfg.Fade initFrom device
        let g, d, inherited = built.Generator, built.Discriminator, built.InheritedLayers
        use g = g
        use d = d

        if not (s.EmaDecay >= 0.0 && s.EmaDecay < 1.0) then
            Errors.fail "candidate %s: EMA decay must be in [0, 1), got %g" cfg.Id s.EmaDecay
        // the EMA generator starts as a copy of G, or as the EMA of the folder this one continues (same layout)
        let ema =
            if s.EmaDecay = 0.0 then
                None
            else
                let emaFrom = if isNull initFrom || cfg.Fade then null else Path.Combine(searchDir, cfg.InitFrom, emaWeightsFile)
                let fromFile = not (isNull emaFrom) && File.Exists emaFrom
                let builtE = build arch cfg.Fade (if fromFile then emaFrom else null) device
                let gE = builtE.Generator
                builtE.Discriminator.Dispose()

                if not fromFile then
                    use _ = torch.no_grad ()

                    for pe, p in Seq.zip (gE.parameters ()) (g.parameters ()) do
                        pe.copy_ (p) |> ignore

                Some gE

        use _ema =
            match ema with
            | Some e -> e :> IDisposable
            | None ->
                { new IDisposable with
                    member _.Dispose() = () }

        let res = g.Layout.Resolution
        use gOpt = optimizer g s.LearningRate
        use dOpt = optimizer d s.LearningRate
        let batches = SeededRandom(cfg.Seed)
        use noise = new torch.Generator(uint64 (cfg.Seed + 1))
        let fadeIters = max 1 (s.Iterations / 2)
        let mutable diverged = false
        let mutable lastD, lastG = 0.0, 0.0
        let state = TrainState()
        state.AddModule("G", g)
        state.AddModule("D", d)
        state.AddOptimizer("G-optimizer", gOpt)
        state.AddOptimizer("D-optimizer", dOpt)

        match ema with
        | Some e -> state.AddModule("G-ema", e)
        | None -> ()

        state.AddRandom("batches", batches)
        state.AddGenerator("noise", noise)
        state.AddTorchDefault()

        state.AddValue<float[]>(
            "progress",
            Func<float[]>(fun () -> [| (if diverged then 1.0 else 0.0); lastD; lastG |]),
            Action<float[]>(fun v ->
                diverged <- v.[0] <> 0.0
                lastD <- v.[1]
                lastG <- v.[2])
        )

        let rowEvery = max 1 (s.Iterations / 20)
        let latent = int64 env.Model.Latent
        let spec = { LoopSpec.Of(sprintf "candidate %s" cfg.Id, s.Iterations) with CheckpointEvery = s.CheckpointEvery }

        Loop.runRecordingDivergence
            run
            state
            spec
            (fun info ctx ->
                if not diverged then
                    use _ = torch.NewDisposeScope()
                    let alpha = if g.Fading then min 1.0 (float info.Step / float fadeIters) else 1.0
                    g.Alpha <- alpha
                    d.Alpha <- alpha
                    let idx = Array.init s.BatchSize (fun _ -> batches.Next env.Images.Count)
                    let real = GanImages.batch env.Images idx device |> GanImages.downTo res
                    let z = torch.randn([| int64 s.BatchSize; latent |], generator = noise).``to``(device)
                    dOpt.zero_grad ()
                    let fake = g.forward z
                    let lossD = WganGp.criticLossWith noise (Func<_, _>(fun x -> d.forward x)) real fake
                    lossD.backward ()
                    dOpt.step () |> ignore
                    gOpt.zero_grad ()
                    let z2 = torch.randn([| int64 s.BatchSize; latent |], generator = noise).``to``(device)
                    let lossG = WganGp.generatorLoss (Func<_, _>(fun x -> d.forward x)) (g.forward z2)
                    lossG.backward ()
                    gOpt.step () |> ignore

                    match ema with
                    | Some e ->
                        use _ = torch.no_grad ()
                        e.Alpha <- alpha

                        for pe, p in Seq.zip (e.parameters ()) (g.parameters ()) do
                            pe.mul_(s.EmaDecay.ToScalar()).add_(p, alpha = (1.0 - s.EmaDecay).ToScalar()) |> ignore
                    | None -> ()

                    let ld, lg = lossD.Item(), lossG.Item()

                    if Double.IsFinite ld && Double.IsFinite lg && abs ld <= 1e6 then
                        lastD <- ld
                        lastG <- lg
                    else
                        diverged <- true

                    if info.Step % rowEvery = 0 || info.Step = s.Iterations - 1 then
                        ctx.Row [ "step", float (info.Step + 1); "alpha", alpha; "d_loss", ld; "g_loss", lg ]

                    ctx.Show [ "d", ld; "g", lg ])
            (fun _ _ -> ())
        |> ignore

        g.Alpha <- 1.0
        d.Alpha <- 1.0
        let w = capture g d
        Safetensors.save (run.File weightsFile) w

        for t in w.Values do
            t.Dispose()

        match ema with
        | Some e ->
            e.Alpha <- 1.0
            let we = capture e d
            Safetensors.save (run.File emaWeightsFile) we

            for t in we.Values do
                t.Dispose()
        | None -> ()

        let score (ev: Evaluator) (offset: int) =
            if diverged then
                nan
            else
                use _ = torch.NewDisposeScope()
                ev.Fid(Evaluator.Sample g s.EvalSamples (cfg.Seed + offset) device)

        let selection = score env.Selection selectionSampleSeed
        let fresh = score env.Fresh freshSampleSeed
        let diverged = diverged || not (Double.IsFinite selection) || not (Double.IsFinite fresh)

        log.Invoke(
            sprintf
                "%s [%s] %dx%d: FID %.3f (fresh %.3f; inherited %d tensors, %.1fs)"
                cfg.Id
                (Architecture.describe arch)
                res
                res
                selection
                fresh
                inherited
                sw.Elapsed.TotalSeconds
        )

        let result =
            { Id = cfg.Id
              SelectionFid = (if diverged then nan else selection)
              FreshFid = (if diverged then nan else fresh)
              Diverged = diverged
              Inherited = inherited
              FinalDLoss = lastD
              FinalGLoss = lastG
              Iterations = s.Iterations
              Seconds = sw.Elapsed.TotalSeconds }

        run.Finish result
        result

    /// Open the candidate's run folder `searchDir/folder` (same configuration: continue it; finished: its result)
    /// and train it.
    [<CompiledName("TrainInFolder")>]
    let trainInFolder (env: CandidateEnv) (options: RunOptions) (searchDir: string) (job: CandidateJob) (log: Action<string>) =
        use run = Run.Open({ options with Root = searchDir }, job.Folder, kind, job.Config)
        if run.IsFinished then run.Result<CandidateResult>() else train env searchDir run job.Config log

    /// The configuration stored in a candidate's folder (for a process that trains it from the folders alone).
    [<CompiledName("StoredConfig")>]
    let storedConfig (searchDir: string) (folder: string) : CandidateConfig =
        let path = Path.Combine(searchDir, folder, "config.json")
        if not (File.Exists path) then Errors.fail "%s has no candidate %s (no %s)" searchDir folder path
        let node = Json.readFile path

        let k =
            try
                node.["kind"].GetValue<string>()
            with _ ->
                ""

        if k <> kind then Errors.fail "%s is not a DGGAN candidate (kind '%s')" path k
        Json.ofNode<CandidateConfig> path node.["config"]

    /// Write a job's folder and configuration without training it, so another process can take it.
    [<CompiledName("Prepare")>]
    let prepare (options: RunOptions) (searchDir: string) (job: CandidateJob) =
        use _ = Run.Open({ options with Root = searchDir }, job.Folder, kind, job.Config)
        ()

    /// The in-process runner: trains the batch's candidates one after the other; `afterEach` runs after each one
    /// (e.g. to rewrite the search summary); either may be null.
    [<CompiledName("InProcess")>]
    let inProcess (env: CandidateEnv) (options: RunOptions) (searchDir: string) (afterEach: Action) (log: Action<string>) : CandidateRunner =
        let log = if isNull log then Action<string>(ignore) else log

        { Train =
            Func<_, _>(fun jobs ->
                [ for job in jobs do
                      let r = trainInFolder env options searchDir job log
                      if not (isNull afterEach) then afterEach.Invoke()
                      yield r ]
                :> IReadOnlyList<_>) }
