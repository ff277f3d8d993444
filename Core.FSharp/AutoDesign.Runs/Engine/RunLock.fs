namespace AutoDesign.Runs

open System
open System.IO
open System.Threading

/// Who holds a run folder: written next to the lock file by the holder.
type internal LockHolder = { Pid: int; Host: string; Since: DateTime; Command: string }

/// The exclusive write lock of a run folder: `.lock` held open with an exclusive OS lock (flock on Linux)
/// for as long as the process writes the folder. The OS drops the lock when the process dies, so a killed
/// run never leaves a stale lock behind. The holder's PID and host are in `.lock.json`.
[<Sealed>]
type internal RunLock private (dir: string, stream: FileStream) =
    static let infoPath dir = Path.Combine(dir, ".lock.json")

    static member private TryTake(dir: string) =
        let path = Path.Combine(dir, ".lock")
        try Some(new FileStream(path, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None))
        with :? IOException when File.Exists path -> None

    /// The recorded holder of a folder's lock, if readable.
    static member Holder(dir: string) : LockHolder option =
        try
            let p = infoPath dir
            if File.Exists p then Some(Json.ofNode<LockHolder> p (Json.readFile p)) else None
        with _ -> None

    /// Take the lock of `dir` (created if missing). Held by another process: with `wait`, poll until it is
    /// released; otherwise raise UserError naming the holder.
    static member Acquire(dir: string, wait: bool) : RunLock =
        let rec loop (announced: bool) =
            match RunLock.TryTake dir with
            | Some s -> s
            | None ->
                let who =
                    match RunLock.Holder dir with
                    | Some h -> sprintf "process %d on %s (since %s UTC)" h.Pid h.Host (h.Since.ToString("yyyy-MM-dd HH:mm:ss"))
                    | None -> "another process"
                if not wait then
                    Errors.fail "run folder %s is being written by %s; wait for it to finish, pass --wait to wait, or use another run folder" dir who
                if not announced then
                    eprintfn "waiting for %s to release %s" who dir
                Thread.Sleep 500
                loop true
        Directory.CreateDirectory dir |> ignore
        let s = loop false
        let me = { Pid = Environment.ProcessId; Host = Environment.MachineName; Since = DateTime.UtcNow; Command = Environment.CommandLine }
        Atomic.writeAllText (infoPath dir) (Json.serialize me)
        new RunLock(dir, s)

    member _.Dir = dir

    interface IDisposable with
        member _.Dispose() =
            (try File.Delete(infoPath dir) with _ -> ())
            stream.Dispose()
