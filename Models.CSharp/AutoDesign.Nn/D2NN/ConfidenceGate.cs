namespace AutoDesign.Nn.D2NN
{
    /// <summary>
    /// The control node of an early exit (BranchyNet): from an exit's class scores [B, C] it outputs two
    /// action values per example, [max softmax, threshold]. The greedy choice (first on ties) takes action 0,
    /// leave at this exit, when the exit's confidence is at least <see cref="Threshold"/>, and action 1,
    /// continue, otherwise. It has no parameters and no multiplications.
    /// </summary>
    public sealed class ConfidenceGate : nn.Module<Tensor, Tensor>
    {
        /// <summary>Creates a gate that lets an example leave when its max softmax is at least <paramref name="threshold"/>.</summary>
        /// <param name="threshold">Confidence in [0, 1] needed to leave; above 1 no example leaves.</param>
        public ConfidenceGate(double threshold) : base("ConfidenceGate") { Threshold = threshold; }

        /// <summary>Leave when max softmax ≥ this (above 1: never leave; 0: always leave).</summary>
        public double Threshold { get; set; }

        /// <summary>
        /// Action values [B, 2] (float32): column 0 is the max softmax of each row of <paramref name="logits"/>,
        /// column 1 the threshold. No gradient flows back into <paramref name="logits"/> (the scores are detached).
        /// </summary>
        /// <param name="logits">The exit's class scores [B, C] (unnormalised).</param>
        /// <exception cref="ArgumentException"><paramref name="logits"/> is not two-dimensional.</exception>
        public override Tensor forward(Tensor logits)
        {
            if (logits.dim() != 2) throw new ArgumentException($"ConfidenceGate needs class scores [B, C], got {logits.dim()} dimensions");
            using var scope = NewDisposeScope();
            var conf = logits.detach().softmax(1).amax(new long[] { 1 }, keepdim: true).to_type(ScalarType.Float32);
            var t = torch.full(conf.shape, Threshold, ScalarType.Float32, conf.device);
            return torch.cat(new[] { conf, t }, 1).contiguous().MoveToOuterDisposeScope();
        }
    }
}
