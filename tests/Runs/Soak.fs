/// A soak run in a child process (`AutoDesign.Tests soak <kind> <steps>`): short training steps of several
/// kinds, one after another in one process as `reproduce` runs them, while a second thread forces garbage
/// collections without pause. The collections make TorchSharp's temporary-Scalar race (a Scalar finalized
/// while libtorch reads it) happen within seconds wherever it exists; the memory check catches tensors that
/// are never disposed. Prints "soak ok <steps> rss-growth-mb <x>" or dies with the error.
module AutoDesign.Tests.Soak

open System
open System.Diagnostics
open System.Threading
open TorchSharp
open AutoDesign.Nn
open AutoDesign.UniLoss
open AutoDesign.D2NN
open AutoDesign.Reproduce.D2NN
open AutoDesign.Nn.DGGAN
open AutoDesign.DGGAN

let private rssMb () =
    use p = Process.GetCurrentProcess()
    p.Refresh()
    float p.WorkingSet64 / 1048576.0

/// One training step of each kind per call (the kinds' models persist across calls).
let private kinds (unsafeSgd: bool) : (string * (int -> unit)) list =
    torch.manual_seed 1L |> ignore
    // UniLoss accuracy with SGD momentum + weight decay (the reported crash: SGD.step)
    let mlp = torch.nn.Sequential(torch.nn.Linear(20L, 32L), torch.nn.ReLU(), torch.nn.Linear(32L, 5L))

    let sgd: torch.optim.Optimizer =
        if unsafeSgd then
            torch.optim.SGD(mlp.parameters (), 0.05, momentum = 0.9, weight_decay = 5e-4)
        else
            new SafeSGD(mlp.parameters (), 0.05, momentum = 0.9, weight_decay = 5e-4)

    let uni = new UniLoss(AutoDesign.UniLoss.Metrics.accuracy, anchorsPerType = 4, seed = 1)

    let uniStep (i: int) =
        use _ = torch.NewDisposeScope()
        let x = torch.randn (16L, 20L)
        let y = torch.tensor (Array.init 16 (fun k -> int64 ((k + i) % 5)))
        sgd.zero_grad ()
        let l = uni.forward (mlp.forward x, y)
        l.backward ()
        sgd.step () |> ignore
    // DGGAN-style WGAN-GP step (Adam, leaky ReLU, pixel norm, fade-in blend)
    let layout = Architecture.layout (Architecture.grow (Architecture.initial (GanConfig(16, 8, 1, 4))) Upscale)
    let g = GrowingGenerator.Create(layout, true, torch.CPU)
    let d = GrowingDiscriminator.Create(layout, true, torch.CPU)
    let gOpt = new SafeAdam(g.parameters (), lr = 1e-3, beta1 = 0.0, beta2 = 0.99)
    let dOpt = new SafeAdam(d.parameters (), lr = 1e-3, beta1 = 0.0, beta2 = 0.99)

    let ganStep (_: int) =
        use _ = torch.NewDisposeScope()
        let real = torch.rand (8L, 1L, 8L, 8L)
        let z = torch.randn (8L, 16L)
        dOpt.zero_grad ()
        let lossD = WganGp.criticLoss (System.Func<_, _>(fun x -> d.forward x)) real (g.forward z)
        lossD.backward ()
        dOpt.step () |> ignore
        gOpt.zero_grad ()
        let lossG = WganGp.generatorLoss (System.Func<_, _>(fun x -> d.forward x)) (g.forward (torch.randn (8L, 16L)))
        lossG.backward ()
        gOpt.step () |> ignore
    // D²NN Q-learning step (sub-batch executor, bag rewards)
    let c = D2nnFixtures.highLow 16

    let cfg =
        { Reward = Reward.tradeoff (F1 1) 0.7
          BagSize = 4
          Epsilon = EpsilonSchedule.Linear(1.0, 0.05, 100)
          RegularLoss = CrossEntropy 1.0
          Cost = Multiplications c.FullCost
          Output = "o"
          DetachControlInputs = true
          ClassWeights = [||] }

    let dOptQ = new SafeAdam(c.Parameters, 0.01)
    let rng = Random 1

    let d2nnStep (i: int) =
        use _ = torch.NewDisposeScope()
        Learning.step c cfg rng i dOptQ (torch.randn (16L, 8L)) (Array.init 16 (fun k -> (k + i) % 2)) |> ignore

    [ "uniloss", uniStep; "gan", ganStep; "d2nn", d2nnStep ]

/// Entry point of the child process: `soak <all|control> <steps>`.
let main (argv: string[]) : int =
    let mode, steps = argv.[1], int argv.[2]
    torch.set_num_threads 1
    let stop = ref false

    let hammer =
        Thread(
            (fun () ->
                while not stop.Value do
                    GC.Collect()
                    GC.WaitForPendingFinalizers()),
            IsBackground = true
        )

    let ks = kinds (mode = "control")
    let ks = if mode = "control" then ks |> List.filter (fst >> (=) "uniloss") else ks
    // warm up (allocator pools, JIT) before the baseline reading
    for (_, f) in ks do
        for i in 0..9 do
            f i

    GC.Collect()
    GC.WaitForPendingFinalizers()
    let baseline = rssMb ()
    hammer.Start()
    let sw = Stopwatch.StartNew()

    for i in 1..steps do
        for (_, f) in ks do
            f i

    stop.Value <- true
    GC.Collect()
    GC.WaitForPendingFinalizers()
    printfn "soak ok %d rss-growth-mb %.1f seconds %.1f" steps (rssMb () - baseline) sw.Elapsed.TotalSeconds
    0
