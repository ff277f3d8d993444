using AutoDesign.D2NN;
using AutoDesign.Nn.D2NN;
using AutoDesign.Runs;
using TorchSharp;
using static TorchSharp.torch;

namespace AutoDesign.Tests.CSharp;

/// <summary>The D²NN library from C#: the graph language, compilation, the executor, a trainer on the run
/// engine (a finished training is not repeated) and greedy evaluation.</summary>
public static class D2nnTests
{
    static nn.Module<Tensor, Tensor> Mlp(long input, long hidden, long output) =>
        nn.Sequential(nn.Linear(input, hidden), nn.ReLU(), nn.Linear(hidden, output));

    /// <summary>Two-class toy task: 8 features, label 1 when x0 + x1 &gt; 0.</summary>
    static AutoDesign.D2NN.Task ToyTask(int seed)
    {
        torch.manual_seed(seed);
        var x = torch.randn(160, 8);
        var v = x.data<float>().ToArray();
        var y = Enumerable.Range(0, 160).Select(i => v[i * 8] + v[i * 8 + 1] > 0 ? 1 : 0).ToArray();
        return new AutoDesign.D2NN.Task("toy", "random features", x.narrow(0, 0, 112), y.Take(112).ToArray(),
                                        x.narrow(0, 112, 16), y.Skip(112).Take(16).ToArray(),
                                        x.narrow(0, 128, 32), y.Skip(128).ToArray(), AccuracyMetric.Accuracy, 2);
    }

    /// <summary>A control node Q sends each example to a cheap head LO or an expensive head HI.</summary>
    static D2nnGraph Graph() =>
        new GraphBuilder()
            .Input("x", 8)
            .Module("Q", nn.Linear(8, 2))
            .Module("HI", Mlp(8, 64, 2))
            .Module("LO", nn.Linear(8, 2))
            .Merge("M", new SumMerge())
            .Output("out")
            .Data("x", "Q").Data("x", "HI").Data("x", "LO")
            .Control("Q", "LO").Control("Q", "HI")
            .Data("HI", "M", torch.zeros(2)).Data("LO", "M", torch.zeros(2))
            .Data("M", "out")
            .Build();

    [CSharpTest("a graph built in C# compiles; the executor runs each example through exactly one head")]
    public static void GraphAndExecutor()
    {
        torch.manual_seed(2);
        var network = D2nn.Compile(Graph());
        Check.Close(8 * 2 + 8 * 64 + 64 * 2 + 8 * 2, network.FullCost, 1e-9, "multiplications of all nodes");
        using var x = torch.randn(10, 8);
        var result = network.Executor.Forward(new[] { x });
        int hi = network.Node("HI"), lo = network.Node("LO"), q = network.Node("Q");
        for (int i = 0; i < 10; i++)
        {
            Check.True(result.Executed(hi, i) != result.Executed(lo, i), $"example {i} runs exactly one head");
            var expected = 8 * 2 + (result.Executed(hi, i) ? 8 * 64 + 64 * 2 : 8 * 2);
            Check.Close(expected, result.Cost[i], 1e-9, $"cost of example {i}");
            Check.True(result.Actions[q][i] == (result.Executed(hi, i) ? 1 : 0), $"Q's action for example {i} names the head that ran");
        }
    }

    [CSharpTest("an invalid graph built in C# is a UserError naming the problem")]
    public static void InvalidGraph()
    {
        try
        {
            var graph = new GraphBuilder().Input("x", 8).Module("A", nn.Linear(8, 2)).Output("out")
                .Data("x", "A").Data("A", "missing").Build();
            D2nn.Compile(graph);
        }
        catch (UserError e) when (e.Data0.Contains("missing")) { return; }
        throw new Exception("expected a UserError naming the node 'missing'");
    }

    [CSharpTest("a D²NN trains in C# on the run engine; a finished run is not trained again")]
    public static void TrainResumeEvaluate()
    {
        var root = Path.Combine(Path.GetTempPath(), "autodesign-tests", "csharp-" + Guid.NewGuid().ToString("N"));
        (EvalResult, int) TrainAndEvaluate()
        {
            var task = ToyTask(3);
            torch.manual_seed(5);
            var network = D2nn.Compile(Graph());
            var reference = network.CostOf(new[] { "Q", "HI" });
            var trainer = new D2nnTrainer(network, task, "out") { CheckpointEvery = 2 };
            var options = TrainOptions.Default.With(steps: 6, batchSize: 16, bagSize: 4, lr: 0.01, epsilonSteps: 3,
                                                    regularLoss: RegularLoss.UnifiedQ, detachControlInputs: false);
            int seen = 0;
            using (var run = Run.Open(new RunOptions(root, false, false), "csharp-highlow", "tests.csharp-highlow/1", options))
                trainer.Train(run, options, 0.9, reference, (step, stats) => seen++);
            return (trainer.Evaluate(reference), seen);
        }
        var (e, ran) = TrainAndEvaluate();
        Check.True(ran == 6, $"six steps ran (got {ran})");
        Check.True(e.Predictions.Length == 32, "one prediction per test example");
        Check.True(File.Exists(Path.Combine(root, "csharp-highlow", "metrics.csv")), "metrics.csv in the run folder");
        var (again, ranAgain) = TrainAndEvaluate();
        Check.True(ranAgain == 0, "the finished run trains no further step");
        Check.Close(e.Metric, again.Metric, 0, "same weights, same metric");
    }

    [CSharpTest("an early-exit cascade built in C# trains jointly and its threshold trades accuracy for multiplications")]
    public static void EarlyExit()
    {
        var root = Path.Combine(Path.GetTempPath(), "autodesign-tests", "csharp-exit-" + Guid.NewGuid().ToString("N"));
        var task = ToyTask(4);
        torch.manual_seed(6);
        var net = new EarlyExitCascade(new long[] { 8 }, new[] {
            ExitStage.Of("B1", () => nn.Linear(8, 8), "x", "H1", () => nn.Linear(8, 2)),
            ExitStage.Last("B2", () => Mlp(8, 64, 2), "B1") }, 2);
        var options = TrainOptions.Default.With(steps: 8, batchSize: 16);
        using (var run = Run.Open(new RunOptions(root, false, false), "exit", "tests.csharp-exit/1", options))
            net.Train(run, task, options);
        var full = net.Network.CostOf(new[] { "B1", "H1", "B2" });
        var first = net.Evaluate(task, EvalSplit.TestSplit, 0.0, full);
        var all = net.Evaluate(task, EvalSplit.TestSplit, 2.0, full);
        Check.Close(net.Network.CostOf(new[] { "B1", "H1" }) / full, first.Cost, 1e-9, "threshold 0: every example leaves at the first exit");
        Check.Close(1.0, all.Cost, 1e-9, "threshold above 1: every example runs every stage");
        var curve = net.Curve(task, new[] { 0.0, 0.8, 2.0 }, full);
        Check.True(curve.Length == 3 && curve[1].Result.Validation.Counts.ChunkSizes.Sum() == 16, "three points, each scored on the 16 validation examples");
    }
}
