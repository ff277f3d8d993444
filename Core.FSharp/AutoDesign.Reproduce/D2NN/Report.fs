namespace AutoDesign.Reproduce

open System
open System.IO
open AutoDesign.D2NN
open AutoDesign.Reproduce.D2NN

/// The D²NN experiments for `autodesign reproduce`: thesis claims beside measured numbers, each
/// architecture over three seeds (separate sweep folders d2nn/<arch>-quick-v2/seed<k>, run one after another).
module D2nnExperiments =
    /// Seeds per architecture.
    let seedCount = 3

    let private options (ctx: ExperimentContext) : ExperimentOptions =
        { ExperimentOptions.Defaults ctx.RunsRoot with
            Quick = ctx.Quick
            Device = ctx.Device
            Threads = ctx.Threads
            Seed = ctx.Seed
            Runs = ctx.Options
            // the thesis's unified-Q recipe doubles every λ point: full configs only (the quick budget)
            ThesisRecipe = not ctx.Quick }

    /// "0.752±0.013", or "n/a" for a missing value.
    let private pm (m: float, s: float) = if Double.IsNaN m then "n/a" else sprintf "%.3f±%.3f" m s

    /// "0.752±0.013 at 0.100±0.004 mults, 0.210±0.006 time".
    let private fmt (r: SeedSummary) = sprintf "%s at %s mults, %s time" (pm r.Metric) (pm r.Cost) (pm r.Latency)

    let private label (r: SeedSummary) =
        if r.Recipe = "" then sprintf "%s (%d steps)" r.Series r.Steps
        elif r.Recipe = "early-exit" then sprintf "early exit t=%g" r.Lambda
        else sprintf "D2NN λ=%g" r.Lambda

    /// Rows of one recipe: every baseline (at its own steps and at the D²NN's total), the recipe's λ points
    /// and the DCN baseline if any (the chosen operating points are in the verdict rows).
    let private recipeRow
        (name: string)
        (claim: string)
        (thesis: string)
        (ctx: ExperimentContext)
        (outcomes: SweepOutcome list)
        (summary: SeedSummary list)
        (recipe: Recipe)
        (main: bool)
        =
        let o = List.head outcomes
        let s = o.Settings
        let refName = o.Architecture.Reference.Name
        let statics = summary |> List.filter (fun r -> r.Recipe = "" && not (r.Series.StartsWith "DCN"))
        let dcn = summary |> List.filter (fun r -> r.Series.StartsWith "DCN")
        let points = summary |> List.filter (fun r -> r.Recipe = recipe.Name)

        let measured =
            let exits = summary |> List.filter (fun r -> r.Recipe = "early-exit")

            [ for r in statics @ points @ (if main then dcn @ exits else []) -> sprintf "%s %s" (label r) (fmt r) ]
            |> String.concat "; "

        let seeds = outcomes |> List.map (fun o -> string o.Settings.Training.Seed) |> String.concat ","

        let latencyNote =
            match s.Cost, o.Latency with
            | Wall b, _ -> sprintf "time: latency tables measured by each sweep at batch %d" b
            | Mults, Some t -> sprintf "time: the stored latency tables (batch %d, D2NN/latency/%s.json)" t.Batch (D2nnExperiment.graphName o.Architecture)
            | Mults, None -> "time: n/a (no stored latency tables)"

        { System = "d2nn"
          Experiment = (if main then name else sprintf "%s (%s)" name recipe.Name)
          Claim = claim
          Thesis = thesis
          Measured =
            sprintf "%s mean±sd over seeds %s; cost as fractions of %s's multiplications and modeled time: %s" o.Task.Metric.Name seeds refName measured
          Config =
            sprintf
                "%s: %d train / %d test, seeds %s (one run folder per seed: d2nn/%s/seed<k> under the runs root); static NNs %d steps and, at equal training with the D2NNs, %d steps; %d Q-learning steps per D2NN after the warm start, λ=%s; %s; %s"
                (if ctx.Quick then "quick" else "full")
                o.Task.TrainY.Length
                o.Task.TestY.Length
                seeds
                (Path.GetFileName(Path.GetDirectoryName o.Dir))
                s.BaselineSteps
                s.D2nnTotalSteps
                s.Training.Steps
                (o.Lambdas |> List.map string |> String.concat ",")
                (D2nnExperiment.describe s [ recipe ])
                latencyNote
          Data = o.Task.Data }

    /// The rows of architecture `name` from `seedCount` seeds' sweeps run with `o` (seeds o.Seed, o.Seed + 1, ...).
    let rowsWith (name: string) (claim: string) (thesis: string) (ctx: ExperimentContext) (o: ExperimentOptions) =
        let arch = D2nnExperiment.architecture name
        if ctx.Threads < 1 then Errors.fail "threads must be at least 1, got %d" ctx.Threads
        let outcomes = [ for k in 0 .. seedCount - 1 -> D2nnExperiment.sweepSeed arch o (o.Seed + k) ]
        let summary = Figures.summarize outcomes
        let first = List.head outcomes
        let archDir = Path.GetDirectoryName first.Dir
        Figures.writeSummary archDir first.Task.Metric.Name (sprintf "%s D2NN vs static NNs, mean of %d seeds" name seedCount) summary
        Figures.writePathSummary archDir name outcomes
        let main = List.head o.Recipes

        [ for (i, r) in List.indexed o.Recipes -> recipeRow name claim thesis ctx outcomes summary r (i = 0) ]
        @ [ for v in D2nnVerdicts.verdicts outcomes main ->
                { System = "d2nn"
                  Experiment = sprintf "%s verdict: %s" name v.Comparison
                  Claim = claim
                  Thesis = thesis
                  Measured = v.Measured
                  Config =
                    sprintf
                        "%d seeds; operating points chosen on %d validation images carved from the training images (Selection: cheapest within %g of the reference's validation %s); paired 95%% t-intervals over seeds; recipe %s"
                        outcomes.Length
                        first.Task.ValY.Length
                        Selection.Tolerance
                        first.Task.Metric.Name
                        main.Name
                  Data = first.Task.Data } ]

    let private sweepRows (name: string) (claim: string) (thesis: string) (ctx: ExperimentContext) = rowsWith name claim thesis ctx (options ctx)

    let private exp name desc claim thesis =
        { System = "d2nn"
          Name = name
          Description = desc
          Run = sweepRows name claim thesis
          Parts =
            fun ctx ->
                let o = options ctx
                let arch = D2nnExperiment.architecture name
                // quick: a seed's stages take seconds each, about what starting a process costs, so one part
                // per seed (all its stages); full: one part per seed and stage
                if ctx.Quick then
                    ExperimentPart.perSeed seedCount (fun _ seed -> D2nnExperiment.sweepSeed arch o seed |> ignore) ctx
                else
                    [ for k in 0 .. seedCount - 1 do
                          let seed = o.Seed + k

                          for (stage, so, deps) in D2nnExperiment.stages arch o ->
                              { Id = sprintf "seed%d/%s" seed stage
                                DependsOn = deps |> List.map (sprintf "seed%d/%s" seed)
                                Run = fun _ -> D2nnExperiment.sweepSeed arch so seed |> ignore } ]
          Figures =
            fun ctx ->
                let o = options ctx

                let archDir =
                    Path.GetDirectoryName(Path.GetFullPath(Path.Combine(o.Runs.Root, D2nnExperiment.folder (D2nnExperiment.architecture name) o o.Seed)))

                [ ReportFigure.create
                      (sprintf "%s: %s against cost, mean of %d seeds (D2NN, static NNs, early exit where it fits)" name desc seedCount)
                      (Path.Combine(archDir, "curve.png")) ] }

    let all: Experiment list =
        [ exp
              "highlow"
              "high-low capacity D2NN, F1-cost curve (Fig. 2.2a, 2.4 left, 2.5 left)"
              "D2NN reaches points as fast as the low-capacity NN and as accurate as the high-capacity NN"
              "LFW-B: curve close to the upper bound; F1 of High NN at a cost near Low NN"
          exp
              "cascade"
              "cascade D2NN vs four static NNs (Fig. 2.2b)"
              "cascade D2NN beats the static NNs' trade-off, near-optimal with much less computation"
              "LFW-B: negligible F1 loss with significantly reduced cost"
          exp
              "chain"
              "chain D2NN (merging paths) vs lowest/highest capacity paths (Fig. 2.2c)"
              "chain D2NN speeds up computation significantly with little accuracy loss"
              "LFW-B: close-to-optimal trade-off curve"
          exp
              "hierarchical"
              "hierarchical D2NN on a 2/5/10 class hierarchy (Fig. 2.2d, 2.4 right)"
              "hierarchical D2NN matches the full network's accuracy at about half the cost"
              "ILSVRC-10: full-NN accuracy at ~50% of the multiplications"
          exp
              "dcn"
              "length-4 chain D2NN (identity low branches) vs a DCN-style glimpse baseline on Cluttered MNIST (Fig. 2.6)"
              "a length-4 chain D2NN reaches DCN-level accuracy at a lower cost"
              "CMNIST 100x100: D2NN 0.9698 at 2.66e7 mults vs DCN 0.9861 at 2.77e7 (DRAW 0.9664, RAM 0.9189)"
          exp
              "cascade-fashion10"
              "fast cascade D2NN vs its static NNs and the early exit on 10-class Fashion-MNIST, a task of mixed difficulty (docs/d2nn.md)"
              "a learned controller routes the hard inputs deeper and beats a confidence threshold's time at the reference's accuracy"
              "(not in the thesis: the cascade's claim, Fig. 2.2b, on a task where the cheapest exit is wrong on a real share of inputs)"
          exp
              "highlow-mixed"
              "high-low capacity D2NN vs its static NNs and the early exit on MNIST of mixed clutter and scale, digit 0 vs rest (docs/d2nn.md)"
              "the controller sends the clean inputs to the low-capacity path and the cluttered ones to the high-capacity path"
              "(not in the thesis: Fig. 2.2a's claim on inputs of mixed difficulty)"
          exp
              "highlow-mixed-long"
              "high-low capacity D2NN vs its static NNs and the early exit on MNIST of mixed clutter and scale, digit 0 vs rest, quick baseline budget 400 steps (docs/d2nn.md)"
              "the controller sends the clean inputs to the low-capacity path and the cluttered ones to the high-capacity path"
              "(not in the thesis: Fig. 2.2a's claim on inputs of mixed difficulty)"
          exp
              "cascade-mixed"
              "cascade D2NN vs its static NNs and the early exit on MNIST of mixed clutter and scale, digit 0 vs rest (docs/d2nn.md)"
              "a learned controller stops the clean inputs early and beats a confidence threshold's time at the reference's accuracy"
              "(not in the thesis: Fig. 2.2b's claim on inputs of mixed difficulty)"
          exp
              "hierarchical-mixed"
              "hierarchical D2NN vs the full network on 10-class MNIST of mixed clutter and scale (docs/d2nn.md)"
              "the hierarchical D2NN matches the full network's accuracy at a lower cost on inputs of mixed difficulty"
              "(not in the thesis: Fig. 2.2d's claim on inputs of mixed difficulty)" ]
