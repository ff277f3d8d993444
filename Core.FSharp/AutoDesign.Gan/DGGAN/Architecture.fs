namespace AutoDesign.DGGAN

open System.Collections.Generic
open AutoDesign.Runs
open AutoDesign.Nn.DGGAN
open AutoDesign.Metrics

/// A growth action (thesis §5.3.1.2).
type GrowStep =
    | GrowG of Kernel: int * Filters: int
    | GrowD of Kernel: int * Filters: int
    | Upscale

    /// A generator layer of `kernel` × `kernel` with `filters` filters (the factory for C#).
    static member GrowGenerator(kernel: int, filters: int) = GrowG(kernel, filters)
    /// A discriminator layer (the factory for C#).
    static member GrowDiscriminator(kernel: int, filters: int) = GrowD(kernel, filters)

/// An architecture is a value: the base configuration plus the sequence of actions applied to it (in order;
/// compared by value).
type Architecture = { Config: GanConfig; Steps: IReadOnlyList<GrowStep> }

module GrowStep =
    /// The model-side action (GrowAction) of a step.
    [<CompiledName("ToModel")>]
    let toModel (s: GrowStep) =
        match s with
        | GrowG(k, f) -> GrowAction(GrowKind.G, k, f)
        | GrowD(k, f) -> GrowAction(GrowKind.D, k, f)
        | Upscale -> GrowAction.Upscale

    /// "G,3,32" / "D,7,16" / "Up" — the form used in state files, CSVs and plots.
    [<CompiledName("Format")>]
    let format (s: GrowStep) =
        match s with
        | GrowG(k, f) -> sprintf "G,%d,%d" k f
        | GrowD(k, f) -> sprintf "D,%d,%d" k f
        | Upscale -> "Up"

    [<CompiledName("Parse")>]
    let parse (text: string) =
        match text.Trim().Split(',') |> Array.map (fun p -> p.Trim()) with
        | [| "Up" |] -> Upscale
        | [| side; k; f |] when side = "G" || side = "D" ->
            match System.Int32.TryParse k, System.Int32.TryParse f with
            | (true, k), (true, f) when k > 0 && k % 2 = 1 && f > 0 -> if side = "G" then GrowG(k, f) else GrowD(k, f)
            | _ -> Errors.fail "malformed growth action '%s' (kernel must be odd, filters positive)" text
        | _ -> Errors.fail "malformed growth action '%s' (expected G,k,f or D,k,f or Up)" text

    /// The action set: G and D convs over kernels × filters, plus Upscale.
    [<CompiledName("All")>]
    let all (kernels: seq<int>) (filters: seq<int>) : IReadOnlyList<GrowStep> =
        [ for k in kernels do
              for f in filters do
                  yield GrowG(k, f)
          for k in kernels do
              for f in filters do
                  yield GrowD(k, f)
          yield Upscale ]
        :> IReadOnlyList<_>

module Architecture =
    /// The base architecture of a configuration (no actions).
    [<CompiledName("Initial")>]
    let initial (cfg: GanConfig) = { Config = cfg; Steps = ([]: GrowStep list) :> IReadOnlyList<_> }

    /// The architecture with one more action.
    [<CompiledName("Grow")>]
    let grow (a: Architecture) (s: GrowStep) = { a with Steps = (List.ofSeq a.Steps @ [ s ]) :> IReadOnlyList<_> }

    /// The layer layout of G and D.
    [<CompiledName("Layout")>]
    let layout (a: Architecture) = GanLayout(a.Config, a.Steps |> Seq.map GrowStep.toModel |> ResizeArray)

    /// Output resolution: the base resolution doubled per upscale.
    [<CompiledName("Resolution")>]
    let resolution (a: Architecture) = a.Config.BaseResolution * pown 2 (a.Steps |> Seq.filter ((=) Upscale) |> Seq.length)

    /// Parameter count of the generator (without fade-in layers).
    [<CompiledName("GParams")>]
    let gParams (a: Architecture) = (layout a).GParams(false)

    /// Parameter count of the discriminator (without fade-in layers).
    [<CompiledName("DParams")>]
    let dParams (a: Architecture) = (layout a).DParams(false)

    /// The actions as text ("base" for none).
    [<CompiledName("Describe")>]
    let describe (a: Architecture) = if a.Steps.Count = 0 then "base" else a.Steps |> Seq.map GrowStep.format |> String.concat " "

    /// Whether the last action is an upscale.
    [<CompiledName("LastIsUpscale")>]
    let lastIsUpscale (a: Architecture) = a.Steps.Count > 0 && a.Steps.[a.Steps.Count - 1] = Upscale

    /// ProgGAN's fixed symmetric schedule in this action space: at every resolution grow G and D by the same
    /// 3×3 conv of the base width, then upscale both; ends at `finalRes` after its G/D pair.
    [<CompiledName("ProgGanSchedule")>]
    let progGanSchedule (cfg: GanConfig) (finalRes: int) : IReadOnlyList<GrowStep> =
        let c = cfg.BaseChannels

        let rec go res acc =
            let acc = acc @ [ GrowG(3, c); GrowD(3, c) ]
            if res >= finalRes then acc else go (res * 2) (acc @ [ Upscale ])

        go cfg.BaseResolution [] :> IReadOnlyList<_>
