namespace AutoDesign.Reproduce.D2NN

open System
open System.Diagnostics
open TorchSharp
open AutoDesign.Runs
open AutoDesign.Nn.D2NN
open AutoDesign.D2NN

/// Timing tools of `bench d2nn`: inference wall time, where it goes, and a time model that splits the
/// D²NN's wall-time fraction into the executor's share and the architecture's.
module D2nnTiming =
    /// Wall time (ms) of inference over `x` in batches with `policy` (null: greedy).
    let timeMs (c: CompiledD2nn) (x: torch.Tensor) (batch: int) (policy: unit -> ActionPolicy) =
        c.Train false
        let n = int x.shape[0]
        let p = policy ()
        // one inference-mode guard for the pass, as a serving loop would hold it
        use _inf = torch.inference_mode ()
        let sw = Stopwatch.StartNew()

        for start in 0..batch .. n - 1 do
            use _ = torch.NewDisposeScope()
            c.Executor.Forward([| x.narrow (0L, int64 start, int64 (min batch (n - start))) |], p) |> ignore

        let ms = sw.Elapsed.TotalMilliseconds
        c.Train true
        ms

    let greedy () : ActionPolicy = null

    /// Best of `runs` interleaved timings of the D²NN and the full network (same machine load for both).
    let race (d2nn: CompiledD2nn) (full: CompiledD2nn) (x: torch.Tensor) (batch: int) (runs: int) (policy: unit -> ActionPolicy) =
        timeMs d2nn x batch policy |> ignore
        timeMs full x batch greedy |> ignore
        let mutable dBest, fBest = infinity, infinity

        for _ in 1..runs do
            dBest <- min dBest (timeMs d2nn x batch policy)
            fBest <- min fBest (timeMs full x batch greedy)

        dBest, fBest

    /// Examples each node ran on, the node functions' profiled time (ms), and the whole profile, over `x`.
    let nodeProfile (c: CompiledD2nn) (x: torch.Tensor) (batch: int) (policy: ActionPolicy) =
        let e = c.Executor
        c.Train false
        e.Profile <- true
        e.ResetProfile()
        let n = int x.shape[0]
        let counts = Array.zeroCreate<float> c.Order.Length

        for start in 0..batch .. n - 1 do
            use _ = torch.NewDisposeScope()
            use _inf = torch.inference_mode ()
            let res = e.Forward([| x.narrow (0L, int64 start, int64 (min batch (n - start))) |], policy)

            for k in 0 .. counts.Length - 1 do
                counts[k] <-
                    counts[k]
                    + (match res.Rows[k] with
                       | null -> 0.0
                       | r -> float r.Length)

        e.Profile <- false
        c.Train true
        counts, Array.copy e.NodeMs

    /// One profiled pass: where the D²NN's wall time goes.
    let profile (c: CompiledD2nn) (x: torch.Tensor) (batch: int) (policy: unit -> ActionPolicy) =
        nodeProfile c x batch (policy ()) |> ignore
        let e = c.Executor
        let fnMs = Array.sum e.NodeMs

        let top =
            e.NodeMs
            |> Array.mapi (fun i ms -> c.Order[i], ms)
            |> Array.sortByDescending snd
            |> Array.truncate 5
            |> Array.map (fun (n, ms) -> sprintf "%s %.1f" n ms)
            |> String.concat ", "

        let kinds = [ for k in Enum.GetValues<GatherKind>() -> sprintf "%A %d" k e.GatherCounts[int k] ] |> String.concat ", "

        printfn
            "  where the D²NN's %.1f ms go (batch %d): node functions %.1f ms (%s), sub-batch inputs %.1f ms (%s), action choice %.1f ms, bookkeeping %.1f ms"
            e.TotalMs
            batch
            fnMs
            top
            e.GatherMs
            kinds
            e.PolicyMs
            (e.TotalMs - fnMs - e.GatherMs - e.PolicyMs)

    /// Time the node functions would take if each node's time scaled exactly with the examples it runs:
    /// Σ_k msAll[k] · counts[k] / countsAll[k], where msAll/countsAll come from a pass where every node
    /// ran (nodes that never ran there contribute nothing).
    let idealMs (msAll: float[]) (countsAll: float[]) (counts: float[]) =
        if msAll.Length <> countsAll.Length || counts.Length <> countsAll.Length then
            Errors.fail "time model: %d node times, %d full counts and %d counts differ in length" msAll.Length countsAll.Length counts.Length

        Array.init counts.Length (fun k -> if countsAll[k] > 0.0 then msAll[k] * counts[k] / countsAll[k] else 0.0) |> Array.sum

    /// Every control node continues (action 1): each stage of a cascade runs on every example.
    let continueAll = ActionPolicy(fun _ q _ -> Array.create (int q.shape[0]) 1L)

    /// Splits the wall-time fraction into the executor's share and the architecture's: every node is
    /// timed on all examples (each control node continues), and its time is scaled by the fraction of
    /// examples that reach it under `policy`. If the executor skipped perfectly, the D²NN would take that
    /// "ideal" time; measured node time ÷ ideal is the executor factor (smaller sub-batches cost more per
    /// example), ideal ÷ full-network time against the multiplication fraction the architecture factor
    /// (time per multiplication differs between stages). Returns (executor factor, architecture factor).
    let timeModel (c: CompiledD2nn) (x: torch.Tensor) (batch: int) (policy: unit -> ActionPolicy) (fullMs: float) (multFraction: float) =
        nodeProfile c x batch continueAll |> ignore
        let countsAll, msAll = nodeProfile c x batch continueAll
        let counts, ms = nodeProfile c x batch (policy ())
        let ideal = idealMs msAll countsAll counts
        let measured = Array.sum ms

        let perMult =
            [ for k in 0 .. c.Order.Length - 1 do
                  let name = c.Order[k]
                  let cost = c.Costs[name]

                  if cost > 0.0 && countsAll[k] > 0.0 && not (isNull c.Plan.Nodes[k].Function) then
                      yield sprintf "%s %.2f" name (msAll[k] * 1e6 / (cost * countsAll[k])) ]
            |> String.concat ", "

        printfn
            "  time model (batch %d): node time scaled by the examples reaching each node = %.1f ms (%.1f%% of the full network); measured node time %.1f ms (executor factor %.2f); ideal-time fraction / multiplication fraction = %.2f (architecture factor)"
            batch
            ideal
            (100.0 * ideal / fullMs)
            measured
            (measured / ideal)
            (ideal / fullMs / multFraction)

        printfn "  ns per multiplication when run on every example (batch %d): %s" batch perMult
        measured / ideal, ideal / fullMs / multFraction

    /// Mean multiplications per example of `c` under `policy`, as a fraction of `full`.
    let multFraction (c: CompiledD2nn) (full: float) (x: torch.Tensor) (batch: int) (policy: ActionPolicy) =
        let n = int x.shape[0]
        let mutable total = 0.0
        c.Train false

        for start in 0..batch .. n - 1 do
            use _ = torch.NewDisposeScope()
            use _inf = torch.inference_mode ()
            let res = c.Executor.Forward([| x.narrow (0L, int64 start, int64 (min batch (n - start))) |], policy)
            total <- total + Array.sum res.Cost

        c.Train true
        total / float n / full

    /// Mean latency per example that `l` predicts for greedy inference of `c` over `x` in batches of
    /// `batch`, as a fraction of the reference network's.
    let modeledFraction (l: LatencyCost) (batch: int) (c: CompiledD2nn) (x: torch.Tensor) =
        let n = int x.shape[0]
        let chunk = if batch = 1 then 256 else batch
        let mutable total = 0.0
        c.Train false

        for start in 0..chunk .. n - 1 do
            use _ = torch.NewDisposeScope()
            use _inf = torch.inference_mode ()
            let len = min chunk (n - start)
            let res = c.Executor.Forward([| x.narrow (0L, int64 start, int64 len) |])
            // routing is per example, so a chunk of 256 routes as 256 batches of one would
            total <- total + Array.sum (Latency.exampleMs l.D2nn (if batch = 1 then 1 else len) c res)

        c.Train true
        total / float n / l.Reference.FullPerExampleMs batch
