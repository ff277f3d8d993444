/// `autodesign bench loader`: the data Loader (shuffled index batches -> tensors) against raw slicing of one
/// preloaded tensor, printed as batches per second and their ratio.
module AutoDesign.Reproduce.LoaderCost

open System.Diagnostics
open TorchSharp
open AutoDesign.Runs
open AutoDesign.Nn

/// Batches per second over `epochs` passes of the embedded MNIST in batches of `batch`, each way, printed.
let run (batch: int) (epochs: int) =
    if batch < 1 || epochs < 1 then Errors.fail "bench loader: --batch and --epochs must be positive"
    let ds = AutoDesign.Reproduce.Data.Datasets.load "mnist"
    let idx = Array.init ds.Count id

    let rate (f: int -> int) =
        f 0 |> ignore // warm-up
        let sw = Stopwatch.StartNew()
        let n = Seq.sum (seq { 1..epochs } |> Seq.map f)
        float n / sw.Elapsed.TotalSeconds

    let viaLoader =
        rate (fun epoch ->
            AutoDesign.Data.Loader.batches 1 epoch true batch idx
            |> Seq.sumBy (fun b ->
                use _ = torch.NewDisposeScope()
                let tensors = AutoDesign.Data.Loader.toTensors ds b torch.CPU
                let x, y = tensors.ImageTensor, tensors.LabelTensor
                x.sum().Plus(y.sum ()).Item() |> ignore
                1))

    use all = torch.tensor(ds.Images).reshape(int64 ds.Count, 1L, int64 ds.Height, int64 ds.Width)
    use labels = torch.tensor (ds.Labels |> Array.map int64)

    let raw =
        rate (fun _ ->
            Seq.sumBy
                (fun start ->
                    use _ = torch.NewDisposeScope()
                    let len = int64 (min batch (ds.Count - start))
                    let x, y = all.narrow (0L, int64 start, len), labels.narrow (0L, int64 start, len)
                    x.sum().Plus(y.sum ()).Item() |> ignore
                    1)
                (seq { 0..batch .. ds.Count - 1 }))

    printfn "data loader, MNIST %d examples, batch %d, %d epochs each:" ds.Count batch epochs
    printfn "  Loader.batches (shuffled) + Loader.toTensors: %8.1f batches/s" viaLoader
    printfn "  raw narrow() of one preloaded tensor (no shuffle): %8.1f batches/s" raw
    printfn "ratio loader/raw: %.2f" (viaLoader / raw)
