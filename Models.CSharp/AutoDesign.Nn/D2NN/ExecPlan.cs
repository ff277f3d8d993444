using System;
using static TorchSharp.torch;

namespace AutoDesign.Nn.D2NN
{
    public enum NodeRole { Input, Output, Regular, Control }

    /// <summary>
    /// One node of a validated, preprocessed D²NN. Nodes are indexed in topological order, so every
    /// parent index is smaller than the node's own index.
    /// </summary>
    public sealed class PlanNode
    {
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

        public string Name { get; }
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

    public sealed class ExecPlan
    {
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
