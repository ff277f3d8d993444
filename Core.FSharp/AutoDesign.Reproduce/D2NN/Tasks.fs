namespace AutoDesign.Reproduce.D2NN

open System
open TorchSharp
open AutoDesign.Data
open AutoDesign.Reproduce.Data
open AutoDesign.D2NN

module Tasks =
    /// Fashion-MNIST train (60k) or test (10k) as images [N,1,28,28] float32 0..1 and labels
    /// (a UserError saying how to install it if absent).
    let fashion (split: Split) =
        let ds = Datasets.loadFashion split
        torch.tensor(ds.Images).reshape(int64 ds.Count, 1L, int64 ds.Height, int64 ds.Width), ds.Labels

    /// A task from its name, description, metric, class count and (images, labels) of the training,
    /// validation and test splits.
    let create name data metric classes (tx: torch.Tensor, ty: int[]) (ux: torch.Tensor, uy: int[]) (vx: torch.Tensor, vy: int[]) : Task =
        { Name = name
          Data = data
          TrainX = tx
          TrainY = ty
          ValX = ux
          ValY = uy
          TestX = vx
          TestY = vy
          Metric = metric
          Classes = classes }

    let private pick (x: torch.Tensor, y: int[]) (idx: int[]) =
        let idx = Array.sort idx
        use it = torch.tensor (idx |> Array.map int64)
        x.index_select (0L, it), idx |> Array.map (fun i -> y[i])

    /// Deterministic subset of at most `count` examples.
    let private subset (seed: int) (count: int) (x: torch.Tensor, y: int[]) =
        if count >= y.Length then
            x, y
        else
            let idx = Shuffle.permutation seed 0L y.Length
            pick (x, y) idx[.. count - 1]

    /// Disjoint deterministic subsets of the training images: `trainCount` to train on and `valCount` held
    /// out for validation (together at most the whole training split).
    let trainAndValidation (seed: int) (trainCount: int) (valCount: int) (x: torch.Tensor, y: int[]) =
        if trainCount < 1 || valCount < 1 || trainCount + valCount > y.Length then
            Errors.fail "%d training + %d validation examples do not fit in the %d training images" trainCount valCount y.Length

        let idx = Shuffle.permutation seed 0L y.Length
        pick (x, y) idx[.. trainCount - 1], pick (x, y) idx[trainCount .. trainCount + valCount - 1]

    /// A Fashion-MNIST task: `trainCount` training and `valCount` validation images carved from the training
    /// split and `testCount` test images, drawn from the seed, labels mapped by `relabel`.
    let private fashionTask name data metric classes (relabel: int[] -> int[]) trainCount valCount testCount seed =
        let (tx, ty), (ux, uy) = fashion Train |> trainAndValidation seed trainCount valCount
        let vx, vy = fashion Test |> subset (seed + 1) testCount
        create name data metric classes (tx, relabel ty) (ux, relabel uy) (vx, relabel vy)

    /// Class `positive` of Fashion-MNIST against the other nine (1:9), scored by F1: stand-in for LFW-B.
    let oneVsRest (positive: int) (trainCount: int) (valCount: int) (testCount: int) (seed: int) =
        fashionTask
            (sprintf "fashion-%d-vs-rest" positive)
            (sprintf "Fashion-MNIST class %d vs rest, 1:9 (stand-in for LFW-B face/non-face)" positive)
            (F1 1)
            2
            (Array.map (fun l -> if l = positive then 1 else 0))
            trainCount
            valCount
            testCount
            seed

    /// Leaf order of the 2/5/10 hierarchy: clothing {tops {T-shirt, Shirt}, {Pullover, Coat}, {Trouser, Dress}},
    /// accessories {{Sandal, Sneaker}, {Bag, Ankle boot}}.
    let leafOrder = [| 0; 6; 2; 4; 1; 3; 5; 7; 8; 9 |]

    /// Fashion-MNIST 10 classes, labels remapped to `leafOrder`: stand-in for ILSVRC-10.
    let hierarchy (trainCount: int) (valCount: int) (testCount: int) (seed: int) =
        fashionTask
            "fashion-hierarchy"
            "Fashion-MNIST 10 classes with a 2/5/10 hierarchy (stand-in for ILSVRC-10)"
            Accuracy
            10
            (Array.map (fun l -> Array.IndexOf(leafOrder, l)))
            trainCount
            valCount
            testCount
            seed

    /// The four tops Fashion-MNIST confuses with each other: T-shirt/top, Pullover, Coat, Shirt.
    let confusableTops = [| 0; 2; 4; 6 |]

    /// Fashion-MNIST's ten classes with their own labels, scored by accuracy: inputs of mixed difficulty.
    /// Six classes (trouser, dress, sandal, sneaker, bag, ankle boot) are told apart from coarse shape;
    /// the four tops (`confusableTops`) differ in details (collar, sleeves, buttons, texture), so a
    /// cascade's cheapest exit is expected to be wrong on a real share of them (docs/d2nn.md, "A task
    /// where routing matters").
    let fashionTen (trainCount: int) (valCount: int) (testCount: int) (seed: int) =
        if testCount < 1 then Errors.fail "the test split needs at least 1 example, got %d" testCount

        fashionTask
            "fashion-10"
            "Fashion-MNIST 10 classes: 6 told apart by coarse shape, 4 confusable tops (T-shirt, pullover, coat, shirt); not a thesis data set (stand-in for inputs of mixed difficulty)"
            Accuracy
            10
            id
            trainCount
            valCount
            testCount
            seed
