namespace AutoDesign.Reproduce.UniLoss

open System
open System.IO
open AutoDesign.Runs
open AutoDesign.Plots
open AutoDesign.UniLoss
open AutoDesign.Metrics

/// Learning curves of an experiment: curves.csv (arm, seed, epoch, train loss, test metric) and
/// two PNG charts, test metric and training loss per epoch, one line per arm and seed.
module ExpPlots =
    let curves (expDir: string) (results: (string * int * ExpResult) list) =
        Csv.writeTable
            (Path.Combine(expDir, "curves.csv"))
            [ "arm"; "seed"; "epoch"; "train_loss"; "test_metric" ]
            [ for (label, seed, res) in results do
                  for r in res.Rows ->
                      [ Cell.Text label
                        Cell.Number(float seed)
                        Cell.Number(float r.Epoch)
                        Cell.Number r.TrainLoss
                        Cell.Number r.TestMetric ] ]

        let seeds = results |> List.map (fun (_, s, _) -> s) |> List.distinct
        let name label seed = if seeds.Length > 1 then sprintf "%s seed %d" label seed else label

        let series pick =
            [ for (label, seed, res) in results do
                  let pts =
                      res.Rows
                      |> List.map (fun r -> float r.Epoch, pick r)
                      |> List.filter (fun (_, v) -> not (Double.IsNaN v))
                      |> Array.ofList

                  if pts.Length > 0 then yield name label seed, pts ]

        let metric = series (fun r -> r.TestMetric)

        if not metric.IsEmpty then
            Plot.lines (Path.Combine(expDir, "test_metric.png")) (sprintf "%s: test metric" (Path.GetFileName expDir)) "epoch" "test metric" metric

        let loss = series (fun r -> r.TrainLoss)

        if not loss.IsEmpty then
            Plot.lines
                (Path.Combine(expDir, "train_loss.png"))
                (sprintf "%s: training loss (CE or 1 - UniLoss estimate)" (Path.GetFileName expDir))
                "epoch"
                "loss"
                loss
