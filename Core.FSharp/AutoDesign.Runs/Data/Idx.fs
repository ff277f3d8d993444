namespace AutoDesign.Data

open System
open System.IO
open System.IO.Compression
open AutoDesign.Runs

/// An IDX array of unsigned bytes (data type 0x08): `Dims` outermost first, `Data` row-major.
type IdxArray = { Dims: int[]; Data: byte[] }

/// The IDX format (LeCun's MNIST format): bytes 0 and 1 are zero, byte 2 the data type, byte 3
/// the number of dimensions, then one big-endian int32 per dimension, then the data, row-major.
/// Files may be gzipped; the gzip magic (1F 8B) is detected, not guessed from the file name.
/// Every problem raises a UserError whose message starts with the file's name.
module Idx =
    let private typeNames =
        dict
            [ 0x08uy, "unsigned byte"
              0x09uy, "signed byte"
              0x0Buy, "int16"
              0x0Cuy, "int32"
              0x0Duy, "float32"
              0x0Euy, "float64" ]

    let private typeName (t: byte) =
        match typeNames.TryGetValue t with
        | true, n -> n
        | _ -> "unknown"

    [<CompiledName("IsGzip")>]
    let isGzip (bytes: byte[]) = bytes.Length >= 2 && bytes.[0] = 0x1Fuy && bytes.[1] = 0x8Buy

    let private gunzip (name: string) (bytes: byte[]) =
        try
            use input = new MemoryStream(bytes)
            use gz = new GZipStream(input, CompressionMode.Decompress)
            use out = new MemoryStream()
            gz.CopyTo out
            let data = out.ToArray()
            // .NET stops quietly at the end of a cut-off gzip stream; the trailer's ISIZE field
            // (uncompressed length mod 2^32, little-endian) tells a complete stream from a cut one.
            let n = bytes.Length
            if n < 18 then Errors.fail "%s: truncated gzip stream (%d bytes)" name n

            let isize =
                uint32 bytes.[n - 4]
                ||| (uint32 bytes.[n - 3] <<< 8)
                ||| (uint32 bytes.[n - 2] <<< 16)
                ||| (uint32 bytes.[n - 1] <<< 24)

            if isize <> uint32 data.Length then
                Errors.fail "%s: truncated or corrupt gzip stream (decompressed %d bytes, the gzip trailer says %d)" name data.Length isize

            data
        with
        | :? InvalidDataException
        | :? EndOfStreamException as e -> Errors.fail "%s: corrupt gzip stream (%s)" name (e.Message.TrimEnd('.'))

    /// The file's bytes with any gzip compression removed.
    let private contents (name: string) (bytes: byte[]) = if isGzip bytes then gunzip name bytes else bytes

    let private dimsText (dims: int[]) = if dims.Length = 0 then "(scalar)" else dims |> Array.map string |> String.concat "x"

    /// Validate the header of decompressed IDX bytes; return the dimensions and the header length.
    /// `complete` says whether `raw` holds the whole file (then the length is checked exactly).
    let private parseHeader (name: string) (raw: byte[]) (complete: bool) : int[] * int =
        if raw.Length < 4 then Errors.fail "%s: truncated: %d bytes, an IDX header needs at least 4" name raw.Length

        if raw.[0] <> 0uy || raw.[1] <> 0uy then
            Errors.fail "%s: not an IDX file (magic starts %02X %02X, expected 00 00)" name raw.[0] raw.[1]

        let dtype = raw.[2]

        if dtype <> 0x08uy then
            if typeNames.ContainsKey dtype then
                Errors.fail "%s: IDX data type 0x%02X (%s) is not supported; only 0x08 (unsigned byte) is" name dtype (typeName dtype)
            else
                Errors.fail "%s: not an IDX file (unknown data type byte 0x%02X)" name dtype

        let ndims = int raw.[3]
        if ndims = 0 then Errors.fail "%s: IDX header declares 0 dimensions" name
        let headerLen = 4 + 4 * ndims

        if raw.Length < headerLen then
            Errors.fail "%s: truncated: header declares %d dimensions (%d header bytes), file has %d bytes" name ndims headerLen raw.Length

        let dims =
            Array.init ndims (fun i ->
                let o = 4 + 4 * i
                (int raw.[o] <<< 24) ||| (int raw.[o + 1] <<< 16) ||| (int raw.[o + 2] <<< 8) ||| int raw.[o + 3])

        if dims |> Array.exists (fun d -> d < 0) then
            Errors.fail "%s: IDX header has a negative dimension (%s)" name (dims |> Array.map string |> String.concat ", ")

        let expected = dims |> Array.fold (fun acc d -> acc * int64 d) 1L

        if expected > int64 Int32.MaxValue - 64L then
            Errors.fail "%s: IDX header declares %s = %d bytes, more than this reader supports" name (dimsText dims) expected

        if complete then
            let actual = int64 (raw.Length - headerLen)

            if actual < expected then
                Errors.fail "%s: truncated: header says %s = %d bytes, file has %d" name (dimsText dims) expected actual

            if actual > expected then
                Errors.fail "%s: %d extra bytes: header says %s = %d bytes, file has %d" name (actual - expected) (dimsText dims) expected actual

        dims, headerLen

    /// Parse IDX bytes (gzipped or raw) read from `name` (used only in messages).
    [<CompiledName("Parse")>]
    let parse (name: string) (bytes: byte[]) : IdxArray =
        let raw = contents name bytes
        let dims, headerLen = parseHeader name raw true
        { Dims = dims; Data = raw.[headerLen..] }

    /// Largest IDX file this reader decodes (header + data, decompressed), bytes; default 1 GiB.
    let mutable MaxBytes = SafeFiles.DefaultMaxBytes

    /// Only the dimensions of an IDX file, decompressing no more than the header.
    [<CompiledName("ReadDims")>]
    let readDims (path: string) : int[] =
        SafeFiles.checkRegular path
        use fs = File.OpenRead path
        let magic = Array.zeroCreate<byte> 2
        let n = fs.Read(magic, 0, 2)
        fs.Position <- 0L
        let gz = n = 2 && isGzip magic
        use s: Stream = if gz then new GZipStream(fs, CompressionMode.Decompress) :> Stream else fs :> Stream
        let buf = Array.zeroCreate<byte>(4 + 4 * 255)
        let mutable got = 0
        let mutable fin = false

        try
            while not fin && got < buf.Length do
                let k = s.Read(buf, got, buf.Length - got)
                if k = 0 then fin <- true else got <- got + k
        with :? InvalidDataException as e ->
            Errors.fail "%s: corrupt gzip stream (%s)" path (e.Message.TrimEnd('.'))

        fst (parseHeader path buf.[.. got - 1] false)

    /// Read and validate an IDX file (gzip or raw). The header's declared size is checked against MaxBytes
    /// before anything is decompressed, and decompression stops there, so a hostile file cannot make the
    /// reader allocate more.
    /// `read` with a limit of `maxBytes` instead of MaxBytes.
    [<CompiledName("ReadWithin")>]
    let readWithin (maxBytes: int64) (path: string) : IdxArray =
        let dims = readDims path
        let need = int64 (4 + 4 * dims.Length) + (dims |> Array.fold (fun acc d -> acc * int64 d) 1L)

        if need > maxBytes then
            Errors.fail "%s: IDX header declares %s = %d bytes, more than the limit of %d" path (dimsText dims) need maxBytes
        // a little slack, so a file with a few extra bytes is reported as such by the exact length check
        parse path (SafeFiles.readAll maxBytes (need + 65536L) path)

    [<CompiledName("Read")>]
    let read (path: string) : IdxArray = readWithin MaxBytes path

    /// Whether the stored file is gzipped (by its magic bytes).
    [<CompiledName("FileIsGzip")>]
    let fileIsGzip (path: string) =
        use fs = File.OpenRead path
        let magic = Array.zeroCreate<byte> 2
        fs.Read(magic, 0, 2) = 2 && isGzip magic

    /// Describe the dimensions as "10000x28x28".
    [<CompiledName("DescribeDims")>]
    let describeDims (dims: int[]) = dimsText dims

    /// The raw (uncompressed) IDX encoding of an array.
    [<CompiledName("Encode")>]
    let encode (a: IdxArray) : byte[] =
        if a.Dims.Length = 0 || a.Dims.Length > 255 then
            invalidArg "a" (sprintf "an IDX array needs 1..255 dimensions, got %d" a.Dims.Length)

        let expected = a.Dims |> Array.fold (fun acc d -> acc * int64 d) 1L

        if a.Dims |> Array.exists (fun d -> d < 0) || expected <> int64 a.Data.Length then
            invalidArg "a" (sprintf "dims %s do not match %d data bytes" (dimsText a.Dims) a.Data.Length)

        let headerLen = 4 + 4 * a.Dims.Length
        let out = Array.zeroCreate<byte>(headerLen + a.Data.Length)
        out.[2] <- 0x08uy
        out.[3] <- byte a.Dims.Length

        a.Dims
        |> Array.iteri (fun i d ->
            let o = 4 + 4 * i
            out.[o] <- byte (d >>> 24)
            out.[o + 1] <- byte (d >>> 16)
            out.[o + 2] <- byte (d >>> 8)
            out.[o + 3] <- byte d)

        Buffer.BlockCopy(a.Data, 0, out, headerLen, a.Data.Length)
        out

    /// Gzip bytes at the smallest size.
    [<CompiledName("Gzip")>]
    let gzip (bytes: byte[]) : byte[] =
        use out = new MemoryStream()

        do
            use gz = new GZipStream(out, CompressionLevel.SmallestSize, true)
            gz.Write(bytes, 0, bytes.Length)

        out.ToArray()

    /// Write an IDX file atomically; gzipped when the path ends in ".gz".
    [<CompiledName("Write")>]
    let write (path: string) (a: IdxArray) =
        let raw = encode a
        let bytes = if path.EndsWith(".gz", StringComparison.OrdinalIgnoreCase) then gzip raw else raw
        Atomic.writeAllBytes path bytes
