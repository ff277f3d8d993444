using System;
using System.Collections.Generic;
using System.Linq;

namespace AutoDesign.Nn.DGGAN
{
    /// <summary>Where a growth action grows: the generator, the discriminator, or both (upscale).</summary>
    public enum GrowKind { G, D, Up }

    /// <summary>One growth action (thesis §5.3.1.2): a k×k conv with `Filters` filters in G or D, or an upscale of both.</summary>
    public sealed record GrowAction(GrowKind Kind, int Kernel, int Filters)
    {
        public static GrowAction Upscale => new GrowAction(GrowKind.Up, 0, 0);
        public override string ToString() => Kind == GrowKind.Up ? "Up" : $"{Kind},{Kernel},{Filters}";
    }

    /// <summary>Fixed part of every architecture: latent size, base width C, image channels, base resolution d0.</summary>
    public sealed record GanConfig(int Latent, int BaseChannels, int ImageChannels, int BaseResolution);

    /// <summary>
    /// A convolution in the grown body. In G, `Resample` means "upsample ×2 (nearest) before the conv";
    /// in D it means "average-pool ×2 after the conv".
    /// </summary>
    public sealed record ConvSpec(string Name, int Kernel, int In, int Out, bool Resample)
    {
        public long Params => (long)Kernel * Kernel * In * Out + Out;
    }

    /// <summary>
    /// The concrete layers of a grown GAN, obtained by replaying its actions on the base networks.
    ///
    /// G: g_input (linear latent→C·d0², reshape) → g_base (3×3 C→C) → body (in growth order) → toRGB (1×1).
    /// A G action appends a k×k conv w→f before toRGB; toRGB then reads f channels (a new 1×1 layer).
    /// D: fromRGB (1×1) → body (newest first) → d_base (3×3 C→C) → minibatch-stddev → d_final (3×3 C+1→C) → d_out (linear → 1).
    /// A D action inserts a k×k conv f→v right after fromRGB (mirror of G: the new layer reads f channels from a
    /// fresh fromRGB and writes the v channels the old body expects), so every existing conv keeps its shape.
    /// Upscale appends to G "upsample + 3×3 w→w" and prepends to D "3×3 v→v + avgpool", doubling the resolution.
    /// Layer names carry the action index, and toRGB/fromRGB names carry resolution and width, so a child shares a
    /// name with its parent exactly when the layer is the same layer with the same shape.
    /// </summary>
    public sealed class GanLayout
    {
        public GanConfig Config { get; }
        public IReadOnlyList<GrowAction> Actions { get; }
        public int Resolution { get; }
        public List<ConvSpec> GBody { get; } = new();
        public List<ConvSpec> DBody { get; } = new();
        /// <summary>Channels G's toRGB reads; channels D's fromRGB writes.</summary>
        public int GWidth { get; }
        public int DWidth { get; }
        /// <summary>True when the last action is an upscale: the networks can then carry the fade-in path.</summary>
        public bool LastIsUpscale { get; }

        public GanLayout(GanConfig config, IReadOnlyList<GrowAction> actions)
        {
            Config = config;
            Actions = actions.ToList();
            int res = config.BaseResolution, w = config.BaseChannels, v = config.BaseChannels;
            for (int i = 0; i < Actions.Count; i++)
            {
                var a = Actions[i];
                switch (a.Kind)
                {
                    case GrowKind.G:
                        Check(a);
                        GBody.Add(new ConvSpec($"g{i}_k{a.Kernel}f{a.Filters}", a.Kernel, w, a.Filters, false));
                        w = a.Filters;
                        break;
                    case GrowKind.D:
                        Check(a);
                        DBody.Insert(0, new ConvSpec($"d{i}_k{a.Kernel}f{a.Filters}", a.Kernel, a.Filters, v, false));
                        v = a.Filters;
                        break;
                    default:
                        res *= 2;
                        GBody.Add(new ConvSpec($"g{i}_up{res}", 3, w, w, true));
                        DBody.Insert(0, new ConvSpec($"d{i}_up{res}", 3, v, v, true));
                        break;
                }
            }
            Resolution = res; GWidth = w; DWidth = v;
            LastIsUpscale = Actions.Count > 0 && Actions[^1].Kind == GrowKind.Up;
        }

        static void Check(GrowAction a)
        {
            if (a.Kernel < 1 || a.Kernel % 2 == 0) throw new ArgumentException($"filter size must be odd and positive, got {a.Kernel}");
            if (a.Filters < 1) throw new ArgumentException($"filter count must be positive, got {a.Filters}");
        }

        public string ToRgbName => $"g_toRGB_r{Resolution}_c{GWidth}";
        public string OldToRgbName => $"g_toRGB_r{Resolution / 2}_c{GWidth}";
        public string FromRgbName => $"d_fromRGB_r{Resolution}_c{DWidth}";
        public string OldFromRgbName => $"d_fromRGB_r{Resolution / 2}_c{DWidth}";

        long BaseArea => (long)Config.BaseResolution * Config.BaseResolution;

        /// <summary>Trainable parameters of G (with the fade-in path's old toRGB when `fading`).</summary>
        public long GParams(bool fading = false)
        {
            long c = Config.BaseChannels, img = Config.ImageChannels;
            long p = Config.Latent * c * BaseArea + c * BaseArea;     // g_input
            p += 9 * c * c + c;                                          // g_base
            p += GBody.Sum(s => s.Params);
            p += GWidth * img + img;                                     // toRGB
            if (fading && LastIsUpscale) p += GWidth * img + img;        // old toRGB
            return p;
        }

        /// <summary>Trainable parameters of D (with the fade-in path's old fromRGB when `fading`).</summary>
        public long DParams(bool fading = false)
        {
            long c = Config.BaseChannels, img = Config.ImageChannels;
            long p = img * DWidth + DWidth;                              // fromRGB
            if (fading && LastIsUpscale) p += img * DWidth + DWidth;     // old fromRGB
            p += DBody.Sum(s => s.Params);
            p += 9 * c * c + c;                                          // d_base
            p += 9 * (c + 1) * c + c;                                    // d_final
            p += c * BaseArea + 1;                                       // d_out
            return p;
        }
    }
}
