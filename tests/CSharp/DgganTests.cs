using AutoDesign.DGGAN;
using AutoDesign.Data;
using AutoDesign.Nn;
using AutoDesign.Nn.DGGAN;
using AutoDesign.Runs;
using TorchSharp;
using static TorchSharp.torch;

namespace AutoDesign.Tests.CSharp;

/// <summary>The DGGAN library from C#: architectures grown by actions, the actions a search step allows,
/// ranking by normalised FID, a whole (tiny) search in a folder, and FID on a feature network.</summary>
public static class DgganTests
{
    // latent 8, base width 4, 1 image channel, 4×4 base
    static readonly GanConfig Config = new(8, 4, 1, 4);

    /// <summary>Conv k×k from i to o channels, with bias.</summary>
    static long Conv(int k, int i, int o) => (long)k * k * i * o + o;

    [CSharpTest("grown architecture: resolution and parameter counts")]
    public static void Grow()
    {
        var a = ArchitectureModule.Initial(Config);
        a = ArchitectureModule.Grow(a, GrowStep.NewGrowG(3, 8));
        a = ArchitectureModule.Grow(a, GrowStep.NewGrowD(5, 6));
        a = ArchitectureModule.Grow(a, GrowStep.Upscale);
        Check.True(a.Steps.Count == 3, "three actions");
        Check.True(ArchitectureModule.Resolution(a) == 8, "one upscale doubles 4 to 8");
        Check.True(ArchitectureModule.LastIsUpscale(a), "the last action is an upscale");
        Check.True(ArchitectureModule.Describe(a) == "G,3,8 D,5,6 Up", ArchitectureModule.Describe(a));
        long area = 4 * 4;
        // G: latent → 4·16 (linear), base 3×3 4→4, grown 3×3 4→8, upscale 3×3 8→8, toRGB 1×1 8→1
        long g = 8 * 4 * area + 4 * area + Conv(3, 4, 4) + Conv(3, 4, 8) + Conv(3, 8, 8) + Conv(1, 8, 1);
        // D: fromRGB 1×1 1→6, upscale 3×3 6→6, grown 5×5 6→4, base 3×3 4→4, final 3×3 5→4 (stddev channel), linear 4·16 → 1
        long d = Conv(1, 1, 6) + Conv(3, 6, 6) + Conv(5, 6, 4) + Conv(3, 4, 4) + Conv(3, 5, 4) + 4 * area + 1;
        Check.True(ArchitectureModule.GParams(a) == g, $"G parameters: expected {g}, got {ArchitectureModule.GParams(a)}");
        Check.True(ArchitectureModule.DParams(a) == d, $"D parameters: expected {d}, got {ArchitectureModule.DParams(a)}");
        var same = ArchitectureModule.Grow(ArchitectureModule.Grow(ArchitectureModule.Grow(ArchitectureModule.Initial(Config),
            GrowStepModule.Parse("G,3,8")), GrowStepModule.Parse("D,5,6")), GrowStepModule.Parse("Up"));
        Check.True(a.Equals(same), "architectures compare by value");
    }

    static SearchSettings Settings(int depth) =>
        new(new GanConfig(8, 4, 1, 8), new[] { 3 }, new[] { 4 }, 16, depth, 1, 0.5, 3);

    [CSharpTest("allowed actions: the last step forces the upscales still needed")]
    public static void Allowed()
    {
        var s = Settings(3);
        var root = ArchitectureModule.Initial(s.Config);
        Check.True(Search.AllowedActions(s, 1, root).Count == 3, "step 1 of 3 allows G, D and Up");
        var last = Search.AllowedActions(s, 3, root);
        Check.True(last.Count == 1 && last[0].IsUpscale, "the last step at 8×8 allows only Up");
        var grown = ArchitectureModule.Grow(root, GrowStep.Upscale);
        Check.True(Search.AllowedActions(s, 3, grown).All(a => !a.IsUpscale), "at the final resolution no more upscales");
    }

    static CandidateRecord Record(string id, int step, int res, double fid, bool diverged = false) =>
        new(id, "search", "", "candidates/" + id, step, "Up", Array.Empty<string>(), res, 0, 0, 1, fid, fid, diverged, 0, "");

    [CSharpTest("ranking by FID normalised by the baseline's at each resolution")]
    public static void Rank()
    {
        var baseline = new[] { Record("b0", 0, 8, 40.0), Record("b1", 1, 8, 20.0), Record("b2", 2, 16, 100.0) };
        var perRes = Search.BaselinePerResolution(baseline);
        Check.Close(20.0, perRes[8], 0.0, "the best baseline FID at 8×8");
        // normalised: a 30/20 = 1.5, b 110/100 = 1.1, c 24/20 = 1.2, d diverged
        var cs = new[] { Record("a", 1, 8, 30.0), Record("b", 1, 16, 110.0), Record("c", 1, 8, 24.0), Record("d", 1, 8, 1.0, true) };
        var ranked = Search.Rank(perRes, cs).Select(c => c.Id).ToArray();
        Check.True(string.Join(",", ranked) == "b,c,a,d", string.Join(",", ranked));
        Check.Close(1.1, Search.Normalized(perRes, cs[1]), 1e-12, "normalised FID");
        Check.True(double.IsNaN(Search.Normalized(perRes, cs[3])), "a diverged candidate has no normalised FID");
    }

    /// <summary>Random unlabelled images in [0, 1] at side 16 (enough for a search that only has to run).</summary>
    static Dataset Images(int count, int seed)
    {
        var rng = new Random(seed);
        var px = new float[count * 16 * 16];
        for (int i = 0; i < px.Length; i++) px[i] = (float)rng.NextDouble();
        return GanImages.OfUnit("random", px, count, 16, 16, 16);
    }

    [CSharpTest("a tiny search in a folder: finishes, writes its summary, is not trained twice")]
    public static void TinySearch()
    {
        var dir = Directory.CreateTempSubdirectory("dggan-cs-").FullName;
        try
        {
            var device = torch.CPU;
            torch.manual_seed(1);
            var images = Images(300, 1);
            using var net = FeatureClassifier.Create(1, 10, device);
            var extractor = FeatureNet.Extractor(net);
            var env = new CandidateEnv(new GanConfig(8, 4, 1, 8), images,
                new Evaluator(extractor, images, Enumerable.Range(0, 100).ToArray(), device),
                new Evaluator(extractor, images, Enumerable.Range(100, 100).ToArray(), device), device);
            var options = new RunOptions(dir, false, false);
            var train = new TrainSettings(2, 8, 1e-3, 80, 0, 0.0);
            int trained = 0;
            Coordinator Coordinator(string searchDir)
            {
                var inner = Candidate.InProcess(env, options, searchDir, null, null);
                var counting = new CandidateRunner(jobs => { trained += jobs.Count; return inner.Train.Invoke(jobs); });
                return new Coordinator(searchDir, options, Settings(2), train, counting, _ => { });
            }
            var first = Search.Complete(Coordinator(dir));
            Check.True(trained == first.Baseline.Count + first.Candidates.Count, $"every candidate trained once ({trained})");
            Check.True(first.Baseline.Count == 6, "ProgGAN chain: root, G, D, Up, G, D");
            Check.True(ArchitectureModule.Resolution(SearchSummaryModule.Architecture(Settings(2).Config, first.Best)) == 16, "the best reaches 16×16");
            Check.True(first.BestRoute[0].Parent == "" && first.BestRoute[^1].Id == first.Best.Id, "the route runs from the root to the best");
            var summary = SearchSummaryModule.Load(Path.Combine(dir, SearchSummaryModule.FileName));
            Check.True(summary.Count == first.Baseline.Count + first.Candidates.Count, "the summary lists every candidate");
            trained = 0;
            var second = Search.Complete(Coordinator(dir));
            Check.True(trained == 0, $"a finished search trains nothing ({trained} jobs)");
            Check.True(second.Best.Id == first.Best.Id, "the same best candidate");
        }
        finally { Directory.Delete(dir, true); }
    }

    [CSharpTest("FID on a feature network: a set against itself about 0, against noise above 0")]
    public static void Fid()
    {
        torch.manual_seed(2);
        using var net = FeatureClassifier.Create(1, 10, torch.CPU);
        var extractor = FeatureNet.Extractor(net);
        using var scope = torch.NewDisposeScope();
        var images = torch.rand(new long[] { 200, 1, 16, 16 }).Mul(2.0).Sub(1.0).Clamp(-1.0, 1.0);
        var blobs = torch.zeros(new long[] { 200, 1, 16, 16 }).Sub(1.0);
        blobs.narrow(2, 4, 8).narrow(3, 4, 8).Fill(1.0);
        double self = extractor.Fid(images, images);
        double other = extractor.Fid(images, blobs);
        Check.True(Math.Abs(self) <= 1e-3 * Math.Max(1.0, other), $"FID of a set against itself is about 0 ({self})");
        Check.True(other > 1e-2, $"FID against a different set is positive ({other})");
    }
}
