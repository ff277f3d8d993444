namespace AutoDesign.Reproduce.DetectorGAN

open System
open System.IO
open System.Text.Json
open TorchSharp
open AutoDesign.Nn
open AutoDesign.Runs
open AutoDesign.DetectorGAN
open AutoDesign.Metrics

/// One row of Tables 4.1–4.3: the training data of a detector and its test metrics.
type DetGanRow =
    { Key: string; Label: string
      Ap01: float; Recall01: float; Ap05: float; Recall05: float
      LocIou: float list; LocIobb: float list; Seconds: float
      /// mean |synthetic − clean| outside / inside the insertion box (NaN for real only): how far G_X drifts from its input
      DriftOutside: float; DriftInside: float }

/// The whole chapter-4 experiment: data, pre-training, the four generator objectives, the five detectors.
module DetGanExperiment =
    let quick : DetGanConfig =
        { Spec = ScanData.quickSpec
          GenChannels = 8L; GenBlocks = 2; DiscChannels = 8L; DetChannels = 8; DetFeatures = 16
          Batch = 8; PretrainGan = 150; PretrainDet = 150; Joint = 60; FinalDet = 500; Synthetic = 200
          LrG = 2e-3; LrD = 2e-3; LrDet = 2e-3; UnrollLr = 0.05
          LambdaCycle = 10.0; LambdaIdentity = 5.0; LambdaBbox = 10.0; LambdaDetSyn = 0.1; LambdaUnroll = 0.1
          CropSize = 8; PoolSize = 50; GradClip = 5.0 }

    let full : DetGanConfig =
        { quick with
            Spec = ScanData.fullSpec; GenChannels = 16L; GenBlocks = 4; DiscChannels = 16L; DetChannels = 12; DetFeatures = 24
            Batch = 16; PretrainGan = 1500; PretrainDet = 1000; Joint = 800; FinalDet = 3000; Synthetic = 1000; CropSize = 12 }

    /// Thesis numbers (NIH nodules): Table 4.1 (AP, recall at IoU 0.1), Table 4.2 (T_IoU 0.1..0.7, avg),
    /// Table 4.3 (T_IoBB 0.1, 0.25, 0.5, 0.75, avg); None where the thesis has no such row.
    let thesis =
        dict [ "real", ((0.124, 0.184), Some [ 0.15; 0.15; 0.15; 0.08; 0.08; 0.00; 0.00; 0.09 ], Some [ 0.15; 0.15; 0.08; 0.08; 0.09 ])
               "acgan-like", ((0.154, 0.607), None, None)
               "cyclegan-bbox", ((0.196, 0.541), Some [ 0.31; 0.31; 0.23; 0.23; 0.00; 0.00; 0.00; 0.15 ], Some [ 0.31; 0.31; 0.00; 0.00; 0.12 ])
               "detectorgan-no-unroll", ((0.203, 0.544), None, None)
               "detectorgan", ((0.236, 0.649), Some [ 0.31; 0.31; 0.31; 0.23; 0.23; 0.15; 0.08; 0.23 ], Some [ 0.31; 0.31; 0.23; 0.23; 0.22 ]) ]

    let labels =
        [ "real", "Real data only"
          "acgan-like", "Real + syn from ACGAN-like losses"
          "cyclegan-bbox", "Real + syn from CycleGAN + BboxLoss"
          "detectorgan-no-unroll", "Real + syn from DetectorGAN - unrolling"
          "detectorgan", "Real + syn from DetectorGAN" ]

    let modes = [ CycleGanBbox; AcganLike; DetectorGanNoUnroll; DetectorGan ]

    let private inv (x: float) = x.ToString("0.000", Globalization.CultureInfo.InvariantCulture)

    // NaN marks "not applicable" (drift of the real-only row): allow it in the JSON.
    let private json = JsonSerializerOptions(NumberHandling = Serialization.JsonNumberHandling.AllowNamedFloatingPointLiterals)

    let private rowFile dir key = Path.Combine(dir, "rows", key + ".json")

    let private tryRow dir key =
        let p = rowFile dir key
        if File.Exists p then Some(JsonSerializer.Deserialize<DetGanRow>(File.ReadAllText p, json)) else None

    let private saveRow dir (r: DetGanRow) =
        Directory.CreateDirectory(Path.Combine(dir, "rows")) |> ignore
        Atomic.writeAllText (rowFile dir r.Key) (JsonSerializer.Serialize(r, json))

    /// Train one detector on real (+ synthetic) scans from the shared initial weights, evaluate on the test set.
    /// Mean absolute change of G_X's output against its clean input, outside and inside the insertion boxes.
    let drift (data: ScanSet) (ins: Insertion[]) (synthetic: Scan[]) =
        let mutable outS, outN, inS, inN = 0.0, 0, 0.0, 0
        synthetic |> Array.iteri (fun k s ->
            let c = data.Clean.[k % data.Clean.Length]
            let b = ins.[k % data.Clean.Length].Target
            for p in 0 .. s.Pixels.Length - 1 do
                let x, y = float (p % data.Size) + 0.5, float (p / data.Size) + 0.5
                let d = abs (float (s.Pixels.[p] - c.Pixels.[p]))
                if x >= b.X0 && x < b.X1 && y >= b.Y0 && y < b.Y1 then (inS <- inS + d; inN <- inN + 1) else (outS <- outS + d; outN <- outN + 1))
        (if outN = 0 then nan else outS / float outN), (if inN = 0 then nan else inS / float inN)

    let private detectorRow (cfg: DetGanConfig) (data: ScanSet) (ins: Insertion[]) (seed: int) key (synthetic: Scan[]) (dir: string) device =
        let sw = Diagnostics.Stopwatch.StartNew()
        use det = DetectorTrainer.create cfg (seed + 7) torch.float32 device
        DetectorTrainer.train cfg det data.Labelled synthetic cfg.FinalDet (seed + 11) ("detector " + key) device
        let ap1, ap5, locIou, locIobb, results = DetectorTrainer.evaluate det data.Size data.Test device
        let pics = [ for s, r in Seq.zip data.Test results |> Seq.truncate 16 -> Visuals.detections data.Size s r.Predictions 0.3 ]
        Visuals.save (Path.Combine(dir, sprintf "detections-%s.png" key)) data.Size pics 8
        let row =
            { Key = key; Label = labels |> List.find (fst >> (=) key) |> snd
              Ap01 = ap1.Ap; Recall01 = ap1.Recall; Ap05 = ap5.Ap; Recall05 = ap5.Recall
              LocIou = locIou; LocIobb = locIobb; Seconds = sw.Elapsed.TotalSeconds
              DriftOutside = (if synthetic.Length = 0 then nan else fst (drift data ins synthetic))
              DriftInside = (if synthetic.Length = 0 then nan else snd (drift data ins synthetic)) }
        saveRow dir row
        row

    /// Run (or, with rows/*.json present, resume) the experiment in `dir`.
    let run (cfg: DetGanConfig) (seed: int) (dir: string) (device: torch.Device) (log: string -> unit) : DetGanRow list =
        Directory.CreateDirectory dir |> ignore
        let data = ScanData.generate cfg.Spec seed
        let ins = ScanData.insertionBoxes data (seed + 1)
        log (sprintf "%s: %d labelled, %d clean, %d test scans of %dx%d" ScanData.dataName data.Labelled.Length data.Clean.Length data.Test.Length data.Size data.Size)
        Visuals.save (Path.Combine(dir, "samples.png")) data.Size
            ([ for s in Seq.truncate 8 data.Labelled -> Visuals.scanWithTruth data.Size s ]
             @ [ for i in 0 .. min 8 data.Clean.Length - 1 -> Visuals.withBoxes data.Size data.Clean.[i].Pixels [ ins.[i].Target, Visuals.green ] ]) 8
        // Finished rows are reused only when they were made with this exact config and seed.
        let signature = sprintf "%A seed=%d" cfg seed
        let sigPath = Path.Combine(dir, "rows", "signature.txt")
        if Directory.Exists(Path.Combine(dir, "rows")) && (not (File.Exists sigPath) || File.ReadAllText sigPath <> signature) then
            log "rows/ was made with another config or seed: starting afresh"
            Directory.Delete(Path.Combine(dir, "rows"), true)
        Directory.CreateDirectory(Path.Combine(dir, "rows")) |> ignore
        Atomic.writeAllText sigPath signature
        let rows = Collections.Generic.Dictionary<string, DetGanRow>()
        for (k, _) in labels do tryRow dir k |> Option.iter (fun r -> rows.[k] <- r)
        if not (rows.ContainsKey "real") then rows.["real"] <- detectorRow cfg data ins seed "real" [||] dir device
        let missing = modes |> List.filter (fun m -> not (rows.ContainsKey(GanMode.name m)))
        let generated = Collections.Generic.Dictionary<string, Scan[]>()
        if not missing.IsEmpty then
            // Pre-train the generator/discriminator pair (CycleGAN + BboxLoss) and the detector (real only) once.
            let rng = Random(seed + 3)
            use baseGan = new GanModels(cfg, torch.float32, device, seed + 5)
            use baseDet = DetectorTrainer.create cfg (seed + 7) torch.float32 device
            DetectorTrainer.train cfg baseDet data.Labelled [||] cfg.PretrainDet (seed + 13) "pre-train detector" device
            (use poolY = new HistoryPool(cfg.PoolSize, seed)
             use poolX = new HistoryPool(cfg.PoolSize, seed + 1)
             let p = Progress.create "pre-train GAN" cfg.PretrainGan
             for _ in 1 .. cfg.PretrainGan do
                 use _ = torch.NewDisposeScope()
                 let b = GanTrainer.sample rng data ins cfg.Batch torch.float32 device
                 p.Step(GanTrainer.step cfg CycleGanBbox baseGan None poolY poolX b device)
             p.Done())
            for mode in missing do
                let key = GanMode.name mode
                use gan = new GanModels(cfg, torch.float32, device, seed + 5)
                gan.CopyFrom baseGan
                use det = DetectorTrainer.create cfg (seed + 7) torch.float32 device
                DetectorTrainer.copyWeights baseDet det
                use detOpt = new SafeAdam(det.parameters (), lr = cfg.LrDet)
                use poolY = new HistoryPool(cfg.PoolSize, seed)
                use poolX = new HistoryPool(cfg.PoolSize, seed + 1)
                let rngJ = Random(seed + 17)
                let p = Progress.create ("joint " + key) cfg.Joint
                for _ in 1 .. cfg.Joint do
                    use _ = torch.NewDisposeScope()
                    let b = GanTrainer.sample rngJ data ins cfg.Batch torch.float32 device
                    p.Step(GanTrainer.step cfg mode gan (Some(det :> AutoDesign.Nn.DetectorGAN.IDetector, detOpt :> torch.optim.Optimizer)) poolY poolX b device)
                p.Done()
                gan.GX.eval ()
                let syn = GanTrainer.synthesize cfg gan data ins cfg.Synthetic device
                generated.[key] <- syn
                rows.[key] <- detectorRow cfg data ins seed key syn dir device
        // Fig. 4.3 analogue: clean input | CycleGAN+BboxLoss | DetectorGAN, insertion box in green (first 8 clean scans).
        if generated.ContainsKey "cyclegan-bbox" && generated.ContainsKey "detectorgan" then
            let pics =
                [ for i in 0 .. (min 8 (min data.Clean.Length cfg.Synthetic)) - 1 do
                    yield Visuals.withBoxes data.Size data.Clean.[i].Pixels [ ins.[i].Target, Visuals.green ]
                    yield Visuals.withBoxes data.Size generated.["cyclegan-bbox"].[i].Pixels [ ins.[i].Target, Visuals.green ]
                    yield Visuals.withBoxes data.Size generated.["detectorgan"].[i].Pixels [ ins.[i].Target, Visuals.green ]
                    yield generated.["cyclegan-bbox"].[i].Pixels |> fun px -> Array.concat [ px; px; px ]
                    yield generated.["detectorgan"].[i].Pixels |> fun px -> Array.concat [ px; px; px ] ]
            Visuals.save (Path.Combine(dir, "inserted-cyclegan-vs-detectorgan.png")) data.Size pics 5
        let ordered = labels |> List.map (fun (k, _) -> rows.[k])
        let csv header (f: DetGanRow -> float list) =
            header + "\n" + (ordered |> List.map (fun r -> sprintf "\"%s\",%s" r.Label (f r |> List.map inv |> String.concat ",")) |> String.concat "\n") + "\n"
        Atomic.writeAllText (Path.Combine(dir, "table-4.1.csv")) (csv "training_data,ap_iou0.1,recall_iou0.1,ap_iou0.5,recall_iou0.5" (fun r -> [ r.Ap01; r.Recall01; r.Ap05; r.Recall05 ]))
        Atomic.writeAllText (Path.Combine(dir, "table-4.2.csv")) (csv "training_data,t0.1,t0.2,t0.3,t0.4,t0.5,t0.6,t0.7,avg" (fun r -> r.LocIou))
        Atomic.writeAllText (Path.Combine(dir, "generator-drift.csv")) (csv "training_data,mean_abs_change_outside_box,mean_abs_change_inside_box" (fun r -> [ r.DriftOutside; r.DriftInside ]))
        Atomic.writeAllText (Path.Combine(dir, "table-4.3.csv")) (csv "training_data,t0.1,t0.25,t0.5,t0.75,avg" (fun r -> r.LocIobb))
        ordered

    let fmt (xs: float list) = xs |> List.map inv |> String.concat " "
