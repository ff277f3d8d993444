/// Image files (SkiaSharp), input limits (SafeFiles, IDX) and charts (ScottPlot).
module AutoDesign.Tests.ImagesTests

open System
open System.Diagnostics
open System.IO
open System.IO.Compression
open Expecto
open TorchSharp
open AutoDesign.Runs
open AutoDesign.Plots
open AutoDesign.Data

let private tempDir () = TempDir.fresh "images"

/// A PNG written independently of any library: IHDR with the given size, the given scanlines (row r uses
/// filter type r mod 5, with the spec's predictors), split over two IDAT chunks, bitwise CRC-32.
let craftPng (w: int) (h: int) (samples: int) (colour: byte) (img: byte[]) =
    let crc (data: byte[]) =
        let mutable c = 0xFFFFFFFFu

        for x in data do
            c <- c ^^^ uint x

            for _ in 1..8 do
                c <- if c &&& 1u <> 0u then 0xEDB88320u ^^^ (c >>> 1) else c >>> 1

        c ^^^ 0xFFFFFFFFu

    let stride = w * samples
    let at y x = if y < 0 || x < 0 then 0 else int img.[y * stride + x]
    use raw = new MemoryStream()

    if img.Length > 0 then
        for y in 0 .. h - 1 do
            let f = y % 5
            raw.WriteByte(byte f)

            for x in 0 .. stride - 1 do
                let a, b, c = at y (x - samples), at (y - 1) x, at (y - 1) (x - samples)

                let pred =
                    match f with
                    | 0 -> 0
                    | 1 -> a
                    | 2 -> b
                    | 3 -> (a + b) / 2
                    | _ ->
                        let p = a + b - c
                        let pa, pb, pc = abs (p - a), abs (p - b), abs (p - c)

                        if pa <= pb && pa <= pc then a
                        elif pb <= pc then b
                        else c

                raw.WriteByte(byte ((int img.[y * stride + x] - pred + 256) % 256))

    use z = new MemoryStream()
    (use zs = new ZLibStream(z, CompressionLevel.Fastest, true) in zs.Write(raw.ToArray(), 0, int raw.Length))
    let data = z.ToArray()
    use out = new MemoryStream()
    out.Write([| 137uy; 80uy; 78uy; 71uy; 13uy; 10uy; 26uy; 10uy |], 0, 8)
    let be (v: int) = [| byte (v >>> 24); byte (v >>> 16); byte (v >>> 8); byte v |]

    let chunk (kind: string) (d: byte[]) =
        out.Write(be d.Length, 0, 4)
        let body = Array.append (Text.Encoding.ASCII.GetBytes kind) d
        out.Write(body, 0, body.Length)
        out.Write(be (int (crc body)), 0, 4)

    chunk "IHDR" (Array.concat [ be w; be h; [| 8uy; colour; 0uy; 0uy; 0uy |] ])
    let half = data.Length / 2
    chunk "IDAT" data.[.. half - 1]
    chunk "IDAT" data.[half..]
    chunk "IEND" [||]
    out.ToArray()

let private errorOf (f: unit -> unit) =
    try
        f ()
        ""
    with UserError m ->
        m

/// A gzipped file: `header`, then `megabytes` MB of zeros.
let private gzipZeros (path: string) (header: byte[]) (megabytes: int) =
    use fs = File.Create path
    use gz = new GZipStream(fs, CompressionLevel.SmallestSize)
    gz.Write(header, 0, header.Length)
    let zeros = Array.zeroCreate<byte>(1 <<< 20)

    for _ in 1..megabytes do
        gz.Write(zeros, 0, zeros.Length)

[<Tests>]
let tests =
    testList
        "foundation.images"
        [ test "PNG decoding: independently written grey, RGB and RGBA files (all five row filters) decode exactly" {
              let rng = Random 5
              let grey = Array.init (9 * 10) (fun _ -> byte (rng.Next 256))
              let d = Images.decode "grey" (craftPng 9 10 1 0uy grey)
              Expect.equal (d.Width, d.Height, d.Channels) (9, 10, 1) "grey header"
              Expect.equal d.Pixels grey "grey pixels"
              let rgb = Array.init (7 * 5 * 3) (fun _ -> byte (rng.Next 256))
              let c = Images.decode "rgb" (craftPng 7 5 3 2uy rgb)
              Expect.equal (c.Channels, c.Pixels) (3, rgb) "rgb"
              let rgba = Array.init (6 * 10 * 4) (fun i -> if i % 4 = 3 then 255uy else byte (rng.Next 256))
              let a = Images.decode "rgba" (craftPng 6 10 4 6uy rgba)
              Expect.equal a.Channels 3 "alpha dropped"
              Expect.equal a.Pixels (Array.init (6 * 10 * 3) (fun i -> rgba.[(i / 3) * 4 + i % 3])) "RGB of RGBA"
          }
          test "PNG encoding round-trips grey and RGB exactly" {
              let grey = Array.init (7 * 5) (fun i -> byte (i * 37 % 256))
              Expect.equal (Images.decode "g" (Images.encodePng 7 5 1 grey)).Pixels grey "grey"
              let rgb = Array.init (4 * 3 * 3) (fun i -> byte (i * 53 % 256))
              let c = Images.decode "c" (Images.encodePng 4 3 3 rgb)
              Expect.equal (c.Width, c.Height, c.Channels, c.Pixels) (4, 3, 3, rgb) "rgb"
          }
          test "hostile and broken images are one UserError each, refused before their pixels are allocated" {
              let huge = craftPng 65536 65537 1 0uy [||] // header only: 4.3 billion pixels claimed
              Expect.stringContains (errorOf (fun () -> Images.decode "huge.png" huge |> ignore)) "65536x65537" "claimed size named"
              // a valid, tiny file that decodes to 20000x20000: refused by the size limit, not after decoding
              let saved = Images.MaxDecodedBytes

              try
                  Images.MaxDecodedBytes <- 64L * 1024L * 1024L
                  let big = craftPng 5000 5000 1 0uy (Array.zeroCreate (5000 * 5000))
                  let before = Process.GetCurrentProcess().PeakWorkingSet64
                  Expect.stringContains (errorOf (fun () -> Images.decode "big.png" big |> ignore)) "more than the decoding limit" "limit"
                  let grew = Process.GetCurrentProcess().PeakWorkingSet64 - before
                  Expect.isLessThan grew (50L * 1024L * 1024L) "no pixel buffer was allocated"
              finally
                  Images.MaxDecodedBytes <- saved

              let good = Images.encodePng 30 30 1 (Array.init 900 (fun i -> byte i))
              Expect.stringContains (errorOf (fun () -> Images.decode "t.png" good.[.. good.Length / 2] |> ignore)) "t.png" "truncated"
              Expect.stringContains (errorOf (fun () -> Images.decode "x.png" [| 1uy; 2uy; 3uy |] |> ignore)) "x.png" "not an image"
          }
          test "input files: FIFOs, directories, missing files and symlink loops are refused with a clear error" {
              let d = tempDir ()
              let fifo = Path.Combine(d, "pipe")
              use p = Process.Start("mkfifo", [ fifo ])
              p.WaitForExit()
              Expect.stringContains (errorOf (fun () -> SafeFiles.checkRegular fifo)) "FIFO" "FIFO"
              Expect.stringContains (errorOf (fun () -> Idx.read fifo |> ignore)) "FIFO" "IDX on a FIFO does not hang"
              Expect.stringContains (errorOf (fun () -> SafeFiles.checkRegular d)) "directory" "directory"
              Expect.stringContains (errorOf (fun () -> SafeFiles.checkRegular (Path.Combine(d, "nope")))) "no such file" "missing"
              let a, b = Path.Combine(d, "a"), Path.Combine(d, "b")
              File.CreateSymbolicLink(a, b) |> ignore
              File.CreateSymbolicLink(b, a) |> ignore
              Expect.stringContains (errorOf (fun () -> Images.load a |> ignore)) "link" "symlink loop"
          }
          test "a gzip bomb and an IDX header declaring too much are refused with bounded memory" {
              let d = tempDir ()
              // a limit of its own (the global Idx.MaxBytes stays as it is for tests running beside this one)
              let limit = 16L * 1024L * 1024L
              // a valid IDX header for 1000x1000x200 bytes (200 MB of zeros) gzipped to a few hundred KB
              let bomb = Path.Combine(d, "bomb.idx.gz")
              gzipZeros bomb [| 0uy; 0uy; 8uy; 3uy; 0uy; 0uy; 3uy; 232uy; 0uy; 0uy; 3uy; 232uy; 0uy; 0uy; 0uy; 200uy |] 200
              let before = Process.GetCurrentProcess().PeakWorkingSet64
              Expect.stringContains (errorOf (fun () -> Idx.readWithin limit bomb |> ignore)) "more than the limit" "declared size refused"
              // the same bytes under another, lying header: decompression stops at the limit
              let liar = Path.Combine(d, "liar.idx.gz")
              gzipZeros liar [| 0uy; 0uy; 8uy; 1uy; 0uy; 0uy; 0uy; 10uy |] 200
              Expect.stringContains (errorOf (fun () -> Idx.readWithin limit liar |> ignore)) "liar.idx.gz" "decoding stops early"
              let grew = Process.GetCurrentProcess().PeakWorkingSet64 - before
              Expect.isLessThan grew (120L * 1024L * 1024L) "memory stays bounded"
          }
          test "charts are PNG (or SVG) files with title, Unicode labels, error bars and log axes" {
              let d = tempDir ()
              let png = Path.Combine(d, "c.png")

              Plot.chart
                  png
                  "D²NN λ sweep (σ²)"
                  "cost"
                  "F1"
                  Log10
                  Linear
                  [ { Plot.series "D²NN" [| 0.01, 0.7; 0.1, 0.75; 1.0, 0.8 |] with Errors = [| 0.01; 0.02; 0.01 |] }
                    { Plot.series "static" [| 1.0, 0.78 |] with Lines = false } ]

              let img = Images.load png
              Expect.equal (img.Width, img.Height) (900, 560) "size"
              Expect.isGreaterThan (img.Pixels |> Array.distinct |> Array.length) 20 "something is drawn"
              let svg = Path.Combine(d, "c.svg")
              Plot.lines svg "loss of λ" "epoch" "loss" [ "train", [| 1.0, 2.0; 2.0, 1.0 |] ]
              let text = File.ReadAllText svg
              Expect.stringContains text "<svg" "SVG"
              Expect.stringContains text "loss of λ" "Unicode title kept as text"
              Expect.stringContains (errorOf (fun () -> Plot.lines (Path.Combine(d, "e.png")) "empty" "x" "y" [])) "no series" "empty chart"
          }
          test "an image grid is one PNG with the grid's size and the images' pixel values" {
              let d = tempDir ()
              let path = Path.Combine(d, "grid.png")
              use x = torch.linspace(0.0, 1.0, 2L * 4L * 4L).reshape(2L, 1L, 4L, 4L)
              ImageGrid.save path x 2
              let img = Images.load path
              // 2 columns, 1 row, 4x4 images drawn 3x, 2-pixel gaps
              Expect.equal (img.Width, img.Height) (2 + 2 * (12 + 2), 2 + (12 + 2)) "grid size"
              Expect.equal img.Pixels.[3 * (2 * img.Width + 2)] 0uy "first pixel of the first image is 0"
              Expect.equal img.Pixels.[3 * ((2 + 11) * img.Width + 2 + 14 + 11)] 255uy "last pixel of the second image is 1"
          } ]
