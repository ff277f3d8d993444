using System;
using System.Linq;
using TorchSharp;
using static TorchSharp.torch;
using AutoDesign.D2NN;
using AutoDesign.Nn.D2NN;
using AutoDesign.Runs;

namespace AutoDesign.Samples
{
    /// <summary>
    /// A high-low capacity D²NN built, trained and evaluated from C#: the graph language, compilation, a
    /// trainer on the run engine (a killed training resumes from its checkpoint) and greedy evaluation.
    /// </summary>
    public static class HighLowFromCSharp
    {
        static nn.Module<Tensor, Tensor> Mlp(long input, long hidden, long output) =>
            nn.Sequential(nn.Linear(input, hidden), nn.ReLU(), nn.Linear(hidden, output));

        /// <summary>Two-class toy task: 8 features, label 1 when x0 + x1 &gt; 0.</summary>
        public static Task ToyTask(int seed)
        {
            torch.manual_seed(seed);
            var x = torch.randn(160, 8);
            var v = x.data<float>().ToArray();
            var y = Enumerable.Range(0, 160).Select(i => v[i * 8] + v[i * 8 + 1] > 0 ? 1 : 0).ToArray();
            return new Task("toy", "random features (sample)", x.narrow(0, 0, 128), y.Take(128).ToArray(),
                            x.narrow(0, 128, 32), y.Skip(128).ToArray(), AccuracyMetric.Accuracy, 2);
        }

        /// <summary>The D²NN: a control node Q sends each example to a cheap head LO or an expensive head HI.</summary>
        public static D2nnGraph Graph() =>
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

        /// <summary>
        /// Train at trade-off λ for <paramref name="steps"/> steps in the run folder <c>root/csharp-highlow</c>
        /// (continuing from its latest checkpoint); returns the evaluation and the steps this call ran.
        /// </summary>
        public static (EvalResult Evaluation, int StepsRun) TrainAndEvaluate(string root, double lambda, int steps)
        {
            var task = ToyTask(3);
            torch.manual_seed(5);
            var network = D2nn.Compile(Graph());
            var reference = network.CostOf(new[] { "Q", "HI" });
            var trainer = new D2nnTrainer(network, task, "out") { CheckpointEvery = 2 };
            var options = TrainOptions.Default.With(steps: steps, batchSize: 16, bagSize: 4, lr: 0.01, epsilonSteps: steps / 2,
                                                    regularLoss: RegularLoss.UnifiedQ, detachControlInputs: false);
            int seen = 0;
            using (var run = Run.Open(new RunOptions(root, false, false), "csharp-highlow", "samples.csharp-highlow/1", options))
                trainer.Train(run, options, lambda, reference, (step, stats) => seen++);
            return (trainer.Evaluate(reference), seen);
        }
    }
}
