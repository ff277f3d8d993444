/// `autodesign uniloss ...`: the UniLoss experiments and tools.
module AutoDesign.Cli.Commands.Uniloss

open System
open Argu
open AutoDesign.Runs
open AutoDesign.UniLoss
open AutoDesign.Reproduce.UniLoss
open AutoDesign.Cli
open AutoDesign.Cli.Globals

/// `--data` of `uniloss ap`.
type ApData =
    | Mnist
    | Fashion

/// `--nearby-unit`.
type NearbyUnitArg =
    | Bit
    | Example

/// `--nearby`.
type NearbyRule =
    | Any
    | Wrong

/// `--which` of `uniloss ablation`.
type AblationWhich =
    | Anchors
    | Anchors_Acc
    | Batch
    | All
    /// The validation sweep of the automatic score-gradient scale over the three tasks below.
    | Scale
    | Scale_Ap_Mnist
    | Scale_Ap_Fashion
    | Scale_Accuracy_Resnet20
    | Scale_Suite

/// `--which` of `uniloss pose`.
type PoseWhich =
    | Table
    | Anchors
    | All
    | Bench

/// The help of the options that several experiments take (each union below names its own).
module private Help =
    let tauEnd = "tau schedule: tau moves geometrically from --tau (first step) to this value (last step); default fixed tau."
    let power = "UniLoss IDW distance power, weights 1/d^power (default 1)."
    let ceLr = "learning rate of the CE arm (default 0.01 for ap, 0.1 for accuracy); the UniLoss arm's default follows it."
    let nearbyUnit = "what a nearby anchor flips: one comparison bit, or all bits of one example (thesis §3.3)."

    let nearby =
        "which bits a nearby anchor flips: any (thesis text) or wrong (only bits that differ from the best configuration, as the authors' code)."

    let boundScores =
        "compute comparisons on sigmoid-squashed scores, σ(s_a) − σ(s_b) (the authors' code ends its networks with a sigmoid)."

    let gradNorm =
        "rescale the UniLoss gradient on the scores to this Euclidean norm per batch (default 0: off; overrides --auto-scale)."

    let autoScale =
        "automatic score-gradient scale a: norm a/sqrt(batch) per batch (the library's default is 1; 0: the raw gradient; default: the experiment's arm's)."

    let validation =
        "score on a validation set carved from the Fashion-MNIST training images instead of the test set, for choosing settings."

/// `uniloss ap`.
[<CliPrefix(CliPrefix.DoubleDash)>]
type ApArgs =
    | Data of ApData
    | Class of int
    | Tau_End of float
    | Power of float
    | Ce_Lr of float
    | Nearby_Unit of NearbyUnitArg
    | Nearby of NearbyRule
    | Bound_Scores of Toggle
    | Grad_Norm of float
    | Auto_Scale of float
    | Validation

    interface IArgParserTemplate with
        member a.Usage =
            match a with
            | Data _ -> "mnist (0 vs rest on the 10k digits, default) or fashion (class vs rest on Fashion-MNIST)."
            | Class _ -> "positive class for --data fashion (default 0)."
            | Tau_End _ -> Help.tauEnd
            | Power _ -> Help.power
            | Ce_Lr _ -> Help.ceLr
            | Nearby_Unit _ -> Help.nearbyUnit
            | Nearby _ -> Help.nearby
            | Bound_Scores _ -> Help.boundScores
            | Grad_Norm _ -> Help.gradNorm
            | Auto_Scale _ -> Help.autoScale
            | Validation -> Help.validation

/// `uniloss accuracy`.
[<CliPrefix(CliPrefix.DoubleDash)>]
type AccuracyArgs =
    | Tau_End of float
    | Power of float
    | Ce_Lr of float
    | Uni_Warmup of int
    | Nearby_Unit of NearbyUnitArg
    | Nearby of NearbyRule
    | Bound_Scores of Toggle
    | Grad_Norm of float
    | Auto_Scale of float
    | Validation

    interface IArgParserTemplate with
        member a.Usage =
            match a with
            | Tau_End _ -> Help.tauEnd
            | Power _ -> Help.power
            | Ce_Lr _ -> Help.ceLr
            | Uni_Warmup _ -> "linear lr warm-up of the UniLoss arm over this many SGD steps (default 0: none)."
            | Nearby_Unit _ -> Help.nearbyUnit
            | Nearby _ -> Help.nearby
            | Bound_Scores _ -> Help.boundScores
            | Grad_Norm _ -> Help.gradNorm
            | Auto_Scale _ -> Help.autoScale
            | Validation -> Help.validation

/// `uniloss ablation`.
[<CliPrefix(CliPrefix.DoubleDash)>]
type AblationArgs =
    | Which of AblationWhich
    | Tau_End of float
    | Power of float

    interface IArgParserTemplate with
        member a.Usage =
            match a with
            | Which _ ->
                "anchors (Table 3.4, AP row), anchors-acc (Table 3.4, accuracy row), batch (Table 3.3) or all (default); scale (the validation sweep of the automatic score-gradient scale; scale-ap-mnist, scale-ap-fashion, scale-accuracy-resnet20: one task; scale-suite: the rules on the metric suite's validation splits)."
            | Tau_End _ -> Help.tauEnd
            | Power _ -> Help.power

/// `uniloss pose`.
[<CliPrefix(CliPrefix.DoubleDash)>]
type PoseArgs =
    | Which of PoseWhich

    interface IArgParserTemplate with
        member a.Usage =
            match a with
            | Which _ -> "table (Table 3.1), anchors (Table 3.4 pose row), all (default) or bench (step times, no training run)."

type EvalMetricArgs =
    | [<Mandatory>] Metric of name: string
    | [<Mandatory>] Scores of path: string
    | [<Mandatory>] Labels of path: string
    | Heatmap of shape: string
    | Header

    interface IArgParserTemplate with
        member a.Usage =
            match a with
            | Metric _ -> "accuracy, top-K, precision, recall, f1, ap or pckh-R (e.g. top-5, pckh-2)."
            | Scores _ -> "CSV of scores, one row per example, one number per cell (',' between cells, '.' as the decimal point)."
            | Labels _ -> "CSV of integer labels, one row per example (pckh: row,col of the joint)."
            | Heatmap _ -> "HxW: read each score row as an H×W heatmap (for pckh)."
            | Header -> "the first line of both files is a header (default: a first line of column names, without numbers, is one)."

/// `uniloss`: the options every experiment takes are given here or after the experiment's name (eval-metric
/// refuses them).
and [<RequireSubcommand; CliPrefix(CliPrefix.DoubleDash)>] UnilossArgs =
    | [<Inherit>] Quick
    | [<Inherit>] Seed of int
    | [<Inherit>] Seeds of int
    | [<Inherit>] Epochs of int
    | [<Inherit>] Train_Size of int
    | [<Inherit>] Tau of float
    | [<Inherit>] Anchors of int
    | [<Inherit>] Uni_Lr of float
    | [<CliPrefix(CliPrefix.None)>] Eval_Metric of ParseResults<EvalMetricArgs>
    | [<CliPrefix(CliPrefix.None)>] Ap of ParseResults<ApArgs>
    | [<CliPrefix(CliPrefix.None)>] Accuracy of ParseResults<AccuracyArgs>
    | [<CliPrefix(CliPrefix.None)>] Ablation of ParseResults<AblationArgs>
    | [<CliPrefix(CliPrefix.None)>] Pose of ParseResults<PoseArgs>

    interface IArgParserTemplate with
        member a.Usage =
            match a with
            | Quick -> "small configuration that finishes in minutes on 2 CPU cores."
            | Seed _ -> "seed of the split, initialisation and batches (default 1)."
            | Seeds _ -> "repeat with seeds seed..seed+N-1 (each a job of the launcher) and report mean ± sd (default 1)."
            | Epochs _ -> "override the configuration's epochs."
            | Train_Size _ -> "override the number of training images."
            | Tau _ -> "UniLoss sigmoid temperature (default 1)."
            | Anchors _ -> "UniLoss anchors per type: good, bad, nearby (default 16)."
            | Uni_Lr _ -> "learning rate of the UniLoss arm (default: CE's for ap and ablations, 10x CE's for accuracy; pose: 2.5e-4)."
            | Eval_Metric _ -> "print a metric's exact value and its refactored g(h(f(s))) value on a CSV batch."
            | Ap _ -> "AP for unbalanced binary classification: UniLoss(AP) vs 2-class CE (thesis 3.4.2)."
            | Accuracy _ -> "accuracy of ResNet-20 on Fashion-MNIST: UniLoss(accuracy) vs CE (thesis 3.4.4)."
            | Ablation _ -> "anchor-count and batch-size ablations (thesis Tables 3.3, 3.4)."
            | Pose _ ->
                "PCKh of a single-stack hourglass on procedural stick figures (stand-in for MPII head joints): MSE sigma sweep vs UniLoss, anchors ablation (thesis Tables 3.1, 3.4)."

/// The options of an experiment that not every experiment takes (None/false: the experiment has no such option,
/// or it was not given).
type private Tuning =
    { TauEnd: float option
      Power: float option
      CeLr: float option
      UniWarmup: int option
      NearbyUnit: NearbyUnitArg option
      Nearby: NearbyRule option
      BoundScores: Toggle option
      GradNorm: float option
      AutoScale: float option
      Validation: bool }

let private noTuning =
    { TauEnd = None
      Power = None
      CeLr = None
      UniWarmup = None
      NearbyUnit = None
      Nearby = None
      BoundScores = None
      GradNorm = None
      AutoScale = None
      Validation = false }

/// Experiment settings from the options every experiment takes (`u`) and the experiment's own (`t`), every
/// value checked before any training starts.
let private settingsOf (g: Globals) (u: ParseResults<UnilossArgs>) (t: Tuning) : ExpSettings =
    let seed, count = u.GetResult(Seed, defaultValue = 1), u.GetResult(Seeds, defaultValue = 1)
    Values.seeds seed count |> ignore

    { Quick = u.Contains Quick
      Device = g.Start()
      Options = g.RunOptions
      Seed = seed
      Runs = count
      Epochs = u.TryGetResult Epochs |> Option.map (Values.positive "epochs")
      TrainSize = u.TryGetResult Train_Size |> Option.map (Values.positive "train-size")
      Tau = u.TryGetResult Tau |> Option.map (Values.positiveReal "tau")
      Anchors =
        u.TryGetResult Anchors
        |> Option.map (fun a ->
            let a = Values.positive "anchors" a

            if 3L * int64 a + 1L > Limits.MaxTableEntries then
                Errors.fail
                    "--anchors %d: UniLoss's value table holds 3 x %d + 1 entries per comparison, more than its limit of %d entries in all (Limits.MaxTableEntries)"
                    a
                    a
                    Limits.MaxTableEntries

            a)
      UniLr = u.TryGetResult Uni_Lr |> Option.map (Values.positiveReal "uni-lr")
      Power = t.Power |> Option.map (Values.positiveReal "power")
      TauEnd = t.TauEnd |> Option.map (Values.positiveReal "tau-end")
      Validation = t.Validation
      UniWarmup = t.UniWarmup |> Option.map (Values.nonNegative "uni-warmup")
      NearbyUnit =
        t.NearbyUnit
        |> Option.map (function
            | Bit -> FlipUnit.Bit
            | Example -> FlipUnit.Example)
      NearbyCorrective =
        t.Nearby
        |> Option.map (function
            | Any -> false
            | Wrong -> true)
      BoundScores =
        t.BoundScores
        |> Option.map (function
            | On -> true
            | Off -> false)
      GradNorm = t.GradNorm |> Option.map (Values.nonNegativeReal "grad-norm")
      AutoScale = t.AutoScale |> Option.map (Values.nonNegativeReal "auto-scale")
      CeLr = t.CeLr |> Option.map (Values.positiveReal "ce-lr") }

let printRows (rows: AutoDesign.Reproduce.ReportRow list) =
    printfn ""
    printfn "| Experiment | Claim | Thesis | Measured | Data |"
    printfn "|---|---|---|---|---|"

    for r in rows do
        printfn "| %s | %s | %s | %s | %s |" r.Experiment r.Claim r.Thesis r.Measured r.Data

    for c in rows |> List.map (fun r -> r.Config) |> List.distinct do
        printfn "config: %s" c

/// What a parsed `uniloss` command asks for (separated from running it, for tests).
type UnilossPlan =
    | PlanAp of ExpSettings * data: string * cls: int
    | PlanAccuracy of ExpSettings
    | PlanAblation of ExpSettings * which: string
    | PlanPose of ExpSettings * which: string

let plan (g: Globals) (args: ParseResults<UnilossArgs>) : UnilossPlan =
    match args.GetSubCommand() with
    | Ap a ->
        let data =
            match a.GetResult(ApArgs.Data, defaultValue = Mnist) with
            | Mnist -> "mnist"
            | Fashion -> "fashion"

        let cls = a.GetResult(ApArgs.Class, defaultValue = 0)
        if cls < 0 || cls > 9 then Errors.fail "--class must be 0..9, got %d" cls
        if a.Contains ApArgs.Class && data = "mnist" then Errors.fail "--class applies to --data fashion (mnist is 0 vs rest)"

        let t =
            { TauEnd = a.TryGetResult ApArgs.Tau_End
              Power = a.TryGetResult ApArgs.Power
              CeLr = a.TryGetResult ApArgs.Ce_Lr
              UniWarmup = None
              NearbyUnit = a.TryGetResult ApArgs.Nearby_Unit
              Nearby = a.TryGetResult ApArgs.Nearby
              BoundScores = a.TryGetResult ApArgs.Bound_Scores
              GradNorm = a.TryGetResult ApArgs.Grad_Norm
              AutoScale = a.TryGetResult ApArgs.Auto_Scale
              Validation = a.Contains ApArgs.Validation }

        PlanAp(settingsOf g args t, data, cls)
    | Accuracy a ->
        let t =
            { TauEnd = a.TryGetResult AccuracyArgs.Tau_End
              Power = a.TryGetResult AccuracyArgs.Power
              CeLr = a.TryGetResult AccuracyArgs.Ce_Lr
              UniWarmup = a.TryGetResult AccuracyArgs.Uni_Warmup
              NearbyUnit = a.TryGetResult AccuracyArgs.Nearby_Unit
              Nearby = a.TryGetResult AccuracyArgs.Nearby
              BoundScores = a.TryGetResult AccuracyArgs.Bound_Scores
              GradNorm = a.TryGetResult AccuracyArgs.Grad_Norm
              AutoScale = a.TryGetResult AccuracyArgs.Auto_Scale
              Validation = a.Contains AccuracyArgs.Validation }

        PlanAccuracy(settingsOf g args t)
    | Ablation a ->
        let which =
            match a.GetResult(AblationArgs.Which, defaultValue = AblationWhich.All) with
            | AblationWhich.Anchors -> "anchors"
            | Anchors_Acc -> "anchors-acc"
            | Batch -> "batch"
            | AblationWhich.All -> "all"
            | Scale -> "scale"
            | Scale_Ap_Mnist -> "scale-ap-mnist"
            | Scale_Ap_Fashion -> "scale-ap-fashion"
            | Scale_Accuracy_Resnet20 -> "scale-accuracy-resnet20"
            | Scale_Suite -> "scale-suite"

        let t = { noTuning with TauEnd = a.TryGetResult AblationArgs.Tau_End; Power = a.TryGetResult AblationArgs.Power }
        PlanAblation(settingsOf g args t, which)
    | Pose a ->
        let which =
            match a.GetResult(PoseArgs.Which, defaultValue = PoseWhich.All) with
            | Table -> "table"
            | PoseWhich.Anchors -> "anchors"
            | PoseWhich.All -> "all"
            | Bench -> "bench"

        PlanPose(settingsOf g args noTuning, which)
    | Eval_Metric _
    | Quick
    | Seed _
    | Seeds _
    | Epochs _
    | Train_Size _
    | Tau _
    | Anchors _
    | Uni_Lr _ -> Errors.fail "eval-metric is not an experiment"

let runExperiment (g: Globals) (line: Jobs.Line<UnilossArgs>) (args: ParseResults<UnilossArgs>) : int =
    let p = plan g args

    let s =
        match p with
        | PlanAp(s, _, _)
        | PlanAccuracy s
        | PlanAblation(s, _)
        | PlanPose(s, _) -> s

    let name =
        match p with
        | PlanAp _ -> "ap"
        | PlanAccuracy _ -> "accuracy"
        | PlanAblation _ -> "ablation"
        | PlanPose _ -> "pose"
    // seeds as jobs first (none for the pose bench), then the rows from the finished runs
    let g' =
        match p with
        | PlanPose(_, "bench")
        | PlanAblation(_, "scale-suite") -> g
        | _ -> Jobs.seeds g ("uniloss-" + name) (Values.seeds s.Seed s.Runs) (fun k -> line (Jobs.narrow args [ Seed k; Seeds 1 ]))

    let s = { s with Options = g'.RunOptions }

    let rows =
        match p with
        | PlanAp(_, data, cls) -> UnilossAp.ap s data cls
        | PlanAccuracy _ -> UnilossAccuracy.accuracy s
        | PlanAblation(_, "scale-suite") ->
            AutoDesign.Reproduce.UniLoss.Suite.SuiteSweep.run s.Options s.Device (Values.seeds s.Seed s.Runs)
            []
        | PlanAblation(_, which) when which.StartsWith "scale" ->
            UnilossScaleSweep.run s (if which = "scale" then [ "ap-mnist"; "ap-fashion"; "accuracy-resnet20" ] else [ which.Substring 6 ])
            []
        | PlanAblation(_, which) ->
            (if which = "anchors" || which = "all" then UnilossAblation.anchors s else [])
            @ (if which = "anchors-acc" || which = "all" then UnilossAblation.anchorsAccuracy s else [])
            @ (if which = "batch" || which = "all" then UnilossAblation.batchSize s else [])
        | PlanPose(_, "bench") ->
            printfn "%s" (AutoDesign.Reproduce.UniLoss.Pose.PoseExp.bench s 20)
            []
        | PlanPose(_, which) ->
            (if which <> "anchors" then AutoDesign.Reproduce.UniLoss.Pose.PoseExp.table s else [])
            @ (if which <> "table" then AutoDesign.Reproduce.UniLoss.Pose.PoseExp.anchors s else [])

    if not rows.IsEmpty then printRows rows
    0

let run (g: Globals) (line: Jobs.Line<UnilossArgs>) (args: ParseResults<UnilossArgs>) : int =
    match args.GetSubCommand() with
    | Eval_Metric a ->
        g.NoJobs "uniloss eval-metric"

        match
            args.GetAllResults()
            |> List.filter (function
                | Eval_Metric _ -> false
                | _ -> true)
        with
        | [] -> ()
        | given ->
            Errors.fail
                "%s appl%s to the UniLoss experiments, not to eval-metric"
                (String.Join(", ", args.Parser.PrintCommandLineArguments given |> Array.filter (fun w -> w.StartsWith "--")))
                (if given.Length = 1 then "ies" else "y")

        EvalMetric.run
            (a.GetResult EvalMetricArgs.Metric)
            (a.GetResult EvalMetricArgs.Scores)
            (a.GetResult EvalMetricArgs.Labels)
            (a.TryGetResult EvalMetricArgs.Heatmap)
            (a.Contains EvalMetricArgs.Header)

        0
    | _ -> runExperiment g line args
