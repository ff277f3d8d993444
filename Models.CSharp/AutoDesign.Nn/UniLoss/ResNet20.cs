using static TorchSharp.torch.nn;

namespace AutoDesign.Nn.UniLoss;

/// <summary>
/// CIFAR-style basic residual block (He et al. 2016): conv3×3-BN-ReLU-conv3×3-BN plus shortcut, ReLU.
/// When the stride or the width changes, the shortcut is a 1×1 convolution with BN (option B).
/// </summary>
public sealed class BasicBlock : Module<Tensor, Tensor>
{
    private readonly Conv2d conv1;      // [B,in,H,W] → [B,out,H/s,W/s]
    private readonly BatchNorm2d bn1;
    private readonly Conv2d conv2;      // [B,out,H/s,W/s] → same
    private readonly BatchNorm2d bn2;
    private readonly Sequential? shortcut; // [B,in,H,W] → [B,out,H/s,W/s], null when identity

    /// <summary>Builds the block (convs without bias, each followed by BN).</summary>
    /// <param name="name">Module name (used in parameter names).</param>
    /// <param name="inChannels">Channels of the input.</param>
    /// <param name="outChannels">Channels of the output.</param>
    /// <param name="stride">Stride s of the first conv and the shortcut (2 halves H and W).</param>
    public BasicBlock(string name, int inChannels, int outChannels, int stride) : base(name)
    {
        conv1 = Conv2d(inChannels, outChannels, 3, stride: stride, padding: 1, bias: false);
        bn1 = BatchNorm2d(outChannels);
        conv2 = Conv2d(outChannels, outChannels, 3, stride: 1, padding: 1, bias: false);
        bn2 = BatchNorm2d(outChannels);
        if (stride != 1 || inChannels != outChannels)
            shortcut = Sequential(
                ("conv", Conv2d(inChannels, outChannels, 1, stride: stride, bias: false)),
                ("bn", BatchNorm2d(outChannels)));
        RegisterComponents();
    }

    /// <summary>[B,in,H,W] → [B,out,⌈H/s⌉,⌈W/s⌉], non-negative (ReLU after the sum).</summary>
    public override Tensor forward(Tensor x)
    {
        using var a = functional.relu(bn1.forward(conv1.forward(x)));
        using var b = bn2.forward(conv2.forward(a));
        using var s = shortcut is null ? x.alias() : shortcut.forward(x);
        using var sum = b.Plus(s);
        return functional.relu(sum);
    }
}

/// <summary>
/// ResNet-20 (thesis §3.6.3; He et al. 2016): a 3×3 stem conv-BN-ReLU with 16 channels, three stages
/// of 3 basic blocks with 16/32/64 channels (stride 2 at the start of stages 2 and 3), global
/// average pooling and a linear classifier. Works for any input size; for 1×28×28 Fashion-MNIST the
/// stage outputs are 28×28, 14×14 and 7×7.
/// </summary>
public sealed class ResNet20 : Module<Tensor, Tensor>
{
    private readonly Conv2d stem;      // [B,C,H,W] → [B,16,H,W]
    private readonly BatchNorm2d stemBn;
    private readonly Sequential stage1; // [B,16,H,W] → [B,16,H,W]
    private readonly Sequential stage2; // → [B,32,H/2,W/2]
    private readonly Sequential stage3; // → [B,64,H/4,W/4]
    private readonly Linear head;       // [B,64] → [B,classes]

    /// <summary>Builds the network; every conv gets Kaiming-normal weights (fan-out, ReLU gain).</summary>
    /// <param name="inChannels">Channels of the input images.</param>
    /// <param name="classes">Number of output scores.</param>
    /// <param name="blocksPerStage">Basic blocks per stage (3 gives ResNet-20: 6·3 + 2 weighted layers).</param>
    /// <param name="baseWidth">Channels of the stem and stage 1; stages 2 and 3 have 2× and 4× this.</param>
    public ResNet20(int inChannels, int classes, int blocksPerStage = 3, int baseWidth = 16) : base(nameof(ResNet20))
    {
        stem = Conv2d(inChannels, baseWidth, 3, padding: 1, bias: false);
        stemBn = BatchNorm2d(baseWidth);
        stage1 = Stage("stage1", baseWidth, baseWidth, 1, blocksPerStage);
        stage2 = Stage("stage2", baseWidth, 2 * baseWidth, 2, blocksPerStage);
        stage3 = Stage("stage3", 2 * baseWidth, 4 * baseWidth, 2, blocksPerStage);
        head = Linear(4 * baseWidth, classes);
        RegisterComponents();
        foreach (var (_, m) in named_modules())
        {
            if (m is Conv2d c) init.kaiming_normal_(c.weight, mode: init.FanInOut.FanOut, nonlinearity: init.NonlinearityType.ReLU);
        }
    }

    private static Sequential Stage(string name, int inC, int outC, int stride, int blocks)
    {
        var list = new List<(string, Module<Tensor, Tensor>)>();
        for (int i = 0; i < blocks; i++)
            list.Add(($"block{i}", new BasicBlock($"{name}.block{i}", i == 0 ? inC : outC, outC, i == 0 ? stride : 1)));
        return Sequential(list);
    }

    /// <param name="x">[B,C,H,W]</param>
    /// <returns>[B,classes] scores</returns>
    public override Tensor forward(Tensor x)
    {
        using var s = functional.relu(stemBn.forward(stem.forward(x))); // [B,16,H,W]
        using var a = stage1.forward(s);                                 // [B,16,H,W]
        using var b = stage2.forward(a);                                 // [B,32,H/2,W/2]
        using var c = stage3.forward(b);                                 // [B,64,H/4,W/4]
        using var p = c.mean(new long[] { 2, 3 });                       // [B,64] global average pool
        return head.forward(p);                                          // [B,classes]
    }
}

/// <summary>Factories for the UniLoss experiment networks.</summary>
public static class UniLossModels
{
    /// <summary>MLP 784-500-300-outputs (thesis §3.6.1).</summary>
    public static Mlp Mlp(int outputs = 2, int inputs = 784) => new(inputs, 500, 300, outputs);

    /// <summary>ResNet-20 for [B,inChannels,H,W] images (thesis §3.6.3).</summary>
    public static ResNet20 ResNet20(int inChannels = 1, int classes = 10) => new(inChannels, classes);

    /// <summary>A small CNN for cheap ablations: conv3×3×16-ReLU-maxpool2 → conv3×3×32-ReLU-maxpool2 → linear.</summary>
    public static SmallCnn SmallCnn(int inChannels = 1, int classes = 10, int size = 28) => new(inChannels, classes, size);
}

/// <summary>A small CNN used for the cheap ablations on 28×28 images.</summary>
public sealed class SmallCnn : Module<Tensor, Tensor>
{
    private readonly Conv2d conv1; // [B,C,28,28] → [B,16,28,28] (pool → 14×14)
    private readonly Conv2d conv2; // [B,16,14,14] → [B,32,14,14] (pool → 7×7)
    private readonly Linear head;  // [B,32*7*7] → [B,classes]

    /// <summary>Builds the network for square images of side <paramref name="size"/>.</summary>
    /// <param name="inChannels">Channels of the input images.</param>
    /// <param name="classes">Number of output scores.</param>
    /// <param name="size">Side of the input images in pixels (the linear head reads 32·⌊size/4⌋² features).</param>
    public SmallCnn(int inChannels, int classes, int size) : base(nameof(SmallCnn))
    {
        conv1 = Conv2d(inChannels, 16, 3, padding: 1);
        conv2 = Conv2d(16, 32, 3, padding: 1);
        head = Linear(32 * (size / 4) * (size / 4), classes);
        RegisterComponents();
    }

    /// <summary>[B,inChannels,size,size] → [B,classes] scores.</summary>
    public override Tensor forward(Tensor x)
    {
        using var a = functional.max_pool2d(functional.relu(conv1.forward(x)), 2); // [B,16,H/2,W/2]
        using var b = functional.max_pool2d(functional.relu(conv2.forward(a)), 2); // [B,32,H/4,W/4]
        using var f = b.flatten(1);                                                  // [B,32*H/4*W/4]
        return head.forward(f);                                                      // [B,classes]
    }
}
