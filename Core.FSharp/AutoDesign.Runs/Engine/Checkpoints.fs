namespace AutoDesign.Runs

open System
open System.IO
open System.Text.Json.Nodes

/// The checkpoints of a run folder, committed as units:
///   checkpoints/<step, 12 digits>/tensors.safetensors   every tensor of the snapshot
///   checkpoints/<step, 12 digits>/state.json            the snapshot's JSON values and their format (StateFormat)
///   checkpoints/LATEST                                  the name of the newest complete checkpoint
/// A checkpoint is written into a temporary folder, flushed, renamed into place, and only then published by
/// rewriting LATEST (atomically). A process killed at any instant leaves LATEST naming a complete
/// checkpoint (the previous one or the new one); leftovers are removed on the next commit.
module internal Checkpoints =
    [<CompiledName("Folder")>]
    let folder (runDir: string) = Path.Combine(runDir, "checkpoints")

    let private latestFile (runDir: string) = Path.Combine(folder runDir, "LATEST")
    let private name (step: int64) = step.ToString("D12")

    /// Name of the newest published checkpoint, if any.
    [<CompiledName("LatestName")>]
    let latestName (runDir: string) : string option =
        let f = latestFile runDir

        if not (File.Exists f) then
            None
        else
            let n = (SafeFiles.readText 64L f).Trim()

            if n.Length <> 12 || not (n |> Seq.forall Char.IsDigit) then
                Errors.fail "%s does not name a checkpoint ('%s'); the run folder is damaged (delete it or pass --force)" f n

            Some n

    /// Write `snapshot` as the checkpoint of `step` and publish it; older checkpoints are removed afterwards.
    [<CompiledName("Commit")>]
    let commit (runDir: string) (step: int64) (snapshot: Snapshot) =
        let root = folder runDir
        Atomic.guard "create the checkpoint folder" root (fun () -> Directory.CreateDirectory root |> ignore)
        let tmp = Path.Combine(root, sprintf ".tmp-%s" (Guid.NewGuid().ToString("N")))
        let final = Path.Combine(root, name step)

        try
            Atomic.guard "write the checkpoint" tmp (fun () ->
                Directory.CreateDirectory tmp |> ignore
                Safetensors.save (Path.Combine(tmp, "tensors.safetensors")) snapshot.Tensors
                Atomic.writeAllText (Path.Combine(tmp, "state.json")) (StateFormat.render snapshot.Values)
                Durable.syncDirectory tmp
                Faults.hit "checkpoint-write"
                if Directory.Exists final then Directory.Delete(final, true)
                Directory.Move(tmp, final)
                Durable.syncDirectory root)
        finally
            // a checkpoint that could not be written completely leaves nothing behind (disk full...)
            if Directory.Exists tmp then
                (try
                    Directory.Delete(tmp, true)
                 with
                 | :? IOException
                 | :? UnauthorizedAccessException -> ())

        Atomic.writeAllText (latestFile runDir) (name step + "\n")

        for d in Directory.GetDirectories root do
            let n = Path.GetFileName d

            if n <> name step then
                (try
                    Directory.Delete(d, true)
                 with _ ->
                     ())

    /// The newest checkpoint as (step, snapshot), or None when none was published.
    [<CompiledName("TryLoad")>]
    let tryLoad (runDir: string) : (int64 * Snapshot * SnapshotFiles) option =
        match latestName runDir with
        | None -> None
        | Some n ->
            let dir = Path.Combine(folder runDir, n)
            let statePath = Path.Combine(dir, "state.json")

            if not (Directory.Exists dir) then
                Errors.fail "%s names checkpoint %s, which does not exist; the run folder is damaged (delete it or pass --force)" (latestFile runDir) n

            if not (File.Exists statePath) then
                Errors.fail "checkpoint %s is incomplete (no state.json); the run folder is damaged (delete it or pass --force)" dir

            let values = Json.object statePath "" (Json.readFile statePath)
            StateFormat.check statePath values
            let files = { TensorsFile = Path.Combine(dir, "tensors.safetensors"); ValuesFile = statePath }
            SafeFiles.checkRegular files.TensorsFile
            let tensors = Safetensors.load files.TensorsFile
            Some(Int64.Parse n, { Tensors = tensors; Values = values }, files)

    /// Remove every checkpoint (after a run has stored its result).
    [<CompiledName("Clear")>]
    let clear (runDir: string) =
        let root = folder runDir
        if Directory.Exists root then Directory.Delete(root, true)
