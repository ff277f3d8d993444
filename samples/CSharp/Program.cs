// A C# app on AutoDesign's packages: a metric written in C# (accuracy), refactored by UniLoss into a
// differentiable loss, trains a linear classifier on synthetic data.
// Tensor arithmetic goes through AutoDesign.Nn.ScalarOps (Plus, Mul, ...): TorchSharp's operators
// create temporary Scalars that the garbage collector may free while libtorch still reads them.
using AutoDesign.Nn;
using AutoDesign.UniLoss;
using TorchSharp;
using static TorchSharp.torch;

// Accuracy: example i is right when the score of its label beats every other class's score.
var accuracy = Metric.Create("accuracy", (s, y) =>
    Uni.Mean(Enumerable.Range(0, s.N).Select(i =>
        Uni.ToNum(Uni.All(Enumerable.Range(0, s.Dim(1)).Where(j => j != y[i]).Select(j => s[i, y[i]] > s[i, j]))))));

torch.manual_seed(1);
var centres = torch.randn(4, 8);
(Tensor x, Tensor y) Batch(int seed)
{
    using var g = new Generator((ulong)seed);
    var y = torch.tensor(Enumerable.Range(0, 64).Select(i => (long)(i % 4)).ToArray());
    return (centres.index_select(0, y).Plus(torch.randn(new long[] { 64, 8 }, generator: g).Mul(1.5)), y);
}

var model = nn.Linear(8, 4);
using var loss = new UniLoss(accuracy, new UniLossOptions { AnchorsPerType = 8, Seed = 1 });
using var optimizer = new SafeSGD(model.parameters(), 0.1);
for (int step = 0; step < 100; step++)
{
    using var scope = torch.NewDisposeScope();
    var (x, y) = Batch(step);
    optimizer.zero_grad();
    var l = loss.forward(model.forward(x), y);
    l.backward();
    optimizer.step();
    if (step % 20 == 0 || step == 99)
        Console.WriteLine($"step {step,3}: UniLoss {l.Item():F3}, batch accuracy {loss.LastMetric:F3}");
}

using (torch.no_grad())
{
    var (x, y) = Batch(10_000);
    var acc = model.forward(x).argmax(1).eq(y).to_type(ScalarType.Float32).mean().Item();
    Console.WriteLine($"held-out accuracy {acc:F3}");
    return acc > 0.5 ? 0 : 1;
}
