// A C# app on AutoDesign's packages: a metric written in C# (accuracy), refactored by UniLoss into a
// differentiable loss, trains a linear classifier on synthetic data; then a dynamic network (D²NN) built
// in C#, whose control node sends each example to a cheap or an expensive head, runs a forward pass.
// Tensor arithmetic goes through AutoDesign.Nn.ScalarOps (Plus, Mul, ...): TorchSharp's operators
// create temporary Scalars that the garbage collector may free while libtorch still reads them.
using AutoDesign.D2NN;
using AutoDesign.Nn;
using AutoDesign.Nn.D2NN;
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

double heldOut;
using (torch.no_grad())
{
    var (x, y) = Batch(10_000);
    heldOut = model.forward(x).argmax(1).eq(y).to_type(ScalarType.Float32).mean().Item();
    Console.WriteLine($"held-out accuracy {heldOut:F3}");
}

// D²NN: control node Q picks LO (one linear layer) or HI (an MLP) per example; the heads' outputs merge.
var graph = new GraphBuilder()
    .Input("x", 8)
    .Module("Q", nn.Linear(8, 2))
    .Module("HI", nn.Sequential(nn.Linear(8, 64), nn.ReLU(), nn.Linear(64, 4)))
    .Module("LO", nn.Linear(8, 4))
    .Merge("M", new SumMerge())
    .Output("out")
    .Data("x", "Q").Data("x", "HI").Data("x", "LO")
    .Control("Q", "LO").Control("Q", "HI")
    .Data("HI", "M", torch.zeros(4)).Data("LO", "M", torch.zeros(4))
    .Data("M", "out")
    .Build();
var network = D2nn.Compile(graph);
using var inputs = torch.randn(16, 8);
var result = network.Executor.Forward(new[] { inputs });
int hi = network.Node("HI"), lo = network.Node("LO");
var oneHead = Enumerable.Range(0, 16).All(i => result.Executed(hi, i) != result.Executed(lo, i));
var meanCost = Enumerable.Range(0, 16).Average(i => result.Cost[i]);
Console.WriteLine($"D²NN: {Enumerable.Range(0, 16).Count(i => result.Executed(hi, i))} of 16 examples took the expensive head; "
                  + $"mean multiplications {meanCost:F0} of {network.FullCost:F0}; one head each: {oneHead}");
return heldOut > 0.5 && oneHead ? 0 : 1;
