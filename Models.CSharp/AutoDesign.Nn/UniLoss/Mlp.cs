using static TorchSharp.torch.nn;

namespace AutoDesign.Nn.UniLoss;

/// <summary>
/// The fully-connected network of thesis §3.6.1: flatten 28×28 → 784 → 500 → 300 → outputs,
/// ReLU after each hidden layer (2 outputs for the binary AP experiment).
/// </summary>
public sealed class Mlp : Module<Tensor, Tensor>
{
    private readonly Linear fc1;   // [B,784] → [B,500]
    private readonly Linear fc2;   // [B,500] → [B,300]
    private readonly Linear head;  // [B,300] → [B,outputs]

    /// <summary>Builds inputs → hidden1 → hidden2 → outputs with TorchSharp's default Linear initialisation.</summary>
    /// <param name="inputs">Features per example after flattening (784 for 28×28 images).</param>
    /// <param name="hidden1">Width of the first hidden layer (500 in the thesis).</param>
    /// <param name="hidden2">Width of the second hidden layer (300 in the thesis).</param>
    /// <param name="outputs">Number of output scores.</param>
    public Mlp(int inputs, int hidden1, int hidden2, int outputs) : base(nameof(Mlp))
    {
        fc1 = Linear(inputs, hidden1);
        fc2 = Linear(hidden1, hidden2);
        head = Linear(hidden2, outputs);
        RegisterComponents();
    }

    /// <param name="x">[B,1,H,W] or [B,H*W]</param>
    /// <returns>[B,outputs] scores</returns>
    public override Tensor forward(Tensor x)
    {
        using var flat = x.flatten(1);                 // [B,784]
        using var h1 = functional.relu(fc1.forward(flat)); // [B,500]
        using var h2 = functional.relu(fc2.forward(h1));   // [B,300]
        return head.forward(h2);                       // [B,outputs]
    }
}
