namespace AutoDesign.Reproduce.UniLoss.Suite

open System
open AutoDesign.Data
open AutoDesign.Reproduce.Data
open AutoDesign.Reproduce.UniLoss

/// Sizes of the metric suite: training / test examples per task, epochs, hidden width, ranking queries.
type SuiteSize = { Train: int; Test: int; Epochs: int; Hidden: int; TrainQueries: int; TestQueries: int }

/// One task's data as flat float32 rows (normalised inputs) and integer targets. Ranking tasks also carry
/// their queries (query class, item indices into the rows); segmentation targets are per-pixel maps.
type SuiteData =
    {
        Inputs: int
        TrainX: float32[]
        TrainY: int[]
        TestX: float32[]
        TestY: int[]
        /// Targets per example (1, or H·W pixels for segmentation).
        TargetsPer: int
        TrainQueries: (int * int[])[]
        TestQueries: (int * int[])[]
        Description: string
    }

/// The suite's data sets, built from Fashion-MNIST (Debian dataset-fashion-mnist) and the embedded MNIST
/// digits, each split seeded by the seed; inputs normalised with one mean and sd over the training pixels.
/// validate = true replaces each test set by a validation set of the same size and kind carved from the
/// training pool outside the training images (never the test images), for choosing defaults.
module SuiteData =
    let private rows (ds: Dataset) (idx: int[]) = (Datasets.subset ds idx).Images

    let private normalise (train: float32[]) (test: float32[]) =
        let mean = train |> Array.averageBy float
        let sd = sqrt (max 1e-4 ((train |> Array.averageBy (fun v -> float v * float v)) - mean * mean))
        let f (a: float32[]) = a |> Array.map (fun v -> float32 ((float v - mean) / sd))
        f train, f test

    let private make (ds: Dataset) (tr: int[]) (te: int[]) (label: int -> int) description =
        let trX, teX = normalise (rows ds tr) (rows ds te)

        { Inputs = ds.Height * ds.Width
          TrainX = trX
          TrainY = tr |> Array.map (fun i -> label ds.Labels.[i])
          TestX = teX
          TestY = te |> Array.map (fun i -> label ds.Labels.[i])
          TargetsPer = 1
          TrainQueries = [||]
          TestQueries = [||]
          Description = description }

    /// Fashion-MNIST class 0 (T-shirt/top) vs rest. positiveShare None: the natural 1:9; Some f: all the
    /// training subset's negatives and positives down-sampled to a share f of the training set. Test: natural.
    let imbalanced (validate: bool) (positiveShare: float option) (size: SuiteSize) (seed: int) =
        let ds, tr, te = ExpTasks.fashionAll ()
        let sub = ExpTasks.subset seed size.Train tr

        let train =
            match positiveShare with
            | None -> sub
            | Some f ->
                let neg = sub |> Array.filter (fun i -> ds.Labels.[i] <> 0)
                let pos = sub |> Array.filter (fun i -> ds.Labels.[i] = 0)
                let keep = max 2 (int (Math.Round(f / (1.0 - f) * float neg.Length)))
                Array.append neg (pos |> Array.truncate keep) |> Array.sort

        let test = ExpTasks.heldOut validate seed size.Test tr te sub

        let share =
            match positiveShare with
            | None -> "1:9"
            | Some f -> sprintf "%g%% positives" (100.0 * f)

        make
            ds
            train
            test
            (fun y -> if y = 0 then 1 else 0)
            (sprintf "Fashion-MNIST T-shirt vs rest, %s in training (%d images), natural 1:9 test set (%d)" share train.Length test.Length)

    /// Fashion-MNIST with class counts decaying geometrically 100:1 from class 0 to class 9
    /// (n_c = max(1, round(n₀ · 0.01^(c/9))), n₀ = 40% of size.Train); balanced test set.
    let longTailed (validate: bool) (size: SuiteSize) (seed: int) =
        let ds, tr, te = ExpTasks.fashionAll ()
        let n0 = max 10 (size.Train * 2 / 5)
        let perm = ExpData.permutation seed tr.Length |> Array.map (fun k -> tr.[k])

        let train =
            [| for c in 0..9 do
                   let n = max 1 (int (Math.Round(float n0 * 0.01 ** (float c / 9.0))))
                   yield! perm |> Seq.filter (fun i -> ds.Labels.[i] = c) |> Seq.truncate n |]
            |> Array.sort

        let test =
            if not validate then
                ExpTasks.subset (seed + 1) size.Test te
            else
                // balanced, like the test set: size.Test / 10 training-pool images of each class outside the training set
                let used = Collections.Generic.HashSet<int>(train)
                let rest = perm |> Array.filter (used.Contains >> not)

                [| for c in 0..9 do
                       yield! rest |> Seq.filter (fun i -> ds.Labels.[i] = c) |> Seq.truncate (size.Test / 10) |]
                |> Array.sort

        make
            ds
            train
            test
            id
            (sprintf
                "Fashion-MNIST 10 classes, training counts %d..%d (100:1, %d images), balanced test set (%d)"
                n0
                (max 1 (n0 / 100))
                train.Length
                test.Length)

    /// Fashion-MNIST 10 classes, size.Train / size.Test images.
    let tenClass (validate: bool) (size: SuiteSize) (seed: int) =
        let ds, tr, te = ExpTasks.fashionAll ()
        let train = ExpTasks.subset seed size.Train tr
        let test = ExpTasks.heldOut validate seed size.Test tr te train
        make ds train test id (sprintf "Fashion-MNIST 10 classes, %d training / %d test images" train.Length test.Length)

    /// Graded relevance of an item of class `label` to a query for class q: 2 for q, 1 for the next class
    /// (q + 1 mod 10), 0 otherwise.
    let relevance (q: int) (label: int) =
        if label = q then 2
        elif label = (q + 1) % 10 then 1
        else 0

    /// Queries of `items` images drawn from `count` rows with a query class each (seeded).
    let queries (seed: int) (n: int) (count: int) (items: int) =
        let rng = Random(seed)
        Array.init n (fun _ -> rng.Next 10, Array.init items (fun _ -> rng.Next count))

    /// Ranking stand-in: queries of 20 Fashion-MNIST images, a query class each, graded relevance (relevance);
    /// the score of an item is the model's output for the query class.
    let ranking (validate: bool) (size: SuiteSize) (seed: int) =
        let d = tenClass validate size seed

        { d with
            TrainQueries = queries (seed * 31 + 5) size.TrainQueries d.TrainY.Length 20
            TestQueries = queries (seed * 31 + 6) size.TestQueries d.TestY.Length 20
            Description =
                sprintf
                    "graded-relevance ranking stand-in: queries of 20 Fashion-MNIST images (%d training / %d test queries over %d / %d images); relevance 2 for the query class, 1 for the next class, 0 otherwise"
                    size.TrainQueries
                    size.TestQueries
                    d.TrainY.Length
                    d.TestY.Length }

    /// Training images of the segmentation stand-in: half of size.Train (its arms cost the most per image).
    let segmentationTrain (size: SuiteSize) = max 1 (size.Train / 2)

    /// Segmentation stand-in (segmentationTrain training images, at most 2000 test images): the embedded MNIST
    /// digits at 14×14 with Gaussian noise (sd 0.6, seeded) on the
    /// input; each pixel's label is foreground iff the clean pixel exceeds 0.4.
    let segmentation (validate: bool) (size: SuiteSize) (seed: int) =
        let ds = ExpTasks.halfSize (ExpData.mnist ())
        let nTr, nTe = segmentationTrain size, min size.Test 2000
        if nTr + nTe > ds.Count then Errors.fail "segmentation: MNIST has %d digits, cannot split %d + %d" ds.Count nTr nTe
        let perm = ExpData.permutation seed ds.Count

        if validate && nTr + 2 * nTe > ds.Count then
            Errors.fail "segmentation: MNIST has %d digits, cannot split %d + %d + %d validation" ds.Count nTr nTe nTe
        // validation: the nTe digits after the test digits (neither trained nor tested on)
        let tr, te = perm.[.. nTr - 1], (if validate then perm.[nTr + nTe .. nTr + 2 * nTe - 1] else perm.[nTr .. nTr + nTe - 1])
        let px = ds.Height * ds.Width
        let rng = Random(seed * 7 + 3)
        let gauss () = sqrt (-2.0 * log (1.0 - rng.NextDouble())) * cos (2.0 * Math.PI * rng.NextDouble())
        let noisy (idx: int[]) = rows ds idx |> Array.map (fun v -> v + float32 (0.6 * gauss ()))
        let masks (idx: int[]) = rows ds idx |> Array.map (fun v -> if v > 0.4f then 1 else 0)
        let trX, teX = normalise (noisy tr) (noisy te)

        { Inputs = px
          TrainX = trX
          TrainY = masks tr
          TestX = teX
          TestY = masks te
          TargetsPer = px
          TrainQueries = [||]
          TestQueries = [||]
          Description =
            sprintf
                "segmentation stand-in: embedded MNIST digits at 14x14 plus Gaussian noise (sd 0.6), foreground/background masks (clean pixel > 0.4); %d training / %d test images"
                tr.Length
                te.Length }
