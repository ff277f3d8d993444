namespace AutoDesign.Nn.D2NN
{
    /// <summary>
    /// What a D²NN function node computes: any TorchSharp module, seen as a function of the node's
    /// data inputs (in the order of its incoming data edges) and the number of examples it runs on.
    /// Dummy nodes (no data input) get an empty input array and only the example count.
    /// </summary>
    public abstract class NodeFunction
    {
        /// <summary>The module owning the node's parameters (for optimizers and device moves).</summary>
        public abstract nn.Module Module { get; }

        /// <summary>Run the node on a sub-batch of <paramref name="batch"/> examples.</summary>
        public abstract Tensor Forward(Tensor[] inputs, long batch);

        /// <summary>
        /// True when an all-zero input changes nothing (a sum): the executor may leave out an input whose
        /// producer ran on none of the examples and whose default is zero.
        /// </summary>
        public virtual bool IgnoresZeroInputs => false;

        /// <summary>A node with exactly one data input.</summary>
        public static NodeFunction Of(nn.Module<Tensor, Tensor> module) => new SingleInput(module);

        /// <summary>A node with any number of data inputs (merges: sum, concatenation...).</summary>
        public static NodeFunction Merge(nn.Module<Tensor[], Tensor> module) => new MultiInput(module);

        /// <summary>A dummy node: no data input, outputs a constant (per-example shape) for every example.</summary>
        public static NodeFunction Dummy(Tensor constant) => new SingleInput(new ConstantModule(constant), dummy: true);

        sealed class SingleInput : NodeFunction
        {
            readonly nn.Module<Tensor, Tensor> module;
            readonly bool dummy;
            public SingleInput(nn.Module<Tensor, Tensor> module, bool dummy = false) { this.module = module; this.dummy = dummy; }
            public override nn.Module Module => module;
            public override Tensor Forward(Tensor[] inputs, long batch)
            {
                if (dummy)
                {
                    if (inputs.Length != 0) throw new ArgumentException($"a dummy node takes no data input, got {inputs.Length}");
                    using var count = torch.zeros(new long[] { batch, 0 });
                    return module.call(count);
                }
                if (inputs.Length != 1) throw new ArgumentException($"this node wraps a one-input module but has {inputs.Length} data inputs; use NodeFunction.Merge for several");
                return module.call(inputs[0]);
            }
        }

        sealed class MultiInput : NodeFunction
        {
            readonly nn.Module<Tensor[], Tensor> module;
            public MultiInput(nn.Module<Tensor[], Tensor> module) { this.module = module; }
            public override nn.Module Module => module;
            public override Tensor Forward(Tensor[] inputs, long batch) => module.call(inputs);
            public override bool IgnoresZeroInputs => module is SumMerge;
        }
    }

    /// <summary>Outputs a fixed per-example value for each row of its input: [B, ...] = value expanded.</summary>
    public sealed class ConstantModule : nn.Module<Tensor, Tensor>
    {
        readonly Tensor value; // per-example shape, registered as a buffer so it follows .to(device)

        /// <summary>Stores a detached copy of <paramref name="value"/> (per-example shape, without the batch dimension) as a buffer.</summary>
        public ConstantModule(Tensor value) : base("Constant")
        {
            this.value = value.detach().clone();
            register_buffer("value", this.value);
        }

        /// <summary>The stored value repeated for each of the B rows of <paramref name="rows"/>: [B, ...value shape]; only rows.shape[0] is read.</summary>
        public override Tensor forward(Tensor rows)
        {
            var shape = new long[value.dim() + 1];
            shape[0] = rows.shape[0];
            for (int i = 0; i < value.dim(); i++) shape[i + 1] = value.shape[i];
            return value.unsqueeze(0).expand(shape).contiguous();
        }
    }

    /// <summary>Element-wise sum of all inputs (all of one shape): [B, ...] x n → [B, ...].</summary>
    public sealed class SumMerge : nn.Module<Tensor[], Tensor>
    {
        /// <summary>Creates the merge (no parameters).</summary>
        public SumMerge() : base("SumMerge") { }
        /// <summary>Sum of <paramref name="xs"/>, each [B, ...] of the same shape; one input is returned as is.</summary>
        /// <exception cref="ArgumentException"><paramref name="xs"/> is empty.</exception>
        public override Tensor forward(Tensor[] xs)
        {
            if (xs.Length == 0) throw new ArgumentException("SumMerge needs at least one input");
            var acc = xs[0];
            for (int i = 1; i < xs.Length; i++) acc = acc.Plus(xs[i]);
            return acc;
        }
    }

    /// <summary>Concatenation of all inputs along dimension 1: [B, d_i] → [B, Σ d_i].</summary>
    public sealed class ConcatMerge : nn.Module<Tensor[], Tensor>
    {
        /// <summary>Creates the merge (no parameters).</summary>
        public ConcatMerge() : base("ConcatMerge") { }
        /// <summary>Concatenates <paramref name="xs"/> ([B, d_i] each, same B) along dimension 1: [B, Σ d_i].</summary>
        public override Tensor forward(Tensor[] xs) => torch.cat(xs, 1);
    }
}
