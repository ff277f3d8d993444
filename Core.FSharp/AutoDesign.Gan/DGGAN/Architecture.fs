namespace AutoDesign.DGGAN

open AutoDesign.Runs
open AutoDesign.Nn.DGGAN
open AutoDesign.Metrics

/// A growth action (thesis §5.3.1.2).
type GrowStep =
    | GrowG of kernel: int * filters: int
    | GrowD of kernel: int * filters: int
    | Upscale

/// An architecture is a value: the base configuration plus the sequence of actions applied to it.
type Architecture = { Config: GanConfig; Steps: GrowStep list }

module GrowStep =
    let toModel (s: GrowStep) =
        match s with
        | GrowG (k, f) -> GrowAction(GrowKind.G, k, f)
        | GrowD (k, f) -> GrowAction(GrowKind.D, k, f)
        | Upscale -> GrowAction.Upscale

    /// "G,3,32" / "D,7,16" / "Up" — the form used in state files, CSVs and plots.
    let format (s: GrowStep) =
        match s with
        | GrowG (k, f) -> sprintf "G,%d,%d" k f
        | GrowD (k, f) -> sprintf "D,%d,%d" k f
        | Upscale -> "Up"

    let parse (text: string) =
        match text.Trim().Split(',') |> Array.map (fun p -> p.Trim()) with
        | [| "Up" |] -> Upscale
        | [| side; k; f |] when side = "G" || side = "D" ->
            match System.Int32.TryParse k, System.Int32.TryParse f with
            | (true, k), (true, f) when k > 0 && k % 2 = 1 && f > 0 -> if side = "G" then GrowG(k, f) else GrowD(k, f)
            | _ -> Errors.fail "malformed growth action '%s' (kernel must be odd, filters positive)" text
        | _ -> Errors.fail "malformed growth action '%s' (expected G,k,f or D,k,f or Up)" text

    /// The action set: G and D convs over kernels × filters, plus Upscale.
    let all (kernels: int list) (filters: int list) =
        [ for k in kernels do for f in filters do yield GrowG(k, f)
          for k in kernels do for f in filters do yield GrowD(k, f)
          yield Upscale ]

module Architecture =
    let initial (cfg: GanConfig) = { Config = cfg; Steps = [] }
    let grow (a: Architecture) (s: GrowStep) = { a with Steps = a.Steps @ [ s ] }
    let layout (a: Architecture) = GanLayout(a.Config, a.Steps |> List.map GrowStep.toModel |> ResizeArray)
    let resolution (a: Architecture) = a.Config.BaseResolution * pown 2 (a.Steps |> List.filter ((=) Upscale) |> List.length)
    let gParams (a: Architecture) = (layout a).GParams(false)
    let dParams (a: Architecture) = (layout a).DParams(false)
    let describe (a: Architecture) = if a.Steps.IsEmpty then "base" else a.Steps |> List.map GrowStep.format |> String.concat " "
    let lastIsUpscale (a: Architecture) = (not a.Steps.IsEmpty) && List.last a.Steps = Upscale

    /// ProgGAN's fixed symmetric schedule in this action space: at every resolution grow G and D by the same
    /// 3×3 conv of the base width, then upscale both; ends at `finalRes` after its G/D pair.
    let progGanSchedule (cfg: GanConfig) (finalRes: int) =
        let c = cfg.BaseChannels
        let rec go res acc =
            let acc = acc @ [ GrowG(3, c); GrowD(3, c) ]
            if res >= finalRes then acc else go (res * 2) (acc @ [ Upscale ])
        go cfg.BaseResolution []
