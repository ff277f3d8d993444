namespace AutoDesign.Runs

open System
open System.Collections.Generic
open System.Text.Json.Nodes
open TorchSharp
open TorchSharp.Modules
open AutoDesign.Nn

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
        if s.Values.ContainsKey key then s.Values.[key]
        else Errors.fail "the checkpoint has no value %s: it was written by other code or for another configuration" key

    member _.Parts = parts :> IReadOnlyList<_>

    /// Add any component.
    member _.Add(name: string, part: IStateful) =
        if String.IsNullOrWhiteSpace name || name.Contains '/' then Errors.fail "invalid state name '%s'" name
        if parts.Exists(fun (n, _) -> n = name) then Errors.fail "state name '%s' registered twice" name
        parts.Add((name, part))

    /// A module's parameters and buffers (its state_dict).
    member s.AddModule(name: string, m: torch.nn.Module) =
        s.Add(name,
              { new IStateful with
                  member _.Capture(snap, p) =
                      for kv in m.state_dict() do snap.Tensors.[p + kv.Key] <- kv.Value
                  member _.Restore(snap, p) =
                      use _ng = torch.no_grad ()
                      for kv in m.state_dict() do
                          let src = tensorOf snap (p + kv.Key) "module entry"
                          if src.shape <> kv.Value.shape then
                              Errors.fail "the checkpoint's %s has shape [%s], the model's [%s]" (p + kv.Key)
                                  (String.Join(", ", src.shape)) (String.Join(", ", kv.Value.shape))
                          kv.Value.copy_(src) |> ignore })

    /// An SGD, Adam or RMSprop optimizer (TorchSharp's or AutoDesign's safe ones): per-parameter buffers and
    /// step counts, every parameter group's current and initial learning rate, and each parameter's gradient
    /// buffer (which parameters have one decides which ones a step updates).
    member s.AddOptimizer(name: string, opt: OptimizerHelper) =
        s.Add(name, OptimizerState.stateful opt)

    /// A seeded .NET random stream.
    member s.AddRandom(name: string, r: SeededRandom) =
        s.Add(name,
              { new IStateful with
                  member _.Capture(snap, p) = snap.Values.[p + "state"] <- Json.toNode r.State
                  member _.Restore(snap, p) = r.State <- Json.ofNode<RandomState> (p + "state") (valueOf snap (p + "state")) })

    /// A TorchSharp generator.
    member s.AddGenerator(name: string, g: torch.Generator) =
        s.Add(name,
              { new IStateful with
                  member _.Capture(snap, p) = snap.Tensors.[p + "state"] <- g.get_state()
                  member _.Restore(snap, p) = g.set_state(tensorOf snap (p + "state") "generator state") })

    /// TorchSharp's default CPU generator (used by torch.randn, dropout, weight initialisation...).
    member s.AddTorchDefault() = s.AddGenerator("torch", torch.Generator.Default)

    /// A JSON-serialisable value read and written through a getter and a setter.
    member s.AddValue<'T>(name: string, get: Func<'T>, set: Action<'T>) =
        s.Add(name,
              { new IStateful with
                  member _.Capture(snap, p) = snap.Values.[p + "value"] <- Json.toNode (get.Invoke())
                  member _.Restore(snap, p) = set.Invoke(Json.ofNode<'T> (p + "value") (valueOf snap (p + "value"))) })

    member _.Capture(snap: Snapshot) = for (n, part) in parts do part.Capture(snap, n + "/")
    member _.Restore(snap: Snapshot) = for (n, part) in parts do part.Restore(snap, n + "/")

and internal OptimizerState =
    static member stateful(opt: OptimizerHelper) : IStateful =
        let keyed (snap: Snapshot) (key: string) = match snap.Tensors.TryGetValue key with | true, t -> Some t | _ -> None
        // the restored buffer (a copy owned by the optimizer), or the current one when the checkpoint has none
        let restored (current: torch.Tensor) (v: torch.Tensor option) =
            match v with
            | Some t ->
                let copy = t.clone().detach().DetachFromDisposeScope()
                let copy = if isNull current then copy else copy.``to``(current.device)
                if not (isNull current) then current.Dispose()
                copy
            | None -> current
        // The optimized parameters in parameter-group order. Their gradient buffers belong to the state: zero_grad
        // zeroes a buffer in place and keeps it, and step updates every parameter that has a buffer (with a zero
        // gradient, through its moments) and skips one that has none. A parameter has a buffer from its first
        // backward pass on, so a process that restored only weights and moments would skip the parameters that
        // the first steps after a resume leave out of the graph (a D²NN node no example reached), where the
        // uninterrupted process updates them.
        let parameters () : Parameter[] = Array.ofSeq (opt.parameters ())
        let gradKey (p: string) (i: int) = sprintf "%sgrad/%d" p i
        { new IStateful with
            member _.Capture(snap, p) =
                let present = JsonArray()
                parameters () |> Array.iteri (fun i prm ->
                    let g = prm.grad
                    if isNull g then present.Add(JsonValue.Create false)
                    else
                        snap.Tensors.[gradKey p i] <- g
                        present.Add(JsonValue.Create true))
                snap.Values.[p + "grads"] <- present
                let sd = opt.state_dict ()
                let groups = JsonArray()
                for o in sd.Options do
                    let g = JsonObject()
                    g.["lr"] <- JsonValue.Create(o.LearningRate.Value)
                    g.["initial_lr"] <- JsonValue.Create(o.InitialLearningRate)
                    groups.Add(g)
                snap.Values.[p + "groups"] <- groups
                let steps = JsonArray()
                sd.State |> Seq.iteri (fun i st ->
                    let put (field: string) (t: torch.Tensor) = if not (isNull t) then snap.Tensors.[sprintf "%s%d/%s" p i field] <- t
                    match st with
                    | :? SGD.State as x -> put "momentum_buffer" x.momentum_buffer; steps.Add(JsonValue.Create 0L)
                    | :? Adam.State as x ->
                        put "exp_avg" x.exp_avg; put "exp_avg_sq" x.exp_avg_sq; put "max_exp_avg_sq" x.max_exp_avg_sq
                        steps.Add(JsonValue.Create x.step)
                    | :? RMSProp.State as x ->
                        put "square_avg" x.square_avg; put "grad_avg" x.grad_avg; put "momentum_buffer" x.momentum_buffer
                        steps.Add(JsonValue.Create x.step)
                    | other -> Errors.fail "cannot checkpoint optimizer state of type %s (SGD, Adam and RMSprop are supported)" (other.GetType().Name))
                snap.Values.[p + "steps"] <- steps
            member _.Restore(snap, p) =
                let sd = opt.state_dict ()
                let groups = match snap.Values.[p + "groups"] with :? JsonArray as a -> a | _ -> Errors.fail "the checkpoint has no optimizer groups for %s" p
                if groups.Count <> sd.Options.Count then Errors.fail "the checkpoint's optimizer %s has %d parameter groups, this one %d" p groups.Count sd.Options.Count
                let pgs = Array.ofSeq opt.ParamGroups
                for i in 0 .. groups.Count - 1 do
                    pgs.[i].LearningRate <- groups.[i].["lr"].GetValue<float>()
                    pgs.[i].InitialLearningRate <- groups.[i].["initial_lr"].GetValue<float>()
                let steps = match snap.Values.[p + "steps"] with :? JsonArray as a -> a | _ -> Errors.fail "the checkpoint has no optimizer steps for %s" p
                if steps.Count <> sd.State.Count then Errors.fail "the checkpoint's optimizer %s has state for %d parameters, this one %d" p steps.Count sd.State.Count
                sd.State |> Seq.iteri (fun i st ->
                    let get (field: string) = keyed snap (sprintf "%s%d/%s" p i field)
                    match st with
                    | :? SGD.State as x -> x.momentum_buffer <- restored x.momentum_buffer (get "momentum_buffer")
                    | :? Adam.State as x ->
                        x.exp_avg <- restored x.exp_avg (get "exp_avg")
                        x.exp_avg_sq <- restored x.exp_avg_sq (get "exp_avg_sq")
                        x.max_exp_avg_sq <- restored x.max_exp_avg_sq (get "max_exp_avg_sq")
                        x.step <- steps.[i].GetValue<int64>()
                    | :? RMSProp.State as x ->
                        x.square_avg <- restored x.square_avg (get "square_avg")
                        x.grad_avg <- restored x.grad_avg (get "grad_avg")
                        x.momentum_buffer <- restored x.momentum_buffer (get "momentum_buffer")
                        x.step <- steps.[i].GetValue<int64>()
                    | other -> Errors.fail "cannot restore optimizer state of type %s" (other.GetType().Name))
                // a checkpoint without "grads" (written before gradient buffers were saved) leaves them as they are
                if snap.Values.ContainsKey(p + "grads") then
                    let present = match snap.Values.[p + "grads"] with :? JsonArray as a -> a | _ -> Errors.fail "the checkpoint's gradient list for %s is not an array" p
                    let ps = parameters ()
                    if present.Count <> ps.Length then
                        Errors.fail "the checkpoint's optimizer %s has gradients for %d parameters, this one %d" p present.Count ps.Length
                    use _ng = torch.no_grad ()
                    ps |> Array.iteri (fun i prm ->
                        let has =
                            match present.[i] with
                            | :? JsonValue as v when v.GetValueKind() = Text.Json.JsonValueKind.True -> true
                            | :? JsonValue as v when v.GetValueKind() = Text.Json.JsonValueKind.False -> false
                            | _ -> Errors.fail "the checkpoint's gradient list for %s holds something other than true/false" p
                        if has then
                            match keyed snap (gradKey p i) with
                            | Some t when t.shape = prm.shape ->
                                // the parameter keeps its own reference to the copy; the scope releases these handles
                                use _ = torch.NewDisposeScope()
                                prm.grad <- t.detach().clone().``to``(prm.device)
                            | Some _ -> Errors.fail "the checkpoint's %s has another shape than its parameter" (gradKey p i)
                            | None -> Errors.fail "the checkpoint has no %s: it was written by other code or for another configuration" (gradKey p i)
                        else prm.grad <- null) }
