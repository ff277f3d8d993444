namespace AutoDesign.DGGAN

open System
open System.IO
open TorchSharp
open AutoDesign.Nn
open AutoDesign.Runs
open AutoDesign.Nn.DGGAN
open AutoDesign.Metrics

/// Training budget of one candidate (ProgGAN's optimiser: Adam lr 1e-3, β = (0, 0.99)).
type TrainSettings =
    { Iterations: int
      BatchSize: int
      LearningRate: float
      EvalSamples: int }

/// What a runner is asked to do: train `Arch` from the parent's weights (None: from scratch), save its weights.
type CandidateJob =
    { Id: string
      Arch: Architecture
      ParentWeights: string option
      WeightsPath: string
      Seed: int }

type CandidateResult =
    { Fid: float
      Diverged: bool
      Inherited: int
      FinalDLoss: float
      FinalGLoss: float
      Seconds: float }

/// Trains candidates: the runner abstraction (in-process now; a remote dispatcher can implement the same record).
type Runner = { Train: CandidateJob -> CandidateResult }

module CandidateTrainer =
    let private optimizer (m: torch.nn.Module) (lr: float) =
        new SafeAdam(m.parameters(), lr = lr, beta1 = 0.0, beta2 = 0.99, eps = 1e-8)

    /// Save G and D weights (prefixed "G." / "D."), leaving out the fade-in's transitional old toRGB/fromRGB.
    let saveWeights (path: string) (g: GrowingGenerator) (d: GrowingDiscriminator) =
        let l = g.Layout
        let w = NamedWeights.Capture(g, "G.")
        for kv in NamedWeights.Capture(d, "D.") do w.[kv.Key] <- kv.Value
        if g.Fading then
            w.Remove("G." + l.OldToRgbName + ".weight") |> ignore
            w.Remove("G." + l.OldToRgbName + ".bias") |> ignore
        if d.Fading then
            w.Remove("D." + l.OldFromRgbName + ".weight") |> ignore
            w.Remove("D." + l.OldFromRgbName + ".bias") |> ignore
        Atomic.writeWith path (fun tmp -> use fs = File.Create tmp in NamedWeights.Write(fs, w))

    let readWeights (path: string) =
        try NamedWeights.Read path with :? InvalidDataException as e -> Errors.fail "%s" e.Message

    /// Build G and D for an architecture (fading when its last action is an upscale), inheriting parent weights.
    let build (arch: Architecture) (parent: string option) (device: torch.Device) =
        let layout = Architecture.layout arch
        let g = GrowingGenerator.Create(layout, true, device)
        let d = GrowingDiscriminator.Create(layout, true, device)
        let inherited =
            match parent with
            | None -> 0
            | Some p ->
                let w = readWeights p
                NamedWeights.Inherit(g, w, "G.").Count + NamedWeights.Inherit(d, w, "D.").Count
        g, d, inherited

    /// Train one candidate with WGAN-GP; α ramps 0 → 1 over the first half when fading (ProgGAN).
    let train (settings: TrainSettings) (data: GanImages) (evaluator: Evaluator) (device: torch.Device) (log: string -> unit) (job: CandidateJob) =
        let sw = Diagnostics.Stopwatch.StartNew()
        torch.manual_seed(int64 job.Seed) |> ignore
        let g, d, inherited = build job.Arch job.ParentWeights device
        use g = g
        use d = d
        let res = g.Layout.Resolution
        use gOpt = optimizer g settings.LearningRate
        use dOpt = optimizer d settings.LearningRate
        let rng = Random(job.Seed)
        let fadeIters = max 1 (settings.Iterations / 2)
        let mutable diverged = false
        let mutable lastD, lastG = nan, nan
        let mutable it = 0
        while it < settings.Iterations && not diverged do
            use _ = torch.NewDisposeScope()
            let alpha = if g.Fading then min 1.0 (float it / float fadeIters) else 1.0
            g.Alpha <- alpha
            d.Alpha <- alpha
            let idx = Array.init settings.BatchSize (fun _ -> rng.Next data.Count)
            let real = GanImages.batch data idx device |> GanImages.downTo res
            let z = torch.randn([| int64 settings.BatchSize; int64 job.Arch.Config.Latent |], device = device)
            dOpt.zero_grad()
            let fake = g.forward z
            let lossD = WganGp.criticLoss (fun x -> d.forward x) real fake
            lossD.backward()
            dOpt.step() |> ignore
            gOpt.zero_grad()
            let z2 = torch.randn([| int64 settings.BatchSize; int64 job.Arch.Config.Latent |], device = device)
            let lossG = WganGp.generatorLoss (fun x -> d.forward x) (g.forward z2)
            lossG.backward()
            gOpt.step() |> ignore
            lastD <- lossD.Item()
            lastG <- lossG.Item()
            if Double.IsNaN lastD || Double.IsNaN lastG || abs lastD > 1e6 then diverged <- true
            it <- it + 1
        g.Alpha <- 1.0
        d.Alpha <- 1.0
        saveWeights job.WeightsPath g d
        let fid =
            if diverged then nan
            else
                use _ = torch.NewDisposeScope()
                let fake = Evaluator.Sample g settings.EvalSamples (job.Seed + 7919) device
                evaluator.Fid fake
        let diverged = diverged || Double.IsNaN fid || Double.IsInfinity fid
        log (sprintf "%s [%s] res %d: FID %.3f (inherited %d tensors, %.1fs)" job.Id (Architecture.describe job.Arch) res fid inherited sw.Elapsed.TotalSeconds)
        { Fid = (if diverged then -1.0 else fid); Diverged = diverged; Inherited = inherited
          FinalDLoss = (if Double.IsNaN lastD then 0.0 else lastD); FinalGLoss = (if Double.IsNaN lastG then 0.0 else lastG)
          Seconds = sw.Elapsed.TotalSeconds }

    let inProcess (settings: TrainSettings) (data: GanImages) (evaluator: Evaluator) (device: torch.Device) (log: string -> unit) : Runner =
        { Train = train settings data evaluator device log }
