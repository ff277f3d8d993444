using System;
using System.Collections.Generic;
using TorchSharp;
using static TorchSharp.torch;
using AutoDesign.Nn;

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
    /// mini-batch level: each node gathers the sub-batch of examples that reach it, runs once on it and
    /// keeps its output compact; skipped examples cost neither time nor gradient.
    /// A node runs on example i iff (it has no controller, or one of its incoming control edges is active)
    /// and every data input is present or has a default. A control node activates its highest-scoring edge.
    /// </summary>
    public sealed class D2nnExecutor
    {
        readonly ExecPlan plan;

        public D2nnExecutor(ExecPlan plan) { this.plan = plan; }

        public ExecPlan Plan => plan;

        /// <summary>
        /// When true, control nodes see their data inputs detached: their Q-learning loss trains the
        /// control nodes only and does not flow back into the regular nodes that feed them.
        /// </summary>
        public bool DetachControlInputs { get; set; }

        /// <summary>When true, <see cref="Forward"/> adds the wall time of each phase to the profile below.</summary>
        public bool Profile { get; set; }
        /// <summary>Per node: milliseconds spent in its function (profiled forwards only).</summary>
        public double[] NodeMs { get; private set; }
        /// <summary>Milliseconds spent gathering sub-batch inputs (index_select, defaults, scatter into merges).</summary>
        public double GatherMs { get; private set; }
        /// <summary>Milliseconds spent choosing actions (argmax of Q, copy to the host).</summary>
        public double PolicyMs { get; private set; }
        /// <summary>Milliseconds of whole profiled forwards (the rest is bookkeeping: which examples reach a node).</summary>
        public double TotalMs { get; private set; }

        public void ResetProfile()
        {
            NodeMs = new double[plan.Nodes.Length];
            GatherMs = 0; PolicyMs = 0; TotalMs = 0;
        }

        /// <summary>Greedy policy: the action with the highest Q (first on ties).</summary>
        public static long[] Greedy(int node, Tensor q, long[] rows)
        {
            using var a = q.detach().argmax(1).cpu();
            return a.data<long>().ToArray();
        }

        /// <param name="inputs">One tensor per input node (plan order), each [B, ...].</param>
        /// <param name="policy">Action choice for control nodes; null means greedy.</param>
        public ExecutionResult Forward(Tensor[] inputs, ActionPolicy policy = null)
        {
            policy ??= Greedy;
            if (Profile && NodeMs is null) ResetProfile();
            long t0 = Profile ? System.Diagnostics.Stopwatch.GetTimestamp() : 0;
            if (inputs.Length != plan.Inputs.Length)
                throw new ArgumentException($"the D²NN has {plan.Inputs.Length} input nodes but {inputs.Length} inputs were given");
            int batch = (int)inputs[0].shape[0];
            var device = inputs[0].device;
            var nodes = plan.Nodes;
            var res = new ExecutionResult(batch, nodes.Length);
            var all = new long[batch];
            var allPos = new int[batch];
            for (int i = 0; i < batch; i++) { all[i] = i; allPos[i] = i; }

            int inputNo = 0;
            var can = new bool[batch];
            for (int n = 0; n < nodes.Length; n++)
            {
                var node = nodes[n];
                if (node.Role == NodeRole.Input)
                {
                    var x = inputs[inputNo++];
                    if (x.shape[0] != batch) throw new ArgumentException("all inputs must have the same batch size");
                    res.Rows[n] = all; res.Pos[n] = allPos; res.Values[n] = x;
                    continue;
                }

                // Which examples reach this node: control (any active edge) and data (no null input).
                int count = 0;
                for (int i = 0; i < batch; i++)
                {
                    bool ok = node.ControlParents.Length == 0;
                    for (int c = 0; c < node.ControlParents.Length && !ok; c++)
                        ok = res.Actions[node.ControlParents[c]][i] == node.ControlActions[c];
                    for (int d = 0; d < node.DataParents.Length && ok; d++)
                        ok = res.Pos[node.DataParents[d]][i] >= 0 || node.DataDefaults[d] is not null;
                    can[i] = ok;
                    if (ok) count++;
                }
                long[] rows;
                int[] pos;
                if (count == batch) { rows = all; pos = allPos; }
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
                var xs = new Tensor[node.DataParents.Length];
                for (int d = 0; d < xs.Length; d++)
                    xs[d] = Gather(res, node.DataParents[d], node.DataDefaults[d], rows, device);
                if (Profile) GatherMs += Ms(tg);
                if (DetachControlInputs && node.Role == NodeRole.Control)
                    for (int d = 0; d < xs.Length; d++) xs[d] = xs[d].detach();

                if (node.Role == NodeRole.Output)
                {
                    res.Values[n] = xs[0];
                    continue;
                }

                long tf = Profile ? System.Diagnostics.Stopwatch.GetTimestamp() : 0;
                var y = node.Function.Forward(xs, count);
                if (Profile) NodeMs[n] += Ms(tf);
                res.Values[n] = y;
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

        static double Ms(long since) =>
            (System.Diagnostics.Stopwatch.GetTimestamp() - since) * 1000.0 / System.Diagnostics.Stopwatch.Frequency;

        /// <summary>The input of an edge from <paramref name="p"/> for the examples <paramref name="rows"/>.</summary>
        static Tensor Gather(ExecutionResult res, int p, Tensor dflt, long[] rows, Device device)
        {
            var pos = res.Pos[p];
            var value = res.Values[p];
            int present = 0;
            foreach (var r in rows) if (pos[r] >= 0) present++;
            // Same example set as the producer (both ascending): pass its output through untouched.
            if (present == rows.Length && rows.Length == res.Rows[p].Length) return value;
            if (present == rows.Length)
            {
                var src = new long[rows.Length];
                for (int k = 0; k < rows.Length; k++) src[k] = pos[rows[k]];
                using var idx = torch.tensor(src, device: device);
                return value.index_select(0, idx);
            }
            var dv = dflt.to(device);
            var shape = new long[dv.dim() + 1];
            shape[0] = rows.Length;
            for (int i = 0; i < dv.dim(); i++) shape[i + 1] = dv.shape[i];
            var filled = dv.unsqueeze(0).expand(shape).contiguous();
            if (present == 0) return filled;
            var srcRows = new long[present];
            var dstRows = new long[present];
            int j = 0;
            for (int k = 0; k < rows.Length; k++)
            {
                int q = pos[rows[k]];
                if (q >= 0) { srcRows[j] = q; dstRows[j] = k; j++; }
            }
            using var si = torch.tensor(srcRows, device: device);
            using var di = torch.tensor(dstRows, device: device);
            return filled.index_copy(0, di, value.index_select(0, si));
        }
    }
}
