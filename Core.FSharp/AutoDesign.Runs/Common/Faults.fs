namespace AutoDesign.Runs

open System
open System.Collections.Generic
open System.Runtime.InteropServices

/// Fault injection for crash tests: with AUTODESIGN_FAULT="point" or "point:n" in the environment, the
/// process kills itself with SIGKILL (as `kill -9` would) the n-th time (default: first) execution reaches
/// `Faults.hit "point"`. Points: "step" (after a training step), "checkpoint-write" (a checkpoint's files
/// written, not yet published), "run-finish" (a run's result about to be written). No variable, no effect.
module Faults =
    [<DllImport("libc", SetLastError = true)>]
    extern int private kill(int pid, int signal)

    let private spec =
        lazy (
            match Environment.GetEnvironmentVariable "AUTODESIGN_FAULT" with
            | null | "" -> None
            | s ->
                match s.Split(':') with
                | [| p |] -> Some(p, 1)
                | [| p; n |] ->
                    match Int32.TryParse n with
                    | true, k when k >= 1 -> Some(p, k)
                    | _ -> None
                | _ -> None)

    let private counts = Dictionary<string, int>()

    /// Count a visit of `point`; die by SIGKILL when it is the configured one.
    let hit (point: string) =
        match spec.Value with
        | Some(p, n) when p = point ->
            let c = (match counts.TryGetValue point with | true, c -> c | _ -> 0) + 1
            counts.[point] <- c
            if c = n then
                Console.Out.Flush()
                Console.Error.Flush()
                kill(Environment.ProcessId, 9) |> ignore
        | _ -> ()
