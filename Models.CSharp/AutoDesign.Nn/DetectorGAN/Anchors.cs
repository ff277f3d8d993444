namespace AutoDesign.Nn.DetectorGAN
{
    /// <summary>The matching of one image's anchors: label (1/0) and valid (1/0) per anchor, 4 regression targets per anchor.</summary>
    public readonly record struct AnchorTargets(float[] Labels, float[] Valid, float[] Regression);

    /// <summary>Anchor boxes, box encoding (RetinaNet/Faster R-CNN parameterisation), IoU, matching and NMS.</summary>
    public static class BoxMath
    {
        /// <summary>Largest log-scale change a decoded box may have (as in torchvision).</summary>
        public static readonly double MaxLogScale = Math.Log(1000.0 / 16.0);

        /// <summary>Intersection over union of two axis-aligned boxes [x0, x1) × [y0, y1); 0 when the union is
        /// empty, never NaN. The one IoU of AutoDesign (AutoDesign.Metrics.Box.iou calls it).</summary>
        public static double Iou(double ax0, double ay0, double ax1, double ay1, double bx0, double by0, double bx1, double by1)
        {
            double w = Math.Min(ax1, bx1) - Math.Max(ax0, bx0);
            double h = Math.Min(ay1, by1) - Math.Max(ay0, by0);
            double inter = w <= 0 || h <= 0 ? 0 : w * h;
            double areaA = Math.Max(0, ax1 - ax0) * Math.Max(0, ay1 - ay0);
            double areaB = Math.Max(0, bx1 - bx0) * Math.Max(0, by1 - by0);
            double union = areaA + areaB - inter;
            return union <= 0 ? 0 : inter / union;
        }

        /// <summary>IoU of boxes given as (x0, y0, x1, y1).</summary>
        public static double Iou(ReadOnlySpan<float> a, ReadOnlySpan<float> b) => Iou(a[0], a[1], a[2], a[3], b[0], b[1], b[2], b[3]);

        /// <summary>Encode a box relative to an anchor: (dx, dy, log dw, log dh).</summary>
        public static float[] Encode(float[] anchor, float[] box)
        {
            double aw = anchor[2] - anchor[0], ah = anchor[3] - anchor[1];
            double ax = anchor[0] + 0.5 * aw, ay = anchor[1] + 0.5 * ah;
            double bw = Math.Max(1e-3, box[2] - box[0]), bh = Math.Max(1e-3, box[3] - box[1]);
            double bx = box[0] + 0.5 * (box[2] - box[0]), by = box[1] + 0.5 * (box[3] - box[1]);
            return new[] { (float)((bx - ax) / aw), (float)((by - ay) / ah), (float)Math.Log(bw / aw), (float)Math.Log(bh / ah) };
        }

        /// <summary>Inverse of <see cref="Encode"/> (log scales clamped to <see cref="MaxLogScale"/>).</summary>
        public static float[] Decode(float[] anchor, ReadOnlySpan<float> d)
        {
            double aw = anchor[2] - anchor[0], ah = anchor[3] - anchor[1];
            double ax = anchor[0] + 0.5 * aw, ay = anchor[1] + 0.5 * ah;
            double cx = ax + d[0] * aw, cy = ay + d[1] * ah;
            double w = aw * Math.Exp(Math.Min(d[2], MaxLogScale)), h = ah * Math.Exp(Math.Min(d[3], MaxLogScale));
            return new[] { (float)(cx - 0.5 * w), (float)(cy - 0.5 * h), (float)(cx + 0.5 * w), (float)(cy + 0.5 * h) };
        }

        /// <summary>Square anchors for one pyramid level: for each cell (row-major) and each size, centred in the cell.</summary>
        public static List<float[]> LevelAnchors(int gridH, int gridW, int stride, IReadOnlyList<float> sizes)
        {
            var list = new List<float[]>(gridH * gridW * sizes.Count);
            for (int y = 0; y < gridH; y++)
                for (int x = 0; x < gridW; x++)
                    foreach (var s in sizes)
                    {
                        float cx = (x + 0.5f) * stride, cy = (y + 0.5f) * stride;
                        list.Add(new[] { cx - 0.5f * s, cy - 0.5f * s, cx + 0.5f * s, cy + 0.5f * s });
                    }
            return list;
        }

        /// <summary>
        /// RetinaNet matching for one image: an anchor is positive when its best IoU with a box is ≥ posIou, negative
        /// when &lt; negIou, ignored in between; each box's best anchor is also positive (so small objects get one).
        /// Returns label (1/0), valid (1/0), regression targets (4 per anchor).
        /// </summary>
        public static AnchorTargets Match(
            IReadOnlyList<float[]> anchors, float[][] boxes, double posIou, double negIou)
        {
            int a = anchors.Count;
            var labels = new float[a];
            var valid = new float[a];
            var reg = new float[a * 4];
            var bestBox = new int[a];
            var bestIou = new double[a];
            var boxBest = new double[boxes.Length];
            var boxBestAnchor = new int[boxes.Length];
            for (int i = 0; i < a; i++)
            {
                bestBox[i] = -1;
                for (int j = 0; j < boxes.Length; j++)
                {
                    double iou = Iou(anchors[i], boxes[j]);
                    if (iou > bestIou[i]) { bestIou[i] = iou; bestBox[i] = j; }
                    if (iou > boxBest[j]) { boxBest[j] = iou; boxBestAnchor[j] = i; }
                }
            }
            for (int i = 0; i < a; i++)
            {
                if (bestIou[i] >= posIou) { labels[i] = 1; valid[i] = 1; }
                else if (bestIou[i] < negIou) valid[i] = 1;
            }
            for (int j = 0; j < boxes.Length; j++)
                if (boxBest[j] > 0)
                {
                    int i = boxBestAnchor[j];
                    labels[i] = 1; valid[i] = 1; bestBox[i] = j;
                }
            for (int i = 0; i < a; i++)
                if (labels[i] == 1)
                {
                    var t = Encode(anchors[i], boxes[bestBox[i]]);
                    Array.Copy(t, 0, reg, i * 4, 4);
                }
            return new AnchorTargets(labels, valid, reg);
        }

        /// <summary>Greedy non-maximum suppression: keep the highest score, drop boxes with IoU &gt; iou with a kept one.</summary>
        public static List<PredictedBox> Nms(List<PredictedBox> boxes, double iou, int max)
        {
            boxes.Sort((p, q) => q.Score.CompareTo(p.Score));
            var kept = new List<PredictedBox>();
            foreach (var b in boxes)
            {
                if (kept.Count >= max) break;
                bool drop = false;
                foreach (var k in kept)
                    if (Iou(new[] { b.X0, b.Y0, b.X1, b.Y1 }, new[] { k.X0, k.Y0, k.X1, k.Y1 }) > iou) { drop = true; break; }
                if (!drop) kept.Add(b);
            }
            return kept;
        }
    }
}
