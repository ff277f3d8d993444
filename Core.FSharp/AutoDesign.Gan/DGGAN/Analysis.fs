namespace AutoDesign.DGGAN

open System
open System.IO
open System.Collections.Generic
open AutoDesign.Runs
open AutoDesign.Metrics

/// Fig. 5.5, one action: how many children it made, the share improving on their parent (normalised FID
/// lower), and the mean and sample sd of the improvement 1 − nFID(child)/nFID(parent).
type ActionEffect = { ActionName: string; Children: int; ShareImproving: float; MeanImprovement: float; SdImprovement: float }

/// Fig. 5.6, one threshold t: the share of good children (nFID < t) of good parents (nFID < t) and of
/// sub-optimal parents, with the number of children of each.
type ParentQualityRow =
    { Threshold: float
      GoodParentShare: float
      GoodParentChildren: int
      SuboptimalParentShare: float
      SuboptimalParentChildren: int }

/// One row of the per-resolution comparison (Table 5.1 analogue), like with like: the last model at that
/// resolution on DGGAN's best route against ProgGAN's last model at that resolution, both scored by their
/// fresh FID (samples and real images not used for selection), with the iterations each had in total; and, for
/// reference, the minimum selection FID of each method at that resolution.
type PerResolutionRow =
    { Resolution: int
      ProgGanId: string
      ProgGanFid: float
      ProgGanIterations: int
      DgganId: string
      DgganFid: float
      DgganIterations: int
      ProgGanMinSelectionFid: float
      DgganMinSelectionFid: float }

/// The chapter's analyses (§5.5) over all candidates, as CSV text. FIDs are normalised by the ProgGAN baseline's
/// best selection FID at the same resolution (Search.baselinePerResolution).
module Analysis =
    let private inv (x: float) = x.ToString("G6", Globalization.CultureInfo.InvariantCulture)

    /// Baseline selection FID per resolution (the normaliser; see Search.baselinePerResolution).
    [<CompiledName("BaselinePerResolution")>]
    let baselinePerResolution (baseline: IReadOnlyList<CandidateRecord>) = Search.baselinePerResolution baseline

    /// Selection FID over the baseline's at the same resolution (NaN when diverged or no baseline there).
    [<CompiledName("Normalized")>]
    let normalized (basePerRes: IReadOnlyDictionary<int, float>) (c: CandidateRecord) = Search.normalized basePerRes c

    /// Best candidate of the search's last step (ranked by normalised selection FID).
    [<CompiledName("Best")>]
    let best (search: IReadOnlyList<CandidateRecord>) (baseline: IReadOnlyList<CandidateRecord>) = Search.best (baselinePerResolution baseline) search

    /// Table 5.1 analogue, like with like (see PerResolutionRow).
    [<CompiledName("PerResolution")>]
    let perResolution (search: IReadOnlyList<CandidateRecord>) (baseline: IReadOnlyList<CandidateRecord>) : IReadOnlyList<PerResolutionRow> =
        let search, baseline = List.ofSeq search, List.ofSeq baseline
        let all = search @ baseline
        let route = Search.route search (best search baseline) |> List.ofSeq

        let minSel (cs: CandidateRecord list) res =
            match cs |> List.filter (fun c -> c.Resolution = res && not c.Diverged) with
            | [] -> nan
            | xs -> xs |> List.map (fun c -> c.Fid) |> List.min

        [ for res in baseline |> List.map (fun c -> c.Resolution) |> List.distinct |> List.sort do
              let theirs = baseline |> List.filter (fun c -> c.Resolution = res) |> List.maxBy (fun c -> c.Step)

              match route |> List.filter (fun c -> c.Resolution = res) with
              | [] -> ()
              | mine ->
                  let ours = List.last mine

                  yield
                      { Resolution = res
                        ProgGanId = theirs.Id
                        ProgGanFid = theirs.FreshFid
                        ProgGanIterations = Search.routeIterations all theirs
                        DgganId = ours.Id
                        DgganFid = ours.FreshFid
                        DgganIterations = Search.routeIterations all ours
                        ProgGanMinSelectionFid = minSel baseline res
                        DgganMinSelectionFid = minSel search res } ]
        :> IReadOnlyList<_>

    /// The per-resolution table as CSV.
    [<CompiledName("PerResolutionCsv")>]
    let perResolutionCsv (rows: seq<PerResolutionRow>) =
        Csv.render
            [ "resolution"
              "proggan_id"
              "proggan_fresh_fid"
              "proggan_iterations"
              "dggan_id"
              "dggan_fresh_fid"
              "dggan_iterations"
              "improvement"
              "proggan_min_selection_fid"
              "dggan_min_selection_fid" ]
            [ for r in rows ->
                  List.map
                      Cell.Text
                      [ string r.Resolution
                        r.ProgGanId
                        inv r.ProgGanFid
                        string r.ProgGanIterations
                        r.DgganId
                        inv r.DgganFid
                        string r.DgganIterations
                        inv ((r.ProgGanFid - r.DgganFid) / r.ProgGanFid)
                        inv r.ProgGanMinSelectionFid
                        inv r.DgganMinSelectionFid ] ]

    /// Fig. 5.4: every candidate's G/D parameter ratio and normalised FID, the best route marked.
    [<CompiledName("CandidatesCsv")>]
    let candidatesCsv (search: IReadOnlyList<CandidateRecord>) (baseline: IReadOnlyList<CandidateRecord>) =
        let search, baseline = List.ofSeq search, List.ofSeq baseline
        let b = baselinePerResolution baseline
        let route = Search.route search (best search baseline) |> Seq.map (fun c -> c.Id) |> Set.ofSeq

        Csv.render
            [ "id"
              "kind"
              "parent"
              "step"
              "action"
              "resolution"
              "g_params"
              "d_params"
              "g2d_ratio"
              "iterations"
              "fid"
              "fresh_fid"
              "normalized_fid"
              "diverged"
              "on_best_route"
              "actions" ]
            [ for c in search @ baseline ->
                  List.map
                      Cell.Text
                      [ c.Id
                        c.Kind
                        c.Parent
                        string c.Step
                        c.Action
                        string c.Resolution
                        string c.GParams
                        string c.DParams
                        inv (float c.GParams / float c.DParams)
                        string c.Iterations
                        inv c.Fid
                        inv c.FreshFid
                        inv (normalized b c)
                        (if c.Diverged then "true" else "false")
                        (if route.Contains c.Id then "true" else "false")
                        String.Join(" ", c.Actions) ] ]

    /// Fig. 5.5: per action, the share of children improving on their parent (normalised FID lower) and the mean
    /// ± sd of the improvement 1 − nFID(child)/nFID(parent).
    [<CompiledName("ActionEffects")>]
    let actionEffects (search: IReadOnlyList<CandidateRecord>) (baseline: IReadOnlyList<CandidateRecord>) : IReadOnlyList<ActionEffect> =
        let search = List.ofSeq search
        let b = baselinePerResolution baseline
        let byId = search |> List.map (fun c -> c.Id, c) |> Map.ofList

        search
        |> List.choose (fun c ->
            match Map.tryFind c.Parent byId with
            | Some p ->
                let nc, np = normalized b c, normalized b p
                if Double.IsNaN nc || Double.IsNaN np then None else Some(c.Action, 1.0 - nc / np)
            | None -> None)
        |> List.groupBy fst
        |> List.map (fun (a, xs) ->
            let v = xs |> List.map snd
            let m = List.average v
            let sd = AutoDesign.Metrics.Stats.sd v

            { ActionName = a
              Children = v.Length
              ShareImproving = float (v |> List.filter (fun x -> x > 0.0) |> List.length) / float v.Length
              MeanImprovement = m
              SdImprovement = sd })
        |> List.sortBy (fun e -> e.ActionName)
        :> IReadOnlyList<_>

    /// The action effects as CSV.
    [<CompiledName("ActionEffectsCsv")>]
    let actionEffectsCsv (rows: seq<ActionEffect>) =
        Csv.render
            [ "action"; "children"; "share_improving"; "mean_improvement"; "sd_improvement" ]
            [ for e in rows -> List.map Cell.Text [ e.ActionName; string e.Children; inv e.ShareImproving; inv e.MeanImprovement; inv e.SdImprovement ] ]

    /// Fig. 5.6: for thresholds t, the share of good children (normalised FID < t) of good and of sub-optimal parents.
    [<CompiledName("ParentQuality")>]
    let parentQuality (search: IReadOnlyList<CandidateRecord>) (baseline: IReadOnlyList<CandidateRecord>) : IReadOnlyList<ParentQualityRow> =
        let search = List.ofSeq search
        let b = baselinePerResolution baseline
        let byId = search |> List.map (fun c -> c.Id, c) |> Map.ofList

        let pairs =
            search
            |> List.choose (fun c ->
                match Map.tryFind c.Parent byId with
                | Some p -> Some(normalized b p, normalized b c)
                | None -> None)
            |> List.filter (fun (p, c) -> not (Double.IsNaN p))

        [ for t in [ 0.5; 0.6; 0.7; 0.8; 0.9; 1.0; 1.1; 1.2 ] do
              let share sel =
                  let xs = pairs |> List.filter (fun (p, _) -> sel p)

                  if xs.IsEmpty then
                      nan, 0
                  else
                      float (xs |> List.filter (fun (_, c) -> c < t) |> List.length) / float xs.Length, xs.Length

              let g, ng = share (fun p -> p < t)
              let s, ns = share (fun p -> p >= t)

              yield
                  { Threshold = t
                    GoodParentShare = g
                    GoodParentChildren = ng
                    SuboptimalParentShare = s
                    SuboptimalParentChildren = ns } ]
        :> IReadOnlyList<_>

    /// The parent-quality shares as CSV.
    [<CompiledName("ParentQualityCsv")>]
    let parentQualityCsv (rows: seq<ParentQualityRow>) =
        Csv.render
            [ "threshold"
              "good_parent_good_child_share"
              "good_parent_children"
              "suboptimal_parent_good_child_share"
              "suboptimal_parent_children" ]
            [ for r in rows ->
                  List.map
                      Cell.Text
                      [ inv r.Threshold
                        inv r.GoodParentShare
                        string r.GoodParentChildren
                        inv r.SuboptimalParentShare
                        string r.SuboptimalParentChildren ] ]
