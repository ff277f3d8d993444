module AutoDesign.Tests.DgganSearchTests

open System.IO
open Expecto
open AutoDesign.Runs
open AutoDesign.Plots
open AutoDesign.DGGAN
open AutoDesign.Reproduce.DGGAN
open AutoDesign.Metrics
open AutoDesign.Nn.DGGAN

let private settings =
    { Config = GanConfig(8, 4, 1, 8)
      Kernels = [ 3; 7 ]
      Filters = [ 4; 8 ]
      FinalResolution = 32
      Depth = 5
      TopK = 2
      P = 0.4
      Seed = 11 }

let private train =
    { Iterations = 1; BatchSize = 2; LearningRate = 1e-3; EvalSamples = 2; CheckpointEvery = 0; EmaDecay = 0.0 }

exception Killed

/// A runner double: each job's run folder is opened and finished with a deterministic FID from the architecture
/// (as a real runner leaves it); counts its calls; can "die" after n calls.
let private double (dir: string) (calls: int ref) (dieAfter: int option) : CandidateRunner =
    { Train =
        System.Func<_, _>(fun jobs ->
            jobs
            |> List.ofSeq
            |> List.map (fun job ->
                match dieAfter with
                | Some n when calls.Value >= n -> raise Killed
                | _ ->
                    calls.Value <- calls.Value + 1
                    use run = Run.Open({ RunOptions.Default with Root = dir }, job.Folder, Candidate.kind, job.Config)
                    let h = (String.concat " " job.Config.Actions).GetHashCode() |> abs

                    let r =
                        { Id = job.Config.Id
                          SelectionFid = 1.0 + float (h % 1000) / 10.0
                          FreshFid = 2.0
                          Diverged = false
                          Inherited = 0
                          FinalDLoss = 0.0
                          FinalGLoss = 0.0
                          Iterations = job.Config.Train.Iterations
                          Seconds = 0.0 }

                    run.Finish r
                    r)
            :> System.Collections.Generic.IReadOnlyList<_>) }

let private tempDir () = TempDir.fresh "dggan-search"

let private coordinator dir runner =
    { SearchDir = dir
      Options = RunOptions.Default
      Settings = settings
      Train = train
      Runner = runner
      Log = System.Action<string> ignore }

/// Baseline, then search, as the experiment runs them.
let private runSearch dir runner =
    let c = coordinator dir runner
    let b = Search.baseline c
    List.ofSeq (Search.run c (Search.baselinePerResolution b)), List.ofSeq b

[<Tests>]
let tests =
    testList
        "dggan.search"
        [ test "search is deterministic and every final candidate reaches the final resolution" {
              let d1, d2 = tempDir (), tempDir ()
              let a, _ = runSearch d1 (double d1 (ref 0) None)
              let b, _ = runSearch d2 (double d2 (ref 0) None)
              Expect.equal (a |> List.map (fun c -> c.Id, c.Actions)) (b |> List.map (fun c -> c.Id, c.Actions)) "same candidates"
              let last = a |> List.filter (fun c -> c.Step = settings.Depth)
              Expect.isNonEmpty last "final step has candidates"

              for c in last do
                  Expect.equal c.Resolution 32 "final resolution"

              for c in a |> List.filter (fun c -> c.Parent <> "") do
                  let p = a |> List.find (fun x -> x.Id = c.Parent)
                  Expect.equal c.Actions (Array.append p.Actions [| c.Action |]) "child = parent + action"
                  Expect.equal c.Folder ("candidates/" + c.Id) "folder relative to the search run folder"

              Directory.Delete(d1, true)
              Directory.Delete(d2, true)
          }
          test "children come only from the top-K parents of the previous step, ranked by FID normalised per resolution" {
              let d = tempDir ()
              let all, baseline = runSearch d (double d (ref 0) None)
              let b = Search.baselinePerResolution baseline

              for step in 2 .. settings.Depth do
                  let prev =
                      all
                      |> List.filter (fun c -> c.Step = step - 1)
                      |> Search.rank b
                      |> List.ofSeq
                      |> List.truncate settings.TopK
                      |> List.map (fun c -> c.Id)
                      |> Set.ofList

                  for c in all |> List.filter (fun c -> c.Step = step) do
                      Expect.isTrue (prev.Contains c.Parent) (sprintf "%s's parent %s is in the top K" c.Id c.Parent)

              Directory.Delete(d, true)
          }
          test "ranking divides by the baseline's FID at the candidate's resolution" {
              let r id res fid =
                  { Id = id
                    Kind = "search"
                    Parent = ""
                    Folder = ""
                    Step = 1
                    Action = ""
                    Actions = [||]
                    Resolution = res
                    GParams = 1L
                    DParams = 1L
                    Iterations = 1
                    Fid = fid
                    FreshFid = fid
                    Diverged = false
                    Inherited = 0
                    Weights = "" }

              let b = Map.ofList [ 8, 10.0; 16, 40.0 ]
              // raw FID would put a (8x8, 8.0) first; normalised, b (16x16, 20/40 = 0.5) beats a (0.8)
              let ranked =
                  Search.rank b [ r "a" 8 8.0; r "b" 16 20.0; { r "c" 8 1.0 with Diverged = true } ]
                  |> List.ofSeq
                  |> List.map (fun c -> c.Id)

              Expect.equal ranked [ "b"; "a"; "c" ] "normalised order, diverged last"
          }
          test "resume after a kill skips finished candidates; search.json is rebuilt from the folders" {
              let d = tempDir ()
              let t = tempDir ()
              let total = let a, b = runSearch t (double t (ref 0) None) in a.Length + b.Length
              let first = ref 0
              Expect.throwsT<Killed> (fun () -> runSearch d (double d first (Some 9)) |> ignore) "killed mid-search"
              Expect.equal first.Value 9 "9 candidates finished before the kill"
              let second = ref 0
              let all, baseline = runSearch d (double d second None)
              Expect.equal second.Value (total - 9) "resume trains only the rest"
              Expect.equal (all.Length + baseline.Length) total "same search"
              let summary = SearchSummary.load (Path.Combine(d, SearchSummary.fileName))
              Expect.equal summary.Count total "summary lists every finished candidate"

              Expect.equal
                  (File.ReadAllText(Path.Combine(d, SearchSummary.fileName)))
                  (File.ReadAllText(Path.Combine(t, SearchSummary.fileName)))
                  "same summary as an uninterrupted search"

              Directory.Delete(d, true)
              Directory.Delete(t, true)
          }
          test "the ProgGAN schedule is symmetric and ends at the final resolution" {
              let s = Architecture.progGanSchedule settings.Config 32
              Expect.equal (s |> Seq.map GrowStep.format |> List.ofSeq) [ "G,3,4"; "D,3,4"; "Up"; "G,3,4"; "D,3,4"; "Up"; "G,3,4"; "D,3,4" ] "schedule"
              Expect.equal (Architecture.resolution { Config = settings.Config; Steps = s }) 32 "32×32"
          }
          test "growth actions parse and format" {
              for a in GrowStep.all [ 3; 7 ] [ 16; 32 ] do
                  Expect.equal (GrowStep.parse (GrowStep.format a)) a "roundtrip"

              Expect.throwsT<UserError> (fun () -> GrowStep.parse "G,4,16" |> ignore) "even kernel"
          } ]

[<Tests>]
let trainerTests =
    testSequenced
    <| testList
        "dggan.trainer"
        [ test "a candidate trains in its run folder, stores weights.safetensors, and its child inherits them" {
              let rng = System.Random 5
              let px = Array.init (160 * 28 * 28) (fun _ -> float32 (rng.NextDouble()))
              let images = GanImages.ofUnit "random" px 160 28 28 32
              let net = FeatureClassifier.Create(1, 10, TorchSharp.torch.CPU)
              let ex = FeatureNet.extractor net
              let cpu = TorchSharp.torch.CPU
              let cfg = GanConfig(8, 4, 1, 8)

              let env =
                  { Model = cfg
                    Images = images
                    Device = cpu
                    Selection = Evaluator(ex, images, Array.init 80 id, cpu)
                    Fresh = Evaluator(ex, images, Array.init 80 (fun i -> 80 + i), cpu) }

              let d = tempDir ()
              let ts = { Iterations = 2; BatchSize = 4; LearningRate = 1e-3; EvalSamples = 70; CheckpointEvery = 1; EmaDecay = 0.0 }

              let job id parent initFrom (actions: string[]) =
                  { Folder = "candidates/" + id
                    Config =
                      { Id = id
                        Kind = "search"
                        Parent = parent
                        InitFrom = initFrom
                        Step = actions.Length
                        Action = "x"
                        Actions = actions
                        Fade = true
                        Seed = 1
                        Train = ts } }

              let r0 = Candidate.trainInFolder env RunOptions.Default d (job "a" "" "" [||]) (System.Action<string> ignore)
              Expect.isFalse r0.Diverged "trains"
              Expect.isTrue (r0.SelectionFid >= 0.0 && r0.FreshFid >= 0.0) "finite FIDs"
              Expect.isTrue (File.Exists(Path.Combine(d, "candidates", "a", Candidate.weightsFile))) "weights saved in its folder"
              Expect.isFalse (Directory.Exists(Path.Combine(d, "candidates", "a", "checkpoints"))) "checkpoints dropped once finished"

              let r1 =
                  Candidate.trainInFolder env RunOptions.Default d (job "b" "a" "candidates/a" [| "Up" |]) (System.Action<string> ignore)
              // every base layer (g_input, g_base, d_base, d_final, d_out: 10 tensors) + old toRGB/fromRGB (4 tensors)
              Expect.equal r1.Inherited 14 "inherited tensors"
              let saved = Safetensors.load (Path.Combine(d, "candidates", "b", Candidate.weightsFile))
              Expect.isFalse (saved.ContainsKey "G.g_toRGB_r8_c4.weight") "the faded-out toRGB is not saved"

              let again =
                  Candidate.trainInFolder env RunOptions.Default d (job "b" "a" "candidates/a" [| "Up" |]) (System.Action<string> ignore)

              Expect.equal again r1 "a finished candidate returns its stored result"
              Directory.Delete(d, true)
          } ]
