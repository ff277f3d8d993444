namespace AutoDesign.D2NN

open System
open TorchSharp
open AutoDesign.Nn
open AutoDesign.Runs
open AutoDesign.Nn.D2NN
open AutoDesign.Metrics

/// The accuracy metric A of the reward, computed by AutoDesign.Metrics (Classification). Predictions of -1
/// mean "no output" (always wrong / negative).
type AccuracyMetric =
    | Accuracy
    /// F-score of class `Positive` against the rest (a set-based metric: use mini-bags, §2.4.2). A mini-bag
    /// with no positive label and no positive prediction scores 1 (Classification's rule).
    | F1 of Positive: int

    /// The F-score of class `positive` (the factory for C#).
    static member F1Score(positive: int) = F1 positive

    member m.Name =
        match m with
        | Accuracy -> "accuracy"
        | F1 _ -> "F1"

    /// The metric of predictions against labels.
    member m.Evaluate(preds: int[], labels: int[]) = m.EvaluateWeighted(null, preds, labels)

    /// The metric with a weight per example (null or empty: unweighted).
    member m.EvaluateWeighted(weights: float[], preds: int[], labels: int[]) =
        match m with
        | Accuracy -> Classification.weightedAccuracy weights preds labels
        | F1 p -> Classification.weightedF1 weights p preds labels

/// What a reward sees for one mini-bag: predictions, labels, per-example cost normalized by the
/// reference network (1.0 = as many multiplications as the reference, or as much measured time), and
/// per-example weights for the accuracy metric (empty: unweighted; see LearnConfig.ClassWeights).
type Bag = { Predictions: int[]; Labels: int[]; NormalizedCosts: float[]; Weights: float[] }

/// A reward on a mini-bag.
type RewardFn = Func<Bag, float>

module Reward =
    /// r = λ·A + (1 − λ)·E with E = 1 − mean normalized cost (§2.4.1: multiplications; or latency); A is
    /// computed with the bag's example weights when it has any.
    [<CompiledName("Tradeoff")>]
    let tradeoff (metric: AccuracyMetric) (lambda: float) : RewardFn =
        RewardFn(fun bag ->
            let a = metric.EvaluateWeighted(bag.Weights, bag.Predictions, bag.Labels)
            let e = 1.0 - (if bag.NormalizedCosts.Length = 0 then 0.0 else Array.average bag.NormalizedCosts)
            lambda * a + (1.0 - lambda) * e)

/// How regular nodes learn: the unified approach (class scores as action-values, Q-learning like the
/// control nodes) or cross-entropy on the output scores with a weight against the Q losses.
type RegularLoss =
    | UnifiedQ
    | CrossEntropy of Weight: float

    /// Cross-entropy on the output scores with `weight` against the Q losses (the factory for C#).
    static member CrossEntropyWeighted(weight: float) = CrossEntropy weight

/// ε decays linearly from `Start` to `Stop` over `Steps` steps, then stays at `Stop`.
type EpsilonSchedule =
    { Start: float
      Stop: float
      Steps: int }

    /// ε at a 0-based training step.
    member e.At(step: int) = if step >= e.Steps then e.Stop else e.Start + (e.Stop - e.Start) * float step / float (max 1 e.Steps)
    static member Linear(start: float, stop: float, steps: int) = { Start = start; Stop = stop; Steps = steps }

type LearnConfig =
    {
        Reward: RewardFn
        /// Examples per mini-bag (1 = per-example rewards).
        BagSize: int
        Epsilon: EpsilonSchedule
        RegularLoss: RegularLoss
        /// What the cost counts (multiplications or measured latency) and what counts as cost 1.0
        /// (the reference network, e.g. the high-capacity static network).
        Cost: CostMeasure
        /// The output node carrying class scores [B, C].
        Output: string
        /// Stop the control nodes' Q-learning gradient at their inputs, so only the regular losses shape
        /// the shared features (false: the thesis's fully joint training).
        DetachControlInputs: bool
        /// Weight of an example of each label in the bag's accuracy metric (empty: unweighted). With
        /// class-balanced sampling, weights prior/sampled-fraction per class score a bag as if drawn at the
        /// data set's (= the test set's) class prior.
        ClassWeights: float[]
    }

type StepStats = { Loss: float; Reward: float; Cost: float; Accuracy: float; Epsilon: float }

module Learning =
    /// Eq. 2.3 over a mini-batch of mini-bags: q[k] holds Q(s_i, a_i) for the rows that executed,
    /// bagOfRow[k] the bag of each row; loss = (1/nBags) Σ_b (r_b − Σ_{i∈b} Q(s_i, a_i))² over the bags
    /// where the node executed at least once. Gradient w.r.t. Q(s_i, a_i): −2(r_b − Σ Q)/nBags (Eq. 2.6).
    [<CompiledName("BagQLoss")>]
    let bagQLoss (q: torch.Tensor) (bagOfRow: int64[]) (rewards: float32[]) : torch.Tensor =
        let nBags = rewards.Length
        let device = q.device
        use idx = torch.tensor (bagOfRow, device = device)
        use one = (1.0f).ToScalar()
        let sums: torch.Tensor = torch.zeros([| int64 nBags |], device = device).index_add(0L, idx, q, one)
        let present = Array.zeroCreate<float32> nBags

        for b in bagOfRow do
            present[int b] <- 1.0f

        use r = torch.tensor (rewards, device = device)
        use mask = torch.tensor (present, device = device)
        let d = (r - sums) * mask
        (d * d).sum().Div(float nBags)

    /// ε-greedy over the actions in q [k, A].
    [<CompiledName("EpsilonGreedy")>]
    let epsilonGreedy (rng: Random) (eps: float) (q: torch.Tensor) : int64[] =
        let greedy = D2nnExecutor.Greedy(0, q, null)
        let a = int q.shape[1]
        greedy |> Array.map (fun g -> if rng.NextDouble() < eps then int64 (rng.Next a) else g)

    /// Predictions (-1 where the output is null) from the output node, with its chosen class actions.
    let private outputActions (res: ExecutionResult) (o: int) (choose: torch.Tensor -> int64[]) =
        let preds = Array.create res.Batch -1
        let rows = res.Rows[o]
        let acts = if rows.Length = 0 then [||] else choose res.Values[o]
        rows |> Array.iteri (fun k r -> preds[int r] <- int acts[k])
        preds, acts

    /// Run `c` in training mode on `x` under `policy`; `detach`: stop the control nodes' gradient at their inputs.
    let private forwardTraining (c: CompiledD2nn) (detach: bool) (policy: ActionPolicy) (x: torch.Tensor) =
        c.Train true
        c.Executor.DetachControlInputs <- detach
        c.Executor.Forward([| x |], policy)

    /// The value of `loss`, after one step of `opt` on it (none when nothing in it learns); a loss that is
    /// not finite is a UserError "`diverged`: loss is ...".
    let private descend (opt: torch.optim.Optimizer) (diverged: string) (loss: torch.Tensor) : float =
        let lv = loss.item<float32>() |> float

        if Double.IsNaN lv || Double.IsInfinity lv then Errors.fail "%s: loss is %g (lower the learning rate)" diverged lv

        opt.zero_grad ()

        if loss.requires_grad then
            loss.backward ()
            opt.step () |> ignore

        lv

    /// The statistics of a step without rewards: its loss, the mean cost of the batch and the accuracy of `preds`.
    let private supervisedStats (lv: float) (res: ExecutionResult) (preds: int[]) (labels: int[]) (epsilon: float) =
        { Loss = lv
          Reward = nan
          Cost = Array.average res.Cost
          Accuracy = Classification.accuracy preds labels
          Epsilon = epsilon }

    /// One training step on a mini-batch (shuffled; consecutive `BagSize` examples form a bag).
    [<CompiledName("Step")>]
    let step (c: CompiledD2nn) (cfg: LearnConfig) (rng: Random) (stepNo: int) (opt: torch.optim.Optimizer) (x: torch.Tensor) (labels: int[]) : StepStats =
        use _scope = torch.NewDisposeScope()
        let eps = cfg.Epsilon.At stepNo
        let res = forwardTraining c cfg.DetachControlInputs (ActionPolicy(fun _ q _ -> epsilonGreedy rng eps q)) x
        let o = c.Index[cfg.Output]

        let preds, outActs =
            match cfg.RegularLoss with
            | UnifiedQ -> outputActions res o (epsilonGreedy rng eps)
            | CrossEntropy _ -> outputActions res o (fun q -> D2nnExecutor.Greedy(0, q, null))

        let b = res.Batch
        let m = max 1 cfg.BagSize
        let nBags = (b + m - 1) / m
        let costs = Latency.normalizedCosts cfg.Cost c res
        let weighted = not (isNull cfg.ClassWeights) && cfg.ClassWeights.Length > 0

        let rewards =
            Array.init nBags (fun bag ->
                let lo, hi = bag * m, min b ((bag + 1) * m) - 1
                let ls = labels[lo..hi]
                let ws = if weighted then ls |> Array.map (fun l -> cfg.ClassWeights[l]) else [||]
                float32 (cfg.Reward.Invoke { Predictions = preds[lo..hi]; Labels = ls; NormalizedCosts = costs[lo..hi]; Weights = ws }))

        let device = x.device

        let headLoss (node: int) (actions: int64[]) =
            let rows = res.Rows[node]
            use a = torch.tensor (actions, device = device)
            let q = res.Values[node].gather(1, a.unsqueeze 1).squeeze 1
            bagQLoss q (rows |> Array.map (fun r -> r / int64 m)) rewards

        let mutable loss = torch.zeros ([||], device = device)

        for n in 0 .. c.Plan.Nodes.Length - 1 do
            if c.Plan.Nodes[n].Role = NodeRole.Control && res.Rows[n].Length > 0 then
                let acts = res.Rows[n] |> Array.map (fun r -> res.Actions[n][int r])
                loss <- loss.Plus(headLoss n acts)

        if res.Rows[o].Length > 0 then
            match cfg.RegularLoss with
            | UnifiedQ -> loss <- loss.Plus(headLoss o outActs)
            | CrossEntropy w ->
                use y = torch.tensor (res.Rows[o] |> Array.map (fun r -> int64 labels[int r]), device = device)
                loss <- loss.Plus(torch.nn.functional.cross_entropy(res.Values[o], y).Mul(w))

        let lv = descend opt (sprintf "D²NN training diverged at step %d" stepNo) loss

        { Loss = lv
          Reward = rewards |> Array.averageBy float
          Cost = Array.average costs
          Accuracy = Classification.accuracy preds labels
          Epsilon = eps }

    /// One warm-up step (the warm start of §2.5.7 without an external pre-trained model): every control
    /// node acts uniformly at random (ε = 1), so every branch sees examples, and only the regular nodes
    /// learn, by cross-entropy on the output scores of the rows that reach the output. Control nodes get
    /// no loss here; their Q-learning starts afterwards on trained features.
    [<CompiledName("WarmupStep")>]
    let warmupStep (c: CompiledD2nn) (output: string) (rng: Random) (opt: torch.optim.Optimizer) (x: torch.Tensor) (labels: int[]) : StepStats =
        use _scope = torch.NewDisposeScope()
        let res = forwardTraining c true (ActionPolicy(fun _ q _ -> epsilonGreedy rng 1.0 q)) x
        let o = c.Index[output]
        let preds, _ = outputActions res o (fun q -> D2nnExecutor.Greedy(0, q, null))
        let rows = res.Rows[o]

        let lv =
            if rows.Length = 0 then
                0.0
            else
                use y = torch.tensor (rows |> Array.map (fun r -> int64 labels[int r]), device = x.device)
                descend opt "D²NN warm-up diverged" (torch.nn.functional.cross_entropy (res.Values[o], y))

        supervisedStats lv res preds labels 1.0

    /// One step of joint training of an early-exit network (BranchyNet): every control node continues, so
    /// every exit head runs on every example, and the loss is Σ_k weights[k] · cross-entropy(exits[k]).
    /// Accuracy is the last exit's.
    [<CompiledName("ExitStep")>]
    let exitStep (c: CompiledD2nn) (exits: string[]) (weights: float[]) (opt: torch.optim.Optimizer) (x: torch.Tensor) (labels: int[]) : StepStats =
        use _scope = torch.NewDisposeScope()
        let res = forwardTraining c true (ActionPolicy(fun _ q _ -> Array.create (int q.shape[0]) 1L)) x
        let mutable total: torch.Tensor = null
        let mutable preds = [||]

        for k in 0 .. exits.Length - 1 do
            let n = c.Index[exits[k]]
            let rows = res.Rows[n]

            if rows.Length <> labels.Length then
                Errors.fail
                    "early-exit training: exit '%s' ran on %d of %d examples (every exit must run when every control node continues)"
                    exits[k]
                    rows.Length
                    labels.Length

            use y = torch.tensor (rows |> Array.map (fun r -> int64 labels[int r]), device = x.device)

            let l =
                torch.nn.functional.cross_entropy(res.Values[n], y).mul(torch.tensor (weights[k], dtype = torch.float32, device = x.device))

            total <- (if isNull total then l else total.Plus l)
            if k = exits.Length - 1 then preds <- Classification.predictions res.Values[n]

        supervisedStats (descend opt "early-exit training diverged" total) res preds labels 0.0
