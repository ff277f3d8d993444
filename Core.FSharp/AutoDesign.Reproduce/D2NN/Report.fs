namespace AutoDesign.Reproduce

open TorchSharp
open AutoDesign.Reproduce
open AutoDesign.D2NN
open AutoDesign.Reproduce.D2NN

/// The D²NN experiments for `autodesign reproduce`: thesis claims beside measured numbers.
module D2nnExperiments =
    let private options (ctx: ExperimentContext) : ExperimentOptions =
        { Quick = ctx.Quick; Device = ctx.Device; Lambdas = None; Seed = ctx.Seed
          RunsRoot = ctx.RunsRoot; CrossEntropyWeight = Some 1.0; DetachControlInputs = true
          WarmupSteps = None; InheritBaselines = true; Cost = Mults }

    let private fmtPoint (normalizer: float) (p: CurvePoint) =
        sprintf "%.3f at cost %.3f (%.3g mults)" p.Metric p.Cost (p.Cost * normalizer)

    let private sweepRows (name: string) (claim: string) (thesis: string) (ctx: ExperimentContext) =
        let o = options ctx
        let r = D2nnExperiment.sweep name o
        let cfg = D2nnExperiment.sweepConfig r.Architecture o
        let best = r.D2nn |> List.maxBy (fun p -> p.Metric)
        let cheapest = r.D2nn |> List.minBy (fun p -> p.Cost)
        let fmtPoint = fmtPoint r.Normalizer
        let reference = r.Baselines.Head
        let close =
            match r.D2nn |> List.filter (fun p -> p.Metric >= reference.Metric - 0.03) with
            | [] -> sprintf "no D2NN point within 0.03 of %s" reference.Series
            | ps -> let p = ps |> List.minBy (fun p -> p.Cost) in sprintf "cheapest D2NN within 0.03 of %s: λ=%g %s" reference.Series (Option.defaultValue nan p.Lambda) (fmtPoint p)
        let measured =
            [ for b in r.Baselines -> sprintf "%s %s" b.Series (fmtPoint b) ]
            @ [ for p in r.D2nn -> sprintf "D2NN λ=%g %s" (Option.defaultValue nan p.Lambda) (fmtPoint p) ]
            |> String.concat "; "
        [ { System = "d2nn"; Experiment = name; Claim = claim; Thesis = thesis
            Measured = sprintf "%s (%s). Best D2NN %s; cheapest %s; %s" measured r.Task.Metric.Name (fmtPoint best) (fmtPoint cheapest) close
            Config = sprintf "%s: %d train / %d test, %d steps per D2NN, λ=%s, %s; %s"
                        (if ctx.Quick then "quick" else "full") r.Task.TrainY.Length r.Task.TestY.Length cfg.Spec.Steps
                        (cfg.Lambdas |> List.map string |> String.concat ",") (D2nnExperiment.describeRecipe cfg) r.Dir
            Data = r.Task.Data } ]

    let private exp name desc claim thesis =
        { System = "d2nn"; Name = name; Description = desc; Run = sweepRows name claim thesis }

    let all : Experiment list =
        [ exp "highlow" "high-low capacity D2NN, F1-cost curve (Fig. 2.2a, 2.4 left, 2.5 left)"
              "D2NN reaches points as fast as the low-capacity NN and as accurate as the high-capacity NN"
              "LFW-B: curve close to the upper bound; F1 of High NN at a cost near Low NN"
          exp "cascade" "cascade D2NN vs four static NNs (Fig. 2.2b)"
              "cascade D2NN beats the static NNs' trade-off, near-optimal with much less computation"
              "LFW-B: negligible F1 loss with significantly reduced cost"
          exp "chain" "chain D2NN (merging paths) vs lowest/highest capacity paths (Fig. 2.2c)"
              "chain D2NN speeds up computation significantly with little accuracy loss"
              "LFW-B: close-to-optimal trade-off curve"
          exp "hierarchical" "hierarchical D2NN on a 2/5/10 class hierarchy (Fig. 2.2d, 2.4 right)"
              "hierarchical D2NN matches the full network's accuracy at about half the cost"
              "ILSVRC-10: full-NN accuracy at ~50% of the multiplications"
          exp "dcn" "length-4 chain D2NN on Cluttered MNIST, accuracy-cost curve (Fig. 2.6, DCN comparison)"
              "a length-4 chain D2NN reaches DCN-level accuracy at a lower cost"
              "CMNIST 100x100: D2NN 0.9698 at 2.66e7 mults vs DCN 0.9861 at 2.77e7 (DRAW 0.9664, RAM 0.9189)" ]
