/// The C# tests (tests/CSharp): every public static method marked [CSharpTest] becomes an Expecto test.
module AutoDesign.Tests.CSharpTests

open System.Reflection
open Expecto
open AutoDesign.Tests.CSharp

[<Tests>]
let tests =
    let asm = typeof<CSharpTestAttribute>.Assembly

    testList
        "csharp"
        [ for t in asm.GetTypes() do
              for m in t.GetMethods(BindingFlags.Public ||| BindingFlags.Static) do
                  match m.GetCustomAttribute<CSharpTestAttribute>() with
                  | null -> ()
                  | a ->
                      yield
                          test (sprintf "%s: %s" t.Name a.Name) {
                              try
                                  m.Invoke(null, [||]) |> ignore
                              with :? TargetInvocationException as e when not (isNull e.InnerException) ->
                                  System.Runtime.ExceptionServices.ExceptionDispatchInfo.Capture(e.InnerException).Throw()
                          } ]
