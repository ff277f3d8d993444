namespace AutoDesign.Reproduce.DGGAN

open System
open System.IO
open System.Collections.Generic
open TorchSharp
open AutoDesign.Nn
open AutoDesign.Runs
open AutoDesign.Plots
open AutoDesign.Nn.DGGAN
open AutoDesign.DGGAN
open AutoDesign.Metrics

/// A model's final metrics on fresh samples: FID against the fresh real set, SWD×10³ and the feature network's IS;
/// `Iterations` is its whole training budget (its route's candidates plus any final stage), from the records.
type ModelScore =
    { Id: string
      Actions: string
      GParams: int64
      DParams: int64
      Iterations: int
      Fid: float
      Swd: float
      IsMean: float
      IsSd: float }

/// Both arms' scores under one variance-reduction variant of the final stage (EMA of G, a longer final stage).
type VariantScore = { Variant: string; Dggan: ModelScore; ProgGan: ModelScore }

/// FID of a known-quality set against the fresh real set (the feature network's sanity check).
type FeatureCheck = { Set: string; Fid: float }

/// The search run's result (result.json).
type DgganSummary =
    {
        PerResolution: PerResolutionRow list
        /// The best route's last candidate and ProgGAN's last candidate, at the end of the search (equal iterations).
        RouteLast: ModelScore
        ProgGanLast: ModelScore
        /// Both after the final training stage (equal iterations again).
        FinalDggan: ModelScore
        FinalProgGan: ModelScore
        /// The same two models evaluated through their EMA generators, and after a longer final stage (raw, EMA);
        /// empty when the settings ask for neither.
        Variants: VariantScore list
        /// FID of the selection real set against the fresh real set at the final resolution (the floor).
        RealFloorFid: float
        RealIsMean: float
        RealIsSd: float
        /// Real, light noise, heavy noise, shuffled pixels: should increase.
        FeatureChecks: FeatureCheck list
        /// Faint noise (sd 0.1), reported beside the real-vs-real floor.
        FaintNoise: FeatureCheck
        FeatureAccuracy: float
        SearchCandidates: int
        BaselineCandidates: int
        FinalResolution: int
        Seconds: float
    }

/// The whole DGGAN run: feature network, baseline chain, search, final stage, evaluation, CSV/PNG outputs.
module SearchRun =
    let private inv (x: float) = x.ToString("G6", Globalization.CultureInfo.InvariantCulture)
    let private write (dir: string) (name: string) (text: string) = Atomic.writeAllText (Path.Combine(dir, name)) text
    let private toUnit (x: torch.Tensor) = x.Add(1.0).Div(2.0)

    /// The known-quality sets of the feature network's check, from the selection real set and scored against the
    /// fresh set: real, lightly noised (Gaussian sd 0.25 on the [-1, 1] scale), heavily noised (sd 0.5), pixels
    /// shuffled within each image — a network whose FID units mean something ranks them in this order — and, apart,
    /// faint noise (sd 0.1), to see whether damage that small rises above the real-vs-real floor.
    let featureChecks (env: CandidateEnv) (res: int) (seed: int) =
        use _ = torch.NewDisposeScope()
        use gen = new torch.Generator(uint64 seed)
        let real = env.Selection.RealAt res
        let noised (sigma: float) = real.Plus(torch.randn(real.shape, generator = gen).Mul(sigma)).Clamp(-1.0, 1.0)
        let n = real.shape.[0]
        let flat = real.reshape (n, -1L)
        let keys = torch.rand (flat.shape, generator = gen)
        let struct (_, perm) = keys.sort (1L)
        let shuffled = flat.gather(1L, perm).reshape(real.shape)

        let ordered =
            [ { Set = "real (selection set)"; Fid = env.Fresh.Fid real }
              { Set = "real + noise sd 0.25"; Fid = env.Fresh.Fid(noised 0.25) }
              { Set = "real + noise sd 0.5"; Fid = env.Fresh.Fid(noised 0.5) }
              { Set = "pixels shuffled"; Fid = env.Fresh.Fid shuffled } ]

        ordered, { Set = "real + noise sd 0.1"; Fid = env.Fresh.Fid(noised 0.1) }

    /// Score one finished model (generator from its folder) on `count` fresh samples; its grid and IDX samples
    /// are written as samples-<name>.png / .idx in `dir`.
    let score (env: CandidateEnv) (dir: string) (all: CandidateRecord list) (c: CandidateRecord) (file: string) (name: string) (count: int) (seed: int) =
        use _ = torch.NewDisposeScope()
        use g = Candidate.loadGeneratorFile env.Model (Path.Combine(dir, c.Folder)) file c.Actions env.Device
        let fake = Evaluator.Sample g count seed env.Device
        let fid = env.Fresh.Fid fake
        let real = env.Fresh.RealAt c.Resolution
        let n = min real.shape.[0] fake.shape.[0]
        let swd = (Swd.compute seed (real.narrow (0L, 0L, n)) (fake.narrow (0L, 0L, n))).Average
        let score = InceptionScore.ofLogits (env.Fresh.Extractor.Logits.Invoke fake) 10
        let isMean, isSd = score.Mean, score.Sd
        ImageGrid.save (Path.Combine(dir, sprintf "samples-%s.png" name)) (toUnit (fake.narrow (0L, 0L, min 64L fake.shape.[0]))) 8
        ImageSet.save (Path.Combine(dir, sprintf "samples-%s.idx" name)) fake

        { Id = c.Id
          Actions = String.Join(" ", c.Actions)
          GParams = c.GParams
          DParams = c.DParams
          Iterations = Search.routeIterations all c
          Fid = fid
          Swd = swd
          IsMean = isMean
          IsSd = isSd }

    /// A sample grid of a finished candidate.
    let grid (env: CandidateEnv) (dir: string) (c: CandidateRecord) (file: string) (seed: int) =
        use _ = torch.NewDisposeScope()
        use g = Candidate.loadGenerator env.Model (Path.Combine(dir, c.Folder)) c.Actions env.Device
        ImageGrid.save (Path.Combine(dir, file)) (toUnit (Evaluator.Sample g 64 seed env.Device)) 8

    let private finalCsv (rows: (string * string * ModelScore) list) (floor: float) (realIs: InceptionScoreResult) =
        Csv.render
            [ "model"; "stage"; "id"; "fid"; "swd_x1e3"; "is_mean"; "is_sd"; "iterations"; "g_params"; "d_params"; "actions" ]
            [ for (model, stage, m) in rows do
                  yield
                      List.map
                          Cell.Text
                          [ model
                            stage
                            m.Id
                            inv m.Fid
                            inv m.Swd
                            inv m.IsMean
                            inv m.IsSd
                            string m.Iterations
                            string m.GParams
                            string m.DParams
                            m.Actions ]
              yield List.map Cell.Text [ "real data"; "selection set vs fresh set"; ""; inv floor; ""; inv realIs.Mean; inv realIs.Sd; ""; ""; ""; "" ] ]

    /// The runner of a search's candidates: in this process, or `external` (e.g. jobs of a launcher) trains each
    /// batch in its prepared folders, after which the results are read from them.
    let private runner
        (env: CandidateEnv)
        (options: RunOptions)
        (dir: string)
        (rewrite: unit -> unit)
        (external: (string -> CandidateJob list -> unit) option)
        (log: string -> unit)
        =
        match external with
        | None -> Candidate.inProcess env options dir (Action rewrite) (Action<string> log)
        | Some launch ->
            { Train =
                Func<IReadOnlyList<CandidateJob>, IReadOnlyList<CandidateResult>>(fun jobs ->
                    let jobs = List.ofSeq jobs
                    launch dir jobs
                    rewrite ()

                    jobs
                    |> List.map (fun j ->
                        match SearchSummary.storedResult<CandidateResult>(Path.Combine(dir, j.Folder)) with
                        | Some r -> r
                        | None -> Errors.fail "candidate %s (%s) has no result after its job ended" j.Config.Id (Path.Combine(dir, j.Folder)))
                    :> IReadOnlyList<CandidateResult>) }

    /// Run (or continue, or return the result of) the experiment in the run folder `options.Root/relPath`;
    /// candidates train in this process, or through `external` (jobs of a launcher).
    let run
        (options: RunOptions)
        (relPath: string)
        (s: DgganSettings)
        (device: torch.Device)
        (external: (string -> CandidateJob list -> unit) option)
        (log: string -> unit)
        : DgganSummary * string =
        use search = Run.Open(options, relPath, DgganExperiment.kind, s)

        if search.IsFinished then
            search.Result<DgganSummary>(), search.Dir
        else
            let sw = Diagnostics.Stopwatch.StartNew()
            let dir = search.Dir
            let env, featureAccuracy, net = DgganExperiment.environment search s device log
            use _net = net
            let rewrite () = SearchSummary.rewrite dir s.Search.Config

            let coord =
                { SearchDir = dir
                  Options = options
                  Settings = s.Search
                  Train = s.Train
                  Log = Action<string> log
                  Runner = runner env options dir rewrite external log }

            log "ProgGAN baseline (fixed symmetric schedule, same iterations per step)"
            let baseline = Search.baseline coord |> List.ofSeq
            let basePerRes = Search.baselinePerResolution baseline
            log "DGGAN search (Algorithm 1, top-K by FID normalised by the baseline's at each resolution)"
            let searched = Search.run coord basePerRes |> List.ofSeq
            let best = Search.best basePerRes searched
            let lastBase = List.last baseline
            log (sprintf "final training stage: %s and %s, %d iterations each" best.Id lastBase.Id s.FinalIterations)
            let finalD, finalP = Search.finalStage coord 0 best lastBase s.FinalIterations s.FinalEma

            let longer =
                if s.LongerFinalIterations = 0 then
                    None
                else
                    log (sprintf "longer final stage: both continue %d iterations" s.LongerFinalIterations)
                    Some(Search.finalStage coord 1 finalD finalP s.LongerFinalIterations s.FinalEma)

            rewrite ()

            let all =
                baseline
                @ searched
                @ [ finalD; finalP ]
                @ (match longer with
                   | Some(d, p) -> [ d; p ]
                   | None -> [])

            let seed = s.Search.Seed * 1000 + 31337
            let scoreFile c file name = score env dir all c file name s.FinalSamples seed
            let score c name = scoreFile c Candidate.weightsFile name
            let routeLast = score best "dggan-search"
            let progLast = score lastBase "proggan-search"
            let fD = score finalD "dggan"
            let fP = score finalP "proggan"

            let ema (d: CandidateRecord) (p: CandidateRecord) (variant: string) (suffix: string) =
                { Variant = variant
                  Dggan = scoreFile d Candidate.emaWeightsFile ("dggan" + suffix + "-ema")
                  ProgGan = scoreFile p Candidate.emaWeightsFile ("proggan" + suffix + "-ema") }

            let variants =
                [ if s.FinalEma > 0.0 then yield ema finalD finalP (sprintf "final stage, EMA of G (decay %g)" s.FinalEma) ""
                  match longer with
                  | Some(lD, lP) ->
                      yield
                          { Variant = sprintf "longer final stage (+%d iterations)" s.LongerFinalIterations
                            Dggan = score lD "dggan-long"
                            ProgGan = score lP "proggan-long" }

                      if s.FinalEma > 0.0 then
                          yield ema lD lP (sprintf "longer final stage (+%d iterations), EMA of G (decay %g)" s.LongerFinalIterations s.FinalEma) "-long"
                  | None -> () ]

            for res in baseline |> List.map (fun c -> c.Resolution) |> List.distinct |> List.sort do
                match Search.route searched best |> List.ofSeq |> List.filter (fun c -> c.Resolution = res) with
                | [] -> ()
                | mine -> grid env dir (List.last mine) (sprintf "samples-dggan-%dx%d.png" res res) (seed + 1)

                grid env dir (baseline |> List.filter (fun c -> c.Resolution = res) |> List.last) (sprintf "samples-proggan-%dx%d.png" res res) (seed + 1)

            let final = s.Search.FinalResolution

            let floor, realIs, checks, faint =
                use _ = torch.NewDisposeScope()
                let real = env.Fresh.RealAt final
                ImageSet.save (Path.Combine(dir, "samples-real.idx")) real
                ImageGrid.save (Path.Combine(dir, "samples-real.png")) (toUnit (real.narrow (0L, 0L, min 64L real.shape.[0]))) 8
                let checks, faint = featureChecks env final (seed + 2)
                checks.Head.Fid, InceptionScore.ofLogits (env.Fresh.Extractor.Logits.Invoke real) 10, checks, faint

            let perRes = Analysis.perResolution searched baseline |> List.ofSeq
            write dir "table-per-resolution.csv" (Analysis.perResolutionCsv perRes)
            write dir "candidates.csv" (Analysis.candidatesCsv searched baseline)
            write dir "action-effects.csv" (Analysis.actionEffectsCsv (Analysis.actionEffects searched baseline))
            write dir "parent-quality.csv" (Analysis.parentQualityCsv (Analysis.parentQuality searched baseline))
            write dir "feature-check.csv" (Csv.render [ "set"; "fid" ] [ for c in checks @ [ faint ] -> [ Cell.Text c.Set; Cell.Text(inv c.Fid) ] ])
            AnalysisPlots.writeAll dir s.Search searched baseline

            write
                dir
                "final.csv"
                (finalCsv
                    ([ "DGGAN", "end of search", routeLast
                       "ProgGAN", "end of search", progLast
                       "DGGAN", "after final training", fD
                       "ProgGAN", "after final training", fP ]
                     @ [ for v in variants do
                             yield "DGGAN", v.Variant, v.Dggan
                             yield "ProgGAN", v.Variant, v.ProgGan ])
                    floor
                    realIs)

            let summary =
                { PerResolution = perRes
                  RouteLast = routeLast
                  ProgGanLast = progLast
                  FinalDggan = fD
                  FinalProgGan = fP
                  Variants = variants
                  RealFloorFid = floor
                  RealIsMean = realIs.Mean
                  RealIsSd = realIs.Sd
                  FeatureChecks = checks
                  FaintNoise = faint
                  FeatureAccuracy = featureAccuracy
                  SearchCandidates = searched.Length
                  BaselineCandidates = baseline.Length
                  FinalResolution = final
                  Seconds = sw.Elapsed.TotalSeconds }

            search.Finish summary
            summary, dir

    let describe (dir: string) (r: DgganSummary) =
        let line (what: string) (m: ModelScore) =
            sprintf "%-34s FID %8.3f  SWDx1e3 %7.2f  IS %5.2f+-%.2f  %6d iterations  [%s]" what m.Fid m.Swd m.IsMean m.IsSd m.Iterations m.Actions

        String.Join(
            "\n",
            [ yield sprintf "results in %s (%d search + %d baseline candidates, %.0f s)" dir r.SearchCandidates r.BaselineCandidates r.Seconds
              yield "resolution  ProgGAN (fresh FID, iterations)   DGGAN best route (fresh FID, iterations)"
              for p in r.PerResolution do
                  yield
                      sprintf
                          "%5dx%-5d %10.3f %8d            %10.3f %8d"
                          p.Resolution
                          p.Resolution
                          p.ProgGanFid
                          p.ProgGanIterations
                          p.DgganFid
                          p.DgganIterations
              yield line "ProgGAN, end of search" r.ProgGanLast
              yield line "DGGAN best route, end of search" r.RouteLast
              yield line "ProgGAN, after final training" r.FinalProgGan
              yield line "DGGAN, after final training" r.FinalDggan
              for v in r.Variants do
                  yield line ("ProgGAN, " + v.Variant) v.ProgGan
                  yield line ("DGGAN, " + v.Variant) v.Dggan
              yield
                  sprintf
                      "real data: FID floor (selection vs fresh set) %.3f, IS %.2f+-%.2f; feature net held-out accuracy %.2f%%"
                      r.RealFloorFid
                      r.RealIsMean
                      r.RealIsSd
                      (100.0 * r.FeatureAccuracy)
              yield
                  "feature-net check (FID against the fresh real set): "
                  + String.Join("; ", r.FeatureChecks @ [ r.FaintNoise ] |> List.map (fun c -> sprintf "%s %.2f" c.Set c.Fid)) ]
        )

    /// Only the ProgGAN baseline chain, in a run folder of its own; returns (id, resolution, selection FID,
    /// fresh FID) per step.
    let runBaseline (options: RunOptions) (relPath: string) (s: DgganSettings) (device: torch.Device) (log: string -> unit) =
        use run = Run.Open(options, relPath, "dggan.baseline/1", s)
        let env, _, net = DgganExperiment.environment run s device log
        use _net = net
        let rewrite () = SearchSummary.rewrite run.Dir s.Search.Config

        let coord =
            { SearchDir = run.Dir
              Options = options
              Settings = s.Search
              Train = s.Train
              Log = Action<string> log
              Runner = Candidate.inProcess env options run.Dir (Action rewrite) (Action<string> log) }

        let chain = Search.baseline coord |> List.ofSeq
        let rows = chain |> List.map (fun c -> c.Id, c.Resolution, c.Fid, c.FreshFid)
        if not run.IsFinished then run.Finish rows
        rows, run.Dir
