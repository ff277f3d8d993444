namespace AutoDesign.Reproduce.DetectorGAN

open System
open System.IO
open TorchSharp
open AutoDesign.Nn
open AutoDesign.Runs
open AutoDesign.DetectorGAN
open AutoDesign.Nn.DetectorGAN
open AutoDesign.Metrics

/// One training-data setting of the experiment: real only (no objective), or real + synthetic scans from a
/// generator trained with `Objective`.
type Arm = { Key: string; Label: string; Objective: Objective option }

/// One row of Tables 4.1–4.3 (and of the ablation): the training data of a detector and its test metrics.
type DetGanRow =
    {
        Key: string
        Label: string
        Ap01: float
        Recall01: float
        Ap05: float
        Recall05: float
        /// AP@0.1 of each final detector (the row's metrics are their means)
        Ap01Each: float list
        LocIou: float list
        LocIobb: float list
        /// mean |synthetic − clean| outside / inside the insertion box (NaN for real only): how far G_X drifts from its input
        DriftOutside: float
        DriftInside: float
        /// the joint training skipped iterations with a non-finite generator loss
        Diverged: bool
    }

/// The configuration of a phase's run folder (a child of the experiment run, whose configuration fixes the rest).
type PhaseConfig = { Phase: string; Arm: string; Objective: Objective option; Iterations: int; Seed: int }

/// What a training phase stores as its result.
type PhaseResult = { Iterations: int; Diverged: bool; SkippedIterations: int }

/// The phases of the DetectorGAN experiment, each a child run of the experiment's run folder with its full state
/// checkpointed; later phases load earlier phases' weights from their folders.
///   pretrain-detector/   detector on real scans only          → detector.safetensors
///   pretrain-gan/        CycleGAN + BboxLoss, no detector      → gan.safetensors
///   joint/<arm>/         the arm's objective, detector in loop → gan.safetensors, detector.safetensors
///   final/<arm>/         fresh detector on real (+ synthetic)  → detector.safetensors, result = the table row
module Phases =
    let kind = "detectorgan.phase/2"
    let ganFile = "gan.safetensors"
    let detectorFile = "detector.safetensors"

    /// Open the child run `name` and return its result, running `body` (which must finish it) when it has none.
    let private phase (parent: Run) (name: string) (cfg: PhaseConfig) (body: Run -> 'R) : 'R =
        use run = parent.Child(name, kind, cfg)
        if run.IsFinished then run.Result<'R>() else body run

    let private requireFile (path: string) =
        if not (File.Exists path) then Errors.fail "%s is missing: the phase that writes it has not finished" path
        path

    /// Pre-train the detector on the real labelled scans.
    let pretrainDetector (exp: Run) (cfg: DetGanConfig) (data: ScanSet) (seed: int) (device: torch.Device) =
        phase exp "pretrain-detector" { Phase = "pretrain-detector"; Arm = ""; Objective = None; Iterations = cfg.PretrainDet; Seed = seed } (fun run ->
            use det = DetectorTrainer.create cfg (seed + 7) torch.float32 device
            DetectorTrainer.train run cfg det data.Labelled [||] cfg.PretrainDet (seed + 13) "pre-train detector" device
            DetectorTrainer.save (run.File detectorFile) det
            let r = { Iterations = cfg.PretrainDet; Diverged = false; SkippedIterations = 0 }
            run.Finish r
            r)

    /// GAN training (`iterations` steps of `objective`, the detector in the loop when the objective uses it):
    /// models, both GAN optimizers, the history pools with their random streams, the batch stream and (when
    /// present) the detector and its optimizer are the run's state. Iterations whose generator loss is not finite
    /// are skipped and counted; the arm is then marked diverged.
    let private trainGan
        (run: Run)
        (cfg: DetGanConfig)
        (objective: Objective)
        (gan: GanModels)
        (det: (TinyRetinaNet * SafeAdam) option)
        (data: ScanSet)
        (ins: Insertion[])
        (iterations: int)
        (batchSeed: int)
        (poolSeed: int)
        (label: string)
        (device: torch.Device)
        =
        use poolY = new HistoryPool(cfg.PoolSize, poolSeed)
        use poolX = new HistoryPool(cfg.PoolSize, poolSeed + 1)
        let rng = SeededRandom(batchSeed)
        let mutable skipped = 0
        let state = TrainState()
        gan.Register state
        state.Add("pool-y", poolY)
        state.Add("pool-x", poolX)
        state.AddRandom("batches", rng)
        state.AddTorchDefault()
        state.AddValue<int>("skipped", Func<int>(fun () -> skipped), Action<int>(fun v -> skipped <- v))

        match det with
        | Some(d, opt) ->
            state.AddModule("detector", d)
            state.AddOptimizer("detector-optimizer", opt)
        | None -> ()

        let inLoop, inLoopOpt =
            match det with
            | Some(d, o) -> (d :> AutoDesign.Nn.DetectorGAN.IDetector), o
            | None -> null, null

        let every = max 1 (iterations / 20)
        let spec = { LoopSpec.Of(label, iterations) with CheckpointEvery = cfg.CheckpointEvery }

        Loop.runRecordingDivergence
            run
            state
            spec
            (fun info ctx ->
                use _ = torch.NewDisposeScope()
                let b = GanTrainer.sample rng data ins cfg.Batch torch.float32 device
                let losses = [ for KeyValue(n, v) in GanTrainer.step cfg objective gan inLoop inLoopOpt poolY poolX b device -> n, v ]
                if losses |> List.exists (fun (_, v) -> not (Double.IsFinite v)) then skipped <- skipped + 1
                if info.Step % every = 0 || info.Step = iterations - 1 then ctx.Row(("step", float (info.Step + 1)) :: losses)
                ctx.Show losses)
            (fun _ _ -> ())
        |> ignore

        skipped

    /// Pre-train the GAN (CycleGAN + BboxLoss, gradient clipping as the main arms) without the detector.
    let pretrainGan (exp: Run) (cfg: DetGanConfig) (data: ScanSet) (ins: Insertion[]) (seed: int) (device: torch.Device) =
        phase exp "pretrain-gan" { Phase = "pretrain-gan"; Arm = ""; Objective = None; Iterations = cfg.PretrainGan; Seed = seed } (fun run ->
            use gan = new GanModels(cfg, torch.float32, device, seed + 5)
            let objective = { Mode = CycleGanBbox; LambdaDet = 0.0; GradClip = cfg.GradClip }
            let skipped = trainGan run cfg objective gan None data ins cfg.PretrainGan (seed + 3) seed "pre-train GAN" device
            gan.Save(run.File ganFile)
            let r = { Iterations = cfg.PretrainGan; Diverged = skipped > 0; SkippedIterations = skipped }
            run.Finish r
            r)

    /// Joint training of one arm from the pre-trained GAN and detector (fresh optimizers and pools).
    let joint (exp: Run) (cfg: DetGanConfig) (data: ScanSet) (ins: Insertion[]) (seed: int) (arm: Arm) (objective: Objective) (device: torch.Device) =
        phase exp ("joint/" + arm.Key) { Phase = "joint"; Arm = arm.Key; Objective = Some objective; Iterations = cfg.Joint; Seed = seed } (fun run ->
            use gan = new GanModels(cfg, torch.float32, device, seed + 5)
            gan.Load(requireFile (Path.Combine(exp.Dir, "pretrain-gan", ganFile)))
            use det = DetectorTrainer.create cfg (seed + 7) torch.float32 device
            DetectorTrainer.load (requireFile (Path.Combine(exp.Dir, "pretrain-detector", detectorFile))) det
            use opt = DetectorTrainer.optimizer cfg det

            let skipped =
                trainGan run cfg objective gan (Some(det, opt)) data ins cfg.Joint (seed + 17) seed ("joint " + arm.Key) device

            gan.Save(run.File ganFile)
            DetectorTrainer.save (run.File detectorFile) det
            let r = { Iterations = cfg.Joint; Diverged = skipped > 0; SkippedIterations = skipped }
            run.Finish r
            r)

    /// Synthetic labelled scans from an arm's jointly trained G_X.
    let synthetic (exp: Run) (cfg: DetGanConfig) (data: ScanSet) (ins: Insertion[]) (seed: int) (arm: Arm) (n: int) (device: torch.Device) =
        use gan = new GanModels(cfg, torch.float32, device, seed + 5)
        gan.Load(requireFile (Path.Combine(exp.Dir, "joint", arm.Key, ganFile)))
        gan.GX.eval ()
        GanTrainer.synthesize cfg gan data ins n device

    /// Mean absolute change of G_X's output against its clean input, outside and inside the insertion boxes.
    let drift (data: ScanSet) (ins: Insertion[]) (synthetic: Scan[]) =
        let mutable outS, outN, inS, inN = 0.0, 0, 0.0, 0

        synthetic
        |> Array.iteri (fun k s ->
            let c = data.Clean.[k % data.Clean.Length]
            let b = ins.[k % data.Clean.Length].Target

            for p in 0 .. s.Pixels.Length - 1 do
                let x, y = float (p % data.Size) + 0.5, float (p / data.Size) + 0.5
                let d = abs (float (s.Pixels.[p] - c.Pixels.[p]))

                if x >= b.X0 && x < b.X1 && y >= b.Y0 && y < b.Y1 then
                    (inS <- inS + d
                     inN <- inN + 1)
                else
                    (outS <- outS + d
                     outN <- outN + 1))

        (if outN = 0 then nan else outS / float outN), (if inN = 0 then nan else inS / float inN)

    /// Mean of equally long lists, element by element.
    let private meanLists (ls: float list list) =
        if ls |> List.exists List.isEmpty then [] else List.init ls.Head.Length (fun i -> ls |> List.averageBy (fun l -> l.[i]))

    /// The final detectors of one arm: `cfg.FinalDetectors` fresh detectors trained on the real scans plus the arm's
    /// synthetic scans and evaluated on the test scans. Detector j starts from initial weights j and draws batch order j,
    /// the same for every arm (common random numbers: arms differ only in their training data). Each detector is a
    /// child run `detector<j>` of the arm's run; the arm's row (their means, and each one's AP@0.1) is its result.
    let finalDetector
        (exp: Run)
        (cfg: DetGanConfig)
        (data: ScanSet)
        (ins: Insertion[])
        (seed: int)
        (arm: Arm)
        (diverged: bool)
        (device: torch.Device)
        : DetGanRow =
        phase exp ("final/" + arm.Key) { Phase = "final"; Arm = arm.Key; Objective = arm.Objective; Iterations = cfg.FinalDet; Seed = seed } (fun run ->
            let syn =
                match arm.Objective with
                | None -> [||]
                | Some _ -> synthetic exp cfg data ins seed arm cfg.Synthetic device

            let finite = syn |> Array.forall (fun s -> s.Pixels |> Array.forall Single.IsFinite)
            let dOut, dIn = if syn.Length = 0 || not finite then nan, nan else drift data ins syn

            let one (j: int) : DetGanRow =
                phase
                    run
                    (sprintf "detector%d" j)
                    { Phase = "final-detector"
                      Arm = arm.Key
                      Objective = arm.Objective
                      Iterations = cfg.FinalDet
                      Seed = seed + 1000 * j }
                    (fun r ->
                        use det = DetectorTrainer.create cfg (seed + 7 + 1000 * j) torch.float32 device
                        DetectorTrainer.train r cfg det data.Labelled syn cfg.FinalDet (seed + 11 + 1000 * j) (sprintf "detector %s #%d" arm.Key j) device
                        DetectorTrainer.save (r.File detectorFile) det
                        let ev = DetectorTrainer.evaluate det data.Size data.Test device

                        if j = 0 then
                            let pics =
                                [ for s, x in Seq.zip data.Test ev.Results |> Seq.truncate 16 -> Visuals.detections data.Size s x.Predictions 0.3 ]

                            Visuals.save (Path.Combine(exp.Dir, sprintf "detections-%s.png" arm.Key)) data.Size pics 8

                        let row =
                            { Key = arm.Key
                              Label = arm.Label
                              Ap01 = ev.Ap01.Ap
                              Recall01 = ev.Ap01.Recall
                              Ap05 = ev.Ap05.Ap
                              Recall05 = ev.Ap05.Recall
                              Ap01Each = [ ev.Ap01.Ap ]
                              LocIou = List.ofSeq ev.LocalizationIou
                              LocIobb = List.ofSeq ev.LocalizationIobb
                              DriftOutside = dOut
                              DriftInside = dIn
                              Diverged = diverged }

                        r.Finish row
                        row)

            let row =
                if not finite then
                    { Key = arm.Key
                      Label = arm.Label
                      Ap01 = nan
                      Recall01 = nan
                      Ap05 = nan
                      Recall05 = nan
                      Ap01Each = []
                      LocIou = []
                      LocIobb = []
                      DriftOutside = nan
                      DriftInside = nan
                      Diverged = true }
                else
                    let each = [ for j in 0 .. cfg.FinalDetectors - 1 -> one j ]
                    let mean f = each |> List.averageBy f

                    { Key = arm.Key
                      Label = arm.Label
                      Ap01 = mean (fun x -> x.Ap01)
                      Recall01 = mean (fun x -> x.Recall01)
                      Ap05 = mean (fun x -> x.Ap05)
                      Recall05 = mean (fun x -> x.Recall05)
                      Ap01Each = each |> List.map (fun x -> x.Ap01)
                      LocIou = meanLists (each |> List.map (fun x -> x.LocIou))
                      LocIobb = meanLists (each |> List.map (fun x -> x.LocIobb))
                      DriftOutside = dOut
                      DriftInside = dIn
                      Diverged = diverged }

            run.Finish row
            row)
