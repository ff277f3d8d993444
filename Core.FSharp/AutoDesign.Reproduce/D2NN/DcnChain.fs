namespace AutoDesign.Reproduce.D2NN

open TorchSharp
open AutoDesign.Nn.D2NN
open AutoDesign.D2NN.Layers
open AutoDesign.D2NN

/// The length-4 chain D²NN of the DCN comparison (§2.5.5) on 1×40×40 Cluttered MNIST: each link has a
/// control node choosing a low-capacity (1×1 conv / narrow fc) or a high-capacity (3×3 convs / wide fc)
/// transform; the two outputs are summed (the skipped one contributes its default zero).
module DcnChain =
    let private img = [| 1L; 40L; 40L |]

    // trunk and links; shapes per example
    let private n1 () = seq (conv 1 8 3 2)                                               // [8,20,20]
    let private lo1 () = seq (conv 8 16 1 1)                                             // [16,20,20]
    let private hi1 () = seq (conv 8 16 3 1)
    let private lo2 () = seq (conv 16 32 1 1)                                            // [32,10,10]
    let private hi2 () = seq (conv 16 32 3 1 @ conv 32 32 3 1)
    let private lo3 () = seq (conv 32 32 1 1)                                            // [32,5,5]
    let private hi3 () = seq (conv 32 64 3 1 @ conv 64 32 3 1)
    let private lo4 () = seq ([ flatten () ] @ fcRelu 800 128)                           // [128]
    let private hi4 () = seq (conv 32 64 3 1 @ [ flatten () ] @ fcRelu 1600 128)
    let private head () = fc 128 10
    let private q1 () = seq ([ pool 2 2 ] @ conv 8 4 3 1 @ [ pool 2 2; flatten () ] @ fcRelu 100 32 @ [ fc 32 2 ])
    let private q2 () = seq ([ pool 2 2 ] @ conv 16 4 3 1 @ [ flatten () ] @ fcRelu 100 32 @ [ fc 32 2 ])
    let private q3 () = seq (conv 32 2 3 1 @ [ flatten () ] @ fcRelu 50 32 @ [ fc 32 2 ])
    let private q4 () = seq ([ flatten () ] @ fcRelu 800 32 @ [ fc 32 2 ])

    /// Per-example shape of each link's output (the default value of its skipped branch).
    let private linkShapes = [| [| 16L; 20L; 20L |]; [| 32L; 10L; 10L |]; [| 32L; 5L; 5L |]; [| 128L |] |]

    let build () : D2nnGraph =
        let b = GraphBuilder().Input("x", img).Module("N1", n1 ()).Data("x", "N1")
        let links = [| q1 (), lo1 (), hi1 (); q2 (), lo2 (), hi2 (); q3 (), lo3 (), hi3 (); q4 (), lo4 (), hi4 () |]
        let mutable prev = "N1"
        for k in 1 .. 4 do
            let q, lo, hi = links[k - 1]
            let qn, ln, hn, an = sprintf "Q%d" k, sprintf "L%d" k, sprintf "H%d" k, sprintf "A%d" k
            let zero = torch.zeros linkShapes[k - 1]
            b.Module(qn, q).Module(ln, lo).Module(hn, hi).Merge(an, new SumMerge())
                .Data(prev, qn).Data(prev, ln).Data(prev, hn).Control(qn, ln).Control(qn, hn)
                .Data(ln, an, zero).Data(hn, an, zero) |> ignore
            // links 1 and 2 are followed by a 2×2 max-pooling
            if k <= 2 then
                let pn = sprintf "P%d" k
                b.Module(pn, pool 2 2).Data(an, pn) |> ignore
                prev <- pn
            else prev <- an
        b.Module("N2", head ()).Data(prev, "N2").Output("out").Data("N2", "out").Build()

    /// A static network taking the low (false) or high (true) branch of every link.
    let staticPath (high: bool) () : D2nnGraph =
        let b = GraphBuilder().Input("x", img).Module("N1", n1 ()).Data("x", "N1")
        let branches = if high then [ hi1 (); hi2 (); hi3 (); hi4 () ] else [ lo1 (); lo2 (); lo3 (); lo4 () ]
        let mutable prev = "N1"
        branches |> List.iteri (fun i m ->
            let name = sprintf "%s%d" (if high then "H" else "L") (i + 1)
            b.Module(name, m).Data(prev, name) |> ignore
            prev <- name
            if i < 2 then
                let pn = sprintf "P%d" (i + 1)
                b.Module(pn, pool 2 2).Data(name, pn) |> ignore
                prev <- pn)
        b.Module("N2", head ()).Data(prev, "N2").Output("out").Data("N2", "out").Build()

    let architecture : Architecture =
        { Name = "dcn"
          Build = build
          Baselines = [ "High NN (all H links)", staticPath true; "Low NN (all L links)", staticPath false ]
          Output = "out"
          Classes = 10 }
