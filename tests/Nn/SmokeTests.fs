module AutoDesign.Tests.SmokeTests

open Expecto
open TorchSharp
open AutoDesign.Nn
open AutoDesign.Runs

[<Tests>]
let tests =
    testList
        "smoke"
        [ test "TorchSharp native library loads and computes" {
              use t = torch.arange (4L, dtype = torch.float32)
              Expect.equal (t.sum().item<float32>()) 6.0f "0+1+2+3"
          }
          test "device parsing rejects unknown names" {
              Expect.equal (Device.parse "cpu") Cpu "cpu"
              Expect.equal (Device.parse " CUDA ") Cuda "case and blanks"
              Expect.throwsT<UserError> (fun () -> Device.parse "tpu" |> ignore) "tpu is not a device"
          } ]
