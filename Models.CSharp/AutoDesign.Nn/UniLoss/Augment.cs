namespace AutoDesign.Nn.UniLoss;

/// <summary>
/// Training-time augmentation as tensor ops (thesis §3.6.3: random crop with padding + random
/// horizontal flip). Deterministic for a given generator seed; runs on the images' device.
/// </summary>
public static class Augment
{
    /// <summary>
    /// Zero-pad each image by <paramref name="pad"/> pixels, take a random H×W crop per image and flip
    /// it horizontally with probability 1/2. Input and output [B,C,H,W].
    /// </summary>
    public static Tensor CropFlip(Tensor images, int pad, long seed)
    {
        if (images.dim() != 4) throw new ArgumentException($"CropFlip expects [B,C,H,W], got {images.dim()} dims");
        var (b, h, w) = (images.shape[0], images.shape[2], images.shape[3]);
        using var scope = NewDisposeScope();
        using var gen = new Generator((ulong)seed, device: CPU);
        var dev = images.device;
        // Per-image offsets in 0..2*pad and flip bits, drawn from the seeded generator (on CPU for reproducibility).
        var dy = randint(0, 2 * pad + 1, new long[] { b }, generator: gen, dtype: int64).to(dev);
        var dx = randint(0, 2 * pad + 1, new long[] { b }, generator: gen, dtype: int64).to(dev);
        var flip = randint(0, 2, new long[] { b }, generator: gen, dtype: int64).to(dev);
        var padded = nn.functional.pad(images, new long[] { pad, pad, pad, pad }); // [B,C,H+2p,W+2p]
        // Gather rows then columns with per-image index grids.
        var rows = dy.view(b, 1).Plus(ScalarOps.Arange(h, int64, dev).view(1, h));             // [B,H]
        var colBase = ScalarOps.Arange(w, int64, dev).view(1, w);                                   // [1,W]
        var colsFlipped = colBase.RSub(w - 1);                                                        // [1,W]
        var cols = dx.view(b, 1).Plus(where(flip.view(b, 1).Eq(1), colsFlipped, colBase));              // [B,W]
        var c = images.shape[1];
        var rowIdx = rows.view(b, 1, h, 1).expand(b, c, h, padded.shape[3]);                          // [B,C,H,W+2p]
        var byRows = padded.gather(2, rowIdx);                                                       // [B,C,H,W+2p]
        var colIdx = cols.view(b, 1, 1, w).expand(b, c, h, w);                                       // [B,C,H,W]
        var result = byRows.gather(3, colIdx);                                                       // [B,C,H,W]
        return result.MoveToOuterDisposeScope();
    }
}
