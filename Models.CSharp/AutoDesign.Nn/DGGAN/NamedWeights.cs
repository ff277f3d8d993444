namespace AutoDesign.Nn.DGGAN
{
    /// <summary>
    /// Parameters as a name → tensor map, so that a child network can take exactly the layers it shares (same
    /// name, same shape) with its parent. The maps are stored as safetensors files by the run engine.
    /// </summary>
    public static class NamedWeights
    {
        /// <summary>Detached CPU copies of every parameter of `module`, keyed by `prefix` + parameter name.</summary>
        public static Dictionary<string, Tensor> Capture(nn.Module module, string prefix = "")
        {
            var d = new Dictionary<string, Tensor>();
            foreach (var (name, p) in module.named_parameters())
                d[prefix + name] = p.detach().cpu().clone().DetachFromDisposeScope();
            return d;
        }

        /// <summary>Copy every parameter whose (prefixed) name and shape exist in `weights`; return the copied names.</summary>
        public static List<string> Inherit(nn.Module module, IReadOnlyDictionary<string, Tensor> weights, string prefix = "")
        {
            var copied = new List<string>();
            using var _ = no_grad();
            foreach (var (name, p) in module.named_parameters())
            {
                if (!weights.TryGetValue(prefix + name, out var w)) continue;
                if (!w.shape.SequenceEqual(p.shape)) continue;
                using var src = w.to(p.dtype, p.device);
                p.copy_(src);
                copied.Add(prefix + name);
            }
            return copied;
        }
    }
}
