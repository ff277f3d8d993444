namespace AutoDesign.Reproduce.D2NN

open System
open TorchSharp
open AutoDesign.Nn.D2NN
open AutoDesign.D2NN.Layers
open AutoDesign.D2NN

/// The length-4 chain D²NN of the DCN comparison (§2.5.5, configuration in §2.7.3) on 1×40×40 Cluttered
/// MNIST. As in the thesis, each link's control node chooses between an identity layer (the low branch,
/// no multiplications) and a 3×3 convolution of constant width (the high branch); the two are summed (the
/// skipped one contributes its default zero), and the links sit between the thesis's poolings:
///   N1 conv → link 1 → N4 2×2 pool → link 2 → (N7 identity, left out) → link 3 → N10 2×2 pool → link 4 → N13
/// Scaled for 40×40 on a CPU: 16 filters instead of 24, N1 with stride 2, N13 a 4×4 convolution with 96
/// filters, no padding, a 2×2 max-pooling (the thesis: 11×11 on its 100×100 input) and the 10-class layer;
/// control nodes with 64-unit hidden layers (the thesis: 256).
module DcnChain =
    let private img = [| 1L; 40L; 40L |]
    let private width = 16

    let private n1 () = seq (conv 1 width 3 2) // [16,20,20]
    let private high () = seq (conv width width 3 1)
    let private pool2 () = pool 2 2
    let private n13 () = seq ([ convRaw width 96 4 1 0; relu (); pool 2 2; flatten () ] @ [ fc 96 10 ])

    /// Control nodes (§2.7.3 Q1–Q4, narrower): conv 3×3 to 8 channels between 2×2 poolings, then 64 → 2.
    let private q (poolsBefore: int) (side: int) () =
        let s = side >>> poolsBefore

        seq (
            [ for _ in 1..poolsBefore -> pool2 () ]
            @ conv width 8 3 1
            @ [ pool2 (); flatten () ]
            @ fcRelu (8 * (s / 2) * (s / 2)) 64
            @ [ fc 64 2 ]
        )

    /// Per link: the control node and the side of the feature map it sees.
    let private links = [| q 2 20; q 1 10; q 1 10; q 0 5 |]
    let private sides = [| 20; 10; 10; 5 |]

    let build () : D2nnGraph =
        let b = GraphBuilder().Input("x", img).Module("N1", n1 ()).Data("x", "N1")
        let mutable prev = "N1"

        for k in 1..4 do
            let qn, ln, hn, an = sprintf "Q%d" k, sprintf "L%d" k, sprintf "H%d" k, sprintf "A%d" k
            let side = int64 sides[k - 1]
            let zero = torch.zeros (int64 width, side, side)

            b
                .Module(qn, links[k - 1]())
                .Module(ln, identity ())
                .Module(hn, high ())
                .Merge(an, new SumMerge())
                .Data(prev, qn)
                .Data(prev, ln)
                .Data(prev, hn)
                .Control(qn, ln)
                .Control(qn, hn)
                .Data(ln, an, zero)
                .Data(hn, an, zero)
            |> ignore
            // links 1 and 3 are followed by a 2×2 max-pooling (N4, N10)
            if k = 1 || k = 3 then
                let pn = if k = 1 then "N4" else "N10"
                b.Module(pn, pool2 ()).Data(an, pn) |> ignore
                prev <- pn
            else
                prev <- an

        b.Module("N13", n13 ()).Data(prev, "N13").Output("out").Data("N13", "out").Build()

    /// A static network taking the low (identity) or high (convolution) branch of every link.
    let staticPath (highBranches: bool) () : D2nnGraph =
        let b = GraphBuilder().Input("x", img).Module("N1", n1 ()).Data("x", "N1")
        let mutable prev = "N1"

        for k in 1..4 do
            let name = sprintf "%s%d" (if highBranches then "H" else "L") k
            b.Module(name, (if highBranches then high () else identity ())).Data(prev, name) |> ignore
            prev <- name

            if k = 1 || k = 3 then
                let pn = if k = 1 then "N4" else "N10"
                b.Module(pn, pool2 ()).Data(name, pn) |> ignore
                prev <- pn

        b.Module("N13", n13 ()).Data(prev, "N13").Output("out").Data("N13", "out").Build()

    let architecture: Architecture =
        { Name = "dcn"
          Build = Func<D2nnGraph>(build)
          Baselines = Architectures.baselines [ "High NN (all H links)", staticPath true; "Low NN (identity links)", staticPath false ]
          Output = "out"
          Classes = 10 }
