namespace AutoDesign.UniLoss

open System

/// Candidate best scores derived from the labels, for metrics that declare no Ideal. Each
/// candidate is a score tensor (so its configuration is realisable by construction) without ties
/// between any two scores, and with every score on one side of every threshold the metric uses:
///  * class labels along a class dimension d (labels shaped like the scores without dimension d,
///    values in [0, size d)): scores [n, C] with labels [n], maps [n, C, H, W] with [n, H, W], ...
///    → the labelled class above every other class ("label high") or below ("label low");
///  * relevance labels shaped like the scores ([n] or [n, 1] with [n], [n, k] with [n, k], ...)
///    → scores ordered by relevance, relevant ones (> 0) above every threshold, others below,
///    and the reverse;
///  * always: the scores in index order and in reverse index order.
/// Inside a group, ties are broken by position (both directions are tried for the label-derived
/// candidates).
module Ideals =
    /// (name, scores) candidates for scores of `shape`, in the order they are tried.
    let internal candidates (shape: int[]) (labels: Labels) (consts: float32[]) : (string * float32[]) seq =
        let total = Array.fold (*) 1 shape
        let nf = float32 total
        let hiBase = (if consts.Length > 0 then consts.[consts.Length - 1] else 0.0f) + 1.0f
        let loBase = (if consts.Length > 0 then consts.[0] else 0.0f) - 1.0f
        // position tie-break in [0, total): forward keeps earlier positions higher
        let tie (forward: bool) (k: int) = if forward then nf - float32 k else float32 k + 1.0f
        // up: strictly above every threshold, ordered by key then tie-break; down: below all
        let above (key: float32) (t: float32) = hiBase + key * (nf + 1.0f) + t
        let below (key: float32) (t: float32) = loBase - key * (nf + 1.0f) - (nf + 1.0f - t)
        let labelData = labels.Data |> Array.map int
        let yShape = labels.Shape

        let classDims =
            [ for d in 1 .. shape.Length - 1 do
                  let without = Array.append shape.[.. d - 1] shape.[d + 1 ..]
                  if without = yShape && labelData |> Array.forall (fun v -> v >= 0 && v < shape.[d]) then yield d ]

        let oneHot (d: int) =
            let inner = Array.fold (*) 1 shape.[d + 1 ..]
            let size = shape.[d]
            // the label position of flat score k drops dimension d
            Array.init total (fun k ->
                let outer = k / (size * inner)
                let c = (k / inner) % size
                let rest = k % inner
                labelData.[outer * inner + rest] = c)

        let classCands =
            seq {
                for d in classDims do
                    let hot = oneHot d

                    for forward in [ true; false ] do
                        let dir = if forward then "" else ", reverse ties"

                        yield
                            sprintf "label high (dim %d%s)" d dir,
                            Array.init total (fun k -> if hot.[k] then above 0.0f (tie forward k) else below 0.0f (tie forward k))

                        yield
                            sprintf "label low (dim %d%s)" d dir,
                            Array.init total (fun k -> if hot.[k] then below 0.0f (tie forward k) else above 0.0f (tie forward k))
            }

        let sameShape =
            yShape = shape
            || (shape.Length = yShape.Length + 1 && shape.[shape.Length - 1] = 1 && shape.[.. shape.Length - 2] = yShape)
            || (yShape.Length = shape.Length + 1 && yShape.[yShape.Length - 1] = 1 && yShape.[.. yShape.Length - 2] = shape)

        let relevanceCands =
            if not sameShape || labelData.Length <> total then
                Seq.empty
            else
                seq {
                    for forward in [ true; false ] do
                        let dir = if forward then "" else ", reverse ties"
                        let rel (k: int) = float32 labelData.[k]

                        yield
                            sprintf "relevance high%s" dir,
                            Array.init total (fun k -> if labelData.[k] > 0 then above (rel k) (tie forward k) else below (-(rel k)) (tie forward k))

                        yield
                            sprintf "relevance low%s" dir,
                            Array.init total (fun k -> if labelData.[k] > 0 then below (rel k) (tie forward k) else above (-(rel k)) (tie forward k))
                }

        let orderCands =
            seq {
                yield "index order", Array.init total (fun k -> above 0.0f (tie true k))
                yield "reverse index order", Array.init total (fun k -> above 0.0f (tie false k))
                yield "index order, below thresholds", Array.init total (fun k -> below 0.0f (tie true k))
            }

        Seq.concat [ classCands; relevanceCands; orderCands ]
