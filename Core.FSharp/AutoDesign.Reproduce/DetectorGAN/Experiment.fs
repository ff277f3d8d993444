namespace AutoDesign.Reproduce.DetectorGAN

open System
open System.IO
open TorchSharp
open AutoDesign.Runs
open AutoDesign.DetectorGAN

/// The configuration of one experiment run folder (one seed).
type DetGanSettings =
    {
        Config: DetGanConfig
        Seed: int
        /// Train the ACGAN-like arm (Table 4.1's second row; no verdict depends on it).
        Acgan: bool
        /// Also train the detection-loss-weight ablation arms (λ 0.1 / 0.3 / 1, with and without clipping).
        Ablation: bool
    }

/// The whole chapter-4 experiment: data, pre-training, the generator objectives, one final detector per arm.
module DetGanExperiment =
    let kind = "detectorgan.tables/3"

    let quick: DetGanConfig =
        { Spec = ScanData.quickSpec
          GenChannels = 8L
          GenBlocks = 2
          DiscChannels = 8L
          DetChannels = 8
          DetFeatures = 16
          Batch = 8
          PretrainGan = 60
          PretrainDet = 100
          Joint = 30
          FinalDet = 150
          FinalDetectors = 4
          Synthetic = 100
          LrG = 2e-3
          LrD = 2e-3
          LrDet = 2e-3
          LambdaCycle = 10.0
          LambdaIdentity = 5.0
          LambdaBbox = 10.0
          LambdaDet = 0.1
          GradClip = 5.0
          CropSize = 8
          PoolSize = 50
          CheckpointEvery = 50 }

    let full: DetGanConfig =
        { quick with
            Spec = ScanData.fullSpec
            GenChannels = 16L
            GenBlocks = 4
            DiscChannels = 16L
            DetChannels = 12
            DetFeatures = 24
            Batch = 16
            PretrainGan = 1500
            PretrainDet = 1000
            Joint = 800
            FinalDet = 3000
            FinalDetectors = 1
            Synthetic = 1000
            CropSize = 12
            CheckpointEvery = 200 }

    /// A seconds-long config for tests.
    let tiny: DetGanConfig =
        { quick with
            Spec = { Size = 16; Labelled = 6; Clean = 8; Test = 6; Contrast = 1.0; NoduleScale = 1.0 }
            GenChannels = 2L
            GenBlocks = 1
            DiscChannels = 2L
            DetChannels = 2
            DetFeatures = 4
            Batch = 2
            PretrainGan = 3
            PretrainDet = 3
            Joint = 3
            FinalDet = 3
            FinalDetectors = 2
            Synthetic = 4
            CheckpointEvery = 1 }

    /// Thesis numbers (NIH nodules): Table 4.1 (AP, recall at IoU 0.1), Table 4.2 (T_IoU 0.1..0.7, avg),
    /// Table 4.3 (T_IoBB 0.1, 0.25, 0.5, 0.75, avg); None where the thesis has no such row.
    let thesis =
        dict
            [ "real", ((0.124, 0.184), Some [ 0.15; 0.15; 0.15; 0.08; 0.08; 0.00; 0.00; 0.09 ], Some [ 0.15; 0.15; 0.08; 0.08; 0.09 ])
              "acgan-like", ((0.154, 0.607), None, None)
              "cyclegan-bbox", ((0.196, 0.541), Some [ 0.31; 0.31; 0.23; 0.23; 0.00; 0.00; 0.00; 0.15 ], Some [ 0.31; 0.31; 0.00; 0.00; 0.12 ])
              "detectorgan-no-unroll", ((0.203, 0.544), None, None)
              "detectorgan", ((0.236, 0.649), Some [ 0.31; 0.31; 0.31; 0.23; 0.23; 0.15; 0.08; 0.23 ], Some [ 0.31; 0.31; 0.23; 0.23; 0.22 ]) ]

    let private w (x: float) = x.ToString("0.###", Globalization.CultureInfo.InvariantCulture)

    /// Key of an ablation arm: DetectorGAN with detection-loss weight λ, clipped at c (0: no clipping).
    let ablationKey (lambda: float) (clip: float) = sprintf "detectorgan-w%s-%s" (w lambda) (if clip > 0.0 then "clip" + w clip else "noclip")

    /// Table 4.1's five settings (in its order; ACGAN-like only when asked for), then the ablation arms when asked for.
    let arms (cfg: DetGanConfig) (acgan: bool) (ablation: bool) : Arm list =
        let o mode = Some { Mode = mode; LambdaDet = cfg.LambdaDet; GradClip = cfg.GradClip }

        [ yield { Key = "real"; Label = "Real data only"; Objective = None }
          if acgan then yield { Key = "acgan-like"; Label = "Real + syn from ACGAN-like losses"; Objective = o AcganLike }
          yield { Key = "cyclegan-bbox"; Label = "Real + syn from CycleGAN + BboxLoss"; Objective = o CycleGanBbox }
          yield { Key = "detectorgan-no-unroll"; Label = "Real + syn from DetectorGAN - unrolling"; Objective = o DetectorGanNoUnroll }
          yield { Key = "detectorgan"; Label = "Real + syn from DetectorGAN"; Objective = o DetectorGan }
          if ablation then
              for lambda in [ 0.1; 0.3; 1.0 ] do
                  for clip in [ cfg.GradClip; 0.0 ] do
                      if not (lambda = cfg.LambdaDet && clip = cfg.GradClip) then
                          yield
                              { Key = ablationKey lambda clip
                                Label =
                                  sprintf
                                      "Real + syn from DetectorGAN, detection weight %s, %s"
                                      (w lambda)
                                      (if clip > 0.0 then "clip " + w clip else "no clipping")
                                Objective = Some { Mode = DetectorGan; LambdaDet = lambda; GradClip = clip } } ]

    let private inv (x: float) = x.ToString("0.000", Globalization.CultureInfo.InvariantCulture)

    let fmt (xs: float list) = xs |> List.map inv |> String.concat " "

    /// Run (or continue, or return the rows of) the experiment in the run folder `options.Root/relPath`.
    let run (options: RunOptions) (relPath: string) (s: DetGanSettings) (device: torch.Device) (log: string -> unit) : DetGanRow list * string =
        if s.Config.FinalDetectors < 1 then
            Errors.fail "final detectors per arm must be at least 1 (got %d)" s.Config.FinalDetectors

        use exp = Run.Open(options, relPath, kind, s)

        if exp.IsFinished then
            exp.Result<DetGanRow list>(), exp.Dir
        else
            let cfg, seed, dir = s.Config, s.Seed, exp.Dir
            let data = ScanData.generate cfg.Spec seed
            let ins = ScanData.insertionBoxes data (seed + 1)

            log (
                sprintf
                    "%s: %d labelled, %d clean, %d test scans of %dx%d (contrast %g, nodule scale %g)"
                    ScanData.dataName
                    data.Labelled.Length
                    data.Clean.Length
                    data.Test.Length
                    data.Size
                    data.Size
                    cfg.Spec.Contrast
                    cfg.Spec.NoduleScale
            )

            Visuals.save
                (Path.Combine(dir, "samples.png"))
                data.Size
                ([ for sc in Seq.truncate 8 data.Labelled -> Visuals.scanWithTruth data.Size sc ]
                 @ [ for i in 0 .. min 8 data.Clean.Length - 1 -> Visuals.withBoxes data.Size data.Clean.[i].Pixels [ ins.[i].Target, Visuals.green ] ])
                8

            let arms = arms cfg s.Acgan s.Ablation
            Phases.pretrainDetector exp cfg data seed device |> ignore
            Phases.pretrainGan exp cfg data ins seed device |> ignore

            let rows =
                [ for arm in arms ->
                      let diverged =
                          match arm.Objective with
                          | Some o -> (Phases.joint exp cfg data ins seed arm o device).Diverged
                          | None -> false

                      let row = Phases.finalDetector exp cfg data ins seed arm diverged device

                      log (
                          sprintf
                              "%s: AP@0.1 %.3f (per final detector %s), recall %.3f, AP@0.5 %.3f%s"
                              arm.Key
                              row.Ap01
                              (fmt row.Ap01Each)
                              row.Recall01
                              row.Ap05
                              (if row.Diverged then " (diverged)" else "")
                      )

                      row ]
            // Fig. 4.3 analogue: clean input | CycleGAN+BboxLoss | DetectorGAN, insertion box in green (first 8 clean scans).
            let armOf key = arms |> List.find (fun a -> a.Key = key)
            let n = min 8 data.Clean.Length
            let cyc = Phases.synthetic exp cfg data ins seed (armOf "cyclegan-bbox") n device
            let dg = Phases.synthetic exp cfg data ins seed (armOf "detectorgan") n device

            let pics =
                [ for i in 0 .. n - 1 do
                      yield Visuals.withBoxes data.Size data.Clean.[i].Pixels [ ins.[i].Target, Visuals.green ]
                      yield Visuals.withBoxes data.Size cyc.[i].Pixels [ ins.[i].Target, Visuals.green ]
                      yield Visuals.withBoxes data.Size dg.[i].Pixels [ ins.[i].Target, Visuals.green ]
                      yield Array.concat [ cyc.[i].Pixels; cyc.[i].Pixels; cyc.[i].Pixels ]
                      yield Array.concat [ dg.[i].Pixels; dg.[i].Pixels; dg.[i].Pixels ] ]

            Visuals.save (Path.Combine(dir, "inserted-cyclegan-vs-detectorgan.png")) data.Size pics 5

            let table (rows: DetGanRow list) (header: string) (f: DetGanRow -> float list) =
                Csv.render (header.Split ',') [ for r in rows -> Cell.Text r.Label :: (f r |> List.map (inv >> Cell.Text)) ]

            let main = rows |> List.filter (fun r -> not (r.Key.StartsWith "detectorgan-w"))

            Atomic.writeAllText
                (Path.Combine(dir, "table-4.1.csv"))
                (table main "training_data,ap_iou0.1,recall_iou0.1,ap_iou0.5,recall_iou0.5" (fun r -> [ r.Ap01; r.Recall01; r.Ap05; r.Recall05 ]))

            Atomic.writeAllText (Path.Combine(dir, "table-4.2.csv")) (table main "training_data,t0.1,t0.2,t0.3,t0.4,t0.5,t0.6,t0.7,avg" (fun r -> r.LocIou))
            Atomic.writeAllText (Path.Combine(dir, "table-4.3.csv")) (table main "training_data,t0.1,t0.25,t0.5,t0.75,avg" (fun r -> r.LocIobb))

            Atomic.writeAllText
                (Path.Combine(dir, "generator-drift.csv"))
                (table (rows |> List.tail) "training_data,mean_abs_change_outside_box,mean_abs_change_inside_box" (fun r -> [ r.DriftOutside; r.DriftInside ]))

            if s.Ablation then
                let abl = rows |> List.filter (fun r -> r.Key = "detectorgan" || r.Key.StartsWith "detectorgan-w")

                Atomic.writeAllText
                    (Path.Combine(dir, "ablation.csv"))
                    (table abl "training_data,ap_iou0.1,recall_iou0.1,ap_iou0.5,recall_iou0.5,diverged" (fun r ->
                        [ r.Ap01; r.Recall01; r.Ap05; r.Recall05; (if r.Diverged then 1.0 else 0.0) ]))

            exp.Finish rows
            rows, dir
