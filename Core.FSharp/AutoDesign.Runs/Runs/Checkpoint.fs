namespace AutoDesign.Runs

open System.IO
open TorchSharp
open AutoDesign.Runs

/// One checkpoint = ONE file holding model weights, optimizer state and a small string map,
/// written atomically (temp file + flush + rename): a killed writer leaves the previous checkpoint.
/// Layout: magic "ADCKPT1", the map (count, then key/value strings), the model section
/// (length-prefixed TorchSharp `Module.save` bytes), then a flag and the optimizer section
/// (length-prefixed `save_state_dict` bytes).
module Checkpoint =
    let private magic = "ADCKPT1"

    let private helperOf (opt: torch.optim.Optimizer) =
        match box opt with
        | :? TorchSharp.Modules.OptimizerHelper as h -> h
        | _ -> invalidArg "optimizer" (sprintf "optimizer %s cannot save its state (not an OptimizerHelper)" (opt.GetType().Name))

    let private section (write: BinaryWriter -> unit) =
        use ms = new MemoryStream()
        (use w = new BinaryWriter(ms, System.Text.Encoding.UTF8, true)
         write w
         w.Flush())
        ms.ToArray()

    /// Save weights, optimizer state (if given) and state map to `path` as one atomic unit.
    let save (path: string) (model: torch.nn.Module) (optimizer: torch.optim.Optimizer option) (state: Map<string, string>) =
        let modelBytes = section (fun w -> model.save(w) |> ignore)
        let optBytes = optimizer |> Option.map (fun o -> section (fun w -> (helperOf o).save_state_dict(w)))
        Atomic.writeWith path (fun tmp ->
            use fs = new FileStream(tmp, FileMode.Create, FileAccess.Write)
            use w = new BinaryWriter(fs)
            w.Write magic
            w.Write(state.Count)
            for KeyValue(k, v) in state do
                w.Write k
                w.Write v
            w.Write(modelBytes.Length)
            w.Write modelBytes
            match optBytes with
            | Some b ->
                w.Write true
                w.Write(b.Length)
                w.Write b
            | None -> w.Write false
            w.Flush())

    /// Load a checkpoint into `model` (and `optimizer` when given) and return its state map, or
    /// None if there is no file at `path`. A malformed file raises UserError naming it.
    let tryLoad (path: string) (model: torch.nn.Module) (optimizer: torch.optim.Optimizer option) : Map<string, string> option =
        if not (File.Exists path) then None
        else
            let bytes = File.ReadAllBytes path
            try
                use r = new BinaryReader(new MemoryStream(bytes))
                if r.ReadString() <> magic then Errors.fail "checkpoint %s is not an AutoDesign checkpoint" path
                let n = r.ReadInt32()
                if n < 0 || n > 100000 then Errors.fail "checkpoint %s is corrupt (state count %d)" path n
                let state = [ for _ in 1..n -> let k = r.ReadString() in k, r.ReadString() ] |> Map.ofList
                let modelLen = r.ReadInt32()
                let modelBytes = r.ReadBytes modelLen
                if modelBytes.Length <> modelLen then Errors.fail "checkpoint %s is truncated" path
                let optBytes =
                    if r.ReadBoolean() then
                        let len = r.ReadInt32()
                        let b = r.ReadBytes len
                        if b.Length <> len then Errors.fail "checkpoint %s is truncated" path
                        Some b
                    else None
                (use mr = new BinaryReader(new MemoryStream(modelBytes))
                 model.load(mr) |> ignore)
                match optimizer, optBytes with
                | Some o, Some b ->
                    use orr = new BinaryReader(new MemoryStream(b))
                    (helperOf o).load_state_dict(orr)
                | Some _, None -> Errors.fail "checkpoint %s holds no optimizer state, but one was asked for" path
                | None, _ -> ()
                Some state
            with
            | UserError _ -> reraise ()
            | :? EndOfStreamException -> Errors.fail "checkpoint %s is truncated" path
            | :? System.ArgumentException as e -> Errors.fail "checkpoint %s does not match the model: %s" path e.Message
            | :? InvalidDataException as e -> Errors.fail "checkpoint %s is corrupt: %s" path e.Message
