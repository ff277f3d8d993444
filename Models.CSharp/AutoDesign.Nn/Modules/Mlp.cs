namespace AutoDesign.Nn
{
    /// <summary>A plain multilayer perceptron: flatten -> (Linear -> ReLU -> Dropout)* -> Linear.
    /// Used by the foundation experiments (resume determinism, MNIST baseline) and notebooks.</summary>
    public sealed class Mlp : nn.Module<Tensor, Tensor>
    {
        private readonly Sequential layers;

        /// <summary>Builds the network with TorchSharp's default Linear initialisation.</summary>
        /// <param name="inputs">Features per example after flattening (e.g. 784 for 28×28 images).</param>
        /// <param name="hidden">Width of each hidden layer, input side first; empty gives a linear model.</param>
        /// <param name="outputs">Number of output logits.</param>
        /// <param name="dropout">Dropout probability after each hidden ReLU (active in training mode only); 0 adds no dropout layers.</param>
        public Mlp(long inputs, long[] hidden, long outputs, double dropout = 0.0) : base("Mlp")
        {
            var list = new System.Collections.Generic.List<(string, nn.Module<Tensor, Tensor>)>();
            long width = inputs;
            for (int i = 0; i < hidden.Length; i++)
            {
                list.Add(($"fc{i}", nn.Linear(width, hidden[i])));   // [B, width] -> [B, hidden[i]]
                list.Add(($"relu{i}", nn.ReLU()));
                if (dropout > 0) list.Add(($"drop{i}", nn.Dropout(dropout)));
                width = hidden[i];
            }
            list.Add(("out", nn.Linear(width, outputs)));           // [B, width] -> [B, outputs]
            layers = nn.Sequential(list);
            RegisterComponents();
        }

        /// <summary>[B, ...] (flattened to [B, inputs]) -> [B, outputs] logits.</summary>
        public override Tensor forward(Tensor x) => layers.forward(x.flatten(1));

        /// <summary>Same as the constructor, as a static method (usable where a function value is expected).</summary>
        public static Mlp Create(long inputs, long[] hidden, long outputs, double dropout = 0.0) => new Mlp(inputs, hidden, outputs, dropout);
    }
}
