namespace AutoDesign.Runs

open System
open System.Collections.Generic
open System.Runtime.InteropServices

/// Fault injection for crash tests: with AUTODESIGN_FAULT="point", "point:n" or "point:n:file" in the
/// environment, the process kills itself with SIGKILL (as `kill -9` would) the n-th time (default: first)
/// execution reaches `Faults.hit "point"`; with a file, only while that file does not exist (it is created
/// first), so a restarted process runs through. Points: "step" (after a training step), "checkpoint-write"
/// (a checkpoint's files written, not yet published), "run-finish" (a run's result about to be written).
/// No variable, no effect.
module internal Faults =
    [<DllImport("libc", SetLastError = true)>]
    extern int private kill(int pid, int signal)

    let private spec =
        lazy
            (match Environment.GetEnvironmentVariable "AUTODESIGN_FAULT" with
             | null
             | "" -> None
             | s ->
                 match s.Split(':', 3) with
                 | [| p |] -> Some(p, 1, None)
                 | [| p; n |]
                 | [| p; n; _ |] as parts ->
                     match Int32.TryParse n with
                     | true, k when k >= 1 -> Some(p, k, (if parts.Length = 3 then Some parts.[2] else None))
                     | _ -> None
                 | _ -> None)

    let private counts = Dictionary<string, int>()

    /// Count a visit of `point`; die by SIGKILL when it is the configured one.
    [<CompiledName("Hit")>]
    let hit (point: string) =
        match spec.Value with
        | Some(p, n, once) when p = point ->
            let c =
                (match counts.TryGetValue point with
                 | true, c -> c
                 | _ -> 0)
                + 1

            counts.[point] <- c

            let armed () =
                match once with
                | None -> true
                | Some f when IO.File.Exists f -> false
                | Some f ->
                    IO.File.WriteAllText(f, string Environment.ProcessId)
                    true

            if c = n && armed () then
                Console.Out.Flush()
                Console.Error.Flush()
                kill (Environment.ProcessId, 9) |> ignore
        | _ -> ()
