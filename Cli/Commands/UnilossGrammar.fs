/// The grammar of `autodesign uniloss`: one union per subcommand, the experiments' shared options inherited
/// from `uniloss` (Commands/Uniloss.fs reads them).
module AutoDesign.Cli.Commands.UnilossGrammar

open Argu
open AutoDesign.Cli.Globals

/// `--data` of `uniloss ap`.
type ApData =
    | Mnist
    | Fashion

/// `--nearby-unit`.
type NearbyUnitArg =
    | Bit
    | Example

/// `--nearby`.
type NearbyRule =
    | Any
    | Wrong

/// `--which` of `uniloss ablation`.
type AblationWhich =
    | Anchors
    | Anchors_Acc
    | Batch
    | All
    /// The validation sweep of the automatic score-gradient scale over the three tasks below.
    | Scale
    | Scale_Ap_Mnist
    | Scale_Ap_Fashion
    | Scale_Accuracy_Resnet20
    | Scale_Suite

/// `--which` of `uniloss pose`.
type PoseWhich =
    | Table
    | Anchors
    | All
    | Bench

/// The help of the options that the arm experiments and `ablation` take.
module private Help =
    let tauEnd = "tau schedule: tau moves geometrically from --tau (first step) to this value (last step); default fixed tau."
    let power = "UniLoss IDW distance power, weights 1/d^power (default 1)."

/// `uniloss ap` and `uniloss accuracy`: the experiments that train a UniLoss arm beside a CE arm take the
/// same options, and three that only one of them takes.
[<CliPrefix(CliPrefix.DoubleDash)>]
type ArmArgs =
    | Data of ApData
    | Class of int
    | Tau_End of float
    | Power of float
    | Ce_Lr of float
    | Uni_Warmup of int
    | Nearby_Unit of NearbyUnitArg
    | Nearby of NearbyRule
    | Bound_Scores of Toggle
    | Grad_Norm of float
    | Auto_Scale of float
    | Validation

    interface IArgParserTemplate with
        member a.Usage =
            match a with
            | Data _ -> "ap only: mnist (0 vs rest on the 10k digits, default) or fashion (class vs rest on Fashion-MNIST)."
            | Class _ -> "ap only: positive class for --data fashion (default 0)."
            | Tau_End _ -> Help.tauEnd
            | Power _ -> Help.power
            | Ce_Lr _ -> "learning rate of the CE arm (default 0.01 for ap, 0.1 for accuracy); the UniLoss arm's default follows it."
            | Uni_Warmup _ -> "accuracy only: linear lr warm-up of the UniLoss arm over this many SGD steps (default 0: none)."
            | Nearby_Unit _ -> "what a nearby anchor flips: one comparison bit, or all bits of one example (thesis §3.3)."
            | Nearby _ ->
                "which bits a nearby anchor flips: any (thesis text) or wrong (only bits that differ from the best configuration, as the authors' code)."
            | Bound_Scores _ -> "compute comparisons on sigmoid-squashed scores, σ(s_a) − σ(s_b) (the authors' code ends its networks with a sigmoid)."
            | Grad_Norm _ -> "rescale the UniLoss gradient on the scores to this Euclidean norm per batch (default 0: off; overrides --auto-scale)."
            | Auto_Scale _ ->
                "automatic score-gradient scale a: norm a/sqrt(batch) per batch (the library's default is 1; 0: the raw gradient; default: the experiment's arm's)."
            | Validation -> "score on a validation set carved from the Fashion-MNIST training images instead of the test set, for choosing settings."

/// `uniloss ablation`.
[<CliPrefix(CliPrefix.DoubleDash)>]
type AblationArgs =
    | Which of AblationWhich
    | Tau_End of float
    | Power of float

    interface IArgParserTemplate with
        member a.Usage =
            match a with
            | Which _ ->
                "anchors (Table 3.4, AP row), anchors-acc (Table 3.4, accuracy row), batch (Table 3.3) or all (default); scale (the validation sweep of the automatic score-gradient scale; scale-ap-mnist, scale-ap-fashion, scale-accuracy-resnet20: one task; scale-suite: the rules on the metric suite's validation splits)."
            | Tau_End _ -> Help.tauEnd
            | Power _ -> Help.power

/// `uniloss pose`.
[<CliPrefix(CliPrefix.DoubleDash)>]
type PoseArgs =
    | Which of PoseWhich

    interface IArgParserTemplate with
        member a.Usage =
            match a with
            | Which _ -> "table (Table 3.1), anchors (Table 3.4 pose row), all (default) or bench (step times, no training run)."

type EvalMetricArgs =
    | [<Mandatory>] Metric of name: string
    | [<Mandatory>] Scores of path: string
    | [<Mandatory>] Labels of path: string
    | Heatmap of shape: string
    | Header

    interface IArgParserTemplate with
        member a.Usage =
            match a with
            | Metric _ -> "accuracy, top-K, precision, recall, f1, ap or pckh-R (e.g. top-5, pckh-2)."
            | Scores _ -> "CSV of scores, one row per example, one number per cell (',' between cells, '.' as the decimal point)."
            | Labels _ -> "CSV of integer labels, one row per example (pckh: row,col of the joint)."
            | Heatmap _ -> "HxW: read each score row as an H×W heatmap (for pckh)."
            | Header -> "the first line of both files is a header (default: a first line of column names, without numbers, is one)."

/// `uniloss`: the options every experiment takes are given here or after the experiment's name (eval-metric
/// refuses them).
and [<RequireSubcommand; CliPrefix(CliPrefix.DoubleDash)>] UnilossArgs =
    | [<Inherit>] Quick
    | [<Inherit>] Seed of int
    | [<Inherit>] Seeds of int
    | [<Inherit>] Epochs of int
    | [<Inherit>] Train_Size of int
    | [<Inherit>] Tau of float
    | [<Inherit>] Anchors of int
    | [<Inherit>] Uni_Lr of float
    | [<CliPrefix(CliPrefix.None)>] Eval_Metric of ParseResults<EvalMetricArgs>
    | [<CliPrefix(CliPrefix.None)>] Ap of ParseResults<ArmArgs>
    | [<CliPrefix(CliPrefix.None)>] Accuracy of ParseResults<ArmArgs>
    | [<CliPrefix(CliPrefix.None)>] Ablation of ParseResults<AblationArgs>
    | [<CliPrefix(CliPrefix.None)>] Pose of ParseResults<PoseArgs>

    interface IArgParserTemplate with
        member a.Usage =
            match a with
            | Quick -> "small configuration that finishes in minutes on 2 CPU cores."
            | Seed _ -> "seed of the split, initialisation and batches (default 1)."
            | Seeds _ -> "repeat with seeds seed..seed+N-1 (each a job of the launcher) and report mean ± sd (default 1)."
            | Epochs _ -> "override the configuration's epochs."
            | Train_Size _ -> "override the number of training images."
            | Tau _ -> "UniLoss sigmoid temperature (default 1)."
            | Anchors _ -> "UniLoss anchors per type: good, bad, nearby (default 16)."
            | Uni_Lr _ -> "learning rate of the UniLoss arm (default: CE's for ap and ablations, 10x CE's for accuracy; pose: 2.5e-4)."
            | Eval_Metric _ -> "print a metric's exact value and its refactored g(h(f(s))) value on a CSV batch."
            | Ap _ -> "AP for unbalanced binary classification: UniLoss(AP) vs 2-class CE (thesis 3.4.2)."
            | Accuracy _ -> "accuracy of ResNet-20 on Fashion-MNIST: UniLoss(accuracy) vs CE (thesis 3.4.4)."
            | Ablation _ -> "anchor-count and batch-size ablations (thesis Tables 3.3, 3.4)."
            | Pose _ ->
                "PCKh of a single-stack hourglass on procedural stick figures (stand-in for MPII head joints): MSE sigma sweep vs UniLoss, anchors ablation (thesis Tables 3.1, 3.4)."
