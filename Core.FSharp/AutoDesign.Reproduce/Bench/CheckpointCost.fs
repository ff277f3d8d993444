/// `autodesign bench checkpoint`: the engine's atomic checkpoint (weights + Adam state + map, fsync + rename)
/// against a plain Module.save of the weights, printed as ms per write and their ratio.
module AutoDesign.Reproduce.CheckpointCost

open System
open System.Diagnostics
open System.IO
open TorchSharp
open AutoDesign.Runs
open AutoDesign.Nn

let private timeEach (repeats: int) (f: unit -> unit) =
    f () // warm-up
    let sw = Stopwatch.StartNew()

    for _ in 1..repeats do
        f ()

    sw.Elapsed.TotalMilliseconds / float repeats

/// Time `repeats` writes of each kind for an MLP of two hidden layers of `hidden` units, and print them.
let run (repeats: int) (hidden: int) =
    if repeats < 1 || hidden < 1 then Errors.fail "bench checkpoint: --repeats and --hidden must be positive"
    let hidden = int64 hidden
    let model = Mlp.Create(784L, [| hidden; hidden |], 10L)
    let opt = new SafeAdam(model.parameters (), lr = 1e-3)
    // one step so Adam has moment buffers to save
    (use _ = torch.NewDisposeScope()
     let loss = model.forward(torch.randn (8L, 784L)).Squared().mean()
     loss.backward ()
     opt.step () |> ignore)

    let dir = Path.Combine(Path.GetTempPath(), sprintf "autodesign-bench-%d" Environment.ProcessId)
    Directory.CreateDirectory dir |> ignore

    try
        let plainPath = Path.Combine(dir, "plain.bin")
        let plain = timeEach repeats (fun () -> model.save (plainPath) |> ignore)
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
