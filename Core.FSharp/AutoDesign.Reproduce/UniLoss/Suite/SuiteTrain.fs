namespace AutoDesign.Reproduce.UniLoss.Suite

open System
open TorchSharp
open AutoDesign.Nn
open AutoDesign.UniLoss
open AutoDesign.UniLoss.Baselines
open AutoDesign.Reproduce.UniLoss

/// A task of the metric suite: the metric a user cares about, on its data.
type SuiteTask =
    | ApTask of positiveShare: float option
    | AurocTask of positiveShare: float option
    | MacroF1Task
    | NdcgTask
    | IouTask
    | AccuracyTask

/// Training one arm (CE, default UniLoss on the task's metric, the peer method) of one task and seed with a
/// one-hidden-layer MLP, and scoring it on the task's test set.
module SuiteTrain =
    let private share =
        function
        | None -> "1to9"
        | Some f -> sprintf "%gpct" (100.0 * f)

    let taskId (t: SuiteTask) =
        match t with
        | ApTask s -> "ap-" + share s
        | AurocTask s -> "auroc-" + share s
        | MacroF1Task -> "macro-f1-longtail"
        | NdcgTask -> "ndcg5-ranking"
        | IouTask -> "miou-segmentation"
        | AccuracyTask -> "accuracy-10class"

    /// The job a task runs in: AP and AUROC at one class ratio share one.
    let partOf (t: SuiteTask) =
        match t with
        | ApTask s
        | AurocTask s -> "imbalanced-" + share s
        | _ -> taskId t

    /// The data a task trains and tests on (SuiteData builds it), in words.
    let describe (t: SuiteTask) (size: SuiteSize) =
        match t with
        | ApTask s
        | AurocTask s ->
            sprintf
                "Fashion-MNIST T-shirt vs rest: %s of %d training images, natural 1:9 test set of %d"
                (match s with
                 | None -> "natural 1:9 subset"
                 | Some f -> sprintf "negatives plus positives down-sampled to %g%%" (100.0 * f))
                size.Train
                size.Test
        | MacroF1Task ->
            sprintf
                "Fashion-MNIST 10 classes, training counts decaying 100:1 from %d (class 0) to %d (class 9), balanced test set of %d"
                (max 10 (size.Train * 2 / 5))
                (max 1 (size.Train * 2 / 500))
                size.Test
        | NdcgTask ->
            sprintf
                "graded-relevance ranking stand-in: %d training / %d test queries of 20 Fashion-MNIST images (from %d / %d images), relevance 2 for the query class, 1 for the next class, 0 otherwise"
                size.TrainQueries
                size.TestQueries
                size.Train
                size.Test
        | IouTask ->
            sprintf
                "segmentation stand-in: embedded MNIST digits at 14x14 plus Gaussian noise (sd 0.6), foreground/background masks (clean pixel > 0.4); %d training / %d test images"
                (SuiteData.segmentationTrain size)
                (min size.Test 2000)
        | AccuracyTask -> sprintf "Fashion-MNIST 10 classes, %d training / %d test images" size.Train size.Test

    let metricName (t: SuiteTask) =
        match t with
        | ApTask _ -> "AP"
        | AurocTask _ -> "AUROC"
        | MacroF1Task -> "macro-F1"
        | NdcgTask -> "NDCG@5"
        | IouTask -> "mean IoU"
        | AccuracyTask -> "accuracy"

    let peerName (t: SuiteTask) =
        match t with
        | ApTask _ -> "SOAP AP loss (Qi et al. 2021; LibAUC APLoss settings margin 1.0, gamma 0.99; Adam lr 1e-3)"
        | AurocTask _ ->
            "AUC-margin loss + PESG (Yuan et al. 2021; margin 1.0, lr 0.1, epoch decay 0.003, weight decay 1e-4, momentum 0.9, lr/10 with a new reference point at 50% and 75% of training; at the quick budget of 48 steps it has not yet learned a ranking, see docs/uniloss.md)"
        | MacroF1Task -> "soft macro-F1 from softmax probabilities (Jansche 2005), CE's optimiser"
        | NdcgTask -> "ApproxNDCG (Qin et al. 2010, alpha 10), CE's optimiser"
        | IouTask -> "Lovasz-softmax (Berman et al. 2018), CE's optimiser"
        | AccuracyTask -> "none (CE is the peer)"

    let arms (t: SuiteTask) =
        match t with
        | AccuracyTask -> [ "ce"; "uniloss" ]
        | _ -> [ "ce"; "uniloss"; "peer" ]

    let all =
        [ ApTask None; ApTask(Some 0.02); AurocTask None; AurocTask(Some 0.02); MacroF1Task; NdcgTask; IouTask; AccuracyTask ]

    /// The task's data; validate: a validation set carved from the training pool in place of the test set.
    let data (validate: bool) (t: SuiteTask) (size: SuiteSize) (seed: int) =
        match t with
        | ApTask s
        | AurocTask s -> SuiteData.imbalanced validate s size seed
        | MacroF1Task -> SuiteData.longTailed validate size seed
        | NdcgTask -> SuiteData.ranking validate size seed
        | IouTask -> SuiteData.segmentation validate size seed
        | AccuracyTask -> SuiteData.tenClass validate size seed

    let private outputs (t: SuiteTask) (d: SuiteData) =
        match t with
        | ApTask _
        | AurocTask _ -> 1
        | IouTask -> 2 * d.TargetsPer
        | _ -> 10

    let private batchSize (t: SuiteTask) =
        match t with
        | ApTask _
        | AurocTask _ -> 128
        | IouTask -> 16
        | _ -> 64

    /// The CE recipe every arm but SOAP and PESG uses: SGD, lr 0.05, momentum 0.9, weight decay 1e-4.
    let ceLr, ceMomentum, ceWeightDecay = 0.05, 0.9, 1e-4

    let private x (d: SuiteData) (train: bool) (idx: int[]) (device: torch.Device) =
        let src = if train then d.TrainX else d.TestX
        let buf = Array.zeroCreate<float32>(idx.Length * d.Inputs)
        idx |> Array.iteri (fun k i -> Array.blit src (i * d.Inputs) buf (k * d.Inputs) d.Inputs)
        torch.tensor(buf, device = device).reshape(int64 idx.Length, int64 d.Inputs)

    let private y (d: SuiteData) (idx: int[]) (device: torch.Device) =
        let per = d.TargetsPer
        let buf = Array.zeroCreate<int64>(idx.Length * per)

        idx
        |> Array.iteri (fun k i ->
            for p in 0 .. per - 1 do
                buf.[k * per + p] <- int64 d.TrainY.[i * per + p])

        torch.tensor (buf, device = device)

    let private hasBoth (labels: torch.Tensor) =
        let p = labels.sum().item<int64>()
        p > 0L && p < labels.shape.[0]

    /// Per-query score lists [Q, 20] of rows' outputs at the queries' classes.
    let private queryScores (logits: torch.Tensor) (qs: (int * int[])[]) =
        let items = int64 (snd qs.[0]).Length
        let cls = torch.tensor (qs |> Array.collect (fun (q, it) -> Array.create it.Length (int64 q)), device = logits.device)
        logits.gather(1L, cls.unsqueeze (1L)).reshape(int64 qs.Length, items)

    let private relevanceOf (labels: int[]) (qs: (int * int[])[]) (device: torch.Device) =
        torch
            .tensor(qs |> Array.collect (fun (q, it) -> it |> Array.map (fun i -> int64 (SuiteData.relevance q labels.[i]))), device = device)
            .reshape(int64 qs.Length, int64 (snd qs.[0]).Length)

    /// Test metric of `model` on the task's test set.
    let evaluate (t: SuiteTask) (d: SuiteData) (model: torch.nn.Module<torch.Tensor, torch.Tensor>) (device: torch.Device) =
        model.eval ()
        use _ = torch.no_grad ()
        let n = d.TestX.Length / d.Inputs

        let out =
            [| for chunk in Array.chunkBySize 500 (Array.init n id) do
                   use scope = torch.NewDisposeScope()
                   let o = model.forward(x d false chunk device).cpu()
                   let c = int o.shape.[1]
                   let flat = o.data<float32>().ToArray()
                   yield! Array.init chunk.Length (fun i -> flat.[i * c .. i * c + c - 1]) |]

        match t with
        | ApTask _ -> SuiteMetrics.ap (out |> Array.map (fun r -> float r.[0])) d.TestY
        | AurocTask _ -> SuiteMetrics.auroc (out |> Array.map (fun r -> float r.[0])) d.TestY
        | MacroF1Task -> SuiteMetrics.macroF1 out d.TestY
        | AccuracyTask -> SuiteMetrics.accuracy out d.TestY
        | NdcgTask ->
            d.TestQueries
            |> Array.averageBy (fun (q, items) ->
                SuiteMetrics.ndcgAtK 5 (items |> Array.map (fun i -> float out.[i].[q])) (items |> Array.map (fun i -> SuiteData.relevance q d.TestY.[i])))
        | IouTask ->
            let px = d.TargetsPer
            let pred = out |> Array.collect (fun r -> Array.init px (fun p -> if r.[px + p] > r.[p] then 1 else 0))
            SuiteMetrics.meanIoU 2 pred d.TestY

    /// Train `arm` ("ce", "uniloss" or "peer") of task `t` on `d` for size.Epochs epochs with UniLoss options `uniOptions`
    /// (the library's defaults in the suite; the seed is set here); returns the metric on d's test (or validation) set.
    let runWith (uniOptions: UniLossOptions) (t: SuiteTask) (d: SuiteData) (size: SuiteSize) (seed: int) (arm: string) (device: torch.Device) : float =
        if not (List.contains arm (arms t)) then
            Errors.fail "suite: task %s has no arm '%s' (arms: %s)" (taskId t) arm (String.Join(", ", arms t))

        if size.Epochs < 1 then Errors.fail "suite: epochs must be at least 1, got %d" size.Epochs
        torch.manual_seed (int64 seed) |> ignore
        use model = new Mlp(int64 d.Inputs, [| int64 size.Hidden |], int64 (outputs t d))
        model.``to`` (device) |> ignore
        let nTrain = d.TrainY.Length / d.TargetsPer

        let metric =
            match t with
            | ApTask _ -> Metrics.averagePrecision
            | AurocTask _ -> Metrics.auroc
            | MacroF1Task -> Metrics.macroF1
            | NdcgTask -> Metrics.ndcgAtK 5
            | IouTask -> Metrics.meanIoU
            | AccuracyTask -> Metrics.accuracy

        let uo = uniOptions.Clone()
        uo.Seed <- seed * 1000003 + 17
        use uni = new UniLoss(metric, uo)
        let positives = float (d.TrainY |> Array.sumBy (fun v -> if v = 1 then 1 else 0)) / float nTrain
        use soap = new SoapApLoss(nTrain)
        use aucm = new AucMarginLoss(min 0.999 (max 0.001 positives))
        let pesg = lazy (new Pesg(model.parameters () |> Seq.map (fun p -> p :> torch.Tensor), aucm))

        let opt: torch.optim.Optimizer option =
            match t, arm with
            | ApTask _, "peer" -> Some(new SafeAdam(model.parameters (), 1e-3) :> _)
            | AurocTask _, "peer" -> None
            | _ -> Some(new SafeSGD(model.parameters (), ceLr, momentum = ceMomentum, weight_decay = ceWeightDecay) :> _)

        let ce (logits: torch.Tensor) (yb: torch.Tensor) =
            match t with
            | ApTask _
            | AurocTask _ -> torch.nn.functional.binary_cross_entropy_with_logits (logits.select (1L, 0L), yb.to_type (torch.float32))
            | IouTask -> torch.nn.functional.cross_entropy (logits.reshape (logits.shape.[0], 2L, -1L), yb.reshape (logits.shape.[0], -1L))
            | _ -> torch.nn.functional.cross_entropy (logits, yb)

        let loss (logits: torch.Tensor) (yb: torch.Tensor) (idx: int[]) : torch.Tensor option =
            match t, arm with
            | NdcgTask, _ -> Errors.fail "suite: ranking batches are query lists"
            | _, "ce" -> Some(ce logits yb)
            | (ApTask _ | AurocTask _), "uniloss" -> if hasBoth yb then Some(uni.forward (logits.select (1L, 0L), yb)) else None
            | ApTask _, _ ->
                if yb.sum().item<int64>() > 0L then
                    Some(soap.Forward(logits.select (1L, 0L), yb, torch.tensor (idx |> Array.map int64)))
                else
                    None
            | AurocTask _, _ -> Some(aucm.Forward(logits.select (1L, 0L), yb))
            | (MacroF1Task | AccuracyTask), "uniloss" -> Some(uni.forward (logits, yb))
            | MacroF1Task, _ -> Some(SoftF1.loss logits yb)
            | IouTask, a ->
                let side = int64 (sqrt (float d.TargetsPer))
                let maps = logits.reshape (logits.shape.[0], 2L, side, side)
                let ym = yb.reshape (logits.shape.[0], side, side)
                if a = "uniloss" then Some(uni.forward (maps, ym)) else Some(LovaszSoftmax.loss maps ym)
            | AccuracyTask, _ -> None

        let rankLoss (logits: torch.Tensor) (qs: (int * int[])[]) =
            let s = queryScores logits qs
            let rel = relevanceOf d.TrainY qs device

            match arm with
            | "ce" ->
                // listwise softmax cross-entropy (ListNet top-1 form) with target ∝ 2^rel − 1
                let gain = rel.to_type(torch.float32).Mul(log 2.0).exp().Sub(1.0)
                let has = gain.sum([| 1L |]).Gt(0.0)
                let target = gain.div (gain.sum([| 1L |], keepdim = true).ClampMin(1e-12))
                let perQuery = target.mul(s.log_softmax (1L)).sum([| 1L |]).neg()
                if has.any().item<bool>() then Some(perQuery.masked_select(has).mean()) else None
            | "uniloss" ->
                let per =
                    [ for k in 0 .. qs.Length - 1 do
                          let r = rel.[int64 k]
                          if r.sum().item<int64>() > 0L then yield uni.forward (s.[int64 k], r) ]

                if per.IsEmpty then None else Some(torch.stack(per).mean())
            | _ -> Some(ApproxNdcg.loss s rel)

        let bs = batchSize t

        for epoch in 0 .. size.Epochs - 1 do
            if
                arm = "peer"
                && (match t with
                    | AurocTask _ -> true
                    | _ -> false)
                && size.Epochs >= 4
                && (epoch = size.Epochs / 2 || epoch = size.Epochs * 3 / 4)
            then
                pesg.Force().UpdateRegularizer 10.0

            model.train ()

            let units =
                match t with
                | NdcgTask -> d.TrainQueries.Length
                | _ -> nTrain

            for batch in
                ExpData.batches
                    seed
                    epoch
                    true
                    (match t with
                     | NdcgTask -> 8
                     | _ -> bs)
                    (Array.init units id) do
                use scope = torch.NewDisposeScope()

                let l =
                    match t with
                    | NdcgTask ->
                        let qs = batch |> Array.map (fun k -> d.TrainQueries.[k])
                        let rows = qs |> Array.collect snd
                        rankLoss (model.forward (x d true rows device)) qs
                    | _ -> loss (model.forward (x d true batch device)) (y d batch device) batch

                match l with
                | Some l ->
                    let v = l.item<float32>()

                    if Single.IsNaN v || Single.IsInfinity v then
                        Errors.fail "suite: %s/%s loss became %g at epoch %d; lower the learning rate" (taskId t) arm v epoch

                    match opt with
                    | Some o ->
                        o.zero_grad ()
                        l.backward ()
                        o.step () |> ignore
                    | None ->
                        pesg.Force().ZeroGrad()
                        model.zero_grad ()
                        l.backward ()
                        pesg.Force().Step()
                | None -> ()

        if pesg.IsValueCreated then (pesg.Value :> IDisposable).Dispose()
        opt |> Option.iter (fun o -> o.Dispose())
        evaluate t d model device

    /// runWith the library's default UniLoss options.
    let run (t: SuiteTask) (d: SuiteData) (size: SuiteSize) (seed: int) (arm: string) (device: torch.Device) : float =
        runWith (UniLossOptions()) t d size seed arm device
