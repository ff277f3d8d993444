/// The command-line grammar (Argu). Each system adds its subcommand union here and a handler
/// module under Commands/; Program.fs dispatches.
module AutoDesign.Cli.Args

open Argu

[<CliPrefix(CliPrefix.DoubleDash)>]
type AutoDesignArgs =
    | [<AltCommandLine("-v")>] Version
    | [<CliPrefix(CliPrefix.None)>] Uniloss of ParseResults<AutoDesign.Cli.Commands.Uniloss.UnilossArgs>
    interface IArgParserTemplate with
        member a.Usage =
            match a with
            | Version -> "print the version and exit."
            | Uniloss _ -> "UniLoss experiments (thesis chapter 3)."
