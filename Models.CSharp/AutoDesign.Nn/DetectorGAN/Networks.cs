namespace AutoDesign.Nn.DetectorGAN
{
    /// <summary>CycleGAN residual block: x + IN(conv3(relu(IN(conv3(x))))).</summary>
    public sealed class ResBlock : nn.Module<Tensor, Tensor>
    {
        readonly Conv2d conv1, conv2;          // [B,c,H,W] → [B,c,H,W]
        readonly InstanceNorm2d norm1, norm2;

        /// <summary>Two 3×3 convs of <paramref name="c"/> channels (same padding) with affine instance norm, in <paramref name="dtype"/>.</summary>
        public ResBlock(long c, ScalarType dtype) : base("ResBlock")
        {
            conv1 = nn.Conv2d(c, c, 3, padding: 1, dtype: dtype);
            conv2 = nn.Conv2d(c, c, 3, padding: 1, dtype: dtype);
            norm1 = nn.InstanceNorm2d(c, affine: true, dtype: dtype);
            norm2 = nn.InstanceNorm2d(c, affine: true, dtype: dtype);
            RegisterComponents();
        }

        /// <summary>[B,c,H,W] → [B,c,H,W]: <paramref name="x"/> plus the residual branch.</summary>
        public override Tensor forward(Tensor x)
        {
            using var h = F.relu(norm1.forward(conv1.forward(x)));
            using var h2 = conv2.forward(h);
            using var h3 = norm2.forward(h2);
            return x.Plus(h3);
        }
    }

    /// <summary>
    /// CycleGAN-style ResNet generator conditioned on a box mask: (image [B,1,S,S], mask [B,1,S,S]) → image [B,1,S,S].
    /// conv7 → stride-2 down conv → n residual blocks → transposed up conv → conv7. The output is residual,
    /// clamp(image + tanh(·), 0, 1), so an untrained generator starts near the identity (few iterations on CPU).
    /// </summary>
    public sealed class MaskedResNetGenerator : nn.Module<Tensor, Tensor, Tensor>
    {
        readonly Conv2d inConv;                // [B,2,S,S] → [B,c,S,S]
        readonly InstanceNorm2d inNorm;
        readonly Conv2d down;                  // [B,c,S,S] → [B,2c,S/2,S/2]
        readonly InstanceNorm2d downNorm;
        readonly ModuleList<ResBlock> blocks;  // [B,2c,S/2,S/2] → same
        readonly ConvTranspose2d up;           // [B,2c,S/2,S/2] → [B,c,S,S]
        readonly InstanceNorm2d upNorm;
        readonly Conv2d outConv;               // [B,c,S,S] → [B,1,S,S]

        /// <summary>
        /// Builds the generator; the last conv's weights are scaled by 0.1 and its bias zeroed so that the initial
        /// output stays close to the input image.
        /// </summary>
        /// <param name="channels">Channels c after the first conv (2c in the residual blocks at half resolution).</param>
        /// <param name="blockCount">Number of residual blocks (0 allowed).</param>
        /// <param name="dtype">Element type of the weights (and of the inputs it accepts).</param>
        public MaskedResNetGenerator(long channels, int blockCount, ScalarType dtype = ScalarType.Float32) : base("MaskedResNetGenerator")
        {
            inConv = nn.Conv2d(2, channels, 7, padding: 3, dtype: dtype);
            inNorm = nn.InstanceNorm2d(channels, affine: true, dtype: dtype);
            down = nn.Conv2d(channels, 2 * channels, 3, stride: 2, padding: 1, dtype: dtype);
            downNorm = nn.InstanceNorm2d(2 * channels, affine: true, dtype: dtype);
            blocks = new ModuleList<ResBlock>();
            for (int i = 0; i < blockCount; i++) blocks.Add(new ResBlock(2 * channels, dtype));
            up = nn.ConvTranspose2d(2 * channels, channels, 3, stride: 2, padding: 1, output_padding: 1, dtype: dtype);
            upNorm = nn.InstanceNorm2d(channels, affine: true, dtype: dtype);
            outConv = nn.Conv2d(channels, 1, 7, padding: 3, dtype: dtype);
            using (no_grad())
            {
                using var tenth = 0.1.ToScalar();
                outConv.weight!.mul_(tenth);
                outConv.bias!.zero_();
            }
            RegisterComponents();
        }

        /// <summary>
        /// (image [B,1,S,S] in [0,1], mask [B,1,S,S]: 1 inside the boxes to edit) → edited image [B,1,S,S] in [0,1].
        /// S must be even so that the down and up convs restore the size.
        /// </summary>
        public override Tensor forward(Tensor image, Tensor mask)
        {
            using var scope = NewDisposeScope();
            var h = F.relu(inNorm.forward(inConv.forward(cat(new[] { image, mask }, 1))));
            h = F.relu(downNorm.forward(down.forward(h)));
            foreach (var b in blocks) h = b.forward(h);
            h = F.relu(upNorm.forward(up.forward(h)));
            var y = image.Plus(tanh(outConv.forward(h))).Clamp(0.0, 1.0);
            return y.MoveToOuterDisposeScope();
        }
    }

    /// <summary>
    /// PatchGAN discriminator (the 70×70 PatchGAN of pix2pix/CycleGAN scaled to small images):
    /// [B,1,H,W] → [B,1,H/4−1,W/4−1] patch scores (raw, for the least-squares GAN loss).
    /// </summary>
    public sealed class PatchDiscriminator : nn.Module<Tensor, Tensor>
    {
        readonly Conv2d c1;                    // [B,1,H,W] → [B,c,H/2,W/2]
        readonly Conv2d c2;                    // → [B,2c,H/4,W/4]
        readonly InstanceNorm2d n2;
        readonly Conv2d c3;                    // → [B,1,H/4−1,W/4−1]

        /// <summary>Builds the discriminator: two stride-2 4×4 convs (c, then 2c channels, the second instance-normalised) and a 4×4 conv to one channel.</summary>
        /// <param name="channels">Channels c of the first conv.</param>
        /// <param name="dtype">Element type of the weights.</param>
        public PatchDiscriminator(long channels, ScalarType dtype = ScalarType.Float32) : base("PatchDiscriminator")
        {
            c1 = nn.Conv2d(1, channels, 4, stride: 2, padding: 1, dtype: dtype);
            c2 = nn.Conv2d(channels, 2 * channels, 4, stride: 2, padding: 1, dtype: dtype);
            n2 = nn.InstanceNorm2d(2 * channels, affine: true, dtype: dtype);
            c3 = nn.Conv2d(2 * channels, 1, 4, stride: 1, padding: 1, dtype: dtype);
            RegisterComponents();
        }

        /// <summary>Images [B,1,H,W] → raw patch scores [B,1,H/4−1,W/4−1] (H, W divisible by 4; leaky ReLU 0.2 between convs).</summary>
        public override Tensor forward(Tensor x)
        {
            using var scope = NewDisposeScope();
            var h = c1.forward(x).LeakyRelu(0.2);
            h = n2.forward(c2.forward(h)).LeakyRelu(0.2);
            return c3.forward(h).MoveToOuterDisposeScope();
        }
    }

    /// <summary>An integer pixel range [X0, X1) × [Y0, Y1) inside an image.</summary>
    public readonly record struct PixelRange(int X0, int Y0, int X1, int Y1);

    /// <summary>Box masks and differentiable box crops.</summary>
    public static class BoxOps
    {
        /// <summary>[N,1,S,S] masks: 1 inside each image's boxes (pixel [x0,x1)×[y0,y1) after rounding), 0 elsewhere.</summary>
        public static Tensor Masks(IReadOnlyList<float[][]> boxes, int size, ScalarType dtype, Device device)
        {
            var m = new float[boxes.Count * size * size];
            for (int i = 0; i < boxes.Count; i++)
                foreach (var b in boxes[i])
                {
                    var (x0, y0, x1, y1) = Pixels(b, size);
                    for (int y = y0; y < y1; y++)
                        for (int x = x0; x < x1; x++) m[(i * size + y) * size + x] = 1;
                }
            return tensor(m, new long[] { boxes.Count, 1, size, size }).to(dtype, device);
        }

        /// <summary>Integer pixel range of a box, at least one pixel wide, inside the image.</summary>
        public static PixelRange Pixels(float[] b, int size)
        {
            int x0 = Math.Clamp((int)Math.Floor(b[0]), 0, size - 1), y0 = Math.Clamp((int)Math.Floor(b[1]), 0, size - 1);
            int x1 = Math.Clamp((int)Math.Ceiling(b[2]), x0 + 1, size), y1 = Math.Clamp((int)Math.Ceiling(b[3]), y0 + 1, size);
            return new PixelRange(x0, y0, x1, y1);
        }

        /// <summary>Crop one box per image from [N,C,S,S] and resize bilinearly to [N,C,out,out] (differentiable).</summary>
        public static Tensor CropResize(Tensor images, IReadOnlyList<float[]> boxes, int outSize)
        {
            using var scope = NewDisposeScope();
            int size = (int)images.shape[3];
            var crops = new List<Tensor>();
            for (int i = 0; i < boxes.Count; i++)
            {
                var (x0, y0, x1, y1) = Pixels(boxes[i], size);
                var c = images.narrow(0, i, 1).narrow(2, y0, y1 - y0).narrow(3, x0, x1 - x0);
                crops.Add(F.interpolate(c, size: new long[] { outSize, outSize }, mode: InterpolationMode.Bilinear, align_corners: false));
            }
            return cat(crops, 0).MoveToOuterDisposeScope();
        }
    }
}
