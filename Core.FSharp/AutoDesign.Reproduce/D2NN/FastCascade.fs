namespace AutoDesign.Reproduce.D2NN

open System
open AutoDesign.D2NN.Layers
open AutoDesign.D2NN
open AutoDesign.Nn.D2NN

/// The cascade rebuilt so that its cheap path is cheap in wall time on a CPU (docs/d2nn.md, "fast
/// form"). The thesis's cascade (Architectures.cascade) runs four independent networks on the raw
/// image, each starting with a few-channel convolution and 3×3 max-pooling at full resolution; on a CPU
/// those layers cost far more time per multiplication than the large final stage, so an example that
/// stops early saves multiplications but little time. Here the four stages share one trunk that
/// downsamples at once (stride-2 convolutions, no max-pooling): N1 → N3 → N5 → N7, each stage
/// continuing from the previous one's features, with a linear exit head after each of the first three
/// (N2, N4, N6). Qk decides after stage k whether the example stops (action 0: exit head) or continues
/// (action 1: next stage). The static reference network is the trunk N1-N3-N5-N7 itself.
module FastCascade =
    let private img = [| 1L; 28L; 28L |]

    // Shapes per example at channel multiplier w.
    let private n1 w () = seq (conv 1 (8 * w) 3 2) // [8w,14,14]
    let private n3 w () = seq (conv (8 * w) (16 * w) 3 2) // [16w,7,7]
    let private n5 w () = seq (conv (16 * w) (32 * w) 3 2) // [32w,4,4]
    let private n7c w classes () = seq (conv (32 * w) (64 * w) 3 1 @ [ flatten () ] @ fcRelu (1024 * w) 256 @ [ fc 256 classes ])
    let private headc classes (features: int) () = seq [ flatten (); fc features classes ]
    let private features w = [| 8 * w * 196; 16 * w * 49; 32 * w * 16 |]

    /// The fast cascade named `name`, every channel count multiplied by `w`, `classes` scores per exit.
    let cascadeWith (name: string) (w: int) (classes: int) : Architecture =
        let f = features w
        let n7 w = n7c w classes
        let head = headc classes
        let control = headc 2

        { Name = name
          Build =
            Func<D2nnGraph>(fun () ->
                let g = GraphBuilder().Input("x", img).Module("N1", n1 w ()).Data("x", "N1")
                // stage k's control node Qk stops at the exit head or continues to the next stage
                Architectures.branch g "N1" ("Q1", control f[0] ()) ("N2", head f[0] ()) ("N3", n3 w ()) |> ignore
                Architectures.branch g "N3" ("Q2", control f[1] ()) ("N4", head f[1] ()) ("N5", n5 w ()) |> ignore

                Architectures.branch g "N5" ("Q3", control f[2] ()) ("N6", head f[2] ()) ("N7", n7 w ()) |> ignore
                Architectures.sumOutput g [ "N2"; "N4"; "N6"; "N7" ] classes)
          Baselines =
            Architectures.baselines
                [ "NN4 (N1-N3-N5-N7)", (fun () -> Architectures.chainOf [ "N1", n1 w (); "N3", n3 w (); "N5", n5 w (); "N7", n7 w () ])
                  "NN1 (N1+N2)", (fun () -> Architectures.chainOf [ "N1", n1 w (); "N2", head f[0] () ])
                  "NN2 (N1-N3+N4)", (fun () -> Architectures.chainOf [ "N1", n1 w (); "N3", n3 w (); "N4", head f[1] () ])
                  "NN3 (N1-N3-N5+N6)", (fun () -> Architectures.chainOf [ "N1", n1 w (); "N3", n3 w (); "N5", n5 w (); "N6", head f[2] () ]) ]
          Output = "out"
          Classes = classes }

    /// The fast cascade with every channel count multiplied by `w` (binary tasks).
    let cascadeOf (w: int) : Architecture = cascadeWith (if w = 1 then "cascade-fast" else sprintf "cascade-fast-x%d" w) w 2

    let cascade: Architecture = cascadeOf 1

    /// The fast cascade with 10-class exits, for Fashion-MNIST's ten classes (Tasks.fashionTen: inputs of
    /// mixed difficulty, docs/d2nn.md "A task where routing matters").
    let fashion10: Architecture = cascadeWith "cascade-fashion10" 1 10

    let private earlyExitWith (classes: int) =
        let f (m: unit -> M) = Func<M>(m)
        let h = features 1
        let head = headc classes

        EarlyExitCascade(
            img,
            [| ExitStage.Of("N1", f (n1 1), "x", "N2", f (head h[0]))
               ExitStage.Of("N3", f (n3 1), "N1", "N4", f (head h[1]))
               ExitStage.Of("N5", f (n5 1), "N3", "N6", f (head h[2]))
               ExitStage.Last("N7", f (n7c 1 classes), "N5") |],
            classes
        )

    /// The fast cascade's early-exit form: the same trunk and exit heads (same node names), a confidence
    /// gate after each exit instead of a learned control node.
    let earlyExit () = earlyExitWith 2

    /// The early-exit form of `fashion10`.
    let earlyExit10 () = earlyExitWith 10
