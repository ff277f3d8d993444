namespace AutoDesign.Reproduce.UniLoss

open TorchSharp
open AutoDesign.Data
open AutoDesign.Runs
open AutoDesign.Nn
open AutoDesign.Nn.UniLoss

/// The data/model pairings of the UniLoss experiments (thesis §3.4.2, §3.4.4).
module ExpTasks =
    /// Relabel: 1 for `positiveClass`, 0 for the rest.
    let oneVsRest (positiveClass: int) (ds: Dataset) = { ds with Labels = ds.Labels |> Array.map (fun y -> if y = positiveClass then 1 else 0) }

    let private identity (x: torch.Tensor) = x.alias ()

    /// Per-channel normalisation, as the authors' code (one mean and std over every pixel of the training
    /// images; the images are grayscale, so one channel). Normalised inputs stay in
    /// [-mean/std, (1-mean)/std] (about [-0.8, 2.0] on Fashion-MNIST), also after a crop shift. Per-pixel
    /// statistics are not bounded: border pixels have std near 0, so their z-scores reach tens
    /// (docs/uniloss.md, "Input normalisation").
    let perChannelNormaliser (ds: Dataset) (trainIdx: int[]) : torch.Tensor -> torch.Tensor =
        let px = ds.Height * ds.Width
        let mutable sum, sq = 0.0, 0.0

        for i in trainIdx do
            let o = i * px

            for p in 0 .. px - 1 do
                let v = float ds.Images.[o + p]
                sum <- sum + v
                sq <- sq + v * v

        let n = float trainIdx.Length * float px
        let mean = sum / n
        let sd = sqrt (max 1e-4 (sq / n - mean * mean))
        fun (x: torch.Tensor) -> x.Sub(mean).Div(sd)

    /// `ds` (the MNIST digits) split by the seed into `trainN` training and `testN` held-out digits, MLP
    /// 784-500-300-`classes`.
    let private mnistSplit name (ds: Dataset) metric (classes: int) (seed: int) (trainN: int) (testN: int) : ExpTask =
        if trainN + testN > ds.Count then Errors.fail "MNIST has %d digits, cannot split %d + %d" ds.Count trainN testN
        let perm = ExpData.permutation seed ds.Count

        { Name = name
          Data = ds
          TrainIdx = perm.[.. trainN - 1]
          TestIdx = perm.[trainN .. trainN + testN - 1]
          Metric = metric
          MakeModel = (fun () -> UniLossModels.Mlp(classes) :> _)
          Prep = identity }

    /// MNIST "0 vs rest" (1:9) on the 10k digits, seeded split into `trainN` / `testN`, MLP 784-500-300-2.
    let mnistZeroVsRest (seed: int) (trainN: int) (testN: int) : ExpTask =
        mnistSplit "mnist-0-vs-rest" (ExpData.mnist () |> oneVsRest 0) AveragePrecision 2 seed trainN testN

    /// Stacks Fashion-MNIST train (60k) and test (10k) into one data set: indices 0..59999 train, 60000.. test.
    let fashionAll () : Dataset * int[] * int[] =
        let tr = ExpData.fashion "train"
        let te = ExpData.fashion "test"
        AutoDesign.Reproduce.Data.Datasets.concat "fashion-mnist" [ tr; te ], Array.init tr.Count id, Array.init te.Count (fun i -> tr.Count + i)

    /// A seeded subset of `idx` of size n (all of it when n >= length).
    let subset (seed: int) (n: int) (idx: int[]) =
        if n >= idx.Length then
            idx
        else
            ExpData.permutation seed idx.Length |> Array.take n |> Array.map (fun k -> idx.[k]) |> Array.sort

    /// A validation set carved from the training pool: a seeded subset of size n of `pool` minus
    /// `trainIdx` (disjoint from the training subset and from the test images).
    let validation (seed: int) (n: int) (pool: int[]) (trainIdx: int[]) =
        let used = System.Collections.Generic.HashSet<int>(trainIdx)
        let rest = pool |> Array.filter (used.Contains >> not)

        if rest.Length < n then
            Errors.fail
                "validation needs %d training images outside the %d used for training; only %d are left (lower --train-size)"
                n
                trainIdx.Length
                rest.Length

        subset (seed + 2) n rest

    /// Held-out images: `testN` test images, or (validation) as many training images outside `trainIdx`.
    let heldOut (validate: bool) (seed: int) (testN: int) (tr: int[]) (te: int[]) (trainIdx: int[]) =
        if validate then validation seed testN tr trainIdx else subset (seed + 1) testN te

    /// Fashion-MNIST class `cls` vs rest (1:9), MLP 784-500-300-2. validate: score on a validation
    /// set carved from the training images instead of the test set.
    let fashionOneVsRest (cls: int) (validate: bool) (seed: int) (trainN: int) (testN: int) : ExpTask =
        let ds, tr, te = fashionAll ()
        let trainIdx = subset seed trainN tr

        { Name = sprintf "fashion-%d-vs-rest" cls
          Data = oneVsRest cls ds
          TrainIdx = trainIdx
          TestIdx = heldOut validate seed testN tr te trainIdx
          Metric = AveragePrecision
          MakeModel = (fun () -> UniLossModels.Mlp(2) :> _)
          Prep = identity }

    /// Images averaged over 2×2 blocks (28×28 → 14×14; an odd last row or column is dropped).
    let halfSize (ds: Dataset) : Dataset =
        let h, w = ds.Height / 2, ds.Width / 2
        let src = ds.Height * ds.Width
        let out = Array.zeroCreate<float32>(ds.Count * h * w)

        for n in 0 .. ds.Count - 1 do
            let o = n * src

            for r in 0 .. h - 1 do
                for c in 0 .. w - 1 do
                    let a = o + 2 * r * ds.Width + 2 * c
                    out.[(n * h + r) * w + c] <- (ds.Images.[a] + ds.Images.[a + 1] + ds.Images.[a + ds.Width] + ds.Images.[a + ds.Width + 1]) / 4.0f

        { ds with Name = ds.Name + "-14x14"; Images = out; Height = h; Width = w }

    /// Fashion-MNIST 10-class accuracy with ResNet-20 (stand-in for CIFAR-10) of stage widths
    /// width·2width·4width (16 in the thesis), per-channel normalised; `half`: images halved to 14×14
    /// (halfSize). validate: score on a validation set carved from the training images instead of the
    /// test set.
    let fashionResNet (validate: bool) (width: int) (half: bool) (seed: int) (trainN: int) (testN: int) : ExpTask =
        let ds, tr, te = fashionAll ()
        let ds = if half then halfSize ds else ds
        let trainIdx = subset seed trainN tr

        { Name = sprintf "fashion-resnet20%s%s" (if width = 16 then "" else sprintf "-w%d" width) (if half then "-14x14" else "")
          Data = ds
          TrainIdx = trainIdx
          TestIdx = heldOut validate seed testN tr te trainIdx
          Metric = Accuracy
          MakeModel = (fun () -> new ResNet20(1, 10, 3, width) :> _)
          Prep = perChannelNormaliser ds trainIdx }

    /// MNIST 10-class accuracy with the MLP 784-500-300-10 (cheap stand-in for the CIFAR-10 ablations).
    let mnistDigitsMlp (seed: int) (trainN: int) (testN: int) : ExpTask = mnistSplit "mnist-10-class-mlp" (ExpData.mnist ()) Accuracy 10 seed trainN testN
