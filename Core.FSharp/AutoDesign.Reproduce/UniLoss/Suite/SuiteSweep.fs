namespace AutoDesign.Reproduce.UniLoss.Suite

open System
open System.IO
open AutoDesign.Runs
open AutoDesign.UniLoss
open AutoDesign.Metrics

/// What identifies one run of the suite's validation sweep.
type SuiteSweepConfig = { Task: string; Seed: int; Arm: string; Size: SuiteSize }

/// The validation sweep over rules for the automatic score-gradient scale on the metric suite's tasks: CE and
/// UniLoss with each candidate rule, at CE's optimizer (SGD lr 0.05 momentum 0.9), quick sizes, on
/// validation sets carved from the training pools (SuiteData validate = true; never the test sets).
/// `uniloss ablation --which scale-suite`.
module SuiteSweep =
    let kind = "uniloss.suite-scale-sweep/1"

    /// The candidate rules (arm name, options): per batch (Batch) at a ∈ {1, 0.5, 0.25}, per example at a ∈ {1, 0.5},
    /// the running-mean rule at a ∈ {1, 0.5, 0.25}, the raw gradient, and per batch a = 0.5 with τ 0.3, τ 3 or 64
    /// anchors per type (side checks of the other options on the same splits).
    let candidates: (string * UniLossOptions) list =
        [ "batch-a1", UniLossOptions(AutoScale = 1.0)
          "batch-a0.5", UniLossOptions(AutoScale = 0.5)
          "example-a1", UniLossOptions(AutoScale = 1.0, ScaleRule = ScaleRule.Example)
          "running-a1", UniLossOptions(AutoScale = 1.0, ScaleRule = ScaleRule.Running)
          "batch-a0.25", UniLossOptions(AutoScale = 0.25)
          "running-a0.5", UniLossOptions(AutoScale = 0.5, ScaleRule = ScaleRule.Running)
          "raw", UniLossOptions(AutoScale = 0.0)
          "batch-a0.5-tau0.3", UniLossOptions(AutoScale = 0.5, Tau = 0.3)
          "batch-a0.5-tau3", UniLossOptions(AutoScale = 0.5, Tau = 3.0)
          "batch-a0.5-anch64", UniLossOptions(AutoScale = 0.5, AnchorsPerType = 64)
          "running-a0.25", UniLossOptions(AutoScale = 0.25, ScaleRule = ScaleRule.Running)
          "example-a0.5", UniLossOptions(AutoScale = 0.5, ScaleRule = ScaleRule.Example) ]

    /// One arm's validation metric on task t and seed (a run folder per arm, read back when finished).
    let private value (options: RunOptions) (device: TorchSharp.torch.Device) (t: SuiteTask) (seed: int) (arm: string) (data: Lazy<SuiteData>) =
        let size = SuiteExp.quickSize
        let rel = Path.Combine("uniloss", "suite-scale-sweep-val", SuiteTrain.taskId t, arm, sprintf "seed%d" seed)
        use run = Run.Open(options, rel, kind, { Task = SuiteTrain.taskId t; Seed = seed; Arm = arm; Size = size })

        if run.IsFinished then
            run.Result<float>()
        else
            let sw = Diagnostics.Stopwatch.StartNew()

            let v =
                if arm = "ce" then
                    SuiteTrain.runWith (UniLossOptions()) t data.Value size seed "ce" device
                else
                    match candidates |> List.tryFind (fst >> (=) arm) with
                    | Some(_, o) -> SuiteTrain.runWith o t data.Value size seed "uniloss" device
                    | None -> Errors.fail "suite sweep: unknown arm '%s'" arm

            eprintfn "  [suite sweep %s seed %d] %s: %.4f (%.1f s)" (SuiteTrain.taskId t) seed arm v sw.Elapsed.TotalSeconds
            run.Finish v
            v

    /// Run the sweep on seeds `seeds` and print one markdown row per (task, arm): validation metric per seed,
    /// mean, gap to CE (paired 95% interval when there are ≥ 2 seeds); then each rule's worst gap over the tasks.
    let run (options: RunOptions) (device: TorchSharp.torch.Device) (seeds: int list) =
        let arms = "ce" :: (candidates |> List.map fst)

        let res =
            [ for t in SuiteTrain.all ->
                  t,
                  [ for seed in seeds do
                        let data = lazy (SuiteTrain.data true t SuiteExp.quickSize seed)
                        yield seed, [ for a in arms -> a, value options device t seed a data ] ] ]

        printfn "| task | arm | validation metric per seed | mean | arm − CE [95%% CI] |"
        printfn "|---|---|---|---|---|"
        let gapsOf = Collections.Generic.Dictionary<string, float list>()

        for t, per in res do
            let xs a = per |> List.map (fun (_, vs) -> vs |> List.find (fst >> (=) a) |> snd)
            let ce = xs "ce"

            for a in arms do
                let v = xs a

                let gap =
                    if a = "ce" then "—"
                    elif v.Length < 2 then sprintf "%+.4f" (List.average v - List.average ce)
                    else (let d = Stats.paired ce v in sprintf "%+.4f [%+.4f, %+.4f]" d.Mean d.Lo d.Hi)

                if a <> "ce" then
                    gapsOf.[a] <-
                        (List.average v - List.average ce)
                        :: (match gapsOf.TryGetValue a with
                            | true, g -> g
                            | _ -> [])

                printfn "| %s | %s | %s | %.4f | %s |" (SuiteTrain.taskId t) a (String.Join(", ", v |> List.map (sprintf "%.4f"))) (List.average v) gap

        printfn ""
        printfn "| rule | worst mean gap to CE | mean gap to CE |"
        printfn "|---|---|---|"

        for a in List.tail arms do
            printfn "| %s | %+.4f | %+.4f |" a (List.min gapsOf.[a]) (List.average gapsOf.[a])
