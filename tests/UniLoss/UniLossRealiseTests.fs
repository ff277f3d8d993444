module AutoDesign.Tests.UniLossRealiseTests

open System
open Expecto
open TorchSharp
open AutoDesign.UniLoss

module User = AutoDesign.Tests.UniLossUserMetrics

/// The order graph of a configuration, built independently of Realise's checks: vertices are scores and
/// distinct thresholds; bit 1 of [x1 − x2 − θ > 0] puts x1's vertex above x2's, bit 0 below or tied.
/// strict = true: realisable by tie-free scores iff the graph (all edges strict) is acyclic (Kahn);
/// strict = false: realisable by some scores iff no strongly connected set holds a strict edge.
let private realisable (r: Refactored) (bits: float32[]) (strict: bool) =
    let n = r.NumScores

    // the distinct thresholds, ascending: a score compared with a constant, on either side
    let consts =
        Set.toArray (
            set
                [ for c in r.Comparisons do
                      if c.K2 < 0 then yield float32 c.Offset
                      elif c.K1 < 0 then yield -(float32 c.Offset) ]
        )

    let vertex (k: int) (constant: float32) = if k >= 0 then k else n + Array.IndexOf(consts, constant)
    // edges (hi, lo, isStrict): hi > lo (strict) or hi ≥ lo
    let edges =
        [ for e in 0 .. r.L - 1 do
              let c = r.Comparisons.[e]
              let p = if c.K1 >= 0 then c.K1 else vertex -1 (-(float32 c.Offset))
              let q = if c.K2 >= 0 then c.K2 else vertex -1 (float32 c.Offset)
              if bits.[e] > 0.5f then yield p, q, true else yield q, p, false
          for i in 1 .. consts.Length - 1 -> n + i, n + i - 1, true ]

    let nv = n + consts.Length

    if strict then
        let indeg = Array.zeroCreate<int> nv

        for (_, b, _) in edges do
            indeg.[b] <- indeg.[b] + 1

        let out = Array.init nv (fun _ -> ResizeArray<int>())

        for (a, b, _) in edges do
            out.[a].Add b

        let queue =
            Collections.Generic.Queue<int>(
                [ for v in 0 .. nv - 1 do
                      if indeg.[v] = 0 then yield v ]
            )

        let mutable seen = 0

        while queue.Count > 0 do
            let v = queue.Dequeue()
            seen <- seen + 1

            for w in out.[v] do
                indeg.[w] <- indeg.[w] - 1
                if indeg.[w] = 0 then queue.Enqueue w

        seen = nv
    else
        // reachability by repeated relaxation (small graphs): a strict edge a→b inside a cycle means b reaches a
        let reach = Array.init nv (fun v -> Collections.Generic.HashSet<int>([ v ]))
        let mutable changed = true

        while changed do
            changed <- false

            for (a, b, _) in edges do
                for x in List.ofSeq reach.[b] do
                    if reach.[a].Add x then changed <- true

        edges |> List.forall (fun (a, b, s) -> not s || not (reach.[b].Contains a))

let private classLabels (rng: Random) n c = Array.init n (fun _ -> rng.Next c)
let private relLabels (rng: Random) n = Array.init n (fun _ -> if rng.Next 3 = 0 then rng.Next(1, 3) else 0)

/// (metric, score shape, labels) for a random batch of each kind.
let private cases (rng: Random) =
    let n = rng.Next(2, 9)
    let c = rng.Next(2, 4)
    let h, w = rng.Next(1, 3), rng.Next(1, 3)
    let bin = Array.init n (fun _ -> rng.Next 2)
    let seg = Labels([| 1; h; w |], Array.init (h * w) (fun _ -> int64 (rng.Next c)))

    [ Metrics.accuracy, [| n; c |], Labels(classLabels rng n c)
      Metrics.topK 2, [| n; c |], Labels(classLabels rng n c)
      Metrics.balancedAccuracy, [| n; c |], Labels(classLabels rng n c)
      Metrics.macroF1, [| n; c |], Labels(classLabels rng n c)
      Metrics.mcc, [| n; c |], Labels(classLabels rng n c)
      Metrics.fBeta 2.0, [| n |], Labels bin
      Metrics.f1, [| n; 2 |], Labels bin
      Metrics.averagePrecision, [| n |], Labels bin
      Metrics.averagePrecisionPosNeg, [| n; 1 |], Labels bin
      Metrics.precisionAtK 2, [| n |], Labels(relLabels rng n)
      Metrics.recallAtK 2, [| n |], Labels(relLabels rng n)
      Metrics.ndcgAtK 3, [| n |], Labels(relLabels rng n)
      Metrics.meanIoU, [| 1; c; h; w |], seg
      Metrics.dice, [| 1; c; h; w |], seg
      User.balancedAccuracy, [| n; c |], Labels(classLabels rng n c)
      User.macroF1, [| n; c |], Labels(classLabels rng n c)
      User.precisionAt10, [| n |], Labels(relLabels rng n)
      User.ndcgAt5, [| n |], Labels(relLabels rng n)
      User.mcc, [| n |], Labels bin
      User.csFBeta, [| n; 2 |], Labels bin ]

let private longs (y: Labels) = torch.tensor(y.Data).reshape(y.Shape |> Array.map int64)

[<Tests>]
let tests =
    testList
        "uniloss.realise"
        [ Properties.seeded 40 "b* is produced by its scores (h(f(scores)) = b*), without ties, and no random tie-free scores beat it"
          <| fun _ rng ->
              cases rng
              |> List.forall (fun (metric, shape, labels) ->
                  let r = Refactor.trace metric shape labels
                  let st = Realise.structure r
                  let best = Anchors.bestWith metric r st (Realiser st) labels
                  let produced = Refactor.h (Refactor.comparisons r best.Scores)

                  let beaten =
                      List.init 20 (fun _ -> Array.init r.NumScores (fun _ -> float32 (rng.NextDouble() - 0.5)))
                      |> List.exists (fun s -> Refactor.exact metric shape labels s > best.Value + 1e-9)

                  produced = best.Bits && abs (Refactor.g r best.Bits - best.Value) < 1e-9 && realisable r best.Bits true && not beaten)

          testCase "each built-in's b* reaches the top of its range when the labels allow it"
          <| fun () ->
              let rng = Random 3

              for (metric, shape, labels) in cases rng |> List.take 14 do
                  let r = Refactor.trace metric shape labels
                  let st = Realise.structure r
                  let best = Anchors.bestWith metric r st (Realiser st) labels

                  let attainable =
                      // recall@k with more relevant items than k, NDCG/precision without relevant items, MCC with one class
                      match metric.Name with
                      | "recall@2" -> let k = labels.Data |> Array.filter (fun v -> v > 0L) |> Array.length in k >= 1 && k <= 2
                      | "precision@2" -> (labels.Data |> Array.filter (fun v -> v > 0L) |> Array.length) >= 2
                      | "ndcg@3" -> labels.Data |> Array.exists (fun v -> v > 0L)
                      | "mcc" -> (labels.Data |> Array.distinct).Length > 1
                      | "fbeta-2"
                      | "f1"
                      | "ap"
                      | "ap-posneg" -> labels.Data |> Array.exists (fun v -> v = 1L)
                      | _ -> true

                  if attainable then Expect.floatClose Accuracy.high best.Value 1.0 (sprintf "%s reaches 1 (%s)" metric.Name best.Source)
                  Expect.isFalse (best.Source.Contains "search") (sprintf "%s needs no search" metric.Name)

          testCase "a user metric without candidates that fit is improved by the score-space search"
          <| fun () ->
              // class 0 must lose to every other class, and classes 1 and 2 alternate: labels say nothing of it
              let m =
                  Metric.Define(
                      "zero-loses",
                      fun s _ ->
                          User.zeroLoses s
                          + meanBits [ for i in 0 .. s.N - 1 -> if i % 2 = 0 then s.[i, 2] >. s.[i, 1] else s.[i, 1] >. s.[i, 2] ]
                  )

              let labels = Labels [| 0; 0; 0 |]
              let r = Refactor.trace m [| 3; 3 |] labels
              let st = Realise.structure r
              let best = Anchors.bestWith m r st (Realiser st) labels
              Expect.floatClose Accuracy.high best.Value 2.0 "reaches 2"
              Expect.stringContains best.Source "search" "found by the search"
              Expect.equal (Refactor.h (Refactor.comparisons r best.Scores)) best.Bits "produced by its scores"

          testCase "every anchor is realisable (tie-free scores: by tie-free scores; tied scores: by some scores)"
          <| fun () ->
              let rng = Random 11

              for trial in 0..5 do
                  for (metric, shape, labels) in cases rng do
                      let size = Array.fold (*) 1 shape
                      let tied = trial % 2 = 1
                      let sv = Array.init size (fun _ -> if tied then float32 (rng.Next 3) else float32 (rng.NextDouble()))
                      use s = torch.tensor(sv).reshape(shape |> Array.map int64)
                      use loss = new UniLoss(metric, anchorsPerType = 6, seed = trial, goodFlips = 1 + trial % 3, nearbyFlips = 1 + trial % 2)
                      let r = Refactor.trace metric shape labels

                      if r.L > 0 then
                          use a = loss.SampleAnchors(s, longs labels)
                          let rows = a.data<float32>().ToArray()

                          for i in 0 .. int a.shape.[0] - 1 do
                              let bits = Array.sub rows (i * r.L) r.L
                              if not (realisable r bits (not tied)) then failtestf "%s (trial %d): anchor %d is not realisable" metric.Name trial i

          testCase "the single-flip table agrees with flipping and checking each bit"
          <| fun () ->
              let rng = Random 5

              for (metric, shape, labels) in cases rng do
                  let r = Refactor.trace metric shape labels
                  let st = Realise.structure r
                  let rz = Realiser st

                  for _ in 1..3 do
                      let sv = Array.init r.NumScores (fun _ -> float32 (rng.NextDouble()))
                      let vals = Realise.vertexValues st sv
                      let bits = Refactor.h (Refactor.comparisons r sv)
                      let buf = Array.map float bits
                      let table = rz.SingleFlipTable(buf, 0, 1, vals)

                      for e in 0 .. r.L - 1 do
                          let flipped = Array.copy bits
                          flipped.[e] <- 1.0f - flipped.[e]
                          Expect.equal table.[e] (realisable r flipped true) (sprintf "%s bit %d" metric.Name e)

                          Expect.equal
                              (rz.FlipsRealisable(Array.map float flipped, 0, 1, ResizeArray [ e ], vals, true))
                              table.[e]
                              (sprintf "%s bit %d (search)" metric.Name e)

          testCase "forest structures keep the thesis's plain flips; others flip a bit only when that is realisable"
          <| fun () ->
              use s = torch.randn (12L, 4L, generator = new torch.Generator(3UL))
              let y = Labels [| for i in 0..11 -> i % 4 |]
              use loss = new UniLoss(Metrics.accuracy, seed = 2)
              let best = loss.BestConfiguration([| 12; 4 |], longs y)
              let rows = (loss.SampleAnchors(s, longs y)).data<float32>().ToArray()
              let l = best.Length
              let dist (i: int) (b: float32[]) = Seq.init l (fun e -> rows.[i * l + e] <> b.[e]) |> Seq.filter id |> Seq.length

              for i in 0..15 do
                  Expect.equal (dist i best) 1 "accuracy good anchor: one bit of b*"

              Expect.isTrue (Realise.structure (Refactor.trace Metrics.accuracy [| 12; 4 |] y)).IsForest "accuracy's comparisons form a forest"
              // AP with positive-vs-positive bits: b* orders the positives, one pos-vs-neg flip alone is not realisable
              let yb = Labels [| 1; 0; 1; 0; 1; 0; 0; 0 |]
              let r = Refactor.trace Metrics.averagePrecision [| 8 |] yb
              let st = Realise.structure r
              let b = Anchors.bestWith Metrics.averagePrecision r st (Realiser st) yb
              Expect.isFalse st.IsForest "AP's comparisons have cycles"
              use ap = new UniLoss(Metrics.averagePrecision, seed = 4)
              use s8 = torch.randn (8L, generator = new torch.Generator(5UL))
              let a = (ap.SampleAnchors(s8, longs yb)).data<float32>().ToArray()

              for i in 0..15 do
                  let row = Array.sub a (i * r.L) r.L
                  Expect.isTrue (realisable r row true) "good anchor realisable"
                  Expect.isGreaterThanOrEqual (Seq.zip row b.Bits |> Seq.filter (fun (x, y) -> x <> y) |> Seq.length) 1 "differs from b*" ]
