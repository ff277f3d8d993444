module AutoDesign.Tests.UnilossScheduleTests

open Expecto
open Argu
open TorchSharp
open AutoDesign.Runs
open AutoDesign.UniLoss
open AutoDesign.Reproduce.UniLoss
open AutoDesign.Metrics
open AutoDesign.Cli.Commands.Uniloss

/// A fixed batch of logits and labels for comparing losses.
let private batch () =
    torch.manual_seed 3L |> ignore
    let logits = torch.randn ([| 16L; 10L |]) * 2.0
    let labels = torch.tensor ([| for i in 0L .. 15L -> i % 10L |])
    logits, labels

let private planOf = UnilossExpTests.planOf

[<Tests>]
let tests =
    testSequenced
    <| testList
        "uniloss.schedule"
        [ test "tau schedule is geometric from tau to tau-end and fixed without an end" {
              let o = { ExpUniLossOptions.Defaults with Tau = 1.0; TauEnd = Some 4.0 }
              Expect.floatClose Accuracy.veryHigh (ExpTrain.tauAt o 0.0) 1.0 "first step"
              Expect.floatClose Accuracy.veryHigh (ExpTrain.tauAt o 0.5) 2.0 "half way: sqrt(1·4)"
              Expect.floatClose Accuracy.veryHigh (ExpTrain.tauAt o 1.0) 4.0 "last step"
              let down = { o with Tau = 2.0; TauEnd = Some 0.5 }
              Expect.floatClose Accuracy.veryHigh (ExpTrain.tauAt down 0.25) (2.0 * 0.25 ** 0.25) "decreasing schedule"

              for p in [ 0.0; 0.3; 1.0 ] do
                  Expect.equal (ExpTrain.tauAt ExpUniLossOptions.Defaults p) 1.0 "fixed tau"

              Expect.throwsT<UserError> (fun () -> ExpTrain.tauAt o 1.5 |> ignore) "progress above 1"
          }
          test "training progress runs 0 .. 1 over all steps of all epochs" {
              Expect.equal (ExpTrain.progressOf 2 5 0 0) 0.0 "first step"
              Expect.equal (ExpTrain.progressOf 2 5 1 4) 1.0 "last step"
              Expect.floatClose Accuracy.veryHigh (ExpTrain.progressOf 2 5 1 0) (5.0 / 9.0) "first step of epoch 2"
              Expect.equal (ExpTrain.progressOf 1 1 0 0) 0.0 "a single step"
          }
          test "UniLoss.Tau set between steps gives the loss of a UniLoss built with that tau" {
              use _ = torch.NewDisposeScope()
              let logits, labels = batch ()
              use a = new UniLoss(Metrics.accuracy, seed = 7, tau = 1.0)
              use b = new UniLoss(Metrics.accuracy, seed = 7, tau = 0.25)
              a.Tau <- 0.25
              let la = a.forward(logits, labels).item<float32>()
              let lb = b.forward(logits, labels).item<float32>()
              Expect.equal la lb "same seed, same tau, same loss"
              use c = new UniLoss(Metrics.accuracy, seed = 7, tau = 1.0)
              let lc = c.forward(logits, labels).item<float32>()
              Expect.notEqual la lc "tau changes the loss"
              Expect.throwsT<UserError> (fun () -> a.Tau <- 0.0) "tau 0"
          }
          test "the run's progress hook moves tau along the schedule" {
              use _ = torch.NewDisposeScope()
              let logits, labels = batch ()
              let sched = UniLossAccuracy { ExpUniLossOptions.Defaults with Tau = 1.0; TauEnd = Some 0.25 }
              let fixedEnd = UniLossAccuracy { ExpUniLossOptions.Defaults with Tau = 0.25 }
              let fixedStart = UniLossAccuracy ExpUniLossOptions.Defaults

              let lossAt loss (p: float option) =
                  use l = ExpTrain.makeLoss loss 11
                  p |> Option.iter l.SetProgress
                  (l.Compute logits labels).Value.item<float32>()

              Expect.equal (lossAt sched (Some 1.0)) (lossAt fixedEnd None) "at the last step tau = tau-end"
              Expect.equal (lossAt sched (Some 0.0)) (lossAt fixedStart None) "at the first step tau = tau"
              Expect.notEqual (lossAt sched (Some 1.0)) (lossAt sched (Some 0.0)) "the schedule changes the loss"
          }
          test "paired gap: mean and sample sd of per-seed differences" {
              let m, sd = UnilossExp.pairedGap [ 1.0; 2.0; 3.0 ] [ 2.0; 2.0; 5.0 ]
              Expect.floatClose Accuracy.veryHigh m 1.0 "mean of 1, 0, 2"
              Expect.floatClose Accuracy.veryHigh sd 1.0 "sd of 1, 0, 2"

              Expect.equal
                  (UnilossExp.gapText 2 [ 1.0; 2.0; 3.0 ] [ 2.0; 2.0; 5.0 ])
                  "UniLoss - CE = +1.00 ± 1.00 over 3 seeds; per seed +1.00, +0.00, +2.00"
                  "text"

              Expect.equal (UnilossExp.gapText 4 [ 0.83 ] [ 0.8245 ]) "UniLoss - CE = -0.0055" "one seed"
              Expect.throwsT<UserError> (fun () -> UnilossExp.pairedGap [ 1.0 ] [ 1.0; 2.0 ] |> ignore) "unequal runs"
          }
          test "validation set is carved from the training pool, disjoint from the training subset" {
              let pool = [| 0..99 |]
              let train = ExpTasks.subset 1 60 pool
              let v = ExpTasks.validation 1 30 pool train
              Expect.equal v.Length 30 "size"
              Expect.equal (Set.intersect (Set.ofArray v) (Set.ofArray train)).Count 0 "disjoint from training"
              Expect.isTrue (v |> Array.forall (fun i -> i >= 0 && i < 100)) "from the pool"
              Expect.equal (Array.distinct v).Length 30 "no repeats"
              Expect.equal (ExpTasks.validation 1 30 pool train) v "deterministic"
              // per-channel normalisation keeps inputs bounded: a pixel that is 0 on every training image but 1
              // on a test image (what per-pixel statistics blow up) maps to (1 - mean) / std
              let imgs =
                  Array.init 40 (fun i -> Array.init 16 (fun p -> if p = 0 then 0.0f else float32 ((i * 7 + p * 3) % 11) / 10.0f))
                  |> Array.concat

              let ds: AutoDesign.Data.Dataset =
                  { Name = "t"; Images = imgs; Labels = Array.zeroCreate 40; Height = 4; Width = 4; Count = 40; Source = "t" }

              let norm = ExpTasks.perChannelNormaliser ds [| 0..29 |]
              let all = imgs.[0 .. 30 * 16 - 1] |> Array.map float
              let m = Array.average all
              let sd = sqrt (Array.averageBy (fun v -> (v - m) ** 2.0) all)
              use x = torch.ones (1L, 1L, 4L, 4L)
              use z = norm x
              Expect.floatClose Accuracy.medium (z.max().ToDouble()) ((1.0 - m) / sd) "one mean and std for every pixel"
              Expect.isLessThan ((1.0 - m) / sd) 5.0 "bounded"
              Expect.equal (ExpTasks.heldOut false 1 5 pool [| 100..109 |] train |> Array.forall (fun i -> i >= 100)) true "test mode takes test images"
              Expect.throwsT<UserError> (fun () -> ExpTasks.validation 1 41 pool train |> ignore) "too few left"
          }
          test "CLI parses --tau-end, --validation and --ce-lr for accuracy and ap" {
              match planOf [| "accuracy"; "--quick"; "--tau-end"; "3"; "--validation"; "--seeds"; "3" |] with
              | PlanAccuracy s -> Expect.equal (s.TauEnd, s.Validation, s.Runs) (Some 3.0, true, 3) "accuracy"
              | other -> failtestf "wrong plan %A" other

              match planOf [| "ap"; "--data"; "fashion"; "--validation"; "--ce-lr"; "0.03" |] with
              | PlanAp(s, _, _) -> Expect.equal (s.TauEnd, s.Validation, s.CeLr) (None, true, Some 0.03) "ap"
              | other -> failtestf "wrong plan %A" other

              let o = UnilossExp.uniOptsFor { UnilossExp.defaultSettings torch.CPU with TauEnd = Some 2.0 }
              Expect.equal (o.Tau, o.TauEnd) (1.0, Some 2.0) "settings reach the loss options"
              Expect.throwsT<UserError> (fun () -> planOf [| "accuracy"; "--tau-end"; "0" |] |> ignore) "tau-end 0"
              Expect.throwsT<UserError> (fun () -> planOf [| "ap"; "--ce-lr"; "-1" |] |> ignore) "ce-lr negative"

              Expect.throwsT<UserError>
                  (fun () -> UnilossAp.ap { UnilossExp.defaultSettings torch.CPU with Validation = true } "mnist" 0 |> ignore)
                  "no validation split for MNIST"
          }
          test "CLI parses --nearby-unit and it reaches the loss options" {
              match planOf [| "accuracy"; "--quick"; "--nearby-unit"; "example" |] with
              | PlanAccuracy s -> Expect.equal s.NearbyUnit (Some FlipUnit.Example) "example"
              | other -> failtestf "wrong plan %A" other

              match planOf [| "accuracy"; "--quick" |] with
              | PlanAccuracy s -> Expect.equal s.NearbyUnit None "not given"
              | other -> failtestf "wrong plan %A" other

              let o = UnilossExp.uniOptsFor { UnilossExp.defaultSettings torch.CPU with NearbyUnit = Some FlipUnit.Example }
              Expect.equal o.NearbyUnit FlipUnit.Example "settings reach the loss options"
              Expect.equal (UnilossExp.uniOptsFor (UnilossExp.defaultSettings torch.CPU)).NearbyUnit FlipUnit.Bit "default one-bit flips"
              Expect.throwsT<ArguParseException> (fun () -> planOf [| "accuracy"; "--nearby-unit"; "score" |] |> ignore) "unknown unit"
          }
          test "every uniloss experiment runs as parts, one per (seed, arm); the pose ablation leaves its shared arm to the table" {
              let ctx: AutoDesign.Reproduce.ExperimentContext =
                  { Quick = true; Device = torch.CPU; RunsRoot = "unused"; Options = RunOptions.Default; Seed = 1; Threads = 1 }

              let exps = AutoDesign.Reproduce.UnilossExperiments.all @ AutoDesign.Reproduce.PoseExperiments.all
              let ids name = exps |> List.find (fun e -> e.Name = name) |> fun e -> e.Parts ctx |> List.map (fun p -> p.Id)

              for e in exps do
                  let xs = ids e.Name
                  Expect.isNonEmpty xs (sprintf "%s has parts" e.Name)
                  Expect.equal (List.distinct xs) xs (sprintf "%s: part ids are unique" e.Name)

              Expect.equal (ids "accuracy-resnet20").Length 12 "3 seeds x 4 arms"

              Expect.equal
                  (ids "ap-mnist")
                  [ for k in 1..3 do
                        for a in [ "ce"; "uniloss" ] -> sprintf "seed%d/%s" k a ]
                  "ap: 3 seeds x 2 arms"

              Expect.equal (ids "pose-anchors") [ "seed1/uniloss-anchors5"; "seed1/uniloss-anchors10" ] "the 16-anchor run is the table's part"
              Expect.contains (ids "pose-table3.1") "seed1/uniloss-anchors16" "the table runs it"
          }
          test "CLI parses --nearby, --bound-scores and --grad-norm; the accuracy arm's defaults use them" {
              match planOf [| "accuracy"; "--quick"; "--nearby"; "any"; "--bound-scores"; "on"; "--grad-norm"; "0" |] with
              | PlanAccuracy s ->
                  Expect.equal (s.NearbyCorrective, s.BoundScores, s.GradNorm) (Some false, Some true, Some 0.0) "accuracy"
                  let o = UnilossExp.uniOptsFrom UnilossAccuracy.accuracyResNetDefaults s
                  Expect.equal (o.NearbyCorrective, o.BoundScores, o.GradNorm) (false, true, 0.0) "flags override the experiment's defaults"
              | other -> failtestf "wrong plan %A" other

              match planOf [| "ap"; "--nearby"; "wrong"; "--grad-norm"; "0.2" |] with
              | PlanAp(s, _, _) -> Expect.equal (s.NearbyCorrective, s.BoundScores, s.GradNorm) (Some true, None, Some 0.2) "ap"
              | other -> failtestf "wrong plan %A" other

              let d = UnilossAccuracy.accuracyResNetDefaults

              Expect.equal
                  (d.NearbyCorrective, d.GradNorm, d.TauEnd)
                  (true, 0.1, Some 3.0)
                  "accuracy arm: corrective nearby anchors, gradient norm 0.1, tau 1 -> 3"

              let authors = UnilossAccuracy.accuracyThesisForm

              Expect.equal
                  (authors.BoundScores, authors.NearbyCorrective, authors.BestAnchor, authors.Tau, authors.GradNorm, authors.TauEnd)
                  (true, true, true, 1.0, 0.0, None)
                  "thesis-form accuracy arm as the authors' code: sigmoid-bounded scores, corrective nearby anchors, b* as an anchor, tau 1, exact IDW gradient unscaled"

              let p, _ = UnilossAccuracy.accuracyPlan { UnilossExp.defaultSettings torch.CPU with Runs = 3 }
              let wd = p.Arms |> List.map (fun (l, _, c) -> l, c.WeightDecay)

              Expect.equal
                  wd
                  [ "ce", 5e-4; "uniloss-thesis", 1e-4; "uniloss-default", 5e-4; "uniloss", 5e-4 ]
                  "the thesis-form arm uses the authors' weight decay"

              let lrs = p.Arms |> List.map (fun (_, _, c) -> c.Lr, c.Momentum, c.Milestones, c.WarmupSteps) |> List.distinct
              Expect.equal lrs.Length 1 "every arm at CE's lr, momentum, schedule"

              match p.Arms |> List.find (fun (l, _, _) -> l = "uniloss-default") with
              | _, UniLossAccuracy o, _ ->
                  Expect.equal o ExpUniLossOptions.Library "the default arm uses the library's defaults"

                  Expect.equal
                      (o.AutoScale, o.GradNorm, o.TauEnd, o.NearbyCorrective)
                      (UniLossOptions().AutoScale, 0.0, None, false)
                      "automatic scale, nothing hand-set"
              | other -> failtestf "wrong arm %A" other

              Expect.equal
                  (UnilossExp.parts { UnilossExp.defaultSettings torch.CPU with Runs = 3 } p |> List.map fst)
                  [ for k in 1..3 do
                        for a in [ "ce"; "uniloss-thesis"; "uniloss-default"; "uniloss" ] -> sprintf "seed%d/%s" k a ]
                  "one part per (seed, arm)"

              let thesis = UnilossExp.uniOptsFor (UnilossExp.defaultSettings torch.CPU)

              Expect.equal
                  (thesis.NearbyCorrective, thesis.BoundScores, thesis.GradNorm, thesis.AutoScale)
                  (false, false, 0.0, 0.0)
                  "thesis settings elsewhere (raw gradient)"

              match planOf [| "accuracy"; "--auto-scale"; "0.5" |] with
              | PlanAccuracy s -> Expect.equal (UnilossExp.uniOptsFrom UnilossAccuracy.accuracyLibraryDefaults s).AutoScale 0.5 "--auto-scale overrides"
              | other -> failtestf "wrong plan %A" other

              Expect.throwsT<UserError> (fun () -> planOf [| "accuracy"; "--auto-scale"; "-1" |] |> ignore) "negative auto scale"
              Expect.throwsT<UserError> (fun () -> planOf [| "ap"; "--auto-scale"; "NaN" |] |> ignore) "NaN auto scale"
              Expect.throwsT<ArguParseException> (fun () -> planOf [| "accuracy"; "--nearby"; "some" |] |> ignore) "unknown nearby rule"
              Expect.throwsT<ArguParseException> (fun () -> planOf [| "accuracy"; "--bound-scores"; "yes" |] |> ignore) "bound-scores on/off"
              Expect.throwsT<UserError> (fun () -> planOf [| "accuracy"; "--grad-norm"; "-1" |] |> ignore) "negative grad norm"
          } ]
