namespace AutoDesign.Reproduce

open System
open TorchSharp
open AutoDesign.Runs
open AutoDesign.Nn

/// Experiments that check the foundation itself (no thesis counterpart: Thesis column "—").
module FoundationExperiments =
    exception SimulatedKill of int * int

    /// Two Gaussian blobs in `dims` dimensions, generated from the seed (features, labels).
    let blobs (seed: int) (n: int) (dims: int) =
        let rng = Random(seed)
        let gauss () = sqrt (-2.0 * log (1.0 - rng.NextDouble())) * cos (2.0 * Math.PI * rng.NextDouble())
        let labels = Array.init n (fun i -> i % 2)
        let xs = Array.init (n * dims) (fun k -> let i = k / dims in float32 (gauss () + (if labels.[i] = 1 then 0.25 else -0.25)))
        xs, labels

    /// Shuffled mini-batches of indices for one epoch; depends only on (seed, epoch).
    let epochBatches (seed: int) (n: int) (batch: int) (epoch: int) : int[] seq =
        let rng = Random(seed * 7919 + epoch)
        let idx = Array.init n id
        for i in n - 1 .. -1 .. 1 do
            let j = rng.Next(i + 1)
            let t = idx.[i] in idx.[i] <- idx.[j]; idx.[j] <- t
        Seq.chunkBySize batch idx

    let private parameters (m: torch.nn.Module) =
        m.parameters () |> Seq.map (fun p -> p.detach().cpu().contiguous()) |> Array.ofSeq

    /// Train the blob MLP in `dir`; `killAt` = Some (epoch, step) throws there (a simulated kill).
    let private trainBlobs (ctx: ExperimentContext) (run: RunFolder) (epochs: int) (n: int) (resume: bool) (killAt: (int * int) option) =
        let dims = 16
        RunFolder.writeConfig run {| Model = "MLP 16-64-32-2, dropout 0.2"; Optimizer = "Adam"; LearningRate = 3e-3; Epochs = epochs
                                     Points = n; Batch = 64; Seed = ctx.Seed; Device = string ctx.Device |}
        let xs, ys = blobs ctx.Seed n dims
        use x = torch.tensor(xs, device = ctx.Device).reshape(int64 n, int64 dims)
        use y = torch.tensor(ys |> Array.map int64, device = ctx.Device)
        torch.manual_seed (int64 ctx.Seed) |> ignore
        let model = Mlp.Create(int64 dims, [| 64L; 32L |], 2L, 0.2)
        model.``to``(ctx.Device) |> ignore
        let opt = new SafeAdam(model.parameters (), lr = 3e-3)
        let loss (idx: int[]) =
            use i = torch.tensor(idx |> Array.map int64, device = ctx.Device)
            torch.nn.functional.cross_entropy(model.forward(x.index_select(0L, i)), y.index_select(0L, i))
        let spec =
            { Training.spec "foundation/resume" model opt loss (epochBatches ctx.Seed n 64) epochs ctx.Seed run with
                Resume = resume
                OnStep = fun e s -> match killAt with Some (ke, ks) when e = ke && s = ks -> raise (SimulatedKill(e, s)) | _ -> () }
        let result = Training.fit spec
        model.eval ()
        let acc =
            use _ = torch.no_grad ()
            use pred = model.forward(x).argmax(1L)
            pred.eq(y).to_type(torch.float32).mean().Item()
        model, result, acc

    let resumeDeterminism : Experiment =
        { System = "foundation"
          Name = "resume-determinism"
          Description = "train a small MLP uninterrupted, and again killed mid-epoch then resumed; compare final weights"
          Run = fun ctx ->
            let epochs, n = if ctx.Quick then 4, 2000 else 12, 20000
            let full = RunFolder.create ctx.RunsRoot "foundation" "resume-uninterrupted"
            let killed = RunFolder.create ctx.RunsRoot "foundation" "resume-killed"
            for rf in [ full; killed ] do
                let ck = RunFolder.file rf Training.checkpointFile
                if IO.File.Exists ck then IO.File.Delete ck
            let a, _, accA = trainBlobs ctx full epochs n false None
            let killEpoch = epochs / 2 + 1
            (try trainBlobs ctx killed epochs n false (Some(killEpoch, 5)) |> ignore
             with SimulatedKill(e, s) -> printfn "simulated kill at epoch %d, step %d" e (s + 1))
            let b, resumed, _ = trainBlobs ctx killed epochs n true None
            let pa, pb = parameters a, parameters b
            let maxDiff = Array.map2 (fun (p: torch.Tensor) (q: torch.Tensor) -> (p - q).abs().max().Item()) pa pb |> Array.max
            let count = pa |> Array.sumBy (fun p -> p.numel ())
            [ { System = "foundation"; Experiment = "resume-determinism"
                Claim = "a run killed mid-epoch and resumed from its last checkpoint reaches the same final weights"
                Thesis = "—"
                Measured = sprintf "max |w_resumed - w_uninterrupted| = %g over %d weights (resumed after epoch %d of %d); train accuracy %.1f%%" maxDiff count resumed.ResumedAfter epochs (100.0 * accA)
                Config = sprintf "%s: MLP 16-64-32-2 with dropout 0.2, Adam 3e-3, %d epochs, %d points, batch 64, seed %d" (if ctx.Quick then "quick" else "full") epochs n ctx.Seed
                Data = "synthetic two-class Gaussian blobs generated from the seed (no thesis data set involved)" } ] }

    let all : Experiment list = [ FoundationMnist.mlp; resumeDeterminism ]
