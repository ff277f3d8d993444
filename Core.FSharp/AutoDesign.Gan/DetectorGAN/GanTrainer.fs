namespace AutoDesign.DetectorGAN

open System
open System.Collections.Generic
open TorchSharp
open AutoDesign.Nn
open AutoDesign.Runs
open AutoDesign.Nn.DetectorGAN
open AutoDesign.Metrics

/// Which generator objective (the rows of Table 4.1).
type GanMode =
    /// adversarial + cycle + identity + BboxLoss, no detector in the loop
    | CycleGanBbox
    /// + minimise the detection loss on synthetic images (ACGAN-like)
    | AcganLike
    /// + maximise the detection loss on synthetic images, no unrolled term
    | DetectorGanNoUnroll
    /// + maximise the synthetic detection loss and minimise the unrolled real-image detection loss (Eq. 4.3)
    | DetectorGan

module GanMode =
    [<CompiledName("Name")>]
    let name =
        function
        | CycleGanBbox -> "cyclegan-bbox"
        | AcganLike -> "acgan-like"
        | DetectorGanNoUnroll -> "detectorgan-no-unroll"
        | DetectorGan -> "detectorgan"

    [<CompiledName("UsesDetector")>]
    let usesDetector m = m <> CycleGanBbox

/// Sizes, iterations and loss weights.
type DetGanConfig =
    {
        Spec: ScanSpec
        GenChannels: int64
        GenBlocks: int
        DiscChannels: int64
        DetChannels: int
        DetFeatures: int
        Batch: int
        PretrainGan: int
        PretrainDet: int
        Joint: int
        FinalDet: int
        /// Final detectors per arm (detector j: its own initial weights and batch order, the same j for every arm);
        /// an arm's metrics are their means.
        FinalDetectors: int
        Synthetic: int
        LrG: float
        LrD: float
        LrDet: float
        LambdaCycle: float
        LambdaIdentity: float
        LambdaBbox: float
        /// Detection-loss weight λ and generator gradient-norm clip (0: none) of the main arms (Table 4.1).
        LambdaDet: float
        GradClip: float
        CropSize: int
        PoolSize: int
        /// Commit a checkpoint every this many iterations in every phase (0: only at the end and every 5 minutes).
        CheckpointEvery: int
    }

/// A generator objective: the mode, the weight λ of its detection terms (−λ·L_syn and +λ·L_real(w') for
/// DetectorGAN, +λ·L_syn for ACGAN-like) and the clipping of the generators' gradient norm (0: none).
type Objective = { Mode: GanMode; LambdaDet: float; GradClip: float }

/// G_X, G_Y, DIS_globalX, DIS_globalY, DIS_localX and their optimizers.
type GanModels(cfg: DetGanConfig, dtype: torch.ScalarType, device: torch.Device, seed: int) =
    do torch.manual_seed (int64 seed) |> ignore
    let gx = new MaskedResNetGenerator(cfg.GenChannels, cfg.GenBlocks, dtype)
    let gy = new MaskedResNetGenerator(cfg.GenChannels, cfg.GenBlocks, dtype)
    let dgx = new PatchDiscriminator(cfg.DiscChannels, dtype)
    let dgy = new PatchDiscriminator(cfg.DiscChannels, dtype)
    let dlx = new PatchDiscriminator(cfg.DiscChannels, dtype)

    do
        for m in [ gx :> torch.nn.Module; gy; dgx; dgy; dlx ] do
            m.``to`` (device) |> ignore

    let gParams = Seq.append (gx.parameters ()) (gy.parameters ()) |> Seq.toArray
    let dParams = Seq.concat [ dgx.parameters (); dgy.parameters (); dlx.parameters () ] |> Seq.toArray
    let optG = new SafeAdam(gParams, lr = cfg.LrG, beta1 = 0.5)
    let optD = new SafeAdam(dParams, lr = cfg.LrD, beta1 = 0.5)
    member _.GX = gx
    member _.GY = gy
    member _.DGX = dgx
    member _.DGY = dgy
    member _.DLX = dlx
    member _.OptG = optG
    member _.OptD = optD
    member _.GeneratorParameters = gParams
    member _.Modules: IReadOnlyList<torch.nn.Module> = [ gx; gy; dgx; dgy; dlx ]

    /// The modules by name, in the order they are registered and saved.
    member _.Named: IReadOnlyList<KeyValuePair<string, torch.nn.Module>> =
        [ for n, m in [ "GX", gx :> torch.nn.Module; "GY", gy; "DGX", dgx; "DGY", dgy; "DLX", dlx ] -> KeyValuePair(n, m) ]

    /// Register every module and both optimizers in a run's state.
    member this.Register(state: TrainState) =
        for KeyValue(n, m) in this.Named do
            state.AddModule(n, m)

        state.AddOptimizer("G-optimizer", optG)
        state.AddOptimizer("D-optimizer", optD)

    /// Every module's state (prefixed "GX." etc.) as a safetensors file.
    member this.Save(path: string) =
        let d = Collections.Generic.Dictionary<string, torch.Tensor>()

        for KeyValue(n, m) in this.Named do
            for kv in m.state_dict () do
                d.[n + "." + kv.Key] <- kv.Value

        Safetensors.save path d

    /// Load every module's state from a file written by Save (the optimizers keep their own state).
    member this.Load(path: string) =
        let w = Safetensors.load path

        try
            use _ = torch.no_grad ()

            for KeyValue(n, m) in this.Named do
                for kv in m.state_dict () do
                    match w.TryGetValue(n + "." + kv.Key) with
                    | true, t when t.shape = kv.Value.shape -> kv.Value.copy_ (t) |> ignore
                    | _ -> Errors.fail "%s has no %s.%s of shape [%s]" path n kv.Key (String.Join(", ", kv.Value.shape))
        finally
            for t in w.Values do
                t.Dispose()

    interface IDisposable with
        member _.Dispose() =
            optG.Dispose()
            optD.Dispose()

            for m in [ gx :> torch.nn.Module; gy; dgx; dgy; dlx ] do
                m.Dispose()

/// One mini-batch for GAN training.
type GanBatch =
    { Clean: torch.Tensor
      CleanMask: torch.Tensor
      Targets: IReadOnlyList<Box>
      Labelled: torch.Tensor
      LabelledMask: torch.Tensor
      LabelledBoxes: IReadOnlyList<IReadOnlyList<Box>>
      LocalBoxes: IReadOnlyList<Box>
      Source: torch.Tensor
      SourceBoxes: IReadOnlyList<Box> }

module GanTrainer =
    /// Each box as an image's box list.
    let private singletons (boxes: IReadOnlyList<Box>) = boxes |> Seq.map (fun b -> [ b ] :> IReadOnlyList<_>)

    [<CompiledName("Sample")>]
    let sample (rng: Random) (set: ScanSet) (ins: Insertion[]) (b: int) (dtype: torch.ScalarType) (device: torch.Device) =
        let ci = Array.init b (fun _ -> rng.Next set.Clean.Length)
        let li = Array.init b (fun _ -> rng.Next set.Labelled.Length)
        let targets = ci |> Array.map (fun i -> ins.[i].Target) |> List.ofArray
        let lboxes = li |> Array.map (fun i -> set.Labelled.[i].Boxes) |> List.ofArray
        let img (scans: Scan seq) = ScanTensors.images set.Size scans dtype device

        { Clean = img (ci |> Seq.map (fun i -> set.Clean.[i]))
          CleanMask = ScanTensors.masks set.Size (singletons targets) dtype device
          Targets = targets
          Labelled = img (li |> Seq.map (fun i -> set.Labelled.[i]))
          LabelledMask = ScanTensors.masks set.Size lboxes dtype device
          LabelledBoxes = lboxes
          LocalBoxes = lboxes |> List.map (fun bs -> bs.[rng.Next bs.Count])
          Source = img (ci |> Seq.map (fun i -> set.Labelled.[ins.[i].Labelled]))
          SourceBoxes = ci |> Array.map (fun i -> ins.[i].Source) |> List.ofArray }

    /// One joint iteration: generator step (Eq. 4.5 + cycle + identity + BboxLoss + the objective's detection
    /// terms), discriminator step (least squares, history pools), then the detector step on real + synthetic
    /// (Eq. 4.1 + 4.2) with its Adam optimizer: the very step DetectorGAN's unrolled term looks ahead to.
    /// `det` and `detOptimizer` are the detector in the loop and its optimizer (both null: none). Returns the logged
    /// losses by name (only "g" when the generator loss was not finite and the iteration was skipped).
    [<CompiledName("Step")>]
    let step
        (cfg: DetGanConfig)
        (objective: Objective)
        (m: GanModels)
        (det: IDetector)
        (detOptimizer: SafeAdam)
        (poolY: HistoryPool)
        (poolX: HistoryPool)
        (b: GanBatch)
        (device: torch.Device)
        : IReadOnlyList<KeyValuePair<string, float>> =
        if isNull det <> isNull detOptimizer then
            Errors.fail "GanTrainer.Step: give both the detector and its optimizer, or neither"

        let det = if isNull det then None else Some(det, detOptimizer)
        let named (losses: (string * float) list) = [ for n, v in losses -> KeyValuePair(n, v) ] :> IReadOnlyList<_>
        use _ = torch.NewDisposeScope()
        let crop (t: torch.Tensor) boxes = ScanTensors.crops t boxes cfg.CropSize
        // ---- generators
        m.OptG.zero_grad ()
        let fakeY = m.GX.forward (b.Clean, b.CleanMask) // object inserted
        let fakeX = m.GY.forward (b.Labelled, b.LabelledMask) // object removed
        let recX = m.GY.forward (fakeY, b.CleanMask)
        let recY = m.GX.forward (fakeX, b.LabelledMask)
        let idY = m.GX.forward (b.Labelled, b.LabelledMask)
        let idX = m.GY.forward (b.Clean, b.CleanMask)
        let fakeCrops = crop fakeY b.Targets

        let adv =
            (Losses.lsgan (m.DGX.forward fakeY) 1.0).Plus(Losses.lsgan (m.DGY.forward fakeX) 1.0).Plus(Losses.lsgan (m.DLX.forward fakeCrops) 1.0)

        let cyc = (Losses.l1 recX b.Clean).Plus(Losses.l1 recY b.Labelled)
        let idt = (Losses.l1 idY b.Labelled).Plus(Losses.l1 idX b.Clean)
        let bbox = Losses.l1 fakeCrops (crop b.Source b.SourceBoxes)
        let mutable gLoss = adv.Plus(cyc.Mul(cfg.LambdaCycle)).Plus(idt.Mul(cfg.LambdaIdentity)).Plus(bbox.Mul(cfg.LambdaBbox))
        let mutable synLossValue = nan
        let mutable unrollValue = nan
        let mode = objective.Mode
        let lambda = objective.LambdaDet

        match det with
        | Some(d, opt) when GanMode.usesDetector mode ->
            use synT = ScanTensors.targets d (singletons b.Targets) device
            let synLoss = d.Loss(fakeY, synT)
            synLossValue <- synLoss.Item()

            match mode with
            | AcganLike -> gLoss <- gLoss.Plus(synLoss.Mul(lambda))
            | DetectorGanNoUnroll -> gLoss <- gLoss - synLoss.Mul(lambda)
            | DetectorGan ->
                use realT = ScanTensors.targets d b.LabelledBoxes device
                let unrolled = Losses.unrolledRealLoss d opt b.Labelled realT fakeY synT
                unrollValue <- unrolled.Item()
                gLoss <- (gLoss - synLoss.Mul(lambda)).Plus(unrolled.Mul(lambda))
            | CycleGanBbox -> ()
        | _ -> ()

        let gValue = gLoss.Item()
        // a non-finite generator loss skips the whole iteration (the caller records the arm as diverged)
        if not (Double.IsFinite gValue) then
            named [ "g", gValue ]
        else
            gLoss.backward ()
            // optional: clip the generators' gradient norm so the detection terms (maximised synthetic loss,
            // second-order unrolled term) cannot swamp the adversarial/cycle/BboxLoss terms in one step
            if objective.GradClip > 0.0 then torch.nn.utils.clip_grad_norm_ (m.GeneratorParameters, objective.GradClip) |> ignore
            m.OptG.step () |> ignore
            // ---- discriminators
            m.OptD.zero_grad ()
            let pooledY = poolY.Query fakeY
            let pooledX = poolX.Query fakeX

            let dLoss =
                (Losses.lsgan (m.DGX.forward b.Labelled) 1.0)
                    .Plus(Losses.lsgan (m.DGX.forward pooledY) 0.0)
                    .Plus(Losses.lsgan (m.DGY.forward b.Clean) 1.0)
                    .Plus(Losses.lsgan (m.DGY.forward pooledX) 0.0)
                    .Plus(Losses.lsgan (m.DLX.forward (crop b.Labelled b.LocalBoxes)) 1.0)
                    .Plus(Losses.lsgan (m.DLX.forward (fakeCrops.detach ())) 0.0)
                    .Mul(0.5)

            dLoss.backward ()
            m.OptD.step () |> ignore
            // ---- detector on real + synthetic
            let mutable detValue = nan

            match det with
            | Some(d, opt) when GanMode.usesDetector mode ->
                opt.zero_grad ()
                use realT = ScanTensors.targets d b.LabelledBoxes device
                use synT = ScanTensors.targets d (singletons b.Targets) device
                let l = d.Loss(b.Labelled, realT).Plus(d.Loss(fakeY.detach (), synT))
                l.backward ()
                opt.step () |> ignore
                detValue <- l.Item()
            | _ -> ()

            [ "g", gValue
              "d", dLoss.Item()
              "bbox", bbox.Item()
              "det_syn", synLossValue
              "unrolled", unrollValue
              "det", detValue ]
            |> List.filter (fun (_, v) -> not (Double.IsNaN v))
            |> named

    /// Synthetic labelled scans from G_X: the first n clean scans (cycling) with their insertion boxes.
    [<CompiledName("Synthesize")>]
    let synthesize (cfg: DetGanConfig) (m: GanModels) (set: ScanSet) (ins: Insertion[]) (n: int) (device: torch.Device) : Scan[] =
        use _ = torch.no_grad ()
        let idx = Array.init n (fun k -> k % set.Clean.Length)

        [| for chunk in Array.chunkBySize 64 idx do
               use _ = torch.NewDisposeScope()
               let dtype = (Seq.head (m.GX.parameters ())).dtype
               let x = ScanTensors.images set.Size (chunk |> Seq.map (fun i -> set.Clean.[i])) dtype device
               let mask = ScanTensors.masks set.Size (chunk |> Seq.map (fun i -> [ ins.[i].Target ] :> IReadOnlyList<_>)) dtype device
               let y = m.GX.forward(x, mask).``to``(torch.float32).cpu().contiguous()
               let px: float32[] = y.data<float32>().ToArray()
               let hw = set.Size * set.Size
               yield! chunk |> Array.mapi (fun j i -> { Pixels = Array.sub px (j * hw) hw; Boxes = [ ins.[i].Target ] }) |]
