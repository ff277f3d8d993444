namespace AutoDesign.Reproduce

open System
open System.Diagnostics
open System.IO
open TorchSharp
open AutoDesign.Runs
open AutoDesign.Data
open AutoDesign.Nn
open TorchSharp.Modules

/// `bench step`: where a training step of the quick configurations' networks spends its time beyond the
/// forward pass, the backward pass and the optimizer step. Each network is timed four ways on the same
/// MNIST batches: (1) the arithmetic alone on one preloaded batch; (2) a step as a hand loop writes it,
/// with the batch's tensors made from the data set each step and the loss read to the host; (3) the run
/// engine (Fit: checkpointed state, progress, loss checks) with per-step batch tensors; (4) the engine with
/// one tensor pair per epoch whose batches are views. Every variant runs once untimed first; the engine's
/// times include its one checkpoint at the epoch's end. Printed as ms per step and as ratios to (1).
module StepCost =
    type Case =
        {
            Name: string
            Batch: int
            Build: unit -> torch.nn.Module<torch.Tensor, torch.Tensor>
            Optimizer: torch.nn.Module -> OptimizerHelper
            /// The network takes flat [B, 784] rows.
            Flat: bool
            Steps: int
        }

    /// The networks the quick configurations train most (the UniLoss MLPs and ResNet-20, the foundation MLP).
    let cases (steps: int) : Case list =
        let sgd (m: torch.nn.Module) = new SafeSGD(m.parameters (), 0.01, momentum = 0.9) :> OptimizerHelper
        let adam (m: torch.nn.Module) = new SafeAdam(m.parameters (), lr = 1e-3) :> OptimizerHelper

        let case name batch build optimizer flat steps = { Name = name; Batch = batch; Build = build; Optimizer = optimizer; Flat = flat; Steps = steps }

        [ case "MLP 784-500-300-2, batch 128, SGD (uniloss ap)" 128 (fun () -> Mlp.Create(784L, [| 500L; 300L |], 2L)) sgd true (steps * 30)
          case "MLP 784-256-128-10, batch 64, Adam (foundation)" 64 (fun () -> Mlp.Create(784L, [| 256L; 128L |], 10L)) adam true (steps * 30)
          case
              "ResNet-20 width 16, batch 128, SGD (uniloss accuracy)"
              128
              (fun () -> new AutoDesign.Nn.UniLoss.ResNet20(1, 10) :> torch.nn.Module<torch.Tensor, torch.Tensor>)
              sgd
              false
              steps ]

    type Timing = { Case: string; Bare: float; HandLoop: float; Engine: float; EngineEpochTensor: float }

    let private msPerStep (steps: int) (f: unit -> unit) =
        let sw = Stopwatch.StartNew()
        f ()
        sw.Elapsed.TotalMilliseconds / float steps

    /// Time one case; `ds` labels are taken modulo 2 for two-class networks.
    let measure (ds: Dataset) (root: string) (c: Case) : Timing =
        CpuKernels.UseLibTorchConvolutions()
        let n = c.Batch * c.Steps
        let idx = Array.init n (fun i -> i % ds.Count)
        let order = Shuffle.shuffled 1 0L idx
        let batches = Seq.chunkBySize c.Batch order |> Array.ofSeq

        let classes (m: torch.nn.Module<torch.Tensor, torch.Tensor>) =
            use _ = torch.no_grad ()
            use probe = torch.zeros (1L, 1L, 28L, 28L)
            use out = m.forward (if c.Flat then probe.flatten (1L) else probe)
            out.shape.[1]

        let fresh () =
            torch.manual_seed 1L |> ignore
            let m = c.Build()
            m, c.Optimizer m, classes m

        let lossOf (m: torch.nn.Module<torch.Tensor, torch.Tensor>) k (x: torch.Tensor) (y: torch.Tensor) =
            torch.nn.functional.cross_entropy (m.forward (if c.Flat then x.flatten (1L) else x), y.remainder (torch.tensor (k: int64)))
        // (1) the arithmetic: one preloaded batch, forward + backward + step
        let bare =
            let m, opt, k = fresh ()
            let batch = Loader.toTensors ds batches.[0] torch.CPU
            let x, y = batch.ImageTensor, batch.LabelTensor
            use x = x
            use y = y

            let step () =
                use _ = torch.NewDisposeScope()
                opt.zero_grad ()
                (lossOf m k x y).backward()
                opt.step () |> ignore

            step ()

            msPerStep c.Steps (fun () ->
                for _ in 1 .. c.Steps do
                    step ())
        // (2) a hand loop: batch tensors from the data set each step, the loss read to the host
        let hand =
            let m, opt, k = fresh ()

            let step (b: int[]) =
                use _ = torch.NewDisposeScope()
                let batch = Loader.toTensors ds b torch.CPU
                let x, y = batch.ImageTensor, batch.LabelTensor
                opt.zero_grad ()
                let l = lossOf m k x y
                ScalarOps.Item l |> ignore
                l.backward ()
                opt.step () |> ignore

            step batches.[0]

            msPerStep c.Steps (fun () ->
                for b in batches do
                    step b)
        // (3), (4) the engine, in throwaway run folders
        let engine (name: string) (fit: Run -> torch.nn.Module<torch.Tensor, torch.Tensor> -> OptimizerHelper -> int64 -> unit) =
            let m, opt, k = fresh ()
            // a first run in its own folder warms up the engine's code paths (checkpoint writing included)
            (use warm =
                Run.Open({ RunOptions.Default with Root = root; Force = true }, name + "-warm", "bench.step/1", {| Case = c.Name; Variant = name + "-warm" |})

             fit warm m opt k)

            use run =
                Run.Open({ RunOptions.Default with Root = root; Force = true }, name, "bench.step/1", {| Case = c.Name; Variant = name |})

            msPerStep c.Steps (fun () -> fit run m opt k)

        let perStep run m opt k =
            Fit.spec
                "bench"
                (m :> torch.nn.Module)
                opt
                (fun (b: int[]) -> let batch = Loader.toTensors ds b torch.CPU in lossOf m k batch.ImageTensor batch.LabelTensor)
                (fun _ -> batches)
                1
            |> Fit.run run
            |> ignore

        let perEpoch run m opt k =
            let batchesOf (_: int) =
                let batch = Loader.toTensors ds order torch.CPU
                let x, y = batch.ImageTensor, batch.LabelTensor

                Array.init batches.Length (fun i ->
                    let len = int64 batches.[i].Length
                    x.narrow (0L, int64 (i * c.Batch), len), y.narrow (0L, int64 (i * c.Batch), len))

            Fit.spec "bench" (m :> torch.nn.Module) opt (fun (x: torch.Tensor, y: torch.Tensor) -> lossOf m k x y) batchesOf 1
            |> Fit.run run
            |> ignore

        let slug = c.Name.Split(',').[0].Replace(' ', '-').ToLowerInvariant()
        let e = engine (slug + "-engine") perStep
        let et = engine (slug + "-epoch-tensor") perEpoch
        { Case = c.Name; Bare = bare; HandLoop = hand; Engine = e; EngineEpochTensor = et }

    /// Measure every case and print the table.
    let run (steps: int) =
        let ds = AutoDesign.Reproduce.Data.Datasets.load "mnist"
        let root = Path.Combine(Path.GetTempPath(), "autodesign-bench-step-" + Guid.NewGuid().ToString("N"))
        let quiet = Progress.Quiet
        Progress.Quiet <- true

        try
            printfn "training step cost, 1 torch thread, MNIST 28x28 batches (ms per step; ratio to the arithmetic alone):"
            printfn "  %-56s %9s %17s %17s %17s" "network" "arithmetic" "hand loop" "engine" "engine+epoch tensor"

            [ for c in cases steps ->
                  let t = measure ds root c

                  printfn
                      "  %-56s %9.2f %9.2f (%.2fx) %9.2f (%.2fx) %9.2f (%.2fx)"
                      t.Case
                      t.Bare
                      t.HandLoop
                      (t.HandLoop / t.Bare)
                      t.Engine
                      (t.Engine / t.Bare)
                      t.EngineEpochTensor
                      (t.EngineEpochTensor / t.Bare)

                  t ]
        finally
            Progress.Quiet <- quiet

            try
                Directory.Delete(root, true)
            with _ ->
                ()
