using AutoDesign.Nn;
using AutoDesign.Runs;
using TorchSharp;
using static TorchSharp.torch;

namespace AutoDesign.Tests.CSharp;

/// <summary>The run engine's resumable training loop (Loop.Train) from C#.</summary>
public static class RunsLoopTests
{
    public sealed record Config(int Steps, double Lr);

    sealed class Killed : Exception { }

    /// <summary>What a training left: the final parameters, the metrics rows and how many steps this call ran.</summary>
    sealed record Trained(float[] Weights, IReadOnlyList<MetricsRow> Rows, int StepsRun);

    /// <summary>A linear model fitted to y = x·(1, -2, 0.5) + 0.3 on batches drawn from a private generator,
    /// 4 epochs of 5 steps, a checkpoint every 3 steps; the step throws before step `killAt` when given.</summary>
    static Trained Fit(string root, int? killAt, float initial)
    {
        var config = new Config(20, 0.05);
        using var run = Run.Open(new RunOptions(root, false, false), "line", "test.cs-loop/1", config);
        var model = nn.Linear(3, 1);
        using (torch.no_grad())
        {
            model.weight!.copy_(torch.full(new long[] { 1, 3 }, initial));
            model.bias!.copy_(torch.zeros(1));
        }
        var optimizer = new SafeAdam(model.parameters(), lr: config.Lr);
        var data = new torch.Generator(42);
        var truth = torch.tensor(new float[] { 1f, -2f, 0.5f }).reshape(3, 1);
        var state = new TrainState();
        state.AddModule("model", model);
        state.AddOptimizer("optimizer", optimizer);
        state.AddGenerator("data", data);
        double epochLoss = 0;
        state.AddValue("epoch-loss", () => epochLoss, v => epochLoss = v);
        int stepsRun = 0;
        var options = new LoopOptions
        {
            Label = "cs-line",
            Steps = config.Steps,
            StepsPerEpoch = 5,
            CheckpointEvery = 3,
            Step = (info, ctx) =>
            {
                if (killAt == info.Step) throw new Killed();
                using var scope = torch.NewDisposeScope();
                if (info.StepInEpoch == 0) epochLoss = 0;
                var x = torch.randn(new long[] { 8, 3 }, generator: data);
                var y = x.matmul(truth) + 0.3f;
                optimizer.zero_grad();
                var loss = nn.functional.mse_loss(model.forward(x), y);
                loss.backward();
                optimizer.step();
                double value = loss.item<float>();
                epochLoss += value;
                stepsRun++;
                ctx.ShowMetrics(new MetricsRow().Number("loss", value));
            },
            EndOfEpoch = (epoch, ctx) =>
                ctx.AddRow(new MetricsRow().Number("epoch", epoch + 1).Number("loss", epochLoss / 5).Text("phase", "train")),
        };
        var rows = Loop.Train(run, state, options);
        var weights = model.parameters().SelectMany(p => p.data<float>().ToArray()).ToArray();
        return new Trained(weights, rows, stepsRun);
    }

    static void SameRows(IReadOnlyList<MetricsRow> expected, IReadOnlyList<MetricsRow> actual, string what)
    {
        Check.True(expected.Count == actual.Count, $"{what}: {expected.Count} rows expected, got {actual.Count}");
        for (int i = 0; i < expected.Count; i++)
        {
            Check.True(expected[i].Names.SequenceEqual(actual[i].Names), $"{what}: the columns of row {i}");
            Check.True(expected[i].NumberOf("loss") == actual[i].NumberOf("loss"), $"{what}: the loss of row {i}");
            Check.True(actual[i].TextOf("phase") == "train", $"{what}: the text cell of row {i}");
        }
    }

    [CSharpTest("Loop.Train: a killed run resumed, and a finished run reopened, end as an uninterrupted one")]
    public static void KillResumeReopen()
    {
        var fullRoot = Directory.CreateTempSubdirectory("loop-cs-full-").FullName;
        var killedRoot = Directory.CreateTempSubdirectory("loop-cs-killed-").FullName;
        try
        {
            var full = Fit(fullRoot, null, 0.1f);
            Check.True(full.StepsRun == 20 && full.Rows.Count == 4, $"20 steps and one row per epoch, got {full.StepsRun} and {full.Rows.Count}");
            Check.True(full.Rows[0].NumberOf("epoch") == 1 && full.Rows[3].NumberOf("epoch") == 4, "the epoch column");
            Check.True(full.Rows[3].NumberOf("loss") < full.Rows[0].NumberOf("loss"), "the loss falls");

            // killed before step 14 (0-based; epoch 3 is steps 10..14): the last checkpoint is after step 11, mid-epoch
            Check.Throws<Killed>(() => Fit(killedRoot, 14, 0.1f), "the kill");
            var resumed = Fit(killedRoot, null, 0.1f);
            Check.True(resumed.StepsRun == 8, $"the resumed run runs steps 12..19, ran {resumed.StepsRun}");
            Check.True(full.Weights.SequenceEqual(resumed.Weights), "resumed weights equal the uninterrupted run's");
            SameRows(full.Rows, resumed.Rows, "resumed rows");

            // a finished run reopened with other initial weights runs no step and restores the final state
            var reopened = Fit(fullRoot, null, -0.7f);
            Check.True(reopened.StepsRun == 0, $"no step runs again, ran {reopened.StepsRun}");
            Check.True(full.Weights.SequenceEqual(reopened.Weights), "the reopened run has the final weights");
            SameRows(full.Rows, reopened.Rows, "reopened rows");

            // sanity: other initial weights trained anew give other final weights
            var otherRoot = Directory.CreateTempSubdirectory("loop-cs-other-").FullName;
            try { Check.True(!full.Weights.SequenceEqual(Fit(otherRoot, null, -0.7f).Weights), "another start, other weights"); }
            finally { Directory.Delete(otherRoot, true); }

            using (var run = Run.Open(new RunOptions(fullRoot, false, false), "line", "test.cs-loop/1", new Config(20, 0.05)))
                Check.Throws<UserError>(() => Loop.Train(run, new TrainState(), new LoopOptions { Steps = 1 }), "options without a Step");
        }
        finally
        {
            Directory.Delete(fullRoot, true);
            Directory.Delete(killedRoot, true);
        }
    }
}
