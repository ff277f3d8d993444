namespace AutoDesign.Reproduce.D2NN

open System
open TorchSharp
open AutoDesign.Nn
open AutoDesign.Nn.D2NN
open AutoDesign.Runs
open AutoDesign.D2NN
open AutoDesign.D2NN.Layers
open AutoDesign.Metrics

/// A small Dynamic Capacity Network (Almahairi et al., 2016) for 1×40×40 Cluttered MNIST, the baseline of
/// the DCN comparison (§2.5.5):
/// - coarse layers f_c on the whole image: a 16×10×10 feature map, one cell per 4×4 input block;
/// - saliency: the gradient of the entropy of the coarse prediction g(f_c(x)) with respect to the coarse
///   features, squared and summed over channels per cell; the k most salient cells are attended;
/// - fine layers f_f (higher capacity) on a 12×12 input patch around each attended cell give a 16-vector
///   that replaces the coarse one there;
/// - top layers g classify the refined map.
/// Training loss: cross-entropy of the refined and of the coarse prediction, plus the hint loss
/// ||f_c − f_f||² at the attended cells (f_f fixed in it), as in the DCN paper.
module DcnGlimpse =
    let private channels = 16
    let private grid = 10
    let private patch = 12
    let private stride = 4

    /// Coarse, fine and top layers (fresh weights from torch's default generator).
    type Model =
        { Coarse: M
          Fine: M
          Top: M }

        member m.Modules: torch.nn.Module list = [ m.Coarse; m.Fine; m.Top ]
        member m.Parameters = m.Modules |> Seq.collect (fun x -> x.parameters ()) |> Array.ofSeq

        member m.Train(on: bool) =
            for x in m.Modules do
                x.train on

    let create () : Model =
        { Coarse = seq (conv 1 channels 3 2 @ [ pool 2 2 ] @ conv channels channels 1 1) // [16,10,10]
          Fine = seq (conv 1 16 3 1 @ [ pool 2 2 ] @ conv 16 16 3 1 @ [ pool 2 2; convRaw 16 channels 3 1 0; relu (); flatten () ]) // [16]
          Top = seq (conv channels channels 3 1 @ [ pool 2 2; convRaw channels 96 4 1 0; relu (); pool 2 2; flatten (); fc 96 10 ]) }

    /// Multiplications per example with k attended cells: f_c, g twice (coarse and refined prediction),
    /// the backward pass of g to the features for the saliency (counted as one more pass of g), k × f_f.
    let multiplications (m: Model) (k: int) =
        use _ = torch.NewDisposeScope()
        use _ng = torch.no_grad ()
        let count (net: M) (shape: int64[]) = (MultCounter.Count(net, 1L, fun () -> net.call (torch.zeros shape) |> ignore)).PerExample
        let c = count m.Coarse [| 1L; 1L; 40L; 40L |]
        let f = count m.Fine [| 1L; 1L; int64 patch; int64 patch |]
        let g = count m.Top [| 1L; int64 channels; int64 grid; int64 grid |]
        c + 3.0 * g + float k * f

    /// The k most salient cells [B, k] of coarse features `feat` (no gradient flows back through the choice).
    let private salient (m: Model) (feat: torch.Tensor) (k: int) =
        use _grad = torch.enable_grad ()
        let f = feat.detach().requires_grad_(true)
        let logits = m.Top.call f
        let p = torch.nn.functional.softmax (logits, 1L)
        let logp = torch.nn.functional.log_softmax (logits, 1L)
        let entropy = p.mul(logp).sum().neg()
        let g = torch.autograd.grad(ResizeArray [ entropy ], ResizeArray [ f ]).[0]
        let struct (_, indices) = g.Squared().sum(1L).flatten(1L).topk(k, 1)
        indices

    /// The 12×12 input patches around cells `idx` [B, k] of images x [B, 1, 40, 40]: [B·k, 1, 12, 12].
    let private patches (x: torch.Tensor) (idx: torch.Tensor) =
        let b, k = x.shape[0], idx.shape[1]
        let pad = (patch - stride) / 2
        let padded = torch.nn.functional.pad (x, [| int64 pad; int64 pad; int64 pad; int64 pad |])

        let all =
            padded.unfold(2L, int64 patch, int64 stride).unfold(3L, int64 patch, int64 stride).reshape(b, int64 (grid * grid), int64 (patch * patch))

        all.gather(1L, idx.unsqueeze(2L).expand(b, k, int64 (patch * patch))).reshape(b * k, 1L, int64 patch, int64 patch)

    /// Coarse logits, refined logits and the hint loss for images x with k attended cells.
    let forward (m: Model) (x: torch.Tensor) (k: int) =
        let feat = m.Coarse.call x // [B,C,10,10]
        let b = x.shape[0]
        let coarseLogits = m.Top.call feat

        if k = 0 then
            coarseLogits, coarseLogits, torch.zeros ([||], device = x.device)
        else
            let idx = salient m feat k // [B,k]
            let fine = m.Fine.call(patches x idx).reshape(b, int64 k, int64 channels).permute(0L, 2L, 1L) // [B,C,k]
            let at = idx.unsqueeze(1L).expand(b, int64 channels, int64 k)
            let flat = feat.flatten (2L)
            let refined = flat.scatter(2L, at, fine).reshape(feat.shape)
            let hint = torch.nn.functional.mse_loss (flat.gather (2L, at), fine.detach ())
            coarseLogits, m.Top.call refined, hint

    /// Test accuracy with k attended cells (batches of 250).
    let accuracy (m: Model) (task: Task) (k: int) (device: torch.Device) =
        m.Train false
        let n = task.TestY.Length
        let preds = Array.zeroCreate<int> n

        for start in 0..250 .. n - 1 do
            use _ = torch.NewDisposeScope()
            use _ng = torch.no_grad ()
            let len = min 250 (n - start)
            let _, logits, _ = forward m (task.TestX.narrow(0L, int64 start, int64 len).``to``(device)) k
            Classification.predictions logits |> Array.iteri (fun i p -> preds[start + i] <- p)

        m.Train true
        Classification.accuracy preds task.TestY

/// Configuration of the DCN baseline's run (in the dcn sweep's folder, `dcn-glimpse/`).
type DcnGlimpseConfig =
    {
        Task: TaskInfo
        /// Batch, learning rate, seed, checkpointing; Steps: training steps.
        Training: TrainOptions
        /// Attended cells per image during training.
        TrainK: int
        /// Attended cells per image at evaluation, one point each.
        EvalK: int list
        /// The multiplications of the D²NN's reference network (cost 1.0).
        Normalizer: float
        Compute: Compute
    }

/// One evaluated point of the DCN baseline.
type DcnGlimpsePoint = { K: int; Metric: float; Cost: float; Mults: float }

module DcnGlimpseRun =
    /// Train (or load the stored result of) the DCN baseline in the run folder `sweepFolder/dcn-glimpse`.
    let run
        (options: RunOptions)
        (sweepFolder: string)
        (task: Task)
        (cfg: DcnGlimpseConfig)
        (device: torch.Device)
        (checkpointEvery: int)
        : DcnGlimpsePoint list =
        use run =
            Run.Open({ options with Root = IO.Path.Combine(options.Root, sweepFolder) }, "dcn-glimpse", "d2nn.dcn-glimpse/2", cfg)

        if run.IsFinished then
            run.Result<DcnGlimpsePoint list>()
        else
            let o = cfg.Training
            torch.manual_seed (int64 o.Seed) |> ignore
            let m = DcnGlimpse.create ()

            for x in m.Modules do
                x.``to`` (device) |> ignore

            use opt = new SafeAdam(m.Parameters, o.Lr)
            let random = SeededRandom o.Seed
            let sampler = BatchSampler(task, o.BatchSize, 0.0, random)
            let state = TrainState()
            state.AddModule("coarse", m.Coarse)
            state.AddModule("fine", m.Fine)
            state.AddModule("top", m.Top)
            state.AddOptimizer("adam", opt)
            state.AddRandom("random", random)
            sampler.Register(state, "sampler")
            state.AddTorchDefault()
            let rowEvery = max 1 (o.Steps / 50)

            Loop.run
                run
                state
                { LoopSpec.Of("dcn-glimpse", o.Steps) with CheckpointEvery = checkpointEvery }
                (fun info ctx ->
                    let batch = sampler.Next()
                    use _ = torch.NewDisposeScope()
                    use bi = torch.tensor (batch |> Array.map int64)
                    let x = task.TrainX.index_select(0L, bi).``to``(device)
                    use y = torch.tensor (batch |> Array.map (fun i -> int64 task.TrainY[i]), device = device)
                    let coarse, refined, hint = DcnGlimpse.forward m x cfg.TrainK
                    let loss = torch.nn.functional.cross_entropy(refined, y).Plus(torch.nn.functional.cross_entropy (coarse, y)).Plus(hint)
                    let lv = loss.Item()
                    if not (Double.IsFinite lv) then Errors.fail "DCN baseline training diverged at step %d: loss %g" info.Step lv
                    opt.zero_grad ()
                    loss.backward ()
                    opt.step () |> ignore
                    ctx.Show [ "loss", lv ]

                    if (info.Step + 1) % rowEvery = 0 || info.Step = o.Steps - 1 then
                        ctx.Row [ "step", float (info.Step + 1); "loss", lv; "hint", hint.Item() ])
                (fun _ _ -> ())
            |> ignore

            Safetensors.save
                (run.File "weights.safetensors")
                (dict
                    [ for (name, x) in [ "coarse", m.Coarse; "fine", m.Fine; "top", m.Top ] do
                          for e in x.state_dict () -> name + "." + e.Key, e.Value ])

            let points =
                [ for k in cfg.EvalK ->
                      let mults = DcnGlimpse.multiplications m k
                      let acc = DcnGlimpse.accuracy m task k device
                      printfn "dcn DCN baseline k=%d: accuracy %.4f, cost %.3f (%.3g mults)" k acc (mults / cfg.Normalizer) mults
                      { K = k; Metric = acc; Cost = mults / cfg.Normalizer; Mults = mults } ]

            run.Finish points
            points
