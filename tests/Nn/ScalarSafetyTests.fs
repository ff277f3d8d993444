/// Guards against TorchSharp's temporary-Scalar race (see AutoDesign.Nn.SafeSGD): scans the
/// IL of AutoDesign's assemblies for calls that make a finalizable Scalar nobody keeps alive across the
/// native call that reads it: implicit number→Scalar conversions, TorchSharp methods that make such a
/// Scalar inside (directly or through other TorchSharp methods, e.g. `a + b` makes alpha = 1), and
/// optimizers or modules whose overridden step/forward does so.
module AutoDesign.Tests.ScalarSafetyTests

open System
open System.Collections.Generic
open System.Reflection
open Expecto

let private opSize =
    let d = Dictionary<int, int>()

    for f in typeof<Emit.OpCodes>.GetFields() do
        let op = f.GetValue(null) :?> Emit.OpCode

        let size =
            match op.OperandType with
            | Emit.OperandType.InlineNone -> 0
            | Emit.OperandType.ShortInlineBrTarget
            | Emit.OperandType.ShortInlineI
            | Emit.OperandType.ShortInlineVar -> 1
            | Emit.OperandType.InlineVar -> 2
            | Emit.OperandType.InlineI8
            | Emit.OperandType.InlineR -> 8
            | Emit.OperandType.InlineSwitch -> -1
            | _ -> 4

        d.[int (uint16 op.Value)] <- size

    d

/// (opcode, callee) of every call, callvirt, newobj, ldftn and ldvirtftn in a method body.
let callees (m: MethodBase) : (int * MethodBase) list =
    let body =
        try
            m.GetMethodBody()
        with _ ->
            null

    if isNull body then
        []
    else
        let il = body.GetILAsByteArray()
        let res = ResizeArray()
        let mutable i = 0

        while i < il.Length do
            let b = int il.[i]
            let code, start = if b = 0xFE then (0xFE00 ||| int il.[i + 1]), i + 2 else b, i + 1
            let size = opSize.[code]

            if code = 0x28 || code = 0x6F || code = 0x73 || code = 0xFE06 || code = 0xFE07 then
                let token = BitConverter.ToInt32(il, start)

                try
                    let ga =
                        if not (isNull m.DeclaringType) && m.DeclaringType.IsGenericType then m.DeclaringType.GetGenericArguments() else null

                    let ma = if m.IsGenericMethod then m.GetGenericArguments() else null
                    res.Add((code, m.Module.ResolveMethod(token, ga, ma)))
                with _ ->
                    ()

            i <- if size = -1 then start + 4 + 4 * BitConverter.ToInt32(il, start) else start + size

        List.ofSeq res

let private flags =
    BindingFlags.Public
    ||| BindingFlags.NonPublic
    ||| BindingFlags.Instance
    ||| BindingFlags.Static
    ||| BindingFlags.DeclaredOnly

let methodsOf (a: Assembly) =
    let types =
        try
            a.GetTypes()
        with :? ReflectionTypeLoadException as e ->
            e.Types |> Array.filter (isNull >> not)

    [ for t in types do
          yield! t.GetMethods(flags) |> Seq.cast<MethodBase>
          yield! t.GetConstructors(flags) |> Seq.cast<MethodBase> ]

let private isScalar (t: Type) = t = typeof<TorchSharp.Scalar>

let private makesScalar (c: MethodBase) =
    (isScalar c.DeclaringType && c.Name = "op_Implicit")
    || (not (isNull c.DeclaringType) && c.DeclaringType.Name = "ScalarExtensionMethods" && c.Name = "ToScalar")
    || (not (isNull c.DeclaringType) && c.DeclaringType.Name = "TensorExtensionMethods" && c.Name = "ToScalar")

/// Scalar.Dispose, or IDisposable.Dispose as `use`/`using` compile it (a method that makes a Scalar and disposes
/// something is taken to dispose that Scalar: the scan is a guard, not a proof).
let private disposesScalar (c: MethodBase) = c.Name = "Dispose" && (isScalar c.DeclaringType || c.DeclaringType = typeof<IDisposable>)

/// TorchSharp methods that leave a temporary Scalar to the finalizer (transitively), and the TorchSharp
/// types whose overriding virtual members do.
let unsafeTorchSharp =
    lazy
        (let ts = typeof<TorchSharp.Scalar>.Assembly
         let all = methodsOf ts
         let key (m: MethodBase) = m.MetadataToken
         let calls = Dictionary<int, MethodBase list>()
         let unsafeSet = HashSet<int>()

         for m in all do
             let cs = callees m |> List.map snd
             calls.[key m] <- cs |> List.filter (fun c -> c.Module.Assembly = ts)
             if List.exists makesScalar cs && not (List.exists disposesScalar cs) then unsafeSet.Add(key m) |> ignore

         let mutable changed = true

         while changed do
             changed <- false

             for m in all do
                 if not (unsafeSet.Contains(key m)) && calls.[key m] |> List.exists (fun c -> unsafeSet.Contains(key c)) then
                     unsafeSet.Add(key m) |> ignore
                     changed <- true

         let unsafeTypes =
             all
             |> List.choose (fun m ->
                 match m with
                 | :? MethodInfo as mi when mi.IsVirtual && mi.GetBaseDefinition() <> mi && unsafeSet.Contains(key m) -> Some mi.DeclaringType
                 | _ -> None)
             |> HashSet

         ts, unsafeSet, unsafeTypes)

/// "Caller -> callee" for every unsafe call in the assembly.
let unsafeCalls (a: Assembly) : string list =
    let ts, unsafeSet, unsafeTypes = unsafeTorchSharp.Force()

    [ for m in methodsOf a do
          let cs = callees m
          // a static constructor keeps what it makes in static fields, for the life of the process
          let ownsScalars = m.Name = ".cctor" || cs |> List.exists (snd >> disposesScalar)

          for (op, c) in cs do
              let bad =
                  if makesScalar c then
                      not ownsScalars
                  elif c.Module.Assembly <> ts then
                      false
                  elif unsafeSet.Contains c.MetadataToken then
                      true
                  else
                      match c with
                      | :? ConstructorInfo as ci -> op = 0x73 && unsafeTypes.Contains ci.DeclaringType
                      | :? MethodInfo as mi -> unsafeTypes.Contains mi.ReturnType
                      | _ -> false

              if bad then yield sprintf "%s.%s -> %s.%s" m.DeclaringType.FullName m.Name c.DeclaringType.Name c.Name ]
    |> List.distinct

let ourAssemblies () =
    [ typeof<AutoDesign.Nn.SafeSGD>.Assembly
      typeof<AutoDesign.Runs.Run>.Assembly
      typeof<AutoDesign.UniLoss.UniLoss>.Assembly
      typeof<AutoDesign.D2NN.GraphBuilder>.Assembly
      typeof<AutoDesign.DGGAN.SearchSummary>.Assembly
      typeof<AutoDesign.Metrics.GaussianStats>.Assembly
      typeof<AutoDesign.Reproduce.ReportRow>.Assembly
      typeof<AutoDesign.Cli.Args.AutoDesignArgs>.Assembly ]

[<Tests>]
let tests =
    testList
        "scalar-safety"
        [ test "the scanner finds the unsafe forms it is meant to find" {
              // TorchSharp's own SGD.step and `a + b` are unsafe; SafeSGD.step is not.
              let _, unsafeSet, unsafeTypes = unsafeTorchSharp.Force()
              Expect.isTrue (unsafeTypes.Contains typeof<TorchSharp.Modules.SGD>) "TorchSharp's SGD is flagged"

              let plus =
                  typeof<TorchSharp.torch.Tensor>.GetMethod("op_Addition", [| typeof<TorchSharp.torch.Tensor>; typeof<TorchSharp.torch.Tensor> |])

              Expect.isTrue (unsafeSet.Contains plus.MetadataToken) "Tensor + Tensor is flagged (alpha = 1)"
              let safeStep = typeof<AutoDesign.Nn.SafeSGD>.GetMethods(flags) |> Array.filter (fun m -> m.Name.Contains "step")
              Expect.isNonEmpty safeStep "SafeSGD has a step"
          }
          test "no AutoDesign assembly leaves a temporary Scalar to the finalizer" {
              let found = ourAssemblies () |> List.collect unsafeCalls
              Expect.isEmpty found (sprintf "unsafe Scalar uses (use AutoDesign.Nn.ScalarOps / SafeSGD / SafeAdam):\n  %s" (String.Join("\n  ", found)))
          } ]

/// The safe optimizers take exactly TorchSharp's steps (same operations, same order): bit-identical weights.
[<Tests>]
let optimizerTests =
    let run (make: seq<TorchSharp.Modules.Parameter> -> TorchSharp.torch.optim.Optimizer) =
        // weights from a fixed array (not the global generator: tests run in parallel)
        let m = TorchSharp.torch.nn.Linear(6L, 3L)
        let init = Random 3

        using (TorchSharp.torch.no_grad ()) (fun _ ->
            for p in m.parameters () do
                p.copy_ (TorchSharp.torch.tensor(Array.init (int (p.numel ())) (fun _ -> float32 (init.NextDouble() - 0.5))).reshape(p.shape))
                |> ignore)

        let opt = make (m.parameters ())
        let rng = Random 5

        for _ in 1..25 do
            use _ = TorchSharp.torch.NewDisposeScope()
            let x = TorchSharp.torch.tensor(Array.init 24 (fun _ -> float32 (rng.NextDouble() - 0.5))).reshape(4L, 6L)
            opt.zero_grad ()
            let y = m.forward x
            (y * y).mean().backward()
            opt.step () |> ignore

        m.parameters () |> Seq.collect (fun p -> p.detach().data<float32>().ToArray()) |> Array.ofSeq

    let same name a b = test name { Expect.sequenceEqual (run a) (run b) "bit-identical weights after 25 steps" }

    testList
        "safe-optimizers"
        [ same
              "SafeSGD = SGD (momentum, dampening, weight decay)"
              (fun ps -> TorchSharp.torch.optim.SGD(ps, 0.1, momentum = 0.9, dampening = 0.1, weight_decay = 1e-3))
              (fun ps -> new AutoDesign.Nn.SafeSGD(ps, 0.1, momentum = 0.9, dampening = 0.1, weight_decay = 1e-3))
          same "SafeSGD = SGD (Nesterov)" (fun ps -> TorchSharp.torch.optim.SGD(ps, 0.1, momentum = 0.9, nesterov = true)) (fun ps ->
              new AutoDesign.Nn.SafeSGD(ps, 0.1, momentum = 0.9, nesterov = true))
          same "SafeAdam = Adam (weight decay)" (fun ps -> TorchSharp.torch.optim.Adam(ps, 0.01, beta1 = 0.5, weight_decay = 1e-3)) (fun ps ->
              new AutoDesign.Nn.SafeAdam(ps, 0.01, beta1 = 0.5, weight_decay = 1e-3))
          same "SafeAdam = Adam (amsgrad)" (fun ps -> TorchSharp.torch.optim.Adam(ps, 0.01, amsgrad = true)) (fun ps ->
              new AutoDesign.Nn.SafeAdam(ps, 0.01, amsgrad = true))
          same "SafeRMSProp = RMSProp (momentum, centered)" (fun ps -> TorchSharp.torch.optim.RMSProp(ps, 0.01, momentum = 0.5, centered = true)) (fun ps ->
              new AutoDesign.Nn.SafeRMSProp(ps, 0.01, momentum = 0.5, centered = true))
          same "SafeRMSProp = RMSProp (plain)" (fun ps -> TorchSharp.torch.optim.RMSProp(ps, 0.01)) (fun ps -> new AutoDesign.Nn.SafeRMSProp(ps, 0.01)) ]
