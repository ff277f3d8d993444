/// Bad input on the real CLI, one child process per case: hostile or broken files, impossible argument
/// values, FIFOs, link loops, decompression bombs. Each ends with the promised contract: the expected exit
/// code (1 for bad input, 2 for a malformed command line), exactly one line starting with `error:` that
/// names the problem, no stack trace, and a peak resident set (VmHWM) under a bound.
module AutoDesign.Tests.BadInputTests

open System
open System.Diagnostics
open System.IO
open System.IO.Compression
open System.Buffers.Binary
open Expecto
open AutoDesign.Tests.CliCommands

/// Peak resident set of every case, in MiB: the CLI with TorchSharp loaded stays near 200.
let internal memoryBoundMiB = 700L

/// Run the CLI in `cwd` (at most 5 minutes), with its peak resident set.
let internal run (cwd: string) (env: (string * string) list) (args: string list) = CliProcess.run (Some cwd) env args (TimeSpan.FromMinutes 5.0)

// ---- hostile files, written by the tests ----

let private crcTable =
    Array.init 256 (fun n ->
        let mutable c = uint32 n

        for _ in 0..7 do
            c <- if c &&& 1u <> 0u then 0xEDB88320u ^^^ (c >>> 1) else c >>> 1

        c)

let private crc32 (data: byte[]) =
    let mutable c = 0xFFFFFFFFu

    for b in data do
        c <- crcTable.[int ((c ^^^ uint32 b) &&& 0xFFu)] ^^^ (c >>> 8)

    c ^^^ 0xFFFFFFFFu

let private pngChunk (w: BinaryWriter) (kind: string) (data: byte[]) =
    let len = Array.zeroCreate<byte> 4
    BinaryPrimitives.WriteInt32BigEndian(Span len, data.Length)
    w.Write len
    let body = Array.append (Text.Encoding.ASCII.GetBytes kind) data
    w.Write body
    let crc = Array.zeroCreate<byte> 4
    BinaryPrimitives.WriteUInt32BigEndian(Span crc, crc32 body)
    w.Write crc

/// An 8-bit grey PNG whose header declares width × height; `rows` real zero rows are compressed into it
/// (all of them: a small file that decodes to a huge image).
let private writePng (path: string) (width: int) (height: int) (rows: int) =
    let idat =
        use ms = new MemoryStream()

        (use z = new ZLibStream(ms, CompressionLevel.SmallestSize, true)
         let row = Array.zeroCreate<byte>(width + 1)

         for _ in 1..rows do
             z.Write(row, 0, row.Length))

        ms.ToArray()

    use w = new BinaryWriter(File.Create path)
    w.Write [| 0x89uy; 0x50uy; 0x4Euy; 0x47uy; 0x0Duy; 0x0Auy; 0x1Auy; 0x0Auy |]
    let ihdr = Array.zeroCreate<byte> 13
    BinaryPrimitives.WriteInt32BigEndian(Span(ihdr, 0, 4), width)
    BinaryPrimitives.WriteInt32BigEndian(Span(ihdr, 4, 4), height)
    ihdr.[8] <- 8uy // bit depth; colour type 0 (grey), no interlace
    pngChunk w "IHDR" ihdr
    pngChunk w "IDAT" idat
    pngChunk w "IEND" [||]

/// The 16-byte header of an IDX file of n unsigned-byte images of h×w pixels.
let internal idxHeader (n: int) (h: int) (w: int) =
    let b = Array.zeroCreate<byte> 16
    b.[2] <- 8uy
    b.[3] <- 3uy
    BinaryPrimitives.WriteInt32BigEndian(Span(b, 4, 4), n)
    BinaryPrimitives.WriteInt32BigEndian(Span(b, 8, 4), h)
    BinaryPrimitives.WriteInt32BigEndian(Span(b, 12, 4), w)
    b

/// An IDX image set of n random h×w images.
let private writeIdx (path: string) (n: int) (h: int) (w: int) (seed: int) =
    let rng = Random seed
    let px = Array.zeroCreate<byte>(n * h * w)
    rng.NextBytes px
    File.WriteAllBytes(path, Array.append (idxHeader n h w) px)

/// A gzipped IDX file: the header, then `zeroMiB` MiB of zeros.
let private writeGzIdx (path: string) (header: byte[]) (zeroMiB: int) =
    use f = File.Create path
    use z = new GZipStream(f, CompressionLevel.SmallestSize)
    z.Write(header, 0, header.Length)
    let mib = Array.zeroCreate<byte>(1 <<< 20)

    for _ in 1..zeroMiB do
        z.Write(mib, 0, mib.Length)

let private writeLines (path: string) (lines: string seq) = File.WriteAllLines(path, lines)

/// The case folder: every file the cases name, created once.
let private setup () =
    let d = TempDir.fresh "badinput"
    let at (p: string) = Path.Combine(d, p)
    File.WriteAllText(at "a-file", "")
    File.CreateSymbolicLink(at "loop1", at "loop2") |> ignore
    File.CreateSymbolicLink(at "loop2", at "loop1") |> ignore
    Directory.CreateDirectory(at "huge-header") |> ignore
    writePng (at "huge-header/a.png") 65536 65537 1
    Directory.CreateDirectory(at "huge-pixels") |> ignore
    writePng (at "huge-pixels/a.png") 20000 20000 20000
    writeGzIdx (at "bomb-header.idx.gz") (idxHeader 2_800_000 28 28) 64
    writeGzIdx (at "bomb-trailing.idx.gz") (idxHeader 10 28 28) 256
    File.WriteAllBytes(at "truncated.idx", Array.append (idxHeader 1000 32 32) (Array.zeroCreate 5000))
    writeIdx (at "s28a.idx") 200 28 28 1
    writeIdx (at "s28b.idx") 200 28 28 2
    writeIdx (at "s32.idx") 200 32 32 3
    writeIdx (at "s16.idx") 200 16 16 4
    writeIdx (at "tiny-a.idx") 3 32 32 5
    writeIdx (at "tiny-b.idx") 3 32 32 6
    let hostile = Array.zeroCreate<byte> 10
    BinaryPrimitives.WriteUInt64LittleEndian(Span(hostile, 0, 8), 1UL <<< 62)
    File.WriteAllBytes(at "hostile.safetensors", hostile)
    writeLines (at "scores-overflow.csv") [ "0.1"; "1e39"; "0.3" ]
    writeLines (at "labels3.csv") [ "0"; "1"; "0" ]
    writeLines (at "labels2.csv") [ "0"; "1" ]
    writeLines (at "scores-nan.csv") [ "0.1"; "nan"; "0.3" ]
    let rng = Random 7
    writeLines (at "scores10k.csv") [ for _ in 1..10_000 -> string (rng.NextDouble()) ]
    writeLines (at "labels10k.csv") [ for _ in 1..10_000 -> string (rng.Next 2) ]
    use mkfifo = Process.Start("mkfifo", [ at "fifo" ])
    mkfifo.WaitForExit()
    if mkfifo.ExitCode <> 0 then failtest "mkfifo failed"
    d

/// name, arguments (file names relative to the case folder, which is the working directory),
/// expected exit code, a fragment the error line must contain.
let private cases: (string * string list * int * string) list =
    [ "--runs-root is a file", [ "--runs-root"; "a-file"; "uniloss"; "ap"; "--quick"; "--epochs"; "1" ], 1, "is a file"
      "a symbolic link loop as an image set", [ "gan"; "fid"; "--real"; "loop1"; "--fake"; "s32.idx" ], 1, "symbolic link"
      "a PNG header declaring 65536x65537 pixels", [ "gan"; "swd"; "--real"; "huge-header"; "--fake"; "s32.idx" ], 1, "65536x65537"
      "a small PNG decoding to 20000x20000", [ "gan"; "swd"; "--real"; "huge-pixels"; "--fake"; "s32.idx" ], 1, "20000x20000"
      "a gzip bomb whose IDX header declares 2.2 GB", [ "data"; "inspect"; "bomb-header.idx.gz" ], 1, "IDX header declares"
      "a gzip bomb: 256 MiB of data after a 10-image header", [ "gan"; "swd"; "--real"; "bomb-trailing.idx.gz"; "--fake"; "s32.idx" ], 1, "bomb-trailing.idx.gz"
      "an IDX file shorter than its header says", [ "data"; "inspect"; "truncated.idx" ], 1, "truncated.idx"
      "a FIFO given to data inspect", [ "data"; "inspect"; "fifo" ], 1, "FIFO"
      "a FIFO given as eval-metric scores", evalAp "fifo" "labels3.csv", 1, "FIFO"
      "FID on 28x28 images", [ "gan"; "fid"; "--real"; "s28a.idx"; "--fake"; "s28b.idx" ], 1, "28x28"
      "FID on three images per set", [ "gan"; "fid"; "--real"; "tiny-a.idx"; "--fake"; "tiny-b.idx" ], 1, "3 images"
      "FID between 32x32 and 16x16 sets", [ "gan"; "fid"; "--real"; "s32.idx"; "--fake"; "s16.idx" ], 1, "16x16"
      "a hostile safetensors header as feature network",
      [ "gan"; "fid"; "--real"; "s32.idx"; "--fake"; "s32.idx"; "--feature-net"; "hostile.safetensors" ],
      1,
      "header length"
      "a score of 1e39 (beyond float32)", evalAp "scores-overflow.csv" "labels3.csv", 1, "'1e39'"
      "a NaN score", evalAp "scores-nan.csv" "labels3.csv", 1, "'nan'"
      "scores and labels of different lengths", evalAp "scores10k.csv" "labels2.csv", 1, "rows"
      "a seed range past Int32.MaxValue", [ "uniloss"; "ap"; "--seed"; "2147483647"; "--seeds"; "2" ], 1, "largest seed"
      "an empty lambda list", [ "d2nn"; "cascade"; "--lambdas" ], 1, "--lambdas"
      "a λ outside [0, 1]", [ "d2nn"; "cascade"; "--lambdas"; "0.5"; "1.5" ], 1, "--lambdas"
      "a fast form of the 10-class cascade", [ "d2nn"; "cascade-fashion10"; "--form"; "fast" ], 1, "--form fast"
      "more training images than Fashion-MNIST has", [ "d2nn"; "cascade-fashion10"; "--quick"; "--train-size"; "59000" ], 1, "do not fit"
      "a NaN tau", [ "uniloss"; "ap"; "--tau"; "nan" ], 1, "--tau"
      "zero threads", [ "--threads"; "0"; "data"; "list" ], 1, "--threads"
      "a negative epoch count", [ "uniloss"; "ap"; "--epochs"; "-3" ], 1, "--epochs"
      "a Slurm option without the Slurm launcher", [ "--partition"; "gpu"; "uniloss"; "ap" ], 1, "--launcher slurm"
      "an unknown enum value", [ "--device"; "tpu"; "data"; "list" ], 2, "--device"
      "an unknown command", [ "d2nn"; "sweep" ], 2, "sweep"
      "no command at all", [], 2, "no command" ]

/// Run `unilossAp` (serially) under `root` in `dir`, killed by a fault at step 10 after its checkpoint of step 9.
let internal killAtStep10 (dir: string) (root: string) =
    let killed =
        run dir [ "AUTODESIGN_FAULT", "step:10"; "AUTODESIGN_CHECKPOINT_EVERY", "3"; "AUTODESIGN_QUIET", "1" ] (unilossAp root @ serial)

    if killed.Code <> 137 then failtestf "the fault should kill the run (exit 137, got %d):\n%s" killed.Code killed.Err

let internal check (dir: string) (name: string) (args: string list) (code: int) (fragment: string) =
    let o = run dir [ "AUTODESIGN_QUIET", "1" ] args
    let all = o.Out + o.Err
    let errorLines = o.Err.Split('\n') |> Array.filter (fun l -> l.StartsWith "error:")
    Expect.equal o.Code code (sprintf "%s: exit code (stderr: %s)" name o.Err)
    Expect.equal errorLines.Length 1 (sprintf "%s: exactly one error: line on stderr, got:\n%s" name o.Err)
    Expect.stringContains errorLines.[0] fragment (sprintf "%s: the error names the problem" name)
    Expect.isFalse (all.Contains "   at " || all.Contains "Unhandled exception") (sprintf "%s: no stack trace:\n%s" name all)
    Expect.isLessThan o.PeakMiB memoryBoundMiB (sprintf "%s: peak RSS %d MiB" name o.PeakMiB)

// ---- limits, strict numeric CSV, non-finite training losses, thread counts, message wording ----

/// The files of the cases below, added to the case folder.
let private setupLimits (d: string) =
    let at (p: string) = Path.Combine(d, p)
    writeLines (at "scores-decimal-commas.csv") [ "0,95"; "1,5"; "0,2" ]
    writeLines (at "labels-1-0-0.csv") [ "1"; "0"; "0" ]
    writeLines (at "scores-gap.csv") [ "0.1"; ""; "0.3"; "0.2" ]
    File.WriteAllText(at "scores-bom.csv", "\uFEFF0.9\n0.1\n0.8\n")
    writeLines (at "scores-inf-first.csv") [ "inf"; "0.2" ]
    writeLines (at "scores-quoted.csv") [ "\"0,95\""; "\"1,5\""; "\"0,2\"" ]
    writeLines (at "scores-mixed-header.csv") [ "score,0.5"; "0.1,0.2"; "0.3,0.4" ]
    Directory.CreateDirectory(at "a-directory.csv") |> ignore
    // pckh-25 on eight 64x64 heatmaps: about 33 million comparisons if traced
    let rng = Random 11

    writeLines
        (at "heatmaps64.csv")
        [ for _ in 1..8 -> String.Join(",", Array.init 4096 (fun _ -> rng.NextDouble().ToString("F4", Globalization.CultureInfo.InvariantCulture))) ]

    writeLines (at "joints64.csv") [ for _ in 1..8 -> sprintf "%d,%d" (rng.Next 64) (rng.Next 64) ]
    // forty blank 4096x4096 PNGs (small files, 671 million pixels decoded)
    Directory.CreateDirectory(at "blank4096") |> ignore
    writePng (at "blank4096/000.png") 4096 4096 4096

    for k in 1..39 do
        File.Copy(at "blank4096/000.png", at (sprintf "blank4096/%03d.png" k))
    // an IDX set of 200000 32x32 images (205 million pixels), gzipped zeros
    writeGzIdx (at "many32.idx.gz") (idxHeader 200_000 32 32) 200
    // 16 wide x 8 high, and 8 wide x 16 high
    Directory.CreateDirectory(at "wide") |> ignore
    writePng (at "wide/a.png") 16 8 8
    Directory.CreateDirectory(at "tall") |> ignore
    writePng (at "tall/a.png") 8 16 16

let private limitCases: (string * string list * int * string) list =
    [ "uniloss ap with 100000000 anchors per type", [ "uniloss"; "ap"; "--anchors"; "100000000" ], 1, "Limits.MaxTableEntries"
      "gan swd on forty blank 4096x4096 PNGs", [ "gan"; "swd"; "--real"; "blank4096"; "--fake"; "s32.idx" ], 1, "ImageSet.MaxPixels"
      "gan swd on an IDX set of 200000 32x32 images", [ "gan"; "swd"; "--real"; "many32.idx.gz"; "--fake"; "s32.idx" ], 1, "ImageSet.MaxPixels"
      "scores with decimal commas", evalAp "scores-decimal-commas.csv" "labels-1-0-0.csv", 1, "decimal commas"
      "scores with quoted decimal commas", evalAp "scores-quoted.csv" "labels-1-0-0.csv", 1, "quoted"
      "a blank line inside the scores", evalAp "scores-gap.csv" "labels3.csv", 1, "line 2 is empty"
      "a byte-order mark before the first score is no header", evalAp "scores-bom.csv" "labels2.csv", 1, "3 score rows but 2 label rows"
      "a first score of inf is no header", evalAp "scores-inf-first.csv" "labels2.csv", 1, "'inf'"
      "a first line mixing text and numbers", evalAp "scores-mixed-header.csv" "labels2.csv", 1, "mixes numbers and text"
      "a directory as the scores file", evalAp "a-directory.csv" "labels3.csv", 1, "is a directory"
      "image sets of 16x8 and 8x16 (width x height)", [ "gan"; "swd"; "--real"; "wide"; "--fake"; "tall" ], 1, "the real images are 16x8 but the fake ones 8x16"
      "a UniLoss arm whose batches never hold both classes (one training image)",
      [ "uniloss"
        "ap"
        "--quick"
        "--epochs"
        "2"
        "--train-size"
        "1"
        "--runs-root"
        "nan-runs"
        "--device"
        "cpu"
        "--launcher"
        "serial" ],
      1,
      "held both classes" ]

let private limitTests (dir: Lazy<string>) =
    let limitsDir =
        lazy
            (let d = dir.Value in
             setupLimits d
             d)

    [ for (name, args, code, fragment) in limitCases -> test name { check limitsDir.Value name args code fragment } ]
    @ [ test "eval-metric pckh-25 on eight 64x64 heatmaps: the exact value, untraced, in bounded memory" {
            let o =
                run
                    limitsDir.Value
                    []
                    [ "uniloss"
                      "eval-metric"
                      "--metric"
                      "pckh-25"
                      "--heatmap"
                      "64x64"
                      "--scores"
                      "heatmaps64.csv"
                      "--labels"
                      "joints64.csv" ]

            Expect.equal o.Code 0 (sprintf "eval-metric ran:\n%s" o.Err)
            Expect.stringContains o.Out "exact: " "prints the exact value"
            Expect.stringContains o.Out "not traced" "says the refactored value was not traced"
            Expect.isLessThan o.PeakMiB memoryBoundMiB (sprintf "peak RSS %d MiB" o.PeakMiB)
        }
        test "a UniLoss run trained with 2 torch threads is refused with 1, the difference named" {
            let d = limitsDir.Value

            let args threads =
                [ "--threads"
                  threads
                  "uniloss"
                  "ap"
                  "--quick"
                  "--epochs"
                  "1"
                  "--train-size"
                  "300"
                  "--runs-root"
                  "thread-runs"
                  "--device"
                  "cpu"
                  "--launcher"
                  "serial" ]

            let first = run d [ "AUTODESIGN_QUIET", "1" ] (args "2")
            Expect.equal first.Code 0 (sprintf "the run with 2 threads finishes:\n%s" first.Err)
            check d "reopened with 1 thread" (args "1") 1 "threads: 2 vs 1"
        } ]

[<Tests>]
let tests =
    let dir = lazy (setup ())
    let table = [ for (name, args, code, fragment) in cases -> test name { check dir.Value name args code fragment } ]

    testSequenced
    <| testList
        "badinput"
        (table
         @ limitTests dir
         @ [ test "a truncated checkpoint and a truncated config.json of a killed run: one error line each" {
                 let d = dir.Value

                 let args root = unilossAp root @ serial

                 killAtStep10 d "killed"
                 let runDir = Path.Combine(d, "killed", unilossApCeRun)
                 let tensors = Directory.GetFiles(Path.Combine(runDir, "checkpoints"), "tensors.safetensors", SearchOption.AllDirectories)
                 Expect.isNonEmpty tensors "a checkpoint was written before the kill"
                 let config = Path.Combine(runDir, "config.json")
                 let configText = File.ReadAllText config
                 use f = new FileStream(tensors.[0], FileMode.Open)
                 f.SetLength(f.Length / 2L)
                 f.Dispose()
                 check d "truncated checkpoint" (args "killed") 1 "tensors.safetensors"
                 File.WriteAllText(config, configText.Substring(0, configText.Length / 2))
                 check d "truncated config.json" (args "killed") 1 "config.json"
             }
             test "eval-metric AP on 10k rows: exact, in bounded memory" {
                 let o = run dir.Value [] (evalAp "scores10k.csv" "labels10k.csv")

                 Expect.equal o.Code 0 (sprintf "eval-metric ran:\n%s" o.Err)
                 Expect.isLessThan o.PeakMiB memoryBoundMiB (sprintf "peak RSS %d MiB" o.PeakMiB)
                 Expect.stringContains o.Out "ap" "prints the metric"
             }
             test "-h and --help print the usage with exit 0" {
                 for flag in [ "-h"; "--help" ] do
                     let o = run dir.Value [] [ flag ]
                     Expect.equal o.Code 0 flag
                     Expect.stringContains o.Out "USAGE: autodesign" flag
             } ])
