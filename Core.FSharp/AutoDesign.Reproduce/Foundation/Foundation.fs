namespace AutoDesign.Reproduce

open System
open TorchSharp
open AutoDesign.Runs
open AutoDesign.Nn
open AutoDesign.Metrics

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
        Seq.chunkBySize batch (AutoDesign.Data.Shuffle.permutation seed (int64 epoch) n)

    let private parameters (m: torch.nn.Module) = m.parameters () |> Seq.map (fun p -> p.detach().cpu().contiguous()) |> Array.ofSeq

    /// Train the blob MLP in the run folder `name` (fresh: an earlier run there is discarded unless `resume`);
    /// `killAt` = Some step throws SimulatedKill after that global step (a simulated kill; the step's work is
    /// lost unless a checkpoint was committed). Checkpoints every 7 steps, so a kill lands mid-epoch.
    let private trainBlobs (ctx: ExperimentContext) (name: string) (epochs: int) (n: int) (resume: bool) (killAt: int option) =
        let dims = 16
        let options = { RunOptions.Default with Root = ctx.RunsRoot; Force = not resume }

        use run =
            Run.Open(
                options,
                "foundation/" + name,
                "foundation.resume-blobs/1",
                {| Model = "MLP 16-64-32-2, dropout 0.2"
                   Optimizer = "Adam"
                   LearningRate = 3e-3
                   Epochs = epochs
                   Points = n
                   Batch = 64
                   Seed = ctx.Seed
                   Device = string ctx.Device |}
            )

        let startedAt =
            match run.LatestCheckpoint() with
            | Some(s, snap, _) ->
                (for t in snap.Tensors.Values do
                    t.Dispose())

                int s
            | None -> 0

        let xs, ys = blobs ctx.Seed n dims
        use x = torch.tensor(xs, device = ctx.Device).reshape(int64 n, int64 dims)
        use y = torch.tensor (ys |> Array.map int64, device = ctx.Device)
        torch.manual_seed (int64 ctx.Seed) |> ignore
        let model = Mlp.Create(int64 dims, [| 64L; 32L |], 2L, 0.2)
        model.``to`` (ctx.Device) |> ignore
        let opt = new SafeAdam(model.parameters (), lr = 3e-3)
        let mutable steps = 0

        let loss (idx: int[]) =
            match killAt with
            | Some k when startedAt + steps = k -> raise (SimulatedKill(k / ((n + 63) / 64) + 1, k))
            | _ -> ()

            steps <- steps + 1
            use i = torch.tensor (idx |> Array.map int64, device = ctx.Device)
            torch.nn.functional.cross_entropy (model.forward (x.index_select (0L, i)), y.index_select (0L, i))

        let spec =
            { Fit.spec "foundation/resume" model opt loss (fun e -> epochBatches ctx.Seed n 64 e |> Array.ofSeq) epochs with
                CheckpointEvery = 7 }

        Fit.run run spec |> ignore
        model.eval ()

        let acc =
            use _ = torch.no_grad ()
            float (Classification.correct (model.forward x) y) / float (y.shape.[0])

        model, startedAt, acc

    let resumeDeterminism: Experiment =
        { System = "foundation"
          Name = "resume-determinism"
          Description = "train a small MLP uninterrupted, and again killed mid-epoch then resumed; compare final weights"
          Run =
            fun ctx ->
                let epochs, n = if ctx.Quick then 4, 2000 else 12, 20000
                let a, _, accA = trainBlobs ctx "resume-uninterrupted" epochs n false None
                let perEpoch = (n + 63) / 64
                let killStep = (epochs / 2) * perEpoch + 12

                (try
                    trainBlobs ctx "resume-killed" epochs n false (Some killStep) |> ignore
                 with SimulatedKill(e, s) ->
                     printfn "simulated kill in epoch %d, after step %d" e s)
                // where the resumed arm started depends on this process's history (a job of a launcher that is itself
                // killed and restarted finds that arm further on or finished), so the row states the design, not it
                let b, _, _ = trainBlobs ctx "resume-killed" epochs n true None
                let pa, pb = parameters a, parameters b
                let maxDiff = Array.map2 (fun (p: torch.Tensor) (q: torch.Tensor) -> (p - q).abs().max().Item()) pa pb |> Array.max
                let count = pa |> Array.sumBy (fun p -> p.numel ())

                [ { System = "foundation"
                    Experiment = "resume-determinism"
                    Claim = "a run killed mid-epoch and resumed from its last checkpoint reaches the same final weights"
                    Thesis = "—"
                    Measured =
                      sprintf
                          "max |w_resumed - w_uninterrupted| = %g over %d weights (killed at step %d of %d, resumed from its last checkpoint); train accuracy %.1f%%"
                          maxDiff
                          count
                          killStep
                          (epochs * perEpoch)
                          (100.0 * accA)
                    Config =
                      sprintf
                          "%s: MLP 16-64-32-2 with dropout 0.2, Adam 3e-3, %d epochs, %d points, batch 64, checkpoint every 7 steps, seed %d"
                          (if ctx.Quick then "quick" else "full")
                          epochs
                          n
                          ctx.Seed
                    Data = "synthetic two-class Gaussian blobs generated from the seed (no thesis data set involved)" } ]
          Parts = ExperimentPart.none
          Figures = ReportFigure.none }

    let all: Experiment list = [ FoundationMnist.mlp; resumeDeterminism ]
