namespace AutoDesign.Reproduce.UniLoss.Suite

open System
open System.IO
open System.Globalization
open AutoDesign.Runs
open AutoDesign.Plots
open AutoDesign.Reproduce

/// One arm's test metric and training time on one task and seed.
type SuiteArmResult = { Arm: string; Value: float; Seconds: float }

/// What identifies a suite run folder.
type SuiteRunConfig = { Task: string; Seed: int; Size: SuiteSize }

/// The metric suite `uniloss/suite`: per task, CE vs default UniLoss on the task's metric vs the peer method
/// a user would pick, over 3 seeds, paired 95% intervals and a verdict per task. One job per task (its 3 seeds; AP and AUROC at one class ratio share a job and its data
/// loading), which keeps the quick suite near 200 s of job time on 2 cores.
module SuiteExp =
    let kind = "uniloss.suite/3"
    let seeds = 3

    let quickSize = { Train = 1500; Test = 2000; Epochs = 4; Hidden = 64; TrainQueries = 150; TestQueries = 200 }
    let fullSize = { Train = 10000; Test = 10000; Epochs = 20; Hidden = 256; TrainQueries = 2000; TestQueries = 1000 }

    let private dirName (size: SuiteSize) =
        if size = quickSize then "suite-quick"
        elif size = fullSize then "suite"
        else sprintf "suite-%d-%d" size.Train size.Epochs

    /// Run (or read back) every arm of task `t` at `seed`.
    let runPart (options: RunOptions) (size: SuiteSize) (device: TorchSharp.torch.Device) (t: SuiteTask) (seed: int) : SuiteArmResult list =
        let rel = Path.Combine("uniloss", dirName size, SuiteTrain.taskId t, sprintf "seed%d" seed)
        use run = Run.Open(options, rel, kind, { Task = SuiteTrain.taskId t; Seed = seed; Size = size })

        if run.IsFinished then
            let r = run.Result<SuiteArmResult list>()
            if (r |> List.map (fun a -> a.Arm)) <> SuiteTrain.arms t then run.DamagedResult "does not hold the task's arms in order"
            r
        else
            let d = SuiteTrain.data false t size seed

            let res =
                [ for arm in SuiteTrain.arms t ->
                      let sw = Diagnostics.Stopwatch.StartNew()
                      let v = SuiteTrain.run t d size seed arm device
                      printfn "  [suite %s seed %d] %s: %s %.4f (%.1f s)" (SuiteTrain.taskId t) seed arm (SuiteTrain.metricName t) v sw.Elapsed.TotalSeconds
                      { Arm = arm; Value = v; Seconds = sw.Elapsed.TotalSeconds } ]

            run.Finish res
            res

    let private f4 (x: float) = x.ToString("F4", CultureInfo.InvariantCulture)

    let private compare (what: string) (d: AutoDesign.Metrics.SampleStats) =
        let reading =
            match Paired.verdict d with
            | Reproduced -> "UniLoss better"
            | NotReproduced -> "UniLoss worse"
            | Inconclusive -> "no difference resolved (the interval contains 0)"

        sprintf "UniLoss - %s %s: %s" what (Paired.interval 4 d) reading

    /// Rows, suite.csv and suite_gaps.png (per-seed UniLoss - CE and UniLoss - peer per task) from all parts.
    let rows (options: RunOptions) (size: SuiteSize) (device: TorchSharp.torch.Device) (firstSeed: int) : ReportRow list =
        let seedList = [ firstSeed .. firstSeed + seeds - 1 ]
        let results = [ for t in SuiteTrain.all -> t, [ for s in seedList -> s, runPart options size device t s ] ]
        let outDir = Path.Combine(options.Root, "uniloss", dirName size)
        Directory.CreateDirectory outDir |> ignore

        let csv =
            "task,metric,arm,seed,value,seconds"
            :: [ for (t, per) in results do
                     for (s, arms) in per do
                         for a in arms ->
                             sprintf
                                 "%s,%s,%s,%d,%s,%s"
                                 (SuiteTrain.taskId t)
                                 (SuiteTrain.metricName t)
                                 a.Arm
                                 s
                                 (a.Value.ToString("R", CultureInfo.InvariantCulture))
                                 (a.Seconds.ToString("F2", CultureInfo.InvariantCulture)) ]

        Atomic.writeAllText (Path.Combine(outDir, "suite.csv")) (String.Join("\n", csv) + "\n")
        let values (per: (int * SuiteArmResult list) list) arm = per |> List.map (fun (_, arms) -> (arms |> List.find (fun a -> a.Arm = arm)).Value)

        let gaps vs =
            [| for (k, (t, per)) in List.indexed results do
                   if List.contains vs (SuiteTrain.arms t) then
                       for (u, o) in List.zip (values per "uniloss") (values per vs) -> float (k + 1), u - o |]

        Plot.scatter
            (Path.Combine(outDir, "suite_gaps.png"))
            "uniloss/suite: default UniLoss minus CE / peer per seed (tasks 1-8 as in suite.csv)"
            "task"
            "metric difference"
            [ "UniLoss - CE", gaps "ce"; "UniLoss - peer", gaps "peer" ]

        let cfg =
            sprintf
                "%s: MLP %d-%d-outputs, %d epochs, %d seeds (%s); CE and default UniLoss (UniLossOptions() defaults, no hand-set score-gradient norm or tau) with the CE recipe SGD lr %g momentum %g weight decay %g; batch 128 (binary), 64 (multi-class), 8 queries (ranking), 16 images (segmentation); per-seed paired 95%% intervals"
                (if size = quickSize then "quick" else "full")
                784
                size.Hidden
                size.Epochs
                seeds
                (String.Join(", ", seedList))
                SuiteTrain.ceLr
                SuiteTrain.ceMomentum
                SuiteTrain.ceWeightDecay

        [ for (t, per) in results ->
              let ce, uni = values per "ce", values per "uniloss"
              let st xs = Paired.meanSd 4 (Paired.stats xs)
              let hasPeer = List.contains "peer" (SuiteTrain.arms t)
              let peer = if hasPeer then values per "peer" else []

              let measured =
                  sprintf
                      "test %s mean ± sd: CE %s, UniLoss %s%s. %s%s. Verdict: default UniLoss %s CE%s"
                      (SuiteTrain.metricName t)
                      (st ce)
                      (st uni)
                      (if hasPeer then sprintf ", peer %s" (st peer) else "")
                      (compare "CE" (Paired.difference uni ce))
                      (if hasPeer then "; " + compare "peer" (Paired.difference uni peer) else "")
                      (match Paired.verdict (Paired.difference uni ce) with
                       | Reproduced -> "beats"
                       | NotReproduced -> "falls short of"
                       | _ -> "is not resolved from")
                      (if hasPeer then
                           sprintf
                               " and %s the peer"
                               (match Paired.verdict (Paired.difference uni peer) with
                                | Reproduced -> "beats"
                                | NotReproduced -> "falls short of"
                                | _ -> "is not resolved from")
                       else
                           "")

              { System = "uniloss"
                Experiment = "suite"
                Claim = sprintf "%s (%s): default UniLoss >= CE and >= the peer on its own metric" (SuiteTrain.taskId t) (SuiteTrain.metricName t)
                Thesis = sprintf "— (beyond the thesis; peer: %s)" (SuiteTrain.peerName t)
                Measured = measured
                Config = cfg
                Data = SuiteTrain.describe t size } ]

    /// The experiment, parts one per (task, seed).
    let experiment: Experiment =
        let size (ctx: ExperimentContext) = if ctx.Quick then quickSize else fullSize

        { System = "uniloss"
          Name = "suite"
          Description =
            "metric suite: CE vs default UniLoss vs the peer method per metric (AP, AUROC, macro-F1, NDCG@5, mean IoU, accuracy), MLPs on Fashion-MNIST / MNIST stand-ins"
          Run = fun ctx -> rows ctx.Options (size ctx) ctx.Device ctx.Seed
          Parts =
            fun ctx ->
                [ for (part, tasks) in SuiteTrain.all |> List.groupBy SuiteTrain.partOf ->
                      ExperimentPart.create part (fun c ->
                          for t in tasks do
                              for s in c.Seed .. c.Seed + seeds - 1 do
                                  runPart c.Options (size c) c.Device t s |> ignore) ]
          Figures =
            fun ctx ->
                [ ReportFigure.create
                      "default UniLoss minus CE and minus the peer method, per task and seed"
                      (Path.Combine(ctx.Options.Root, "uniloss", dirName (size ctx), "suite_gaps.png")) ] }
