/// libtorch's CPU convolution kernels as AutoDesign.Nn.CpuKernels chooses them: input gradients that do not
/// depend on what the heap held before; float32 outputs and gradients of the shapes AutoDesign's networks use
/// against float64 (which libtorch never ran on oneDNN); and every place outside AutoDesign.Nn (whose
/// module initializer makes the choice) that makes a convolution makes the choice first.
module AutoDesign.Tests.CpuKernelTests

open System
open System.Reflection
open Expecto
open TorchSharp
open AutoDesign.Nn

let private randomTensor (rng: Random) (shape: int64[]) =
    let n = shape |> Array.fold (*) 1L
    torch.tensor(Array.init (int n) (fun _ -> float32 (rng.NextDouble() * 2.0 - 1.0))).reshape(shape)

/// Largest |a − b| over largest |b|.
let private relErr (a: torch.Tensor) (b: torch.Tensor) =
    let b = b.to_type (torch.float64)
    ScalarOps.Item(a.to_type(torch.float64).sub(b).abs().max()) / ScalarOps.Item(b.abs().max())

/// (output, input gradient, weight gradient, bias gradient) of Σ conv(x)² in the given precision.
let private convAndGrads (x0: torch.Tensor) (w0: torch.Tensor) (b0: torch.Tensor) (pad: int64) (dtype: torch.ScalarType) =
    let x = x0.to_type(dtype).detach().requires_grad_(true)
    let w = w0.to_type(dtype).detach().requires_grad_(true)
    let b = b0.to_type(dtype).detach().requires_grad_(true)
    let y = torch.nn.functional.conv2d (x, w, b, padding = [| pad; pad |])
    y.mul(y).sum().backward()
    y.detach (), x.grad, w.grad, b.grad

// (batch, input channels, output channels, kernel). On oneDNN the output was wrong for 17, 33 and 65 input
// channels (DGGAN's final convolution reads C + 1 channels: its minibatch-stddev channel), the input gradient for
// 4 or 8 output channels (DGGAN's narrow layers); the others were right before the switch too.
let private shapes =
    [ 4, 5, 4, 3
      4, 17, 16, 3
      4, 33, 32, 3
      32, 65, 64, 3
      4, 4, 4, 3
      4, 1, 4, 3
      4, 8, 8, 7
      32, 1, 32, 3
      4, 16, 16, 3 ]

let private makesConvolution (c: MethodBase) =
    not (isNull c.DeclaringType)
    && c.DeclaringType.Assembly = typeof<torch.Tensor>.Assembly
    && ((c.DeclaringType.Name = "nn" && c.Name.StartsWith "Conv")
        || (c.DeclaringType.Name = "functional" && c.Name.StartsWith "conv")
        || (c :? ConstructorInfo && c.DeclaringType.Namespace = "TorchSharp.Modules" && c.DeclaringType.Name.StartsWith "Conv"))

let private choosesKernels (m: MethodBase) =
    ScalarSafetyTests.callees m
    |> List.exists (fun (_, c) -> c.DeclaringType = typeof<CpuKernels> && c.Name = "UseLibTorchConvolutions")

/// The type and the types it is nested in (closures live in nested compiler-made types).
let rec private enclosing (t: Type) = if isNull t then [] else t :: enclosing t.DeclaringType

[<Tests>]
let tests =
    testList
        "cpu-kernels"
        [ test "oneDNN is off once AutoDesign.Nn is loaded" { Expect.isFalse CpuKernels.OneDnnEnabled "CPU convolutions use libtorch's own kernels" }
          test "conv2d input gradients match a float64 reference after NaN-filled blocks were freed" {
              // 4 output channels (not a multiple of oneDNN's channel block): oneDNN's backward-data pass read
              // unwritten memory here, giving wrong or NaN input gradients
              let rng = Random 11

              for _ in 1..20 do
                  use _ = torch.NewDisposeScope()

                  for n in [ 16L; 64L; 256L; 1024L; 4096L ] do
                      (ScalarOps.Full([| n |], nan, torch.float32, torch.CPU)).Dispose()

                  let x = (randomTensor rng [| 8L; 8L; 16L; 16L |]).requires_grad_(true)
                  let w = randomTensor rng [| 4L; 8L; 3L; 3L |]
                  let y = torch.nn.functional.conv2d (x, w, padding = [| 1L; 1L |])
                  let go = randomTensor rng y.shape
                  y.backward (ResizeArray [ go ])

                  use reference =
                      torch.nn.functional.conv_transpose2d (go.to_type (torch.float64), w.to_type (torch.float64), padding = [| 1L; 1L |])

                  let err = ScalarOps.Item((x.grad.to_type (torch.float64) - reference).abs().max())
                  Expect.isTrue (err < 1e-4) (sprintf "input gradient off by %g" err)
          }
          testList
              "float32 convolutions agree with float64"
              [ for (n, cin, cout, k) in shapes ->
                    test (sprintf "batch %d, %d -> %d channels, %dx%d kernel" n cin cout k k) {
                        use _ = torch.NewDisposeScope()
                        let rng = Random(n * 1000 + cin * 10 + cout)
                        let x = randomTensor rng [| int64 n; int64 cin; 8L; 8L |]
                        let w = randomTensor rng [| int64 cout; int64 cin; int64 k; int64 k |]
                        let b = randomTensor rng [| int64 cout |]
                        let ey, ex, ew, eb = convAndGrads x w b (int64 (k / 2)) torch.float64

                        for _ in 1..3 do
                            let y, gx, gw, gb = convAndGrads x w b (int64 (k / 2)) torch.float32

                            for name, a, e in [ "output", y, ey; "input gradient", gx, ex; "weight gradient", gw, ew; "bias gradient", gb, eb ] do
                                let err = relErr a e
                                Expect.isTrue (err < 1e-5) (sprintf "%s: relative error %g" name err)
                    } ]
          test "every method outside AutoDesign.Nn that makes a convolution chooses the kernels first (itself or in its type's constructor)" {
              let nn = typeof<CpuKernels>.Assembly

              let missing =
                  [ for a in ScalarSafetyTests.ourAssemblies () do
                        if a <> nn then
                            for m in ScalarSafetyTests.methodsOf a do
                                if ScalarSafetyTests.callees m |> List.exists (snd >> makesConvolution) then
                                    let ok =
                                        choosesKernels m
                                        || enclosing m.DeclaringType
                                           |> List.exists (fun t ->
                                               t.GetConstructors(BindingFlags.Public ||| BindingFlags.NonPublic ||| BindingFlags.Instance)
                                               |> Array.exists choosesKernels)

                                    if not ok then yield sprintf "%s.%s" m.DeclaringType.FullName m.Name ]
                  |> List.distinct

              Expect.isEmpty
                  missing
                  (sprintf "call AutoDesign.Nn.CpuKernels.UseLibTorchConvolutions() before making convolutions:\n  %s" (String.Join("\n  ", missing)))
              // the scan sees the convolutions it is meant to see
              let seen =
                  typeof<AutoDesign.Nn.DGGAN.FeatureClassifier>.GetConstructors()
                  |> Array.exists (fun c -> ScalarSafetyTests.callees c |> List.exists (snd >> makesConvolution))

              Expect.isTrue seen "FeatureClassifier's constructor makes convolutions"
          } ]
