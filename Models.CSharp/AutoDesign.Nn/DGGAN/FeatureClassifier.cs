namespace AutoDesign.Nn.DGGAN
{
    /// <summary>
    /// Small CNN classifier on 32×32 images, trained in this repo as the stand-in for Inception-v3 (whose weights are
    /// not available offline). `Features` is the 64-d pre-activation of the penultimate layer (used for FID);
    /// `forward` gives class logits (used for the Inception-Score-style score).
    /// </summary>
    public sealed class FeatureClassifier : nn.Module<Tensor, Tensor>
    {
        readonly Conv2d conv1;   // [B,img,32,32] → [B,32,32,32] → pool [B,32,16,16]
        readonly Conv2d conv2;   // [B,32,16,16] → [B,64,16,16] → pool [B,64,8,8]
        readonly Conv2d conv3;   // [B,64,8,8] → [B,64,8,8] → pool [B,64,4,4]
        readonly Linear fc;      // 1024 → FeatureDim
        readonly Linear head;    // FeatureDim → classes
        /// <summary>Length of the feature vector returned by <see cref="Features"/>.</summary>
        public const int FeatureDim = 64;

        /// <summary>Creates an untrained classifier on the CPU.</summary>
        /// <param name="imageChannels">Channels of the 32×32 input images (1 grey, 3 RGB).</param>
        /// <param name="classes">Number of classes (length of the logits).</param>
        public FeatureClassifier(int imageChannels, int classes) : base("FeatureClassifier")
        {
            conv1 = nn.Conv2d(imageChannels, 32, 3, padding: 1);
            conv2 = nn.Conv2d(32, 64, 3, padding: 1);
            conv3 = nn.Conv2d(64, 64, 3, padding: 1);
            fc = nn.Linear(64 * 4 * 4, FeatureDim);
            head = nn.Linear(FeatureDim, classes);
            RegisterComponents();
        }

        /// <summary>[B,img,32,32] in [-1,1] → [B,64] features.</summary>
        public Tensor Features(Tensor x)
        {
            var h = nn.functional.max_pool2d(nn.functional.relu(conv1.forward(x)), 2);
            h = nn.functional.max_pool2d(nn.functional.relu(conv2.forward(h)), 2);
            h = nn.functional.max_pool2d(nn.functional.relu(conv3.forward(h)), 2);
            return fc.forward(h.flatten(1));
        }

        /// <summary>[B,img,32,32] in [-1,1] → class logits [B,classes] (a linear head on ReLU of <see cref="Features"/>).</summary>
        public override Tensor forward(Tensor x) => head.forward(nn.functional.relu(Features(x)));

        /// <summary>Creates an untrained classifier and moves it to <paramref name="device"/>.</summary>
        public static FeatureClassifier Create(int imageChannels, int classes, Device device)
        {
            var m = new FeatureClassifier(imageChannels, classes);
            m.to(device);
            return m;
        }
    }
}
