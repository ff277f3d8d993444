namespace AutoDesign.DGGAN

open System
open System.IO
open AutoDesign.Runs
open AutoDesign.Metrics

/// The chapter's analyses (§5.5) over all candidates, as CSV text. FIDs are normalised by the ProgGAN baseline's
/// FID at the same resolution (the last baseline candidate of that resolution).
module Analysis =
    let private inv (x: float) = x.ToString("G6", Globalization.CultureInfo.InvariantCulture)

    /// Baseline FID per resolution: the baseline candidate trained last at that resolution.
    let baselinePerResolution (baseline: CandidateRecord list) =
        baseline |> List.filter (fun c -> not c.Diverged) |> List.groupBy (fun c -> c.Resolution)
        |> List.map (fun (r, cs) -> r, (cs |> List.maxBy (fun c -> c.Step)).Fid) |> Map.ofList

    let normalized (basePerRes: Map<int, float>) (c: CandidateRecord) =
        if c.Diverged then nan
        else match Map.tryFind c.Resolution basePerRes with Some b when b > 0.0 -> c.Fid / b | _ -> nan

    /// Best search candidate at the final resolution.
    let best (search: CandidateRecord list) =
        let finalRes = search |> List.map (fun c -> c.Resolution) |> List.max
        search |> List.filter (fun c -> c.Resolution = finalRes) |> Search.rank |> List.head

    /// Table 5.1 analogue: resolution, ProgGAN FID, DGGAN (best candidate at that resolution) FID, improvement.
    let perResolution (search: CandidateRecord list) (baseline: CandidateRecord list) =
        let b = baselinePerResolution baseline
        [ for KeyValue(res, bf) in b do
            let ours = search |> List.filter (fun c -> c.Resolution = res && not c.Diverged)
            if not ours.IsEmpty then
                let o = (ours |> List.minBy (fun c -> c.Fid)).Fid
                yield res, bf, o, (bf - o) / bf ]

    let perResolutionCsv rows =
        "resolution,proggan_fid,dggan_fid,improvement\n"
        + String.concat "" [ for (r, b, o, imp) in rows -> sprintf "%d,%s,%s,%s\n" r (inv b) (inv o) (inv imp) ]

    /// Fig. 5.4: every candidate's G/D parameter ratio and normalised FID, the best route marked.
    let candidatesCsv (search: CandidateRecord list) (baseline: CandidateRecord list) =
        let b = baselinePerResolution baseline
        let route = Search.route search (best search) |> List.map (fun c -> c.Id) |> Set.ofList
        "id,kind,parent,step,action,resolution,g_params,d_params,g2d_ratio,fid,normalized_fid,diverged,on_best_route,actions\n"
        + String.concat "" [
            for c in search @ baseline ->
                sprintf "%s,%s,%s,%d,\"%s\",%d,%d,%d,%s,%s,%s,%b,%b,\"%s\"\n" c.Id c.Kind c.Parent c.Step c.Action c.Resolution c.GParams c.DParams
                    (inv (float c.GParams / float c.DParams)) (inv c.Fid) (inv (normalized b c)) c.Diverged (route.Contains c.Id) (String.Join(" ", c.Actions)) ]

    /// Fig. 5.5: per action, the share of children improving on their parent (normalised FID lower) and the mean
    /// ± sd of the improvement 1 − nFID(child)/nFID(parent).
    let actionEffects (search: CandidateRecord list) (baseline: CandidateRecord list) =
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
            let sd = sqrt (v |> List.averageBy (fun x -> (x - m) ** 2.0))
            a, v.Length, float (v |> List.filter (fun x -> x > 0.0) |> List.length) / float v.Length, m, sd)
        |> List.sortBy (fun (a, _, _, _, _) -> a)

    let actionEffectsCsv rows =
        "action,children,share_improving,mean_improvement,sd_improvement\n"
        + String.concat "" [ for (a, n, s, m, sd) in rows -> sprintf "\"%s\",%d,%s,%s,%s\n" a n (inv s) (inv m) (inv sd) ]

    /// Fig. 5.6: for thresholds t, the share of good children (normalised FID < t) of good and of sub-optimal parents.
    let parentQuality (search: CandidateRecord list) (baseline: CandidateRecord list) =
        let b = baselinePerResolution baseline
        let byId = search |> List.map (fun c -> c.Id, c) |> Map.ofList
        let pairs =
            search |> List.choose (fun c ->
                match Map.tryFind c.Parent byId with
                | Some p -> Some(normalized b p, normalized b c)
                | None -> None)
            |> List.filter (fun (p, c) -> not (Double.IsNaN p))
        [ for t in [ 0.5; 0.6; 0.7; 0.8; 0.9; 1.0; 1.1; 1.2 ] do
            let share sel =
                let xs = pairs |> List.filter (fun (p, _) -> sel p)
                if xs.IsEmpty then nan, 0
                else float (xs |> List.filter (fun (_, c) -> c < t) |> List.length) / float xs.Length, xs.Length
            let g, ng = share (fun p -> p < t)
            let s, ns = share (fun p -> p >= t)
            yield t, g, ng, s, ns ]

    let parentQualityCsv rows =
        "threshold,good_parent_good_child_share,good_parent_children,suboptimal_parent_good_child_share,suboptimal_parent_children\n"
        + String.concat "" [ for (t, g, ng, s, ns) in rows -> sprintf "%s,%s,%d,%s,%d\n" (inv t) (inv g) ng (inv s) ns ]
