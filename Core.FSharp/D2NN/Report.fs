namespace AutoDesign.Core.D2NN

open TorchSharp
open AutoDesign.Core.Reproduce

/// The D²NN experiments for `autodesign reproduce`: thesis claims beside measured numbers.
module D2nnExperiments =
    let private options (ctx: ExperimentContext) : ExperimentOptions =
        { Quick = ctx.Quick; Device = ctx.Device; Lambdas = None; Seed = ctx.Seed
          RunsRoot = ctx.RunsRoot; CrossEntropyWeight = None }

    let private fmtPoint (p: CurvePoint) = sprintf "%.3f at cost %.3f" p.Metric p.Cost

    let private sweepRows (name: string) (claim: string) (thesis: string) (ctx: ExperimentContext) =
        let o = options ctx
        let r = D2nnExperiment.sweep name o
        let cfg = D2nnExperiment.sweepConfig r.Architecture o
        let best = r.D2nn |> List.maxBy (fun p -> p.Metric)
        let cheapest = r.D2nn |> List.minBy (fun p -> p.Cost)
        let measured =
            [ for b in r.Baselines -> sprintf "%s %s" b.Series (fmtPoint b) ]
            @ [ for p in r.D2nn -> sprintf "D2NN λ=%g %s" (Option.defaultValue nan p.Lambda) (fmtPoint p) ]
            |> String.concat "; "
        [ { System = "d2nn"; Experiment = name; Claim = claim; Thesis = thesis
            Measured = sprintf "%s (%s). Best D2NN %s; cheapest %s" measured r.Task.Metric.Name (fmtPoint best) (fmtPoint cheapest)
            Config = sprintf "%s: %d train / %d test, %d steps per D2NN, λ=%s, unified Q-learning, mini-bags of %d; %s"
                        (if ctx.Quick then "quick" else "full") r.Task.TrainY.Length r.Task.TestY.Length cfg.Spec.Steps
                        (cfg.Lambdas |> List.map string |> String.concat ",") cfg.Spec.BagSize r.Dir
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
              "ILSVRC-10: full-NN accuracy at ~50% of the multiplications" ]
