/// `autodesign gan fid|swd` — metrics on saved image sets (PNG directories/files or IDX files).
module AutoDesign.Cli.Commands.Gan

open System.IO
open Argu
open TorchSharp
open AutoDesign.Runs
open AutoDesign.DGGAN
open AutoDesign.Reproduce.DGGAN
open AutoDesign.Metrics

type GanMetricArgs =
    | [<Mandatory>] Real of path: string
    | [<Mandatory>] Fake of path: string
    | Feature_Net of path: string
    | Data of string
    | Seed of int
    interface IArgParserTemplate with
        member a.Usage =
            match a with
            | Real _ -> "real image set: a directory of PNG images (8-bit grey or RGB), one PNG file, or an IDX file (bytes, dims [N,H,W], raw or gzipped)."
            | Fake _ -> "generated image set, same formats."
            | Feature_Net _ -> "feature network weights (fid only; default runs/dggan/feature-net-<data>.dgw, trained there if missing)."
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

let handle (args: ParseResults<GanArgs>) =
    match args.GetSubCommand() with
    | Fid r ->
        let real = ImageSet.load (r.GetResult Real) torch.CPU
        let fake = ImageSet.load (r.GetResult Fake) torch.CPU
        let data = r.GetResult(Data, "mnist")
        let path = r.GetResult(Feature_Net, Path.Combine("runs", "dggan", sprintf "feature-net-%s.dgw" data))
        let s = DgganExperiment.quick data 1
        let net =
            if File.Exists path then FeatureNet.loadOrTrain path Unchecked.defaultof<_> [||] 10 0 0 torch.CPU ignore
            else
                let images, labels, classes = DgganExperiment.loadImages { s with TrainImages = System.Int32.MaxValue }
                FeatureNet.loadOrTrain path images labels classes 3 1 torch.CPU (printfn "%s")
        let ex = FeatureNet.extractor net
        let fid = Fid.distance (Fid.stats (ex.Features real)) (Fid.stats (ex.Features fake))
        printfn "FID %.4f (%d real, %d fake; %s)" fid real.shape.[0] fake.shape.[0] ex.Name
        0
    | Swd r ->
        let real = ImageSet.load (r.GetResult Real) torch.CPU
        let fake = ImageSet.load (r.GetResult Fake) torch.CPU
        let per, avg = Swd.compute (r.GetResult(Seed, 1)) real fake
        let res = int real.shape.[2]
        per |> List.iteri (fun i v -> printfn "SWDx1e3 level %d (%dx%d): %.3f" i (res >>> i) (res >>> i) v)
        printfn "SWDx1e3 average: %.3f" avg
        0
