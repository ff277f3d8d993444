namespace AutoDesign.D2NN

open TorchSharp

/// Short constructors for the node modules of the D²NN configurations (§2.7.3), an F# notation: layer
/// lists joined with `@` (from C#, build TorchSharp's `nn.Sequential` directly).
/// Convolutions are followed by ReLU and use 1×1 padding unless told otherwise.
module Layers =
    type M = torch.nn.Module<torch.Tensor, torch.Tensor>

    [<CompiledName("Seq")>]
    let seq (ms: seq<M>) : M = torch.nn.Sequential(Array.ofSeq ms) :> M

    [<CompiledName("Relu")>]
    let relu () : M = torch.nn.ReLU() :> M

    [<CompiledName("Flatten")>]
    let flatten () : M = torch.nn.Flatten() :> M

    [<CompiledName("Identity")>]
    let identity () : M = torch.nn.Identity() :> M

    /// Conv k×k (stride s, padding p) without activation.
    [<CompiledName("ConvRaw")>]
    let convRaw (cin: int) (cout: int) (k: int) (s: int) (p: int) : M =
        AutoDesign.Nn.CpuKernels.UseLibTorchConvolutions() // not oneDNN's (see CpuKernels)
        torch.nn.Conv2d(int64 cin, int64 cout, int64 k, stride = int64 s, padding = int64 p) :> M

    /// Conv k×k, stride s, padding 1 (k = 1: padding 0), then ReLU.
    [<CompiledName("Conv")>]
    let conv (cin: int) (cout: int) (k: int) (s: int) : M list = [ convRaw cin cout k s (if k = 1 then 0 else 1); relu () ]

    [<CompiledName("Pool")>]
    let pool (k: int) (s: int) : M = torch.nn.MaxPool2d(int64 k, int64 s) :> M

    /// Fully connected layer without activation.
    [<CompiledName("Fc")>]
    let fc (i: int) (o: int) : M = torch.nn.Linear(int64 i, int64 o) :> M

    /// Fully connected layer followed by ReLU.
    [<CompiledName("FcRelu")>]
    let fcRelu (i: int) (o: int) : M list = [ fc i o; relu () ]
