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
                JsonUnionEncoding.ExternalTag ||| JsonUnionEncoding.NamedFields
                ||| JsonUnionEncoding.UnwrapFieldlessTags ||| JsonUnionEncoding.UnwrapOption))
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
        with :? JsonException as e -> Errors.fail "%s is not valid JSON: %s" what e.Message

    /// A typed value from a node; a node of the wrong shape raises UserError naming `what`.
    [<CompiledName("OfNode")>]
    let ofNode<'T> (what: string) (node: JsonNode) : 'T =
        if isNull node then Errors.fail "%s holds null (or lacks the value) where data was expected" what
        try
            let v = node.Deserialize<'T>(options)
            if isNull (box v) then Errors.fail "%s holds null where data was expected" what
            v
        with
        | :? JsonException as e -> Errors.fail "%s does not hold the expected data: %s" what e.Message
        | :? InvalidOperationException as e -> Errors.fail "%s does not hold the expected data: %s" what e.Message
        | :? FormatException as e -> Errors.fail "%s does not hold the expected data: %s" what e.Message

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
                [ for i in 0 .. x.Count - 1 do yield! go (sprintf "%s[%d]" path i) x.[i] y.[i] ]
            | _ ->
                if JsonNode.DeepEquals(a, b) then []
                else [ sprintf "%s: %s vs %s" (if path = "" then "(value)" else path) (text a) (text b) ]
        go "" a b
