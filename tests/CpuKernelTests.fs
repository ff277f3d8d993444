/// libtorch's CPU convolution kernels as AutoDesign.Nn.CpuKernels chooses them: input gradients that do not
/// depend on what the heap held before.
module AutoDesign.Tests.CpuKernelTests

open System
open Expecto
open TorchSharp
open AutoDesign.Nn

let private randomTensor (rng: Random) (shape: int64[]) =
    let n = shape |> Array.fold (*) 1L
    torch.tensor(Array.init (int n) (fun _ -> float32 (rng.NextDouble() * 2.0 - 1.0))).reshape(shape)

[<Tests>]
let tests =
    testList "cpu-kernels" [
        test "oneDNN is off once AutoDesign.Nn is loaded" {
            Expect.isFalse CpuKernels.OneDnnEnabled "CPU convolutions use libtorch's own kernels"
        }
        test "conv2d input gradients match a float64 reference after NaN-filled blocks were freed" {
            // 4 output channels (not a multiple of oneDNN's channel block): oneDNN's backward-data pass read
            // unwritten memory here, giving wrong or NaN input gradients
            let rng = Random 11
            for _ in 1 .. 20 do
                use _ = torch.NewDisposeScope()
                for n in [ 16L; 64L; 256L; 1024L; 4096L ] do (ScalarOps.Full([| n |], nan, torch.float32, torch.CPU)).Dispose()
                let x = (randomTensor rng [| 8L; 8L; 16L; 16L |]).requires_grad_(true)
                let w = randomTensor rng [| 4L; 8L; 3L; 3L |]
                let y = torch.nn.functional.conv2d(x, w, padding = [| 1L; 1L |])
                let go = randomTensor rng y.shape
                y.backward(ResizeArray [ go ])
                use reference = torch.nn.functional.conv_transpose2d(go.to_type(torch.float64), w.to_type(torch.float64), padding = [| 1L; 1L |])
                let err = ScalarOps.Item((x.grad.to_type(torch.float64) - reference).abs().max())
                Expect.isTrue (err < 1e-4) (sprintf "input gradient off by %g" err)
        }
    ]
