namespace AutoDesign.D2NN

open TorchSharp

/// Short constructors for the node modules of the D²NN configurations (§2.7.3).
/// Convolutions are followed by ReLU and use 1×1 padding unless told otherwise.
module Layers =
    type M = torch.nn.Module<torch.Tensor, torch.Tensor>

    let seq (ms: M list) : M = torch.nn.Sequential(Array.ofList ms) :> M
    let relu () : M = torch.nn.ReLU() :> M
    let flatten () : M = torch.nn.Flatten() :> M
    let identity () : M = torch.nn.Identity() :> M
    /// Conv k×k (stride s, padding p) without activation.
    let convRaw (cin: int) (cout: int) (k: int) (s: int) (p: int) : M =
        torch.nn.Conv2d(int64 cin, int64 cout, int64 k, stride = int64 s, padding = int64 p) :> M
    /// Conv k×k, stride s, padding 1 (k = 1: padding 0), then ReLU.
    let conv (cin: int) (cout: int) (k: int) (s: int) : M list =
        [ convRaw cin cout k s (if k = 1 then 0 else 1); relu () ]
    let pool (k: int) (s: int) : M = torch.nn.MaxPool2d(int64 k, int64 s) :> M
    /// Fully connected layer without activation.
    let fc (i: int) (o: int) : M = torch.nn.Linear(int64 i, int64 o) :> M
    /// Fully connected layer followed by ReLU.
    let fcRelu (i: int) (o: int) : M list = [ fc i o; relu () ]
