namespace AutoDesign.Nn.D2NN
{
    /// <summary>What a node of an <see cref="ExecPlan"/> is for (thesis §2.3).</summary>
    public enum NodeRole
    {
        /// <summary>Receives one of the network's inputs [B, ...]; it has no function and always executes.</summary>
        Input,
        /// <summary>Passes its single data input on as one of the network's outputs; it has no function and costs nothing.</summary>
        Output,
        /// <summary>A function node whose output [k, ...] feeds other nodes along data edges.</summary>
        Regular,
        /// <summary>A function node whose output [k, A] scores its A outgoing control edges; the action policy (greedy: the highest score) activates one edge per example.</summary>
        Control,
    }

    /// <summary>
    /// One node of a validated, preprocessed D²NN. Nodes are indexed in topological order, so every
    /// parent index is smaller than the node's own index.
    /// </summary>
    public sealed class PlanNode
    {
        /// <summary>Creates a node; the arrays are kept, not copied.</summary>
        /// <param name="name">Name used in error messages and reports.</param>
        /// <param name="role">What the node is for.</param>
        /// <param name="function">What the node computes; null for input and output nodes.</param>
        /// <param name="dataParents">Indices of the nodes producing its data inputs, in input order (all smaller than this node's index).</param>
        /// <param name="dataDefaults">Per data edge: the per-example value used when the producer did not run, or null (the node then does not run either).</param>
        /// <param name="controlParents">Indices of the control nodes that gate this node.</param>
        /// <param name="controlActions">Per controller: the action that activates this node.</param>
        /// <param name="numActions">Number of outgoing control edges (control nodes; 0 otherwise).</param>
        /// <param name="cost">Multiplications per example when the node executes.</param>
        /// <exception cref="ArgumentException">The data defaults or control actions do not pair one-to-one with their parents.</exception>
        public PlanNode(string name, NodeRole role, NodeFunction function,
                        int[] dataParents, Tensor[] dataDefaults,
                        int[] controlParents, int[] controlActions, int numActions, double cost)
        {
            Name = name; Role = role; Function = function;
            DataParents = dataParents; DataDefaults = dataDefaults;
            ControlParents = controlParents; ControlActions = controlActions;
            NumActions = numActions; Cost = cost;
            if (dataParents.Length != dataDefaults.Length) throw new ArgumentException("one default slot per data parent");
            if (controlParents.Length != controlActions.Length) throw new ArgumentException("one action per control parent");
        }

        /// <summary>Name used in error messages and reports.</summary>
        public string Name { get; }
        /// <summary>What the node is for (input, output, regular or control).</summary>
        public NodeRole Role { get; }
        /// <summary>Null for input and output nodes.</summary>
        public NodeFunction Function { get; }
        /// <summary>Producers of the data inputs, in input order.</summary>
        public int[] DataParents { get; }
        /// <summary>Per data edge: per-example default value, or null (a skipped producer then means null).</summary>
        public Tensor[] DataDefaults { get; }
        /// <summary>Controllers of this node.</summary>
        public int[] ControlParents { get; }
        /// <summary>For each controller, which of its actions (outgoing control edges) activates this node.</summary>
        public int[] ControlActions { get; }
        /// <summary>Number of outgoing control edges (control nodes only).</summary>
        public int NumActions { get; }
        /// <summary>Multiplications per example when the node executes.</summary>
        public double Cost { get; }
    }

    /// <summary>
    /// A D²NN ready to execute: its nodes in topological order, with the positions of the input and output
    /// nodes. Shared by <see cref="D2nnExecutor"/> and <see cref="ReferenceExecutor"/>.
    /// </summary>
    public sealed class ExecPlan
    {
        /// <summary>Creates a plan from nodes that are already in topological order (kept, not copied).</summary>
        /// <exception cref="ArgumentException">A node has a data or control parent whose index is not smaller than its own.</exception>
        public ExecPlan(PlanNode[] nodes)
        {
            Nodes = nodes;
            for (int i = 0; i < nodes.Length; i++)
            {
                foreach (var p in nodes[i].DataParents)
                    if (p >= i) throw new ArgumentException($"plan is not in topological order at node {nodes[i].Name}");
                foreach (var p in nodes[i].ControlParents)
                    if (p >= i) throw new ArgumentException($"plan is not in topological order at node {nodes[i].Name}");
            }
            int ni = 0, no = 0;
            foreach (var n in nodes) { if (n.Role == NodeRole.Input) ni++; if (n.Role == NodeRole.Output) no++; }
            Inputs = new int[ni]; Outputs = new int[no];
            ni = 0; no = 0;
            for (int i = 0; i < nodes.Length; i++)
            {
                if (nodes[i].Role == NodeRole.Input) Inputs[ni++] = i;
                if (nodes[i].Role == NodeRole.Output) Outputs[no++] = i;
            }
        }

        /// <summary>All nodes in topological order; parents are referred to by index into this array.</summary>
        public PlanNode[] Nodes { get; }
        /// <summary>Node indices of the input nodes, in plan order (inputs are passed in this order).</summary>
        public int[] Inputs { get; }
        /// <summary>Node indices of the output nodes, in plan order.</summary>
        public int[] Outputs { get; }
    }

    /// <summary>
    /// Chooses the actions of a control node for the examples it ran on. <paramref name="q"/> is [k, A]
    /// (k examples, A actions); <paramref name="rows"/> are those examples' indices in the mini-batch.
    /// </summary>
    public delegate long[] ActionPolicy(int node, Tensor q, long[] rows);
}
