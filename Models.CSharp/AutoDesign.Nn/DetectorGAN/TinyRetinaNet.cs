namespace AutoDesign.Nn.DetectorGAN
{
    /// <summary>The detector heads' outputs: class logits [N,A] and box deltas [N,A,4].</summary>
    public readonly record struct HeadOutputs(Tensor Logits, Tensor Deltas);

    /// <summary>
    /// A compact one-stage detector of the RetinaNet family for single-channel S×S images (S divisible by 8):
    /// a 4-conv backbone (strides 1,2,2,2), a two-level feature pyramid (P3 at stride 4 with the top-down path from
    /// P4 at stride 8), shared classification and box heads, square anchors, focal loss and smooth-L1 box loss both
    /// normalised by max(1, #positives). The forward pass is written functionally over an explicit weight list so
    /// that the loss can be evaluated at any weights (needed for DetectorGAN's unrolled step).
    /// </summary>
    public sealed class TinyRetinaNet : nn.Module, IDetector
    {
        readonly List<Parameter> weights = new();
        readonly int size;
        readonly int channels;
        readonly int features;
        readonly float[][] sizes;               // anchor sizes per level (P3, P4)
        readonly List<float[]> anchors;         // all anchors, level-major, then row, column, size
        /// <summary>Focal-loss weight α of positive anchors (negatives get 1 − α); 0.25 as in RetinaNet.</summary>
        public double Alpha { get; } = 0.25;
        /// <summary>Focal-loss focusing exponent γ on (1 − p_t); 2 as in RetinaNet.</summary>
        public double Gamma { get; } = 2.0;
        /// <summary>Threshold β of the smooth-L1 box loss, in encoded-delta units (1/9 as in Detectron).</summary>
        public double SmoothL1Beta { get; } = 1.0 / 9.0;
        /// <summary>An anchor is positive when its IoU with some ground-truth box is at least this (each box's best anchor is positive too).</summary>
        public double PositiveIou { get; } = 0.5;
        /// <summary>An anchor is negative when its best IoU is below this; anchors in between are ignored by the loss.</summary>
        public double NegativeIou { get; } = 0.4;

        /// <summary>Side S of the square images the detector accepts, in pixels.</summary>
        public int ImageSize => size;
        /// <summary>Number of anchors A per image, over both pyramid levels: (S/4)²·2 + (S/8)²·2.</summary>
        public int AnchorCount => anchors.Count;
        /// <summary>The A anchors as (x0, y0, x1, y1) in pixels, level-major (P3 then P4), then row, column, size — the order of the heads' outputs.</summary>
        public IReadOnlyList<float[]> AnchorBoxes => anchors;
        /// <summary>The 22 trainable tensors: (weight [out,in,k,k], bias [out]) for c1..c4, lat3, lat4, smooth3, cls_hidden, cls_out, box_hidden, box_out, in that order.</summary>
        public IReadOnlyList<Tensor> Weights => weights;

        // Weight layout: (weight, bias) pairs in this order.
        static readonly string[] Names = { "c1", "c2", "c3", "c4", "lat3", "lat4", "smooth3", "cls_hidden", "cls_out", "box_hidden", "box_out" };

        /// <summary>
        /// Builds the detector with Kaiming-uniform conv weights, N(0, 0.01) output heads and a classification bias
        /// giving every anchor a prior foreground probability of 0.01. Anchor sides, in pixels, are 4.5·S/32 and
        /// 7·S/32 on P3 and 10·S/32 and 14·S/32 on P4.
        /// </summary>
        /// <param name="imageSize">Side S of the input images in pixels (a multiple of 8, at least 16).</param>
        /// <param name="channels">Channels c of the first backbone conv (2c in the later ones).</param>
        /// <param name="features">Channels of the pyramid levels and the heads.</param>
        /// <param name="dtype">Element type of the weights (and of the targets built by <see cref="Targets"/>).</param>
        /// <exception cref="ArgumentException"><paramref name="imageSize"/> is below 16 or not a multiple of 8.</exception>
        public TinyRetinaNet(int imageSize, int channels = 8, int features = 16, ScalarType dtype = ScalarType.Float32)
            : base("TinyRetinaNet")
        {
            if (imageSize < 16 || imageSize % 8 != 0) throw new ArgumentException($"image size must be a multiple of 8 and at least 16, got {imageSize}");
            size = imageSize;
            this.channels = channels;
            this.features = features;
            float u = imageSize / 32f;
            sizes = new[] { new[] { 4.5f * u, 7f * u }, new[] { 10f * u, 14f * u } };
            int a = sizes[0].Length;
            var shapes = new (long o, long i, long k)[]
            {
                (channels, 1, 3), (2 * channels, channels, 3), (2 * channels, 2 * channels, 3), (2 * channels, 2 * channels, 3),
                (features, 2 * channels, 1), (features, 2 * channels, 1), (features, features, 3),
                (features, features, 3), (a, features, 3), (features, features, 3), (4 * a, features, 3)
            };
            for (int n = 0; n < shapes.Length; n++)
            {
                var (o, i, k) = shapes[n];
                var w = empty(new[] { o, i, k, k }, dtype);
                var b = zeros(new[] { o }, dtype);
                using (no_grad())
                {
                    if (Names[n].EndsWith("_out")) nn.init.normal_(w, 0.0, 0.01);
                    else nn.init.kaiming_uniform_(w, Math.Sqrt(5));
                    if (Names[n] == "cls_out") b.Fill(-Math.Log((1 - 0.01) / 0.01)); // prior π = 0.01
                }
                var pw = new Parameter(w); var pb = new Parameter(b);
                register_parameter(Names[n] + "_w", pw); register_parameter(Names[n] + "_b", pb);
                weights.Add(pw); weights.Add(pb);
            }
            anchors = BoxMath.LevelAnchors(size / 4, size / 4, 4, sizes[0]);
            anchors.AddRange(BoxMath.LevelAnchors(size / 8, size / 8, 8, sizes[1]));
        }

        static Tensor Conv(Tensor x, IReadOnlyList<Tensor> w, int n, long stride = 1)
        {
            var k = w[2 * n].shape[2];
            return F.conv2d(x, w[2 * n], w[2 * n + 1], strides: new[] { stride, stride }, padding: new[] { k / 2, k / 2 });
        }

        /// <summary>[N,1,S,S] → (class logits [N,A], box deltas [N,A,4]) with the given weights.</summary>
        public HeadOutputs Heads(Tensor x, IReadOnlyList<Tensor>? w = null)
        {
            w ??= weights;
            if (x.dim() != 4 || x.shape[1] != 1 || x.shape[2] != size || x.shape[3] != size)
                throw new ArgumentException($"TinyRetinaNet expects [N,1,{size},{size}], got [{string.Join(",", x.shape)}]");
            using var scope = NewDisposeScope();
            var c1 = F.relu(Conv(x, w, 0));            // [N,c,S,S]
            var c2 = F.relu(Conv(c1, w, 1, 2));        // [N,2c,S/2,S/2]
            var c3 = F.relu(Conv(c2, w, 2, 2));        // [N,2c,S/4,S/4]
            var c4 = F.relu(Conv(c3, w, 3, 2));        // [N,2c,S/8,S/8]
            var p4 = Conv(c4, w, 5);                   // [N,f,S/8,S/8]
            var up = F.interpolate(p4, scale_factor: new[] { 2.0, 2.0 }, mode: InterpolationMode.Nearest);
            var p3 = Conv(Conv(c3, w, 4).Plus(up), w, 6);  // [N,f,S/4,S/4]
            var logits = new List<Tensor>();
            var deltas = new List<Tensor>();
            long n = x.shape[0];
            foreach (var p in new[] { p3, p4 })
            {
                var cls = Conv(F.relu(Conv(p, w, 7)), w, 8);   // [N,A,H,W]
                var box = Conv(F.relu(Conv(p, w, 9)), w, 10);  // [N,4A,H,W]
                logits.Add(cls.permute(0, 2, 3, 1).reshape(n, -1));        // [N,H·W·A]
                deltas.Add(box.permute(0, 2, 3, 1).reshape(n, -1, 4));     // [N,H·W·A,4]
            }
            var l = cat(logits, 1);
            var d = cat(deltas, 1);
            return new HeadOutputs(l.MoveToOuterDisposeScope(), d.MoveToOuterDisposeScope());
        }

        /// <inheritdoc/>
        /// <remarks>
        /// Each image's anchors are matched to its boxes with <see cref="PositiveIou"/> and <see cref="NegativeIou"/>
        /// (<see cref="BoxMath.Match"/>); an image with no boxes has only negative anchors. The tensors are in the
        /// weights' element type: labels and valid [N,A], regression [N,A,4].
        /// </remarks>
        public DetectionTargets Targets(IReadOnlyList<float[][]> boxes, Device device)
        {
            int n = boxes.Count, a = anchors.Count, pos = 0;
            var labels = new float[n * a];
            var valid = new float[n * a];
            var reg = new float[n * a * 4];
            for (int i = 0; i < n; i++)
            {
                var (l, v, r) = BoxMath.Match(anchors, boxes[i], PositiveIou, NegativeIou);
                Array.Copy(l, 0, labels, i * a, a);
                Array.Copy(v, 0, valid, i * a, a);
                Array.Copy(r, 0, reg, i * a * 4, a * 4);
                pos += l.Count(t => t == 1);
            }
            var dtype = weights[0].dtype;
            return new DetectionTargets(
                tensor(labels, new long[] { n, a }).to(dtype, device),
                tensor(valid, new long[] { n, a }).to(dtype, device),
                tensor(reg, new long[] { n, a, 4 }).to(dtype, device), pos);
        }

        /// <summary>Sigmoid focal loss summed over valid anchors (not normalised).</summary>
        public static Tensor FocalSum(Tensor logits, Tensor labels, Tensor valid, double alpha, double gamma)
        {
            using var scope = NewDisposeScope();
            var p = sigmoid(logits);
            var ce = F.binary_cross_entropy_with_logits(logits, labels, reduction: nn.Reduction.None);
            var pt = (p * labels).Plus(p.RSub(1) * labels.RSub(1));
            var at = labels.Mul(alpha).Plus(labels.RSub(1).Mul(1 - alpha));
            var loss = (at * pt.RSub(1).Pow(gamma) * ce * valid).sum();
            return loss.MoveToOuterDisposeScope();
        }

        /// <summary>Smooth-L1 (Huber with threshold beta, divided by beta in the quadratic part) summed over positives.</summary>
        public static Tensor SmoothL1Sum(Tensor deltas, Tensor targets, Tensor positive, double beta)
        {
            using var scope = NewDisposeScope();
            var diff = (deltas - targets).abs();
            var l = where(diff.Lt(beta), (diff.Mul(0.5) * diff).Div(beta), diff.Sub(0.5 * beta));
            return (l.sum(-1) * positive).sum().MoveToOuterDisposeScope();
        }

        /// <inheritdoc/>
        /// <remarks>
        /// Returns a scalar: (focal loss over valid anchors + smooth-L1 over positive anchors) / max(1, positives).
        /// Gradients flow into <paramref name="images"/> and the weights used.
        /// </remarks>
        /// <exception cref="ArgumentException"><paramref name="images"/> is not [N,1,S,S] with S = <see cref="ImageSize"/>.</exception>
        public Tensor Loss(Tensor images, DetectionTargets t, IReadOnlyList<Tensor>? w = null)
        {
            using var scope = NewDisposeScope();
            var (logits, deltas) = Heads(images, w);
            double norm = Math.Max(1, t.Positives);
            var cls = FocalSum(logits, t.Labels, t.Valid, Alpha, Gamma);
            var box = SmoothL1Sum(deltas, t.Regression, t.Labels, SmoothL1Beta);
            return cls.Plus(box).Div(norm).MoveToOuterDisposeScope();
        }

        /// <inheritdoc/>
        /// <remarks>
        /// Per image: anchors scoring at least <paramref name="scoreThreshold"/> (sigmoid probability), at most the
        /// 200 best, are decoded, clipped to the image and kept if non-empty; then greedy NMS at IoU
        /// <paramref name="nmsIou"/> keeps at most <paramref name="maxDetections"/> boxes, best score first.
        /// </remarks>
        /// <exception cref="ArgumentException"><paramref name="images"/> is not [N,1,S,S] with S = <see cref="ImageSize"/>.</exception>
        public List<List<PredictedBox>> Predict(Tensor images, double scoreThreshold, double nmsIou, int maxDetections)
        {
            using var scope = NewDisposeScope();
            using var ng = no_grad();
            var (logits, deltas) = Heads(images);
            var scores = sigmoid(logits).to(ScalarType.Float32).cpu().data<float>().ToArray();
            var d = deltas.to(ScalarType.Float32).cpu().data<float>().ToArray();
            int n = (int)images.shape[0], a = anchors.Count;
            var result = new List<List<PredictedBox>>(n);
            for (int i = 0; i < n; i++)
            {
                var cands = new List<PredictedBox>();
                var order = Enumerable.Range(0, a).Where(k => scores[i * a + k] >= scoreThreshold)
                    .OrderByDescending(k => scores[i * a + k]).Take(200);
                foreach (var k in order)
                {
                    var b = BoxMath.Decode(anchors[k], new ReadOnlySpan<float>(d, (i * a + k) * 4, 4));
                    float x0 = Math.Clamp(b[0], 0, size), y0 = Math.Clamp(b[1], 0, size);
                    float x1 = Math.Clamp(b[2], 0, size), y1 = Math.Clamp(b[3], 0, size);
                    if (x1 > x0 && y1 > y0) cands.Add(new PredictedBox(x0, y0, x1, y1, scores[i * a + k]));
                }
                result.Add(BoxMath.Nms(cands, nmsIou, maxDetections));
            }
            return result;
        }
    }
}
