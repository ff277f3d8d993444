namespace AutoDesign.DetectorGAN

open System
open System.Collections.Generic
open System.IO
open TorchSharp
open AutoDesign.Nn
open AutoDesign.Runs
open AutoDesign.Nn.DetectorGAN
open AutoDesign.Metrics

/// A detector on the test scans: AP / recall at IoU 0.1 and 0.5, the localization accuracy rows (Tables 4.2,
/// 4.3: one value per threshold, then their average) and the per-scan results.
type DetectorEvaluation =
    { Ap01: ApResult
      Ap05: ApResult
      LocalizationIou: IReadOnlyList<float>
      LocalizationIobb: IReadOnlyList<float>
      Results: IReadOnlyList<ImageResult> }

/// Train and evaluate the detector.
module DetectorTrainer =
    [<CompiledName("Create")>]
    let create (cfg: DetGanConfig) (seed: int) (dtype: torch.ScalarType) (device: torch.Device) =
        torch.manual_seed (int64 seed) |> ignore
        let d = new TinyRetinaNet(cfg.Spec.Size, cfg.DetChannels, cfg.DetFeatures, dtype)
        d.``to`` (device) |> ignore
        d

    [<CompiledName("Optimizer")>]
    let optimizer (cfg: DetGanConfig) (det: TinyRetinaNet) = new SafeAdam(det.parameters (), lr = cfg.LrDet)

    /// The detector's weights as a safetensors file.
    [<CompiledName("Save")>]
    let save (path: string) (det: TinyRetinaNet) = Safetensors.save path (det.state_dict ())

    /// Load weights written by `save`.
    [<CompiledName("Load")>]
    let load (path: string) (det: TinyRetinaNet) =
        let w = Safetensors.load path

        try
            use _ = torch.no_grad ()

            for kv in det.state_dict () do
                match w.TryGetValue kv.Key with
                | true, t when t.shape = kv.Value.shape -> kv.Value.copy_ (t) |> ignore
                | _ -> Errors.fail "%s has no detector weight %s of shape [%s]" path kv.Key (String.Join(", ", kv.Value.shape))
        finally
            for t in w.Values do
                t.Dispose()

    /// `iterations` Adam steps in `run` (resumable: the detector, its optimizer and the batch stream are
    /// checkpointed); each batch is `batch` real labelled scans, or half real and half synthetic when synthetic
    /// scans are given. One metrics row (mean loss) every tenth of the run.
    [<CompiledName("Train")>]
    let train
        (run: Run)
        (cfg: DetGanConfig)
        (det: TinyRetinaNet)
        (real: Scan[])
        (synthetic: Scan[])
        (iterations: int)
        (seed: int)
        (label: string)
        (device: torch.Device)
        =
        let rng = SeededRandom(seed)
        use opt = optimizer cfg det
        let dtype = det.Weights.[0].dtype
        let mutable sum = 0.0
        let state = TrainState()
        state.AddModule("detector", det)
        state.AddOptimizer("optimizer", opt)
        state.AddRandom("batches", rng)
        state.AddValue<float>("loss-sum", Func<float>(fun () -> sum), Action<float>(fun v -> sum <- v))
        let every = max 1 (iterations / 10)
        let spec = { LoopSpec.Of(label, iterations) with CheckpointEvery = cfg.CheckpointEvery }

        Loop.run
            run
            state
            spec
            (fun info ctx ->
                use _ = torch.NewDisposeScope()
                let nSyn = if synthetic.Length = 0 then 0 else cfg.Batch / 2

                let scans =
                    Array.append
                        (Array.init (cfg.Batch - nSyn) (fun _ -> real.[rng.Next real.Length]))
                        (Array.init nSyn (fun _ -> synthetic.[rng.Next synthetic.Length]))

                let x = ScanTensors.images cfg.Spec.Size scans dtype device
                use t = ScanTensors.targets det (scans |> Seq.map (fun s -> s.Boxes)) device
                opt.zero_grad ()
                let loss = det.Loss(x, t)
                loss.backward ()
                opt.step () |> ignore
                let lv = loss.Item()
                sum <- sum + lv

                if (info.Step + 1) % every = 0 || info.Step = iterations - 1 then
                    let n = (info.Step % every) + 1
                    ctx.Row [ "step", float (info.Step + 1); "loss", sum / float n ]
                    sum <- 0.0

                ctx.Show [ "loss", lv ])
            (fun _ _ -> ())
        |> ignore

    /// AP / recall at IoU 0.1 and 0.5, localization accuracy rows (Tables 4.2, 4.3) and the per-scan results.
    [<CompiledName("Evaluate")>]
    let evaluate (det: IDetector) (size: int) (test: Scan[]) (device: torch.Device) : DetectorEvaluation =
        let preds = ScanTensors.predict det size test device

        let results =
            List.map2 (fun p (s: Scan) -> { Predictions = p; Truth = s.Boxes }) (List.ofSeq preds) (List.ofArray test) :> IReadOnlyList<_>

        { Ap01 = DetMetrics.averagePrecision 0.1 results
          Ap05 = DetMetrics.averagePrecision 0.5 results
          LocalizationIou = DetMetrics.localizationIou results
          LocalizationIobb = DetMetrics.localizationIobb results
          Results = results }
