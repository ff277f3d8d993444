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
    testList
        "dggan.metrics"
        [ test "FID of identical statistics is 0" {
              let s = { Mean = [| 0.3; -1.0; 2.0 |]; Cov = array2D [ [ 2.0; 0.5; 0.1 ]; [ 0.5; 1.0; 0.2 ]; [ 0.1; 0.2; 3.0 ] ] }
              Expect.floatClose Accuracy.medium (Fid.distance s s) 0.0 "FID(s, s)"
          }
          testProperty "FID of mu = 0 vs mu = 1 with identity covariance is d"
          <| fun (d0: byte) ->
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
              use t = torch.tensor(Array.concat rows: float[]).reshape(50L, 4L)
              let s = Fid.stats t
              let mu, cov = plainStats rows

              for j in 0..3 do
                  Expect.floatClose Accuracy.high s.Mean.[j] mu.[j] "mean"

                  for k in 0..3 do
                      Expect.floatClose Accuracy.high s.Cov.[j, k] cov.[j, k] "cov"
          }
          test "SWD of a set with itself is about 0 and far below that of a different set" {
              torch.manual_seed 7L |> ignore
              use a = torch.nn.functional.avg_pool2d (torch.randn (64L, 1L, 18L, 18L), 3L, 1L) // smooth 16×16 images
              use b = torch.randn(64L, 1L, 16L, 16L).gt(torch.tensor (1.5f)).to_type(torch.float32) // sparse dots
              let selfSwd = Swd.compute 1 a a
              let self, other = selfSwd.Average, (Swd.compute 1 a b).Average
              Expect.equal selfSwd.PerLevel.Count 1 "one level at 16×16"
              Expect.isLessThan self (other / 5.0) (sprintf "self %.2f ≪ other %.2f" self other)
          }
          test "Laplacian pyramid reconstructs the image" {
              torch.manual_seed 8L |> ignore
              use x = torch.randn (2L, 1L, 16L, 16L)
              let pyr = Swd.laplacianPyramid x 2
              use recon = pyr.[0] + Swd.pyrUp pyr.[1]
              Expect.isTrue (torch.allclose (recon, x, 1e-4, 1e-5)) "lap + up(gauss) = x"
          }
          test "inception score: identical predictions give 1, confident uniform classes give their count" {
              use same = torch.zeros (40L, 10L)
              let m1 = (InceptionScore.ofLogits same 2).Mean
              Expect.floatClose Accuracy.high m1 1.0 "IS = 1"
              use conf = torch.eye(10L).repeat(4L, 1L) * 100.0
              let m2 = (InceptionScore.ofLogits conf 2).Mean
              Expect.floatClose Accuracy.medium m2 10.0 "IS = 10"
          }
          test "IDX image sets roundtrip and corrupt files raise UserError" {
              let path = System.IO.Path.Combine(System.IO.Path.GetTempPath(), sprintf "dggan-%d.idx" (System.Random().Next()))
              use x = torch.tensor([| -1.0f; 0.0f; 1.0f; 0.5f; -0.5f; 1.0f |]).reshape(1L, 1L, 2L, 3L)
              ImageSet.save path x
              use y = ImageSet.load path torch.CPU
              Expect.equal y.shape [| 1L; 1L; 2L; 3L |] "shape"
              Expect.isTrue (torch.allclose (x, y, 0.0, 1.0 / 127.0)) "values within one grey level"
              System.IO.File.WriteAllBytes(path, [| 0uy; 0uy; 8uy; 3uy; 0uy |])
              Expect.throwsT<UserError> (fun () -> ImageSet.load path torch.CPU |> ignore) "truncated"
              System.IO.File.Delete path
          } ]

/// An independent reference for Tr((Σ1Σ2)^½): cyclic Jacobi eigendecomposition of symmetric matrices in plain
/// F# arrays (no TorchSharp), then Σ1^½ = V·diag(√λ)·Vᵀ and the eigenvalues of Σ1^½·Σ2·Σ1^½.
module private Reference =
    let jacobi (a0: float[,]) =
        let n = Array2D.length1 a0
        let a = Array2D.copy a0
        let v = Array2D.init n n (fun i j -> if i = j then 1.0 else 0.0)

        for _ in 1..100 do
            for p in 0 .. n - 2 do
                for q in p + 1 .. n - 1 do
                    if abs a.[p, q] > 1e-300 then
                        let theta = (a.[q, q] - a.[p, p]) / (2.0 * a.[p, q])
                        let t = (if theta >= 0.0 then 1.0 else -1.0) / (abs theta + sqrt (theta * theta + 1.0))
                        let c = 1.0 / sqrt (t * t + 1.0)
                        let s = t * c

                        for k in 0 .. n - 1 do
                            let akp, akq = a.[k, p], a.[k, q]
                            a.[k, p] <- c * akp - s * akq
                            a.[k, q] <- s * akp + c * akq

                        for k in 0 .. n - 1 do
                            let apk, aqk = a.[p, k], a.[q, k]
                            a.[p, k] <- c * apk - s * aqk
                            a.[q, k] <- s * apk + c * aqk

                        for k in 0 .. n - 1 do
                            let vkp, vkq = v.[k, p], v.[k, q]
                            v.[k, p] <- c * vkp - s * vkq
                            v.[k, q] <- s * vkp + c * vkq

        Array.init n (fun i -> a.[i, i]), v

    let mul (a: float[,]) (b: float[,]) =
        let n = Array2D.length1 a
        Array2D.init n n (fun i j -> Seq.sum (seq { for k in 0 .. n - 1 -> a.[i, k] * b.[k, j] }))

    let sqrtPsd (a: float[,]) =
        let l, v = jacobi a
        let n = l.Length
        Array2D.init n n (fun i j -> Seq.sum (seq { for k in 0 .. n - 1 -> v.[i, k] * sqrt (max l.[k] 0.0) * v.[j, k] }))

    let fid (m1: float[]) (c1: float[,]) (m2: float[]) (c2: float[,]) =
        let r = sqrtPsd c1
        let l, _ = jacobi (mul (mul r c2) r)
        let tr (m: float[,]) = Seq.sum (seq { for i in 0 .. Array2D.length1 m - 1 -> m.[i, i] })

        (Array.map2 (fun a b -> (a - b) * (a - b)) m1 m2 |> Array.sum) + tr c1 + tr c2
        - 2.0 * (l |> Array.sumBy (fun x -> sqrt (max x 0.0)))

    /// A random symmetric positive definite d×d matrix A·Aᵀ + 0.1·I.
    let spd (rng: System.Random) (d: int) =
        let a = Array2D.init d d (fun _ _ -> rng.NextDouble() * 2.0 - 1.0)
        Array2D.init d d (fun i j -> Seq.sum (seq { for k in 0 .. d - 1 -> a.[i, k] * a.[j, k] }) + (if i = j then 0.1 else 0.0))

[<Tests>]
let fidTests =
    testList
        "dggan.fid"
        [ test "FID matches an independent plain-F# Jacobi computation on random 5x5 statistics" {
              let rng = System.Random 11

              for _ in 1..5 do
                  let d = 5
                  let m1, m2 = Array.init d (fun _ -> rng.NextDouble()), Array.init d (fun _ -> rng.NextDouble())
                  let c1, c2 = Reference.spd rng d, Reference.spd rng d
                  let ours = Fid.distance { Mean = m1; Cov = c1 } { Mean = m2; Cov = c2 }
                  let theirs = Reference.fid m1 c1 m2 c2
                  Expect.isLessThan (abs (ours - theirs)) (1e-9 * (1.0 + abs theirs)) (sprintf "FID %.12g vs reference %.12g" ours theirs)
          }
          test "Tr((S1 S2)^1/2) of 2x2 statistics matches the closed form sqrt(tr + 2 sqrt(det))" {
              // for a 2x2 matrix with non-negative eigenvalues, tr √M = √(tr M + 2√det M); FID = Tr S1 + Tr S2 − 2 tr √(S1 S2)
              let c1 = array2D [ [ 2.0; 0.3 ]; [ 0.3; 1.0 ] ]
              let c2 = array2D [ [ 1.5; -0.4 ]; [ -0.4; 0.7 ] ]
              let m = Reference.mul c1 c2
              let tr, det = m.[0, 0] + m.[1, 1], m.[0, 0] * m.[1, 1] - m.[0, 1] * m.[1, 0]
              let expected = (2.0 + 1.0) + (1.5 + 0.7) - 2.0 * sqrt (tr + 2.0 * sqrt det)
              Expect.floatClose Accuracy.veryHigh (Fid.distance { Mean = [| 0.0; 0.0 |]; Cov = c1 } { Mean = [| 0.0; 0.0 |]; Cov = c2 }) expected "closed form"
          }
          test "FID is the same whatever the argument order (exactly)" {
              let rng = System.Random 12

              for d in [ 3; 8; 16 ] do
                  let a = { Mean = Array.init d (fun _ -> rng.NextDouble()); Cov = Reference.spd rng d }
                  let b = { Mean = Array.init d (fun _ -> rng.NextDouble()); Cov = Reference.spd rng d }
                  Expect.equal (Fid.distance a b) (Fid.distance b a) (sprintf "d = %d" d)
          }
          test "a singular covariance takes pytorch-fid's eps*I fallback and still matches the reference" {
              // a feature that never varies makes Σ1 singular
              let c1 = array2D [ [ 1.0; 0.2; 0.0 ]; [ 0.2; 0.5; 0.0 ]; [ 0.0; 0.0; 0.0 ] ]
              let c2 = array2D [ [ 0.8; 0.1; 0.05 ]; [ 0.1; 0.9; 0.0 ]; [ 0.05; 0.0; 0.3 ] ]
              let m1, m2 = [| 0.0; 1.0; 2.0 |], [| 0.5; 1.0; 1.0 |]
              let v = Fid.compute { Mean = m1; Cov = c1 } { Mean = m2; Cov = c2 }
              Expect.equal v.Offset Fid.Epsilon "the εI offset was used"
              let eps (c: float[,]) = Array2D.init 3 3 (fun i j -> c.[i, j] + (if i = j then Fid.Epsilon else 0.0))
              Expect.isLessThan (abs (v.Value - Reference.fid m1 (eps c1) m2 (eps c2))) 1e-9 "value = reference with εI added"
              let regular = Fid.compute { Mean = m1; Cov = c2 } { Mean = m2; Cov = c2 }
              Expect.equal regular.Offset 0.0 "no offset for full-rank covariances"
          }
          test "a set too small for a full-rank covariance is a clear UserError" {
              use f = torch.randn (10L, 16L)

              let msg =
                  try
                      Fid.stats f |> ignore
                      ""
                  with UserError m ->
                      m

              Expect.stringContains msg "10 samples of 16 features" "names the sizes"
              Expect.stringContains msg "at least 17" "says how many are needed"
          }
          test "feature-network input sizes are checked: 28x28 and colour refused, 8/16/32 accepted" {
              use x28 = torch.zeros (4L, 1L, 28L, 28L)

              let msg =
                  try
                      FeatureNet.checkImages "set a" x28
                      ""
                  with UserError m ->
                      m

              Expect.stringContains msg "set a: images are 28x28" "names the set and the size"
              Expect.stringContains msg "32x32" "says what it reads"
              use rgb = torch.zeros (4L, 3L, 32L, 32L)
              Expect.throwsT<UserError> (fun () -> FeatureNet.checkImages "rgb" rgb) "3 channels"

              for side in [ 8L; 16L; 32L ] do
                  use ok = torch.zeros (4L, 1L, side, side)
                  FeatureNet.checkImages "ok" ok
          }
          test "gan fid refuses 28x28 images, mixed sizes and too-small sets before any feature network is trained" {
              let dir = System.IO.Path.Combine(System.IO.Path.GetTempPath(), sprintf "gan-fid-%s" (System.Guid.NewGuid().ToString("N")))
              System.IO.Directory.CreateDirectory dir |> ignore

              let save name (x: torch.Tensor) =
                  let p = System.IO.Path.Combine(dir, name) in
                  ImageSet.save p x
                  p

              let a28 = save "a28.idx" (torch.zeros (100L, 1L, 28L, 28L))
              let a32 = save "a32.idx" (torch.zeros (100L, 1L, 32L, 32L))
              let b16 = save "b16.idx" (torch.zeros (100L, 1L, 16L, 16L))
              let small = save "small.idx" (torch.zeros (20L, 1L, 32L, 32L))

              let fid real fake =
                  use err = new System.IO.StringWriter()
                  let clock = System.Diagnostics.Stopwatch.StartNew()

                  let rc =
                      AutoDesign.Cli.Program.runWith
                          err
                          [| "gan"; "fid"; "--real"; real; "--fake"; fake; "--feature-net"; System.IO.Path.Combine(dir, "none") |]

                  rc, err.ToString().Trim(), clock.Elapsed.TotalSeconds

              let rc1, e1, t1 = fid a28 a28
              Expect.equal rc1 1 "28x28 refused"
              Expect.stringContains e1 "images are 28x28" "says why"
              Expect.isLessThan t1 30.0 "refused at once"
              let rc2, e2, _ = fid a32 b16
              Expect.equal rc2 1 "32 vs 16 refused"
              Expect.stringContains e2 "32x32 but the fake ones 16x16" "names both sizes"
              let rc3, e3, _ = fid a32 small
              Expect.equal rc3 1 "20 images refused"
              Expect.stringContains e3 "20 images" "names the count"
              Expect.isFalse (System.IO.Directory.Exists(System.IO.Path.Combine(dir, "none"))) "no feature network was trained"
              System.IO.Directory.Delete(dir, true)
          } ]

[<Tests>]
let featureNetTests =
    testSequenced
    <| testList
        "dggan.feature-net"
        [ test "the trained feature network ranks known-better sets better: real < light noise < heavy noise < shuffled" {
              let s = { DgganExperiment.quick "mnist" 1 with TrainImages = 3000; FeatureEpochs = 2; RealEval = 500; FinalSamples = 500 }

              let root =
                  System.IO.Path.Combine(System.IO.Path.GetTempPath(), sprintf "feature-net-%s" (System.Guid.NewGuid().ToString("N")))

              use search = Run.Open({ RunOptions.Default with Root = root }, "search", "test.search/1", 1)
              let env, acc, net = DgganExperiment.environment search s torch.CPU ignore
              use _net = net
              Expect.isGreaterThan acc 0.5 "the network learned the digits (10 classes)"

              for res in [ 16; 32 ] do
                  let checks, _ = SearchRun.featureChecks env res 5
                  let fids = checks |> List.map (fun c -> c.Fid)

                  Expect.equal
                      (checks |> List.map (fun c -> c.Set))
                      [ "real (selection set)"; "real + noise sd 0.25"; "real + noise sd 0.5"; "pixels shuffled" ]
                      "sets"

                  Expect.equal fids (List.sort fids) (sprintf "%dx%d: FIDs increase with the damage: %A" res res fids)

              System.IO.Directory.Delete(root, true)
          } ]
