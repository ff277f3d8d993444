namespace AutoDesign.Runs

open System
open System.Collections.Generic
open System.IO
open System.Text.Json.Nodes
open TorchSharp

/// Tensors in the safetensors format (https://huggingface.co/docs/safetensors), readable by PyTorch's
/// `safetensors.torch.load_file`: an 8-byte little-endian header length, a JSON header naming each
/// tensor's dtype, shape and byte range, then the raw data. Written and read with TorchSharp.PyBridge;
/// before reading, the header is checked against the file (sizes, ranges, dtypes), so a truncated or
/// hostile file is a UserError, not a crash or a huge allocation.
module Safetensors =
    let private dtypeBytes =
        dict [ "F64", 8; "F32", 4; "F16", 2; "BF16", 2; "I64", 8; "I32", 4; "I16", 2; "I8", 1; "U8", 1; "BOOL", 1 ]

    /// Largest header accepted (bytes).
    let MaxHeader = 100L * 1024L * 1024L

    /// Check a safetensors file's structure; returns the tensor names. Raises UserError naming `path`.
    [<CompiledName("Validate")>]
    let validate (path: string) : IReadOnlyList<string> =
        let fail fmt = Printf.ksprintf (fun m -> Errors.fail "%s is not a valid safetensors file: %s" path m) fmt
        let fi = FileInfo path
        SafeFiles.requireFile "safetensors file" path
        if fi.Length < 8L then fail "%d bytes, shorter than its header length field" fi.Length
        use fs = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read)
        use br = new BinaryReader(fs)
        let n = br.ReadInt64()

        if n <= 0L || n > MaxHeader || n > fi.Length - 8L then
            fail "header length %d does not fit a file of %d bytes" n fi.Length

        let header = br.ReadBytes(int n)

        let root =
            try
                JsonNode.Parse(ReadOnlySpan header) :?> JsonObject
            with _ ->
                fail "the header is not a JSON object"

        let dataLength = fi.Length - 8L - n
        let ranges = ResizeArray<int64 * int64>()

        let names =
            [ for kv in root do
                  if kv.Key <> "__metadata__" then
                      let e =
                          match kv.Value with
                          | :? JsonObject as o -> o
                          | _ -> fail "entry %s is not an object" kv.Key

                      let dt =
                          try
                              e.["dtype"].GetValue<string>()
                          with _ ->
                              fail "entry %s has no dtype" kv.Key

                      let size =
                          match dtypeBytes.TryGetValue dt with
                          | true, s -> s
                          | _ -> fail "entry %s has unknown dtype %s" kv.Key dt

                      let shape =
                          try
                              e.["shape"].AsArray() |> Seq.map (fun v -> v.GetValue<int64>()) |> Array.ofSeq
                          with _ ->
                              fail "entry %s has no shape" kv.Key

                      if shape |> Array.exists (fun d -> d < 0L) then fail "entry %s has a negative dimension" kv.Key

                      let count =
                          shape
                          |> Array.fold (fun acc d -> if d > 0L && acc > Int64.MaxValue / d then fail "entry %s is too large" kv.Key else acc * d) 1L

                      let offs =
                          try
                              e.["data_offsets"].AsArray() |> Seq.map (fun v -> v.GetValue<int64>()) |> Array.ofSeq
                          with _ ->
                              fail "entry %s has no data_offsets" kv.Key

                      if offs.Length <> 2 || offs.[0] < 0L || offs.[1] < offs.[0] || offs.[1] > dataLength then
                          fail "entry %s has byte range outside the %d data bytes" kv.Key dataLength

                      if offs.[1] - offs.[0] <> count * int64 size then
                          fail "entry %s: %d bytes for %d values of %s" kv.Key (offs.[1] - offs.[0]) count dt

                      ranges.Add((offs.[0], offs.[1]))
                      yield kv.Key ]

        let sorted = ranges |> Seq.sortBy fst |> Array.ofSeq

        for i in 1 .. sorted.Length - 1 do
            if fst sorted.[i] < snd sorted.[i - 1] then fail "two entries overlap"

        names :> IReadOnlyList<_>

    /// Write named tensors (copied to the CPU, contiguous) to `path`, atomically.
    [<CompiledName("Save")>]
    let save (path: string) (tensors: IDictionary<string, torch.Tensor>) =
        use scope = torch.NewDisposeScope()
        let d = Dictionary<string, torch.Tensor>()

        for kv in tensors do
            d.[kv.Key] <- kv.Value.detach().cpu().contiguous()

        Atomic.writeWith path (fun tmp -> TorchSharp.PyBridge.Safetensors.SaveStateDict(tmp, d))

    /// Read every tensor of a validated file (CPU tensors, detached from any dispose scope).
    [<CompiledName("Load")>]
    let load (path: string) : Dictionary<string, torch.Tensor> =
        validate path |> ignore

        let d =
            try
                TorchSharp.PyBridge.Safetensors.LoadStateDict(path, null)
            with e ->
                Errors.fail "%s could not be read as safetensors: %s" path e.Message

        for t in d.Values do
            t.DetachFromDisposeScope() |> ignore

        d
