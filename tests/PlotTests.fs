module AutoDesign.Tests.PlotTests

open System
open System.IO
open System.IO.Compression
open Expecto
open TorchSharp
open AutoDesign.Runs
open AutoDesign.Nn.Plotting

let be32 (b: byte[]) i = (int b.[i] <<< 24) ||| (int b.[i + 1] <<< 16) ||| (int b.[i + 2] <<< 8) ||| int b.[i + 3]

/// Parse a PNG: check signature and every chunk CRC (reference bitwise CRC), return (w, h, raw scanlines).
let readPng (path: string) =
    let b = File.ReadAllBytes path
    Expect.equal b.[0..7] [| 0x89uy; 0x50uy; 0x4Euy; 0x47uy; 0x0Duy; 0x0Auy; 0x1Auy; 0x0Auy |] "PNG signature"
    let crcRef (data: byte[]) =
        let mutable c = 0xFFFFFFFFu
        for x in data do
            c <- c ^^^ uint x
            for _ in 1..8 do c <- if c &&& 1u <> 0u then 0xEDB88320u ^^^ (c >>> 1) else c >>> 1
        c ^^^ 0xFFFFFFFFu
    let mutable pos = 8
    let mutable w, h = 0, 0
    let idat = new MemoryStream()
    let mutable types = []
    while pos < b.Length do
        let len = be32 b pos
        let typ = Text.Encoding.ASCII.GetString(b, pos + 4, 4)
        let body = b.[pos + 4 .. pos + 7 + len]
        Expect.equal (uint (be32 b (pos + 8 + len))) (crcRef body) (sprintf "CRC of %s" typ)
        if typ = "IHDR" then
            w <- be32 b (pos + 8); h <- be32 b (pos + 12)
            Expect.equal b.[pos + 16] 8uy "bit depth"
        if typ = "IDAT" then idat.Write(b, pos + 8, len)
        types <- types @ [ typ ]
        pos <- pos + 12 + len
    Expect.equal (List.head types) "IHDR" "IHDR first"
    Expect.equal (List.last types) "IEND" "IEND last"
    idat.Position <- 0L
    use z = new ZLibStream(idat, CompressionMode.Decompress)
    use raw = new MemoryStream()
    z.CopyTo raw
    w, h, raw.ToArray()

[<Tests>]
let tests =
    testList "foundation.plots" [
        test "CRC-32 matches the standard check value" {
            Expect.equal (Png.Crc32(Text.Encoding.ASCII.GetBytes "123456789") ^^^ 0xFFFFFFFFu) 0xCBF43926u "check value"
        }
        test "line and scatter plots are valid PNGs with the expected size and drawn content" {
            let d = Path.Combine(Path.GetTempPath(), "autodesign-tests", Guid.NewGuid().ToString("N"))
            let series = [ "sin", Array.init 50 (fun i -> float i, sin (float i / 5.0)); "cos", Array.init 50 (fun i -> float i, cos (float i / 5.0)) ]
            for kind, draw in [ "lines", Plot.lines; "scatter", Plot.scatter ] do
                let p = Path.Combine(d, kind + ".png")
                draw p "Waves" "step" "value" series
                let w, h, raw = readPng p
                Expect.equal (w, h) (900, 560) "IHDR size"
                Expect.equal raw.Length (h * (1 + 3 * w)) "scanline bytes"
                // the first series colour (0x1F77B4) appears somewhere
                let hasBlue = Seq.exists (fun i -> raw.[i] = 0x1Fuy && raw.[i + 1] = 0x77uy && raw.[i + 2] = 0xB4uy) (seq { 0 .. raw.Length - 3 })
                Expect.isTrue hasBlue (kind + ": series drawn")
            Expect.throwsT<UserError> (fun () -> Plot.lines (Path.Combine(d, "x.png")) "t" "x" "y" []) "no series"
        }
        test "nice ticks cover the range with 1/2/5 steps" {
            Expect.equal (Plot.niceTicks 0.0 1.0 5) [ 0.0; 0.2; 0.4; 0.6000000000000001; 0.8; 1.0 ] "0..1"
            let t = Plot.niceTicks -3.7 12.2 6
            Expect.isTrue (List.forall (fun v -> v >= -3.7 && v <= 12.2) t) "inside"
            Expect.equal (t.[1] - t.[0]) 5.0 "step 5"
        }
        test "image grid writes one PNG with the grid size and pixel values" {
            let p = Path.Combine(Path.GetTempPath(), "autodesign-tests", Guid.NewGuid().ToString("N"), "grid.png")
            use imgs = torch.zeros(5L, 1L, 4L, 6L)
            imgs.[0L, 0L, 0L, 0L] <- torch.tensor 1.0f
            ImageGrid.save p imgs 3
            let w, h, raw = readPng p
            // scale 3, padding 2: width 2 + 3*(18+2), height 2 + 2*(12+2)
            Expect.equal (w, h) (62, 30) "grid size"
            let px x y = raw.[y * (1 + 3 * w) + 1 + 3 * x]
            Expect.equal (px 2 2) 255uy "white pixel of image 0"
            Expect.equal (px 5 2) 0uy "black pixel"
            Expect.equal (px 0 0) 128uy "grey padding"
        }
    ]
