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
    | Auto_Scale of float
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
            | Grad_Norm _ -> "rescale the UniLoss gradient on the scores to this Euclidean norm per batch (default 0: off; overrides --auto-scale). ap, accuracy."
            | Auto_Scale _ -> "automatic score-gradient scale a: norm a/sqrt(batch) per batch (the library's default is 1; 0: the raw gradient; default: the experiment's arm's). ap, accuracy."
            | Validation -> "score on a validation set carved from the Fashion-MNIST training images instead of the test set, for choosing settings. ap, accuracy."
            | Data _ -> "mnist (0 vs rest on the 10k digits, default) or fashion (class vs rest on Fashion-MNIST). ap."
            | Class _ -> "positive class for --data fashion (default 0). ap."
            | Which _ -> "ablation: anchors (Table 3.4, AP row), anchors-acc (Table 3.4, accuracy row), batch (Table 3.3) or all (default); scale (the validation sweep of the automatic score-gradient scale; scale-ap-mnist, scale-ap-fashion, scale-accuracy-resnet20: one task); pose: table (Table 3.1), anchors (Table 3.4 pose row), all (default) or bench (step times, no training run)."

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

/// Rows of a numeric CSV file, read strictly (NumericCsv): every cell must parse with `parse`, else the error
/// names the file, line and cell.
let internal readCsv (path: string) (parse: string -> 'T option) (kind: string) (header: CsvHeader) : 'T[][] =
    let rows = NumericCsv.readCells kind path header
    [| for (line, cells) in rows ->
        cells |> Array.mapi (fun col c ->
            match parse c with
            | Some v -> v
            | None ->
                Errors.fail "%s file '%s' line %d column %d: '%s' is not a valid %s" kind path line (col + 1) c
                    (if kind = "labels" then "integer" else "number (finite, within float32 range, '.' as the decimal point)")) |]

/// Whether a scores file reads as decimal commas would: several cells per row, every one a bare integer
/// ("0,95" is read as the two cells 0 and 95). Such a file is refused as ambiguous.
let private looksLikeDecimalCommas (path: string) (header: CsvHeader) =
    let rows = NumericCsv.readCells "scores" path header
    let bareInteger (c: string) = c.Length > 0 && c.TrimStart('-', '+') |> Seq.forall Char.IsDigit && c.TrimStart('-', '+') <> ""
    (snd rows.[0]).Length >= 2 && rows |> Array.forall (fun (_, cells) -> Array.forall bareInteger cells)

let private parseFloat (s: string) =
    match Single.TryParse(s, NumberStyles.Float, CultureInfo.InvariantCulture) with
    | true, v when Single.IsFinite v -> Some v
    | _ -> None

let private parseInt (s: string) =
    match Int64.TryParse(s, NumberStyles.Integer, CultureInfo.InvariantCulture) with
    | true, v -> Some v
    | _ -> None

/// Batches up to this many examples are also evaluated through the traced definition (exact and refactored
/// values); ranking metrics trace O(n²) comparisons, so larger batches get the metrics layer's value only.
let traceLimit = 2000

/// The metric's value from the metrics layer (O(n log n)), for the built-ins it has.
let private layerValue (metric: Metric) (shape: int[]) (labels: int64[]) (values: float32[]) : float option =
    let n = shape.[0]
    let cols = if shape.Length = 2 then shape.[1] else 1
    match metric.Name with
    | "ap" when shape.Length = 1 || cols <= 2 ->
        let score i = float values.[i * cols + (cols - 1)]
        let positive = labels |> Array.map (fun l -> l = 1L)
        if Array.exists id positive then Some(AveragePrecision.ofScores (Array.init n score) positive) else Some 0.0
    | "accuracy" when shape.Length = 2 && cols >= 2 ->
        Some(Classification.accuracyOfScores (Array.init n (fun i -> values.[i * cols .. i * cols + cols - 1])) (labels |> Array.map int))
    | _ -> None

let evalMetric (args: ParseResults<EvalMetricArgs>) : int =
    let metric = Metrics.byName (args.GetResult EvalMetricArgs.Metric)
    let scorePath = args.GetResult EvalMetricArgs.Scores
    let header = if args.Contains EvalMetricArgs.Header then CsvHeader.Declared else CsvHeader.Detected
    let scores = readCsv scorePath parseFloat "scores" header
    let labels = readCsv (args.GetResult EvalMetricArgs.Labels) parseInt "labels" header
    if not (args.Contains EvalMetricArgs.Heatmap) && looksLikeDecimalCommas scorePath header then
        Errors.fail "scores file '%s': every row is %d integers separated by ',', which is how decimal commas read ('0,95' as 0 and 95); write decimals with '.' (0.95), or integer class scores with a decimal point (0.0,95.0)" scorePath scores.[0].Length
    let n = scores.Length
    if labels.Length <> n then Errors.fail "%d score rows but %d label rows" n labels.Length
    let cols = scores.[0].Length
    let shape =
        match args.TryGetResult EvalMetricArgs.Heatmap with
        | Some hw ->
            match hw.ToLowerInvariant().Split('x') |> Array.map Int32.TryParse with
            | [| (true, h); (true, w) |] when h > 0 && w > 0 ->
                if int64 h * int64 w <> int64 cols then Errors.fail "--heatmap %s needs %d scores per row, '%s' has %d" hw (int64 h * int64 w) scorePath cols
                [| n; h; w |]
            | _ -> Errors.fail "--heatmap must look like 64x64, got '%s'" hw
        | None -> if cols = 1 then [| n |] else [| n; cols |]
    let lab =
        let k = labels.[0].Length
        AutoDesign.UniLoss.Labels((if k = 1 then [| labels.Length |] else [| labels.Length; k |]), Array.concat labels)
    let values = Array.concat scores
    printfn "metric: %s" metric.Name
    printfn "examples: %d" n
    if n <= traceLimit then
        printfn "exact: %.6f" (Refactor.exact metric shape lab values)
        let mutable r = Unchecked.defaultof<Refactored>
        if Refactor.tryTrace metric shape lab &r then
            printfn "refactored g(h(f(s))): %.6f" (Refactor.refactored r values)
            printfn "comparisons (bits): %d" r.L
        else
            printfn "refactored g(h(f(s))): not traced (more than %d comparisons or %d g nodes and edges, the trace limits)" Limits.MaxComparisons Limits.MaxGraphSize
    else
        match (if labels.[0].Length = 1 then layerValue metric shape (Array.concat labels) values else None) with
        | Some v ->
            printfn "exact: %.6f" v
            printfn "refactored g(h(f(s))): not traced (more than %d examples)" traceLimit
        | None ->
            Errors.fail "%s over %d examples: this metric is evaluated through its traced definition, which is limited to %d examples (split the batch)" metric.Name n traceLimit
    0

/// The commands each experiment option applies to (the others reject it).
let private appliesTo (a: ExpArgs) =
    match a with
    | Ce_Lr _ | Nearby_Unit _ | Nearby _ | Bound_Scores _ | Grad_Norm _ | Auto_Scale _ | Validation -> [ "ap"; "accuracy" ]
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
      AutoScale = r.TryGetResult Auto_Scale |> Option.map (Values.nonNegativeReal "auto-scale")
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
    | Ablation a -> PlanAblation(settingsOf g "ablation" a, which "ablation" [ "anchors"; "anchors-acc"; "batch"; "all"; "scale"; "scale-ap-mnist"; "scale-ap-fashion"; "scale-accuracy-resnet20" ] a)
    | Pose a -> PlanPose(settingsOf g "pose" a, which "pose" [ "table"; "anchors"; "all"; "bench" ] a)

let runExperiment (g: Globals) (args: ParseResults<UnilossArgs>) : int =
    let p = plan g args
    let s = match p with PlanAp(s, _, _) | PlanAccuracy s | PlanAblation(s, _) | PlanPose(s, _) -> s
    // seeds as jobs first (none for the pose bench), then the rows from the finished runs
    let g' =
        match p with
        | PlanPose(_, "bench") -> g
        | _ -> Jobs.seeds g ("uniloss-" + (args.GetSubCommand() |> function Ap _ -> "ap" | Accuracy _ -> "accuracy" | Ablation _ -> "ablation" | _ -> "pose")) (Values.seeds s.Seed s.Runs)
    let s = { s with Options = g'.RunOptions }
    let rows =
        match p with
        | PlanAp(_, data, cls) -> UnilossExp.ap s data cls
        | PlanAccuracy _ -> UnilossExp.accuracy s
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

let run (g: Globals) (args: ParseResults<UnilossArgs>) : int =
    match args.GetSubCommand() with
    | Eval_Metric a ->
        g.NoJobs "uniloss eval-metric"
        evalMetric a
    | Ap _ | Accuracy _ | Ablation _ | Pose _ -> runExperiment g args

/// `autodesign bench uniloss`: prints UniLoss ÷ CE step-time ratios (target ≤ 1.25).
let bench (dev: TorchSharp.torch.Device) (steps: int) : int =
    let load = try (IO.File.ReadAllText "/proc/loadavg").Trim() with _ -> "unknown"
    printfn "load average before: %s (%d logical CPUs)" load Environment.ProcessorCount
    printfn "UniLoss call (forward + backward, fixed scores) on a NEW label batch, batch 128, 48 anchors, 1 torch thread; medians in ms:"
    for r in UnilossBench.newBatches (max 20 (steps * 4)) do
        printfn "  %-10s l=%4d bits, %4d g nodes: new batch %.2f ms (p10 %.2f) = trace %.2f + compile %.2f + b* %.2f + anchors %.2f + g %.2f + IDW %.2f + tensors %.2f; cached labels %.2f ms %s"
            r.Metric r.Bits r.Nodes r.Total r.TotalP10 r.Trace r.Compile r.Best r.Anchors r.G r.Idw r.Tensors r.Cached
            (if r.Total <= 2.0 then "(target <= 2 ms: OK)" else "(target <= 2 ms: ABOVE)")
    printfn "UniLoss call on a NEW label batch at scale (batch 128 and 1024; mean IoU on class maps n x 3 x 32 x 32), 48 anchors, 1 torch thread; medians in ms:"
    for r in UnilossBench.scale (max 5 steps) do
        let target = if r.Metric = "ap-posneg" then 20.0 elif r.Metric = "ndcg@5" || r.Metric = "mean-iou" then 50.0 else nan
        let verdict =
            if Double.IsNaN target || r.Batch < 8 || (r.Batch < 1024 && r.Metric <> "mean-iou") then ""
            else sprintf "(target <= %.0f ms, thread CPU: %s)" target (if r.TotalCpu <= target then "OK" else "ABOVE")
        printfn "  %-12s batch %4d, l=%7d bits, %7d g nodes: new batch %8.2f ms (thread CPU %8.2f) = trace %7.2f + compile %6.2f + b* %7.2f + anchors %6.2f + g %6.2f + IDW %6.2f + tensors %5.2f; cached %7.2f ms (CPU %7.2f) %s"
            r.Metric r.Batch r.Bits r.Nodes r.Total r.TotalCpu r.Trace r.Compile r.Best r.Anchors r.G r.Idw r.Tensors r.Cached r.CachedCpu verdict
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

