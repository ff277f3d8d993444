namespace AutoDesign.Reproduce.DGGAN

open System
open System.IO
open AutoDesign.Runs
open AutoDesign.Plots
open AutoDesign.DGGAN
open AutoDesign.Metrics

/// Fig. 5.6 (right): replay Algorithm 1 with a smaller K' and p' on the recorded candidates only (the thesis's
/// simulation: a simulated child that the real search never trained is ignored).
module Simulation =
    /// One replay. Each recorded (parent, child) pair was sampled with probability p; keeping it with probability
    /// p'/p makes the simulated sampling ratio p'. Returns (normalised FID of the best final candidate, candidates
    /// trained); NaN when the replay reaches no final candidate.
    let replay (p: float) (search: CandidateRecord list) (baseline: CandidateRecord list) (k: int) (p': float) (rng: Random) =
        let b = Analysis.baselinePerResolution baseline
        let children = search |> List.filter (fun c -> c.Parent <> "") |> List.groupBy (fun c -> c.Parent) |> Map.ofList
        let roots = search |> List.filter (fun c -> c.Parent = "")
        let depth = search |> List.map (fun c -> c.Step) |> List.max
        let keep = min 1.0 (p' / p)
        let mutable parents = roots
        let mutable trained = roots.Length
        let mutable last = []

        for _ in 1..depth do
            let pairs = parents |> List.collect (fun x -> Map.tryFind x.Id children |> Option.defaultValue [])
            let kept = pairs |> List.filter (fun _ -> rng.NextDouble() < keep)
            let kept = if kept.IsEmpty && not pairs.IsEmpty then [ pairs.[rng.Next pairs.Length] ] else kept
            trained <- trained + kept.Length
            last <- kept
            parents <- Search.rank b kept |> List.ofSeq |> List.truncate k

        let finals = last |> List.map (Analysis.normalized b) |> List.filter Double.IsFinite
        (if finals.IsEmpty then nan else List.min finals), trained

    /// For every K' ≤ K and p' in {p/4, p/2, 3p/4, p}: mean over `trials` replays of the best final normalised FID
    /// (replays that reach no final candidate left out), how many replays reached one, and mean candidates trained.
    let grid (topK: int) (p: float) (search: CandidateRecord list) (baseline: CandidateRecord list) (trials: int) (seed: int) =
        [ for k in 1..topK do
              for frac in [ 0.25; 0.5; 0.75; 1.0 ] do
                  let p' = p * frac
                  let rng = Random(seed * 31 + k * 7 + int (frac * 4.0))
                  let runs = [ for _ in 1..trials -> replay p search baseline k p' rng ]
                  let ok = runs |> List.map fst |> List.filter Double.IsFinite
                  yield k, p', (if ok.IsEmpty then nan else List.average ok), ok.Length, runs |> List.averageBy (snd >> float) ]

    let csv rows =
        let inv (x: float) = x.ToString("G6", Globalization.CultureInfo.InvariantCulture)

        Csv.render
            [ "top_k"; "p"; "mean_best_normalized_fid"; "replays_reaching_final"; "mean_candidates_trained" ]
            [ for (k, p, m, n, c) in rows -> List.map Cell.Text [ string k; inv p; inv m; string n; inv c ] ]

/// The analyses as PNG plots (and the simulation as CSV) in a run folder.
module AnalysisPlots =
    /// Room on the right for the legend box: an extra point with a NaN y widens the x axis but draws nothing.
    let private legendRoom (series: (string * (float * float)[]) list) =
        let xs = series |> List.collect (fun (_, p) -> p |> Array.map fst |> List.ofArray) |> List.filter Double.IsFinite

        match series, xs with
        | (name, p) :: rest, _ :: _ ->
            let lo, hi = List.min xs, List.max xs
            (name, Array.append p [| hi + 0.35 * max 1.0 (hi - lo), nan |]) :: rest
        | _ -> series

    /// Fig. 5.4: log2(G/D parameter ratio) vs normalised FID; the best route drawn in its own colour.
    let ratioPlot (path: string) (search: CandidateRecord list) (baseline: CandidateRecord list) =
        let b = Analysis.baselinePerResolution baseline
        let route = Search.route search (Analysis.best search baseline) |> Seq.map (fun c -> c.Id) |> Set.ofSeq
        let pt (c: CandidateRecord) = Math.Log2(float c.GParams / float c.DParams), Analysis.normalized b c
        let diverged = search |> List.filter (fun c -> c.Diverged) |> List.length

        Plot.scatter
            path
            (sprintf "Fig 5.4 analogue: G/D ratio vs normalised FID (%d diverged not shown)" diverged)
            "log2(G params / D params)"
            "FID / ProgGAN FID at same resolution"
            (legendRoom
                [ "search candidates", search |> List.filter (fun c -> not (route.Contains c.Id)) |> List.map pt |> Array.ofList
                  "ProgGAN baseline", baseline |> List.map pt |> Array.ofList
                  "best route", search |> List.filter (fun c -> route.Contains c.Id) |> List.sortBy (fun c -> c.Step) |> List.map pt |> Array.ofList ])

    /// Fig. 5.5: per action, the share of improving children (top) and mean ± sd improvement (bottom, as bars).
    let actionPlots (sharePath: string) (improvementPath: string) (rows: ActionEffect list) =
        if not rows.IsEmpty then
            let indexed = rows |> List.mapi (fun i r -> float (i + 1), r)

            Plot.scatter
                sharePath
                "Fig 5.5 analogue (top): share of children improving on their parent"
                "action (legend)"
                "share improving"
                (legendRoom [ for (x, e) in indexed -> sprintf "%g: %s (n=%d)" x e.ActionName e.Children, [| x, e.ShareImproving |] ])

            Plot.lines
                improvementPath
                "Fig 5.5 (bottom): 1 - nFID(child)/nFID(parent), mean +- sd"
                "action (legend)"
                "improvement"
                (legendRoom
                    [ for (x, e) in indexed ->
                          let m, sd = e.MeanImprovement, e.SdImprovement
                          sprintf "%g: %s (n=%d)" x e.ActionName e.Children, [| x, m - sd; x, m + sd; x, m; x - 0.2, m; x + 0.2, m |] ])

    /// Fig. 5.6 (left): chance of a good child for good vs sub-optimal parents over thresholds.
    let parentPlot (path: string) (rows: ParentQualityRow list) =
        Plot.lines
            path
            "Fig 5.6 analogue (left): chance of a good child (nFID < t)"
            "threshold t on normalised FID"
            "share of good children"
            [ "good parents (nFID < t)", rows |> List.map (fun r -> r.Threshold, r.GoodParentShare) |> Array.ofList
              "sub-optimal parents", rows |> List.map (fun r -> r.Threshold, r.SuboptimalParentShare) |> Array.ofList ]

    /// Fig. 5.6 (right): best final normalised FID of replays with smaller K and p.
    let simulationPlot (path: string) (rows: (int * float * float * int * float) list) =
        Plot.lines
            path
            "Fig 5.6 analogue (right): replay with smaller K and p"
            "p"
            "mean best final normalised FID"
            [ for (k, rs) in rows |> List.groupBy (fun (k, _, _, _, _) -> k) -> sprintf "K = %d" k, rs |> List.map (fun (_, p, m, _, _) -> p, m) |> Array.ofList ]

    /// Write every analysis plot and the simulation CSV into `dir`.
    let writeAll (dir: string) (s: SearchSettings) (search: CandidateRecord list) (baseline: CandidateRecord list) =
        let f name = Path.Combine(dir, name)
        ratioPlot (f "fig5-4-g2d-ratio.png") search baseline
        actionPlots (f "fig5-5-action-share.png") (f "fig5-5-action-improvement.png") (Analysis.actionEffects search baseline |> List.ofSeq)
        parentPlot (f "fig5-6-parent-quality.png") (Analysis.parentQuality search baseline |> List.ofSeq)
        let sim = Simulation.grid s.TopK s.P search baseline 200 s.Seed
        Atomic.writeAllText (f "simulation.csv") (Simulation.csv sim)
        simulationPlot (f "fig5-6-simulation.png") sim
