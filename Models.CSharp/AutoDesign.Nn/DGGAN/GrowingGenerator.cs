namespace AutoDesign.Nn.DGGAN
{
    /// <summary>One body layer: its spec and its convolution.</summary>
    public readonly record struct BodyConv(ConvSpec Spec, Conv2d Conv);

    /// <summary>Shared ProgGAN-style pieces: nearest upsampling, pixel norm, minibatch stddev.</summary>
    public static class GanOps
    {
        /// <summary>[B,C,H,W] → [B,C,2H,2W], nearest neighbour.</summary>
        public static Tensor Upsample2(Tensor x) => x.repeat_interleave(2L, 2).repeat_interleave(2L, 3);

        /// <summary>[B,C,H,W] → [B,C,H/2,W/2], 2×2 average.</summary>
        public static Tensor Downsample2(Tensor x) => nn.functional.avg_pool2d(x, 2);

        /// <summary>Normalise each pixel's feature vector to unit RMS (ProgGAN generator).</summary>
        public static Tensor PixelNorm(Tensor x) => x * x.Squared().mean(new long[] { 1 }, keepdim: true).Add(1e-8).rsqrt();

        /// <summary>Append one channel holding the mean over features of the batch standard deviation (ProgGAN D).</summary>
        public static Tensor MinibatchStd(Tensor x)
        {
            var sd = x.var(0L, unbiased: false, keepdim: false).Add(1e-8).sqrt().mean();
            var feat = sd.expand(x.shape[0], 1, x.shape[2], x.shape[3]);
            return cat(new[] { x, feat }, 1);
        }

        /// <summary>The activation of both networks: leaky ReLU with slope 0.2 for negative inputs (shape kept).</summary>
        public static Tensor Act(Tensor x) => x.LeakyRelu(0.2);

        /// <summary>One same-padded convolution per spec, registered on `owner` under the spec's name.</summary>
        public static List<BodyConv> BodyConvs(nn.Module owner, IEnumerable<ConvSpec> specs)
        {
            var body = new List<BodyConv>();
            foreach (var s in specs)
            {
                var conv = nn.Conv2d(s.In, s.Out, s.Kernel, padding: s.Kernel / 2);
                owner.register_module(s.Name, conv);
                body.Add(new BodyConv(s, conv));
            }
            return body;
        }
    }

    /// <summary>
    /// Growable generator: latent [B,Z] → image [B,ImageChannels,R,R] (linear output, data scaled to [-1,1]).
    /// When built with `fading` and the last action is an upscale, the output is the fade-in blend
    /// (1-α)·upsample(toRGB_old(h_prev)) + α·toRGB_new(h) (Karras et al. 2018).
    /// </summary>
    public sealed class GrowingGenerator : GrowingNetwork
    {
        readonly Linear input;                 // Z → C·d0²
        readonly Conv2d baseConv;              // [B,C,d0,d0] → [B,C,d0,d0]
        readonly List<BodyConv> body;
        readonly Conv2d toRgb;                 // [B,w,R,R] → [B,img,R,R]
        readonly Conv2d? oldToRgb;             // [B,w,R/2,R/2] → [B,img,R/2,R/2], fade-in only

        /// <summary>Builds G from <paramref name="layout"/> with freshly initialised weights, on the CPU.</summary>
        /// <param name="layout">The grown architecture.</param>
        /// <param name="fading">Add the fade-in path when the last action is an upscale (ignored otherwise).</param>
        public GrowingGenerator(GanLayout layout, bool fading) : base("GrowingGenerator", layout)
        {
            var c = layout.Config.BaseChannels;
            var d0 = layout.Config.BaseResolution;
            input = nn.Linear(layout.Config.Latent, (long)c * d0 * d0);
            register_module("g_input", input);
            baseConv = nn.Conv2d(c, c, 3, padding: 1);
            register_module("g_base", baseConv);
            body = GanOps.BodyConvs(this, layout.GBody);
            toRgb = nn.Conv2d(layout.GWidth, layout.Config.ImageChannels, 1);
            register_module(layout.ToRgbName, toRgb);
            oldToRgb = FadeInConv(fading, layout.OldToRgbName, layout.GWidth, layout.Config.ImageChannels);
        }

        /// <summary>Latent vectors [B,Z] → images [B,ImageChannels,R,R] (R = <see cref="GanLayout.Resolution"/>, unbounded linear output).</summary>
        public override Tensor forward(Tensor z)
        {
            var c = Layout.Config.BaseChannels;
            var d0 = Layout.Config.BaseResolution;
            var h = GanOps.PixelNorm(GanOps.Act(input.forward(GanOps.PixelNorm(z.unsqueeze(2).unsqueeze(3)).flatten(1)).view(-1, c, d0, d0)));
            h = GanOps.PixelNorm(GanOps.Act(baseConv.forward(h)));
            Tensor? prev = null;
            for (int i = 0; i < body.Count; i++)
            {
                var (s, conv) = body[i];
                if (i == body.Count - 1) prev = h;
                var x = s.Resample ? GanOps.Upsample2(h) : h;
                h = GanOps.PixelNorm(GanOps.Act(conv.forward(x)));
            }
            var outNew = toRgb.forward(h);
            if (oldToRgb is null || prev is null) return outNew;
            var outOld = GanOps.Upsample2(oldToRgb.forward(prev));
            return outOld.Mul(1.0 - Alpha).Plus(outNew.Mul(Alpha));
        }

        /// <summary>Builds G (see the constructor) and moves it to <paramref name="device"/>.</summary>
        public static GrowingGenerator Create(GanLayout layout, bool fading, Device device) =>
            OnDevice(new GrowingGenerator(layout, fading), device);
    }
}
