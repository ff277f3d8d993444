namespace AutoDesign.Runs

open System
open System.Collections.Generic
open System.Text.Json.Nodes
open TorchSharp
open TorchSharp.Modules
open AutoDesign.Nn

/// Everything a training loop must restore to continue exactly: models, optimizers, random streams.
/// Register each component once, under a unique name; the checkpoint keys are "<name>/...".
[<Sealed>]
type TrainState() =
    let parts = ResizeArray<string * IStateful>()

    static let tensorOf (s: Snapshot) (key: string) (what: string) =
        match s.Tensors.TryGetValue key with
        | true, t -> t
        | _ -> Errors.fail "the checkpoint has no %s (%s): it was written by other code or for another configuration" what key

    static let valueOf (s: Snapshot) (key: string) =
        if s.Values.ContainsKey key then
            s.Values.[key]
        else
            Errors.fail "the checkpoint has no value %s: it was written by other code or for another configuration" key

    /// The registered components by name, in registration order.
    member _.Parts = parts |> Seq.map (fun (n, p) -> KeyValuePair(n, p)) |> Array.ofSeq :> IReadOnlyList<_>

    /// Add any component.
    member _.Add(name: string, part: IStateful) =
        if String.IsNullOrWhiteSpace name || name.Contains '/' then Errors.fail "invalid state name '%s'" name
        if parts.Exists(fun (n, _) -> n = name) then Errors.fail "state name '%s' registered twice" name
        parts.Add((name, part))

    /// A module's parameters and buffers (its state_dict).
    member s.AddModule(name: string, m: torch.nn.Module) =
        s.Add(
            name,
            { new IStateful with
                member _.Capture(snap, p) =
                    for kv in m.state_dict () do
                        snap.Tensors.[p + kv.Key] <- kv.Value

                member _.Restore(snap, p) =
                    use _ng = torch.no_grad ()

                    for kv in m.state_dict () do
                        let src = tensorOf snap (p + kv.Key) "module entry"

                        if src.shape <> kv.Value.shape || src.dtype <> kv.Value.dtype then
                            Errors.fail
                                "the checkpoint's %s is %s, the model's %s"
                                (p + kv.Key)
                                (TensorSpec.Describe(src.dtype, src.shape))
                                (TensorSpec.Describe(kv.Value.dtype, kv.Value.shape))

                        kv.Value.copy_ (src) |> ignore }
        )

    /// An SGD, Adam or RMSprop optimizer (TorchSharp's or AutoDesign's safe ones): per-parameter buffers and
    /// step counts, and every parameter group's current and initial learning rate.
    member s.AddOptimizer(name: string, opt: OptimizerHelper) = s.Add(name, OptimizerState.stateful opt)

    /// A seeded .NET random stream.
    member s.AddRandom(name: string, r: SeededRandom) =
        s.Add(
            name,
            { new IStateful with
                member _.Capture(snap, p) = snap.Values.[p + "state"] <- Json.toNode r.State

                member _.Restore(snap, p) =
                    let st = Json.ofNode<RandomState> (sprintf "field '%sstate'" p) (valueOf snap (p + "state"))

                    try
                        r.State <- st
                    with
                    | :? ArgumentException as e -> Errors.fail "field '%sstate' is not a random-stream state: %s" p e.Message
                    | :? NullReferenceException -> Errors.fail "field '%sstate' is not a random-stream state (a part is null)" p }
        )

    /// A TorchSharp generator.
    member s.AddGenerator(name: string, g: torch.Generator) =
        s.Add(
            name,
            { new IStateful with
                member _.Capture(snap, p) = snap.Tensors.[p + "state"] <- g.get_state ()

                member _.Restore(snap, p) =
                    let st = tensorOf snap (p + "state") "generator state"
                    use current = g.get_state ()
                    // set_state with another length or dtype aborts the process inside libtorch
                    if not ((TensorSpec.Of current).Fits st) then
                        Errors.fail
                            "the checkpoint's generator state %sstate is %s, this generator's %s"
                            p
                            (TensorSpec.Describe(st.dtype, st.shape))
                            (TensorSpec.Describe(current.dtype, current.shape))

                    g.set_state (st) }
        )

    /// TorchSharp's default CPU generator (used by torch.randn, dropout, weight initialisation...).
    member s.AddTorchDefault() = s.AddGenerator("torch", torch.Generator.Default)

    /// A JSON-serialisable value read and written through a getter and a setter.
    member s.AddValue<'T>(name: string, get: Func<'T>, set: Action<'T>) =
        s.Add(
            name,
            { new IStateful with
                member _.Capture(snap, p) = snap.Values.[p + "value"] <- Json.toNode (get.Invoke())
                member _.Restore(snap, p) = set.Invoke(Json.ofNode<'T> (sprintf "field '%svalue'" p) (valueOf snap (p + "value"))) }
        )

    member _.Capture(snap: Snapshot) =
        for (n, part) in parts do
            part.Capture(snap, n + "/")

    member s.Restore(snap: Snapshot) = s.RestoreFrom(snap, { TensorsFile = "the snapshot's tensors"; ValuesFile = "the snapshot's values" }, [])

    /// Check `snap` against this state before anything is restored: every tensor has a registered
    /// component's name, the dtype and shape this run's tensor has, none is missing; every value a
    /// component writes is there and nothing else (but the caller's `own` keys). A UserError names the
    /// file and the entry.
    member internal _.Check(snap: Snapshot, files: SnapshotFiles, own: string seq) =
        let expected = Dictionary<string, TensorSpec>()
        let template = Snapshot.Empty()

        (use _scope = torch.NewDisposeScope()

         for (n, part) in parts do
             part.Capture(template, n + "/")

         for kv in template.Tensors do
             expected.[kv.Key] <- TensorSpec.Of kv.Value)

        for (n, part) in parts do
            match part with
            | :? ISnapshotCheck as c -> c.Expect(snap, n + "/", files.ValuesFile, expected)
            | _ -> ()

        for kv in template.Values do
            if not (snap.Values.ContainsKey kv.Key) then
                Errors.fail "%s: field '%s' is missing (it was written by other code or for another configuration)" files.ValuesFile kv.Key

        let own = set own

        for kv in snap.Values do
            if not (template.Values.ContainsKey kv.Key) && not (own.Contains kv.Key) then
                Errors.fail "%s: field '%s' is not part of this run's state (it was written by other code or for another configuration)" files.ValuesFile kv.Key

        for kv in snap.Tensors do
            match expected.TryGetValue kv.Key with
            | true, spec when spec.Fits kv.Value -> ()
            | true, spec ->
                Errors.fail
                    "%s: tensor '%s' is %s; this run's is %s"
                    files.TensorsFile
                    kv.Key
                    (TensorSpec.Describe(kv.Value.dtype, kv.Value.shape))
                    (string spec)
            | _ ->
                Errors.fail
                    "%s: tensor '%s' is not part of this run's state (it was written by other code or for another configuration)"
                    files.TensorsFile
                    kv.Key

        for kv in expected do
            if not (snap.Tensors.ContainsKey kv.Key) then
                Errors.fail "%s: tensor '%s' (%O) is missing" files.TensorsFile kv.Key kv.Value

    /// Check `snap` (read from `files`), then restore every component from it.
    member internal s.RestoreFrom(snap: Snapshot, files: SnapshotFiles, own: string seq) =
        s.Check(snap, files, own)

        try
            for (n, part) in parts do
                part.Restore(snap, n + "/")
        with UserError msg when not (msg.StartsWith files.ValuesFile || msg.StartsWith files.TensorsFile) ->
            Errors.fail "%s: %s" files.ValuesFile msg
