/// `autodesign uniloss ...`: the UniLoss experiments and tools.
module AutoDesign.Cli.Commands.Uniloss

open System
open System.Globalization
open System.IO
open Argu
open AutoDesign.Runs
open AutoDesign.UniLoss
open AutoDesign.Reproduce.UniLoss
open AutoDesign.Metrics

/// Options every UniLoss experiment takes; also the whole option set of `uniloss accuracy`.
[<CliPrefix(CliPrefix.DoubleDash)>]
type ExpCommon =
    | Quick
    | Device of string
    | Seed of int
    | Runs of int
    | Epochs of int
    | Train_Size of int
    | Tau of float
    | Anchors of int
    | Uni_Lr of float
    | Runs_Root of string
    | Power of float
    | Tau_End of float
    | Validation
    | Ce_Lr of float
    | Nearby_Unit of string
    | Uni_Warmup of int
    | Nearby of string
    | Bound_Scores of string
    | Grad_Norm of float
    interface IArgParserTemplate with
        member a.Usage = ExpCommon.UsageOf a
    static member UsageOf (a: ExpCommon) =
        match a with
        | Quick -> "small configuration that finishes in minutes on 2 CPU cores."
        | Device _ -> "auto, cpu or cuda (default auto)."
        | Seed _ -> "seed of the split, initialisation and batches (default 1)."
        | Runs _ -> "repeat with seeds seed..seed+runs-1 and report mean ± std (default 1)."
        | Epochs _ -> "override the configuration's epochs."
        | Train_Size _ -> "override the number of training images."
        | Tau _ -> "UniLoss sigmoid temperature (default 1)."
        | Anchors _ -> "UniLoss anchors per type: good, bad, nearby (default 16)."
        | Uni_Lr _ -> "learning rate for the UniLoss arm (default: CE's for ap and ablations, 10x CE's for accuracy)."
        | Runs_Root _ -> "folder for run folders (default runs)."
        | Power _ -> "UniLoss IDW distance power, weights 1/d^power (default 1)."
        | Tau_End _ -> "tau schedule: tau moves geometrically from --tau (first step) to this value (last step); default fixed tau."
        | Ce_Lr _ -> "learning rate of the CE arm (default 0.01 for ap, 0.1 for accuracy); the UniLoss arm's default follows it."
        | Uni_Warmup _ -> "accuracy: linear lr warm-up of the UniLoss arm over this many SGD steps (default 0: none)."
        | Nearby_Unit _ -> "what a nearby anchor flips: bit (one comparison bit) or example (all bits of one example, thesis §3.3)."
        | Nearby _ -> "which bits a nearby anchor flips: any (thesis text) or wrong (only bits where the current configuration differs from the best one, as the authors' code)."
        | Bound_Scores _ -> "on or off: compute comparisons on sigmoid-squashed scores, σ(s_a) − σ(s_b) (the authors' code ends its networks with a sigmoid)."
        | Grad_Norm _ -> "rescale the UniLoss gradient on the scores to this Euclidean norm per batch (default 0: off)."
        | Validation -> "score on a validation set carved from the Fashion-MNIST training images (disjoint from the training subset) instead of the test set, for choosing settings."

[<CliPrefix(CliPrefix.DoubleDash)>]
type ApArgs =
    | Data of string
    | Class of int
    | Quick
    | Device of string
    | Seed of int
    | Runs of int
    | Epochs of int
    | Train_Size of int
    | Tau of float
    | Anchors of int
    | Uni_Lr of float
    | Runs_Root of string
    | Power of float
    | Tau_End of float
    | Validation
    | Ce_Lr of float
    | Nearby of string
    | Bound_Scores of string
    | Grad_Norm of float
    interface IArgParserTemplate with
        member a.Usage =
            match a with
            | Data _ -> "mnist (0 vs rest on the 10k digits, default) or fashion (class vs rest on Fashion-MNIST)."
            | Class _ -> "positive class for --data fashion (default 0)."
            | Quick -> ExpCommon.UsageOf ExpCommon.Quick
            | Device d -> ExpCommon.UsageOf (ExpCommon.Device d)
            | Seed s -> ExpCommon.UsageOf (ExpCommon.Seed s)
            | Runs r -> ExpCommon.UsageOf (ExpCommon.Runs r)
            | Epochs e -> ExpCommon.UsageOf (ExpCommon.Epochs e)
            | Train_Size n -> ExpCommon.UsageOf (ExpCommon.Train_Size n)
            | Tau t -> ExpCommon.UsageOf (ExpCommon.Tau t)
            | Anchors k -> ExpCommon.UsageOf (ExpCommon.Anchors k)
            | Uni_Lr l -> ExpCommon.UsageOf (ExpCommon.Uni_Lr l)
            | Runs_Root r -> ExpCommon.UsageOf (ExpCommon.Runs_Root r)
            | Power p -> ExpCommon.UsageOf (ExpCommon.Power p)
            | Tau_End t -> ExpCommon.UsageOf (ExpCommon.Tau_End t)
            | Validation -> ExpCommon.UsageOf ExpCommon.Validation
            | Ce_Lr l -> ExpCommon.UsageOf (ExpCommon.Ce_Lr l)
            | Nearby n -> ExpCommon.UsageOf (ExpCommon.Nearby n)
            | Bound_Scores b -> ExpCommon.UsageOf (ExpCommon.Bound_Scores b)
            | Grad_Norm g -> ExpCommon.UsageOf (ExpCommon.Grad_Norm g)

[<CliPrefix(CliPrefix.DoubleDash)>]
type AblationArgs =
    | Which of string
    | Quick
    | Device of string
    | Seed of int
    | Runs of int
    | Epochs of int
    | Train_Size of int
    | Tau of float
    | Anchors of int
    | Uni_Lr of float
    | Runs_Root of string
    | Power of float
    interface IArgParserTemplate with
        member a.Usage =
            match a with
            | Which _ -> "anchors (Table 3.4, AP row), anchors-acc (Table 3.4, accuracy row: ResNet-20), batch (Table 3.3) or all (default all)."
            | Quick -> ExpCommon.UsageOf ExpCommon.Quick
            | Device d -> ExpCommon.UsageOf (ExpCommon.Device d)
            | Seed s -> ExpCommon.UsageOf (ExpCommon.Seed s)
            | Runs r -> ExpCommon.UsageOf (ExpCommon.Runs r)
            | Epochs e -> ExpCommon.UsageOf (ExpCommon.Epochs e)
            | Train_Size n -> ExpCommon.UsageOf (ExpCommon.Train_Size n)
            | Tau t -> ExpCommon.UsageOf (ExpCommon.Tau t)
            | Anchors k -> ExpCommon.UsageOf (ExpCommon.Anchors k)
            | Uni_Lr l -> ExpCommon.UsageOf (ExpCommon.Uni_Lr l)
            | Runs_Root r -> ExpCommon.UsageOf (ExpCommon.Runs_Root r)
            | Power p -> ExpCommon.UsageOf (ExpCommon.Power p)

[<CliPrefix(CliPrefix.DoubleDash)>]
type PoseArgs =
    | Which of string
    | Quick
    | Device of string
    | Seed of int
    | Runs of int
    | Epochs of int
    | Train_Size of int
    | Tau of float
    | Anchors of int
    | Uni_Lr of float
    | Runs_Root of string
    interface IArgParserTemplate with
        member a.Usage =
            match a with
            | Which _ -> "table (Table 3.1: MSE for 7 sigmas vs UniLoss), anchors (Table 3.4 pose row), all (default), or bench (interleaved MSE/UniLoss step times and memory, no training run)."
            | Quick -> ExpCommon.UsageOf ExpCommon.Quick
            | Device d -> ExpCommon.UsageOf (ExpCommon.Device d)
            | Seed s -> ExpCommon.UsageOf (ExpCommon.Seed s)
            | Runs r -> ExpCommon.UsageOf (ExpCommon.Runs r)
            | Epochs e -> ExpCommon.UsageOf (ExpCommon.Epochs e)
            | Train_Size n -> ExpCommon.UsageOf (ExpCommon.Train_Size n)
            | Tau t -> ExpCommon.UsageOf (ExpCommon.Tau t)
            | Anchors k -> "UniLoss anchors per type for the Table 3.1 arm (default 16)."
            | Uni_Lr l -> "learning rate of the UniLoss arms (default 2.5e-4, the MSE arms' RMSProp rate)."
            | Runs_Root r -> ExpCommon.UsageOf (ExpCommon.Runs_Root r)

type EvalMetricArgs =
    | [<Mandatory>] Metric of name: string
    | [<Mandatory>] Scores of path: string
    | [<Mandatory>] Labels of path: string
    | Heatmap of shape: string
    interface IArgParserTemplate with
        member a.Usage =
            match a with
            | Metric _ -> "accuracy, top-K, precision, recall, f1, ap or pckh-R (e.g. top-5, pckh-2)."
            | Scores _ -> "CSV of scores, one row per example (an optional header line is skipped)."
            | Labels _ -> "CSV of integer labels, one row per example (pckh: row,col of the joint)."
            | Heatmap _ -> "HxW: read each score row as an H×W heatmap (for pckh)."

and [<RequireSubcommand>] UnilossArgs =
    | [<CliPrefix(CliPrefix.None)>] Eval_Metric of ParseResults<EvalMetricArgs>
    | [<CliPrefix(CliPrefix.None)>] Ap of ParseResults<ApArgs>
    | [<CliPrefix(CliPrefix.None)>] Accuracy of ParseResults<ExpCommon>
    | [<CliPrefix(CliPrefix.None)>] Ablation of ParseResults<AblationArgs>
    | [<CliPrefix(CliPrefix.None)>] Pose of ParseResults<PoseArgs>
    interface IArgParserTemplate with
        member a.Usage =
            match a with
            | Eval_Metric _ -> "print a metric's exact value and its refactored g(h(f(s))) value on a CSV batch."
            | Ap _ -> "AP for unbalanced binary classification: UniLoss(AP) vs 2-class CE (thesis 3.4.2)."
            | Accuracy _ -> "accuracy of ResNet-20 on Fashion-MNIST: UniLoss(accuracy) vs CE (thesis 3.4.4)."
            | Ablation _ -> "anchor-count and batch-size ablations (thesis Tables 3.3, 3.4)."
            | Pose _ -> "PCKh of a single-stack hourglass on procedural stick figures (stand-in for MPII head joints): MSE sigma sweep vs UniLoss, anchors ablation (thesis Tables 3.1, 3.4)."

/// Rows of a numeric CSV; a first line that does not parse is taken as a header.
let readCsv (path: string) (parse: string -> 'T option) (kind: string) : 'T[][] =
    if not (File.Exists path) then Errors.fail "%s file '%s' does not exist" kind path
    let lines = File.ReadAllLines path
    let rows = ResizeArray<'T[]>()
    for li in 0 .. lines.Length - 1 do
        let line = lines.[li].Trim()
        if line <> "" then
            let cells = line.Split(',') |> Array.map (fun c -> c.Trim())
            let parsed = cells |> Array.map parse
            match Array.tryFindIndex Option.isNone parsed with
            | Some col when rows.Count = 0 && li = (lines |> Array.findIndex (fun l -> l.Trim() <> "")) && Array.forall Option.isNone parsed -> () // header
            | Some col -> Errors.fail "%s file '%s' line %d column %d: '%s' is not a valid %s" kind path (li + 1) (col + 1) cells.[col] (if kind = "labels" then "integer" else "number")
            | None ->
                let row = parsed |> Array.map Option.get
                if rows.Count > 0 && row.Length <> rows.[0].Length then
                    Errors.fail "%s file '%s' line %d has %d values, earlier rows have %d" kind path (li + 1) row.Length rows.[0].Length
                rows.Add row
    if rows.Count = 0 then Errors.fail "%s file '%s' has no rows" kind path
    rows.ToArray()

let private parseFloat (s: string) =
    match Single.TryParse(s, NumberStyles.Float, CultureInfo.InvariantCulture) with
    | true, v when not (Single.IsNaN v) -> Some v
    | _ -> None

let private parseInt (s: string) =
    match Int64.TryParse(s, NumberStyles.Integer, CultureInfo.InvariantCulture) with
    | true, v -> Some v
    | _ -> None

let evalMetric (args: ParseResults<EvalMetricArgs>) : int =
    let metric = Metrics.byName (args.GetResult EvalMetricArgs.Metric)
    let scorePath = args.GetResult EvalMetricArgs.Scores
    let scores = readCsv scorePath parseFloat "scores"
    let labels = readCsv (args.GetResult EvalMetricArgs.Labels) parseInt "labels"
    let n = scores.Length
    let cols = scores.[0].Length
    let shape =
        match args.TryGetResult EvalMetricArgs.Heatmap with
        | Some hw ->
            match hw.ToLowerInvariant().Split('x') |> Array.map Int32.TryParse with
            | [| (true, h); (true, w) |] when h > 0 && w > 0 ->
                if h * w <> cols then Errors.fail "--heatmap %s needs %d scores per row, '%s' has %d" hw (h * w) scorePath cols
                [| n; h; w |]
            | _ -> Errors.fail "--heatmap must look like 64x64, got '%s'" hw
        | None -> if cols = 1 then [| n |] else [| n; cols |]
    let lab =
        let k = labels.[0].Length
        AutoDesign.UniLoss.Labels((if k = 1 then [| labels.Length |] else [| labels.Length; k |]), Array.concat labels)
    let values = Array.concat scores
    let exact = Refactor.exact metric shape lab values
    let r = Refactor.trace metric shape lab
    let refactored = Refactor.refactored r values
    printfn "metric: %s" metric.Name
    printfn "examples: %d" n
    printfn "exact: %.6f" exact
    printfn "refactored g(h(f(s))): %.6f" refactored
    printfn "comparisons (bits): %d" r.L
    0

/// Experiment settings from the common options (given as a list of the union's common cases).
let settingsOf (common: ExpCommon list) : ExpSettings =
    let pick f = common |> List.tryPick f
    let device =
        match pick (function ExpCommon.Device d -> Some d | _ -> None) |> Option.defaultValue "auto" |> AutoDesign.Runs.Device.parse with
        | Ok c -> AutoDesign.Runs.Device.resolve c
        | Error e -> Errors.fail "%s" e
    let positive name v = if v <= 0 then Errors.fail "--%s must be positive, got %d" name v else v
    // a flag whose value is one of a few words, each meaning a setting
    let choice (flag: string) (get: ExpCommon -> string option) (options: (string * 'T) list) : 'T option =
        pick get
        |> Option.map (fun v ->
            match options |> List.tryFind (fst >> (=) v) with
            | Some(_, x) -> x
            | None -> Errors.fail "--%s must be %s, got '%s'" flag (String.Join(" or ", options |> List.map fst)) v)
    { Quick = common |> List.contains ExpCommon.Quick
      Device = device
      Options = { RunOptions.Default with Root = pick (function ExpCommon.Runs_Root r -> Some r | _ -> None) |> Option.defaultValue "runs" }
      Seed = pick (function ExpCommon.Seed s -> Some s | _ -> None) |> Option.defaultValue 1
      Runs = pick (function ExpCommon.Runs r -> Some(positive "runs" r) | _ -> None) |> Option.defaultValue 1
      Epochs = pick (function ExpCommon.Epochs e -> Some(positive "epochs" e) | _ -> None)
      TrainSize = pick (function ExpCommon.Train_Size n -> Some(positive "train-size" n) | _ -> None)
      Tau = pick (function ExpCommon.Tau t -> (if t <= 0.0 then Errors.fail "--tau must be positive, got %g" t); Some t | _ -> None)
      Anchors = pick (function ExpCommon.Anchors k -> Some(positive "anchors" k) | _ -> None)
      UniLr = pick (function ExpCommon.Uni_Lr l -> (if l <= 0.0 then Errors.fail "--uni-lr must be positive, got %g" l); Some l | _ -> None)
      Power = pick (function ExpCommon.Power p -> (if not (p > 0.0) then Errors.fail "--power must be positive, got %g" p); Some p | _ -> None)
      TauEnd = pick (function ExpCommon.Tau_End t -> (if not (t > 0.0) || Double.IsInfinity t then Errors.fail "--tau-end must be positive, got %g" t); Some t | _ -> None)
      Validation = common |> List.contains ExpCommon.Validation
      UniWarmup = pick (function ExpCommon.Uni_Warmup w -> (if w < 0 then Errors.fail "--uni-warmup must be >= 0, got %d" w); Some w | _ -> None)
      NearbyUnit = choice "nearby-unit" (function ExpCommon.Nearby_Unit u -> Some u | _ -> None) [ "bit", FlipUnit.Bit; "example", FlipUnit.Example ]
      NearbyCorrective = choice "nearby" (function ExpCommon.Nearby u -> Some u | _ -> None) [ "any", false; "wrong", true ]
      BoundScores = choice "bound-scores" (function ExpCommon.Bound_Scores v -> Some v | _ -> None) [ "on", true; "off", false ]
      GradNorm = pick (function ExpCommon.Grad_Norm g -> (if not (g >= 0.0) || Double.IsInfinity g then Errors.fail "--grad-norm must be >= 0, got %g" g); Some g | _ -> None)
      CeLr = pick (function ExpCommon.Ce_Lr l -> (if not (l > 0.0) then Errors.fail "--ce-lr must be positive, got %g" l); Some l | _ -> None) }

let private ofAp (a: ApArgs) =
    match a with
    | ApArgs.Quick -> Some ExpCommon.Quick | ApArgs.Device d -> Some(ExpCommon.Device d) | ApArgs.Seed s -> Some(ExpCommon.Seed s)
    | ApArgs.Runs r -> Some(ExpCommon.Runs r) | ApArgs.Epochs e -> Some(ExpCommon.Epochs e) | ApArgs.Train_Size n -> Some(ExpCommon.Train_Size n)
    | ApArgs.Tau t -> Some(ExpCommon.Tau t) | ApArgs.Anchors k -> Some(ExpCommon.Anchors k) | ApArgs.Uni_Lr l -> Some(ExpCommon.Uni_Lr l)
    | ApArgs.Runs_Root r -> Some(ExpCommon.Runs_Root r) | ApArgs.Power p -> Some(ExpCommon.Power p)
    | ApArgs.Tau_End t -> Some(ExpCommon.Tau_End t) | ApArgs.Validation -> Some ExpCommon.Validation | ApArgs.Ce_Lr l -> Some(ExpCommon.Ce_Lr l)
    | ApArgs.Nearby n -> Some(ExpCommon.Nearby n) | ApArgs.Bound_Scores b -> Some(ExpCommon.Bound_Scores b) | ApArgs.Grad_Norm g -> Some(ExpCommon.Grad_Norm g) | ApArgs.Data _ | ApArgs.Class _ -> None

let private ofAbl (a: AblationArgs) =
    match a with
    | AblationArgs.Quick -> Some ExpCommon.Quick | AblationArgs.Device d -> Some(ExpCommon.Device d) | AblationArgs.Seed s -> Some(ExpCommon.Seed s)
    | AblationArgs.Runs r -> Some(ExpCommon.Runs r) | AblationArgs.Epochs e -> Some(ExpCommon.Epochs e) | AblationArgs.Train_Size n -> Some(ExpCommon.Train_Size n)
    | AblationArgs.Tau t -> Some(ExpCommon.Tau t) | AblationArgs.Anchors k -> Some(ExpCommon.Anchors k) | AblationArgs.Uni_Lr l -> Some(ExpCommon.Uni_Lr l)
    | AblationArgs.Runs_Root r -> Some(ExpCommon.Runs_Root r) | AblationArgs.Power p -> Some(ExpCommon.Power p) | AblationArgs.Which _ -> None

let private ofPose (a: PoseArgs) =
    match a with
    | PoseArgs.Quick -> Some ExpCommon.Quick | PoseArgs.Device d -> Some(ExpCommon.Device d) | PoseArgs.Seed s -> Some(ExpCommon.Seed s)
    | PoseArgs.Runs r -> Some(ExpCommon.Runs r) | PoseArgs.Epochs e -> Some(ExpCommon.Epochs e) | PoseArgs.Train_Size n -> Some(ExpCommon.Train_Size n)
    | PoseArgs.Tau t -> Some(ExpCommon.Tau t) | PoseArgs.Anchors k -> Some(ExpCommon.Anchors k) | PoseArgs.Uni_Lr l -> Some(ExpCommon.Uni_Lr l)
    | PoseArgs.Runs_Root r -> Some(ExpCommon.Runs_Root r) | PoseArgs.Which _ -> None

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

let plan (args: ParseResults<UnilossArgs>) : UnilossPlan =
    match args.GetSubCommand() with
    | Eval_Metric _ -> Errors.fail "eval-metric is not an experiment"
    | Ap a ->
        let data = a.GetResult(ApArgs.Data, defaultValue = "mnist")
        if data <> "mnist" && data <> "fashion" then Errors.fail "--data must be mnist or fashion, got '%s'" data
        let cls = a.GetResult(ApArgs.Class, defaultValue = 0)
        if cls < 0 || cls > 9 then Errors.fail "--class must be 0..9, got %d" cls
        PlanAp(settingsOf (a.GetAllResults() |> List.choose ofAp), data, cls)
    | Accuracy a -> PlanAccuracy(settingsOf (a.GetAllResults()))
    | Ablation a ->
        let which = a.GetResult(AblationArgs.Which, defaultValue = "all")
        if not (List.contains which [ "anchors"; "anchors-acc"; "batch"; "all" ]) then Errors.fail "--which must be anchors, anchors-acc, batch or all, got '%s'" which
        PlanAblation(settingsOf (a.GetAllResults() |> List.choose ofAbl), which)
    | Pose a ->
        let which = a.GetResult(PoseArgs.Which, defaultValue = "all")
        if which <> "table" && which <> "anchors" && which <> "all" && which <> "bench" then Errors.fail "--which must be table, anchors, all or bench, got '%s'" which
        PlanPose(settingsOf (a.GetAllResults() |> List.choose ofPose), which)

let runExperiment (args: ParseResults<UnilossArgs>) : int =
    let rows =
        match plan args with
        | PlanAp(s, data, cls) -> UnilossExp.ap s data cls
        | PlanAccuracy s -> UnilossExp.accuracy s
        | PlanAblation(s, which) ->
            (if which = "anchors" || which = "all" then UnilossAblation.anchors s else [])
            @ (if which = "anchors-acc" || which = "all" then UnilossAblation.anchorsAccuracy s else [])
            @ (if which = "batch" || which = "all" then UnilossAblation.batchSize s else [])
        | PlanPose(s, "bench") ->
            printfn "%s" (AutoDesign.Reproduce.UniLoss.Pose.PoseExp.bench s 20)
            []
        | PlanPose(s, which) ->
            (if which <> "anchors" then AutoDesign.Reproduce.UniLoss.Pose.PoseExp.table s else [])
            @ (if which <> "table" then AutoDesign.Reproduce.UniLoss.Pose.PoseExp.anchors s else [])
    if not rows.IsEmpty then printRows rows
    0

let run (args: ParseResults<UnilossArgs>) : int =
    match args.GetSubCommand() with
    | Eval_Metric a -> evalMetric a
    | Ap _ | Accuracy _ | Ablation _ | Pose _ -> runExperiment args

/// `autodesign bench uniloss`: prints UniLoss ÷ CE step-time ratios (target ≤ 1.25).
let bench (device: string) (steps: int) : int =
    let dev =
        match AutoDesign.Runs.Device.parse device with
        | Ok c -> AutoDesign.Runs.Device.resolve c
        | Error e -> Errors.fail "%s" e
    let load = try (IO.File.ReadAllText "/proc/loadavg").Trim() with _ -> "unknown"
    printfn "load average before: %s (%d logical CPUs)" load Environment.ProcessorCount
    printfn "UniLoss call (forward + backward, fixed scores) on a NEW label batch, batch 128, 48 anchors, 1 torch thread; medians in ms:"
    for r in UnilossBench.newBatches (max 20 (steps * 4)) do
        printfn "  %-10s l=%4d bits, %4d g nodes: new batch %.2f ms (p10 %.2f) = trace %.2f + compile %.2f + b* %.2f + anchors %.2f + g %.2f + IDW %.2f + tensors %.2f; cached labels %.2f ms %s"
            r.Metric r.Bits r.Nodes r.Total r.TotalP10 r.Trace r.Compile r.Best r.Anchors r.G r.Idw r.Tensors r.Cached
            (if r.Total <= 2.0 then "(target <= 2 ms: OK)" else "(target <= 2 ms: ABOVE)")
    let results = UnilossBench.run dev 3 steps
    for r in results do
        printfn "%-22s batch %d, %d anchors: CE %.2f ms/step, UniLoss %.2f ms/step, ratio %.3f (target <= 1.25) %s"
            r.Network r.Batch r.Anchors r.CeMs r.UniMs r.Ratio (if r.Ratio <= 1.25 then "OK" else "ABOVE TARGET")
        printfn "%-22s the loss alone (forward + backward on fixed scores): %.2f ms/step = %.2f x the CE step" "" r.LossMs (r.LossMs / r.CeMs)
        if r.Ratio > 1.25 then
            printfn "%-22s limit: the loss costs a fixed %.2f ms per step (f, %d anchors, compiled g over them, IDW), whatever the network;" "" r.LossMs r.Anchors
            printfn "%-22s this network's whole CE step is only %.2f ms, so the ratio cannot drop below about 1 + %.2f / %.2f." "" r.CeMs r.LossMs r.CeMs
    printfn "load average after: %s" (try (IO.File.ReadAllText "/proc/loadavg").Trim() with _ -> "unknown")
    0

