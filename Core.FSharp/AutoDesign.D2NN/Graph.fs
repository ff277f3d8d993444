namespace AutoDesign.D2NN

open System
open System.Collections.Generic
open TorchSharp
open AutoDesign.Nn.D2NN

type Tensor = torch.Tensor

/// A node of a D²NN (thesis §2.3.1). Whether a function node is a regular or a control node follows
/// from its outgoing edges (all data or all control); a function node without data input is a dummy.
type NodeSpec =
    /// An input of the network with its per-example shape (e.g. [|1L; 28L; 28L|]).
    | InputNode of Name: string * Shape: int64[]
    /// An output of the network: exactly one incoming data edge.
    | OutputNode of Name: string
    /// A function node wrapping any TorchSharp module.
    | FunctionNode of Name: string * Function: NodeFunction

    /// An input node (the factory for C#, which would otherwise see `NewInputNode`).
    static member Input(name: string, shape: int64[]) = InputNode(name, shape)
    /// An output node.
    static member Output(name: string) = OutputNode name
    /// A function node.
    static member Function(name: string, fn: NodeFunction) = FunctionNode(name, fn)

    /// The node's name (unique in its graph).
    member n.Name =
        match n with
        | InputNode(name, _)
        | OutputNode name
        | FunctionNode(name, _) -> name

/// A data edge. `Default` is the per-example value sent when `From` does not execute; null: none (the
/// receiving node then does not run for that example).
type DataEdge = { From: string; To: string; Default: Tensor }

/// A control edge; its action index is its position among `From`'s outgoing control edges.
type ControlEdge = { From: string; To: string }

/// A D²NN as one declarative value. Data edges into a node are its inputs in list order.
type D2nnGraph = { Nodes: IReadOnlyList<NodeSpec>; DataEdges: IReadOnlyList<DataEdge>; ControlEdges: IReadOnlyList<ControlEdge> }

/// Fluent construction, from C# or F#:
/// `new GraphBuilder().Input("x", 1, 28, 28).Module("n1", conv).Data("x", "n1")...Build()`.
[<AllowNullLiteral>]
type GraphBuilder() =
    let nodes = ResizeArray<NodeSpec>()
    let data = ResizeArray<DataEdge>()
    let control = ResizeArray<ControlEdge>()

    /// An input node with its per-example shape.
    member b.Input(name: string, [<ParamArray>] shape: int64[]) =
        nodes.Add(InputNode(name, shape))
        b

    /// An output node (one incoming data edge).
    member b.Output(name: string) =
        nodes.Add(OutputNode name)
        b

    /// A function node computing `fn`.
    member b.Function(name: string, fn: NodeFunction) =
        nodes.Add(FunctionNode(name, fn))
        b

    /// A function node with one data input.
    member b.Module(name: string, m: torch.nn.Module<Tensor, Tensor>) = b.Function(name, NodeFunction.Of m)
    /// A function node with several data inputs.
    member b.Merge(name: string, m: torch.nn.Module<Tensor[], Tensor>) = b.Function(name, NodeFunction.Merge m)
    /// A dummy node outputting `constant` (per-example shape).
    member b.Dummy(name: string, constant: Tensor) = b.Function(name, NodeFunction.Dummy constant)

    /// A data edge from `source` to `target`; `defaultValue` (per-example shape) is sent when `source` does
    /// not run (null: no default).
    member b.Data
        (source: string, target: string, [<Runtime.InteropServices.Optional; Runtime.InteropServices.DefaultParameterValue(null: Tensor)>] defaultValue: Tensor)
        =
        data.Add { DataEdge.From = source; To = target; Default = defaultValue }
        b

    /// A control edge: the next action of `controller` activates `target`.
    member b.Control(controller: string, target: string) =
        control.Add { ControlEdge.From = controller; To = target }
        b

    /// The graph built so far (a snapshot: later calls do not change it).
    member b.Build() : D2nnGraph = { Nodes = nodes.ToArray(); DataEdges = data.ToArray(); ControlEdges = control.ToArray() }
