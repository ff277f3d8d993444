namespace AutoDesign.Reproduce.UniLoss

open System
open System.Diagnostics
open System.Runtime.InteropServices
open TorchSharp
open AutoDesign.Nn
open AutoDesign.Nn.UniLoss
open AutoDesign.UniLoss
open AutoDesign.Metrics

/// CPU time of the calling thread (clock_gettime(CLOCK_THREAD_CPUTIME_ID)): on a shared machine the
/// wall time of a call counts the time other processes held the cores; this does not.
module internal ThreadCpu =
    [<DllImport("libc", EntryPoint = "clock_gettime")>]
    extern int private clockGettime(int clock, int64[] timespec)

    /// Milliseconds of CPU this thread has used, or NaN where that cannot be read (not Linux x64/arm64).
    let ms () : float =
        if not (RuntimeInformation.IsOSPlatform OSPlatform.Linux) || not Environment.Is64BitProcess then
            nan
        else
            let ts = Array.zeroCreate<int64> 2

            try
                if clockGettime (3, ts) = 0 then float ts.[0] * 1000.0 + float ts.[1] / 1e6 else nan
            with
            | :? EntryPointNotFoundException
            | :? DllNotFoundException -> nan

/// Median training-step times of UniLoss and CE on the same network and batch.
type UnilossBenchResult =
    {
        Network: string
        Batch: int
        Anchors: int
        CeMs: float
        UniMs: float
        /// UniLoss forward + backward alone, on fixed scores (its fixed per-step cost).
        LossMs: float
        Ratio: float
    }

/// The UniLoss call (forward + backward on fixed scores) when every call brings a label batch not
/// seen before: medians over the calls of the total and of its parts (UniLoss.LastTimings).
type UnilossNewBatchResult =
    {
        Metric: string
        Batch: int
        Bits: int
        Nodes: int
        Threads: int
        /// Median (ms) of the new-batch calls, and its 10th percentile.
        Total: float
        TotalP10: float
        /// Medians (ms) of each phase of the new-batch calls (UniLoss.LastTimings).
        Phases: UniLossTimings
        /// Median (ms) of the call when the labels are cached.
        Cached: float
        /// Medians (ms) of the calling thread's CPU time for a new-batch call and a cached call.
        TotalCpu: float
        CachedCpu: float
    }

/// `autodesign bench uniloss`: one full SGD step (forward, loss, backward, update) timed for CE and
/// for UniLoss, interleaved so both see the same machine load; warm-up steps first, then medians.
module UnilossBench =
    let private median (xs: float list) =
        let a = xs |> List.sort |> Array.ofList
        if a.Length % 2 = 1 then a.[a.Length / 2] else (a.[a.Length / 2 - 1] + a.[a.Length / 2]) / 2.0

    let measure
        (device: torch.Device)
        (network: string)
        (makeModel: unit -> torch.nn.Module<torch.Tensor, torch.Tensor>)
        (x: torch.Tensor)
        (y: torch.Tensor)
        (uni: ExpLoss)
        (warmup: int)
        (steps: int)
        : UnilossBenchResult =
        let mk () =
            torch.manual_seed 7L |> ignore
            let m = makeModel ()
            m.``to`` (device) |> ignore
            m.train ()
            m, new SafeSGD(m.parameters (), 0.01, momentum = 0.9)

        let ceModel, ceOpt = mk ()
        let uniModel, uniOpt = mk ()
        use ceLoss = ExpTrain.makeLoss CrossEntropy 11
        use uniLoss = ExpTrain.makeLoss uni 11
        let ceFn, uniFn = ceLoss.Compute, uniLoss.Compute

        let step
            (model: torch.nn.Module<torch.Tensor, torch.Tensor>)
            (opt: torch.optim.Optimizer)
            (lossFn: torch.Tensor -> torch.Tensor -> torch.Tensor option)
            =
            use _ = torch.NewDisposeScope()
            let sw = Stopwatch.StartNew()
            let logits = model.forward (x)

            match lossFn logits y with
            | Some(l: torch.Tensor) ->
                opt.zero_grad ()
                l.backward ()
                opt.step () |> ignore
                l.item<float32>() |> ignore
            | None -> failwith "benchmark batch has no comparisons"

            sw.Elapsed.TotalMilliseconds

        let times =
            [ for i in 1 .. warmup + steps do
                  let c = step ceModel ceOpt ceFn
                  let u = step uniModel uniOpt uniFn
                  if i > warmup then yield c, u ]

        let ce = median (times |> List.map fst)
        let un = median (times |> List.map snd)
        // the loss alone: forward + backward from fixed logits (no network)
        let logits =
            use _ng = torch.no_grad ()
            uniModel.forward(x).detach()

        let lossOnly () =
            use _ = torch.NewDisposeScope()
            let leaf = logits.clone().requires_grad_(true)
            let sw = Stopwatch.StartNew()

            match uniFn leaf y with
            | Some l ->
                l.backward ()
                l.item<float32>() |> ignore
            | None -> ()

            sw.Elapsed.TotalMilliseconds

        let lossMs =
            median
                [ for i in 1 .. warmup + steps do
                      let v = lossOnly () in if i > warmup then yield v ]

        logits.Dispose()

        let anchors =
            match uni with
            | UniLossAP o
            | UniLossAccuracy o -> 3 * o.AnchorsPerType
            | CrossEntropy -> 0

        { Network = network
          Batch = int x.shape.[0]
          Anchors = anchors
          CeMs = ce
          UniMs = un
          LossMs = lossMs
          Ratio = un / ce }

    /// UniLoss forward + backward on fixed random scores, each call with a new random label batch
    /// (then `calls` more with one label batch, for the cached cost), on `threads` torch threads.
    let newBatchShaped
        (metric: Metric)
        (shape: int[])
        (labelShape: int[])
        (labels: int -> int64[])
        (threads: int)
        (warmup: int)
        (calls: int)
        : UnilossNewBatchResult =
        let before = torch.get_num_threads ()
        torch.set_num_threads threads

        try
            torch.manual_seed 5L |> ignore
            use scores = torch.randn (shape |> Array.map int64)
            use loss = new AutoDesign.UniLoss.UniLoss(metric, seed = 1)
            let yShape = labelShape |> Array.map int64

            let call (y: int64[]) =
                use _ = torch.NewDisposeScope()
                let leaf = scores.clone().requires_grad_(true)
                let c0 = ThreadCpu.ms ()
                let sw = Stopwatch.StartNew()
                let l = loss.forward (leaf, torch.tensor(y).reshape(yShape))
                l.backward ()
                let wall = sw.Elapsed.TotalMilliseconds
                (wall, ThreadCpu.ms () - c0), loss.LastTimings
            // warm-up (JIT), then new batches
            for i in 1..warmup do
                call (labels (1000 + i)) |> ignore

            let fresh = [ for i in 1..calls -> call (labels i) ]
            let y0 = labels 0
            let cached = [ for _ in 1..calls -> fst (call y0) ]
            let fresh = fresh |> List.map (fun ((wall, cpu), t) -> wall, cpu, t)
            let r = Refactor.trace metric shape (Labels(labelShape, y0))
            let med f = median (fresh |> List.map (fun (_, _, t) -> f t))
            let p10 = (fresh |> List.map (fun (w, _, _) -> w) |> List.sort |> Array.ofList).[calls / 10]

            { Metric = metric.Name
              Batch = shape.[0]
              Bits = r.L
              Nodes = r.Nodes.Length
              Threads = threads
              Total = median (fresh |> List.map (fun (w, _, _) -> w))
              TotalP10 = p10
              Phases =
                { Trace = med (fun t -> t.Trace)
                  Compile = med (fun t -> t.Compile)
                  Best = med (fun t -> t.Best)
                  Anchors = med (fun t -> t.Anchors)
                  G = med (fun t -> t.G)
                  Idw = med (fun t -> t.Idw)
                  Tensors = med (fun t -> t.Tensors)
                  Total = med (fun t -> t.Total)
                  NewBatch = true }
              Cached = median (cached |> List.map fst)
              TotalCpu = median (fresh |> List.map (fun (_, c, _) -> c))
              CachedCpu = median (cached |> List.map snd) }
        finally
            torch.set_num_threads before

    /// newBatchShaped with labels [n] and 5 warm-up calls.
    let newBatch (metric: Metric) (shape: int[]) (labels: int -> int64[]) (threads: int) (calls: int) : UnilossNewBatchResult =
        newBatchShaped metric shape shape.[..0] labels threads 5 calls

    /// AP (1:9 labels, scores [128]) and accuracy (10 classes, scores [128, 10]) at batch 128,
    /// single thread, a new label batch per call.
    let newBatches (calls: int) : UnilossNewBatchResult list =
        let b = 128
        let apLabels (seed: int) = let r = System.Random seed in Array.init b (fun _ -> if r.Next 10 = 0 then 1L else 0L)
        let accLabels (seed: int) = let r = System.Random seed in Array.init b (fun _ -> int64 (r.Next 10))

        [ newBatch Metrics.averagePrecision [| b |] apLabels 1 calls
          newBatch Metrics.averagePrecisionPosNeg [| b |] apLabels 1 calls
          newBatch Metrics.accuracy [| b; 10 |] accLabels 1 calls ]

    /// New-batch calls at realistic batch sizes: accuracy (10 classes), AP (pos-neg form, 1:9
    /// labels), NDCG@5 and precision@10 (relevance 0..3, a quarter relevant) at batch 128 and 1024,
    /// and mean IoU on class maps [1, 3, 32, 32] and [8, 3, 32, 32]; one torch thread.
    let scaleCases () : (Metric * int[] * int[] * (int -> int64[])) list =
        let rand (n: int) (f: System.Random -> int64) (seed: int) = let r = System.Random seed in Array.init n (fun _ -> f r)
        let rel (r: System.Random) = if r.Next 4 = 0 then int64 (1 + r.Next 3) else 0L

        [ for b in [ 128; 1024 ] do
              yield Metrics.accuracy, [| b; 10 |], [| b |], rand b (fun r -> int64 (r.Next 10))
              yield Metrics.averagePrecisionPosNeg, [| b |], [| b |], rand b (fun r -> if r.Next 10 = 0 then 1L else 0L)
              yield Metrics.ndcgAtK 5, [| b |], [| b |], rand b rel
              yield Metrics.precisionAtK 10, [| b |], [| b |], rand b rel
          for n in [ 1; 8 ] do
              yield Metrics.meanIoU, [| n; 3; 32; 32 |], [| n; 32; 32 |], rand (n * 32 * 32) (fun r -> int64 (r.Next 3)) ]

    /// scaleCases, each timed over `calls` new label batches after 2 warm-up calls.
    let scale (calls: int) : UnilossNewBatchResult list = [ for (m, shape, yShape, labels) in scaleCases () -> newBatchShaped m shape yShape labels 1 2 calls ]

    /// ResNet-20 (accuracy, 1×28×28, 10 classes) and MLP 784-500-300-2 (AP, 1:9 labels), both with the
    /// library's default UniLoss options (automatic score-gradient scale), batch 128, 48 anchors.
    let run (device: torch.Device) (warmup: int) (steps: int) : UnilossBenchResult list =
        let b = 128L
        torch.manual_seed 3L |> ignore
        let x = torch.rand ([| b; 1L; 28L; 28L |], device = device)
        let y10 = torch.randint (0L, 10L, [| b |], device = device)
        let y2 = torch.tensor ([| for i in 0 .. int b - 1 -> if i % 10 = 0 then 1L else 0L |], device = device)
        let opts = ExpUniLossOptions.Library

        [ measure device "ResNet-20, accuracy" (fun () -> UniLossModels.ResNet20(1, 10) :> _) x y10 (UniLossAccuracy opts) warmup steps
          measure device "MLP 784-500-300-2, AP" (fun () -> UniLossModels.Mlp(2) :> _) x y2 (UniLossAP opts) warmup (steps * 4) ]
