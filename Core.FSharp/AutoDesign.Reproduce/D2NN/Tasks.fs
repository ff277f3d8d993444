namespace AutoDesign.Reproduce.D2NN

open System
open TorchSharp
open AutoDesign.Runs
open AutoDesign.Data
open AutoDesign.Reproduce.Data
open AutoDesign.D2NN

module Tasks =
    /// Fashion-MNIST train (60k) or test (10k) as images [N,1,28,28] float32 0..1 and labels
    /// (a UserError saying how to install it if absent).
    let fashion (split: Split) =
        let ds = Datasets.loadFashion split
        torch.tensor(ds.Images).reshape(int64 ds.Count, 1L, int64 ds.Height, int64 ds.Width), ds.Labels

    /// Deterministic subset of at most `count` examples.
    let private subset (seed: int) (count: int) (x: torch.Tensor, y: int[]) =
        let n = y.Length
        if count >= n then x, y
        else
            let idx = Array.init n id
            let rng = Random seed
            for i in n - 1 .. -1 .. 1 do
                let j = rng.Next(i + 1)
                let t = idx[i] in idx[i] <- idx[j]; idx[j] <- t
            let pick = Array.sort idx[.. count - 1]
            use it = torch.tensor(pick |> Array.map int64)
            x.index_select(0L, it), pick |> Array.map (fun i -> y[i])

    /// Class `positive` of Fashion-MNIST against the other nine (1:9), scored by F1: stand-in for LFW-B.
    let oneVsRest (positive: int) (trainCount: int) (testCount: int) (seed: int) =
        let tx, ty = fashion Train |> subset seed trainCount
        let vx, vy = fashion Test |> subset (seed + 1) testCount
        let bin = Array.map (fun l -> if l = positive then 1 else 0)
        { Name = sprintf "fashion-%d-vs-rest" positive
          Data = sprintf "Fashion-MNIST class %d vs rest, 1:9 (stand-in for LFW-B face/non-face)" positive
          TrainX = tx; TrainY = bin ty; TestX = vx; TestY = bin vy
          Metric = F1 1; Classes = 2 }

    /// Leaf order of the 2/5/10 hierarchy: clothing {tops {T-shirt, Shirt}, {Pullover, Coat}, {Trouser, Dress}},
    /// accessories {{Sandal, Sneaker}, {Bag, Ankle boot}}.
    let leafOrder = [| 0; 6; 2; 4; 1; 3; 5; 7; 8; 9 |]

    /// Fashion-MNIST 10 classes, labels remapped to `leafOrder`: stand-in for ILSVRC-10.
    let hierarchy (trainCount: int) (testCount: int) (seed: int) =
        let remap = Array.map (fun l -> Array.IndexOf(leafOrder, l))
        let tx, ty = fashion Train |> subset seed trainCount
        let vx, vy = fashion Test |> subset (seed + 1) testCount
        { Name = "fashion-hierarchy"
          Data = "Fashion-MNIST 10 classes with a 2/5/10 hierarchy (stand-in for ILSVRC-10)"
          TrainX = tx; TrainY = remap ty; TestX = vx; TestY = remap vy
          Metric = Accuracy; Classes = 10 }
