namespace AutoDesign.Nn.D2NN
{
    /// <summary>Exact multiplication count of one forward pass, from the conv and linear layers that ran.</summary>
    public readonly struct MultCount
    {
        /// <summary>Bundles a count; see the properties for the meaning of each value.</summary>
        public MultCount(double perExample, int layers, int calls) { PerExample = perExample; Layers = layers; Calls = calls; }
        /// <summary>Multiplications per example (conv: outputs × in/groups × kernel area; linear: outputs × in).</summary>
        public double PerExample { get; }
        /// <summary>Conv/linear layers found in the module tree.</summary>
        public int Layers { get; }
        /// <summary>Conv/linear calls observed during the probe.</summary>
        public int Calls { get; }
    }

    /// <summary>
    /// Counts the multiplications of a forward pass by observation: forward hooks on the conv and linear
    /// layers of a module tree (other layers — activations, norms, pooling — are not counted).
    /// </summary>
    public static class MultCounter
    {
        /// <summary>
        /// Hooks every Convolution and Linear layer under <paramref name="root"/>, runs <paramref name="probe"/>
        /// (a forward pass on <paramref name="batch"/> examples) and returns the multiplications per example.
        /// Layers must be invoked through <c>call</c> (as Sequential does) for the hooks to see them.
        /// </summary>
        public static MultCount Count(nn.Module root, long batch, Action probe)
        {
            var seen = new HashSet<nn.Module>(ReferenceEqualityComparer.Instance);
            var modules = new List<nn.Module> { root };
            seen.Add(root);
            foreach (var (_, m) in root.named_modules())
                if (seen.Add(m)) modules.Add(m);

            double total = 0;
            int layers = 0, calls = 0;
            var removers = new List<Action>();
            foreach (var m in modules)
            {
                if (m is Convolution conv)
                {
                    layers++;
                    var hc = conv.register_forward_hook((mod, x, y) =>
                    {
                        double kernel = 1;
                        foreach (var k in conv.kernel_size) kernel *= k;
                        double perGroup = conv.transposed
                            ? (double)conv.out_channels / conv.groups
                            : (double)conv.in_channels / conv.groups;
                        double positions = conv.transposed ? x.numel() : y.numel();
                        total += positions * perGroup * kernel / batch;
                        calls++;
                        return y;
                    });
                    removers.Add(() => hc.remove());
                }
                else if (m is Linear lin)
                {
                    layers++;
                    var hl = lin.register_forward_hook((mod, x, y) =>
                    {
                        total += (double)y.numel() * lin.in_features / batch;
                        calls++;
                        return y;
                    });
                    removers.Add(() => hl.remove());
                }
            }
            try { probe(); }
            finally { foreach (var r in removers) r(); }
            return new MultCount(total, layers, calls);
        }
    }
}
