namespace AutoDesign.Plots

open AutoDesign.Runs

open System.IO
open TorchSharp
open AutoDesign.Nn

/// Image grids and image sets as PNG files.
module ImageGrid =
    /// Save a batch of images [N,C,H,W] (C = 1 or 3, values 0..1) as one PNG grid with `columns` columns on
    /// a grey background; images of at most 32×32 pixels are drawn 3× larger.
    [<CompiledName("Save")>]
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
        let data: float32[] = cpu.data<float32>().ToArray()
        let cw, chh = pad + cols * (w * scale + pad), pad + rows * (h * scale + pad)
        let px = Array.create (cw * chh * 3) 128uy

        for i in 0 .. n - 1 do
            let ox, oy = pad + (i % cols) * (w * scale + pad), pad + (i / cols) * (h * scale + pad)

            for y in 0 .. h - 1 do
                for x in 0 .. w - 1 do
                    let v k = byte (round (255.0f * data.[((i * ch + k) * h + y) * w + x]))
                    let r, g, b = if ch = 1 then v 0, v 0, v 0 else v 0, v 1, v 2

                    for dy in 0 .. scale - 1 do
                        for dx in 0 .. scale - 1 do
                            let o = 3 * ((oy + y * scale + dy) * cw + ox + x * scale + dx)
                            px.[o] <- r
                            px.[o + 1] <- g
                            px.[o + 2] <- b

        Images.savePng path cw chh 3 px

    /// Save each image of [N,1,H,W] in [-1,1] as a grey PNG (00000.png, 00001.png, ...) in `dir`.
    [<CompiledName("SaveEach")>]
    let saveEach (dir: string) (images: torch.Tensor) =
        Directory.CreateDirectory dir |> ignore
        use cpu = images.detach().cpu().``to``(torch.float32).contiguous()
        let n, h, w = int cpu.shape.[0], int cpu.shape.[2], int cpu.shape.[3]
        let data = cpu.data<float32>().ToArray()

        for i in 0 .. n - 1 do
            let px =
                Array.init (h * w) (fun k -> byte (System.Math.Round(float (max -1.0f (min 1.0f data.[i * h * w + k]) + 1.0f) * 127.5)))

            Images.savePng (Path.Combine(dir, sprintf "%05d.png" i)) w h 1 px
