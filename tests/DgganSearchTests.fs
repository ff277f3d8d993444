module AutoDesign.Tests.DgganSearchTests

open System.IO
open Expecto
open AutoDesign.Runs
open AutoDesign.DGGAN
open AutoDesign.Reproduce.DGGAN
open AutoDesign.Metrics
open AutoDesign.Nn.DGGAN

let private settings =
    { Config = GanConfig(8, 4, 1, 8); Kernels = [ 3; 7 ]; Filters = [ 4; 8 ]; FinalResolution = 32
      Depth = 5; TopK = 2; P = 0.4; Seed = 11 }
let private train = { Iterations = 1; BatchSize = 2; LearningRate = 1e-3; EvalSamples = 2 }

/// A runner double: a deterministic FID from the architecture, counting its calls; can "die" after n calls.
let private double (calls: int ref) (dieAfter: int option) : Runner =
    { Train = fun job ->
        match dieAfter with
        | Some n when calls.Value >= n -> failwith "killed"
        | _ ->
            calls.Value <- calls.Value + 1
            let h = (Architecture.describe job.Arch).GetHashCode() |> abs
            { Fid = float (h % 1000) / 10.0; Diverged = false; Inherited = 0; FinalDLoss = 0.0; FinalGLoss = 0.0; Seconds = 0.0 } }

let private tempDir () =
    let d = Path.Combine(Path.GetTempPath(), sprintf "dggan-search-%s" (System.Guid.NewGuid().ToString("N")))
    Directory.CreateDirectory d |> ignore
    d

let private runSearch dir runner =
    let statePath = Path.Combine(dir, "search.json")
    let state = ref (SearchState.loadOrCreate statePath (Search.signature settings train))
    Search.run settings runner statePath (Path.Combine(dir, "weights")) state ignore

[<Tests>]
let tests =
    testList "dggan.search" [
        test "search is deterministic and every final candidate reaches the final resolution" {
            let d1, d2 = tempDir (), tempDir ()
            let a = runSearch d1 (double (ref 0) None)
            let b = runSearch d2 (double (ref 0) None)
            Expect.equal (a |> List.map (fun c -> c.Id, c.Actions)) (b |> List.map (fun c -> c.Id, c.Actions)) "same candidates"
            let last = a |> List.filter (fun c -> c.Step = settings.Depth)
            Expect.isNonEmpty last "final step has candidates"
            for c in last do Expect.equal c.Resolution 32 "final resolution"
            for c in a |> List.filter (fun c -> c.Parent <> "") do
                let p = a |> List.find (fun x -> x.Id = c.Parent)
                Expect.equal c.Actions (Array.append p.Actions [| c.Action |]) "child = parent + action"
            Directory.Delete(d1, true); Directory.Delete(d2, true)
        }
        test "children come only from the top-K parents of the previous step" {
            let d = tempDir ()
            let all = runSearch d (double (ref 0) None)
            for step in 2 .. settings.Depth do
                let prev = all |> List.filter (fun c -> c.Step = step - 1) |> Search.rank |> List.truncate settings.TopK |> List.map (fun c -> c.Id) |> Set.ofList
                for c in all |> List.filter (fun c -> c.Step = step) do
                    Expect.isTrue (prev.Contains c.Parent) (sprintf "%s's parent %s is in the top K" c.Id c.Parent)
            Directory.Delete(d, true)
        }
        test "resume after a kill skips finished candidates" {
            let d = tempDir ()
            let total = List.length (runSearch (tempDir ()) (double (ref 0) None))
            let first = ref 0
            Expect.throws (fun () -> runSearch d (double first (Some 4)) |> ignore) "killed mid-search"
            Expect.equal first.Value 4 "4 candidates finished before the kill"
            let persisted = SearchState.load (Path.Combine(d, "search.json"))
            Expect.equal persisted.Candidates.Length 4 "state holds the finished ones"
            let second = ref 0
            let all = runSearch d (double second None)
            Expect.equal second.Value (total - 4) "resume trains only the rest"
            Expect.equal all.Length total "same search"
            Directory.Delete(d, true)
        }
        test "resuming with other settings is refused" {
            let d = tempDir ()
            runSearch d (double (ref 0) None) |> ignore
            let statePath = Path.Combine(d, "search.json")
            Expect.throwsT<UserError> (fun () -> SearchState.loadOrCreate statePath "other" |> ignore) "signature"
            Directory.Delete(d, true)
        }
        test "the ProgGAN schedule is symmetric and ends at the final resolution" {
            let s = Architecture.progGanSchedule settings.Config 32
            Expect.equal (s |> List.map GrowStep.format) [ "G,3,4"; "D,3,4"; "Up"; "G,3,4"; "D,3,4"; "Up"; "G,3,4"; "D,3,4" ] "schedule"
            Expect.equal (Architecture.resolution { Config = settings.Config; Steps = s }) 32 "32×32"
        }
        test "growth actions parse and format" {
            for a in GrowStep.all [ 3; 7 ] [ 16; 32 ] do Expect.equal (GrowStep.parse (GrowStep.format a)) a "roundtrip"
            Expect.throwsT<UserError> (fun () -> GrowStep.parse "G,4,16" |> ignore) "even kernel"
        }
    ]

[<Tests>]
let trainerTests =
    testList "dggan.trainer" [
        test "a candidate trains, saves weights, and its child inherits them" {
            let rng = System.Random 5
            let px = Array.init (24 * 28 * 28) (fun _ -> float32 (rng.NextDouble()))
            let images = GanImages.ofUnit "random" px 24 28 28 32
            let net = FeatureClassifier.Create(1, 10, TorchSharp.torch.CPU)
            let ev = Evaluator(FeatureNet.extractor net, images, 24, TorchSharp.torch.CPU)
            let ts = { Iterations = 2; BatchSize = 4; LearningRate = 1e-3; EvalSamples = 24 }
            let runner = CandidateTrainer.inProcess ts images ev TorchSharp.torch.CPU ignore
            let d = tempDir ()
            let cfg = GanConfig(8, 4, 1, 8)
            let a0 = Architecture.initial cfg
            let w0 = Path.Combine(d, "a.dgw")
            let r0 = runner.Train { Id = "a"; Arch = a0; ParentWeights = None; WeightsPath = w0; Seed = 1 }
            Expect.isFalse r0.Diverged "trains"
            Expect.isTrue (r0.Fid >= 0.0) "finite FID"
            Expect.isTrue (File.Exists w0) "weights saved"
            let r1 = runner.Train { Id = "b"; Arch = Architecture.grow a0 Upscale; ParentWeights = Some w0; WeightsPath = Path.Combine(d, "b.dgw"); Seed = 2 }
            // every base layer (g_input, g_base, d_base, d_final, d_out: 10 tensors) + old toRGB/fromRGB (4 tensors)
            Expect.equal r1.Inherited 14 "inherited tensors"
            let saved = NamedWeights.Read(Path.Combine(d, "b.dgw"))
            Expect.isFalse (saved.ContainsKey "G.g_toRGB_r8_c4.weight") "the faded-out toRGB is not saved"
            Directory.Delete(d, true)
        }
    ]
