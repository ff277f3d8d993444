namespace AutoDesign.Runs

open System
open System.Collections.Generic
open System.Text.Json.Nodes
open TorchSharp

/// What one checkpoint holds: named tensors (weights, optimizer buffers, generator states) and a JSON
/// object (counters, random-stream states, metrics rows, anything small).
type Snapshot =
    { Tensors: Dictionary<string, torch.Tensor>
      Values: JsonObject }

    static member Empty() = { Tensors = Dictionary(); Values = JsonObject() }

/// A piece of training state that a checkpoint saves and restores under a name prefix.
type IStateful =
    abstract Capture: snapshot: Snapshot * prefix: string -> unit
    abstract Restore: snapshot: Snapshot * prefix: string -> unit

/// The files a snapshot was read from (named in every error about its content).
type internal SnapshotFiles = { TensorsFile: string; ValuesFile: string }

/// The format version of a training-state file (a checkpoint's state.json, D²NN's final-state.json): its JSON
/// object holds "format": "autodesign.state/1". A file without the field is read as version 1 (files written
/// before the field existed have that layout); any other version is refused with one error.
module internal StateFormat =
    [<Literal>]
    let Current = "autodesign.state/1"

    /// The JSON text of `values` with the format field first.
    [<CompiledName("Render")>]
    let render (values: JsonObject) =
        let o = JsonObject()
        o.["format"] <- JsonValue.Create Current

        for kv in values do
            if kv.Key <> "format" then o.[kv.Key] <- (if isNull kv.Value then null else kv.Value.DeepClone())

        o.ToJsonString(Json.options)

    /// Check the format field of `values` read from `file` and remove it (the values are then the state itself).
    [<CompiledName("Check")>]
    let check (file: string) (values: JsonObject) =
        let mutable v: JsonNode = null

        if values.TryGetPropertyValue("format", &v) then
            let found =
                match v with
                | :? JsonValue as j ->
                    (match j.TryGetValue<string>() with
                     | true, s -> s
                     | _ -> j.ToJsonString())
                | null -> "null"
                | _ -> v.ToJsonString()

            if found <> Current then
                Errors.fail
                    "%s holds training state in format '%s', which this version of AutoDesign cannot read (it reads '%s'); continue it with the version that wrote it, or delete the run folder (or pass --force)"
                    file
                    found
                    Current

            values.Remove "format" |> ignore

/// The dtype and shape a restored tensor must have (a size of -1: any).
type internal TensorSpec =
    { DType: torch.ScalarType
      Shape: int64[] }

    static member Of(t: torch.Tensor) = { DType = t.dtype; Shape = t.shape }

    member s.Fits(t: torch.Tensor) =
        t.dtype = s.DType
        && t.shape.Length = s.Shape.Length
        && Array.forall2 (fun want got -> want < 0L || want = got) s.Shape t.shape

    override s.ToString() = TensorSpec.Describe(s.DType, s.Shape)

    static member Describe(dtype: torch.ScalarType, shape: int64[]) =
        sprintf "%O[%s]" dtype (String.Join(", ", shape |> Array.map (fun d -> if d < 0L then "*" else string d)))

/// A component whose checkpoint entries depend on the checkpoint itself (optimizer buffers created on the
/// first step, a pool's stored images): before anything is restored, it checks its JSON values in the
/// snapshot and sets in `expected` the tensors (under its prefix) that the snapshot must then hold.
type internal ISnapshotCheck =
    abstract Expect: snapshot: Snapshot * prefix: string * valuesFile: string * expected: Dictionary<string, TensorSpec> -> unit
