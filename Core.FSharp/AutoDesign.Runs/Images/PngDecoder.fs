namespace AutoDesign.Runs

open System
open System.IO
open System.IO.Compression
open AutoDesign.Runs

/// A decoded 8-bit image: `Channels` = 1 (grey) or 3 (RGB; alpha dropped), pixels row-major, interleaved.
type DecodedImage = { Width: int; Height: int; Channels: int; Pixels: byte[] }

/// Decoder for the PNGs this repo (and most tools) write: bit depth 8, colour types 0/2/4/6 (grey, RGB,
/// grey+alpha, RGBA), no interlace, all five row filters, IDAT chunks concatenated and inflated with zlib.
/// Anything else raises one UserError naming the file and the problem.
module PngDecoder =
    let private signature = [| 137uy; 80uy; 78uy; 71uy; 13uy; 10uy; 26uy; 10uy |]
    let private be (b: byte[]) (o: int) = (int b.[o] <<< 24) ||| (int b.[o + 1] <<< 16) ||| (int b.[o + 2] <<< 8) ||| int b.[o + 3]

    let private paeth (a: int) (b: int) (c: int) =
        let p = a + b - c
        let pa, pb, pc = abs (p - a), abs (p - b), abs (p - c)
        if pa <= pb && pa <= pc then a elif pb <= pc then b else c

    /// Decode PNG file bytes; `name` is used in error messages.
    let decode (name: string) (bytes: byte[]) : DecodedImage =
        let bad fmt = Printf.kprintf (fun m -> Errors.fail "%s is not a readable PNG: %s" name m) fmt
        if bytes.Length < 8 || bytes.[0..7] <> signature then bad "missing PNG signature"
        let mutable o = 8
        let mutable header = None
        let idat = new MemoryStream()
        let mutable ended = false
        while not ended do
            if o + 12 > bytes.Length then bad "truncated chunk at byte %d" o
            let len = be bytes o
            if len < 0 || o + 12 + len > bytes.Length then bad "chunk at byte %d runs past the end of the file" o
            let kind = Text.Encoding.ASCII.GetString(bytes, o + 4, 4)
            let crc = uint32 (be bytes (o + 8 + len))
            if AutoDesign.Nn.Plotting.Png.Crc32(ReadOnlySpan(bytes, o + 4, 4 + len)) ^^^ 0xFFFFFFFFu <> crc then bad "CRC mismatch in %s chunk" kind
            match kind with
            | "IHDR" ->
                if len <> 13 then bad "IHDR of %d bytes" len
                header <- Some(be bytes (o + 8), be bytes (o + 12), bytes.[o + 16], bytes.[o + 17], bytes.[o + 20])
            | "IDAT" -> idat.Write(bytes, o + 8, len)
            | "IEND" -> ended <- true
            | _ -> ()
            o <- o + 12 + len
        let w, h, depth, colour, interlace = match header with Some x -> x | None -> bad "no IHDR chunk"
        if w <= 0 || h <= 0 then bad "size %dx%d" w h
        if depth <> 8uy then bad "bit depth %d (only 8 is supported)" depth
        if interlace <> 0uy then bad "interlaced PNGs are not supported"
        let samples =
            match colour with
            | 0uy -> 1 | 2uy -> 3 | 4uy -> 2 | 6uy -> 4
            | c -> bad "colour type %d (only grey, RGB, grey+alpha, RGBA are supported)" c
        let stride = w * samples
        let raw =
            try
                use z = new ZLibStream(new MemoryStream(idat.ToArray()), CompressionMode.Decompress)
                use ms = new MemoryStream()
                z.CopyTo ms
                ms.ToArray()
            with e -> bad "image data does not inflate (%s)" e.Message
        if raw.Length < h * (stride + 1) then bad "image data has %d bytes, %d expected" raw.Length (h * (stride + 1))
        let img = Array.zeroCreate<byte> (h * stride)
        for y in 0 .. h - 1 do
            let f = raw.[y * (stride + 1)]
            let src = y * (stride + 1) + 1
            for x in 0 .. stride - 1 do
                let a = if x >= samples then int img.[y * stride + x - samples] else 0
                let b = if y > 0 then int img.[(y - 1) * stride + x] else 0
                let c = if y > 0 && x >= samples then int img.[(y - 1) * stride + x - samples] else 0
                let pred =
                    match f with
                    | 0uy -> 0 | 1uy -> a | 2uy -> b | 3uy -> (a + b) / 2 | 4uy -> paeth a b c
                    | f -> bad "row %d has filter type %d" y f
                img.[y * stride + x] <- byte ((int raw.[src + x] + pred) &&& 0xFF)
        let channels = if samples <= 2 then 1 else 3
        let px =
            if samples = channels then img
            else Array.init (w * h * channels) (fun i -> img.[(i / channels) * samples + i % channels])
        { Width = w; Height = h; Channels = channels; Pixels = px }

    let load (path: string) =
        let bytes = try File.ReadAllBytes path with e -> Errors.fail "cannot read %s: %s" path e.Message
        decode path bytes
