namespace AutoDesign.Nn.DGGAN
{
    /// <summary>
    /// What the growing generator and discriminator share: the architecture they were built from and the fade-in
    /// (Karras et al. 2018), whose blend weight <see cref="Alpha"/> moves from 0 to 1 while a new resolution fades in.
    /// </summary>
    public abstract class GrowingNetwork : nn.Module<Tensor, Tensor>
    {
        /// <summary>Starts a network of architecture <paramref name="layout"/>; the subclass registers its layers.</summary>
        /// <param name="name">The module's name.</param>
        /// <param name="layout">The grown architecture.</param>
        protected GrowingNetwork(string name, GanLayout layout) : base(name) => Layout = layout;

        /// <summary>Fade-in blend weight of the new resolution path, 0..1 (only used while fading).</summary>
        public double Alpha { get; set; } = 1.0;
        /// <summary>True when the network carries the fade-in path (built with `fading` after an upscale); <see cref="Alpha"/> then starts at 0.</summary>
        public bool Fading { get; private set; }
        /// <summary>The architecture this network was built from.</summary>
        public GanLayout Layout { get; }

        /// <summary>
        /// The 1×1 convolution of the fade-in's old path, registered as <paramref name="name"/>, when
        /// <paramref name="fading"/> and the last action is an upscale (then <see cref="Fading"/> is true and
        /// <see cref="Alpha"/> 0); null otherwise.
        /// </summary>
        protected Conv2d? FadeInConv(bool fading, string name, long inChannels, long outChannels)
        {
            if (!fading || !Layout.LastIsUpscale) return null;
            var conv = nn.Conv2d(inChannels, outChannels, 1);
            register_module(name, conv);
            Fading = true;
            Alpha = 0.0;
            return conv;
        }

        /// <summary>Moves <paramref name="network"/> to <paramref name="device"/> and returns it.</summary>
        protected static T OnDevice<T>(T network, Device device) where T : GrowingNetwork
        {
            network.to(device);
            return network;
        }
    }
}
