namespace AutoDesign.DGGAN

open System
open System.IO
open TorchSharp
open AutoDesign.Runs
open AutoDesign.Data
open AutoDesign.Plots

/// The image sets of GAN training are `Dataset`s (AutoDesign.Data): grey images padded to a square side, pixels in
/// 0..1 as in every Dataset, scaled to [-1,1] as batches are cut; a set without labels (random or generated images)
/// has an empty `Labels`.
module GanImages =
    /// `ds` (N×H×W images in 0..1, e.g. MNIST 28×28) centred and padded with zeros (background) to `side`×`side`;
    /// labels kept.
    [<CompiledName("Pad")>]
    let pad (side: int) (ds: Dataset) : Dataset =
        let count, height, width = ds.Count, ds.Height, ds.Width

        if height > side || width > side then
            Errors.fail "images of %dx%d (width x height) do not fit in %dx%d" width height side side

        if ds.Images.Length <> count * height * width then
            Errors.fail "image buffer of %d values is not %d×%d×%d" ds.Images.Length count height width

        let top, left = (side - height) / 2, (side - width) / 2
        let px = Array.zeroCreate (count * side * side)

        for n in 0 .. count - 1 do
            for y in 0 .. height - 1 do
                Array.blit ds.Images (n * height * width + y * width) px (n * side * side + (y + top) * side + left) width

        { ds with Images = px; Height = side; Width = side }

    /// An unlabelled set of N×H×W images in 0..1, padded to `side`×`side` (see `pad`).
    [<CompiledName("OfUnit")>]
    let ofUnit (name: string) (images: float32[]) (count: int) (height: int) (width: int) (side: int) =
        pad side { Name = name; Images = images; Labels = [||]; Height = height; Width = width; Count = count; Source = name }

    /// Images [start, start + count) (with their labels, when the set has labels) as their own set.
    [<CompiledName("Slice")>]
    let slice (d: Dataset) (start: int) (count: int) =
        if start < 0 || count < 0 || start + count > d.Count then
            Errors.fail "image slice %d+%d outside a set of %d" start count d.Count

        let s = d.Height * d.Width

        { d with
            Images = Array.sub d.Images (start * s) (count * s)
            Labels = (if d.Labels.Length = 0 then [||] else Array.sub d.Labels start count)
            Count = count }

    /// Images idx as a [B,1,H,W] tensor in [-1,1] (2·pixel - 1).
    [<CompiledName("Batch")>]
    let batch (d: Dataset) (idx: int[]) (device: torch.Device) =
        let s = d.Height * d.Width
        let buf = Array.zeroCreate<float32>(idx.Length * s)

        idx
        |> Array.iteri (fun i n ->
            for k in 0 .. s - 1 do
                buf.[i * s + k] <- d.Images.[n * s + k] * 2.0f - 1.0f)

        torch.tensor(buf: float32[]).reshape(int64 idx.Length, 1L, int64 d.Height, int64 d.Width).``to``(device)

    /// Average-pool [B,C,H,W] down to `res`×`res` (how ProgGAN shows real data to a low-resolution network).
    [<CompiledName("DownTo")>]
    let downTo (res: int) (x: torch.Tensor) =
        let f = int x.shape.[3] / res
        if f <= 1 then x.alias () else torch.nn.functional.avg_pool2d (x, int64 f)

    /// Nearest-upsample [B,C,r,r] to `side`×`side` (to feed the 32×32 feature network).
    [<CompiledName("UpTo")>]
    let upTo (side: int) (x: torch.Tensor) =
        let f = side / int x.shape.[3]
        if f <= 1 then x.alias () else x.repeat_interleave(int64 f, 2L).repeat_interleave(int64 f, 3L)

/// Saved image sets for `gan fid|swd`: IDX files (optionally gzipped) of unsigned bytes, dims [N,H,W]
/// (magic 0x00000803, as MNIST) with pixel = round(255·(x+1)/2) for images in [-1,1].
module ImageSet =
    /// Most pixels of one image set, all images together (checked from the PNG or IDX headers before any
    /// pixel is decoded; a set is held as 4-byte floats, twice while it becomes a tensor): 2^27 pixels,
    /// 512 MiB. The sets the experiments compare (10k to 60k images of 32x32) are below 2^26.
    let mutable MaxPixels = 1L <<< 27

    let private checkPixels (path: string) (count: int) (width: int) (height: int) =
        let total = int64 count * int64 width * int64 height

        if total > MaxPixels then
            Errors.fail
                "image set %s: %d images of %dx%d (width x height) are %d pixels, more than the limit of %d pixels for one image set (ImageSet.MaxPixels)"
                path
                count
                width
                height
                total
                MaxPixels

    [<CompiledName("Save")>]
    let save (path: string) (images: torch.Tensor) =
        use cpu = images.detach().cpu().clamp(torch.tensor (-1.0f), torch.tensor (1.0f))
        let n, h, w = int cpu.shape.[0], int cpu.shape.[2], int cpu.shape.[3]
        use flat = cpu.select(1, 0L).contiguous()
        let data = flat.data<float32>().ToArray()
        let bytes = data |> Array.map (fun v -> byte (Math.Round(float (v + 1.0f) * 127.5)))
        AutoDesign.Data.Idx.write path { Dims = [| n; h; w |]; Data = bytes }

    /// Load an IDX image set as [N,1,H,W] in [-1,1].
    [<CompiledName("LoadIdx")>]
    let loadIdx (path: string) (device: torch.Device) =
        SafeFiles.requireFile "image set" path
        let dims = AutoDesign.Data.Idx.readDims path

        if dims.Length <> 3 then
            Errors.fail "image set %s is not an IDX file of unsigned bytes with 3 dims [N,H,W] (it has %d dims)" path dims.Length

        checkPixels path dims.[0] dims.[2] dims.[1]
        let a = AutoDesign.Data.Idx.read path

        if a.Dims.Length <> 3 then
            Errors.fail "image set %s is not an IDX file of unsigned bytes with 3 dims [N,H,W] (it has %d dims)" path a.Dims.Length

        let n, h, w = a.Dims.[0], a.Dims.[1], a.Dims.[2]
        if n = 0 then Errors.fail "image set %s holds no images (its IDX header declares 0 of %dx%d)" path h w
        if h = 0 || w = 0 then Errors.fail "image set %s holds images of %dx%d pixels; an image has at least one pixel" path h w
        let px = Array.init (n * h * w) (fun i -> float32 a.Data.[i] / 127.5f - 1.0f)
        torch.tensor(px: float32[]).reshape(int64 n, 1L, int64 h, int64 w).``to``(device)

    /// PNG images of one size as [N,1,H,W] in [-1,1]; RGB is turned grey with the ITU-R 601 luma weights.
    [<CompiledName("OfPngs")>]
    let ofPngs (files: seq<string>) (device: torch.Device) =
        let files = List.ofSeq files
        // every header first: one size, and the whole set within MaxPixels, before any pixel is decoded
        let sizes = files |> List.map (fun f -> f, Images.declaredSize f)
        let (f0, (w0, h0)) = List.head sizes

        for (f, (w, h)) in sizes do
            if w <> w0 || h <> h0 then
                Errors.fail "PNG %s is %dx%d but %s is %dx%d (width x height): an image set needs one size" f w h f0 w0 h0

        checkPixels (if files.Length = 1 then f0 else Path.GetDirectoryName f0) files.Length w0 h0
        let hw = w0 * h0
        let px = Array.zeroCreate<float32>(files.Length * hw)

        files
        |> List.iteri (fun n f ->
            let i = Images.load f

            if i.Width <> w0 || i.Height <> h0 then
                Errors.fail "PNG %s decodes to %dx%d but its header declares %dx%d (width x height)" f i.Width i.Height w0 h0

            for k in 0 .. hw - 1 do
                let v =
                    if i.Channels = 1 then
                        float32 i.Pixels.[k]
                    else
                        float32 (Math.Round(0.299 * float i.Pixels.[3 * k] + 0.587 * float i.Pixels.[3 * k + 1] + 0.114 * float i.Pixels.[3 * k + 2]))

                px.[n * hw + k] <- v / 127.5f - 1.0f)

        torch.tensor(px: float32[]).reshape(int64 files.Length, 1L, int64 h0, int64 w0).``to``(device)

    /// Load an image set: a directory of .png files (sorted by name), one .png file, or an IDX file.
    [<CompiledName("Load")>]
    let load (path: string) (device: torch.Device) =
        if Directory.Exists path then
            let files =
                Directory.GetFiles(path)
                |> Array.filter (fun f -> f.EndsWith(".png", StringComparison.OrdinalIgnoreCase))
                |> Array.sortWith (fun a b -> String.CompareOrdinal(a, b))
                |> List.ofArray

            if files.IsEmpty then Errors.fail "directory %s holds no .png images" path
            ofPngs files device
        elif path.EndsWith(".png", StringComparison.OrdinalIgnoreCase) then
            if not (File.Exists path) then Errors.fail "image %s does not exist" path
            ofPngs [ path ] device
        else
            loadIdx path device
