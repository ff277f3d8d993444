/// `autodesign bench <system>`: speed measurements printed as ratios measured in one run.
module AutoDesign.Cli.Commands.Bench

open System
open System.Diagnostics
open System.IO
open Argu
open TorchSharp
open AutoDesign.Runs
open AutoDesign.Nn
open AutoDesign.Cli
open AutoDesign.Cli.Globals

[<CliPrefix(CliPrefix.DoubleDash)>]
type BenchCheckpointArgs =
    | Repeats of n: int
    | Hidden of width: int
    interface IArgParserTemplate with
        member a.Usage =
            match a with
            | Repeats _ -> "writes per variant (default 20)."
            | Hidden _ -> "hidden width of the benchmarked MLP (default 1024, ~1.9M weights)."

[<CliPrefix(CliPrefix.DoubleDash)>]
type BenchLoaderArgs =
    | Batch of size: int
    | Epochs of n: int
    interface IArgParserTemplate with
        member a.Usage =
            match a with
            | Batch _ -> "batch size (default 128)."
            | Epochs _ -> "passes over the embedded MNIST per variant (default 3)."

[<CliPrefix(CliPrefix.DoubleDash)>]
type BenchUnilossArgs =
    | Steps of n: int
    interface IArgParserTemplate with
        member a.Usage =
            match a with
            | Steps _ -> "timed steps per loss after 3 warm-up steps (default 10; the MLP gets 4x as many)."

[<CliPrefix(CliPrefix.DoubleDash)>]
type BenchStepArgs =
    | Steps of n: int
    interface IArgParserTemplate with
        member a.Usage =
            match a with
            | Steps _ -> "timed steps per variant for ResNet-20 (default 10; the MLPs get 30x as many)."

/// One case per system.
type BenchArgs =
    | [<CliPrefix(CliPrefix.None)>] Checkpoint of ParseResults<BenchCheckpointArgs>
    | [<CliPrefix(CliPrefix.None)>] Loader of ParseResults<BenchLoaderArgs>
    | [<CliPrefix(CliPrefix.None)>] Step of ParseResults<BenchStepArgs>
    | [<CliPrefix(CliPrefix.None)>] Uniloss of ParseResults<BenchUnilossArgs>
    | [<CliPrefix(CliPrefix.None)>] D2nn of ParseResults<AutoDesign.Cli.Commands.D2nn.D2nnExpArgs>
    interface IArgParserTemplate with
        member a.Usage =
            match a with
            | D2nn _ -> "fast cascade D²NN and its early-exit baseline, λ with the mini-bag prior (data or sampled; --bags-at-sampled-prior fixes it) and the threshold chosen on validation (cheapest within 0.01 of the full network's validation metric): test metric and wall time against the full network at batch 256 and 1."
            | Loader _ -> "data Loader (shuffled index batches -> tensors) vs raw slicing of one preloaded tensor, batches/s."
            | Step _ -> "a training step of the quick configurations' networks: the arithmetic alone vs a hand loop vs the run engine, with per-step or per-epoch batch tensors."
            | Checkpoint _ -> "atomic checkpoint (weights + Adam state + map, fsync + rename) vs plain Module.save of the weights."
            | Uniloss _ -> "UniLoss / CE training-step time on the same network and batch (128, 48 anchors); target <= 1.25."

let private timeEach (repeats: int) (f: unit -> unit) =
    f () // warm-up
    let sw = Stopwatch.StartNew()
    for _ in 1..repeats do f ()
    sw.Elapsed.TotalMilliseconds / float repeats

let checkpoint (r: ParseResults<BenchCheckpointArgs>) =
    let repeats = r.GetResult(Repeats, defaultValue = 20)
    let hidden = int64 (r.GetResult(Hidden, defaultValue = 1024))
    if repeats < 1 || hidden < 1L then Errors.fail "bench checkpoint: --repeats and --hidden must be positive"
    let model = Mlp.Create(784L, [| hidden; hidden |], 10L)
    let opt = new SafeAdam(model.parameters (), lr = 1e-3)
    // one step so Adam has moment buffers to save
    (use _ = torch.NewDisposeScope()
     let loss = model.forward(torch.randn(8L, 784L)).Squared().mean()
     loss.backward ()
     opt.step () |> ignore)
    let dir = Path.Combine(Path.GetTempPath(), sprintf "autodesign-bench-%d" Environment.ProcessId)
    Directory.CreateDirectory dir |> ignore
    try
        let plainPath = Path.Combine(dir, "plain.bin")
        let plain = timeEach repeats (fun () -> model.save(plainPath) |> ignore)
        let state = TrainState()
        state.AddModule("model", model)
        state.AddOptimizer("optimizer", opt)
        state.AddTorchDefault()
        let mutable step = 0L
        let committed =
            timeEach repeats (fun () ->
                let snap = Snapshot.Empty()
                state.Capture snap
                step <- step + 1L
                Checkpoints.commit dir step snap)
        let ckDir = Path.Combine(Checkpoints.folder dir, step.ToString("D12"))
        let bytes = Directory.GetFiles ckDir |> Array.sumBy (fun f -> FileInfo(f).Length)
        let weights = model.parameters () |> Seq.sumBy (fun p -> p.numel ())
        printfn "checkpoint write, %d weights, %d repeats each:" weights repeats
        printfn "  plain Module.save (weights only):                          %8.2f ms (%.1f MB)" plain (float (FileInfo(plainPath).Length) / 1e6)
        printfn "  engine checkpoint (safetensors + state, fsync, published): %8.2f ms (%.1f MB)" committed (float bytes / 1e6)
        printfn "ratio checkpoint/plain: %.2fx" (committed / plain)
    finally
        Directory.Delete(dir, true)
    0

let loader (r: ParseResults<BenchLoaderArgs>) =
    let batch = r.GetResult(Batch, defaultValue = 128)
    let epochs = r.GetResult(Epochs, defaultValue = 3)
    if batch < 1 || epochs < 1 then Errors.fail "bench loader: --batch and --epochs must be positive"
    let ds = AutoDesign.Reproduce.Data.Datasets.load "mnist"
    let idx = Array.init ds.Count id
    let rate (f: int -> int) =
        f 0 |> ignore // warm-up
        let sw = Stopwatch.StartNew()
        let n = Seq.sum (seq { 1 .. epochs } |> Seq.map f)
        float n / sw.Elapsed.TotalSeconds
    let viaLoader =
        rate (fun epoch ->
            AutoDesign.Data.Loader.batches 1 epoch true batch idx
            |> Seq.sumBy (fun b ->
                use _ = torch.NewDisposeScope()
                let x, y = AutoDesign.Data.Loader.toTensors ds b torch.CPU
                x.sum().Plus(y.sum()).Item() |> ignore
                1))
    use all = torch.tensor(ds.Images).reshape(int64 ds.Count, 1L, int64 ds.Height, int64 ds.Width)
    use labels = torch.tensor(ds.Labels |> Array.map int64)
    let raw =
        rate (fun _ ->
            Seq.sumBy (fun start ->
                use _ = torch.NewDisposeScope()
                let len = int64 (min batch (ds.Count - start))
                let x, y = all.narrow(0L, int64 start, len), labels.narrow(0L, int64 start, len)
                x.sum().Plus(y.sum()).Item() |> ignore
                1) (seq { 0 .. batch .. ds.Count - 1 }))
    printfn "data loader, MNIST %d examples, batch %d, %d epochs each:" ds.Count batch epochs
    printfn "  Loader.batches (shuffled) + Loader.toTensors: %8.1f batches/s" viaLoader
    printfn "  raw narrow() of one preloaded tensor (no shuffle): %8.1f batches/s" raw
    printfn "ratio loader/raw: %.2f" (viaLoader / raw)
    0

let handle (g: Globals) (r: ParseResults<BenchArgs>) =
    g.NoJobs "bench"
    match r.GetSubCommand() with
    | Checkpoint c -> checkpoint c
    | Step st ->
        AutoDesign.Reproduce.StepCost.run (Values.positive "steps" (st.GetResult(BenchStepArgs.Steps, defaultValue = 10))) |> ignore
        0
    | Uniloss u ->
        let steps = Values.positive "steps" (u.GetResult(BenchUnilossArgs.Steps, defaultValue = 10))
        AutoDesign.Cli.Commands.Uniloss.bench (g.Start()) steps
    | Loader l -> loader l
    | D2nn d -> AutoDesign.Cli.Commands.D2nn.bench g d
