using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace AutoDesign.Nn
{
    /// <summary>A plain multilayer perceptron: flatten -> (Linear -> ReLU -> Dropout)* -> Linear.
    /// Used by the foundation experiments (resume determinism, MNIST baseline) and notebooks.</summary>
    public sealed class Mlp : nn.Module<Tensor, Tensor>
    {
        private readonly Sequential layers;

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

        public static Mlp Create(long inputs, long[] hidden, long outputs, double dropout = 0.0) => new Mlp(inputs, hidden, outputs, dropout);
    }
}
