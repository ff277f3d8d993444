namespace AutoDesign.Reproduce.UniLoss

open System
open System.IO
open AutoDesign.UniLoss
open AutoDesign.Metrics

/// The validation sweep that chose the library's automatic score-gradient scale (UniLossOptions.AutoScale):
/// CE and the library's default UniLoss with each rule of `rules` (a = 0: the raw IDW gradient) at CE's optimizer,
/// schedule and learning rate, on validation splits carved from the training data (never the test sets)
/// of the quick AP-MNIST, AP-Fashion and ResNet-20 accuracy tasks. `uniloss ablation --which scale...`.
module UnilossScaleSweep =
    /// The rules compared (UniLossOptions.ScaleRule) with their a (a = 0: the raw gradient). The first sweep
    /// (per-batch a ∈ {0, 0.5, 1, 2}) chose per-batch a = 1; the second (metric-suite tasks too) compared
    /// per-batch a = 0.25 and the running-mean rule at a ∈ {0.25, 0.5}.
    let rules = [ ScaleRule.Batch, 0.25; ScaleRule.Running, 0.25; ScaleRule.Running, 0.5 ]

    /// The sweep's tasks: name, task of a seed, CE config, loss of a UniLoss option set.
    let private tasks (s: ExpSettings) =
        let apCfg epochs = ExpTrain.sgd (defaultArg s.Epochs epochs) 0.01 s.Seed

        let _, _, _, _, (width, half), accCfg = UnilossAccuracy.accuracySetup { s with Quick = true }

        [ // MNIST: the experiment's 8k training digits split 6k train / 2k validation; its 2k test digits are not used
          "ap-mnist", (fun seed -> { ExpTasks.mnistZeroVsRest seed 6000 2000 with Name = "mnist-0-vs-rest-val" }), apCfg 10, UniLossAP
          "ap-fashion", (fun seed -> ExpTasks.fashionOneVsRest 0 true seed 10000 10000), apCfg 5, UniLossAP
          "accuracy-resnet20", (fun seed -> ExpTasks.fashionResNet true width half seed 2048 1000), accCfg, UniLossAccuracy ]

    let private armName (a: float) = if a = 0.0 then "raw" else sprintf "auto%g" a

    let private ruleName (r: ScaleRule, a: float) =
        match r with
        | ScaleRule.Example -> sprintf "example%g" a
        | ScaleRule.Running -> sprintf "running%g" a
        | _ -> armName a

    /// The plan of one task: CE and one default-UniLoss arm per scale, seeds s.Seed .. s.Seed + s.Runs - 1.
    let plan (s: ExpSettings) (task: string) =
        match tasks s |> List.tryFind (fun (n, _, _, _) -> n = task) with
        | None -> Errors.fail "scale sweep: unknown task '%s' (expected %s)" task (String.Join(", ", tasks s |> List.map (fun (n, _, _, _) -> n)))
        | Some(name, makeTask, cfg, uni) ->
            let arms =
                ("ce", CrossEntropy, cfg)
                :: [ for r, a in rules -> ruleName (r, a), uni { ExpUniLossOptions.Library with AutoScale = a; ScaleRule = r }, cfg ]

            UnilossExp.plan s (Path.Combine("uniloss", sprintf "scale-sweep-%s-val" name)) makeTask arms

    /// Run the sweep on `taskNames` and print one markdown table row per (task, arm): validation metric per
    /// seed, mean, and the paired gap to CE with its 95% interval.
    let run (s: ExpSettings) (taskNames: string list) =
        printfn "| task | arm | validation metric per seed | mean | arm − CE [95%% CI] |"
        printfn "|---|---|---|---|---|"

        for task in taskNames do
            let res = UnilossExp.compare s (plan s task)
            let ce = res |> List.find (fst >> (=) "ce") |> snd

            for label, xs in res do
                let per = String.Join(", ", xs |> List.map (sprintf "%.4f"))

                let gap =
                    if label = "ce" then
                        "—"
                    elif xs.Length < 2 then
                        sprintf "%+.4f" (List.average xs - List.average ce)
                    else
                        let d = Stats.paired ce xs
                        sprintf "%+.4f [%+.4f, %+.4f]" d.Mean d.Lo d.Hi

                printfn "| %s | %s | %s | %.4f | %s |" task label per (List.average xs) gap
