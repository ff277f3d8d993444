namespace AutoDesign.UniLoss.Baselines

open System
open TorchSharp

/// Input checks the peer losses share: one UserError naming the loss and the problem.
module internal PeerChecks =
    let shapeText (t: torch.Tensor) = String.Join(", ", t.shape)

    /// Scores must be finite floating-point values.
    let finite (name: string) (what: string) (t: torch.Tensor) =
        if not (t.is_floating_point ()) then Errors.fail "%s: %s must be floating point, got %A" name what t.dtype
        use _ = torch.no_grad ()
        use ok = torch.isfinite(t).all()
        if not (ok.item<bool>()) then Errors.fail "%s: %s hold NaN or infinite values" name what

    /// Integer labels as a host array, each in [0, classes).
    let labelsIn (name: string) (classes: int) (y: torch.Tensor) : int64[] =
        if y.is_floating_point () then Errors.fail "%s: labels must be integers, got %A" name y.dtype
        let v = y.cpu().to_type(torch.int64).data<int64>().ToArray()

        match v |> Array.tryFind (fun l -> l < 0L || l >= int64 classes) with
        | Some bad -> Errors.fail "%s: labels must be in [0, %d), got %d" name classes bad
        | None -> v

    /// Binary labels {0, 1} with as many entries as the scores.
    let binary (name: string) (scores: torch.Tensor) (labels: torch.Tensor) =
        finite name "scores" scores

        if scores.numel () <> labels.numel () then
            Errors.fail "%s: %d scores but %d labels" name (scores.numel ()) (labels.numel ())

        labelsIn name 2 labels
