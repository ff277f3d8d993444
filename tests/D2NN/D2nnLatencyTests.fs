/// The latency cost model (tables, JSON, per-example charges, the reward using it), the fast cascade and
/// the `--cost`/`--form` options.
module AutoDesign.Tests.D2nnLatencyTests

open System
open System.IO
open Expecto
open Argu
open TorchSharp
open AutoDesign.Nn
open AutoDesign.Runs
open AutoDesign.D2NN
open AutoDesign.Reproduce.D2NN
open AutoDesign.Nn.D2NN

let private table (network: string) (nodes: (string * float[]) list) batches =
    { Network = network
      Device = "test"
      Threads = 1
      Batches = batches
      Repeats = 1
      Nodes = [| for (n, ms) in nodes -> { Node = n; Ms = ms } |] }

/// x -> q {hi, lo}; hi has more multiplications than lo.
let private highLow () = D2nnFixtures.highLow 64

let private close (a: float) (b: float) (what: string) = Expect.floatClose { absolute = 1e-9; relative = 1e-9 } a b what

[<Tests>]
let tests =
    testSequenced
    <| testList
        "d2nn.latency"
        [ test "a node's time is interpolated between the timed sizes and extrapolated past them" {
              let m = table "t" [ "a", [| 1.0; 2.0; 5.0 |] ] [| 1; 4; 16 |]
              close (m.Ms("a", 1.0)) 1.0 "timed size"
              close (m.Ms("a", 2.0)) (1.0 + 1.0 / 3.0) "between 1 and 4"
              close (m.Ms("a", 10.0)) 3.5 "between 4 and 16"
              close (m.Ms("a", 32.0)) 9.0 "past 16, along the last segment"
              close (m.Ms("a", 0.0)) 0.0 "no example, no time"
              close (m.Ms("nope", 4.0)) 0.0 "a node without a function costs nothing"
              close (m.PerExampleMs("a", 4.0)) 0.5 "per example"
              close (m.FullPerExampleMs 16) (5.0 / 16.0) "whole network per example"
          }
          test "latency models survive a JSON round trip; a broken file is one clear error" {
              let l =
                  { Batch = 64
                    D2nn = table "d" [ "a", [| 1.0; 2.5 |]; "q", [| 0.1; 0.3 |] ] [| 1; 64 |]
                    Reference = table "r" [ "a", [| 1.5; 4.0 |] ] [| 1; 64 |] }

              let path = Path.Combine(Path.GetTempPath(), sprintf "latency-%s.json" (Guid.NewGuid().ToString("N")))

              try
                  Latency.save path l
                  let back = Latency.load path
                  Expect.equal back.Batch l.Batch "batch"
                  Expect.equal back.D2nn.Batches l.D2nn.Batches "sizes"
                  Expect.equal [ for n in back.D2nn.Nodes -> n.Node, List.ofArray n.Ms ] [ for n in l.D2nn.Nodes -> n.Node, List.ofArray n.Ms ] "node times"
                  Expect.equal back.Reference.Network "r" "reference"
                  close back.Normalizer (4.0 / 64.0) "normalizer: the reference's time per example"

                  File.WriteAllText(
                      path,
                      """{ "Batch": 1, "D2nn": { "Network": "d", "Device": "x", "Threads": 1, "Batches": [1, 2], "Repeats": 1, "Nodes": [ { "Node": "a", "Ms": [1.0] } ] }, "Reference": null }"""
                  )

                  Expect.throwsT<UserError> (fun () -> Latency.load path |> ignore) "inconsistent file"
                  File.WriteAllText(path, "{ not json")
                  Expect.throwsT<UserError> (fun () -> Latency.load path |> ignore) "not JSON"
              finally
                  File.Delete path
          }
          test "measured tables time every function node at every size" {
              torch.manual_seed 2L |> ignore
              let c = highLow ()
              use _ = torch.NewDisposeScope()
              let m = Latency.measure "toy" c (torch.randn (8L, 8L)) [| 16; 1; 4 |] 3
              Expect.equal m.Batches [| 1; 4; 16 |] "sorted sizes"
              Expect.equal (m.Nodes |> Array.map (fun n -> n.Node) |> Set.ofArray) (Set.ofList [ "q"; "hi"; "lo"; "m" ]) "function nodes only"

              for n in m.Nodes do
                  Expect.all n.Ms (fun v -> v > 0.0) (sprintf "%s timed" n.Node)

              Expect.equal m.Threads (torch.get_num_threads ()) "thread count recorded"
          }
          test "per-example charges add up to the table's time for the batch; batch 1 charges each node's single-example time" {
              torch.manual_seed 4L |> ignore
              let c = highLow ()
              let m = table "toy" [ "q", [| 0.5; 1.0 |]; "hi", [| 2.0; 20.0 |]; "lo", [| 0.2; 0.4 |]; "m", [| 0.1; 0.1 |] ] [| 1; 20 |]
              use _ = torch.NewDisposeScope()
              use _ng = torch.no_grad ()
              let res = c.Executor.Forward([| torch.randn(20L, 8L).Mul(3.0) |])
              let k n = float res.Rows[c.Index[n]].Length
              Expect.isGreaterThan (k "hi") 0.0 "some examples take hi"
              Expect.isGreaterThan (k "lo") 0.0 "some take lo"
              let ms = Latency.exampleMs m 20 c res
              let total = [ "q"; "hi"; "lo"; "m" ] |> List.sumBy (fun n -> m.Ms(n, k n))
              close (Array.sum ms) total "sum over examples = time of the batch"
              let ms1 = Latency.exampleMs m 1 c res

              for i in 0..19 do
                  let branch = if res.Executed(c.Index["hi"], i) then 2.0 else 0.2
                  close ms1[i] (0.5 + branch + 0.1) (sprintf "example %d at batch 1" i)
              // twice the inference batch: each node is charged at twice the rows
              let ms40 = Latency.exampleMs m 40 c res
              close (Array.sum ms40) ([ "q"; "hi"; "lo"; "m" ] |> List.sumBy (fun n -> m.Ms(n, 2.0 * k n) / 2.0)) "scaled to the inference batch"
              Expect.sequenceEqual (Latency.normalizedCosts (Multiplications 10.0) c res) (res.Cost |> Array.map (fun v -> v / 10.0)) "multiplications"
              let l = { Batch = 1; D2nn = m; Reference = table "r" [ "hi", [| 4.0; 40.0 |] ] [| 1; 20 |] }
              Expect.sequenceEqual (Latency.normalizedCosts (Latency l) c res) (ms1 |> Array.map (fun v -> v / 4.0)) "latency / reference"
          }
          test "with a latency cost the controller follows time, not multiplications" {
              // lo has fewer multiplications but (in this table) takes far longer: at λ = 0 the reward is
              // efficiency only, so the controller must learn to take hi.
              torch.manual_seed 7L |> ignore
              let c = highLow ()
              Expect.isLessThan c.Costs["lo"] c.Costs["hi"] "lo has fewer multiplications"
              let m = table "toy" [ "q", [| 0.1; 0.1 |]; "hi", [| 0.2; 0.2 |]; "lo", [| 2.0; 2.0 |]; "m", [| 0.0; 0.0 |] ] [| 1; 32 |]
              let l = { Batch = 1; D2nn = m; Reference = table "r" [ "lo", [| 2.0; 2.0 |] ] [| 1; 32 |] }

              let cfg =
                  { Reward = Reward.tradeoff Accuracy 0.0
                    BagSize = 1
                    Epsilon = EpsilonSchedule.Linear(1.0, 0.05, 60)
                    RegularLoss = UnifiedQ
                    Cost = Latency l
                    Output = "o"
                    DetachControlInputs = false
                    ClassWeights = [||] }

              use opt = new SafeAdam(c.Parameters, 0.01)
              let rng = Random 1

              for s in 0..119 do
                  use _ = torch.NewDisposeScope()
                  Learning.step c cfg rng s opt (torch.randn (32L, 8L)) (Array.init 32 (fun _ -> rng.Next 2)) |> ignore

              use _ = torch.NewDisposeScope()
              use _ng = torch.no_grad ()
              c.Train false
              let res = c.Executor.Forward([| torch.randn (200L, 8L) |])
              let fast = res.Rows[c.Index["hi"]].Length
              Expect.isGreaterThan fast 180 (sprintf "%d of 200 examples take the faster (costlier in multiplications) path" fast)
          }
          test "timed sizes for an inference batch: powers of 4 up to it" {
              Expect.equal (Sweep.latencyBatches 256) [| 1; 4; 16; 64; 256 |] "256"
              Expect.equal (Sweep.latencyBatches 100) [| 1; 4; 16; 64; 100 |] "100"
              Expect.equal (Sweep.latencyBatches 1) [| 1 |] "one image at a time"
          }
          test "the fast cascade: its full path is the reference network plus the control nodes, with the same output" {
              let arch = FastCascade.cascade
              torch.manual_seed 3L |> ignore
              let c = Preprocess.compile (arch.Build.Invoke())
              let reference = Preprocess.compile (arch.Reference.Build.Invoke())
              Expect.equal (c.Shapes["N1"]) [| 8L; 14L; 14L |] "stride-2 stem"
              Expect.equal (c.Shapes["N5"]) [| 32L; 4L; 4L |] "trunk downsamples to 4x4"
              close reference.FullCost (c.CostOf [ "N1"; "N3"; "N5"; "N7" ]) "reference = trunk"
              Expect.equal (Training.copyMatching reference c Seq.empty |> Array.sort |> List.ofArray) [ "N1"; "N3"; "N5"; "N7" ] "trunk weights copied"

              for b in arch.Baselines do
                  Expect.isGreaterThan (Preprocess.compile (b.Build.Invoke())).FullCost 0.0 "baseline compiles"

              use _ = torch.NewDisposeScope()
              use _ng = torch.inference_mode ()
              c.Train false
              reference.Train false
              let x = torch.rand (5L, 1L, 28L, 28L)
              let all = c.Executor.Forward([| x |], ActionPolicy(fun _ q _ -> Array.create (int q.shape[0]) 1L))
              let r = reference.Executor.Forward([| x |])

              Expect.isTrue
                  (torch.allclose (all.Values[c.Index["out"]], r.Values[reference.Index["out"]], 1e-5, 1e-6))
                  "continuing everywhere = the reference network"

              for i in 0..4 do
                  close all.Cost[i] (reference.FullCost + c.CostOf [ "Q1"; "Q2"; "Q3" ]) "full-path multiplications"

              let stop = c.Executor.Forward([| x |], ActionPolicy(fun _ q _ -> Array.zeroCreate (int q.shape[0])))

              for i in 0..4 do
                  close stop.Cost[i] (c.CostOf [ "N1"; "Q1"; "N2" ]) "first exit"
              // the reference executor agrees on the semantics
              let refs = ReferenceExecutor.Run(c.Plan, [| x |])

              for i in 0..4 do
                  Expect.isTrue
                      (torch.allclose (refs[i].Outputs[0].squeeze 0L, (c.Executor.Forward([| x |])).Values[c.Index["out"]].[int64 i], 1e-5, 1e-6))
                      "greedy output"
          }
          test "--cost and --form choose the cost unit and the cascade's form" {
              let parser = ArgumentParser.Create<AutoDesign.Cli.Commands.D2nn.D2nnExpArgs>()
              let parse (args: string list) = parser.ParseCommandLine(Array.ofList args)
              let cost d a = AutoDesign.Cli.Commands.D2nn.costUnit d (parse a)
              let form n d a = AutoDesign.Cli.Commands.D2nn.architectureName n d (parse a)
              Expect.equal (cost AutoDesign.Cli.Commands.D2nn.CostArg.Mults []) Mults "default multiplications"
              Expect.equal (cost AutoDesign.Cli.Commands.D2nn.CostArg.Latency []) (Wall 256) "bench default: latency at 256"
              Expect.equal (cost AutoDesign.Cli.Commands.D2nn.CostArg.Mults [ "--cost"; "latency"; "--latency-batch"; "1" ]) (Wall 1) "batch 1"
              Expect.throwsT<ArguParseException> (fun () -> cost AutoDesign.Cli.Commands.D2nn.CostArg.Mults [ "--cost"; "flops" ] |> ignore) "unknown cost"
              Expect.throwsT<UserError> (fun () -> cost AutoDesign.Cli.Commands.D2nn.CostArg.Mults [ "--latency-batch"; "4" ] |> ignore) "batch without latency"
              Expect.equal (form "cascade" AutoDesign.Cli.Commands.D2nn.FormArg.Thesis []) "cascade" "thesis form by default"
              Expect.equal (form "cascade" AutoDesign.Cli.Commands.D2nn.FormArg.Thesis [ "--form"; "fast" ]) "cascade-fast" "fast form"
              Expect.equal (form "cascade" AutoDesign.Cli.Commands.D2nn.FormArg.Fast []) "cascade-fast" "bench default"
              Expect.throwsT<UserError> (fun () -> form "chain" AutoDesign.Cli.Commands.D2nn.FormArg.Thesis [ "--form"; "fast" ] |> ignore) "no fast chain"
              Expect.equal (D2nnExperiment.architecture "cascade-fast").Name "cascade-fast" "looked up by name"
          } ]
