namespace AutoDesign.D2NN

open TorchSharp
open AutoDesign.Nn.D2NN

type Tensor = torch.Tensor

/// A node of a D²NN (thesis §2.3.1). Whether a function node is a regular or a control node follows
/// from its outgoing edges (all data or all control); a function node without data input is a dummy.
type NodeSpec =
    /// An input of the network with its per-example shape (e.g. [|1L; 28L; 28L|]).
    | InputNode of name: string * shape: int64[]
    /// An output of the network: exactly one incoming data edge.
    | OutputNode of name: string
    /// A function node wrapping any TorchSharp module.
    | FunctionNode of name: string * fn: NodeFunction
    member n.Name =
        match n with
        | InputNode(name, _) | OutputNode name | FunctionNode(name, _) -> name

/// A data edge; `Default` is the per-example value sent when `From` does not execute.
type DataEdge = { From: string; To: string; Default: Tensor option }

/// A control edge; its action index is its position among `From`'s outgoing control edges.
type ControlEdge = { CFrom: string; CTo: string }

/// A D²NN as one declarative value. Data edges into a node are its inputs in list order.
type D2nnGraph =
    { Nodes: NodeSpec list
      DataEdges: DataEdge list
      ControlEdges: ControlEdge list }

/// Fluent construction, convenient from F# and C#:
/// `GraphBuilder().Input("x", [|1L;28L;28L|]).Module("n1", conv).Data("x","n1")...Build()`.
type GraphBuilder() =
    let nodes = ResizeArray<NodeSpec>()
    let data = ResizeArray<DataEdge>()
    let control = ResizeArray<ControlEdge>()
    member b.Input(name: string, shape: int64[]) = nodes.Add(InputNode(name, shape)); b
    member b.Output(name: string) = nodes.Add(OutputNode name); b
    member b.Function(name: string, fn: NodeFunction) = nodes.Add(FunctionNode(name, fn)); b
    /// A function node with one data input.
    member b.Module(name: string, m: torch.nn.Module<Tensor, Tensor>) = b.Function(name, NodeFunction.Of m)
    /// A function node with several data inputs.
    member b.Merge(name: string, m: torch.nn.Module<Tensor[], Tensor>) = b.Function(name, NodeFunction.Merge m)
    /// A dummy node outputting `constant` (per-example shape).
    member b.Dummy(name: string, constant: Tensor) = b.Function(name, NodeFunction.Dummy constant)
    member b.Data(from: string, to': string) = data.Add { From = from; To = to'; Default = None }; b
    member b.Data(from: string, to': string, defaultValue: Tensor) =
        data.Add { From = from; To = to'; Default = Some defaultValue }; b
    member b.Control(from: string, to': string) = control.Add { CFrom = from; CTo = to' }; b
    member b.Build() =
        { Nodes = List.ofSeq nodes; DataEdges = List.ofSeq data; ControlEdges = List.ofSeq control }
