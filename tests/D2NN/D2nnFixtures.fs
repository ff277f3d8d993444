/// The D²NN graphs several test files build: a control node choosing between two branches that a sum merge
/// joins, in the forms the tests use.
module AutoDesign.Tests.D2nnFixtures

open TorchSharp
open AutoDesign.D2NN
open AutoDesign.Nn.D2NN

/// A branch of a choice: a module reading the choice's input, or a constant (a dummy node).
type Branch =
    | Computed of name: string * Layers.M
    | Constant of name: string * torch.Tensor

    member br.Name =
        match br with
        | Computed(n, _)
        | Constant(n, _) -> n

/// `b` with a choice on node `from`: control node `q` picks `first` (action 0) or `second` (action 1); both
/// feed a sum merge `m` (zeros of `width` from a branch that did not run), which feeds the output `out`.
let choice (from: string) (q: Layers.M) (first: Branch) (second: Branch) (width: int64) (out: string) (b: GraphBuilder) =
    let add (b: GraphBuilder) (br: Branch) =
        match br with
        | Computed(n, m) -> b.Module(n, m)
        | Constant(n, t) -> b.Dummy(n, t)

    let reads (b: GraphBuilder) (br: Branch) =
        match br with
        | Computed(n, _) -> b.Data(from, n)
        | Constant _ -> b

    let b = add (add (b.Module("q", q)) first) second
    let b = reads (reads (b.Merge("m", new SumMerge()).Output(out).Data(from, "q")) first) second

    b.Control("q", first.Name).Control("q", second.Name).Data(first.Name, "m", torch.zeros width).Data(second.Name, "m", torch.zeros width).Data("m", out)

/// x [8] -> q chooses hi (action 0: FC-ReLU 8-`hidden` then 2) or lo (action 1: one linear layer); both feed a
/// sum merge -> o. hi has more multiplications than lo.
let highLowGraph (hidden: int) =
    (GraphBuilder().Input("x", [| 8L |])
     |> choice "x" (Layers.fc 8 2) (Computed("hi", Layers.seq (Layers.fcRelu 8 hidden @ [ Layers.fc hidden 2 ]))) (Computed("lo", Layers.fc 8 2)) 2L "o")
        .Build()

/// `highLowGraph hidden`, compiled.
let highLow (hidden: int) = Preprocess.compile (highLowGraph hidden)
