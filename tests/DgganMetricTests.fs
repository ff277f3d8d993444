module AutoDesign.Tests.DgganMetricTests

open Expecto
open TorchSharp
open AutoDesign.Runs
open AutoDesign.DGGAN
open AutoDesign.Reproduce.DGGAN
open AutoDesign.Metrics

let private eye d = Array2D.init d d (fun i j -> if i = j then 1.0 else 0.0)

/// Plain-loop mean and unbiased covariance, the reference for Fid.stats.
let private plainStats (x: float[][]) =
    let n, d = x.Length, x.[0].Length
    let mu = Array.init d (fun j -> (Array.sumBy (fun (r: float[]) -> r.[j]) x) / float n)
    let cov = Array2D.init d d (fun i j -> (x |> Array.sumBy (fun r -> (r.[i] - mu.[i]) * (r.[j] - mu.[j]))) / float (n - 1))
    mu, cov

[<Tests>]
let tests =
    testList "dggan.metrics" [
        test "FID of identical statistics is 0" {
            let s = { Mean = [| 0.3; -1.0; 2.0 |]; Cov = array2D [ [ 2.0; 0.5; 0.1 ]; [ 0.5; 1.0; 0.2 ]; [ 0.1; 0.2; 3.0 ] ] }
            Expect.floatClose Accuracy.medium (Fid.distance s s) 0.0 "FID(s, s)"
        }
        testProperty "FID of mu = 0 vs mu = 1 with identity covariance is d" <| fun (d0: byte) ->
            let d = 1 + int d0 % 12
            let a = { Mean = Array.zeroCreate d; Cov = eye d }
            let b = { Mean = Array.create d 1.0; Cov = eye d }
            abs (Fid.distance a b - float d) < 1e-8
        test "FID of diagonal covariances matches the hand value" {
            // Σ1 = diag(1,4), Σ2 = diag(4,1): (Σ1Σ2)^½ = 2I, so FID = 5 + 5 − 8 = 2 (+ ‖(1,2)‖² = 5 for the means).
            let a = { Mean = [| 0.0; 0.0 |]; Cov = array2D [ [ 1.0; 0.0 ]; [ 0.0; 4.0 ] ] }
            let b = { Mean = [| 1.0; 2.0 |]; Cov = array2D [ [ 4.0; 0.0 ]; [ 0.0; 1.0 ] ] }
            Expect.floatClose Accuracy.high (Fid.distance a b) 7.0 "5 + 2"
        }
        test "sqrtm of a symmetric 2×2 matches the closed form" {
            // [[2,1],[1,2]] has eigenvalues 1 and 3: √ = ½[[√3+1, √3−1],[√3−1, √3+1]].
            let r = Fid.sqrtm (array2D [ [ 2.0; 1.0 ]; [ 1.0; 2.0 ] ])
            let s3 = sqrt 3.0
            Expect.floatClose Accuracy.high r.[0, 0] ((s3 + 1.0) / 2.0) "[0,0]"
            Expect.floatClose Accuracy.high r.[0, 1] ((s3 - 1.0) / 2.0) "[0,1]"
            Expect.floatClose Accuracy.high r.[1, 1] ((s3 + 1.0) / 2.0) "[1,1]"
        }
        test "FID rejects mismatched dimensions with a UserError" {
            let a = { Mean = [| 0.0 |]; Cov = eye 1 }
            let b = { Mean = [| 0.0; 0.0 |]; Cov = eye 2 }
            Expect.throwsT<UserError> (fun () -> Fid.distance a b |> ignore) "dims"
        }
        test "feature statistics match a plain loop" {
            let rng = System.Random 3
            let rows = Array.init 50 (fun _ -> Array.init 4 (fun _ -> rng.NextDouble() * 2.0 - 1.0))
            use t = torch.tensor(Array.concat rows : float[]).reshape(50L, 4L)
            let s = Fid.stats t
            let mu, cov = plainStats rows
            for j in 0 .. 3 do
                Expect.floatClose Accuracy.high s.Mean.[j] mu.[j] "mean"
                for k in 0 .. 3 do Expect.floatClose Accuracy.high s.Cov.[j, k] cov.[j, k] "cov"
        }
        test "SWD of a set with itself is about 0 and far below that of a different set" {
            torch.manual_seed 7L |> ignore
            use a = torch.nn.functional.avg_pool2d(torch.randn(64L, 1L, 18L, 18L), 3L, 1L) // smooth 16×16 images
            use b = torch.randn(64L, 1L, 16L, 16L).gt(torch.tensor(1.5f)).to_type(torch.float32)           // sparse dots
            let perSelf, self = Swd.compute 1 a a
            let _, other = Swd.compute 1 a b
            Expect.equal perSelf.Length 1 "one level at 16×16"
            Expect.isLessThan self (other / 5.0) (sprintf "self %.2f ≪ other %.2f" self other)
        }
        test "Laplacian pyramid reconstructs the image" {
            torch.manual_seed 8L |> ignore
            use x = torch.randn(2L, 1L, 16L, 16L)
            let pyr = Swd.laplacianPyramid x 2
            use recon = pyr.[0] + Swd.pyrUp pyr.[1]
            Expect.isTrue (torch.allclose(recon, x, 1e-4, 1e-5)) "lap + up(gauss) = x"
        }
        test "inception score: identical predictions give 1, confident uniform classes give their count" {
            use same = torch.zeros(40L, 10L)
            let m1, _ = InceptionScore.ofLogits same 2
            Expect.floatClose Accuracy.high m1 1.0 "IS = 1"
            use conf = torch.eye(10L).repeat(4L, 1L) * 100.0
            let m2, _ = InceptionScore.ofLogits conf 2
            Expect.floatClose Accuracy.medium m2 10.0 "IS = 10"
        }
        test "IDX image sets roundtrip and corrupt files raise UserError" {
            let path = System.IO.Path.Combine(System.IO.Path.GetTempPath(), sprintf "dggan-%d.idx" (System.Random().Next()))
            use x = torch.tensor([| -1.0f; 0.0f; 1.0f; 0.5f; -0.5f; 1.0f |]).reshape(1L, 1L, 2L, 3L)
            ImageSet.save path x
            use y = ImageSet.load path torch.CPU
            Expect.equal y.shape [| 1L; 1L; 2L; 3L |] "shape"
            Expect.isTrue (torch.allclose(x, y, 0.0, 1.0 / 127.0)) "values within one grey level"
            System.IO.File.WriteAllBytes(path, [| 0uy; 0uy; 8uy; 3uy; 0uy |])
            Expect.throwsT<UserError> (fun () -> ImageSet.load path torch.CPU |> ignore) "truncated"
            System.IO.File.Delete path
        }
    ]
