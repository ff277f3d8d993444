/// The command-line grammar (Argu). Each system adds its subcommand union here and a handler
/// module under Commands/; Program.fs dispatches.
module AutoDesign.Cli.Args

open Argu
open AutoDesign.Cli.Commands.D2nn
open AutoDesign.Cli.Commands.Uniloss
open AutoDesign.Cli.Commands.Reproduce
open AutoDesign.Cli.Commands.Bench
open AutoDesign.Cli.Commands.Data
open AutoDesign.Cli.Commands.Dggan
open AutoDesign.Cli.Commands.Gan
open AutoDesign.Cli.Commands.Detgan

[<CliPrefix(CliPrefix.DoubleDash); HelpFlags("--help", "-h")>]
type AutoDesignArgs =
    | [<AltCommandLine("-v")>] Version
    | [<CliPrefix(CliPrefix.None)>] D2nn of ParseResults<D2nnArgs>
    | [<CliPrefix(CliPrefix.None)>] Uniloss of ParseResults<UnilossArgs>
    | [<CliPrefix(CliPrefix.None)>] Reproduce of ParseResults<ReproduceArgs>
    | [<CliPrefix(CliPrefix.None)>] Bench of ParseResults<BenchArgs>
    | [<CliPrefix(CliPrefix.None)>] Data of ParseResults<DataArgs>
    | [<CliPrefix(CliPrefix.None)>] Dggan of ParseResults<DgganArgs>
    | [<CliPrefix(CliPrefix.None)>] Gan of ParseResults<GanArgs>
    | [<CliPrefix(CliPrefix.None)>] Detgan of ParseResults<DetganArgs>
    interface IArgParserTemplate with
        member a.Usage =
            match a with
            | Version -> "print the version and exit."
            | D2nn _ -> "dynamic deep neural networks (chapter 2): accuracy-cost sweeps."
            | Uniloss _ -> "UniLoss: metrics written once as code, refactored into differentiable losses; experiments of thesis chapter 3."
            | Reproduce _ -> "run the registered experiments and write REPORT.md (thesis vs measured)."
            | Bench _ -> "speed benchmarks, one per system, printed as ratios."
            | Data _ -> "list, fetch and inspect data sets (mnist, fashion-mnist) and IDX files."
            | Dggan _ -> "Dynamically Grown GAN: architecture search vs the ProgGAN baseline (chapter 5)."
            | Gan _ -> "GAN metrics (FID, SWD) on saved image sets."
            | Detgan _ -> "DetectorGAN: synthetic training data for small-data detection (chapter 4), Tables 4.1-4.3."
