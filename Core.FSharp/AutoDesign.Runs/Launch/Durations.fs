namespace AutoDesign.Runs

open System
open System.Collections.Generic
open System.Globalization
open System.IO

/// How long jobs took, kept under the runs root (jobs/durations.csv: job folder relative to the root,
/// seconds) so that the next pool can start the longest work first. A hint only: a line that does not
/// parse is skipped, and two pools writing at once may lose one of their updates.
module Durations =
    /// The store of a runs root.
    [<CompiledName("PathOf")>]
    let pathOf (root: string) = Path.Combine(root, "jobs", "durations.csv")

    /// A job's key: its folder relative to the root, with '/' separators.
    [<CompiledName("KeyOf")>]
    let keyOf (root: string) (j: Job) = Path.GetRelativePath(Path.GetFullPath root, j.RunDir).Replace('\\', '/')

    /// Parse "key,seconds" lines (the key may not contain a comma); other lines are skipped.
    [<CompiledName("Parse")>]
    let parse (lines: seq<string>) : IReadOnlyDictionary<string, float> =
        let d = Dictionary<string, float>()

        for l in lines do
            match l.LastIndexOf ',' with
            | i when i > 0 ->
                match Double.TryParse(l.Substring(i + 1), NumberStyles.Float, CultureInfo.InvariantCulture) with
                | true, v when Double.IsFinite v && v >= 0.0 -> d.[l.Substring(0, i)] <- v
                | _ -> ()
            | _ -> ()

        d :> IReadOnlyDictionary<_, _>

    let private render (d: IReadOnlyDictionary<string, float>) =
        Csv.render [ "job"; "seconds" ] [ for KeyValue(k, v) in d |> Seq.sortBy (fun kv -> kv.Key) -> [ Cell.Text k; Cell.Number(Math.Round(v, 1)) ] ]

    /// The stored durations of a runs root (empty when none or unreadable).
    [<CompiledName("Load")>]
    let load (root: string) : IReadOnlyDictionary<string, float> =
        let p = pathOf root

        try
            if File.Exists p && FileInfo(p).Length < 16L * 1024L * 1024L then parse (File.ReadAllLines p) else readOnlyDict []
        with
        | :? IOException
        | :? UnauthorizedAccessException -> readOnlyDict []

    /// Record the seconds of the jobs that succeeded (merged into what is stored).
    [<CompiledName("Record")>]
    let record (root: string) (reports: IReadOnlyList<JobReport>) =
        let done' = reports |> Seq.filter (fun r -> r.Outcome = Succeeded) |> List.ofSeq

        if not done'.IsEmpty then
            try
                let d = Dictionary<string, float>(load root |> Seq.map (fun kv -> KeyValuePair(kv.Key, kv.Value)))

                for r in done' do
                    d.[keyOf root r.Job] <- r.Seconds

                Directory.CreateDirectory(Path.GetDirectoryName(pathOf root)) |> ignore
                Atomic.writeAllText (pathOf root) (render d)
            with
            | :? IOException
            | :? UnauthorizedAccessException
            | UserError _ -> ()

    /// Jobs with unknown `Expected` take it from `known` (keyed by `keyOf root`).
    [<CompiledName("Fill")>]
    let fill (root: string) (known: IReadOnlyDictionary<string, float>) (jobs: IReadOnlyList<Job>) : IReadOnlyList<Job> =
        [ for j in jobs ->
              if j.Expected > 0.0 then
                  j
              else
                  match known.TryGetValue(keyOf root j) with
                  | true, s -> { j with Expected = s }
                  | _ -> j ]
        :> IReadOnlyList<_>

    /// Each job's priority: its expected seconds plus the longest chain of jobs that wait for it (the
    /// critical path from it to the end). Unknown durations count as the mean of the known ones (60 s if none).
    [<CompiledName("Priorities")>]
    let priorities (jobs: IReadOnlyList<Job>) : IReadOnlyDictionary<string, float> =
        let known = jobs |> Seq.map (fun j -> j.Expected) |> Seq.filter (fun s -> s > 0.0) |> List.ofSeq
        let fallback = if known.IsEmpty then 60.0 else List.average known
        let dependents = Dictionary<string, ResizeArray<string>>()

        for j in jobs do
            for d in j.DependsOn do
                if not (dependents.ContainsKey d) then dependents.[d] <- ResizeArray()
                dependents.[d].Add j.Id

        let byId = jobs |> Seq.map (fun j -> j.Id, j) |> dict
        let memo = Dictionary<string, float>()

        let rec level (id: string) (depth: int) =
            match memo.TryGetValue id with
            | true, v -> v
            | _ ->
                if depth > jobs.Count then Errors.fail "job dependencies form a cycle through %s" id

                let own =
                    match byId.[id].Expected with
                    | s when s > 0.0 -> s
                    | _ -> fallback

                let after =
                    match dependents.TryGetValue id with
                    | true, ds -> ds |> Seq.map (fun d -> level d (depth + 1)) |> Seq.max
                    | _ -> 0.0

                memo.[id] <- own + after
                own + after

        for j in jobs do
            level j.Id 0 |> ignore

        memo :> IReadOnlyDictionary<_, _>
