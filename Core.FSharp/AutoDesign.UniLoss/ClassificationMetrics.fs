namespace AutoDesign.UniLoss

open System
open AutoDesign.UniLoss.MetricKit

/// Classification metrics beyond the thesis, in the metric language, as scikit-learn defines them
/// on arg-max predictions (the first maximum wins ties, as numpy's argmax).
module ClassificationMetrics =
    /// Balanced accuracy (sklearn balanced_accuracy_score): the mean over the classes present in
    /// the labels of the recall of that class. Scores [n, C], labels [n] in [0, C).
    let balancedAccuracy: Metric =
        classScoreMetric "balanced-accuracy" (fun s y ->
            mean
                [ for c in 0 .. s.Dim 1 - 1 do
                      let members =
                          [ for i in 0 .. s.N - 1 do
                                if y.[i] = c then yield i ]

                      if not members.IsEmpty then yield meanBits [ for i in members -> predicts (row s i) c ] ])

    /// Per-class counts on arg-max predictions: true positives, predicted count, support.
    let private counts (name: string) (s: Scores) (y: Labels) =
        let p = classPredictions name s
        let classes, pred = p.Classes, p.Bits
        y.RequireClasses(classes, name)

        let tp =
            Array.init classes (fun c ->
                count
                    [ for i in 0 .. s.N - 1 do
                          if y.[i] = c then yield pred.[i].[c] ])

        let predicted = Array.init classes (fun c -> count [ for i in 0 .. s.N - 1 -> pred.[i].[c] ])
        let support = Array.init classes (fun c -> y.Data |> Array.sumBy (fun v -> if v = int64 c then 1 else 0))
        classes, tp, predicted, support

    /// Macro-F1 (sklearn f1_score average='macro', zero_division=0) over the classes present in
    /// the labels or the predictions. Scores [n, C] (arg-max) or binary [n] / [n, 1] (s > 0).
    let macroF1: Metric = macroOfCounts "macro-f1" counts (fun tp predicted support -> ratio (2.0 * tp) (predicted + support))

    /// Binary F-beta (sklearn fbeta_score, pos_label=1, zero_division=0):
    /// (1+β²)TP / ((1+β²)TP + β²FN + FP). Scores [n, 2] (predict 1 iff s[i,1] > s[i,0]) or [n] /
    /// [n, 1] (iff s > 0); labels {0, 1}.
    [<CompiledName("FBeta")>]
    let fBeta (beta: float) : Metric =
        if not (beta > 0.0) || Double.IsInfinity beta then Errors.fail "f-beta needs a positive finite beta, got %g" beta
        let name = sprintf "fbeta-%g" beta
        let b2 = beta * beta

        binaryOfCounts name (fun tp fp positives -> ratio ((1.0 + b2) * tp) ((1.0 + b2) * tp + b2 * (positives - tp) + fp))

    /// Matthews correlation coefficient (sklearn matthews_corrcoef, multi-class form; 0 when
    /// undefined): (c·s − Σ p_k t_k) / √((s² − Σ p_k²)(s² − Σ t_k²)) with c correct predictions,
    /// s examples, p_k predicted and t_k true counts of class k. Scores [n, C] (arg-max) or binary
    /// [n] / [n, 1] (s > 0). Range [−1, 1].
    let mcc: Metric =
        let name = "mcc"

        Metric
            .Define(
                name,
                fun s y ->
                    let classes, tp, predicted, support = counts name s y
                    let n = float s.N
                    let correct = sum tp
                    let cov = correct * n - sum [ for k in 0 .. classes - 1 -> predicted.[k] * float support.[k] ]
                    let varPred = n * n - sum [ for k in 0 .. classes - 1 -> predicted.[k] * predicted.[k] ]
                    let varTrue = n * n - (support |> Array.sumBy (fun t -> float t * float t))
                    ratio cov (sqrt (varPred * varTrue))
            )
            .WithRange(-1.0, 1.0)
