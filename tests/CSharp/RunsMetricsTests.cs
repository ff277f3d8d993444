using AutoDesign.Metrics;
using AutoDesign.Runs;

namespace AutoDesign.Tests.CSharp;

/// <summary>The run engine and the metrics from C#.</summary>
public static class RunsMetricsTests
{
    public sealed record Config(int Epochs);
    public sealed record Outcome(double Accuracy);

    [CSharpTest("a run folder: finish a result, reopen it finished")]
    public static void RunFolder()
    {
        var root = Directory.CreateTempSubdirectory("runs-cs-").FullName;
        try
        {
            var options = new RunOptions(root, false, false);
            using (var run = Run.Open(options, "demo", "demo/1", new Config(3)))
            {
                Check.True(!run.IsFinished, "a new run is not finished");
                run.Finish(new Outcome(0.75));
            }
            using var again = Run.Open(options, "demo", "demo/1", new Config(3));
            Check.True(again.IsFinished, "the reopened run is finished");
            Check.Close(0.75, again.Result<Outcome>().Accuracy, 0.0, "the stored result");
        }
        finally { Directory.Delete(root, true); }
    }

    [CSharpTest("metrics: average precision and accuracy against hand values")]
    public static void Metrics()
    {
        // positives ranked 1st and 3rd: precision 1/1 and 2/3, AP = (1 + 2/3) / 2
        double ap = AveragePrecision.OfScores(new[] { 0.9, 0.8, 0.7, 0.6 }, new[] { true, false, true, false });
        Check.Close(5.0 / 6.0, ap, 1e-12, "average precision");
        double acc = Classification.Accuracy(new[] { 0, 1, 2, 1 }, new[] { 0, 1, 1, 1 });
        Check.Close(0.75, acc, 1e-12, "accuracy");
    }
}
