namespace AutoDesign.Reproduce.UniLoss.Pose

open System
open System.IO
open System.Diagnostics
open TorchSharp
open AutoDesign.Nn
open AutoDesign.Runs
open AutoDesign.Plots
open AutoDesign.UniLoss
open AutoDesign.Reproduce
open AutoDesign.Reproduce.UniLoss

/// Sizes of the pose experiment (quick or full).
type PoseSizes =
    { Side: int
      Train: int
      Val: int
      Test: int
      Epochs: int
      Batch: int
      Channels: int
      Depth: int
      Sigmas: float list
      BitFraction: float
      GoodFlips: int }

/// Thesis §3.4.3 on procedural stick figures: Table 3.1 (MSE with Gaussian targets of each σ vs
/// UniLoss(PCKh)) and Table 3.4's pose row (anchors per type 5/10/16). All arms share one data set,
/// split, seed, model, optimizer and budget; run folders live in runs/uniloss/pose-{quick,full}/.
module PoseExp =
    let dataSeed = 4
    let sigmas = [ 0.1; 0.5; 0.7; 1.0; 3.0; 5.0; 10.0 ]
    let thesisMse = dict [ 0.1, "91.31"; 0.5, "95.13"; 0.7, "93.06"; 1.0, "95.71"; 3.0, "95.74"; 5.0, "94.99"; 10.0, "92.25" ]
    let thesisAnchors = [ 5, "94.79"; 10, "94.95"; 16, "95.77" ]

    let sizes (s: ExpSettings) =
        let q = s.Quick

        { Side = 64
          Train = defaultArg s.TrainSize (if q then 512 else 2048)
          Val = (if q then 128 else 256)
          Test = (if q then 256 else 512)
          Epochs = defaultArg s.Epochs (if q then 8 else 50)
          Batch = 16
          Channels = (if q then 16 else 32)
          Depth = 3
          Sigmas = sigmas
          BitFraction = 0.5
          GoodFlips = 5 }

    let config (s: ExpSettings) (z: PoseSizes) (lr: float) =
        { Channels = z.Channels
          Depth = z.Depth
          Epochs = z.Epochs
          Milestones = PoseTrain.thesisMilestones z.Epochs
          BatchSize = z.Batch
          Lr = lr
          Seed = s.Seed }

    let private expName (s: ExpSettings) = Path.Combine("uniloss", sprintf "pose-%s" (if s.Quick then "quick" else "full"))
    let private expDir (s: ExpSettings) = Path.Combine(s.Options.Root, expName s)

    /// The data set, with a grid of 32 training samples (head top marked red) in the folder.
    let data (s: ExpSettings) (z: PoseSizes) =
        let set = PoseData.create dataSeed z.Side z.Train z.Val z.Test
        let dir = expDir s
        Directory.CreateDirectory dir |> ignore
        use grid = PoseData.marked set (Array.truncate 32 set.Train) None
        ImageGrid.save (Path.Combine(dir, "samples.png")) grid 8
        set

    /// The key figure of the table's seed set: PCKh against the MSE target's sigma, UniLoss as a line.
    let figures (s: ExpSettings) = [ "PCKh vs the MSE target's sigma (UniLoss needs none)", Path.Combine(s.SeedSetDir(expDir s), "table3_1_sigma.png") ]

    let uniLoss (s: ExpSettings) (z: PoseSizes) anchors = UniLossPckh(anchors, z.BitFraction, defaultArg s.Tau 1.0, z.GoodFlips)

    /// Train one arm for one seed in its run folder (pose-<mode>/seed<k>/<label>). The table's UniLoss arm and
    /// the anchors ablation's 16-anchor arm are one run folder, which a job of either experiment may be
    /// writing: runs wait for such a writer instead of failing.
    let runArm (s: ExpSettings) (z: PoseSizes) (set: PoseSet) (seed: int) (label: string, loss: PoseLoss, lr: float) =
        let cfg = { config s z lr with Seed = seed }
        PoseTrain.run { s.Options with Wait = true } (Path.Combine(expName s, sprintf "seed%d" seed, label)) label set loss cfg s.Device

    /// Train the arms (label, loss, lr) for every seed; per arm the test PCKh of each seed.
    let private runArms (s: ExpSettings) (z: PoseSizes) (set: PoseSet) (arms: (string * PoseLoss * float) list) =
        [ for r in 0 .. s.Runs - 1 do
              let seed = s.Seed + r

              for arm in arms do
                  let (label, _, _) = arm
                  yield label, seed, runArm s z set seed arm ]

    let private writeSummary (s: ExpSettings) (file: string) (results: (string * int * PoseRunResult) list) =
        let dir = s.SeedSetDir(expDir s)
        Directory.CreateDirectory dir |> ignore

        Csv.writeTable
            (Path.Combine(dir, file))
            [ "arm"; "seed"; "test_pckh"; "final_val_pckh"; "epochs"; "ms_per_step"; "bits_per_batch"; "run_dir" ]
            [ for (label, seed, r) in results ->
                  let v =
                      match List.tryLast r.Rows with
                      | Some e -> e.ValPckh
                      | None -> nan

                  [ Cell.Text label
                    Cell.Number(float seed)
                    Cell.Number r.Test
                    Cell.Number v
                    Cell.Number(float r.Rows.Length)
                    Cell.Number(Math.Round(r.MsPerStep, 1))
                    (if Double.IsNaN r.Bits then Cell.Text "" else Cell.Number(Math.Round r.Bits))
                    Cell.Text(s.RelativeToRoot r.Dir) ] ]

        let curves =
            [ for (label, seed, r) in results do
                  let pts = r.Rows |> List.map (fun e -> float e.Epoch, 100.0 * e.ValPckh) |> Array.ofList

                  if pts.Length > 0 then
                      yield (if results |> List.exists (fun (_, s2, _) -> s2 <> seed) then sprintf "%s seed %d" label seed else label), pts ]

        if not curves.IsEmpty then
            Plot.lines
                (Path.Combine(dir, Path.GetFileNameWithoutExtension file + "_val_pckh.png"))
                (sprintf "%s: validation PCKh" (Path.GetFileNameWithoutExtension file))
                "epoch"
                "PCKh (%)"
                curves

    let private pcts (results: (string * int * PoseRunResult) list) label =
        [ for (l, _, r) in results do
              if l = label then yield 100.0 * r.Test ]

    /// Memory and time of one UniLoss step, from a finished run's bit count and timings.
    let benchLine (z: PoseSizes) (anchors: int) (uni: PoseRunResult) (mse: PoseRunResult) =
        let l = uni.Bits
        let t = float (3 * anchors)
        let mb x = x / 1048576.0
        let peak = float (Process.GetCurrentProcess().PeakWorkingSet64)

        sprintf
            "pose bench: batch %d, l = %.0f bits/batch (mean), t = %.0f anchors; UniLoss's host value table holds the t+1 configurations' bits, (t+1)·l·8 B = %.1f MB (g's other nodes add a few rows), and IDW with its gradient reads it in place (no [t x l] temporaries); bit fraction %g; UniLoss step %.0f ms vs MSE step %.0f ms (ratio %.2f); peak process working set %.0f MB (loaded 2-core machine)"
            z.Batch
            l
            t
            (mb ((t + 1.0) * l * 8.0))
            z.BitFraction
            uni.MsPerStep
            mse.MsPerStep
            (uni.MsPerStep / mse.MsPerStep)
            (mb peak)

    let private describeCfg (z: PoseSizes) (s: ExpSettings) lr =
        sprintf
            "single-stack hourglass (%d ch, depth 3, 64x64 → 16x16), RMSProp lr %g ÷4 at epochs [%s], %d epochs, batch %d, seed %d"
            z.Channels
            lr
            (String.Join(", ", PoseTrain.thesisMilestones z.Epochs))
            z.Epochs
            z.Batch
            s.Seed

    let private dataText (z: PoseSizes) = sprintf "%s, %d/%d/%d train/val/test, 64x64" PoseData.name z.Train z.Val z.Test

    /// Table 3.1: MSE for each σ and UniLoss(PCKh), same split and budget.
    let tableArms (s: ExpSettings) (z: PoseSizes) =
        let lr = 2.5e-4
        let anchors = defaultArg s.Anchors 16

        [ for sg in z.Sigmas -> sprintf "mse-sigma%g" sg, Mse sg, lr ]
        @ [ sprintf "uniloss-anchors%d" anchors, uniLoss s z anchors, defaultArg s.UniLr lr ]

    let anchorArms (s: ExpSettings) (z: PoseSizes) =
        let lr = defaultArg s.UniLr 2.5e-4
        [ for (k, _) in thesisAnchors -> sprintf "uniloss-anchors%d" k, uniLoss s z k, lr ]

    /// Parts (one per seed and arm, "seed<k>/<label>") of the table (`which` "table") or the anchors
    /// ablation ("anchors"); the ablation leaves the arm it shares with the table to the table's part.
    let parts (s: ExpSettings) (which: string) : (string * (unit -> unit)) list =
        let z = sizes s
        let tableLabels = tableArms s z |> List.map (fun (l, _, _) -> l) |> set

        let arms =
            match which with
            | "table" -> tableArms s z
            | _ -> anchorArms s z |> List.filter (fun (l, _, _) -> not (tableLabels.Contains l))

        [ for r in 0 .. s.Runs - 1 do
              let seed = s.Seed + r

              for (label, _, _) as arm in arms ->
                  sprintf "seed%d/%s" seed label, (fun () -> runArm s z (PoseData.create dataSeed z.Side z.Train z.Val z.Test) seed arm |> ignore) ]

    let table (s: ExpSettings) : ReportRow list =
        let z = sizes s
        let set = data s z
        let lr = 2.5e-4
        let uniLr = defaultArg s.UniLr lr
        let anchors = defaultArg s.Anchors 16
        let res = runArms s z set (tableArms s z)
        let dir = expDir s
        writeSummary s "table3_1.csv" res
        let mseMeans = [ for sg in z.Sigmas -> sg, List.average (pcts res (sprintf "mse-sigma%g" sg)) ]
        let bestSigma, bestMse = mseMeans |> List.maxBy snd
        let worstSigma, worstMse = mseMeans |> List.minBy snd
        let uni = pcts res (sprintf "uniloss-anchors%d" anchors)
        let uniMean = List.average uni
        let gap = uniMean - bestMse

        Plot.lines
            (Path.Combine(s.SeedSetDir dir, "table3_1_sigma.png"))
            "PCKh vs MSE target sigma (UniLoss needs no sigma)"
            "log10 sigma"
            "test PCKh (%)"
            [ "MSE", mseMeans |> List.map (fun (sg, v) -> log10 sg, v) |> Array.ofList
              "UniLoss", [| log10 (List.head z.Sigmas), uniMean; log10 (List.last z.Sigmas), uniMean |] ]

        let (_, _, uniRun) = res |> List.find (fun (l, _, _) -> l = sprintf "uniloss-anchors%d" anchors)
        let (_, _, mseRun) = res |> List.find (fun (l, _, _) -> l = "mse-sigma1")
        // measured times and memory go to bench.txt and the log, not into the (reproducible) rows
        let bench = benchLine z anchors uniRun mseRun
        printfn "%s" bench
        Atomic.writeAllText (Path.Combine(s.SeedSetDir dir, "bench.txt")) (bench + "\n")
        let cfg = describeCfg z s lr

        [ for sg in z.Sigmas ->
              { System = "uniloss"
                Experiment = "pose-table3.1"
                Claim = sprintf "MSE with Gaussian targets, sigma %g (bump %d)" sg (2 * int (ceil (3.0 * sg)) + 1)
                Thesis = sprintf "PCKh %s (MPII head)" thesisMse.[sg]
                Measured = sprintf "PCKh %s" (UnilossExp.fmt 2 (pcts res (sprintf "mse-sigma%g" sg)))
                Config = cfg
                Data = dataText z } ]
        @ [ { System = "uniloss"
              Experiment = "pose-table3.1"
              Claim = "UniLoss(PCKh) within 1 point of the best-sigma MSE"
              Thesis = "UniLoss 95.77 vs best MSE 95.74 (sigma 3)"
              Measured =
                sprintf
                    "UniLoss %s vs best MSE %.2f (sigma %g): %s by %.2f points (%s); MSE sigma range %.2f–%.2f"
                    (UnilossExp.fmt 2 uni)
                    bestMse
                    bestSigma
                    (if abs gap <= 1.0 then "within 1 point"
                     elif gap > 0.0 then "ABOVE"
                     else "BELOW, not within 1 point")
                    (abs gap)
                    (if gap >= -1.0 then "claim holds" else "claim NOT reproduced")
                    worstMse
                    bestMse
              Config =
                sprintf
                    "%s; UniLoss lr %g, %d anchors/type, good = b* with %d bits flipped, nearby = one pixel's bits flipped, bit fraction %g, tau %g (step time and memory: bench.txt in the seed set's folder)"
                    cfg
                    uniLr
                    anchors
                    z.GoodFlips
                    z.BitFraction
                    (defaultArg s.Tau 1.0)
              Data = dataText z } ]

    /// Table 3.4 (pose row): anchors per type 5/10/16 for UniLoss(PCKh).
    let anchors (s: ExpSettings) : ReportRow list =
        let z = sizes s
        let set = data s z
        let lr = defaultArg s.UniLr 2.5e-4
        let res = runArms s z set (anchorArms s z)
        writeSummary s "table3_4_anchors.csv" res

        [ for (k, thesis) in thesisAnchors ->
              { System = "uniloss"
                Experiment = "pose-anchors"
                Claim = sprintf "UniLoss(PCKh) with %d anchors per type (%d total)" k (3 * k)
                Thesis = sprintf "PCKh %s" thesis
                Measured = sprintf "PCKh %s" (UnilossExp.fmt 2 (pcts res (sprintf "uniloss-anchors%d" k)))
                Config = sprintf "%s; bit fraction %g, tau %g" (describeCfg z s lr) z.BitFraction (defaultArg s.Tau 1.0)
                Data = dataText z } ]

    /// `uniloss pose --which bench`: interleaved MSE(σ=1) and UniLoss(PCKh) training steps of the
    /// same hourglass on the same fixed batches (after one warm-up pass that traces every label
    /// batch), median ms per step of each, their ratio, bits per batch and the IDW memory figures.
    let bench (s: ExpSettings) (steps: int) : string =
        let z = { sizes s with Train = 16 * 4 }
        let set = PoseData.create dataSeed z.Side z.Train 0 16
        let cfg = config s z 2.5e-4
        torch.manual_seed (int64 s.Seed) |> ignore
        use model = PoseTrain.makeModel cfg
        model.``to`` (s.Device) |> ignore
        use opt = new SafeRMSProp(model.parameters (), lr = cfg.Lr)
        let out = model.OutputSide set.Side
        let bs = PoseTrain.batches set cfg
        use data = new PoseBatches(set, bs, out, Some 1.0, s.Device)

        use uni =
            new UniLoss(
                PoseMetric.pckh,
                anchorsPerType = 16,
                tau = 1.0,
                bitFraction = z.BitFraction,
                seed = s.Seed,
                goodFlips = z.GoodFlips,
                nearbyUnit = FlipUnit.Score,
                autoScale = 0.0
            )

        let step (useUni: bool) (bi: int) =
            use scope = torch.NewDisposeScope()
            model.train ()
            opt.zero_grad ()
            let h = model.forward(data.Images.[bi]).squeeze(1L)
            let l = if useUni then uni.forward (h, data.Labels.[bi]) else torch.nn.functional.mse_loss (h, data.Targets.[bi])
            l.backward ()
            opt.step () |> ignore

        let warm = Stopwatch.StartNew()

        for bi in 0 .. bs.Length - 1 do
            step true bi

        let traceMs = warm.Elapsed.TotalMilliseconds / float bs.Length
        let mseT, uniT = ResizeArray<float>(), ResizeArray<float>()
        let bitsL = ResizeArray<float>()

        for k in 0 .. max 1 steps - 1 do
            let bi = k % bs.Length
            let sw = Stopwatch.StartNew()
            step false bi
            mseT.Add sw.Elapsed.TotalMilliseconds
            sw.Restart()
            step true bi
            uniT.Add sw.Elapsed.TotalMilliseconds
            bitsL.Add(float uni.LastBits)

        let median (xs: ResizeArray<float>) = let a = xs.ToArray() |> Array.sort in a.[a.Length / 2]
        let l = Seq.average bitsL
        let t = 48.0
        let mb x = x / 1048576.0

        sprintf
            "pose bench (%d interleaved steps, batch %d, hourglass %d ch, torch threads %d): MSE %.1f ms/step, UniLoss %.1f ms/step (median), ratio %.2f; first UniLoss step of a new label batch (trace + compile) %.0f ms; l = %.0f bits/batch, 48 anchors: anchor tensor %.1f MB, plain IDW temporaries would be %.1f MB, efficient form none; peak working set %.0f MB"
            steps
            z.Batch
            z.Channels
            (torch.get_num_threads ())
            (median mseT)
            (median uniT)
            (median uniT / median mseT)
            traceMs
            l
            (mb ((t + 1.0) * l * 4.0))
            (mb (2.0 * t * l * 4.0))
            (mb (float (Process.GetCurrentProcess().PeakWorkingSet64)))
