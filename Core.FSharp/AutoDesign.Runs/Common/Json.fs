namespace AutoDesign.Runs

open System
open System.Text.Json
open System.Text.Json.Nodes
open System.Text.Json.Serialization

/// JSON for configs, results and checkpoint state: System.Text.Json with F# records, unions (a case
/// name, or { "Case": { fields } }) and options (null or the value); NaN and infinities as strings.
module internal Json =
    let options =
        let o = JsonSerializerOptions(WriteIndented = true)
        o.NumberHandling <- JsonNumberHandling.AllowNamedFloatingPointLiterals

        o.Converters.Add(
            JsonFSharpConverter(
                JsonUnionEncoding.ExternalTag
                ||| JsonUnionEncoding.NamedFields
                ||| JsonUnionEncoding.UnwrapFieldlessTags
                ||| JsonUnionEncoding.UnwrapOption
            )
        )

        o

    [<CompiledName("Serialize")>]
    let serialize (value: 'T) : string = JsonSerializer.Serialize(value, options)

    [<CompiledName("ToNode")>]
    let toNode (value: 'T) : JsonNode = JsonSerializer.SerializeToNode(value, options)

    /// Parse JSON text; a malformed text raises UserError naming `what`.
    [<CompiledName("Parse")>]
    let parse (what: string) (text: string) : JsonNode =
        if String.IsNullOrWhiteSpace text then Errors.fail "%s is empty" what

        try
            let n = JsonNode.Parse(text)
            if isNull n then Errors.fail "%s holds JSON null where data was expected" what
            n
        with :? JsonException as e ->
            Errors.fail "%s is not valid JSON: %s" what e.Message

    /// A typed value from a node; a node of the wrong shape raises UserError naming `what`.
    [<CompiledName("OfNode")>]
    let ofNode<'T> (what: string) (node: JsonNode) : 'T =
        if isNull node then Errors.fail "%s holds null (or lacks the value) where data was expected" what

        let short (m: string) =
            Text.RegularExpressions.Regex.Replace(m, @", [A-Za-z0-9_.]+, Version=[0-9.]+, Culture=[A-Za-z]+, PublicKeyToken=[0-9a-fA-Fnul]+", "")

        let fail (e: exn) = Errors.fail "%s does not hold the expected data: %s" what (short e.Message)

        try
            let v = node.Deserialize<'T>(options)
            if isNull (box v) then Errors.fail "%s holds null where data was expected" what
            v
        with
        | :? JsonException as e -> fail e
        | :? InvalidOperationException as e -> fail e
        | :? FormatException as e -> fail e
        | :? NotSupportedException as e -> fail e
        | :? ArgumentException as e -> fail e
        | :? OverflowException as e -> fail e

    /// Parse the JSON file at `path` (a regular file of at most SafeFiles.MaxJsonBytes bytes).
    [<CompiledName("ReadFile")>]
    let readFile (path: string) : JsonNode = parse path (SafeFiles.readText SafeFiles.MaxJsonBytes path)

    /// What a node is, for messages: "a string", "an array", "null"...
    [<CompiledName("KindOf")>]
    let kindOf (n: JsonNode) =
        if isNull n then
            "null"
        else
            match n.GetValueKind() with
            | JsonValueKind.Object -> "an object"
            | JsonValueKind.Array -> "an array"
            | JsonValueKind.String -> "a string"
            | JsonValueKind.Number -> "a number"
            | JsonValueKind.True
            | JsonValueKind.False -> "a boolean"
            | _ -> "null"

    let private where (field: string) = if field = "" then "the top level" else sprintf "field '%s'" field

    let private wrong (file: string) (field: string) (expected: string) (n: JsonNode) : 'T =
        Errors.fail "%s: %s must be %s, not %s" file (where field) expected (kindOf n)

    /// The object at `n` (a UserError naming `file` and `field` otherwise).
    [<CompiledName("Object")>]
    let object (file: string) (field: string) (n: JsonNode) : JsonObject =
        match n with
        | :? JsonObject as o -> o
        | _ -> wrong file field "an object" n

    /// The array at `n`.
    [<CompiledName("Array")>]
    let array (file: string) (field: string) (n: JsonNode) : JsonArray =
        match n with
        | :? JsonArray as a -> a
        | _ -> wrong file field "an array" n

    /// The member `name` of the object at `n` (the member must exist).
    [<CompiledName("Member")>]
    let memberOf (file: string) (field: string) (name: string) (n: JsonNode) : JsonNode =
        let o = object file field n
        if not (o.ContainsKey name) then Errors.fail "%s: %s has no field '%s'" file (where field) name
        o.[name]

    /// A number value as a JsonElement (values built in memory hold a .NET number, not an element).
    let private element (v: JsonValue) : JsonElement option =
        match v.TryGetValue<JsonElement>() with
        | true, e -> Some e
        | _ ->
            try
                Some(JsonDocument.Parse(v.ToJsonString()).RootElement)
            with _ ->
                None

    /// The number at `n`; NaN and infinities are accepted as the strings "NaN", "Infinity", "-Infinity".
    [<CompiledName("Number")>]
    let number (file: string) (field: string) (n: JsonNode) : float =
        match n with
        | :? JsonValue as v when v.GetValueKind() = JsonValueKind.Number ->
            match element v with
            | Some e when e.ValueKind = JsonValueKind.Number -> e.GetDouble()
            | _ -> wrong file field "a number" n
        | :? JsonValue as v when v.GetValueKind() = JsonValueKind.String ->
            match v.GetValue<string>() with
            | "NaN" -> nan
            | "Infinity" -> infinity
            | "-Infinity" -> -infinity
            | _ -> wrong file field "a number" n
        | _ -> wrong file field "a number" n

    /// The whole number at `n` (within Int64).
    [<CompiledName("Integer")>]
    let integer (file: string) (field: string) (n: JsonNode) : int64 =
        match n with
        | :? JsonValue as v when v.GetValueKind() = JsonValueKind.Number ->
            match element v with
            | Some e when e.ValueKind = JsonValueKind.Number ->
                match e.TryGetInt64() with
                | true, i -> i
                | _ -> wrong file field "a whole number" n
            | _ -> wrong file field "a whole number" n
        | _ -> wrong file field "a whole number" n

    /// The string at `n`.
    [<CompiledName("String")>]
    let str (file: string) (field: string) (n: JsonNode) : string =
        match n with
        | :? JsonValue as v when v.GetValueKind() = JsonValueKind.String -> v.GetValue<string>()
        | _ -> wrong file field "a string" n

    let private text (n: JsonNode) = if isNull n then "null" else n.ToJsonString()

    /// Where two JSON values differ, as "path: a vs b" lines (object members and array elements, recursively).
    [<CompiledName("Differences")>]
    let differences (a: JsonNode) (b: JsonNode) : string list =
        let rec go (path: string) (a: JsonNode) (b: JsonNode) : string list =
            match a, b with
            | (:? JsonObject as x), (:? JsonObject as y) ->
                let keys = Seq.append (x |> Seq.map (fun kv -> kv.Key)) (y |> Seq.map (fun kv -> kv.Key)) |> Seq.distinct |> List.ofSeq

                [ for k in keys do
                      let p = if path = "" then k else path + "." + k
                      let xa = if x.ContainsKey k then x.[k] else null
                      let yb = if y.ContainsKey k then y.[k] else null
                      yield! go p xa yb ]
            | (:? JsonArray as x), (:? JsonArray as y) when x.Count = y.Count ->
                [ for i in 0 .. x.Count - 1 do
                      yield! go (sprintf "%s[%d]" path i) x.[i] y.[i] ]
            | _ ->
                if JsonNode.DeepEquals(a, b) then
                    []
                else
                    [ sprintf "%s: %s vs %s" (if path = "" then "(value)" else path) (text a) (text b) ]

        go "" a b
