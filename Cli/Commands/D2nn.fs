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

[<CliPrefix(CliPrefix.DoubleDash)>]
type D2nnExpArgs =
    | Quick
    | Device of string
    | Lambdas of string
    | Seed of int
    | Runs of dir: string
    | Ce_Weight of float
    | Unified_Q
    | Joint_Control_Grad
    | Warmup_Steps of int
    | No_Inherit
    | Cost of string
    | Latency_Batch of int
    | Form of string
    | Threads of int
    | Only of stage: string
    | Thesis_Recipe
    | No_Equal_Budget
    | Bags_At_Sampled_Prior
    | Steps of int
    | Train_Size of int
    | Test_Size of int
    | Batch of int
    | Checkpoint_Every of int
    | Force
    | Wait
    interface IArgParserTemplate with
        member a.Usage =
            match a with
            | Quick -> "small config that runs in minutes on 2 cores."
            | Device _ -> "auto|cpu|cuda (default auto)."
            | Lambdas _ -> "comma-separated trade-off weights λ in [0,1] (default: a sweep)."
            | Seed _ -> "random seed (default 1)."
            | Runs _ -> "runs root folder (default runs)."
            | Ce_Weight _ -> "weight of the regular nodes' cross-entropy loss (default 1)."
            | Unified_Q -> "train regular nodes with Q-learning on their class scores (the thesis's unified approach) instead of cross-entropy."
            | Joint_Control_Grad -> "let the control nodes' Q-learning gradient flow into the regular nodes feeding them (default: stopped)."
            | Warmup_Steps _ -> "warm start: steps of cross-entropy training of the regular nodes under random routing before Q-learning (default: half the training steps; 0: none)."
            | No_Inherit -> "do not initialize the D²NN's regular nodes from the trained static baselines (default: inherit where node names match)."
            | Cost _ -> "mults|latency: what the reward's cost counts, multiplications (the thesis) or wall time per example from a latency table measured on this machine before training and saved as latency.json in the run folder (default: mults; bench: latency)."
            | Latency_Batch _ -> "--cost latency: inference batch size the latency table is measured for (default 256; 1: one image at a time)."
            | Form _ -> "cascade only, thesis|fast: the thesis's four independent networks, or one shared downsampling trunk with exits whose cheap path is cheap in wall time (default: thesis; bench: fast)."
            | Threads _ -> "torch intra-op threads (default 1; results depend on it, so every run's configuration records it)."
            | Only _ -> "baselines|latency|warm-start|points: train one stage of the sweep and refuse to train unfinished dependencies (a job launcher runs baselines, then warm-start, then each λ as its own job: --only points --lambdas 0.7). Default: every stage, training whatever is missing, then curve.csv and the figures."
            | Thesis_Recipe -> "also train every λ with the thesis's recipe (unified Q-learning, fully joint gradients), beside the recipe the other options choose."
            | No_Equal_Budget -> "do not continue the static baselines to the D²NN's total training."
            | Bags_At_Sampled_Prior -> "score class-balanced mini-bags at the sampled class prior (default: re-weighted to the data's prior, which is the test prior)."
            | Steps _ -> "static-baseline steps B (warm-up B/2, B Q-learning steps per λ; quick: 150, 300 for dcn, 120 for hierarchical); sweeps with sizes set go to d2nn/<arch>-sized."
            | Train_Size _ -> "training examples (quick 2000, full 60000)."
            | Test_Size _ -> "test examples (quick 1000, full 10000)."
            | Batch _ -> "mini-batch size (quick 32, full 64)."
            | Checkpoint_Every _ -> "commit a checkpoint every N steps (quick 50, full 500)."
            | Force -> "discard run folders of another configuration."
            | Wait -> "wait for another process writing the same run folder instead of failing."

type D2nnArgs =
    | [<CliPrefix(CliPrefix.None)>] Highlow of ParseResults<D2nnExpArgs>
    | [<CliPrefix(CliPrefix.None)>] Cascade of ParseResults<D2nnExpArgs>
    | [<CliPrefix(CliPrefix.None)>] Chain of ParseResults<D2nnExpArgs>
    | [<CliPrefix(CliPrefix.None)>] Hierarchical of ParseResults<D2nnExpArgs>
    | [<CliPrefix(CliPrefix.None)>] Dcn of ParseResults<D2nnExpArgs>
    | [<CliPrefix(CliPrefix.None)>] Bench of ParseResults<D2nnExpArgs>
    | [<CliPrefix(CliPrefix.None)>] Latency_Tables of ParseResults<LatencyTablesArgs>
    interface IArgParserTemplate with
        member a.Usage =
            match a with
            | Highlow _ -> "high-low capacity D²NN vs High/Low NN (Fashion-MNIST 1-vs-rest, F1; stand-in for LFW-B)."
            | Cascade _ -> "cascade D²NN vs four static NNs (stand-in for LFW-B)."
            | Chain _ -> "chain D²NN vs lowest/highest capacity paths (stand-in for LFW-B)."
            | Hierarchical _ -> "hierarchical D²NN on the 2/5/10 Fashion-MNIST hierarchy (stand-in for ILSVRC-10)."
            | Dcn _ -> "length-4 chain D²NN on Cluttered MNIST built from the embedded digits (DCN comparison, Fig. 2.6)."
            | Bench _ -> "cascade at the λ nearest 50% multiplications: wall-time fraction vs multiplication fraction."
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

/// `--cost` and `--latency-batch` (default `defaultCost`: "mults" or "latency").
let costUnit (defaultCost: string) (r: ParseResults<D2nnExpArgs>) : CostUnit =
    let batch = r.GetResult(Latency_Batch, defaultValue = 256)
    if batch < 1 then Errors.fail "--latency-batch must be >= 1, got %d" batch
    match r.GetResult(Cost, defaultValue = defaultCost).ToLowerInvariant() with
    | "mults" | "multiplications" ->
        if r.Contains Latency_Batch then Errors.fail "--latency-batch applies to --cost latency only"
        Mults
    | "latency" | "wall" -> Wall batch
    | c -> Errors.fail "--cost: expected mults or latency, got '%s'" c

/// The architecture a command runs: `name`, or the cascade's fast form with `--form fast`.
let architectureName (name: string) (defaultForm: string) (r: ParseResults<D2nnExpArgs>) =
    match name, r.GetResult(Form, defaultValue = defaultForm).ToLowerInvariant() with
    | _, "thesis" -> name
    | "cascade", "fast" -> "cascade-fast"
    | _, "fast" -> Errors.fail "--form fast exists for the cascade only, not for %s" name
    | _, f -> Errors.fail "--form: expected thesis or fast, got '%s'" f

let private positive (name: string) (v: int) = if v < 1 then Errors.fail "--%s must be >= 1, got %d" name v else v

let options (r: ParseResults<D2nnExpArgs>) : ExperimentOptions =
    let device =
        match Device.parse (r.GetResult(Device, defaultValue = "auto")) with
        | Ok d -> AutoDesign.Runs.Device.resolve d
        | Error e -> Errors.fail "%s" e
    let lambdas =
        r.TryGetResult Lambdas
        |> Option.map (fun s ->
            s.Split(',', StringSplitOptions.RemoveEmptyEntries ||| StringSplitOptions.TrimEntries)
            |> Array.map (fun t ->
                match Double.TryParse(t, Globalization.NumberStyles.Float, Globalization.CultureInfo.InvariantCulture) with
                | true, v when v >= 0.0 && v <= 1.0 -> v
                | _ -> Errors.fail "--lambdas: '%s' is not a number in [0, 1]" t)
            |> List.ofArray)
    let regular =
        if r.Contains Unified_Q then
            if r.Contains Ce_Weight then Errors.fail "--unified-q and --ce-weight exclude each other"
            UnifiedQ
        else CrossEntropy(r.GetResult(Ce_Weight, defaultValue = 1.0))
    let stage =
        match r.TryGetResult Only |> Option.map (fun s -> s.ToLowerInvariant()) with
        | None | Some "all" -> All
        | Some "baselines" -> Baselines
        | Some "latency" -> LatencyTablesStage
        | Some "warm-start" -> WarmStart
        | Some "points" -> Points
        | Some other -> Errors.fail "--only: expected baselines, latency, warm-start or points, got '%s'" other
    let seed = r.GetResult(Seed, defaultValue = 1)
    if seed < 0 then Errors.fail "--seed must be >= 0, got %d" seed
    { ExperimentOptions.Defaults(r.GetResult(Runs, defaultValue = "runs")) with
        Quick = r.Contains Quick
        Device = device
        Threads = positive "threads" (r.GetResult(Threads, defaultValue = 1))
        Lambdas = lambdas
        Seed = seed
        Runs = { Root = r.GetResult(Runs, defaultValue = "runs"); Force = r.Contains Force; Wait = r.Contains Wait }
        Recipe = { RegularLoss = regular; DetachControlInputs = not (r.Contains Joint_Control_Grad) }
        ThesisRecipe = r.Contains Thesis_Recipe
        WarmupSteps =
            r.TryGetResult Warmup_Steps
            |> Option.map (fun w -> if w < 0 then Errors.fail "--warmup-steps must be >= 0, got %d" w else w)
        InheritBaselines = not (r.Contains No_Inherit)
        EqualBudget = not (r.Contains No_Equal_Budget)
        BagsAtDataPrior = not (r.Contains Bags_At_Sampled_Prior)
        Cost = costUnit "mults" r
        Stage = stage
        Sizes =
            { Steps = r.TryGetResult Steps |> Option.map (positive "steps")
              Train = r.TryGetResult Train_Size |> Option.map (positive "train-size")
              Test = r.TryGetResult Test_Size |> Option.map (positive "test-size")
              Batch = r.TryGetResult Batch |> Option.map (positive "batch") }
        CheckpointEvery = r.TryGetResult Checkpoint_Every |> Option.map (positive "checkpoint-every") }

/// `bench d2nn`: the cascade's wall-time fraction against its multiplication fraction, measured in one run
/// (fast form and latency cost unless told otherwise).
let bench (sub: ParseResults<D2nnExpArgs>) =
    let o = { options sub with Cost = costUnit "latency" sub }
    let arch = D2nnExperiment.architecture (architectureName "cascade" "fast" sub)
    D2nnBench.run arch o 5 |> ignore
    0

/// `d2nn latency-tables`: the stored latency tables of every experiment architecture, measured on one thread.
let latencyTables (r: ParseResults<LatencyTablesArgs>) =
    let out = r.GetResult(Out, defaultValue = Path.Combine("Core.FSharp", "AutoDesign.Reproduce", "D2NN", "latency"))
    let batch = positive "latency-batch" (r.GetResult(Tables_Batch, defaultValue = 256))
    let archs =
        match r.TryGetResult Tables_Only with
        | Some a -> [ D2nnExperiment.architecture a ]
        | None -> D2nnExperiment.architectures
    torch.set_num_threads 1
    Directory.CreateDirectory out |> ignore
    for a in archs do
        let t = StoredLatency.measure a (D2nnExperiment.inputShape a) batch 1
        let path = Path.Combine(out, a.Name + ".json")
        Latency.saveTables path t
        printfn "%s: reference %s %.4f ms/example at batch %d -> %s" a.Name a.Reference.Name ((t.Table a.Reference.Name).FullPerExampleMs batch) batch path
    0

let handle (r: ParseResults<D2nnArgs>) =
    let sweep name (sub: ParseResults<D2nnExpArgs>) =
        let outcome = D2nnExperiment.sweep (architectureName name "thesis" sub) (options sub)
        printfn "results in %s" outcome.Dir
        0
    match r.GetSubCommand() with
    | Bench s -> bench s
    | Latency_Tables s -> latencyTables s
    | Highlow s -> sweep "highlow" s
    | Cascade s -> sweep "cascade" s
    | Chain s -> sweep "chain" s
    | Hierarchical s -> sweep "hierarchical" s
    | Dcn s -> sweep "dcn" s
