/// Command lines of the CLI that several test files run, in tiny configurations: one place for each, so the
/// tests that kill, damage, fan out or localise a run all mean the same run.
module AutoDesign.Tests.CliCommands

open System.IO

/// `--launcher serial`: every job in the CLI's own process, one after another.
let serial = [ "--launcher"; "serial" ]

/// `uniloss ap` small enough to kill and resume: 2 epochs on 600 training images, seed 3, on the CPU, under `root`.
let unilossAp (root: string) =
    [ "uniloss"; "ap"; "--quick"; "--epochs"; "2"; "--train-size"; "600"; "--seed"; "3" ]
    @ [ "--runs-root"; root; "--device"; "cpu" ]

/// The CE arm's run folder of `unilossAp`, relative to its root.
let unilossApCeRun = Path.Combine("uniloss", "ap-mnist-quick", "seed3", "ce")

/// `uniloss ap` in one epoch on 200 training images, with `extra` options.
let unilossApOneEpoch (extra: string list) = [ "uniloss"; "ap"; "--quick"; "--epochs"; "1"; "--train-size"; "200" ] @ extra

/// `d2nn cascade` in 20 steps on 200 training and 100 test images at the λ points `lambdas`, with `extra` options.
let d2nnCascade (lambdas: string list) (extra: string list) =
    [ "d2nn"; "cascade"; "--quick"; "--steps"; "20"; "--train-size"; "200"; "--test-size"; "100"; "--lambdas" ]
    @ lambdas
    @ extra

/// `uniloss eval-metric --metric ap` on a scores file and a labels file.
let evalAp (scores: string) (labels: string) = [ "uniloss"; "eval-metric"; "--metric"; "ap"; "--scores"; scores; "--labels"; labels ]
