namespace AutoDesign.DetectorGAN

open System
open TorchSharp
open AutoDesign.Nn
open AutoDesign.Runs
open AutoDesign.Nn.DetectorGAN
open AutoDesign.Metrics

/// Train and evaluate the detector.
module DetectorTrainer =
    let create (cfg: DetGanConfig) (seed: int) (dtype: torch.ScalarType) (device: torch.Device) =
        torch.manual_seed (int64 seed) |> ignore
        let d = new TinyRetinaNet(cfg.Spec.Size, cfg.DetChannels, cfg.DetFeatures, dtype)
        d.``to``(device) |> ignore
        d

    let copyWeights (src: IDetector) (dst: IDetector) =
        use _ = torch.no_grad ()
        for (p, q) in Seq.zip src.Weights dst.Weights do q.copy_(p) |> ignore

    /// `iterations` Adam steps; each batch is `batch` real labelled scans, or half real and half synthetic
    /// when synthetic scans are given.
    let train (cfg: DetGanConfig) (det: TinyRetinaNet) (real: Scan[]) (synthetic: Scan[]) (iterations: int) (seed: int) (label: string) (device: torch.Device) =
        let rng = Random(seed)
        use opt = new SafeAdam(det.parameters (), lr = cfg.LrDet)
        let progress = Progress.create label iterations
        let dtype = det.Weights.[0].dtype
        for _ in 1 .. iterations do
            use _ = torch.NewDisposeScope()
            let nSyn = if synthetic.Length = 0 then 0 else cfg.Batch / 2
            let scans =
                Array.append (Array.init (cfg.Batch - nSyn) (fun _ -> real.[rng.Next real.Length]))
                             (Array.init nSyn (fun _ -> synthetic.[rng.Next synthetic.Length]))
            let x = ScanTensors.images cfg.Spec.Size scans dtype device
            use t = ScanTensors.targets det (scans |> Seq.map (fun s -> s.Boxes)) device
            opt.zero_grad ()
            let loss = det.Loss(x, t)
            loss.backward ()
            opt.step () |> ignore
            progress.Step [ "loss", loss.Item() ]
        progress.Done()

    /// AP / recall at IoU 0.1 and 0.5, localization accuracy rows (Tables 4.2, 4.3) and the raw results.
    let evaluate (det: IDetector) (size: int) (test: Scan[]) (device: torch.Device) =
        let preds = ScanTensors.predict det size test device
        let results = List.map2 (fun p (s: Scan) -> { Predictions = p; Truth = s.Boxes }) preds (List.ofArray test)
        DetMetrics.averagePrecision 0.1 results, DetMetrics.averagePrecision 0.5 results,
        DetMetrics.localizationIou results, DetMetrics.localizationIobb results, results
