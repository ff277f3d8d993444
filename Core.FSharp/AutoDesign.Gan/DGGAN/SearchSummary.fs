namespace AutoDesign.DGGAN

open System
open System.IO
open System.Collections.Generic
open AutoDesign.Runs
open AutoDesign.Nn.DGGAN

/// One trained candidate as the search summary lists it. `Kind` is "search", "baseline" or "final"; `Parent` is
/// "" for a root; FIDs are NaN when training diverged; `Folder` and `Weights` are relative to the search run folder.
type CandidateRecord =
    {
        Id: string
        Kind: string
        Parent: string
        Folder: string
        Step: int
        Action: string
        Actions: string[]
        Resolution: int
        GParams: int64
        DParams: int64
        Iterations: int
        /// Selection FID (what the search ranks by).
        Fid: float
        /// Fresh FID (samples and real images not used for selection).
        FreshFid: float
        Diverged: bool
        Inherited: int
        Weights: string
    }

/// search.json: a summary derived from the candidates' run folders (their config.json and result.json), rewritten
/// atomically after every candidate. The folders are the truth; the summary can always be rebuilt from them.
type SearchSummary = { Candidates: CandidateRecord[] }

module SearchSummary =
    /// The summary file in a search run folder.
    [<CompiledName("FileName")>]
    let fileName = "search.json"

    /// The result stored in a run folder, if it finished (read without taking the folder's lock).
    [<CompiledName("StoredResult")>]
    let internal storedResult<'R> (dir: string) : 'R option =
        let p = Path.Combine(dir, "result.json")

        if not (File.Exists p) then
            None
        else
            Some(Json.ofNode<'R> (p + " field 'result'") (Json.memberOf p "" "result" (Json.readFile p)))

    /// A record from a candidate's configuration and result.
    [<CompiledName("Record")>]
    let record (model: GanConfig) (folder: string) (cfg: CandidateConfig) (r: CandidateResult) =
        let arch = Candidate.architecture model cfg.Actions

        { Id = cfg.Id
          Kind = cfg.Kind
          Parent = cfg.Parent
          Folder = folder
          Step = cfg.Step
          Action = cfg.Action
          Actions = cfg.Actions
          Resolution = Architecture.resolution arch
          GParams = Architecture.gParams arch
          DParams = Architecture.dParams arch
          Iterations = r.Iterations
          Fid = r.SelectionFid
          FreshFid = r.FreshFid
          Diverged = r.Diverged
          Inherited = r.Inherited
          Weights = folder + "/" + Candidate.weightsFile }

    /// Every finished candidate under `candidates/` and `final/` of the search run folder, in folder order.
    [<CompiledName("Collect")>]
    let collect (searchDir: string) (model: GanConfig) : IReadOnlyList<CandidateRecord> =
        [ for group in [ "candidates"; "final" ] do
              let root = Path.Combine(searchDir, group)

              if Directory.Exists root then
                  for d in Directory.GetDirectories root |> Array.sortWith (fun a b -> String.CompareOrdinal(a, b)) do
                      let folder = group + "/" + Path.GetFileName d

                      match storedResult<CandidateResult> d with
                      | Some r -> yield record model folder (Candidate.storedConfig searchDir folder) r
                      | None -> () ]
        :> IReadOnlyList<_>

    /// Rewrite search.json from the folders (atomically).
    [<CompiledName("Rewrite")>]
    let rewrite (searchDir: string) (model: GanConfig) =
        Atomic.writeAllText (Path.Combine(searchDir, fileName)) (Json.serialize { Candidates = Array.ofSeq (collect searchDir model) })

    /// The candidates listed in a search summary file (search.json).
    [<CompiledName("Load")>]
    let load (path: string) : IReadOnlyList<CandidateRecord> =
        SafeFiles.requireFile "search summary" path
        let s = Json.ofNode<SearchSummary> path (Json.readFile path)
        if isNull s.Candidates then Errors.fail "search summary %s holds no candidates" path
        s.Candidates :> IReadOnlyList<_>

    [<CompiledName("Architecture")>]
    let architecture (model: GanConfig) (c: CandidateRecord) = Candidate.architecture model c.Actions
