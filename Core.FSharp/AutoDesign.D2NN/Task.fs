namespace AutoDesign.D2NN

open TorchSharp

/// A classification task for D²NN experiments: images [N,1,28,28] in 0..1 on the CPU, labels 0..C-1.
type Task =
    { Name: string
      /// The data set, saying "stand-in for X" where it is one.
      Data: string
      TrainX: torch.Tensor
      TrainY: int[]
      TestX: torch.Tensor
      TestY: int[]
      Metric: AccuracyMetric
      Classes: int }

/// An architecture of §2.7.3 adapted to 1×28×28 inputs: the D²NN, its static baselines (conventional
/// networks of regular nodes only, fresh weights on every call) and which baseline normalizes cost.
type Architecture =
    { Name: string
      Build: unit -> D2nnGraph
      /// name, builder; the first one is the cost reference (cost 1.0).
      Baselines: (string * (unit -> D2nnGraph)) list
      Output: string
      Classes: int }
