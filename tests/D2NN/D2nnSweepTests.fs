module AutoDesign.Tests.D2nnSweepTests

open System
open System.IO
open Expecto
open TorchSharp
open AutoDesign.Runs
open AutoDesign.D2NN
open AutoDesign.Reproduce.D2NN

/// The task `name` on 96 examples `x` with labels `y`: the first 48 to train, the next 16 to validate, the last 32 to test.
let splitTask (name: string) (data: string) (x: torch.Tensor) (y: int[]) =
    { Name = name
      Data = data
      TrainX = x.narrow (0L, 0L, 48L)
      TrainY = y[..47]
      ValX = x.narrow (0L, 48L, 16L)
      ValY = y[48..63]
      TestX = x.narrow (0L, 64L, 32L)
      TestY = y[64..]
      Metric = Accuracy
      Classes = 2 }

/// A tiny binary task on random 28×28 images (labels from the mean of the left half).
let tinyTask () =
    torch.manual_seed 21L |> ignore
    let x = torch.rand (96L, 1L, 28L, 28L)

    let y =
        x.narrow(3L, 0L, 14L).mean([| 1L; 2L; 3L |]).data<float32>().ToArray() |> Array.map (fun v -> if v > 0.5f then 1 else 0)

    splitTask "tiny" "random images (test)" x y

/// A sweep context of `arch` on `task` in a fresh runs root.
let tinyContext (arch: Architecture) (task: Task) (steps: int) =
    let root = TempDir.fresh "sweep"

    let settings =
        { Architecture = arch.Name
          Task = TaskInfo.Of task
          BaselineSteps = steps
          WarmupSteps = steps / 2
          InheritBaselines = true
          EqualBudget = true
          Cost = Mults
          Compute = { Device = "cpu"; Threads = torch.get_num_threads () }
          Training = { TrainOptions.Default with Steps = steps; BatchSize = 16; BagSize = 4; EpsilonSteps = steps / 2; Seed = 4 } }

    { Options = { RunOptions.Default with Root = root }
      Folder = "d2nn/tiny/seed4"
      Architecture = arch
      Task = task
      Settings = settings
      Device = torch.CPU
      CheckpointEvery = 2
      TrainDependencies = true
      Hint = Func<string, string>(fun s -> "--only " + s) }

let private weightsOf (c: CompiledD2nn) = [ for p in c.Parameters -> p.detach().clone() ]

let private same (a: torch.Tensor list) (b: torch.Tensor list) =
    a.Length = b.Length && List.forall2 (fun (p: torch.Tensor) (q: torch.Tensor) -> p.allclose (q, 0.0, 0.0)) a b

[<Tests>]
let tests =
    testSequenced
    <| testList
        "d2nn.sweep"
        [ test "static baselines are reproducible from the seed whatever torch's generator held before" {
              let task = tinyTask ()

              let weights () =
                  let ctx = tinyContext Architectures.highLow task 4
                  Sweep.openSweep ctx

                  [ for b in Architectures.highLow.Baselines do
                        yield! weightsOf ((Sweep.staticRun ctx b).Trained) ]

              torch.manual_seed 1L |> ignore
              let a = weights ()
              torch.manual_seed 999L |> ignore
              torch.rand (1000L) |> ignore
              let b = weights ()
              Expect.isTrue (same a b) "identical trained baseline weights"
          }
          test "a baseline continued to equal training equals one trained that long in one run" {
              let task = tinyTask ()
              let ctx = tinyContext Architectures.highLow task 4
              Sweep.openSweep ctx
              let b = Architectures.highLow.Reference
              let equal = Sweep.equalBudgetRun ctx b
              Expect.equal equal.Steps ctx.Settings.D2nnTotalSteps "4 + 2 warm-up + 4 Q-learning steps"

              let cont =
                  D2nnExperiment.loadNetwork
                      { Architecture = Architectures.highLow
                        Task = task
                        Dir = Path.Combine(ctx.Options.Root, ctx.Folder)
                        Settings = ctx.Settings
                        Lambdas = []
                        Recipes = []
                        Baselines = []
                        EqualBudget = []
                        Points = []
                        Dcn = []
                        EarlyExit = []
                        Latency = None }
                      ("static-equal/" + Sweep.slug b.Name)
                      b.Build
                      torch.CPU
              // the same baseline trained 10 steps straight
              let long =
                  { ctx with
                      Settings = { ctx.Settings with BaselineSteps = equal.Steps }
                      Options = { ctx.Options with Root = ctx.Options.Root + "-long" } }

              Sweep.openSweep long
              let straight = (Sweep.staticRun long b).Trained
              Expect.isTrue (same (weightsOf cont) (weightsOf straight)) "continued = straight"
          }
          test "a λ point refuses to train its missing warm start when dependencies are not to be trained" {
              let task = tinyTask ()
              let ctx = { tinyContext Architectures.highLow task 2 with TrainDependencies = false }
              Sweep.openSweep ctx

              let msg =
                  try
                      Sweep.pointRun ctx Recipe.Default 0.5 |> ignore
                      ""
                  with UserError m ->
                      m

              Expect.stringContains msg "--only warm-start" "names the stage to run first"
          }
          test "reproduce rows summarize three seeds of both recipes with both costs (tiny dcn sweeps)" {
              let root = TempDir.fresh "rows"

              let ctx: AutoDesign.Reproduce.ExperimentContext =
                  { Quick = true
                    Device = torch.CPU
                    RunsRoot = root
                    Options = { RunOptions.Default with Root = root }
                    Seed = 3
                    Threads = 1 }

              let o =
                  { ExperimentOptions.Defaults root with
                      Seed = 3
                      ThesisRecipe = true
                      Lambdas = Some [ 0.5 ]
                      Threads = torch.get_num_threads ()
                      Sizes = { Steps = Some 2; Train = Some 48; Test = Some 24; Batch = Some 16 } }

              let rows = AutoDesign.Reproduce.D2nnExperiments.rowsWith "dcn" "claim" "thesis" ctx o

              Expect.equal
                  (rows |> List.map (fun r -> r.Experiment))
                  [ "dcn"; "dcn (unifiedq-joint)"; "dcn verdict: D2NN vs High NN (all H links) at equal training" ]
                  "one row per recipe, then the verdict (dcn has no early exit)"

              Expect.stringContains (List.last rows).Measured "Verdict:" "the verdict row decides"
              Expect.stringContains (List.last rows).Measured "chosen on validation" "the λ is chosen on validation"
              let main = rows.Head
              Expect.stringContains main.Measured "seeds 3,4,5" "three seeds"
              Expect.stringContains main.Measured "±" "mean ± sd"
              Expect.stringContains main.Measured "time" "the modeled time fraction"
              Expect.stringContains main.Measured "DCN-style baseline k=4" "the DCN baseline"
              Expect.stringContains main.Measured "(5 steps)" "the baselines at equal training: 2 inherited + 1 warm-up + 2 Q-learning steps"
              Expect.isFalse (main.Config.Contains root) "no absolute path in the row"

              for f in [ "curve.csv"; "curve.png"; "paths.csv"; "paths.png" ] do
                  Expect.isTrue (File.Exists(Path.Combine(root, "d2nn", "dcn-quick-sized-" + D2nnExperiment.dataVersion, f))) (f + " summarizes the seeds")
          }
          test "bench time model scales each node's full-pass time by the examples reaching it" {
              // node 0 ran on all 100 examples in 10 ms and on 100 under the policy; node 1: 40 ms for 100, 25 under
              // the policy; node 2 never ran in the full pass (an exit) and is ignored: 10 + 40 * 0.25 = 20 ms.
              let ideal = D2nnTiming.idealMs [| 10.0; 40.0; 3.0 |] [| 100.0; 100.0; 0.0 |] [| 100.0; 25.0; 7.0 |]
              Expect.isTrue (abs (ideal - 20.0) < 1e-9) (sprintf "ideal ms %g" ideal)
              Expect.throwsT<UserError> (fun () -> D2nnTiming.idealMs [| 1.0 |] [| 1.0; 2.0 |] [| 1.0 |] |> ignore) "length mismatch is a UserError"
          } ]
