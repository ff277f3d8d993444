using AutoDesign.UniLoss;
using TorchSharp;
using static TorchSharp.torch;

namespace AutoDesign.Tests.CSharp;

/// <summary>UniLoss from C#: a metric written with Metric.Create and the Uni functions, the options object,
/// the loss as a TorchSharp module.</summary>
public static class UniLossTests
{
    static readonly Metric Accuracy = Metric.Create("csharp-accuracy", (s, y) =>
        Uni.Mean(Enumerable.Range(0, s.N).Select(i =>
            Uni.ToNum(Uni.All(Enumerable.Range(0, s.Dim(1)).Where(j => j != y[i]).Select(j => s[i, y[i]] > s[i, j]))))));

    [CSharpTest("a metric written in C# equals the exact accuracy and trains free scores to it")]
    public static void CSharpMetricTrains()
    {
        var labels = torch.tensor(Enumerable.Range(0, 32).Select(i => (long)(i % 4)).ToArray());
        using var gen = new Generator(3);
        // Parameter takes over the tensor's handle: the parameter is the scores from here on.
        var scores = new TorchSharp.Modules.Parameter(torch.randn(new long[] { 32, 4 }, generator: gen));
        var options = new UniLossOptions { AnchorsPerType = 8, Seed = 1 };
        using var loss = new AutoDesign.UniLoss.UniLoss(Accuracy, options);
        using var opt = new AutoDesign.Nn.SafeAdam(new[] { scores }, lr: 0.05);
        double first = double.NaN, last = double.NaN;
        for (int step = 0; step < 60; step++)
        {
            using var scope = torch.NewDisposeScope();
            opt.zero_grad();
            var l = loss.forward(scores, labels);
            Check.True(l.item<float>() >= -1e-6 && l.item<float>() <= 1 + 1e-6, "the loss stays in [0, 1]");
            l.backward();
            opt.step();
            if (step == 0) first = loss.LastMetric;
            last = loss.LastMetric;
        }
        Check.True(last >= 0.95, $"accuracy of the free scores after 60 steps: {first} -> {last}");
        var argmax = scores.detach().argmax(1);
        var exact = argmax.eq(labels).to_type(ScalarType.Float32).mean().item<float>();
        Check.Close(exact, last, 1e-6, "LastMetric is the exact accuracy of the scores it saw");
    }

    [CSharpTest("bad input from C#: a null metric and a negative option are UserErrors")]
    public static void BadInput()
    {
        Check.Throws<Exception>(() => new AutoDesign.UniLoss.UniLoss(null!, new UniLossOptions()), "null metric");
        Check.Throws<Exception>(() => new AutoDesign.UniLoss.UniLoss(Accuracy, new UniLossOptions { Tau = -1 }), "negative tau");
    }
}
