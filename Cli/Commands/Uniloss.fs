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

/// The options of the UniLoss experiments (ap, accuracy, ablation, pose); each says which commands it applies to.
[<CliPrefix(CliPrefix.DoubleDash)>]
type ExpArgs =
    | Quick
    | Seed of int
    | Seeds of int
    | Epochs of int
    | Train_Size of int
    | Tau of float
    | Tau_End of float
    | Anchors of int
    | Power of float
    | Uni_Lr of float
    | Ce_Lr of float
    | Uni_Warmup of int
    | Nearby_Unit of NearbyUnitArg
    | Nearby of NearbyRule
    | Bound_Scores of Toggle
    | Grad_Norm of float
    | Validation
    | Data of ApData
    | Class of int
    | Which of string
    interface IArgParserTemplate with
        member a.Usage =
            match a with
            | Quick -> "small configuration that finishes in minutes on 2 CPU cores."
            | Seed _ -> "seed of the split, initialisation and batches (default 1)."
            | Seeds _ -> "repeat with seeds seed..seed+N-1 (each a job of the launcher) and report mean ± sd (default 1)."
            | Epochs _ -> "override the configuration's epochs."
            | Train_Size _ -> "override the number of training images."
            | Tau _ -> "UniLoss sigmoid temperature (default 1)."
            | Tau_End _ -> "tau schedule: tau moves geometrically from --tau (first step) to this value (last step); default fixed tau."
            | Anchors _ -> "UniLoss anchors per type: good, bad, nearby (default 16)."
            | Power _ -> "UniLoss IDW distance power, weights 1/d^power (default 1)."
            | Uni_Lr _ -> "learning rate of the UniLoss arm (default: CE's for ap and ablations, 10x CE's for accuracy; pose: 2.5e-4)."
            | Ce_Lr _ -> "learning rate of the CE arm (default 0.01 for ap, 0.1 for accuracy); the UniLoss arm's default follows it. ap, accuracy."
            | Uni_Warmup _ -> "linear lr warm-up of the UniLoss arm over this many SGD steps (default 0: none). accuracy."
            | Nearby_Unit _ -> "what a nearby anchor flips: one comparison bit, or all bits of one example (thesis §3.3). ap, accuracy."
            | Nearby _ -> "which bits a nearby anchor flips: any (thesis text) or wrong (only bits that differ from the best configuration, as the authors' code). ap, accuracy."
            | Bound_Scores _ -> "compute comparisons on sigmoid-squashed scores, σ(s_a) − σ(s_b) (the authors' code ends its networks with a sigmoid). ap, accuracy."
            | Grad_Norm _ -> "rescale the UniLoss gradient on the scores to this Euclidean norm per batch (default 0: off). ap, accuracy."
            | Validation -> "score on a validation set carved from the Fashion-MNIST training images instead of the test set, for choosing settings. ap, accuracy."
            | Data _ -> "mnist (0 vs rest on the 10k digits, default) or fashion (class vs rest on Fashion-MNIST). ap."
            | Class _ -> "positive class for --data fashion (default 0). ap."
            | Which _ -> "ablation: anchors (Table 3.4, AP row), anchors-acc (Table 3.4, accuracy row), batch (Table 3.3) or all (default); pose: table (Table 3.1), anchors (Table 3.4 pose row), all (default) or bench (step times, no training run)."

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

and [<RequireSubcommand>] UnilossArgs =
    | [<CliPrefix(CliPrefix.None)>] Eval_Metric of ParseResults<EvalMetricArgs>
    | [<CliPrefix(CliPrefix.None)>] Ap of ParseResults<ExpArgs>
    | [<CliPrefix(CliPrefix.None)>] Accuracy of ParseResults<ExpArgs>
    | [<CliPrefix(CliPrefix.None)>] Ablation of ParseResults<ExpArgs>
    | [<CliPrefix(CliPrefix.None)>] Pose of ParseResults<ExpArgs>
    interface IArgParserTemplate with
        member a.Usage =
            match a with
            | Eval_Metric _ -> "print a metric's exact value and its refactored g(h(f(s))) value on a CSV batch."
            | Ap _ -> "AP for unbalanced binary classification: UniLoss(AP) vs 2-class CE (thesis 3.4.2)."
            | Accuracy _ -> "accuracy of ResNet-20 on Fashion-MNIST: UniLoss(accuracy) vs CE (thesis 3.4.4)."
            | Ablation _ -> "anchor-count and batch-size ablations (thesis Tables 3.3, 3.4)."
            | Pose _ -> "PCKh of a single-stack hourglass on procedural stick figures (stand-in for MPII head joints): MSE sigma sweep vs UniLoss, anchors ablation (thesis Tables 3.1, 3.4)."

/// The commands each experiment option applies to (the others reject it).
let private appliesTo (a: ExpArgs) =
    match a with
    | Ce_Lr _ | Nearby_Unit _ | Nearby _ | Bound_Scores _ | Grad_Norm _ | Validation -> [ "ap"; "accuracy" ]
    | Uni_Warmup _ -> [ "accuracy" ]
    | Data _ | Class _ -> [ "ap" ]
    | Which _ -> [ "ablation"; "pose" ]
    | Power _ | Tau_End _ -> [ "ap"; "accuracy"; "ablation" ]
    | _ -> [ "ap"; "accuracy"; "ablation"; "pose" ]

let private optionName (a: ExpArgs) =
    let case, _ = Microsoft.FSharp.Reflection.FSharpValue.GetUnionFields(a, typeof<ExpArgs>)
    "--" + case.Name.ToLowerInvariant().Replace('_', '-')

/// Experiment settings from the options of `command` (every value checked before any training starts).
let settingsOf (g: Globals) (command: string) (r: ParseResults<ExpArgs>) : ExpSettings =
    for a in r.GetAllResults() do
        if not (List.contains command (appliesTo a)) then
            Errors.fail "%s does not apply to uniloss %s (only to %s)" (optionName a) command (String.Join(", ", appliesTo a))
    let seed, count = r.GetResult(Seed, defaultValue = 1), r.GetResult(Seeds, defaultValue = 1)
    Values.seeds seed count |> ignore
    { Quick = r.Contains Quick
      Device = g.Start()
      Options = g.RunOptions
      Seed = seed
      Runs = count
      Epochs = r.TryGetResult Epochs |> Option.map (Values.positive "epochs")
      TrainSize = r.TryGetResult Train_Size |> Option.map (Values.positive "train-size")
      Tau = r.TryGetResult Tau |> Option.map (Values.positiveReal "tau")
      Anchors =
        r.TryGetResult Anchors |> Option.map (fun a ->
            let a = Values.positive "anchors" a
            if 3L * int64 a + 1L > Limits.MaxTableEntries then
                Errors.fail "--anchors %d: UniLoss's value table holds 3 x %d + 1 entries per comparison, more than its limit of %d entries in all (Limits.MaxTableEntries)" a a Limits.MaxTableEntries
            a)
      UniLr = r.TryGetResult Uni_Lr |> Option.map (Values.positiveReal "uni-lr")
      Power = r.TryGetResult Power |> Option.map (Values.positiveReal "power")
      TauEnd = r.TryGetResult Tau_End |> Option.map (Values.positiveReal "tau-end")
      Validation = r.Contains Validation
      UniWarmup = r.TryGetResult Uni_Warmup |> Option.map (Values.nonNegative "uni-warmup")
      NearbyUnit = r.TryGetResult Nearby_Unit |> Option.map (function Bit -> FlipUnit.Bit | Example -> FlipUnit.Example)
      NearbyCorrective = r.TryGetResult Nearby |> Option.map (function Any -> false | Wrong -> true)
      BoundScores = r.TryGetResult Bound_Scores |> Option.map (function On -> true | Off -> false)
      GradNorm = r.TryGetResult Grad_Norm |> Option.map (Values.nonNegativeReal "grad-norm")
      CeLr = r.TryGetResult Ce_Lr |> Option.map (Values.positiveReal "ce-lr") }

let printRows (rows: ExpSummaryRow list) =
    printfn ""
    printfn "| Experiment | Claim | Thesis | Measured | Data |"
    printfn "|---|---|---|---|---|"
    for r in rows do printfn "| %s | %s | %s | %s | %s |" r.Experiment r.Claim r.Thesis r.Measured r.Data
    for c in rows |> List.map (fun r -> r.Config) |> List.distinct do printfn "config: %s" c

/// What a parsed `uniloss` command asks for (separated from running it, for tests).
type UnilossPlan =
    | PlanAp of ExpSettings * data: string * cls: int
    | PlanAccuracy of ExpSettings
    | PlanAblation of ExpSettings * which: string
    | PlanPose of ExpSettings * which: string

let private which (command: string) (allowed: string list) (r: ParseResults<ExpArgs>) =
    let w = r.GetResult(Which, defaultValue = "all")
    if not (List.contains w allowed) then Errors.fail "--which for uniloss %s must be %s, got '%s'" command (String.Join(", ", allowed)) w
    w

let plan (g: Globals) (args: ParseResults<UnilossArgs>) : UnilossPlan =
    match args.GetSubCommand() with
    | Eval_Metric _ -> Errors.fail "eval-metric is not an experiment"
    | Ap a ->
        let data = match a.GetResult(Data, defaultValue = Mnist) with Mnist -> "mnist" | Fashion -> "fashion"
        let cls = a.GetResult(Class, defaultValue = 0)
        if cls < 0 || cls > 9 then Errors.fail "--class must be 0..9, got %d" cls
        if a.Contains Class && data = "mnist" then Errors.fail "--class applies to --data fashion (mnist is 0 vs rest)"
        PlanAp(settingsOf g "ap" a, data, cls)
    | Accuracy a -> PlanAccuracy(settingsOf g "accuracy" a)
    | Ablation a -> PlanAblation(settingsOf g "ablation" a, which "ablation" [ "anchors"; "anchors-acc"; "batch"; "all" ] a)
    | Pose a -> PlanPose(settingsOf g "pose" a, which "pose" [ "table"; "anchors"; "all"; "bench" ] a)

let runExperiment (g: Globals) (line: Jobs.Line<UnilossArgs>) (args: ParseResults<UnilossArgs>) : int =
    let p = plan g args
    let s = match p with PlanAp(s, _, _) | PlanAccuracy s | PlanAblation(s, _) | PlanPose(s, _) -> s
    let name, case, exp =
        match args.GetSubCommand() with
        | Ap a -> "ap", Ap, a
        | Accuracy a -> "accuracy", Accuracy, a
        | Ablation a -> "ablation", Ablation, a
        | Pose a -> "pose", Pose, a
        | Eval_Metric _ -> Errors.fail "eval-metric is not an experiment"
    // seeds as jobs first (none for the pose bench), then the rows from the finished runs
    let g' =
        match p with
        | PlanPose(_, "bench") -> g
        | _ -> Jobs.seeds g ("uniloss-" + name) (Values.seeds s.Seed s.Runs) (fun k -> line (Jobs.only args (case (Jobs.narrow exp [ Seed k; Seeds 1 ]))))
    let s = { s with Options = g'.RunOptions }
    let rows =
        match p with
        | PlanAp(_, data, cls) -> UnilossExp.ap s data cls
        | PlanAccuracy _ -> UnilossExp.accuracy s
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
        EvalMetric.run (a.GetResult EvalMetricArgs.Metric) (a.GetResult EvalMetricArgs.Scores) (a.GetResult EvalMetricArgs.Labels)
            (a.TryGetResult EvalMetricArgs.Heatmap) (a.Contains EvalMetricArgs.Header)
        0
    | Ap _ | Accuracy _ | Ablation _ | Pose _ -> runExperiment g line args
