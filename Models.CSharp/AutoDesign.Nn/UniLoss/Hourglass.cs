using static TorchSharp.torch.nn;

namespace AutoDesign.Nn.UniLoss;

/// <summary>
/// The bottleneck residual module of the stacked hourglass (Newell et al. 2016, Fig. 4 left):
/// BN-ReLU-conv1×1(out/2) → BN-ReLU-conv3×3(out/2) → BN-ReLU-conv1×1(out), plus the input
/// (through a 1×1 convolution when the width changes). Keeps the spatial size.
/// </summary>
public sealed class HourglassResidual : Module<Tensor, Tensor>
{
    private readonly BatchNorm2d bn1;
    private readonly Conv2d conv1;   // [B,in,H,W] → [B,out/2,H,W]
    private readonly BatchNorm2d bn2;
    private readonly Conv2d conv2;   // [B,out/2,H,W] → [B,out/2,H,W]
    private readonly BatchNorm2d bn3;
    private readonly Conv2d conv3;   // [B,out/2,H,W] → [B,out,H,W]
    private readonly Conv2d? skip;    // [B,in,H,W] → [B,out,H,W], null when in == out

    /// <summary>Builds the module; the bottleneck width is max(1, outChannels/2).</summary>
    /// <param name="name">Module name (used in parameter names).</param>
    /// <param name="inChannels">Channels of the input.</param>
    /// <param name="outChannels">Channels of the output.</param>
    public HourglassResidual(string name, int inChannels, int outChannels) : base(name)
    {
        int mid = Math.Max(1, outChannels / 2);
        bn1 = BatchNorm2d(inChannels);
        conv1 = Conv2d(inChannels, mid, 1);
        bn2 = BatchNorm2d(mid);
        conv2 = Conv2d(mid, mid, 3, padding: 1);
        bn3 = BatchNorm2d(mid);
        conv3 = Conv2d(mid, outChannels, 1);
        if (inChannels != outChannels) skip = Conv2d(inChannels, outChannels, 1);
        RegisterComponents();
    }

    /// <summary>[B,in,H,W] → [B,out,H,W] (pre-activation: the output is not passed through a ReLU).</summary>
    public override Tensor forward(Tensor x)
    {
        using var a0 = functional.relu(bn1.forward(x));
        using var a = conv1.forward(a0);
        using var b0 = functional.relu(bn2.forward(a));
        using var b = conv2.forward(b0);
        using var c0 = functional.relu(bn3.forward(b));
        using var c = conv3.forward(c0);
        using var s = skip is null ? x.alias() : skip.forward(x);
        return c.Plus(s);
    }
}

/// <summary>
/// One hourglass of depth n (Newell et al. 2016, Fig. 3): an upper branch (residual at the input
/// resolution) and a lower branch (max-pool ×2 → residual → hourglass of depth n-1, or a residual
/// at depth 1 → residual → nearest upsample ×2), summed. Input side must be divisible by 2^n.
/// </summary>
public sealed class HourglassBlock : Module<Tensor, Tensor>
{
    private readonly HourglassResidual up1;   // [B,C,H,W] → [B,C,H,W]
    private readonly HourglassResidual low1;  // [B,C,H/2,W/2] → same
    private readonly Module<Tensor, Tensor> low2; // depth n-1 hourglass or a residual, [B,C,H/2,W/2] → same
    private readonly HourglassResidual low3;  // [B,C,H/2,W/2] → same

    /// <summary>Builds an hourglass of <paramref name="depth"/> levels, all at <paramref name="channels"/> channels.</summary>
    /// <param name="name">Module name (inner hourglasses get ".inner" appended).</param>
    /// <param name="depth">Number of pool/upsample levels (at least 1).</param>
    /// <param name="channels">Channels C of input, output and every residual inside.</param>
    /// <exception cref="ArgumentException"><paramref name="depth"/> is below 1.</exception>
    public HourglassBlock(string name, int depth, int channels) : base(name)
    {
        if (depth < 1) throw new ArgumentException($"hourglass depth must be at least 1, got {depth}");
        up1 = new HourglassResidual(name + ".up1", channels, channels);
        low1 = new HourglassResidual(name + ".low1", channels, channels);
        low2 = depth > 1
            ? new HourglassBlock(name + ".inner", depth - 1, channels)
            : new HourglassResidual(name + ".low2", channels, channels);
        low3 = new HourglassResidual(name + ".low3", channels, channels);
        RegisterComponents();
    }

    /// <summary>[B,C,H,W] → [B,C,H,W]; H and W must be divisible by 2^depth.</summary>
    public override Tensor forward(Tensor x)
    {
        using var upper = up1.forward(x);                         // [B,C,H,W]
        using var pooled = functional.max_pool2d(x, 2);            // [B,C,H/2,W/2]
        using var l1 = low1.forward(pooled);
        using var l2 = low2.forward(l1);
        using var l3 = low3.forward(l2);                           // [B,C,H/2,W/2]
        using var rows = l3.repeat_interleave(2L, 2);              // [B,C,H,W/2]
        using var up2 = rows.repeat_interleave(2L, 3);             // [B,C,H,W]
        return upper.Plus(up2);
    }
}

/// <summary>
/// A single-stack hourglass network for keypoint heatmaps (Newell et al. 2016; thesis §3.6.2),
/// scaled down for CPU: stem conv5×5 stride 2 (C/2 channels) → max-pool ×2 (output resolution is
/// input/4) → residual to C channels → residual → one hourglass of the given depth → residual →
/// 1×1 conv-BN-ReLU → 1×1 conv to one heatmap per joint. Newell et al.'s stem has a residual at
/// input/2 as well; it is dropped here because it costs more than the whole hourglass on a CPU.
/// For a 1×64×64 input the output is [B,joints,16,16].
/// </summary>
public sealed class Hourglass : Module<Tensor, Tensor>
{
    private readonly Conv2d stem;            // [B,inC,H,W] → [B,C/2,H/2,W/2]
    private readonly BatchNorm2d stemBn;
    private readonly HourglassResidual res1; // [B,C/2,H/4,W/4] → [B,C,H/4,W/4] (after max-pool)
    private readonly HourglassResidual res2; // [B,C,H/4,W/4] → same
    private readonly HourglassBlock hourglass; // [B,C,H/4,W/4] → same
    private readonly HourglassResidual res3; // [B,C,H/4,W/4] → same
    private readonly Conv2d lin;             // 1×1, [B,C,H/4,W/4] → same
    private readonly BatchNorm2d linBn;
    private readonly Conv2d heads;           // 1×1, [B,C,H/4,W/4] → [B,joints,H/4,W/4]

    /// <summary>Number of output heatmaps (one per keypoint).</summary>
    public int Joints { get; }
    /// <summary>Depth of the hourglass (number of pool/upsample levels inside it).</summary>
    public int Depth { get; }

    /// <summary>Builds the network with TorchSharp's default initialisation.</summary>
    /// <param name="inChannels">Channels of the input images.</param>
    /// <param name="joints">Number of heatmaps to predict.</param>
    /// <param name="channels">Width C of the residuals and the hourglass (the stem has C/2).</param>
    /// <param name="depth">Depth of the hourglass.</param>
    /// <exception cref="ArgumentException">inChannels, joints or depth is below 1, or channels is below 2.</exception>
    public Hourglass(int inChannels = 1, int joints = 1, int channels = 32, int depth = 3) : base(nameof(Hourglass))
    {
        if (inChannels < 1 || joints < 1 || channels < 2 || depth < 1)
            throw new ArgumentException($"Hourglass needs inChannels>=1, joints>=1, channels>=2, depth>=1; got {inChannels}, {joints}, {channels}, {depth}");
        Joints = joints;
        Depth = depth;
        stem = Conv2d(inChannels, channels / 2, 5, stride: 2, padding: 2);
        stemBn = BatchNorm2d(channels / 2);
        res1 = new HourglassResidual("res1", channels / 2, channels);
        res2 = new HourglassResidual("res2", channels, channels);
        hourglass = new HourglassBlock("hg", depth, channels);
        res3 = new HourglassResidual("res3", channels, channels);
        lin = Conv2d(channels, channels, 1);
        linBn = BatchNorm2d(channels);
        heads = Conv2d(channels, joints, 1);
        RegisterComponents();
    }

    /// <summary>Output side for an input side (input/4); the input side must be divisible by 2^(depth+2).</summary>
    public int OutputSide(int inputSide) => inputSide / 4;

    /// <param name="x">[B,inC,H,W], H and W divisible by 2^(depth+2)</param>
    /// <returns>[B,joints,H/4,W/4] heatmaps</returns>
    /// <exception cref="ArgumentException">H or W is not divisible by 2^(depth+2).</exception>
    public override Tensor forward(Tensor x)
    {
        long h = x.shape[2], w = x.shape[3];
        long unit = 1L << (Depth + 2);
        if (h % unit != 0 || w % unit != 0)
            throw new ArgumentException($"Hourglass of depth {Depth} needs input sides divisible by {unit}, got {h}x{w}");
        using var s = functional.relu(stemBn.forward(stem.forward(x))); // [B,C/2,H/2,W/2]
        using var p = functional.max_pool2d(s, 2);                        // [B,C/2,H/4,W/4]
        using var r1 = res1.forward(p);                                   // [B,C,H/4,W/4]
        using var r2 = res2.forward(r1);
        using var hg = hourglass.forward(r2);
        using var r3 = res3.forward(hg);
        using var l = functional.relu(linBn.forward(lin.forward(r3)));
        return heads.forward(l);                                          // [B,joints,H/4,W/4]
    }
}
