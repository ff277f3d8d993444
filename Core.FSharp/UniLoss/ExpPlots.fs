namespace AutoDesign.Core.UniLoss

open System
open System.IO
open AutoDesign.Core

/// Learning curves of an experiment: curves.csv (arm, seed, epoch, train loss, test metric).
module ExpPlots =
    let curves (expDir: string) (results: (string * int * ExpResult) list) =
        let lines =
            "arm,seed,epoch,train_loss,test_metric"
            :: [ for (label, seed, res) in results do
                   for r in res.Rows -> sprintf "%s,%d,%d,%s,%s" label seed r.Epoch (r.TrainLoss.ToString("R")) (r.TestMetric.ToString("R")) ]
        Atomic.writeAllText (Path.Combine(expDir, "curves.csv")) (String.Join("\n", lines) + "\n")
