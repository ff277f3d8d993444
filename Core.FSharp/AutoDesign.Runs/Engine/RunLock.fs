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

    /// Whether an open failed because another process holds the lock (EWOULDBLOCK from flock on Unix, a
    /// sharing violation on Windows), as opposed to a folder that cannot be written at all.
    static member private IsHeld(e: IOException) = e.HResult = 11 || e.HResult = int 0x80070020u

    static member private TryTake(dir: string) =
        let path = Path.Combine(dir, ".lock")

        try
            Some(new FileStream(path, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None))
        with
        | :? IOException as e when RunLock.IsHeld e -> None
        | :? IOException
        | :? UnauthorizedAccessException as e ->
            Errors.fail
                "cannot lock run folder %s for writing (%s); a run folder must be on a writable filesystem"
                dir
                (e.Message.Replace(" : '" + path + "'", ""))

    /// The recorded holder of a folder's lock, if readable.
    static member Holder(dir: string) : LockHolder option =
        try
            let p = infoPath dir
            if File.Exists p then Some(Json.ofNode<LockHolder> p (Json.readFile p)) else None
        with _ ->
            None

    /// Delete the temporary files of atomic writes that a killed writer left in `dir` and its subfolders,
    /// except in nested run folders (they have their own lock and writer).
    static member private RemoveTemporaries(dir: string) =
        for f in Directory.GetFiles dir do
            if Atomic.isTemporary (Path.GetFileName f) then
                (try
                    File.Delete f
                 with :? IOException ->
                     ())

        for d in Directory.GetDirectories dir do
            if not (File.Exists(Path.Combine(d, ".lock"))) && not (File.GetAttributes(d).HasFlag FileAttributes.ReparsePoint) then
                RunLock.RemoveTemporaries d

    /// Take the lock of `dir` (created if missing). Temporary files a killed writer left are removed. Held by another process: with `wait`, poll until it is
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

                if not announced then eprintfn "waiting for %s to release %s" who dir
                Thread.Sleep 500
                loop true

        (try
            Directory.CreateDirectory dir |> ignore
         with
         | :? IOException
         | :? UnauthorizedAccessException as e -> Errors.fail "cannot create run folder %s (%s)" dir e.Message)

        let s = loop false
        RunLock.RemoveTemporaries dir

        let me =
            { Pid = Environment.ProcessId
              Host = Environment.MachineName
              Since = DateTime.UtcNow
              Command = Environment.CommandLine }

        Atomic.writeAllText (infoPath dir) (Json.serialize me)
        new RunLock(dir, s)

    member _.Dir = dir

    interface IDisposable with
        member _.Dispose() =
            (try
                File.Delete(infoPath dir)
             with _ ->
                 ())

            stream.Dispose()
