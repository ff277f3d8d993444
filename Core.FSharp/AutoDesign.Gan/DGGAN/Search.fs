namespace AutoDesign.DGGAN

open System
open System.Collections.Generic
open AutoDesign.Runs
open AutoDesign.Nn.DGGAN

/// Algorithm 1 settings. `Depth` growth steps after the initial candidate; every final candidate reaches
/// `FinalResolution` (upscales are forced when the remaining steps only suffice for them).
type SearchSettings =
    { Config: GanConfig
      Kernels: IReadOnlyList<int>
      Filters: IReadOnlyList<int>
      FinalResolution: int
      Depth: int
      TopK: int
      P: float
      Seed: int }

/// Where the coordinator works: the search run folder, how to open child runs, the runner that trains batches,
/// and the summary to rewrite after each batch.
type Coordinator =
    { SearchDir: string
      Options: RunOptions
      Settings: SearchSettings
      Train: TrainSettings
      Runner: CandidateRunner
      Log: Action<string> }

/// A finished search: the ProgGAN baseline chain, every search candidate, the best candidate of the last step and
/// its route from the root.
type SearchOutcome =
    { Baseline: IReadOnlyList<CandidateRecord>
      Candidates: IReadOnlyList<CandidateRecord>
      Best: CandidateRecord
      BestRoute: IReadOnlyList<CandidateRecord> }

/// One child to train: the parent candidate and the action grown on it.
type ChildPlan = { FromParent: CandidateRecord; Grow: GrowStep }

module Search =
    let private log2 n = int (Math.Round(Math.Log(float n, 2.0)))

    /// Actions allowed for `arch` at step `step` (1-based) of `depth`.
    [<CompiledName("AllowedActions")>]
    let allowedActions (s: SearchSettings) (step: int) (arch: Architecture) : IReadOnlyList<GrowStep> =
        let needed = log2 s.FinalResolution - log2 (Architecture.resolution arch)
        let remainingAfter = s.Depth - step

        [ for a in GrowStep.all s.Kernels s.Filters do
              match a with
              | Upscale -> if needed > 0 then yield a
              | _ -> if remainingAfter >= needed then yield a ]
        :> IReadOnlyList<_>

    /// The (parent, action) pairs of one step, each kept with probability p (at least one, chosen at random).
    [<CompiledName("SampleChildren")>]
    let sampleChildren (s: SearchSettings) (step: int) (parents: IReadOnlyList<CandidateRecord>) : IReadOnlyList<ChildPlan> =
        let rng = Random(s.Seed * 7919 + step)

        let pairs =
            [ for p in parents do
                  for a in allowedActions s step (SearchSummary.architecture s.Config p) do
                      yield { FromParent = p; Grow = a } ]

        let kept = pairs |> List.filter (fun _ -> rng.NextDouble() < s.P)
        (if kept.IsEmpty && not pairs.IsEmpty then [ pairs.[rng.Next pairs.Length] ] else kept) :> IReadOnlyList<_>

    /// The normaliser of FIDs per resolution: the best (lowest) selection FID of the ProgGAN baseline's candidates at
    /// that resolution. (The thesis divides by ProgGAN's FID at the resolution; the best rather than the last of the
    /// chain's models there keeps one collapsed baseline step from rescaling a whole resolution.)
    [<CompiledName("BaselinePerResolution")>]
    let baselinePerResolution (baseline: IReadOnlyList<CandidateRecord>) : IReadOnlyDictionary<int, float> =
        baseline
        |> Seq.filter (fun c -> not c.Diverged)
        |> Seq.groupBy (fun c -> c.Resolution)
        |> Seq.map (fun (r, cs) -> r, (cs |> Seq.minBy (fun c -> c.Fid)).Fid)
        |> Map.ofSeq
        :> IReadOnlyDictionary<_, _>

    /// Selection FID over the baseline's at the same resolution (NaN when diverged or no baseline there).
    [<CompiledName("Normalized")>]
    let normalized (basePerRes: IReadOnlyDictionary<int, float>) (c: CandidateRecord) =
        if c.Diverged then
            nan
        else
            match basePerRes.TryGetValue c.Resolution with
            | true, b when b > 0.0 -> c.Fid / b
            | _ -> nan

    /// Rank by normalised FID (so candidates of different resolutions compare fairly), diverged ones last.
    [<CompiledName("Rank")>]
    let rank (basePerRes: IReadOnlyDictionary<int, float>) (cs: IReadOnlyList<CandidateRecord>) : IReadOnlyList<CandidateRecord> =
        cs
        |> List.ofSeq
        |> List.sortBy (fun c ->
            let n = normalized basePerRes c
            (if Double.IsNaN n then 1 else 0), (if Double.IsNaN n then 0.0 else n), c.Id)
        :> IReadOnlyList<_>

    /// The route (root → candidate) of a candidate through its parents.
    [<CompiledName("Route")>]
    let route (all: IReadOnlyList<CandidateRecord>) (c: CandidateRecord) : IReadOnlyList<CandidateRecord> =
        let byId = all |> Seq.map (fun x -> x.Id, x) |> Map.ofSeq

        let rec go (x: CandidateRecord) acc =
            match Map.tryFind x.Parent byId with
            | Some p when x.Parent <> "" -> go p (x :: acc)
            | _ -> x :: acc

        go c [] :> IReadOnlyList<_>

    let private job (c: Coordinator) folder id kind (parent: CandidateRecord option) step action (arch: Architecture) fade seed train =
        { Folder = folder
          Config =
            { Id = id
              Kind = kind
              Parent =
                (match parent with
                 | Some p -> p.Id
                 | None -> "")
              InitFrom =
                (match parent with
                 | Some p -> p.Folder
                 | None -> "")
              Step = step
              Action = action
              Actions = arch.Steps |> Seq.map GrowStep.format |> Array.ofSeq
              Fade = fade
              Seed = seed
              Train = train } }

    /// Train a batch: finished folders give their stored result, the rest go to the runner as one batch.
    [<CompiledName("TrainBatch")>]
    let trainBatch (c: Coordinator) (jobs: IReadOnlyList<CandidateJob>) : IReadOnlyList<CandidateRecord> =
        let jobs = List.ofSeq jobs

        for j in jobs do
            Candidate.prepare c.Options c.SearchDir j

        let stored =
            jobs |> List.map (fun j -> j, SearchSummary.storedResult<CandidateResult>(IO.Path.Combine(c.SearchDir, j.Folder)))

        let untrained = stored |> List.filter (snd >> Option.isNone) |> List.map fst
        let fresh = if untrained.IsEmpty then [] else List.ofSeq (c.Runner.Train.Invoke untrained)

        if fresh.Length <> untrained.Length then
            Errors.fail "the candidate runner returned %d results for %d jobs" fresh.Length untrained.Length

        let byFolder = List.zip (untrained |> List.map (fun j -> j.Folder)) fresh |> Map.ofList
        SearchSummary.rewrite c.SearchDir c.Settings.Config

        stored
        |> List.map (fun (j, r) ->
            let r =
                match r with
                | Some r -> r
                | None -> byFolder.[j.Folder]

            SearchSummary.record c.Settings.Config j.Folder j.Config r)
        :> IReadOnlyList<_>

    /// The ProgGAN baseline: the fixed symmetric schedule as a chain, one candidate (same budget) per action.
    [<CompiledName("Baseline")>]
    let baseline (c: Coordinator) : IReadOnlyList<CandidateRecord> =
        let s = c.Settings
        let schedule = Architecture.progGanSchedule s.Config s.FinalResolution

        let root =
            trainBatch c [ job c "candidates/b00" "b00" "baseline" None 0 "init" (Architecture.initial s.Config) true (s.Seed * 1000 + 99) c.Train ]

        let chain = ResizeArray root

        schedule
        |> Seq.iteri (fun i a ->
            let p = chain.[chain.Count - 1]
            let arch = Architecture.grow (SearchSummary.architecture s.Config p) a
            let id = sprintf "b%02d" (i + 1)

            chain.AddRange(
                trainBatch c [ job c ("candidates/" + id) id "baseline" (Some p) (i + 1) (GrowStep.format a) arch true (s.Seed * 1000 + 50 + i) c.Train ]
            ))

        chain :> IReadOnlyList<_>

    /// Algorithm 1 (top-K greedy pruning with random action sampling), children ranked by FID normalised by the
    /// baseline's at their resolution; each step's children go to the runner as one batch. Returns every search
    /// candidate.
    [<CompiledName("Run")>]
    let run (c: Coordinator) (basePerRes: IReadOnlyDictionary<int, float>) : IReadOnlyList<CandidateRecord> =
        let s = c.Settings

        let root =
            trainBatch c [ job c "candidates/s00_000" "s00_000" "search" None 0 "init" (Architecture.initial s.Config) true (s.Seed * 1000) c.Train ]

        let mutable parents = root
        let all = ResizeArray root

        for step in 1 .. s.Depth do
            let children = sampleChildren s step parents
            c.Log.Invoke(sprintf "search step %d/%d: %d parents, %d children" step s.Depth parents.Count children.Count)

            let jobs =
                children
                |> Seq.mapi (fun i child ->
                    let p, a = child.FromParent, child.Grow
                    let arch = Architecture.grow (SearchSummary.architecture s.Config p) a
                    let id = sprintf "s%02d_%03d" step i
                    job c ("candidates/" + id) id "search" (Some p) step (GrowStep.format a) arch true (s.Seed * 1000 + step * 100 + i) c.Train)
                |> List.ofSeq

            let trained = trainBatch c jobs
            all.AddRange trained
            parents <- rank basePerRes trained |> Seq.truncate s.TopK |> List.ofSeq :> IReadOnlyList<_>

        all :> IReadOnlyList<_>

    /// The best candidate of the last search step (all at the final resolution, all trained for the same
    /// number of iterations along their routes).
    [<CompiledName("Best")>]
    let best (basePerRes: IReadOnlyDictionary<int, float>) (search: IReadOnlyList<CandidateRecord>) =
        let last = search |> Seq.map (fun c -> c.Step) |> Seq.max
        (search |> Seq.filter (fun c -> c.Step = last) |> List.ofSeq |> rank basePerRes).[0]

    /// A final training stage: the chosen architecture and ProgGAN's last model continue from the given records'
    /// weights for `iterations` more iterations with the search's settings and an EMA of G of decay `ema` (0: none).
    /// Stage 0 trains final/dggan and final/proggan; stage k > 0 (a longer final stage, continuing stage k-1's
    /// models) final/dggan-long<k> and final/proggan-long<k>.
    [<CompiledName("FinalStage")>]
    let finalStage (c: Coordinator) (stage: int) (chosen: CandidateRecord) (lastBaseline: CandidateRecord) (iterations: int) (ema: float) =
        let s = c.Settings
        let train = { c.Train with Iterations = iterations; EmaDecay = ema }

        let mk name (from: CandidateRecord) =
            let id = if stage = 0 then name else sprintf "%s-long%d" name stage

            job
                c
                ("final/" + id)
                id
                "final"
                (Some from)
                (from.Step + 1)
                "final"
                (SearchSummary.architecture s.Config from)
                false
                (s.Seed * 1000 + 900 + 50 * stage)
                train

        match trainBatch c [ mk "dggan" chosen; mk "proggan" lastBaseline ] |> List.ofSeq with
        | [ d; p ] -> d, p
        | _ -> Errors.fail "the final stage returned an unexpected number of models"

    /// Iterations along a candidate's route (its own and all its ancestors'), from the records.
    [<CompiledName("RouteIterations")>]
    let routeIterations (all: IReadOnlyList<CandidateRecord>) (c: CandidateRecord) = route all c |> Seq.sumBy (fun x -> x.Iterations)

    /// The whole search in the coordinator's folder: the ProgGAN baseline chain, Algorithm 1 ranked by FID normalised
    /// by the baseline's, and the best candidate of the last step with its route. Finished candidates are read from
    /// their folders, so calling it again on a finished folder trains nothing.
    [<CompiledName("Complete")>]
    let complete (c: Coordinator) : SearchOutcome =
        let chain = baseline c
        let perRes = baselinePerResolution chain
        let searched = run c perRes
        let top = best perRes searched
        SearchSummary.rewrite c.SearchDir c.Settings.Config
        { Baseline = chain; Candidates = searched; Best = top; BestRoute = route searched top }
