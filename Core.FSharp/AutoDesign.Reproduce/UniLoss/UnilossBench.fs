namespace AutoDesign.Reproduce.UniLoss

open System.Diagnostics
open TorchSharp
open AutoDesign.Nn
open AutoDesign.Nn.UniLoss
open AutoDesign.UniLoss
open AutoDesign.Metrics

/// Median training-step times of UniLoss and CE on the same network and batch.
type UnilossBenchResult =
    { Network: string
      Batch: int
      Anchors: int
      CeMs: float
      UniMs: float
      /// UniLoss forward + backward alone, on fixed scores (its fixed per-step cost).
      LossMs: float
      Ratio: float }

/// `autodesign bench uniloss`: one full SGD step (forward, loss, backward, update) timed for CE and
/// for UniLoss, interleaved so both see the same machine load; warm-up steps first, then medians.
module UnilossBench =
    let private median (xs: float list) =
        let a = xs |> List.sort |> Array.ofList
        if a.Length % 2 = 1 then a.[a.Length / 2] else (a.[a.Length / 2 - 1] + a.[a.Length / 2]) / 2.0

    let measure (device: torch.Device) (network: string) (makeModel: unit -> torch.nn.Module<torch.Tensor, torch.Tensor>)
                (x: torch.Tensor) (y: torch.Tensor) (uni: ExpLoss) (warmup: int) (steps: int) : UnilossBenchResult =
        let mk () =
            torch.manual_seed 7L |> ignore
            let m = makeModel ()
            m.``to``(device) |> ignore
            m.train()
            m, new SafeSGD(m.parameters(), 0.01, momentum = 0.9)
        let ceModel, ceOpt = mk ()
        let uniModel, uniOpt = mk ()
        let ceFn, ceHandle = ExpTrain.makeLoss CrossEntropy 11
        let uniFn, uniHandle = ExpTrain.makeLoss uni 11
        use _ = ceHandle
        use _ = uniHandle
        let step (model: torch.nn.Module<torch.Tensor, torch.Tensor>) (opt: torch.optim.Optimizer) (lossFn: torch.Tensor -> torch.Tensor -> torch.Tensor option) =
            use _ = torch.NewDisposeScope()
            let sw = Stopwatch.StartNew()
            let logits = model.forward(x)
            match lossFn logits y with
            | Some (l: torch.Tensor) ->
                opt.zero_grad()
                l.backward()
                opt.step() |> ignore
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
            use _ng = torch.no_grad()
            uniModel.forward(x).detach()
        let lossOnly () =
            use _ = torch.NewDisposeScope()
            let leaf = logits.clone().requires_grad_(true)
            let sw = Stopwatch.StartNew()
            match uniFn leaf y with
            | Some l -> l.backward(); l.item<float32>() |> ignore
            | None -> ()
            sw.Elapsed.TotalMilliseconds
        let lossMs = median [ for i in 1 .. warmup + steps do let v = lossOnly () in if i > warmup then yield v ]
        logits.Dispose()
        let anchors = match uni with UniLossAP o | UniLossAccuracy o -> 3 * o.AnchorsPerType | CrossEntropy -> 0
        { Network = network; Batch = int x.shape.[0]; Anchors = anchors; CeMs = ce; UniMs = un; LossMs = lossMs; Ratio = un / ce }

    /// ResNet-20 (accuracy, 1×28×28, 10 classes; the accuracy experiment's UniLoss arm, with corrective
    /// nearby anchors and gradient normalisation) and MLP 784-500-300-2 (AP, 1:9 labels; the thesis's
    /// settings, as the MNIST AP experiment), batch 128, 48 anchors.
    let run (device: torch.Device) (warmup: int) (steps: int) : UnilossBenchResult list =
        let b = 128L
        torch.manual_seed 3L |> ignore
        let x = torch.rand([| b; 1L; 28L; 28L |], device = device)
        let y10 = torch.randint(0L, 10L, [| b |], device = device)
        let y2 = torch.tensor([| for i in 0 .. int b - 1 -> if i % 10 = 0 then 1L else 0L |], device = device)
        let opts = { ExpUniLossOptions.Defaults with AnchorsPerType = 16 }
        [ measure device "ResNet-20, accuracy" (fun () -> UniLossModels.ResNet20(1, 10) :> _) x y10 (UniLossAccuracy UnilossExp.accuracyResNetDefaults) warmup steps
          measure device "MLP 784-500-300-2, AP" (fun () -> UniLossModels.Mlp(2) :> _) x y2 (UniLossAP opts) warmup (steps * 4) ]
