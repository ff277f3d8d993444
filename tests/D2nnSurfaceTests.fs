/// The D²NN library as C# sees it: PascalCase compiled names, no F# collections, options or functions in
/// public signatures (but the F# layer notation `Layers`), and a C# sample that builds, trains and evaluates.
module AutoDesign.Tests.D2nnSurfaceTests

open System
open System.IO
open System.Reflection
open Expecto

/// Whether `t` is or contains an F#-only type (list, option, function, result, F# map or set).
let rec private fsharpOnly (t: Type) =
    if t.IsArray then fsharpOnly (t.GetElementType())
    elif t.IsGenericType then
        let ns = t.GetGenericTypeDefinition().Namespace
        ns = "Microsoft.FSharp.Core" || ns = "Microsoft.FSharp.Collections" || (t.GetGenericArguments() |> Array.exists fsharpOnly)
    else (t.Namespace = "Microsoft.FSharp.Core" && t.Name <> "Unit") || t.Namespace = "Microsoft.FSharp.Collections"

/// Public members of the D²NN library that do not read as C#.
let surfaceProblems (asm: Assembly) =
    let flags = BindingFlags.Public ||| BindingFlags.Instance ||| BindingFlags.Static ||| BindingFlags.DeclaredOnly
    [ for t in asm.GetExportedTypes() do
        // the F# layer notation (lists joined with @) is documented as F#-only
        let layers = t.Name = "Layers"
        for m in t.GetMethods(flags) do
            let accessor = [ "get_"; "set_"; "op_"; "add_"; "remove_" ] |> List.exists m.Name.StartsWith
            if not m.IsSpecialName && not accessor && not (List.contains m.Name [ "Equals"; "GetHashCode"; "CompareTo"; "ToString" ]) then
                if Char.IsLower m.Name[0] then yield sprintf "%s.%s: lower-case name" t.Name m.Name
                for p in m.GetParameters() do
                    if p.Name.Contains "'" then yield sprintf "%s.%s: parameter %s" t.Name m.Name p.Name
                    if fsharpOnly p.ParameterType then yield sprintf "%s.%s: parameter %s is %s" t.Name m.Name p.Name p.ParameterType.Name
                if fsharpOnly m.ReturnType && not layers then yield sprintf "%s.%s returns %s" t.Name m.Name m.ReturnType.Name
        for p in t.GetProperties(flags) do
            if fsharpOnly p.PropertyType then yield sprintf "%s.%s is %s" t.Name p.Name p.PropertyType.Name ]

[<Tests>]
let tests =
    testSequenced <| testList "d2nn.surface" [
        test "the public surface reads as C#" {
            Expect.equal (surfaceProblems typeof<AutoDesign.D2NN.GraphBuilder>.Assembly) [] "no F#-only types, lower-case names or primed parameters"
        }
    ]
