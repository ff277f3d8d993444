namespace AutoDesign.Nn.DGGAN
{
    /// <summary>Where a growth action grows: the generator, the discriminator, or both (upscale).</summary>
    public enum GrowKind
    {
        /// <summary>Appends a conv to the generator, just before its toRGB layer.</summary>
        G,
        /// <summary>Inserts a conv into the discriminator, just after its fromRGB layer.</summary>
        D,
        /// <summary>Doubles the resolution of both networks (an upsampling block in G, a downsampling block in D).</summary>
        Up,
    }

    /// <summary>One growth action (thesis §5.3.1.2): a k×k conv with `Filters` filters in G or D, or an upscale of both.</summary>
    /// <param name="Kind">Which network grows, or both (upscale).</param>
    /// <param name="Kernel">Filter size k (odd and positive for G and D actions; 0 for an upscale).</param>
    /// <param name="Filters">Output channels of the new conv in G, input channels of the new conv in D (positive; 0 for an upscale).</param>
    public sealed record GrowAction(GrowKind Kind, int Kernel, int Filters)
    {
        /// <summary>The upscale action (kernel and filter count 0): doubles the resolution of G and D.</summary>
        public static GrowAction Upscale => new GrowAction(GrowKind.Up, 0, 0);
        /// <summary>"Up" for an upscale, otherwise "Kind,Kernel,Filters" (e.g. "G,3,32"), as in architecture listings.</summary>
        public override string ToString() => Kind == GrowKind.Up ? "Up" : $"{Kind},{Kernel},{Filters}";
    }

    /// <summary>Fixed part of every architecture: latent size, base width C, image channels, base resolution d0.</summary>
    /// <param name="Latent">Size Z of the latent vector fed to G.</param>
    /// <param name="BaseChannels">Channels C of the base layers of G and D.</param>
    /// <param name="ImageChannels">Channels of the images (1 grey, 3 RGB).</param>
    /// <param name="BaseResolution">Side d0 of the base networks' images, in pixels; each upscale doubles it.</param>
    public sealed record GanConfig(int Latent, int BaseChannels, int ImageChannels, int BaseResolution);

    /// <summary>
    /// A convolution in the grown body. In G, `Resample` means "upsample ×2 (nearest) before the conv";
    /// in D it means "average-pool ×2 after the conv".
    /// </summary>
    /// <param name="Name">Module name of the conv (carries the action index, so it identifies the layer across children).</param>
    /// <param name="Kernel">Filter size k (same padding).</param>
    /// <param name="In">Input channels.</param>
    /// <param name="Out">Output channels.</param>
    /// <param name="Resample">G: upsample ×2 before the conv; D: average-pool ×2 after it.</param>
    public sealed record ConvSpec(string Name, int Kernel, int In, int Out, bool Resample)
    {
        /// <summary>Trainable parameters of the conv: k²·In·Out weights plus Out biases.</summary>
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
        /// <summary>The fixed base configuration the actions were replayed on.</summary>
        public GanConfig Config { get; }
        /// <summary>The growth actions, in the order they were applied (a copy of the list passed in).</summary>
        public IReadOnlyList<GrowAction> Actions { get; }
        /// <summary>Side of the generated images in pixels: d0 · 2^(number of upscales).</summary>
        public int Resolution { get; }
        /// <summary>G's grown convs between g_base and toRGB, in growth order (input side first).</summary>
        public List<ConvSpec> GBody { get; } = new();
        /// <summary>D's grown convs between fromRGB and d_base, newest first (input side first).</summary>
        public List<ConvSpec> DBody { get; } = new();
        /// <summary>Channels G's toRGB reads; channels D's fromRGB writes.</summary>
        public int GWidth { get; }
        /// <summary>Channels D's fromRGB writes (the input channels of D's first body conv, or C with no body).</summary>
        public int DWidth { get; }
        /// <summary>True when the last action is an upscale: the networks can then carry the fade-in path.</summary>
        public bool LastIsUpscale { get; }

        /// <summary>Replays <paramref name="actions"/> on the base networks of <paramref name="config"/>.</summary>
        /// <exception cref="ArgumentException">A G or D action has an even or non-positive kernel, or a non-positive filter count.</exception>
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

        /// <summary>Module name of G's toRGB at this resolution and width (shared by a child only when the layer keeps its shape).</summary>
        public string ToRgbName => $"g_toRGB_r{Resolution}_c{GWidth}";
        /// <summary>Module name of G's fade-in toRGB, which reads the half-resolution features before the last upscale.</summary>
        public string OldToRgbName => $"g_toRGB_r{Resolution / 2}_c{GWidth}";
        /// <summary>Module name of D's fromRGB at this resolution and width.</summary>
        public string FromRgbName => $"d_fromRGB_r{Resolution}_c{DWidth}";
        /// <summary>Module name of D's fade-in fromRGB, which reads the half-resolution (average-pooled) image.</summary>
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
