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

    [CSharpTest("splits, detection metrics, SWD result, device names and jobs in C# types")]
    public static void CollectionsAndResults()
    {
        var parts = AutoDesign.Data.Splits.Split(1, 100, new[] { 0.8, 0.2 });
        Check.True(parts.Count == 2 && parts[0].Length == 80 && parts[1].Length == 20, "80/20 split");
        Check.True(AutoDesign.Data.Splits.Sizes(10, new List<double> { 0.5, 0.5 }).Sum() == 10, "sizes cover the set");

        var box = BoxModule.Make(0, 0, 10, 10);
        var results = new List<ImageResult>
        {
            new(new[] { new Detection(box, 0.9) }, new[] { box }),
            new(Array.Empty<Detection>(), new[] { BoxModule.Make(20, 20, 30, 30) }),
        };
        Check.Close(0.5, DetMetrics.AveragePrecision(0.5, results).Recall, 1e-12, "one of two boxes found");
        Check.Close(0.5, DetMetrics.LocalizationAccuracy((a, b) => BoxModule.Iou(a, b), 0.5, results), 1e-12, "localization accuracy");
        Check.True(DetMetrics.LocalizationIou(results).Count == DetMetrics.IouThresholds.Count + 1, "one value per threshold, then the average");

        Check.True(Device.Parse("CPU").Equals(DeviceChoice.Cpu), "device names in any case");
        var job = Job.Create("demo", new[] { "reproduce", "--quick" }, Path.GetTempPath());
        Check.True(job.Args.Count == 2 && job.DependsOn.Count == 0 && job.Env.Count == 0, "a job without dependencies or environment");
        Check.True(Launcher.Run(LauncherChoice.LocalPool(1, 0), Path.GetTempPath(), null, new List<Job>()).Count == 0, "no jobs, no reports");
        Check.True(SlurmOptions.Default.Partition == null && !SlurmOptions.Default.CpusPerTask.HasValue, "unset Slurm options are null");
    }

    [CSharpTest("a UserError's Message is the error's text")]
    public static void UserErrorMessage()
    {
        try
        {
            Device.Parse("tpu");
        }
        catch (UserError e)
        {
            Check.True(e.Message.Contains("tpu"), $"the message names the problem, got '{e.Message}'");
            Check.True(e.Message == e.Data0, $"Message and Data0 agree, got '{e.Message}' and '{e.Data0}'");
            return;
        }
        throw new Exception("Device.Parse(\"tpu\") raised no UserError");
    }
}
