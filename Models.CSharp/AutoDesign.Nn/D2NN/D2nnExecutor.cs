namespace AutoDesign.Nn.D2NN
{
    /// <summary>
    /// What one mini-batch did: per node, the examples it executed on (<see cref="Rows"/>, ascending),
    /// its output on exactly those rows (<see cref="Values"/>), the chosen actions of control nodes,
    /// and the multiplications each example actually cost.
    /// </summary>
    public sealed class ExecutionResult
    {
        internal ExecutionResult(int batch, int nodes)
        {
            Batch = batch;
            Rows = new long[nodes][];
            Pos = new int[nodes][];
            Values = new Tensor[nodes];
            Actions = new long[nodes][];
            Cost = new double[batch];
        }

        /// <summary>Number of examples B in the mini-batch.</summary>
        public int Batch { get; }
        /// <summary>Per node: indices of the examples it executed on (output nodes: examples with an output).</summary>
        public long[][] Rows { get; }
        /// <summary>Per node, per example: row of the example in <see cref="Values"/>, or -1 when it did not execute.</summary>
        public int[][] Pos { get; }
        /// <summary>Per node: output on <see cref="Rows"/> ([k, ...]; control nodes: Q values [k, A]); null when k = 0.</summary>
        public Tensor[] Values { get; }
        /// <summary>Control nodes: per example the chosen action, -1 when not executed. Null for other nodes.</summary>
        public long[][] Actions { get; }
        /// <summary>Per example: multiplications of all function nodes that executed on it.</summary>
        public double[] Cost { get; }

        /// <summary>True when <paramref name="node"/> executed on example <paramref name="example"/> (output nodes: produced an output for it).</summary>
        public bool Executed(int node, int example) => Pos[node][example] >= 0;

        /// <summary>Full-batch output of a node ([B, ...]); rows without output hold <paramref name="fill"/>.</summary>
        public Tensor Full(int node, long[] perExampleShape, float fill, Device device)
        {
            var shape = new long[perExampleShape.Length + 1];
            shape[0] = Batch;
            Array.Copy(perExampleShape, 0, shape, 1, perExampleShape.Length);
            var full = ScalarOps.Full(shape, fill, ScalarType.Float32, device);
            if (Rows[node].Length == 0) return full;
            using var idx = torch.tensor(Rows[node], device: device);
            return full.index_copy(0, idx, Values[node]);
        }
    }

    /// <summary>
    /// Batched D²NN executor (thesis §2.3.2, §2.7.1). Execution status is tracked per example at
    /// mini-batch level: each node runs once on the sub-batch of examples that reach it and keeps its
    /// output compact; skipped examples cost neither time nor gradient.
    /// A node runs on example i iff (it has no controller, or one of its incoming control edges is active)
    /// and every data input is present or has a default. A control node activates its highest-scoring edge.
    /// Overhead is kept small against the work skipped: an input is the producer's tensor itself when
    /// both ran on the same examples, a view (narrow) when the examples are consecutive rows of it, and
    /// is copied (index_select) only when they are scattered; a sum merge leaves out zero-default inputs
    /// whose producer ran on none of the examples; greedy actions are read on the host without tensor
    /// operations. <see cref="ReferenceExecutor"/> is the per-example oracle of these semantics.
    /// </summary>
    public sealed class D2nnExecutor
    {
        readonly ExecPlan plan;
        /// <summary>Per node, per data edge: the default is all zeros and the node ignores zero inputs.</summary>
        readonly bool[][] droppable;
        long[] allRows = Array.Empty<long>();
        int[] allPos = Array.Empty<int>();
        bool[] can = Array.Empty<bool>();

        /// <summary>Prepares an executor for <paramref name="plan"/>; profiling is off and control nodes see their inputs undetached (<see cref="DetachControlInputs"/> is false).</summary>
        public D2nnExecutor(ExecPlan plan)
        {
            this.plan = plan;
            droppable = new bool[plan.Nodes.Length][];
            for (int n = 0; n < plan.Nodes.Length; n++)
            {
                var node = plan.Nodes[n];
                var d = new bool[node.DataParents.Length];
                bool sum = node.Function is not null && node.Function.IgnoresZeroInputs;
                for (int e = 0; e < d.Length; e++) d[e] = sum && SubBatch.IsAllZero(node.DataDefaults[e]);
                droppable[n] = d;
            }
            GatherCounts = new long[Enum.GetValues<GatherKind>().Length];
        }

        /// <summary>The network this executor runs.</summary>
        public ExecPlan Plan => plan;

        /// <summary>
        /// When true, control nodes see their data inputs detached: their Q-learning loss trains the
        /// control nodes only and does not flow back into the regular nodes that feed them.
        /// </summary>
        public bool DetachControlInputs { get; set; }

        /// <summary>When true, <see cref="Forward"/> adds the wall time of each phase to the profile below.</summary>
        public bool Profile { get; set; }
        /// <summary>Per node: milliseconds spent in its function (profiled forwards only).</summary>
        public double[] NodeMs { get; private set; } = Array.Empty<double>();
        /// <summary>Milliseconds spent gathering sub-batch inputs (index_select, defaults, scatter into merges).</summary>
        public double GatherMs { get; private set; }
        /// <summary>Milliseconds spent choosing actions (argmax of Q on the host).</summary>
        public double PolicyMs { get; private set; }
        /// <summary>Milliseconds of whole profiled forwards (the rest is bookkeeping: which examples reach a node).</summary>
        public double TotalMs { get; private set; }
        /// <summary>How many edge inputs were assembled each way (indexed by <see cref="GatherKind"/>), over all forwards.</summary>
        public long[] GatherCounts { get; }

        /// <summary>Zeroes the profile (<see cref="NodeMs"/>, <see cref="GatherMs"/>, <see cref="PolicyMs"/>, <see cref="TotalMs"/>, <see cref="GatherCounts"/>); call it before a profiled run.</summary>
        public void ResetProfile()
        {
            NodeMs = new double[plan.Nodes.Length];
            GatherMs = 0; PolicyMs = 0; TotalMs = 0;
            Array.Clear(GatherCounts);
        }

        /// <summary>Greedy policy: the action with the highest Q (first on ties).</summary>
        public static long[] Greedy(int node, Tensor q, long[] rows) => SubBatch.ArgMaxRows(q);

        /// <param name="inputs">One tensor per input node (plan order), each [B, ...].</param>
        /// <param name="policy">Action choice for control nodes; null means greedy.</param>
        public ExecutionResult Forward(Tensor[] inputs, ActionPolicy? policy = null)
        {
            policy ??= Greedy;
            if (Profile && NodeMs.Length != plan.Nodes.Length) ResetProfile();
            long t0 = Profile ? System.Diagnostics.Stopwatch.GetTimestamp() : 0;
            if (inputs.Length != plan.Inputs.Length)
                throw new ArgumentException($"the D²NN has {plan.Inputs.Length} input nodes but {inputs.Length} inputs were given");
            int batch = (int)inputs[0].shape[0];
            var device = inputs[0].device;
            var nodes = plan.Nodes;
            var res = new ExecutionResult(batch, nodes.Length);
            if (allRows.Length != batch)
            {
                // Shared by every result of this batch size: never written after creation.
                allRows = new long[batch];
                allPos = new int[batch];
                can = new bool[batch];
                for (int i = 0; i < batch; i++) { allRows[i] = i; allPos[i] = i; }
            }
            bool grad = torch.is_grad_enabled();

            int inputNo = 0;
            for (int n = 0; n < nodes.Length; n++)
            {
                var node = nodes[n];
                if (node.Role == NodeRole.Input)
                {
                    var x = inputs[inputNo++];
                    if (x.shape[0] != batch) throw new ArgumentException("all inputs must have the same batch size");
                    res.Rows[n] = allRows; res.Pos[n] = allPos; res.Values[n] = x;
                    continue;
                }

                int count = Reach(node, res, batch);
                long[] rows;
                int[] pos;
                if (count == batch) { rows = allRows; pos = allPos; }
                else
                {
                    rows = new long[count];
                    pos = new int[batch];
                    int k = 0;
                    for (int i = 0; i < batch; i++)
                    {
                        if (can[i]) { pos[i] = k; rows[k++] = i; } else pos[i] = -1;
                    }
                }
                res.Rows[n] = rows;
                res.Pos[n] = pos;
                if (node.Role == NodeRole.Control)
                {
                    var acts = new long[batch];
                    Array.Fill(acts, -1L);
                    res.Actions[n] = acts;
                }
                if (count == 0) continue;

                long tg = Profile ? System.Diagnostics.Stopwatch.GetTimestamp() : 0;
                var xs = Inputs(n, node, res, rows, device, grad);
                if (Profile) GatherMs += Ms(tg);

                if (node.Role == NodeRole.Output)
                {
                    res.Values[n] = xs![0];
                    continue;
                }

                long tf = Profile ? System.Diagnostics.Stopwatch.GetTimestamp() : 0;
                var y = xs is null
                    ? SubBatch.Repeat(node.DataDefaults[0]!, count, device)   // a sum of zero inputs only
                    : node.Function.Forward(xs, count);
                if (Profile) NodeMs[n] += Ms(tf);
                res.Values[n] = y;
                if (node.Cost != 0)
                    for (int k = 0; k < count; k++) res.Cost[rows[k]] += node.Cost;
                if (node.Role == NodeRole.Control)
                {
                    long tp = Profile ? System.Diagnostics.Stopwatch.GetTimestamp() : 0;
                    var chosen = policy(n, y, rows);
                    if (Profile) PolicyMs += Ms(tp);
                    var acts = res.Actions[n];
                    for (int k = 0; k < count; k++) acts[rows[k]] = chosen[k];
                }
            }
            if (Profile) TotalMs += Ms(t0);
            return res;
        }

        /// <summary>Marks in <see cref="can"/> the examples reaching <paramref name="node"/>; returns their count.</summary>
        int Reach(PlanNode node, ExecutionResult res, int batch)
        {
            int count = 0;
            var cps = node.ControlParents;
            var dps = node.DataParents;
            for (int i = 0; i < batch; i++)
            {
                bool ok = cps.Length == 0;
                for (int c = 0; c < cps.Length && !ok; c++)
                    ok = res.Actions[cps[c]][i] == node.ControlActions[c];
                for (int d = 0; d < dps.Length && ok; d++)
                    ok = res.Pos[dps[d]][i] >= 0 || node.DataDefaults[d] is not null;
                can[i] = ok;
                if (ok) count++;
            }
            return count;
        }

        /// <summary>The node's data inputs on <paramref name="rows"/>; null when a sum merge dropped them all.</summary>
        Tensor[]? Inputs(int n, PlanNode node, ExecutionResult res, long[] rows, Device device, bool grad)
        {
            var dps = node.DataParents;
            var xs = new Tensor[dps.Length];
            int kept = 0;
            for (int d = 0; d < dps.Length; d++)
            {
                int p = dps[d];
                var x = SubBatch.Gather(res.Values[p], res.Pos[p], res.Rows[p].Length, rows,
                                        node.DataDefaults[d], droppable[n][d], device, out var kind);
                GatherCounts[(int)kind]++;
                if (x is null) continue;
                if (grad && DetachControlInputs && node.Role == NodeRole.Control) x = x.detach();
                xs[kept++] = x;
            }
            if (kept == xs.Length) return xs;
            if (kept == 0) return null;
            Array.Resize(ref xs, kept);
            return xs;
        }

        static double Ms(long since) =>
            (System.Diagnostics.Stopwatch.GetTimestamp() - since) * 1000.0 / System.Diagnostics.Stopwatch.Frequency;
    }
}
