namespace AutoDesign.DGGAN

open System
open System.IO
open AutoDesign.Runs
open AutoDesign.Nn.DGGAN
open AutoDesign.Metrics

/// Algorithm 1 settings. `Depth` growth steps after the initial candidate; every final candidate reaches
/// `FinalResolution` (upscales are forced when the remaining steps only suffice for them).
type SearchSettings =
    { Config: GanConfig
      Kernels: int list
      Filters: int list
      FinalResolution: int
      Depth: int
      TopK: int
      P: float
      Seed: int }

module Search =
    let signature (s: SearchSettings) (train: TrainSettings) =
        sprintf "latent=%d C=%d d0=%d kernels=%A filters=%A final=%d depth=%d K=%d p=%g seed=%d iters=%d batch=%d lr=%g eval=%d"
            s.Config.Latent s.Config.BaseChannels s.Config.BaseResolution s.Kernels s.Filters s.FinalResolution s.Depth
            s.TopK s.P s.Seed train.Iterations train.BatchSize train.LearningRate train.EvalSamples

    let private log2 n = int (Math.Round(Math.Log(float n, 2.0)))

    /// Actions allowed for `arch` at step `step` (1-based) of `depth`.
    let allowedActions (s: SearchSettings) (step: int) (arch: Architecture) =
        let needed = log2 s.FinalResolution - log2 (Architecture.resolution arch)
        let remainingAfter = s.Depth - step
        GrowStep.all s.Kernels s.Filters
        |> List.filter (fun a ->
            match a with
            | Upscale -> needed > 0
            | _ -> remainingAfter >= needed)

    /// The (parent, action) pairs of one step, each kept with probability p (at least one, chosen at random).
    let sampleChildren (s: SearchSettings) (step: int) (parents: CandidateRecord list) =
        let rng = Random(s.Seed * 7919 + step)
        let pairs =
            [ for p in parents do
                for a in allowedActions s step (SearchState.architecture s.Config p) do
                    yield p, a ]
        let kept = pairs |> List.filter (fun _ -> rng.NextDouble() < s.P)
        if kept.IsEmpty && not pairs.IsEmpty then [ pairs.[rng.Next pairs.Length] ] else kept

    /// Rank: finished candidates by FID, diverged ones last.
    let rank (cs: CandidateRecord list) =
        cs |> List.sortBy (fun c -> (if c.Diverged then 1 else 0), c.Fid, c.Id)

    let private record kind (id: string) (parent: string) step (action: string) (arch: Architecture) (weights: string) (r: CandidateResult) =
        { Id = id; Kind = kind; Parent = parent; Step = step; Action = action
          Actions = arch.Steps |> List.map GrowStep.format |> Array.ofList
          Resolution = Architecture.resolution arch
          GParams = Architecture.gParams arch; DParams = Architecture.dParams arch
          Fid = r.Fid; Diverged = r.Diverged; Inherited = r.Inherited; Seconds = r.Seconds; Weights = weights }

    /// Train (or take from `state` when already finished) one candidate; persist the state after it.
    let trainOne (runner: Runner) (statePath: string) (weightsDir: string) (state: SearchState ref) kind id (parent: CandidateRecord option) step action arch seed =
        match SearchState.tryFind state.Value id with
        | Some done' -> done'
        | None ->
            let weights = Path.Combine(weightsDir, id + ".dgw")
            let job = { Id = id; Arch = arch; ParentWeights = parent |> Option.map (fun p -> p.Weights); WeightsPath = weights; Seed = seed }
            let r = runner.Train job
            let c = record kind id (parent |> Option.map (fun p -> p.Id) |> Option.defaultValue "") step action arch weights r
            state.Value <- SearchState.add state.Value c
            SearchState.save statePath state.Value
            c

    /// Algorithm 1 (top-K greedy pruning with random action sampling). Returns every search candidate.
    let run (s: SearchSettings) (runner: Runner) (statePath: string) (weightsDir: string) (state: SearchState ref) (log: string -> unit) =
        Directory.CreateDirectory weightsDir |> ignore
        let root = trainOne runner statePath weightsDir state "search" "s00_000" None 0 "init" (Architecture.initial s.Config) (s.Seed * 1000)
        let mutable parents = [ root ]
        let all = ResizeArray [ root ]
        for step in 1 .. s.Depth do
            let children = sampleChildren s step parents
            log (sprintf "step %d/%d: %d parents, %d children" step s.Depth parents.Length children.Length)
            let trained =
                children
                |> List.mapi (fun i (p, a) ->
                    let arch = Architecture.grow (SearchState.architecture s.Config p) a
                    trainOne runner statePath weightsDir state "search" (sprintf "s%02d_%03d" step i) (Some p) step
                        (GrowStep.format a) arch (s.Seed * 1000 + step * 100 + i))
            all.AddRange trained
            parents <- rank trained |> List.truncate s.TopK
        List.ofSeq all

    /// The ProgGAN baseline: the fixed symmetric schedule as a chain, one candidate (same budget) per action.
    let baseline (s: SearchSettings) (runner: Runner) (statePath: string) (weightsDir: string) (state: SearchState ref) =
        Directory.CreateDirectory weightsDir |> ignore
        let schedule = Architecture.progGanSchedule s.Config s.FinalResolution
        let root = trainOne runner statePath weightsDir state "baseline" "b00" None 0 "init" (Architecture.initial s.Config) (s.Seed * 1000 + 99)
        let chain = ResizeArray [ root ]
        schedule
        |> List.iteri (fun i a ->
            let p = chain.[chain.Count - 1]
            let arch = Architecture.grow (SearchState.architecture s.Config p) a
            chain.Add(trainOne runner statePath weightsDir state "baseline" (sprintf "b%02d" (i + 1)) (Some p) (i + 1) (GrowStep.format a) arch (s.Seed * 1000 + 50 + i)))
        List.ofSeq chain

    /// The route (root → candidate) of a candidate through its parents.
    let route (all: CandidateRecord list) (c: CandidateRecord) =
        let byId = all |> List.map (fun x -> x.Id, x) |> Map.ofList
        let rec go (x: CandidateRecord) acc =
            match Map.tryFind x.Parent byId with
            | Some p when x.Parent <> "" -> go p (x :: acc)
            | _ -> x :: acc
        go c []
