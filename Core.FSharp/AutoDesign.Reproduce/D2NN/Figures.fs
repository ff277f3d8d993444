namespace AutoDesign.Reproduce.D2NN

open System
open System.IO
open System.Globalization
open TorchSharp
open AutoDesign.Runs
open AutoDesign.Plots
open AutoDesign.D2NN

/// One series/point of a curve summarized over seeds.
type SeedSummary =
    { Series: string
      Recipe: string
      Lambda: float
      Steps: int
      Seeds: int
      Metric: float * float
      Cost: float * float
      Latency: float * float }

/// curve.csv/png, paths.csv/png and example images of a sweep (Fig. 2.2, 2.4, 2.5 analogues), per seed
/// and summarized over seeds (mean ± sd).
module Figures =
    let private inv (v: float) = if Double.IsNaN v then "" else v.ToString("0.#####", CultureInfo.InvariantCulture)

    /// Mean and sample standard deviation (0 for one value); NaN values are left out.
    let meanSd (xs: float list) =
        let ys = xs |> List.filter (Double.IsNaN >> not)
        AutoDesign.Metrics.Stats.mean ys, AutoDesign.Metrics.Stats.sd ys

    let private costAxis = "cost (fraction of the reference network's multiplications)"

    let private dcnSeries (dcn: DcnGlimpsePoint list) =
        if dcn.IsEmpty then [] else [ "DCN-style baseline (k = 1, 2, 4, 8)", [| for p in dcn -> p.Cost, p.Metric |] ]

    /// Static networks trained for the same steps as one series (each network one point).
    let private staticSeries (points: (int * float * float) list) =
        match points with
        | [] -> []
        | (steps, _, _) :: _ -> [ sprintf "static NNs, %d steps" steps, [| for (_, c, m) in points -> c, m |] ]

    /// Per-seed files in the sweep folder.
    let write (o: SweepOutcome) =
        let dir = o.Dir
        let metric = o.Task.Metric.Name
        let all = o.Baselines @ o.EqualBudget @ o.Points @ o.ExitCurve
        Sweep.writeCurve (Path.Combine(dir, "curve.csv")) metric (Func<CurvePoint, float>(o.LatencyOf)) all

        if not o.Dcn.IsEmpty then
            Csv.writeTable
                (Path.Combine(dir, "dcn.csv"))
                [ "k"; "accuracy"; "cost"; "mults" ]
                [ for p in o.Dcn -> List.map Cell.Text [ string p.K; inv p.Metric; inv p.Cost; p.Mults.ToString("0.###e+0", CultureInfo.InvariantCulture) ] ]

        Sweep.writePaths (Path.Combine(dir, "paths.csv")) o.Points

        let series =
            [ for r in o.Recipes ->
                  sprintf "D2NN %s" r.Name,
                  [| for p in o.Points do
                         if p.Recipe = r.Name then yield p.Result.Cost, p.Result.Metric |]
                  |> Array.sortBy fst ]
            @ staticSeries [ for b in o.Baselines -> b.Steps, b.Result.Cost, b.Result.Metric ]
            @ staticSeries [ for b in o.EqualBudget -> b.Steps, b.Result.Cost, b.Result.Metric ]
            @ dcnSeries o.Dcn
            @ (if o.EarlyExit.IsEmpty then
                   []
               else
                   [ "early exit (thresholds)", [| for p in o.ExitCurve -> p.Result.Cost, p.Result.Metric |] |> Array.sortBy fst ])

        Plot.scatter (Path.Combine(dir, "curve.png")) (sprintf "%s D2NN vs static NNs" o.Architecture.Name) costAxis metric series

        match o.Recipes with
        | main :: _ ->
            let pts = o.Points |> List.filter (fun p -> p.Recipe = main.Name)
            let names = pts |> List.collect (fun p -> [ for c in p.Result.Paths -> c.Path ]) |> List.distinct

            let fraction (p: CurvePoint) (path: string) =
                let n = p.Result.Paths |> Array.sumBy (fun c -> c.Count)

                match p.Result.Paths |> Array.tryFind (fun c -> c.Path = path) with
                | Some c -> float c.Count / float (max 1 n)
                | None -> 0.0

            Plot.lines
                (Path.Combine(dir, "paths.png"))
                (sprintf "%s (%s): examples per execution path" o.Architecture.Name main.Name)
                "lambda"
                "fraction of test examples"
                [ for n in names -> (if n = "" then "(none)" else n), [| for p in pts -> p.Lambda, fraction p n |] ]
            // up to 16 test images per execution path and λ
            for p in pts do
                for c in p.Result.Paths do
                    use _ = torch.NewDisposeScope()
                    use it = torch.tensor (c.Examples |> Array.map int64)
                    let name = if c.Path = "" then "none" else c.Path.Replace('+', '_')
                    ImageGrid.save (Path.Combine(dir, sprintf "examples-%s-l%s-%s.png" main.Name (inv p.Lambda) name)) (o.Task.TestX.index_select (0L, it)) 8
        | [] -> ()

    /// Every point of the seeds' sweeps summarized over seeds, in curve order (baselines, equal-budget
    /// baselines, recipes' λ points, DCN points).
    let summarize (outcomes: SweepOutcome list) : SeedSummary list =
        let first = List.head outcomes

        let keyed (o: SweepOutcome) =
            [ for p in o.Baselines @ o.EqualBudget @ o.Points @ o.ExitCurve ->
                  (p.Series, p.Recipe, inv p.Lambda, p.Steps), (p.Result.Metric, p.Result.Cost, o.LatencyOf p) ]
            @ [ for d in o.Dcn -> (sprintf "DCN-style baseline k=%d" d.K, "", "", first.Settings.D2nnTotalSteps), (d.Metric, d.Cost, nan) ]

        let perSeed = outcomes |> List.map keyed

        [ for (key, _) in keyed first ->
              let (series, recipe, lambda, steps) = key
              let vals = perSeed |> List.choose (List.tryFind (fst >> (=) key) >> Option.map snd)

              { Series = series
                Recipe = recipe
                Lambda = (if lambda = "" then nan else Double.Parse(lambda, CultureInfo.InvariantCulture))
                Steps = steps
                Seeds = vals.Length
                Metric = meanSd [ for (m, _, _) in vals -> m ]
                Cost = meanSd [ for (_, c, _) in vals -> c ]
                Latency = meanSd [ for (_, _, l) in vals -> l ] } ]

    /// curve.csv (mean and sd over seeds) and curve.png (means) in `dir`.
    let writeSummary (dir: string) (metric: string) (title: string) (rows: SeedSummary list) =
        Directory.CreateDirectory dir |> ignore

        Csv.writeTable
            (Path.Combine(dir, "curve.csv"))
            [ "series"
              "recipe"
              "lambda"
              "steps"
              "seeds"
              metric + "_mean"
              metric + "_sd"
              "cost_mean"
              "cost_sd"
              "latency_mean"
              "latency_sd" ]
            [ for r in rows ->
                  List.map
                      Cell.Text
                      [ r.Series
                        r.Recipe
                        inv r.Lambda
                        string r.Steps
                        string r.Seeds
                        inv (fst r.Metric)
                        inv (snd r.Metric)
                        inv (fst r.Cost)
                        inv (snd r.Cost)
                        inv (fst r.Latency)
                        inv (snd r.Latency) ] ]

        let recipes = rows |> List.map (fun r -> r.Recipe) |> List.filter ((<>) "") |> List.distinct

        let series =
            [ for rc in recipes ->
                  (if rc = "early-exit" then "early exit (mean of seeds)" else sprintf "D2NN %s (mean of seeds)" rc),
                  [| for r in rows do
                         if r.Recipe = rc then yield fst r.Cost, fst r.Metric |]
                  |> Array.sortBy fst ]
            @ [ for steps in
                    rows
                    |> List.filter (fun r -> r.Recipe = "" && not (r.Series.StartsWith "DCN"))
                    |> List.map (fun r -> r.Steps)
                    |> List.distinct ->
                    sprintf "static NNs, %d steps" steps,
                    [| for r in rows do
                           if r.Recipe = "" && r.Steps = steps && not (r.Series.StartsWith "DCN") then yield fst r.Cost, fst r.Metric |] ]
            @ (match rows |> List.filter (fun r -> r.Series.StartsWith "DCN") with
               | [] -> []
               | ds -> [ "DCN-style baseline (k = 1, 2, 4, 8)", [| for r in ds -> fst r.Cost, fst r.Metric |] ])

        Plot.scatter (Path.Combine(dir, "curve.png")) title costAxis metric series

    /// paths.csv/png in `dir`: for the first recipe, the mean fraction of test examples per execution path
    /// and λ over the seeds (Fig. 2.4).
    let writePathSummary (dir: string) (name: string) (outcomes: SweepOutcome list) =
        match (List.head outcomes).Recipes with
        | [] -> ()
        | main :: _ ->
            let pts = outcomes |> List.collect (fun o -> o.Points |> List.filter (fun p -> p.Recipe = main.Name))
            let lambdas = pts |> List.map (fun p -> p.Lambda) |> List.distinct |> List.sort
            let names = pts |> List.collect (fun p -> [ for c in p.Result.Paths -> c.Path ]) |> List.distinct |> List.sort

            let fraction (p: CurvePoint) (path: string) =
                let n = p.Result.Paths |> Array.sumBy (fun c -> c.Count)

                match p.Result.Paths |> Array.tryFind (fun c -> c.Path = path) with
                | Some c -> float c.Count / float (max 1 n)
                | None -> 0.0

            let mean l path = pts |> List.filter (fun p -> p.Lambda = l) |> List.map (fun p -> fraction p path) |> meanSd

            Csv.writeTable
                (Path.Combine(dir, "paths.csv"))
                [ "recipe"; "lambda"; "path"; "nodes"; "fraction_mean"; "fraction_sd" ]
                [ for l in lambdas do
                      for n in names ->
                          let m, sd = mean l n
                          List.map Cell.Text [ main.Name; inv l; n; string (if n = "" then 0 else n.Split('+').Length); inv m; inv sd ] ]

            Plot.lines
                (Path.Combine(dir, "paths.png"))
                (sprintf "%s (%s): examples per execution path, mean of seeds" name main.Name)
                "lambda"
                "fraction of test examples"
                [ for n in names -> (if n = "" then "(none)" else n), [| for l in lambdas -> l, fst (mean l n) |] ]
