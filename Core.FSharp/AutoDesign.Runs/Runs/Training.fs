namespace AutoDesign.Runs

open System
open System.Diagnostics
open System.Globalization
open TorchSharp
open AutoDesign.Nn
open Deedle
open AutoDesign.Runs

/// What `Training.fit` needs. `Batches epoch` must depend only on the epoch (e.g.
/// `Loader.batches seed epoch true 64 trainIdx`) and should yield cheap descriptors (index arrays);
/// `Loss` turns one into a scalar loss tensor (forward pass + loss), fit does zero_grad/backward/step.
type FitSpec<'B> =
    { Label: string
      Model: torch.nn.Module
      Optimizer: torch.optim.Optimizer
      Loss: 'B -> torch.Tensor
      Batches: int -> seq<'B>
      Epochs: int
      Seed: int
      Run: RunFolder
      /// Checkpoint after every N-th epoch (and always after the last one).
      CheckpointEvery: int
      /// Continue from the run folder's checkpoint (if there is one) instead of starting over.
      Resume: bool
      /// Extra per-epoch metrics (e.g. test accuracy), computed after the epoch's steps.
      EndOfEpoch: int -> (string * float) list
      /// Called before each step with (epoch, step index within the epoch); tests use it to simulate a kill.
      OnStep: int -> int -> unit }

type FitResult =
    { /// One row per finished epoch (including epochs restored from the checkpoint): epoch, loss, steps, seconds, extras.
      History: (string * float) list list
      /// The epoch the run continued after (0 for a fresh run).
      ResumedAfter: int
      Metrics: Frame<int, string> }

module Training =
    let checkpointFile = "checkpoint.bin"

    /// A spec with the usual defaults: checkpoint every epoch, no resume, no extra metrics.
    let spec label (model: torch.nn.Module) (optimizer: torch.optim.Optimizer) (loss: 'B -> torch.Tensor)
             (batches: int -> seq<'B>) (epochs: int) (seed: int) (run: RunFolder) : FitSpec<'B> =
        { Label = label; Model = model; Optimizer = optimizer; Loss = loss; Batches = batches; Epochs = epochs
          Seed = seed; Run = run; CheckpointEvery = 1; Resume = false; EndOfEpoch = (fun _ -> []); OnStep = (fun _ _ -> ()) }

    /// Per-epoch rows as a Deedle frame (columns in first-seen order, missing values as NaN).
    let metricsFrame (rows: (string * float) list list) : Frame<int, string> =
        let keys = rows |> List.collect (List.map fst) |> List.distinct
        let cols =
            keys |> List.map (fun k ->
                k, Series.ofValues (rows |> List.map (fun r -> r |> List.tryFind (fst >> (=) k) |> Option.map snd |> Option.defaultValue nan)))
        Frame.ofColumns cols

    let private encodeHistory (rows: (string * float) list list) =
        rows
        |> List.map (fun r -> r |> List.map (fun (k, v) -> k + "=" + v.ToString("R", CultureInfo.InvariantCulture)) |> String.concat ";")
        |> String.concat "\n"

    let private decodeHistory (s: string) =
        s.Split('\n', StringSplitOptions.RemoveEmptyEntries)
        |> Array.map (fun line ->
            line.Split(';') |> Array.map (fun kv ->
                let i = kv.IndexOf '='
                kv.Substring(0, i), Double.Parse(kv.Substring(i + 1), CultureInfo.InvariantCulture)) |> List.ofArray)
        |> List.ofArray

    /// Train `spec.Model` for `spec.Epochs` epochs. Each epoch e seeds torch with (Seed + e) before
    /// its first step, so a run resumed from the checkpoint after epoch k replays exactly the
    /// same seed stream as an uninterrupted run and reaches the same weights. Writes metrics.csv
    /// (every epoch), checkpoint.bin (atomic: weights + optimizer + state) and loss.png.
    let fit (spec: FitSpec<'B>) : FitResult =
        if spec.Epochs < 1 then Errors.fail "%s: epochs must be at least 1 (got %d)" spec.Label spec.Epochs
        if spec.CheckpointEvery < 1 then Errors.fail "%s: checkpoint-every must be at least 1 (got %d)" spec.Label spec.CheckpointEvery
        let ckPath = RunFolder.file spec.Run checkpointFile
        let startEpoch, history0 =
            if spec.Resume then
                match Checkpoint.tryLoad ckPath spec.Model (Some spec.Optimizer) with
                | Some st ->
                    let seed = st |> Map.tryFind "seed" |> Option.map int
                    if seed <> Some spec.Seed then
                        Errors.fail "cannot resume %s: its checkpoint was made with seed %A, this run uses seed %d" ckPath seed spec.Seed
                    let e = int st.["epoch"]
                    printfn "%s: resuming after epoch %d from %s" spec.Label e ckPath
                    e, decodeHistory (st |> Map.tryFind "history" |> Option.defaultValue "")
                | None ->
                    printfn "%s: no checkpoint in %s, starting from epoch 1" spec.Label spec.Run.Dir
                    0, []
            else 0, []
        let mutable history = history0
        let mutable progress : Progress option = None
        for epoch in startEpoch + 1 .. spec.Epochs do
            torch.manual_seed (int64 (spec.Seed + epoch)) |> ignore
            spec.Model.train ()
            let batches = spec.Batches epoch |> Seq.toArray
            let p =
                match progress with
                | Some p -> p
                | None ->
                    let p = Progress.create spec.Label (batches.Length * (spec.Epochs - startEpoch))
                    progress <- Some p
                    p
            let clock = Stopwatch.StartNew()
            let mutable sum = 0.0
            batches |> Array.iteri (fun i b ->
                spec.OnStep epoch i
                use _ = torch.NewDisposeScope()
                spec.Optimizer.zero_grad ()
                let loss = spec.Loss b
                let lv = loss.Item()
                if not (Double.IsFinite lv) then
                    Errors.fail "%s: loss became %g at epoch %d, step %d (try a lower learning rate)" spec.Label lv epoch (i + 1)
                loss.backward ()
                spec.Optimizer.step () |> ignore
                sum <- sum + lv
                p.Step [ "epoch", float epoch; "loss", lv ])
            let seconds = clock.Elapsed.TotalSeconds
            let extras = spec.EndOfEpoch epoch
            let row =
                [ "epoch", float epoch; "loss", sum / float (max 1 batches.Length); "steps", float batches.Length; "seconds", seconds ] @ extras
            history <- history @ [ row ]
            RunFolder.writeCsv spec.Run "metrics.csv" (metricsFrame history)
            if epoch % spec.CheckpointEvery = 0 || epoch = spec.Epochs then
                Checkpoint.save ckPath spec.Model (Some spec.Optimizer)
                    (Map.ofList [ "epoch", string epoch; "seed", string spec.Seed; "history", encodeHistory history ])
        progress |> Option.iter (fun p -> p.Done())
        if not history.IsEmpty then
            let pts k = history |> List.map (fun r -> (List.find (fst >> (=) "epoch") r |> snd), (List.find (fst >> (=) k) r |> snd)) |> Array.ofList
            Plot.lines (RunFolder.file spec.Run "loss.png") (spec.Label + ": training loss") "epoch" "mean loss" [ "train loss", pts "loss" ]
        { History = history; ResumedAfter = startEpoch; Metrics = metricsFrame history }
