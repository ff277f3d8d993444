namespace AutoDesign.Plots

open AutoDesign.Runs

open System
open System.IO
open System.Runtime.InteropServices
open SkiaSharp

/// A decoded image: 1 channel (grey) or 3 (RGB), 8 bits per channel, row-major, channels interleaved.
type DecodedImage = { Width: int; Height: int; Channels: int; Pixels: byte[] }

/// Image files through SkiaSharp: PNG/JPEG/... decoding with the size checked against a limit before any
/// pixel memory is allocated, and PNG encoding.
module Images =
    /// Largest decoded image, bytes (width × height × 4); default 1 GiB.
    let mutable MaxDecodedBytes = SafeFiles.DefaultMaxBytes

    /// Width and height an image file declares, from its header (no pixel is decoded).
    let internal declaredSize (path: string) : int * int =
        SafeFiles.checkRegular path

        use fs =
            try
                File.OpenRead path
            with
            | :? IOException
            | :? UnauthorizedAccessException as e -> Errors.fail "%s: cannot read (%s)" path e.Message

        use codec = SKCodec.Create fs
        if isNull codec then Errors.fail "%s is not an image SkiaSharp can decode" path
        codec.Info.Width, codec.Info.Height

    /// Decode image file bytes; `name` appears in error messages.
    [<CompiledName("Decode")>]
    let decode (name: string) (bytes: byte[]) : DecodedImage =
        use data = SKData.CreateCopy bytes
        use codec = SKCodec.Create data
        if isNull codec then Errors.fail "%s is not an image SkiaSharp can decode" name
        let info = codec.Info
        let w, h = info.Width, info.Height
        if w <= 0 || h <= 0 then Errors.fail "%s declares an empty image (%dx%d)" name w h

        if int64 w * int64 h * 4L > MaxDecodedBytes then
            Errors.fail "%s declares %dx%d pixels, more than the decoding limit of %d bytes" name w h MaxDecodedBytes

        let grey = info.ColorType = SKColorType.Gray8
        let target = SKImageInfo(w, h, (if grey then SKColorType.Gray8 else SKColorType.Rgba8888), SKAlphaType.Unpremul)
        use bmp = new SKBitmap(target)

        match codec.GetPixels(target, bmp.GetPixels()) with
        | SKCodecResult.Success -> ()
        | SKCodecResult.IncompleteInput -> Errors.fail "%s is truncated" name
        | r -> Errors.fail "%s could not be decoded (%A)" name r

        let src = bmp.Bytes
        let stride = bmp.RowBytes

        if grey then
            let px = Array.zeroCreate<byte>(w * h)

            for y in 0 .. h - 1 do
                Array.blit src (y * stride) px (y * w) w

            { Width = w; Height = h; Channels = 1; Pixels = px }
        else
            let px = Array.zeroCreate<byte>(w * h * 3)

            for y in 0 .. h - 1 do
                for x in 0 .. w - 1 do
                    let s, d = y * stride + 4 * x, 3 * (y * w + x)
                    px.[d] <- src.[s]
                    px.[d + 1] <- src.[s + 1]
                    px.[d + 2] <- src.[s + 2]

            { Width = w; Height = h; Channels = 3; Pixels = px }

    /// Read and decode an image file (a regular file of at most MaxDecodedBytes).
    [<CompiledName("Load")>]
    let load (path: string) : DecodedImage = decode path (SafeFiles.readAll MaxDecodedBytes MaxDecodedBytes path)

    /// Encode 8-bit grey (1 channel) or RGB (3 channels) pixels as PNG bytes.
    [<CompiledName("EncodePng")>]
    let encodePng (width: int) (height: int) (channels: int) (pixels: byte[]) : byte[] =
        if channels <> 1 && channels <> 3 then invalidArg "channels" "1 (grey) or 3 (RGB)"

        if pixels.Length <> width * height * channels then
            invalidArg "pixels" (sprintf "%dx%dx%d needs %d bytes, got %d" width height channels (width * height * channels) pixels.Length)

        let info =
            SKImageInfo(width, height, (if channels = 1 then SKColorType.Gray8 else SKColorType.Rgba8888), SKAlphaType.Opaque)

        use bmp = new SKBitmap(info)
        let stride = bmp.RowBytes
        let row = Array.zeroCreate<byte> stride

        for y in 0 .. height - 1 do
            if channels = 1 then
                Array.blit pixels (y * width) row 0 width
            else
                for x in 0 .. width - 1 do
                    let s = 3 * (y * width + x)
                    row.[4 * x] <- pixels.[s]
                    row.[4 * x + 1] <- pixels.[s + 1]
                    row.[4 * x + 2] <- pixels.[s + 2]
                    row.[4 * x + 3] <- 255uy

            Marshal.Copy(row, 0, bmp.GetPixels() + nativeint (y * stride), stride)

        use img = SKImage.FromBitmap bmp
        use data = img.Encode(SKEncodedImageFormat.Png, 100)
        data.ToArray()

    /// Write a PNG file atomically.
    [<CompiledName("SavePng")>]
    let savePng (path: string) (width: int) (height: int) (channels: int) (pixels: byte[]) = Atomic.writeAllBytes path (encodePng width height channels pixels)
