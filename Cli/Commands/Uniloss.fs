/// `autodesign uniloss ...`: the UniLoss experiments and tools.
module AutoDesign.Cli.Commands.Uniloss

open System
open Argu
open AutoDesign.Runs
open AutoDesign.UniLoss
open AutoDesign.Reproduce.UniLoss
open AutoDesign.Cli
open AutoDesign.Cli.Globals
open AutoDesign.Cli.Commands.UnilossGrammar

/// Experiment settings from the options every experiment takes (`u`), `--tau-end` and `--power`, and the
/// options of the arm experiments (`arm`, None for the others), every value checked before any training starts.
let private settingsOf
    (g: Globals)
    (u: ParseResults<UnilossArgs>)
    (tauEnd: float option)
    (power: float option)
    (arm: ParseResults<ArmArgs> option)
    : ExpSettings =
    let armResult (case: Quotations.Expr<'F -> ArmArgs>) : 'F option = arm |> Option.bind (fun a -> a.TryGetResult case)
    let seeds = Values.Read.Seeds(u, Seed, Seeds)

    { Quick = u.Contains Quick
      Device = g.Start()
      Options = g.RunOptions
      Seed = seeds.Head
      Runs = seeds.Length
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
      Power = power |> Option.map (Values.positiveReal "power")
      TauEnd = tauEnd |> Option.map (Values.positiveReal "tau-end")
      Validation = arm |> Option.exists (fun a -> a.Contains Validation)
      UniWarmup = armResult <@ Uni_Warmup @> |> Option.map (Values.nonNegative "uni-warmup")
      NearbyUnit =
        armResult <@ Nearby_Unit @>
        |> Option.map (function
            | Bit -> FlipUnit.Bit
            | Example -> FlipUnit.Example)
      NearbyCorrective =
        armResult <@ Nearby @>
        |> Option.map (function
            | Any -> false
            | Wrong -> true)
      BoundScores =
        armResult <@ Bound_Scores @>
        |> Option.map (function
            | On -> true
            | Off -> false)
      GradNorm = armResult <@ Grad_Norm @> |> Option.map (Values.nonNegativeReal "grad-norm")
      AutoScale = armResult <@ Auto_Scale @> |> Option.map (Values.nonNegativeReal "auto-scale")
      CeLr = armResult <@ Ce_Lr @> |> Option.map (Values.positiveReal "ce-lr") }

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
        if a.Contains Uni_Warmup then Errors.fail "--uni-warmup applies to uniloss accuracy only"

        let data =
            match a.GetResult(ArmArgs.Data, defaultValue = Mnist) with
            | Mnist -> "mnist"
            | Fashion -> "fashion"

        let cls = a.GetResult(Class, defaultValue = 0)
        if cls < 0 || cls > 9 then Errors.fail "--class must be 0..9, got %d" cls
        if a.Contains Class && data = "mnist" then Errors.fail "--class applies to --data fashion (mnist is 0 vs rest)"
        PlanAp(settingsOf g args (a.TryGetResult ArmArgs.Tau_End) (a.TryGetResult ArmArgs.Power) (Some a), data, cls)
    | Accuracy a ->
        if a.Contains ArmArgs.Data then Errors.fail "--data applies to uniloss ap only"
        if a.Contains Class then Errors.fail "--class applies to uniloss ap only"
        PlanAccuracy(settingsOf g args (a.TryGetResult ArmArgs.Tau_End) (a.TryGetResult ArmArgs.Power) (Some a))
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

        PlanAblation(settingsOf g args (a.TryGetResult AblationArgs.Tau_End) (a.TryGetResult AblationArgs.Power) None, which)
    | Pose a ->
        let which =
            match a.GetResult(PoseArgs.Which, defaultValue = PoseWhich.All) with
            | Table -> "table"
            | PoseWhich.Anchors -> "anchors"
            | PoseWhich.All -> "all"
            | Bench -> "bench"

        PlanPose(settingsOf g args None None None, which)
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
