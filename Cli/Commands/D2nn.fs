/// `autodesign d2nn highlow|cascade|chain|hierarchical|dcn ...`: λ sweeps of the D²NN architectures, each a
/// run of runs (static baselines, warm start, one run per recipe and λ) that a job launcher can split by stage.
module AutoDesign.Cli.Commands.D2nn

open System
open System.IO
open Argu
open TorchSharp
open AutoDesign.Runs
open AutoDesign.D2NN
open AutoDesign.Reproduce.D2NN
open AutoDesign.Cli
open AutoDesign.Cli.Globals

/// `--cost`.
type CostArg =
    | Mults
    | Latency

/// `--form` (cascade only).
type FormArg =
    | Thesis
    | Fast

/// `--only`: one stage of a sweep.
type StageArg =
    | All
    | Baselines
    | Latency
    | Warm_Start
    | Points
    | Early_Exit

[<CliPrefix(CliPrefix.DoubleDash)>]
type D2nnExpArgs =
    | Quick
    | Seed of int
    | Seeds of int
    | Lambdas of float list
    | Ce_Weight of float
    | Unified_Q
    | Joint_Control_Grad
    | Warmup_Steps of int
    | No_Inherit
    | Cost of CostArg
    | Latency_Batch of int
    | Form of FormArg
    | Only of StageArg
    | Thesis_Recipe
    | No_Equal_Budget
    | Bags_At_Sampled_Prior
    | Steps of int
    | Train_Size of int
    | Test_Size of int
    | Batch of int
    | Checkpoint_Every of int

    interface IArgParserTemplate with
        member a.Usage =
            match a with
            | Quick -> "small config that runs in minutes on 2 cores."
            | Seed _ -> "random seed (default 1)."
            | Seeds _ -> "sweep seeds seed..seed+N-1, each a job of the launcher (default 1)."
            | Lambdas _ -> "trade-off weights λ in [0,1], e.g. --lambdas 0.5 0.9 (default: a sweep)."
            | Ce_Weight _ -> "weight of the regular nodes' cross-entropy loss (default 1)."
            | Unified_Q -> "train regular nodes with Q-learning on their class scores (the thesis's unified approach) instead of cross-entropy."
            | Joint_Control_Grad -> "let the control nodes' Q-learning gradient flow into the regular nodes feeding them (default: stopped)."
            | Warmup_Steps _ ->
                "warm start: steps of cross-entropy training of the regular nodes under random routing before Q-learning (default: half the training steps; 0: none)."
            | No_Inherit -> "do not initialize the D²NN's regular nodes from the trained static baselines (default: inherit where node names match)."
            | Cost _ ->
                "what the reward's cost counts: multiplications (the thesis) or wall time per example from a latency table measured on this machine before training, saved as latency.json in the run folder (default: mults; bench: latency)."
            | Latency_Batch _ -> "--cost latency: inference batch size the latency table is measured for (default 256; 1: one image at a time)."
            | Form _ ->
                "cascade only: the thesis's four independent networks, or one shared downsampling trunk with exits whose cheap path is cheap in wall time (default: thesis; bench: fast)."
            | Only _ ->
                "train one stage of the sweep and refuse to train unfinished dependencies (default all: every stage, then curve.csv and the figures). With a launcher, one seed's sweep runs as jobs: baselines, latency, warm-start, then each λ; early-exit (cascade and high-low: the early-exit baseline) beside them."
            | Thesis_Recipe ->
                "also train every λ with the thesis's recipe (unified Q-learning, fully joint gradients), beside the recipe the other options choose."
            | No_Equal_Budget -> "do not continue the static baselines to the D²NN's total training."
            | Bags_At_Sampled_Prior ->
                "score class-balanced mini-bags at the sampled class prior (default: re-weighted to the data's prior, which is the test prior)."
            | Steps _ ->
                "static-baseline steps B (warm-up B/2, B Q-learning steps per λ; quick: 90, 180 for dcn, 72 for hierarchical); sweeps with sizes set go to d2nn/<arch>-sized."
            | Train_Size _ ->
                "training examples (quick 2000, full 55000); a validation split, on which λ and thresholds are chosen, is carved from the other training images (quick 500, full 5000; with --train-size a quarter of it)."
            | Test_Size _ -> "test examples (quick 1000, full 10000)."
            | Batch _ -> "mini-batch size (quick 32, full 64)."
            | Checkpoint_Every _ -> "commit a checkpoint every N steps (quick 50, full 500)."

type D2nnArgs =
    | [<CliPrefix(CliPrefix.None)>] Highlow of ParseResults<D2nnExpArgs>
    | [<CliPrefix(CliPrefix.None)>] Cascade of ParseResults<D2nnExpArgs>
    | [<CliPrefix(CliPrefix.None)>] Chain of ParseResults<D2nnExpArgs>
    | [<CliPrefix(CliPrefix.None)>] Hierarchical of ParseResults<D2nnExpArgs>
    | [<CliPrefix(CliPrefix.None)>] Dcn of ParseResults<D2nnExpArgs>
    | [<CliPrefix(CliPrefix.None)>] Cascade_Fashion10 of ParseResults<D2nnExpArgs>
    | [<CliPrefix(CliPrefix.None)>] Latency_Tables of ParseResults<LatencyTablesArgs>

    interface IArgParserTemplate with
        member a.Usage =
            match a with
            | Highlow _ -> "high-low capacity D²NN vs High/Low NN (Fashion-MNIST 1-vs-rest, F1; stand-in for LFW-B)."
            | Cascade _ -> "cascade D²NN vs four static NNs (stand-in for LFW-B)."
            | Chain _ -> "chain D²NN vs lowest/highest capacity paths (stand-in for LFW-B)."
            | Hierarchical _ -> "hierarchical D²NN on the 2/5/10 Fashion-MNIST hierarchy (stand-in for ILSVRC-10)."
            | Dcn _ -> "length-4 chain D²NN on Cluttered MNIST built from the embedded digits (DCN comparison, Fig. 2.6)."
            | Cascade_Fashion10 _ ->
                "the cascade's fast form with 10-class exits on Fashion-MNIST's ten classes (accuracy; mixed difficulty: four confusable tops), with the early-exit baseline."
            | Latency_Tables _ -> "measure the latency tables of every architecture (D²NN and baselines) that reproduce uses for the modeled time fraction."

and [<CliPrefix(CliPrefix.DoubleDash)>] LatencyTablesArgs =
    | Out of dir: string
    | [<CustomCommandLine("--latency-batch")>] Tables_Batch of int
    | [<CustomCommandLine("--only")>] Tables_Only of architecture: string

    interface IArgParserTemplate with
        member a.Usage =
            match a with
            | Out _ -> "folder for <arch>.json (default Core.FSharp/AutoDesign.Reproduce/D2NN/latency)."
            | Tables_Batch _ -> "inference batch the tables are for (default 256)."
            | Tables_Only _ -> "one architecture only."

/// `--cost` and `--latency-batch` (default `defaultCost`).
let costUnit (defaultCost: CostArg) (r: ParseResults<D2nnExpArgs>) : CostUnit =
    let batch = Values.positive "latency-batch" (r.GetResult(Latency_Batch, defaultValue = 256))

    match r.GetResult(Cost, defaultValue = defaultCost) with
    | Mults ->
        if r.Contains Latency_Batch then Errors.fail "--latency-batch applies to --cost latency only"
        CostUnit.Mults
    | CostArg.Latency -> Wall batch

/// The architecture a command runs: `name`, or the cascade's fast form with `--form fast`.
let architectureName (name: string) (defaultForm: FormArg) (r: ParseResults<D2nnExpArgs>) =
    match name, r.GetResult(Form, defaultValue = defaultForm) with
    | _, Thesis -> name
    | "cascade", Fast -> "cascade-fast"
    | _, Fast -> Errors.fail "--form fast exists for the cascade only, not for %s" name

let options (g: Globals) (r: ParseResults<D2nnExpArgs>) : ExperimentOptions =
    let lambdas =
        r.TryGetResult Lambdas
        |> Option.map (fun ls ->
            if ls.IsEmpty then Errors.fail "--lambdas is empty (give numbers in [0, 1], e.g. --lambdas 0.5 0.9)"
            ls |> List.map (Values.between "lambdas" 0.0 1.0))

    let regular =
        if r.Contains Unified_Q then
            if r.Contains Ce_Weight then Errors.fail "--unified-q and --ce-weight exclude each other"
            UnifiedQ
        else
            CrossEntropy(Values.nonNegativeReal "ce-weight" (r.GetResult(Ce_Weight, defaultValue = 1.0)))

    let stage =
        match r.GetResult(Only, defaultValue = All) with
        | All -> SweepStage.All
        | Baselines -> SweepStage.Baselines
        | StageArg.Latency -> LatencyTablesStage
        | Warm_Start -> WarmStart
        | Points -> SweepStage.Points
        | Early_Exit -> EarlyExitStage

    // the first seed (all of them checked)
    let seed = List.head (Values.Read.Seeds(r, Seed, Seeds))

    { ExperimentOptions.Defaults(g.RunsRoot) with
        Quick = r.Contains Quick
        Device = g.Start()
        Threads = g.Threads
        Lambdas = lambdas
        Seed = seed
        Runs = g.RunOptions
        Recipe = { RegularLoss = regular; DetachControlInputs = not (r.Contains Joint_Control_Grad) }
        ThesisRecipe = r.Contains Thesis_Recipe
        WarmupSteps = r.TryGetResult Warmup_Steps |> Option.map (Values.nonNegative "warmup-steps")
        InheritBaselines = not (r.Contains No_Inherit)
        EqualBudget = not (r.Contains No_Equal_Budget)
        BagsAtDataPrior = not (r.Contains Bags_At_Sampled_Prior)
        Cost = costUnit Mults r
        Stage = stage
        Sizes =
            { Steps = r.TryGetResult Steps |> Option.map (Values.positive "steps")
              Train = r.TryGetResult Train_Size |> Option.map (Values.positive "train-size")
              Test = r.TryGetResult Test_Size |> Option.map (Values.positive "test-size")
              Batch = r.TryGetResult Batch |> Option.map (Values.positive "batch") }
        CheckpointEvery = r.TryGetResult Checkpoint_Every |> Option.map (Values.positive "checkpoint-every") }

/// One seed's sweep as jobs of the launcher: the baselines, the latency table (--cost latency), the warm
/// start, then every λ point after them; each job is `sweepLine` with `--only STAGE` (and `--lambdas λ`).
let private stageJobs (g: Globals) (o: ExperimentOptions) (archName: string) (sweepLine: D2nnExpArgs list -> string list) =
    let dir = Path.Combine(g.RunsRoot, "jobs", sprintf "d2nn-%s-%s" archName g.Key)
    let id name = sprintf "d2nn/%s/%s" archName name

    [ for (name, so, deps) in D2nnExperiment.stages (D2nnExperiment.architecture archName) o ->
          let narrowing =
              match so.Stage, so.Lambdas with
              | SweepStage.Points, Some [ l ] -> [ Only Points; Lambdas [ l ] ]
              | SweepStage.Points, _ -> [ Only Points ]
              | SweepStage.Baselines, _ -> [ Only Baselines ]
              | LatencyTablesStage, _ -> [ Only StageArg.Latency ]
              | WarmStart, _ -> [ Only Warm_Start ]
              | EarlyExitStage, _ -> [ Only Early_Exit ]
              | SweepStage.All, _ -> [ Only All ]

          { Jobs.job g (id name) (sweepLine narrowing) (Path.Combine(dir, name)) with DependsOn = deps |> List.map id } ]

/// `bench d2nn`: the cascade's wall-time fraction against its multiplication fraction, measured in one run
/// (fast form and latency cost unless told otherwise).
let bench (g: Globals) (sub: ParseResults<D2nnExpArgs>) =
    g.NoJobs "bench d2nn"
    let o = { options g sub with Cost = costUnit CostArg.Latency sub }
    let arch = D2nnExperiment.architecture (architectureName "cascade" Fast sub)
    D2nnBench.run arch o 5 |> ignore
    0

/// `d2nn latency-tables`: the stored latency tables of every experiment architecture, measured on one thread.
let latencyTables (r: ParseResults<LatencyTablesArgs>) =
    let out = r.GetResult(Out, defaultValue = Path.Combine("Core.FSharp", "AutoDesign.Reproduce", "D2NN", "latency"))
    let batch = Values.positive "latency-batch" (r.GetResult(Tables_Batch, defaultValue = 256))

    let archs =
        match r.TryGetResult Tables_Only with
        | Some a -> [ D2nnExperiment.architecture a ]
        | None -> D2nnExperiment.architectures

    Atomic.prepareFolder "--out" out

    for a in archs do
        Atomic.checkTarget (Path.Combine(out, a.Name + ".json"))

    torch.set_num_threads 1

    for a in archs do
        let t = StoredLatency.measure a (D2nnExperiment.inputShape a) batch 1
        let path = Path.Combine(out, a.Name + ".json")
        Latency.saveTables path t
        printfn "%s: reference %s %.4f ms/example at batch %d -> %s" a.Name a.Reference.Name ((t.Table a.Reference.Name).FullPerExampleMs batch) batch path

    0

let handle (g: Globals) (line: Jobs.Line<D2nnArgs>) (r: ParseResults<D2nnArgs>) =
    let sweep name (case: ParseResults<D2nnExpArgs> -> D2nnArgs) (sub: ParseResults<D2nnExpArgs>) =
        let o = options g sub
        let archName = architectureName name Thesis sub
        let seeds = Values.Read.Seeds(sub, Seed, Seeds)
        let narrowed (replace: D2nnExpArgs list) = line (Jobs.only r (case (Jobs.narrow sub replace)))

        let g' =
            match g.LauncherChoice with
            | Some _ when seeds.Length > 1 -> Jobs.seeds g ("d2nn-" + archName) seeds (fun k -> narrowed [ Seed k; Seeds 1 ])
            | Some choice when o.Stage = SweepStage.All ->
                Jobs.run g choice (stageJobs g o archName narrowed)
                { g with Force = false }
            | _ -> g

        for seed in seeds do
            let outcome = D2nnExperiment.sweep archName { o with Seed = seed; Runs = g'.RunOptions }
            printfn "results in %s" outcome.Dir

        0

    match r.GetSubCommand() with
    | Latency_Tables s ->
        g.NoJobs "d2nn latency-tables"
        latencyTables s
    | Highlow s -> sweep "highlow" Highlow s
    | Cascade s -> sweep "cascade" Cascade s
    | Chain s -> sweep "chain" Chain s
    | Hierarchical s -> sweep "hierarchical" Hierarchical s
    | Dcn s -> sweep "dcn" Dcn s
    | Cascade_Fashion10 s -> sweep "cascade-fashion10" Cascade_Fashion10 s
