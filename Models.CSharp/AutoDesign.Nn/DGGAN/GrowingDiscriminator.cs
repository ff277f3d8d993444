namespace AutoDesign.Nn.DGGAN
{
    /// <summary>
    /// Growable discriminator (critic): image [B,img,R,R] → score [B,1].
    /// When built with `fading` and the last action is an upscale, the features entering the old body are the blend
    /// (1-α)·fromRGB_old(avgpool(x)) + α·downblock(fromRGB_new(x)).
    /// </summary>
    public sealed class GrowingDiscriminator : GrowingNetwork
    {
        readonly Conv2d fromRgb;               // [B,img,R,R] → [B,v,R,R]
        readonly Conv2d? oldFromRgb;           // [B,img,R/2,R/2] → [B,v,R/2,R/2], fade-in only
        readonly List<BodyConv> body;
        readonly Conv2d baseConv;              // [B,C,d0,d0] → [B,C,d0,d0]
        readonly Conv2d finalConv;             // [B,C+1,d0,d0] → [B,C,d0,d0]
        readonly Linear output;                // C·d0² → 1

        /// <summary>Builds D from <paramref name="layout"/> with freshly initialised weights, on the CPU.</summary>
        /// <param name="layout">The grown architecture.</param>
        /// <param name="fading">Add the fade-in path when the last action is an upscale (ignored otherwise).</param>
        public GrowingDiscriminator(GanLayout layout, bool fading) : base("GrowingDiscriminator", layout)
        {
            var c = layout.Config.BaseChannels;
            var d0 = layout.Config.BaseResolution;
            var img = layout.Config.ImageChannels;
            fromRgb = nn.Conv2d(img, layout.DWidth, 1);
            register_module(layout.FromRgbName, fromRgb);
            oldFromRgb = FadeInConv(fading, layout.OldFromRgbName, img, layout.DWidth);
            body = GanOps.BodyConvs(this, layout.DBody);
            baseConv = nn.Conv2d(c, c, 3, padding: 1);
            register_module("d_base", baseConv);
            finalConv = nn.Conv2d(c + 1, c, 3, padding: 1);
            register_module("d_final", finalConv);
            output = nn.Linear((long)c * d0 * d0, 1);
            register_module("d_out", output);
        }

        static Tensor Block(ConvSpec s, Conv2d conv, Tensor h)
        {
            var y = GanOps.Act(conv.forward(h));
            return s.Resample ? GanOps.Downsample2(y) : y;
        }

        /// <summary>
        /// Images [B,img,R,R] → unbounded critic scores [B,1]. B must be at least 2 for the minibatch standard
        /// deviation to be meaningful (with B = 1 that channel is a constant).
        /// </summary>
        public override Tensor forward(Tensor x)
        {
            var h = GanOps.Act(fromRgb.forward(x));
            int start = 0;
            if (oldFromRgb is not null)
            {
                // The upscale block is the first body layer (newest first); blend after it.
                var (s0, c0) = body[0];
                var hNew = Block(s0, c0, h);
                var hOld = GanOps.Act(oldFromRgb.forward(GanOps.Downsample2(x)));
                h = hOld.Mul(1.0 - Alpha).Plus(hNew.Mul(Alpha));
                start = 1;
            }
            for (int i = start; i < body.Count; i++) h = Block(body[i].Spec, body[i].Conv, h);
            h = GanOps.Act(baseConv.forward(h));
            h = GanOps.Act(finalConv.forward(GanOps.MinibatchStd(h)));
            return output.forward(h.flatten(1));
        }

        /// <summary>Builds D (see the constructor) and moves it to <paramref name="device"/>.</summary>
        public static GrowingDiscriminator Create(GanLayout layout, bool fading, Device device) =>
            OnDevice(new GrowingDiscriminator(layout, fading), device);
    }
}
