namespace AutoDesign.Runs

open System
open System.IO
open System.IO.Compression
open TorchSharp
open AutoDesign.Runs

/// Minimal 8-bit greyscale PNG writer (signature, IHDR, one zlib IDAT, IEND) for sample grids.
module Png =
    let private crcTable =
        Array.init 256 (fun n ->
            let mutable c = uint32 n
            for _ in 0 .. 7 do c <- if c &&& 1u <> 0u then 0xEDB88320u ^^^ (c >>> 1) else c >>> 1
            c)

    let private crc (bytes: byte[]) =
        let mutable c = 0xFFFFFFFFu
        for b in bytes do c <- crcTable.[int ((c ^^^ uint32 b) &&& 0xFFu)] ^^^ (c >>> 8)
        c ^^^ 0xFFFFFFFFu

    let private be (v: uint32) = [| byte (v >>> 24); byte (v >>> 16); byte (v >>> 8); byte v |]

    /// Encode rows of grey bytes (width×height) as a PNG file's bytes.
    let encodeGrey (width: int) (height: int) (pixels: byte[]) =
        use raw = new MemoryStream()
        for y in 0 .. height - 1 do
            raw.WriteByte 0uy
            raw.Write(pixels, y * width, width)
        use z = new MemoryStream()
        (use zs = new ZLibStream(z, CompressionLevel.Optimal, true) in zs.Write(raw.ToArray(), 0, int raw.Length))
        use out = new MemoryStream()
        out.Write([| 137uy; 80uy; 78uy; 71uy; 13uy; 10uy; 26uy; 10uy |], 0, 8)
        let chunk (kind: string) (data: byte[]) =
            out.Write(be (uint32 data.Length), 0, 4)
            let body = Array.append (Text.Encoding.ASCII.GetBytes kind) data
            out.Write(body, 0, body.Length)
            out.Write(be (crc body), 0, 4)
        chunk "IHDR" (Array.concat [ be (uint32 width); be (uint32 height); [| 8uy; 0uy; 0uy; 0uy; 0uy |] ])
        chunk "IDAT" (z.ToArray())
        chunk "IEND" [||]
        out.ToArray()

    /// Save images [N,1,H,W] in [-1,1] as a grid with `columns` columns and a 1-pixel grey border.
    let saveGrid (path: string) (images: torch.Tensor) (columns: int) =
        use cpu = images.detach().cpu().contiguous()
        let n, h, w = int cpu.shape.[0], int cpu.shape.[2], int cpu.shape.[3]
        let data = cpu.data<float32>().ToArray()
        let rows = (n + columns - 1) / columns
        let gw, gh = columns * (w + 1) + 1, rows * (h + 1) + 1
        let px = Array.create (gw * gh) 128uy
        for i in 0 .. n - 1 do
            let ox, oy = 1 + (i % columns) * (w + 1), 1 + (i / columns) * (h + 1)
            for y in 0 .. h - 1 do
                for x in 0 .. w - 1 do
                    let v = data.[i * h * w + y * w + x]
                    px.[(oy + y) * gw + ox + x] <- byte (Math.Clamp(Math.Round(float (v + 1.0f) * 127.5), 0.0, 255.0))
        Atomic.writeAllBytes path (encodeGrey gw gh px)

    /// Save images [N,1,H,W] in [-1,1] as one grey PNG per image (00000.png, 00001.png, ...) in `dir`.
    let saveEach (dir: string) (images: torch.Tensor) =
        Directory.CreateDirectory dir |> ignore
        use cpu = images.detach().cpu().contiguous()
        let n, h, w = int cpu.shape.[0], int cpu.shape.[2], int cpu.shape.[3]
        let data = cpu.data<float32>().ToArray()
        for i in 0 .. n - 1 do
            let px = Array.init (h * w) (fun k -> byte (Math.Clamp(Math.Round(float (data.[i * h * w + k] + 1.0f) * 127.5), 0.0, 255.0)))
            Atomic.writeAllBytes (Path.Combine(dir, sprintf "%05d.png" i)) (encodeGrey w h px)
