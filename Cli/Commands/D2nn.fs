/// `autodesign d2nn highlow|cascade|chain|hierarchical ...`: λ sweeps of the D²NN architectures.
module AutoDesign.Cli.Commands.D2nn

open System
open Argu
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

type D2nnArgs =
    | [<CliPrefix(CliPrefix.None)>] Highlow of ParseResults<D2nnExpArgs>
    | [<CliPrefix(CliPrefix.None)>] Cascade of ParseResults<D2nnExpArgs>
    | [<CliPrefix(CliPrefix.None)>] Chain of ParseResults<D2nnExpArgs>
    | [<CliPrefix(CliPrefix.None)>] Hierarchical of ParseResults<D2nnExpArgs>
    | [<CliPrefix(CliPrefix.None)>] Dcn of ParseResults<D2nnExpArgs>
    | [<CliPrefix(CliPrefix.None)>] Bench of ParseResults<D2nnExpArgs>
    interface IArgParserTemplate with
        member a.Usage =
            match a with
            | Highlow _ -> "high-low capacity D²NN vs High/Low NN (Fashion-MNIST 1-vs-rest, F1; stand-in for LFW-B)."
            | Cascade _ -> "cascade D²NN vs four static NNs (stand-in for LFW-B)."
            | Chain _ -> "chain D²NN vs lowest/highest capacity paths (stand-in for LFW-B)."
            | Hierarchical _ -> "hierarchical D²NN on the 2/5/10 Fashion-MNIST hierarchy (stand-in for ILSVRC-10)."
            | Dcn _ -> "length-4 chain D²NN on Cluttered MNIST built from the embedded digits (DCN comparison, Fig. 2.6)."
            | Bench _ -> "cascade at the λ nearest 50% multiplications: wall-time fraction vs multiplication fraction."

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
    { Quick = r.Contains Quick
      Device = device
      Lambdas = lambdas
      Seed = r.GetResult(Seed, defaultValue = 1)
      RunsRoot = r.GetResult(Runs, defaultValue = "runs")
      CrossEntropyWeight =
        (if r.Contains Unified_Q then
            if r.Contains Ce_Weight then Errors.fail "--unified-q and --ce-weight exclude each other"
            None
         else Some(r.GetResult(Ce_Weight, defaultValue = 1.0)))
      DetachControlInputs = not (r.Contains Joint_Control_Grad)
      WarmupSteps =
        r.TryGetResult Warmup_Steps
        |> Option.map (fun w -> if w < 0 then Errors.fail "--warmup-steps must be >= 0, got %d" w else w)
      InheritBaselines = not (r.Contains No_Inherit)
      Cost = costUnit "mults" r }

/// `bench d2nn`: the cascade's wall-time fraction against its multiplication fraction, measured in one run
/// (fast form and latency cost unless told otherwise).
let bench (sub: ParseResults<D2nnExpArgs>) =
    let o = { options sub with Cost = costUnit "latency" sub }
    let arch = D2nnExperiment.architecture (architectureName "cascade" "fast" sub)
    D2nnBench.run arch o 5 |> ignore
    0

let handle (r: ParseResults<D2nnArgs>) =
    match r.GetSubCommand() with
    | Bench s -> bench s
    | _ ->
    let name, sub =
        match r.GetSubCommand() with
        | Highlow s -> "highlow", s
        | Cascade s -> "cascade", s
        | Chain s -> "chain", s
        | Hierarchical s -> "hierarchical", s
        | Dcn s -> "dcn", s
        | Bench s -> "bench", s
    let outcome = D2nnExperiment.sweep (architectureName name "thesis" sub) (options sub)
    printfn "results in %s" outcome.Dir
    0
