/// Functions shared by the training subcommands: device + thread count, timestamped log lines.
module AutoDesign.Cli.Commands.Common

open System
open AutoDesign.Runs

/// Sets torch's intra-op thread count (at least 1) and resolves `--device auto|cpu|cuda`.
let resolveDevice (threads: int) (device: string) =
    if threads < 1 then Errors.fail "--threads must be at least 1"
    TorchSharp.torch.set_num_threads threads
    match Device.parse device with
    | Ok d -> Device.resolve d
    | Error e -> Errors.fail "%s" e

/// One progress line with the wall-clock time in front.
let log (line: string) = printfn "[%s] %s" (DateTime.Now.ToString("HH:mm:ss")) line
