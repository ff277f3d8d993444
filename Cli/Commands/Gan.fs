/// `autodesign gan fid|swd` — metrics on saved image sets (PNG directories/files or IDX files).
module AutoDesign.Cli.Commands.Gan

open System.IO
open Argu
open TorchSharp
open AutoDesign.Runs
open AutoDesign.DGGAN
open AutoDesign.Reproduce.DGGAN
open AutoDesign.Metrics
open AutoDesign.Cli
open AutoDesign.Cli.Globals

type GanMetricArgs =
    | [<Mandatory>] Real of path: string
    | [<Mandatory>] Fake of path: string
    | Feature_Net of path: string
    | Data of AutoDesign.Cli.Commands.Dggan.GanData
    | Seed of int

    interface IArgParserTemplate with
        member a.Usage =
            match a with
            | Real _ -> "real image set: a directory of PNG images (8-bit grey or RGB), one PNG file, or an IDX file (bytes, dims [N,H,W], raw or gzipped)."
            | Fake _ -> "generated image set, same formats."
            | Feature_Net _ ->
                "feature network: a weights.safetensors file or a run folder holding one (fid only; default the run folder <runs-root>/dggan/feature-net-<data>, trained there if missing)."
            | Data _ -> "data set the feature network is trained on when missing (default mnist)."
            | Seed _ -> "seed for SWD's random neighbourhoods and directions (default 1)."

type GanArgs =
    | [<CliPrefix(CliPrefix.None)>] Fid of ParseResults<GanMetricArgs>
    | [<CliPrefix(CliPrefix.None)>] Swd of ParseResults<GanMetricArgs>

    interface IArgParserTemplate with
        member a.Usage =
            match a with
            | Fid _ -> "Frechet distance in the feature network's space (stand-in for Inception)."
            | Swd _ -> "sliced Wasserstein distance x1e3 per Laplacian level (ProgGAN)."

/// The feature network for `gan fid`: a given weights file or run folder, or the default run folder (trained
/// there, resumably, when missing).
let private featureNet (g: Globals) (r: ParseResults<GanMetricArgs>) =
    match r.TryGetResult Feature_Net with
    | Some p when File.Exists p -> FeatureNet.load p torch.CPU
    | Some p when File.Exists(Path.Combine(p, FeatureNet.weightsFile)) -> FeatureNet.load (Path.Combine(p, FeatureNet.weightsFile)) torch.CPU
    | Some p -> Errors.fail "--feature-net %s is neither a weights file nor a run folder holding %s" p FeatureNet.weightsFile
    | None ->
        let data = AutoDesign.Cli.Commands.Dggan.dataName (r.GetResult(Data, defaultValue = AutoDesign.Cli.Commands.Dggan.Mnist))
        let s = { DgganExperiment.quick data 1 with TrainImages = System.Int32.MaxValue }
        let images = DgganExperiment.loadImages s
        let cfg = FeatureNet.splitConfig data images 3 1
        use run = Run.Open(g.RunOptions, sprintf "dggan/feature-net-%s" data, FeatureNet.kind, cfg)

        let { TrainedFeatureNet.Net = net; HeldOutAccuracy = acc } =
            FeatureNet.trainSplitIn run cfg images torch.CPU (System.Action<string>(printfn "%s"))

        printfn "feature network %s: held-out accuracy %.2f%%" run.Dir (100.0 * acc)
        net

let handle (g: Globals) (args: ParseResults<GanArgs>) =
    g.NoJobs "gan"
    g.Start() |> ignore

    match args.GetSubCommand() with
    | Fid r ->
        let real = ImageSet.load (r.GetResult Real) torch.CPU
        let fake = ImageSet.load (r.GetResult Fake) torch.CPU
        // every check on the inputs comes before the feature network is trained or loaded
        FeatureNet.checkImages (sprintf "real set %s" (r.GetResult Real)) real
        FeatureNet.checkImages (sprintf "fake set %s" (r.GetResult Fake)) fake

        if real.shape.[2] <> fake.shape.[2] then
            Errors.fail
                "the real images are %dx%d but the fake ones %dx%d (width x height): FID compares sets of one size (average-pool the larger set to the smaller size first)"
                real.shape.[3]
                real.shape.[2]
                fake.shape.[3]
                fake.shape.[2]

        let d = int64 AutoDesign.Nn.DGGAN.FeatureClassifier.FeatureDim

        for (name, set: torch.Tensor) in [ "real", real; "fake", fake ] do
            if set.shape.[0] <= d then
                Errors.fail "the %s set has %d images; FID needs more than %d (the feature dimension) for a full-rank covariance" name set.shape.[0] d

        use net = featureNet g r
        let ex = FeatureNet.extractor net
        let v = Fid.compute (Fid.stats (ex.Features.Invoke real)) (Fid.stats (ex.Features.Invoke fake))

        printfn
            "FID %.4f (%d real, %d fake; %s%s)"
            v.Value
            real.shape.[0]
            fake.shape.[0]
            ex.Name
            (if v.Offset > 0.0 then sprintf "; a covariance was singular: %g added to both diagonals" v.Offset else "")

        0
    | Swd r ->
        let real = ImageSet.load (r.GetResult Real) torch.CPU
        let fake = ImageSet.load (r.GetResult Fake) torch.CPU
        if r.Contains Feature_Net || r.Contains Data then Errors.fail "--feature-net and --data apply to gan fid only"

        if real.shape.[2] <> fake.shape.[2] || real.shape.[3] <> fake.shape.[3] then
            Errors.fail
                "the real images are %dx%d but the fake ones %dx%d (width x height): SWD compares sets of one size"
                real.shape.[3]
                real.shape.[2]
                fake.shape.[3]
                fake.shape.[2]

        let swd = Swd.compute (Values.nonNegative "seed" (r.GetResult(Seed, defaultValue = 1))) real fake
        let res = int real.shape.[2]
        swd.PerLevel |> Seq.iteri (fun i v -> printfn "SWDx1e3 level %d (%dx%d): %.3f" i (res >>> i) (res >>> i) v)
        printfn "SWDx1e3 average: %.3f" swd.Average
        0
