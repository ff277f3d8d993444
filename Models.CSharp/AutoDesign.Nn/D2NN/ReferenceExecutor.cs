namespace AutoDesign.Nn.D2NN
{
    /// <summary>What the reference executor did for one example.</summary>
    public sealed class ExampleTrace
    {
        /// <summary>Per node: true if the node executed (output nodes: produced an output).</summary>
        public bool[] Executed { get; init; } = Array.Empty<bool>();
        /// <summary>Per node: the chosen action of a control node, -1 otherwise.</summary>
        public long[] Actions { get; init; } = Array.Empty<long>();
        /// <summary>Per output node (plan order): the output [1, ...], or null.</summary>
        public Tensor[] Outputs { get; init; } = Array.Empty<Tensor>();
        /// <summary>Multiplications spent on the example: the sum of <see cref="PlanNode.Cost"/> over the function nodes that executed.</summary>
        public double Cost { get; init; }
    }

    /// <summary>
    /// The plain per-example interpreter of §2.3.2, written as the "program with conditionals" reading:
    /// every data edge is a variable initialised to its default or null, every control edge a boolean
    /// initialised to false; a control node sets its highest-scoring edge to true. It runs each example
    /// on its own (batch of one) and serves as the oracle for <see cref="D2nnExecutor"/>.
    /// </summary>
    public static class ReferenceExecutor
    {
        /// <summary>Runs each example of the mini-batch on its own through <paramref name="plan"/>.</summary>
        /// <param name="plan">The network to execute.</param>
        /// <param name="inputs">One tensor per input node (plan order), each [B, ...] with the same B.</param>
        /// <returns>One trace per example, in batch order.</returns>
        public static ExampleTrace[] Run(ExecPlan plan, Tensor[] inputs)
        {
            int batch = (int)inputs[0].shape[0];
            var nodes = plan.Nodes;
            var traces = new ExampleTrace[batch];
            for (int i = 0; i < batch; i++)
            {
                var output = new Tensor[nodes.Length];   // null = no output
                var executed = new bool[nodes.Length];
                var action = new long[nodes.Length];
                Array.Fill(action, -1L);
                double cost = 0;
                int inputNo = 0;
                for (int n = 0; n < nodes.Length; n++)
                {
                    var node = nodes[n];
                    if (node.Role == NodeRole.Input)
                    {
                        output[n] = inputs[inputNo++].narrow(0, i, 1);
                        executed[n] = true;
                        continue;
                    }
                    bool run;
                    if (node.ControlParents.Length == 0) run = true;
                    else
                    {
                        run = false;
                        for (int c = 0; c < node.ControlParents.Length; c++)
                            if (action[node.ControlParents[c]] == node.ControlActions[c]) run = true;
                    }
                    var xs = new Tensor[node.DataParents.Length];
                    for (int d = 0; d < xs.Length; d++)
                    {
                        var v = output[node.DataParents[d]];
                        if (v is null && node.DataDefaults[d] is not null) v = node.DataDefaults[d].unsqueeze(0);
                        if (v is null) run = false;
                        xs[d] = v!; // a null input stops the node (run = false)
                    }
                    if (!run) continue;
                    executed[n] = true;
                    if (node.Role == NodeRole.Output) { output[n] = xs[0]; continue; }
                    var y = node.Function.Forward(xs, 1);
                    cost += node.Cost;
                    if (node.Role == NodeRole.Control)
                    {
                        // Highest score wins; ties go to the first edge.
                        var scores = y.detach().cpu().data<float>().ToArray();
                        long best = 0;
                        for (int a = 1; a < scores.Length; a++) if (scores[a] > scores[best]) best = a;
                        action[n] = best;
                    }
                    else output[n] = y;
                }
                var outs = new Tensor[plan.Outputs.Length];
                for (int o = 0; o < outs.Length; o++) outs[o] = output[plan.Outputs[o]];
                traces[i] = new ExampleTrace { Executed = executed, Actions = action, Outputs = outs, Cost = cost };
            }
            return traces;
        }
    }
}
