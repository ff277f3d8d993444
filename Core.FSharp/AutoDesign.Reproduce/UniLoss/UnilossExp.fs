namespace AutoDesign.Reproduce.UniLoss

open System
open System.IO
open TorchSharp
open AutoDesign.Runs
open AutoDesign.Reproduce
open AutoDesign.UniLoss
open AutoDesign.Metrics

/// Settings shared by the UniLoss experiments (CLI and reproduce).
type ExpSettings =
    {
        Quick: bool
        Device: torch.Device
        /// Where run folders go (RunsRoot), and how existing ones are treated (--force, --wait).
        Options: RunOptions
        Seed: int
        Runs: int
        /// Overrides of the quick/full defaults.
        Epochs: int option
        TrainSize: int option
        Tau: float option
        Anchors: int option
        UniLr: float option
        /// IDW distance power of the UniLoss arm.
        Power: float option
        /// Learning rate of the CE arm (overrides the experiment's default; UniLoss's default follows it).
        CeLr: float option
        /// τ schedule end value (τ moves geometrically from Tau to it over the run).
        TauEnd: float option
        /// Unit flipped to make nearby anchors (None: the experiment's default).
        NearbyUnit: FlipUnit option
        /// Nearby anchors correct a wrong bit (None: the experiment's default).
        NearbyCorrective: bool option
        /// Comparisons on sigmoid-squashed scores (None: the experiment's default).
        BoundScores: bool option
        /// Score-gradient norm per batch of the UniLoss arm (None: the experiment's default).
        GradNorm: float option
        /// Automatic score-gradient scale of the UniLoss arm (None: the experiment's default).
        AutoScale: float option
        /// Score on a validation set carved from the training images instead of the test set
        /// (for choosing settings; AP Fashion and accuracy experiments).
        Validation: bool
        /// Linear lr warm-up steps of the UniLoss arm (accuracy experiment; None: none).
        UniWarmup: int option
    }

    /// The folder, under an experiment's folder `expDir`, of what one command writes over its seeds
    /// (summary, curves, charts): named by the seed set, so commands with other seeds never overwrite it.
    member s.SeedSetDir(expDir: string) = Path.Combine(expDir, sprintf "seeds%d-%d" s.Seed (s.Seed + s.Runs - 1))

    /// A run folder as the summaries name it: relative to the runs root.
    member s.RelativeToRoot(dir: string) = Path.GetRelativePath(Path.GetFullPath s.Options.Root, Path.GetFullPath dir)

/// The runs of one experiment: where they go (relative to the runs root), the task of a seed, the arms
/// (label, loss, config) and the seeds. Each (seed, arm) is one run folder, expDir/seed<k>/<label>.
type ExpPlan = { ExpDir: string; MakeTask: int -> ExpTask; Arms: (string * ExpLoss * ExpTrainConfig) list; Seeds: int list }

/// The UniLoss experiments of thesis §3.4: each trains CE and UniLoss on the same split, seed and
/// budget, writes run folders and, per seed set, a summary.csv, and returns result rows.
module UnilossExp =
    let defaultSettings device =
        { Quick = true
          Device = device
          Options = RunOptions.Default
          Seed = 1
          Runs = 1
          Epochs = None
          TrainSize = None
          Tau = None
          Anchors = None
          UniLr = None
          Power = None
          CeLr = None
          TauEnd = None
          NearbyUnit = None
          NearbyCorrective = None
          BoundScores = None
          GradNorm = None
          AutoScale = None
          Validation = false
          UniWarmup = None }

    /// UniLoss options: the experiment's defaults `d`, overridden by the settings.
    let uniOptsFrom (d: ExpUniLossOptions) (s: ExpSettings) =
        { d with
            Tau = defaultArg s.Tau d.Tau
            Power = defaultArg s.Power d.Power
            AnchorsPerType = defaultArg s.Anchors d.AnchorsPerType
            TauEnd =
                (match s.TauEnd with
                 | Some t -> Some t
                 | None -> d.TauEnd)
            NearbyUnit = defaultArg s.NearbyUnit d.NearbyUnit
            NearbyCorrective = defaultArg s.NearbyCorrective d.NearbyCorrective
            BoundScores = defaultArg s.BoundScores d.BoundScores
            GradNorm = defaultArg s.GradNorm d.GradNorm
            AutoScale = defaultArg s.AutoScale d.AutoScale }

    /// The thesis's UniLoss settings (ExpUniLossOptions.Defaults) overridden by the settings.
    let uniOptsFor (s: ExpSettings) = uniOptsFrom ExpUniLossOptions.Defaults s

    let mode (s: ExpSettings) = if s.Quick then "quick" else "full"

    /// Folder suffix and text for where the held-out metric comes from.
    let heldOutDir (s: ExpSettings) = if s.Validation then "-val" else ""
    let heldOutText (s: ExpSettings) = if s.Validation then "validation (carved from the training images)" else "test"

    /// The seeds of the settings as text: "1" or "1..3".
    let seedsText (s: ExpSettings) = if s.Runs = 1 then string s.Seed else sprintf "%d..%d" s.Seed (s.Seed + s.Runs - 1)

    /// τ as text: "1" or the schedule "1 -> 3 (geometric)".
    let tauText (o: ExpUniLossOptions) =
        match o.TauEnd with
        | None -> sprintf "%g" o.Tau
        | Some e -> sprintf "%g -> %g (geometric over the run)" o.Tau e

    /// The anchor and gradient options as text: "nearby flips: Bit (wrong bits only), score gradient
    /// normalised to 0.1 per batch" (options that are off are left out).
    let anchorText (o: ExpUniLossOptions) =
        sprintf
            "nearby flips: %s%s%s%s"
            (string o.NearbyUnit)
            (if o.NearbyCorrective then " (wrong bits only)" else "")
            (if o.BoundScores then ", comparisons on sigmoid(scores)" else "")
            (if o.GradNorm > 0.0 then sprintf ", score gradient normalised to %g per batch" o.GradNorm
             elif o.AutoScale > 0.0 then sprintf ", score gradient scaled to %g/sqrt(batch) per batch (automatic scale)" o.AutoScale
             else "")

    /// x with `digits` decimals and its sign ("+0.12", "-1.50"), culture-invariant.
    let signed (digits: int) (x: float) = (if x >= 0.0 then "+" else "") + x.ToString("F" + string digits, Globalization.CultureInfo.InvariantCulture)

    /// Paired per-seed differences uni − ce: (mean, sample sd) (sd 0 for one seed).
    let pairedGap (ce: float list) (uni: float list) =
        if ce.Length <> uni.Length || ce.IsEmpty then
            Errors.fail "pairedGap: need the same non-zero number of CE and UniLoss runs, got %d and %d" ce.Length uni.Length

        let d = Stats.paired ce uni
        d.Mean, d.Sd

    /// "UniLoss - CE = -1.23" or, over several seeds, "-1.23 ± 0.45 (per seed -1.0, -1.5)".
    let gapText (digits: int) (ce: float list) (uni: float list) =
        let m, sd = pairedGap ce uni
        let f = signed digits

        if ce.Length < 2 then
            sprintf "UniLoss - CE = %s" (f m)
        else
            sprintf
                "UniLoss - CE = %s ± %s over %d seeds; per seed %s"
                (f m)
                (sd.ToString("F" + string digits, Globalization.CultureInfo.InvariantCulture))
                ce.Length
                (String.Join(", ", List.map2 (fun u c -> f (u - c)) uni ce))

    /// "UniLoss − CE = −0.87 [−3.1, +1.4] (95% CI of the paired per-seed gap, 3 seeds): no difference detected"
    /// — the verdict follows from the interval only: it lies below 0 (UniLoss worse), above 0 (better), or
    /// contains 0 (no difference detected at this number of seeds).
    let verdictText (digits: int) (ce: float list) (uni: float list) =
        let d = Stats.paired ce uni
        let m, lo, hi = d.Mean, d.Lo, d.Hi
        let f = signed digits

        if ce.Length < 2 then
            sprintf "UniLoss − CE = %s (one seed: no interval, no verdict)" (f m)
        else
            let verdict =
                if hi < 0.0 then "UniLoss worse than CE"
                elif lo > 0.0 then "UniLoss better than CE"
                else "no difference detected (the interval contains 0)"

            sprintf "UniLoss − CE = %s [%s, %s] (95%% CI of the paired per-seed gap, %d seeds): %s" (f m) (f lo) (f hi) ce.Length verdict

    let fmt (digits: int) (xs: float list) =
        let m, sd = Stats.mean xs, Stats.sd xs

        if xs.Length < 2 then
            m.ToString("F" + string digits, Globalization.CultureInfo.InvariantCulture)
        else
            sprintf
                "%s ± %s (%d runs)"
                (m.ToString("F" + string digits, Globalization.CultureInfo.InvariantCulture))
                (sd.ToString("F" + string digits, Globalization.CultureInfo.InvariantCulture))
                xs.Length

    /// The result rows of experiment `name` (config and data as given), one per (claim, thesis, measured).
    let rows (name: string) (config: string) (data: string) (claims: (string * string * string) list) : ReportRow list =
        [ for claim, thesis, measured in claims ->
              { System = "uniloss"
                Experiment = name
                Claim = claim
                Thesis = thesis
                Measured = measured
                Config = config
                Data = data } ]

    /// The plan of `arms` on `makeTask` over the settings' seeds (s.Seed .. s.Seed + s.Runs - 1).
    let plan (s: ExpSettings) (expDir: string) (makeTask: int -> ExpTask) arms =
        { ExpDir = expDir; MakeTask = makeTask; Arms = arms; Seeds = [ s.Seed .. s.Seed + s.Runs - 1 ] }

    /// The folder of what a plan writes over its seeds (summary.csv, curves): <root>/<ExpDir>/seeds<first>-<last>.
    let seedSetDir (s: ExpSettings) (p: ExpPlan) = Path.Combine(s.Options.Root, p.ExpDir, sprintf "seeds%d-%d" (List.head p.Seeds) (List.last p.Seeds))

    /// Train one arm of the plan on `task` (the plan's task of `seed`), in its run folder.
    let runArm (s: ExpSettings) (p: ExpPlan) (task: ExpTask) (seed: int) (label: string, loss: ExpLoss, cfg: ExpTrainConfig) =
        ExpRun.run s.Options (Path.Combine(p.ExpDir, sprintf "seed%d" seed, label)) task loss { cfg with Seed = seed } s.Device

    /// The plan's parts, one per (seed, arm): id "seed<k>/<label>" and the run that finishes its folder.
    let parts (s: ExpSettings) (p: ExpPlan) : (string * (unit -> unit)) list =
        [ for seed in p.Seeds do
              for (label, _, _) as arm in p.Arms -> sprintf "seed%d/%s" seed label, (fun () -> runArm s p (p.MakeTask seed) seed arm |> ignore) ]

    /// Train every (seed, arm) of the plan (finding the folders its parts finished), write the seed set's
    /// summary.csv and curves; results per label in seed order.
    let compare (s: ExpSettings) (p: ExpPlan) =
        let results =
            [ for seed in p.Seeds do
                  let task = p.MakeTask seed
                  printfn "%s seed %d: %d train / %d test" task.Name seed task.TrainIdx.Length task.TestIdx.Length

                  for (label, _, _) as arm in p.Arms do
                      yield label, seed, runArm s p task seed arm ]

        let outDir = seedSetDir s p
        Directory.CreateDirectory outDir |> ignore

        Csv.writeTable
            (Path.Combine(outDir, "summary.csv"))
            [ "arm"; "seed"; "final_metric"; "epochs"; "run_dir" ]
            [ for (label, seed, res) in results ->
                  [ Cell.Text label
                    Cell.Number(float seed)
                    Cell.Number res.Final
                    Cell.Number(float res.Rows.Length)
                    Cell.Text(s.RelativeToRoot res.Dir) ] ]

        ExpPlots.curves outDir results

        p.Arms
        |> List.map (fun (label, _, _) ->
            label,
            [ for (l, _, res) in results do
                  if l = label then res.Final ])
