namespace AutoDesign.Nn.DetectorGAN
{
    /// <summary>One predicted box (x0, y0, x1, y1 in pixels) with its score.</summary>
    /// <param name="X0">Left edge, in pixels from the image's left.</param>
    /// <param name="Y0">Top edge, in pixels from the image's top.</param>
    /// <param name="X1">Right edge (exclusive), X1 &gt; X0.</param>
    /// <param name="Y1">Bottom edge (exclusive), Y1 &gt; Y0.</param>
    /// <param name="Score">The detector's foreground probability, in [0, 1].</param>
    public readonly record struct PredictedBox(float X0, float Y0, float X1, float Y1, float Score);

    /// <summary>
    /// Training targets for a batch, fixed by the ground-truth boxes alone (not by the detector's weights), so the
    /// loss is a differentiable function of the weights and images only.
    /// </summary>
    public sealed class DetectionTargets : IDisposable
    {
        /// <summary>[N,A] 1 for positive anchors, 0 otherwise.</summary>
        public Tensor Labels { get; }
        /// <summary>[N,A] 1 where the anchor counts in the classification loss (not ignored).</summary>
        public Tensor Valid { get; }
        /// <summary>[N,A,4] encoded box targets (meaningful where Labels = 1).</summary>
        public Tensor Regression { get; }
        /// <summary>Number of positive anchors in the batch.</summary>
        public int Positives { get; }

        /// <summary>Takes ownership of the three tensors (<see cref="Dispose"/> frees them).</summary>
        /// <param name="labels">[N,A] 1 for positive anchors, 0 otherwise.</param>
        /// <param name="valid">[N,A] 1 where the anchor counts in the classification loss.</param>
        /// <param name="regression">[N,A,4] encoded box targets.</param>
        /// <param name="positives">Number of ones in <paramref name="labels"/>.</param>
        public DetectionTargets(Tensor labels, Tensor valid, Tensor regression, int positives)
        {
            Labels = labels; Valid = valid; Regression = regression; Positives = positives;
        }

        /// <summary>Disposes <see cref="Labels"/>, <see cref="Valid"/> and <see cref="Regression"/>.</summary>
        public void Dispose() { Labels.Dispose(); Valid.Dispose(); Regression.Dispose(); }
    }

    /// <summary>
    /// A trainable detector that can sit in DetectorGAN's loop. The loss takes an explicit weight list so the
    /// unrolled step (Eq. 4.3) can evaluate it at stepped weights w − η·∇w L, keeping the graph to the generator.
    /// </summary>
    public interface IDetector : IDisposable
    {
        /// <summary>The trainable weights in the fixed order that <see cref="Loss"/> expects.</summary>
        IReadOnlyList<Tensor> Weights { get; }

        /// <summary>Targets for a batch of images whose ground-truth boxes are given per image as (x0,y0,x1,y1).</summary>
        DetectionTargets Targets(IReadOnlyList<float[][]> boxes, Device device);

        /// <summary>Detection loss on images [N,1,S,S] with the given weights (null: the detector's own).</summary>
        Tensor Loss(Tensor images, DetectionTargets targets, IReadOnlyList<Tensor>? weights = null);

        /// <summary>Boxes per image after score threshold and non-maximum suppression (no gradient).</summary>
        List<List<PredictedBox>> Predict(Tensor images, double scoreThreshold, double nmsIou, int maxDetections);
    }
}
