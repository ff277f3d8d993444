namespace AutoDesign.Reproduce.D2NN

open System
open TorchSharp
open AutoDesign.Nn
open AutoDesign.Nn.D2NN
open AutoDesign.D2NN.Layers
open AutoDesign.D2NN

module Architectures =
    let private img = [| 1L; 28L; 28L |]
    let private zeros (n: int) = torch.zeros (int64 n)

    /// Static baselines from (name, builder) pairs; the first is the cost reference.
    let baselines (pairs: (string * (unit -> D2nnGraph)) list) : Collections.Generic.IReadOnlyList<Baseline> =
        [| for (n, b) in pairs -> { Name = n; Build = Func<D2nnGraph>(b) } |]

    /// A static chain of modules input -> m1 -> ... -> output (a conventional DNN).
    let chainOf (modules: (string * M) list) : D2nnGraph =
        let b = GraphBuilder().Input("x", img)
        let mutable prev = "x"

        for (n, m) in modules do
            b.Module(n, m).Data(prev, n) |> ignore
            prev <- n

        b.Output("out").Data(prev, "out").Build()

    /// A control node `q` after `source` choosing between two regular nodes `a` and `b` (modules added in
    /// the order q, a, b; edges source → q, a, b, then q controls a and b).
    let branch (g: GraphBuilder) (source: string) (q: string, qm: M) (a: string, am: M) (b: string, bm: M) =
        g.Module(q, qm).Module(a, am).Module(b, bm).Data(source, q).Data(source, a).Data(source, b).Control(q, a).Control(q, b)

    /// A sum merge `m` of regular nodes `a` and `b` (default `zero`-shaped zeros), feeding the new module `next`.
    let private merge (g: GraphBuilder) (m: string) (a: string, b: string) (zero: int64[]) (next: string, nm: M) =
        g.Merge(m, new SumMerge()).Data(a, m, torch.zeros zero).Data(b, m, torch.zeros zero).Module(next, nm).Data(m, next)

    /// The output `out` as the sum (merge M) of the given nodes' scores (default zeros of `classes`), and the graph.
    let sumOutput (g: GraphBuilder) (inputs: string list) (classes: int) =
        g.Merge("M", new SumMerge()).Output("out") |> ignore

        for n in inputs do
            g.Data(n, "M", zeros classes) |> ignore

        g.Data("M", "out").Build()

    // ---- High-low capacity (Fig. 2.3a): Q picks the high-capacity N2 or the low-capacity N3.
    let private hlN1 () = seq (conv 1 8 3 2) // [8,14,14]
    let private hlN2 () = seq (conv 8 16 3 1 @ [ pool 3 2; flatten () ] @ fcRelu 576 512 @ [ fc 512 2 ])
    let private hlN3 () = seq ([ pool 3 2; pool 3 2; flatten () ] @ fcRelu 32 32 @ [ fc 32 2 ])
    let private hlQ () = seq (conv 8 2 3 1 @ [ pool 3 2; flatten () ] @ fcRelu 72 128 @ [ fc 128 2 ])

    let highLow: Architecture =
        { Name = "highlow"
          Build =
            Func<D2nnGraph>(fun () ->
                let g = GraphBuilder().Input("x", img).Module("N1", hlN1 ()).Data("x", "N1")

                branch g "N1" ("Q1", hlQ ()) ("N2", hlN2 ()) ("N3", hlN3 ()) |> fun g -> sumOutput g [ "N2"; "N3" ] 2)
          Baselines =
            baselines
                [ "High NN (N1+N2)", (fun () -> chainOf [ "N1", hlN1 (); "N2", hlN2 () ])
                  "Low NN (N1+N3)", (fun () -> chainOf [ "N1", hlN1 (); "N3", hlN3 () ]) ]
          Output = "out"
          Classes = 2 }

    // ---- Cascade (Fig. 2.3b): four stages of growing size; Qk stops after stage k or continues.
    // `w` multiplies every channel count (w = 1: the thesis's configuration; `bench d2nn` also times w = 8).
    let private csN1 w () = seq (conv 1 (2 * w) 3 2 @ [ pool 3 2 ]) // [2w,6,6]
    let private csN2 w () = seq [ pool 3 2; flatten (); fc (8 * w) 2 ]
    let private csN3 w () = seq (conv 1 (2 * w) 3 1 @ [ pool 3 2 ] @ conv (2 * w) (8 * w) 3 1 @ [ pool 3 2 ]) // [8w,6,6]
    let private csN4 w () = seq [ pool 3 2; flatten (); fc (32 * w) 2 ]
    let private csN5 w () = seq (conv 1 (4 * w) 3 1 @ [ pool 3 2 ] @ conv (4 * w) (16 * w) 3 1 @ [ pool 3 2 ]) // [16w,6,6]
    let private csN6 w () = seq [ pool 3 2; flatten (); fc (64 * w) 2 ]

    let private csN7 w () =
        seq (
            conv 1 (2 * w) 3 1
            @ [ pool 3 2 ]
            @ conv (2 * w) (8 * w) 3 1
            @ [ pool 3 2 ]
            @ conv (8 * w) (32 * w) 3 1
            @ conv (32 * w) (32 * w) 3 1
            @ [ pool 3 2 ]
            @ conv (32 * w) (64 * w) 3 1
            @ [ flatten () ]
            @ fcRelu (256 * w) 512
            @ [ fc 512 2 ]
        )

    let private csQ (inputs: int) () = seq [ flatten (); fc inputs 2 ]

    /// The cascade with every channel count multiplied by `w`.
    let cascadeOf (w: int) : Architecture =
        { Name = (if w = 1 then "cascade" else sprintf "cascade-x%d" w)
          Build =
            Func<D2nnGraph>(fun () ->
                GraphBuilder()
                    .Input("x", img)
                    .Module("N1", csN1 w ())
                    .Module("N2", csN2 w ())
                    .Module("Q1", csQ (72 * w) ())
                    .Module("N3", csN3 w ())
                    .Module("N4", csN4 w ())
                    .Module("Q2", csQ (288 * w) ())
                    .Module("N5", csN5 w ())
                    .Module("N6", csN6 w ())
                    .Module("Q3", csQ (576 * w) ())
                    .Module("N7", csN7 w ())
                    .Module("E1", identity ())
                    .Module("E2", identity ())
                    .Module("E3", identity ())
                    .Data("x", "N1")
                    .Data("N1", "N2")
                    .Data("N1", "Q1")
                    .Control("Q1", "E1")
                    .Control("Q1", "N3")
                    .Data("N2", "E1")
                    .Data("x", "N3")
                    .Data("N3", "N4")
                    .Data("N3", "Q2")
                    .Control("Q2", "E2")
                    .Control("Q2", "N5")
                    .Data("N4", "E2")
                    .Data("x", "N5")
                    .Data("N5", "N6")
                    .Data("N5", "Q3")
                    .Control("Q3", "E3")
                    .Control("Q3", "N7")
                    .Data("N6", "E3")
                    .Data("x", "N7")
                |> fun g -> sumOutput g [ "E1"; "E2"; "E3"; "N7" ] 2)
          Baselines =
            baselines
                [ "NN4 (N7)", (fun () -> chainOf [ "N7", csN7 w () ])
                  "NN1 (N1+N2)", (fun () -> chainOf [ "N1", csN1 w (); "N2", csN2 w () ])
                  "NN2 (N3+N4)", (fun () -> chainOf [ "N3", csN3 w (); "N4", csN4 w () ])
                  "NN3 (N5+N6)", (fun () -> chainOf [ "N5", csN5 w (); "N6", csN6 w () ]) ]
          Output = "out"
          Classes = 2 }

    let cascade: Architecture = cascadeOf 1

    let private f (m: unit -> M) = Func<M>(m)

    /// The cascade's early-exit form: the same four stages and exit heads (node names as in the D²NN, so
    /// the same latency tables charge them), each stage on the raw image, a confidence gate after each exit.
    let cascadeEarlyExit () =
        EarlyExitCascade(
            img,
            [| ExitStage.Of("N1", f (csN1 1), "x", "N2", f (csN2 1))
               ExitStage.Of("N3", f (csN3 1), "x", "N4", f (csN4 1))
               ExitStage.Of("N5", f (csN5 1), "x", "N6", f (csN6 1))
               ExitStage.Last("N7", f (csN7 1), "x") |],
            2
        )

    /// High-low's early-exit form: the low-capacity head N3 is the exit after N1, the high-capacity N2 the last stage.
    let highLowEarlyExit () = EarlyExitCascade(img, [| ExitStage.Of("N1", f hlN1, "x", "N3", f hlN3); ExitStage.Last("N2", f hlN2, "N1") |], 2)

    // ---- Chain (Fig. 2.3c): three links, each a control node choosing a low or high transform; merges add.
    let private chN1 () = seq (conv 1 4 3 2) // [4,14,14]
    let private chN2 () = seq (conv 4 16 1 1)
    let private chN3 () = seq (conv 4 16 3 1)
    let private chN4 () = pool 3 2 // [16,6,6]
    let private chN5 () = seq (conv 16 32 1 1)
    let private chN6 () = seq (conv 16 32 3 1 @ conv 32 32 3 1)
    let private chN7 () = pool 3 2 // [32,2,2]
    let private chN8 () = seq (conv 32 32 1 1 @ [ flatten () ] @ fcRelu 128 256)
    let private chN9 () = seq (conv 32 64 3 1 @ [ flatten () ] @ fcRelu 256 256)
    let private chN10 () = fc 256 2
    let private chQ1 () = seq ([ pool 3 2 ] @ conv 4 8 3 1 @ [ pool 3 2; flatten () ] @ fcRelu 32 64 @ [ fc 64 2 ])
    let private chQ2 () = seq ([ pool 3 2 ] @ conv 16 4 3 1 @ [ flatten () ] @ fcRelu 16 64 @ [ fc 64 2 ])
    let private chQ3 () = seq (conv 32 2 3 1 @ [ flatten () ] @ fcRelu 8 64 @ [ fc 64 2 ])

    let chain: Architecture =
        { Name = "chain"
          Build =
            Func<D2nnGraph>(fun () ->
                let g = GraphBuilder().Input("x", img).Module("N1", chN1 ()).Data("x", "N1")
                branch g "N1" ("Q1", chQ1 ()) ("N2", chN2 ()) ("N3", chN3 ()) |> ignore

                merge g "A1" ("N2", "N3") [| 16L; 14L; 14L |] ("N4", chN4 ()) |> ignore
                branch g "N4" ("Q2", chQ2 ()) ("N5", chN5 ()) ("N6", chN6 ()) |> ignore
                merge g "A2" ("N5", "N6") [| 32L; 6L; 6L |] ("N7", chN7 ()) |> ignore
                branch g "N7" ("Q3", chQ3 ()) ("N8", chN8 ()) ("N9", chN9 ()) |> ignore

                (merge g "A3" ("N8", "N9") [| 256L |] ("N10", chN10 ())).Output("out").Data("N10", "out").Build())
          Baselines =
            baselines
                [ "High NN (N1-N3-N6-N9-N10)",
                  (fun () -> chainOf [ "N1", chN1 (); "N3", chN3 (); "N4", chN4 (); "N6", chN6 (); "N7", chN7 (); "N9", chN9 (); "N10", chN10 () ])
                  "Low NN (N1-N2-N5-N8-N10)",
                  (fun () -> chainOf [ "N1", chN1 (); "N2", chN2 (); "N4", chN4 (); "N5", chN5 (); "N7", chN7 (); "N8", chN8 (); "N10", chN10 () ]) ]
          Output = "out"
          Classes = 2 }

    // ---- Hierarchical (Fig. 2.3d) on the 2/5/10 Fashion-MNIST hierarchy. Leaves output 2 scores each,
    // concatenated in leaf order; labels are remapped to that order (see Hierarchy.leafOrder).
    let private hiN1 () = seq (conv 1 16 3 1 @ [ pool 2 2 ]) // [16,14,14]
    let private hiN23 () = seq (conv 16 32 3 1) // [32,14,14]
    let private hiLeaf () = seq ([ pool 2 2 ] @ conv 32 32 3 1 @ conv 32 32 3 1 @ [ pool 2 2; flatten () ] @ fcRelu 288 128 @ [ fc 128 2 ])
    let private hiQ (cin: int) () = seq (conv cin 8 3 1 @ [ pool 2 2; flatten () ] @ fcRelu 392 64 @ [ fc 64 2 ])
    /// Default score of a leaf that did not run (below any learned action-value of a leaf that ran).
    let skippedScore = -1.0f

    let hierarchical: Architecture =
        let leaves = [ "N4", "N2"; "N5", "N2"; "N6", "N2"; "N7", "N3"; "N8", "N3" ]

        { Name = "hierarchical"
          Build =
            Func<D2nnGraph>(fun () ->
                let b = GraphBuilder().Input("x", img).Module("N1", hiN1 ()).Data("x", "N1")

                for (branch, q) in [ "N2", "Q1"; "N3", "Q2" ] do
                    b
                        .Module(q, hiQ 16 ())
                        .Module(branch, hiN23 ())
                        .Dummy("skip" + q, torch.zeros 1L)
                        .Data("N1", q)
                        .Data("N1", branch)
                        .Control(q, branch)
                        .Control(q, "skip" + q)
                    |> ignore

                b.Merge("C", new ConcatMerge()).Output("out") |> ignore

                leaves
                |> List.iteri (fun i (leaf, parent) ->
                    let q = sprintf "Q%d" (i + 3)

                    b
                        .Module(q, hiQ 32 ())
                        .Module(leaf, hiLeaf ())
                        .Dummy("skip" + q, torch.zeros 1L)
                        .Data(parent, q)
                        .Data(parent, leaf)
                        .Control(q, leaf)
                        .Control(q, "skip" + q)
                        .Data(leaf, "C", ScalarOps.Full([| 2L |], float skippedScore, torch.float32, torch.CPU))
                    |> ignore)

                b.Data("C", "out").Build())
          Baselines =
            baselines
                [ "NN (all regular nodes)",
                  (fun () ->
                      let b = GraphBuilder().Input("x", img).Module("N1", hiN1 ()).Data("x", "N1")

                      for br in [ "N2"; "N3" ] do
                          b.Module(br, hiN23 ()).Data("N1", br) |> ignore

                      b.Merge("C", new ConcatMerge()).Output("out") |> ignore

                      for (leaf, parent) in leaves do
                          b.Module(leaf, hiLeaf ()).Data(parent, leaf).Data(leaf, "C") |> ignore

                      b.Data("C", "out").Build()) ]
          Output = "out"
          Classes = 10 }

    let all = [ highLow; cascade; chain; hierarchical ]
