namespace AutoDesign.Runs

open TorchSharp

/// Where tensors live. `Auto` picks CUDA when TorchSharp reports it, else CPU.
type DeviceChoice =
    | Auto
    | Cpu
    | Cuda

module Device =
    /// "auto", "cpu" or "cuda" (any case); anything else is a UserError.
    [<CompiledName("Parse")>]
    let parse (s: string) : DeviceChoice =
        match (if isNull s then "" else s.Trim().ToLowerInvariant()) with
        | "auto" -> Auto
        | "cpu" -> Cpu
        | "cuda" -> Cuda
        | other -> Errors.fail "unknown device '%s' (expected auto, cpu or cuda)" other

    [<CompiledName("Resolve")>]
    let resolve (choice: DeviceChoice) : torch.Device =
        match choice with
        | Cpu -> torch.CPU
        | Auto -> if torch.cuda.is_available () then torch.CUDA else torch.CPU
        | Cuda ->
            if torch.cuda.is_available () then
                torch.CUDA
            else
                Errors.fail "--device cuda was asked for, but TorchSharp reports no CUDA device (this build uses TorchSharp-cpu)"
