/// `autodesign bench uniloss`: prints UniLoss ÷ CE step-time ratios (target ≤ 1.25), and the cost of a UniLoss
/// call on a new label batch, by phase.
module AutoDesign.Reproduce.UniLoss.UnilossBenchReport

open System

/// A new-batch call's phases (medians, ms): "trace 0.12 + compile ... + tensors 0.05".
let private phasesText (t: AutoDesign.UniLoss.UniLossTimings) =
    sprintf "trace %.2f + compile %.2f + b* %.2f + anchors %.2f + g %.2f + IDW %.2f + tensors %.2f" t.Trace t.Compile t.Best t.Anchors t.G t.Idw t.Tensors

/// The load average (/proc/loadavg), or "unknown" where it cannot be read.
let private loadAverage () =
    try
        (IO.File.ReadAllText "/proc/loadavg").Trim()
    with _ ->
        "unknown"

let run (dev: TorchSharp.torch.Device) (steps: int) =
    printfn "load average before: %s (%d logical CPUs)" (loadAverage ()) Environment.ProcessorCount
    printfn "UniLoss call (forward + backward, fixed scores) on a NEW label batch, batch 128, 48 anchors, 1 torch thread; medians in ms:"

    for r in AutoDesign.Reproduce.UniLoss.UnilossBench.newBatches (max 20 (steps * 4)) do
        printfn
            "  %-10s l=%4d bits, %4d g nodes: new batch %.2f ms (p10 %.2f) = %s; cached labels %.2f ms %s"
            r.Metric
            r.Bits
            r.Nodes
            r.Total
            r.TotalP10
            (phasesText r.Phases)
            r.Cached
            (if r.Total <= 2.0 then "(target <= 2 ms: OK)" else "(target <= 2 ms: ABOVE)")

    printfn
        "UniLoss call on a NEW label batch at scale (batch 128 and 1024; mean IoU on class maps n x 3 x 32 x 32), 48 anchors, 1 torch thread; medians in ms:"

    for r in AutoDesign.Reproduce.UniLoss.UnilossBench.scale (max 5 steps) do
        let target =
            if r.Metric = "ap-posneg" then 20.0
            elif r.Metric = "ndcg@5" || r.Metric = "mean-iou" then 50.0
            else nan

        let verdict =
            if Double.IsNaN target || r.Batch < 8 || (r.Batch < 1024 && r.Metric <> "mean-iou") then
                ""
            else
                sprintf "(target <= %.0f ms, thread CPU: %s)" target (if r.TotalCpu <= target then "OK" else "ABOVE")

        printfn
            "  %-12s batch %4d, l=%7d bits, %7d g nodes: new batch %8.2f ms (thread CPU %8.2f) = %s; cached %7.2f ms (CPU %7.2f) %s"
            r.Metric
            r.Batch
            r.Bits
            r.Nodes
            r.Total
            r.TotalCpu
            (phasesText r.Phases)
            r.Cached
            r.CachedCpu
            verdict

    let results = AutoDesign.Reproduce.UniLoss.UnilossBench.run dev 3 steps

    for r in results do
        printfn
            "%-22s batch %d, %d anchors: CE %.2f ms/step, UniLoss %.2f ms/step, ratio %.3f (target <= 1.25) %s"
            r.Network
            r.Batch
            r.Anchors
            r.CeMs
            r.UniMs
            r.Ratio
            (if r.Ratio <= 1.25 then "OK" else "ABOVE TARGET")

        printfn "%-22s the loss alone (forward + backward on fixed scores): %.2f ms/step = %.2f x the CE step" "" r.LossMs (r.LossMs / r.CeMs)

        if r.Ratio > 1.25 then
            printfn
                "%-22s limit: the loss costs a fixed %.2f ms per step (f, %d anchors, compiled g over them, IDW), whatever the network;"
                ""
                r.LossMs
                r.Anchors

            printfn "%-22s this network's whole CE step is only %.2f ms, so the ratio cannot drop below about 1 + %.2f / %.2f." "" r.CeMs r.LossMs r.CeMs

    printfn "load average after: %s" (loadAverage ())
