/// Helpers of the run-engine tests: a tiny training task, tensor comparisons, CSV read-back, runs opened and closed.
module AutoDesign.Tests.RunsFixtures

open System
open System.IO
open Expecto
open TorchSharp
open AutoDesign.Runs
open AutoDesign.Nn

let tempDir () = TempDir.fresh "runs"

let paramsOf (m: torch.nn.Module) = m.parameters () |> Seq.map (fun p -> p.detach().clone()) |> Array.ofSeq

/// Exact equality (same shape, every element equal).
let same (p: torch.Tensor) (q: torch.Tensor) = p.shape = q.shape && p.eq(q).all().item<bool>()

let expectSameTensors (a: torch.Tensor[]) (b: torch.Tensor[]) msg =
    Expect.equal a.Length b.Length (msg + ": parameter count")
    Array.iter2 (fun (p: torch.Tensor) (q: torch.Tensor) -> Expect.isTrue (same p q) (msg + ": tensors differ")) a b

/// Tiny synthetic task for training tests: 96 points, 4 features, labels from a fixed rule.
let data () =
    let rng = Random 5
    let xs = Array.init (96 * 4) (fun _ -> float32 (rng.NextDouble() * 2.0 - 1.0))
    let ys = Array.init 96 (fun i -> if xs.[i * 4] + xs.[i * 4 + 1] > 0.0f then 1L else 0L)
    torch.tensor(xs).reshape(96L, 4L), torch.tensor (ys)

/// A CSV file read back by CsvHelper (the reference reader of the engine's writer): rows of (column, text).
let readCsv (path: string) : (string * string) list list =
    use r = new StreamReader(path)
    use csv = CsvHelper.CsvReader.Create(r, CsvHelper.CsvReaderOptions(HasHeader = true), true)

    [ while csv.Read() do
          let header = csv.Headers
          yield [ for i in 0 .. header.Count - 1 -> header.[i], csv.GetString(i) ] ]

exception Interrupted

/// Open a run, pass it to f, close it.
let withRun (options: RunOptions) (name: string) (kind: string) (config: 'C) (f: Run -> 'R) : 'R =
    use r = Run.Open(options, name, kind, config)
    f r

/// The UserError message of f, or "" when it raises none.
let errorOf (f: unit -> unit) =
    try
        f ()
        ""
    with UserError m ->
        m

type TinyConfig = { Lr: float; Optimizer: string; Epochs: int }

/// Train the tiny MLP (dropout: draws from the torch stream) in run folder `root/tiny`; `stopAt` = Some k
/// throws Interrupted when global step k starts (a simulated kill; checkpoints every 5 steps).
let fitTiny (root: string) (cfg: TinyConfig) (stopAt: int option) =
    let x, y = data ()
    use run = Run.Open({ RunOptions.Default with Root = root }, "tiny", "test.tiny/1", cfg)

    let model =
        // weights from a fixed array (the global generator is shared with tests running in parallel)
        let m = Mlp.Create(4L, [| 8L |], 2L)
        let init = Random 3

        using (torch.no_grad ()) (fun _ ->
            for p in m.parameters () do
                p.copy_ (torch.tensor(Array.init (int (p.numel ())) (fun _ -> float32 (init.NextDouble() - 0.5))).reshape(p.shape))
                |> ignore)

        m

    let opt: TorchSharp.Modules.OptimizerHelper =
        match cfg.Optimizer with
        | "sgd" -> new SafeSGD(model.parameters (), cfg.Lr, momentum = 0.9, weight_decay = 1e-3)
        | "rmsprop" -> new SafeRMSProp(model.parameters (), cfg.Lr, momentum = 0.5)
        | _ -> new SafeAdam(model.parameters (), lr = cfg.Lr)

    let gen = new torch.Generator(7UL)

    let mutable step =
        match run.LatestCheckpoint() with
        | Some(s, _, _) -> int s
        | None -> 0

    let loss (idx: int[]) =
        if stopAt = Some step then raise Interrupted
        step <- step + 1
        use i = torch.tensor (idx |> Array.map int64)
        // dropout mask from a private generator (checkpointed), not the shared default one
        let keep = torch.rand([| int64 idx.Length; 2L |], generator = gen).Gt(0.2).to_type(torch.float32)
        torch.nn.functional.cross_entropy (model.forward (x.index_select (0L, i)) * keep, y.index_select (0L, i))

    let batches epoch =
        let r = Random(100 + epoch)
        Array.init 96 id |> Array.sortBy (fun _ -> r.Next()) |> Seq.chunkBySize 16 |> Array.ofSeq

    let spec = { Fit.spec "tiny" model opt loss batches cfg.Epochs with CheckpointEvery = 5 }
    let state = TrainState()
    state.AddGenerator("mask", gen)
    let rows = Fit.runWith run state spec
    model, rows
