namespace AutoDesign.Runs

open System
open System.Text.Json.Nodes
open TorchSharp
open TorchSharp.Modules

/// An optimizer as a checkpoint component: every parameter group's learning rates ("<p>groups"), the
/// step counts ("<p>steps"), which buffers each parameter has ("<p>buffers") and the buffers themselves
/// (tensors "<p><i>/<field>", the dtype and shape of parameter i), and which parameters hold a gradient
/// buffer ("<p>grads") with its contents (tensors "<p>grad/<i>"). SGD, Adam and RMSprop are supported.
///
/// Gradient buffers belong to the state: zero_grad zeroes a buffer in place and keeps it, and step updates
/// every parameter that has a buffer (with a zero gradient, through its moments) and skips one that has
/// none. A parameter has a buffer from its first backward pass on, so a process that restored only weights
/// and moments would skip the parameters the first steps after a resume leave out of the graph (a D²NN node
/// no example reached), where the uninterrupted process updates them.
module internal OptimizerState =
    /// The buffer fields of a parameter's state, in a fixed order.
    let private fieldsOf (st: obj) =
        match st with
        | :? SGD.State -> [ "momentum_buffer" ]
        | :? Adam.State -> [ "exp_avg"; "exp_avg_sq"; "max_exp_avg_sq" ]
        | :? RMSProp.State -> [ "square_avg"; "grad_avg"; "momentum_buffer" ]
        | other -> Errors.fail "cannot checkpoint optimizer state of type %s (SGD, Adam and RMSprop are supported)" (other.GetType().Name)

    let private buffer (st: obj) (field: string) : torch.Tensor =
        match st, field with
        | (:? SGD.State as x), "momentum_buffer" -> x.momentum_buffer
        | (:? Adam.State as x), "exp_avg" -> x.exp_avg
        | (:? Adam.State as x), "exp_avg_sq" -> x.exp_avg_sq
        | (:? Adam.State as x), "max_exp_avg_sq" -> x.max_exp_avg_sq
        | (:? RMSProp.State as x), "square_avg" -> x.square_avg
        | (:? RMSProp.State as x), "grad_avg" -> x.grad_avg
        | (:? RMSProp.State as x), "momentum_buffer" -> x.momentum_buffer
        | _ -> null

    let private setBuffer (st: obj) (field: string) (v: torch.Tensor) =
        match st, field with
        | (:? SGD.State as x), "momentum_buffer" -> x.momentum_buffer <- v
        | (:? Adam.State as x), "exp_avg" -> x.exp_avg <- v
        | (:? Adam.State as x), "exp_avg_sq" -> x.exp_avg_sq <- v
        | (:? Adam.State as x), "max_exp_avg_sq" -> x.max_exp_avg_sq <- v
        | (:? RMSProp.State as x), "square_avg" -> x.square_avg <- v
        | (:? RMSProp.State as x), "grad_avg" -> x.grad_avg <- v
        | (:? RMSProp.State as x), "momentum_buffer" -> x.momentum_buffer <- v
        | _ -> ()

    let private setStep (st: obj) (step: int64) =
        match st with
        | :? Adam.State as x -> x.step <- step
        | :? RMSProp.State as x -> x.step <- step
        | _ -> ()

    let private stepOf (st: obj) =
        match st with
        | :? Adam.State as x -> x.step
        | :? RMSProp.State as x -> x.step
        | _ -> 0L

    let private key (p: string) (i: int) (field: string) = sprintf "%s%d/%s" p i field
    let private gradKey (p: string) (i: int) = sprintf "%sgrad/%d" p i

    /// The optimized parameters, in parameter-group order.
    let private parameters (opt: OptimizerHelper) : Parameter[] = Array.ofSeq (opt.parameters ())

    /// Which parameters hold a gradient buffer in `snap` ("<p>grads", one boolean per parameter).
    let private gradsDeclared (snap: Snapshot) (p: string) (file: string) (count: int) : bool[] =
        let name = p + "grads"
        let a = Json.array file name (Json.memberOf file "" name snap.Values)
        if a.Count <> count then Errors.fail "%s: field '%s' lists %d parameters, the optimizer has %d" file name a.Count count

        [| for i in 0 .. count - 1 ->
               match a.[i] with
               | :? JsonValue as v when v.GetValueKind() = Text.Json.JsonValueKind.True -> true
               | :? JsonValue as v when v.GetValueKind() = Text.Json.JsonValueKind.False -> false
               | n -> Errors.fail "%s: field '%s[%d]' must be true or false, not %s" file name i (Json.kindOf n) |]

    /// The buffers each parameter has in `snap` (checked against the state types), from "<p>buffers", or
    /// for a checkpoint written without that list, from the tensors present.
    let private declared (snap: Snapshot) (p: string) (file: string) (states: obj[]) : (int * string) list =
        let name = p + "buffers"

        if snap.Values.ContainsKey name then
            let a = Json.array file name snap.Values.[name]

            if a.Count <> states.Length then
                Errors.fail "%s: field '%s' lists %d parameters, the optimizer has %d" file name a.Count states.Length

            [ for i in 0 .. states.Length - 1 do
                  let here = sprintf "%s[%d]" name i
                  let fields = Json.array file here a.[i] |> Seq.map (Json.str file here) |> List.ofSeq
                  let allowed = fieldsOf states.[i]

                  for f in fields do
                      if not (List.contains f allowed) then
                          Errors.fail "%s: field '%s' names buffer '%s'; %s has %s" file here f (states.[i].GetType().FullName) (String.Join(", ", allowed))

                  if List.length (List.distinct fields) <> fields.Length then Errors.fail "%s: field '%s' names a buffer twice" file here
                  for f in fields -> i, f ]
        else
            [ for i in 0 .. states.Length - 1 do
                  for f in fieldsOf states.[i] do
                      if snap.Tensors.ContainsKey(key p i f) then yield i, f ]

    let private checkValues (snap: Snapshot) (p: string) (file: string) (opt: OptimizerHelper) (states: obj[]) =
        let sd = opt.state_dict ()
        let groups = Json.array file (p + "groups") (Json.memberOf file "" (p + "groups") snap.Values)

        if groups.Count <> sd.Options.Count then
            Errors.fail "%s: field '%sgroups' has %d parameter groups, this run's optimizer %d" file p groups.Count sd.Options.Count

        for i in 0 .. groups.Count - 1 do
            for f in [ "lr"; "initial_lr" ] do
                let here = sprintf "%sgroups[%d].%s" p i f
                let v = Json.number file here (Json.memberOf file (sprintf "%sgroups[%d]" p i) f groups.[i])

                if not (Double.IsFinite v) || v < 0.0 then
                    Errors.fail "%s: field '%s' is %g; a learning rate is a finite number >= 0" file here v

        let steps = Json.array file (p + "steps") (Json.memberOf file "" (p + "steps") snap.Values)

        if steps.Count <> states.Length then
            Errors.fail "%s: field '%ssteps' has state for %d parameters, this run's optimizer %d" file p steps.Count states.Length

        for i in 0 .. steps.Count - 1 do
            let here = sprintf "%ssteps[%d]" p i
            if Json.integer file here steps.[i] < 0L then Errors.fail "%s: field '%s' is negative" file here

    let private states (opt: OptimizerHelper) = opt.state_dict().State |> Seq.map box |> Array.ofSeq

    /// The parameter a state belongs to (TorchSharp keeps it in a protected field).
    let private parameterField =
        typeof<TorchSharp.Modules.OptimizerState>.GetField("_parameter", Reflection.BindingFlags.NonPublic ||| Reflection.BindingFlags.Instance)

    let private parameterOf (st: obj) : torch.Tensor =
        match (if isNull parameterField then null else parameterField.GetValue st) with
        | :? torch.Tensor as t -> t
        | _ -> invalidOp (sprintf "cannot read the parameter of optimizer state %s" (st.GetType().FullName))

    /// The optimizer `opt` as a checkpoint component.
    let stateful (opt: OptimizerHelper) : IStateful =
        { new IStateful with
            member _.Capture(snap, p) =
                let sd = opt.state_dict ()
                let groups = JsonArray()

                for o in sd.Options do
                    let g = JsonObject()
                    g.["lr"] <- JsonValue.Create(o.LearningRate.Value)
                    g.["initial_lr"] <- JsonValue.Create(o.InitialLearningRate)
                    groups.Add(g)

                snap.Values.[p + "groups"] <- groups
                let steps = JsonArray()
                let buffers = JsonArray()

                states opt
                |> Array.iteri (fun i st ->
                    let present = JsonArray()

                    for f in fieldsOf st do
                        let t = buffer st f

                        if not (isNull t) then
                            snap.Tensors.[key p i f] <- t
                            present.Add(JsonValue.Create f)

                    buffers.Add present
                    steps.Add(JsonValue.Create(stepOf st)))

                snap.Values.[p + "steps"] <- steps
                snap.Values.[p + "buffers"] <- buffers
                let grads = JsonArray()

                parameters opt
                |> Array.iteri (fun i prm ->
                    let g = prm.grad
                    if not (isNull g) then snap.Tensors.[gradKey p i] <- g
                    grads.Add(JsonValue.Create(not (isNull g))))

                snap.Values.[p + "grads"] <- grads

            member _.Restore(snap, p) =
                let sts = states opt
                let pgs = Array.ofSeq opt.ParamGroups
                let groups = Json.array "" (p + "groups") snap.Values.[p + "groups"]

                for i in 0 .. groups.Count - 1 do
                    pgs.[i].LearningRate <- Json.number "" "lr" groups.[i].["lr"]
                    pgs.[i].InitialLearningRate <- Json.number "" "initial_lr" groups.[i].["initial_lr"]

                let steps = Json.array "" (p + "steps") snap.Values.[p + "steps"]
                let have = declared snap p "" sts |> Set.ofList

                sts
                |> Array.iteri (fun i st ->
                    for f in fieldsOf st do
                        let current = buffer st f

                        if have.Contains((i, f)) then
                            let copy = snap.Tensors.[key p i f].clone().detach().DetachFromDisposeScope()
                            let copy = if isNull current then copy else copy.``to`` (current.device)
                            if not (isNull current) then current.Dispose()
                            setBuffer st f copy

                    setStep st (Json.integer "" "steps" steps.[i]))

                let ps = parameters opt
                let has = gradsDeclared snap p "" ps.Length
                use _ng = torch.no_grad ()

                ps
                |> Array.iteri (fun i prm ->
                    if has.[i] then
                        // the parameter keeps its own reference to the copy; the scope releases these handles
                        use _ = torch.NewDisposeScope()
                        prm.grad <- snap.Tensors.[gradKey p i].detach().clone().``to``(prm.device)
                    else
                        prm.grad <- null)
          interface ISnapshotCheck with
              member _.Expect(snap, p, file, expected) =
                  let sts = states opt
                  checkValues snap p file opt sts
                  // buffers this optimizer has now (created with it) are in `expected` already: a buffer once
                  // created stays, so every checkpoint holds them too; those created by steps are declared
                  for (i, f) in declared snap p file sts do
                      expected.[key p i f] <- TensorSpec.Of(parameterOf sts.[i])
                  // gradient buffers: those the checkpoint declares, whatever this process holds now
                  let ps = parameters opt

                  gradsDeclared snap p file ps.Length
                  |> Array.iteri (fun i has -> if has then expected.[gradKey p i] <- TensorSpec.Of(ps.[i]) else expected.Remove(gradKey p i) |> ignore) }
