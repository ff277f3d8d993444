namespace AutoDesign.Runs

open TorchSharp
open AutoDesign.Nn
open AutoDesign.Runs
open AutoDesign.Nn.Plotting

/// Save a batch of images [N,C,H,W] (C = 1 or 3, values 0..1) as one PNG grid.
module ImageGrid =
    let save (path: string) (images: torch.Tensor) (columns: int) =
        if images.dim () <> 4L then Errors.fail "ImageGrid.save expects [N,C,H,W], got %d dimensions" (images.dim ())
        let n, ch, h, w = int images.shape.[0], int images.shape.[1], int images.shape.[2], int images.shape.[3]
        if ch <> 1 && ch <> 3 then Errors.fail "ImageGrid.save expects 1 or 3 channels, got %d" ch
        if n = 0 then Errors.fail "ImageGrid.save got no images"
        let cols = max 1 (min columns n)
        let rows = (n + cols - 1) / cols
        let scale = if h <= 32 && w <= 32 then 3 else 1
        let pad = 2
        use cpu = images.detach().``to``(torch.CPU).``to``(torch.float32).Clamp(0.0, 1.0).contiguous()
        let data : float32[] = cpu.data<float32>().ToArray()
        let cw, chh = pad + cols * (w * scale + pad), pad + rows * (h * scale + pad)
        let c = Canvas(cw, chh, 0x808080u)
        for i in 0 .. n - 1 do
            let ox, oy = pad + (i % cols) * (w * scale + pad), pad + (i / cols) * (h * scale + pad)
            for y in 0 .. h - 1 do
                for x in 0 .. w - 1 do
                    let v k = byte (round (255.0f * data.[((i * ch + k) * h + y) * w + x]))
                    let r, g, b = if ch = 1 then v 0, v 0, v 0 else v 0, v 1, v 2
                    let rgb = (uint r <<< 16) ||| (uint g <<< 8) ||| uint b
                    c.FillRect(ox + x * scale, oy + y * scale, scale, scale, rgb)
        Atomic.writeAllBytes path (c.ToPng())
