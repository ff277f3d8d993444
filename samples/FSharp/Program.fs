/// An F# app on AutoDesign's packages: a metric written once (macro-F1 over 3 classes), trained with
/// UniLoss on a linear classifier of synthetic data, as a resumable run folder (run it twice: the
/// second time it reads the stored result; kill it midway: it continues from the last checkpoint).
open TorchSharp
open AutoDesign.Nn // ScalarOps: Plus, Mul... instead of operators whose temporary Scalars the GC may free early
open AutoDesign.Runs
open AutoDesign.UniLoss

// F1 of class c: 2·TP / (2·TP + FP + FN), with "predicted c" = score of c beats every other class.
let macroF1 classes =
    Metric.Define(
        "macro-f1",
        fun s y ->
            let predicted i c =
                all
                    [ for j in 0 .. classes - 1 do
                          if j <> c then yield s.[i, c] >. s.[i, j] ]

            let f1 c =
                let tp =
                    sum
                        [ for i in 0 .. s.N - 1 do
                              if y.[i] = c then yield num (predicted i c) ]

                let fp =
                    sum
                        [ for i in 0 .. s.N - 1 do
                              if y.[i] <> c then yield num (predicted i c) ]

                let positives = float (Seq.length (Seq.filter (fun i -> y.[i] = c) [ 0 .. s.N - 1 ]))
                2.0 * tp / (tp + fp + positives)

            mean [ for c in 0 .. classes - 1 -> f1 c ]
    )

[<EntryPoint>]
let main argv =
    let root = if argv.Length > 0 then argv.[0] else "runs"
    torch.manual_seed 1L |> ignore
    // three Gaussian blobs in 8 dimensions, 40 examples per batch
    let centres = torch.randn (3L, 8L)

    let batch (seed: int) =
        use g = new torch.Generator(uint64 seed)
        let y = torch.tensor (Array.init 40 (fun i -> int64 (i % 3)))
        let x = centres.index_select(0L, y).Plus(torch.randn([| 40L; 8L |], generator = g).Mul(1.5))
        x, y

    let batches epoch = Array.init 10 (fun b -> batch (epoch * 10 + b))
    let model = torch.nn.Linear(8L, 3L)
    let optimizer = new SafeSGD(model.parameters (), 0.1)
    use loss = new UniLoss(macroF1 3, UniLossOptions(AnchorsPerType = 8, Seed = 1))
    let state = TrainState()
    state.AddValue<UniLossState>("uniloss", (fun () -> loss.CaptureState()), (fun s -> loss.RestoreState s))

    use run =
        Run.Open({ RunOptions.Default with Root = root }, "samples/fsharp-macro-f1", "sample.macro-f1/1", {| Epochs = 5 |})

    let rows =
        if run.IsFinished then
            printfn "finished before; its metrics are in %s" (run.File "metrics.csv")
            []
        else
            let spec = Fit.spec "macro-f1" model optimizer (fun (x, y) -> loss.forward (model.forward x, y)) batches 5
            let spec = { spec with EndOfEpoch = fun _ -> [ "batch-macro-f1", loss.LastMetric ] }
            let rows = Fit.runWith run state spec
            run.Finish {| Epochs = 5 |}
            rows

    for row in rows do
        printfn "%s" (row |> List.map (fun (k, v) -> sprintf "%s=%O" k v) |> String.concat "  ")

    0
