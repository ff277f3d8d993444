namespace AutoDesign.DGGAN

open System.IO
open System.Text.Json
open System.Text.Json.Serialization
open AutoDesign.Runs
open AutoDesign.Metrics

/// One trained candidate, as persisted. `Kind` is "search" or "baseline"; `Parent` is "" for a root;
/// `Fid` is -1 when training diverged.
type CandidateRecord =
    { Id: string
      Kind: string
      Parent: string
      Step: int
      Action: string
      Actions: string[]
      Resolution: int
      GParams: int64
      DParams: int64
      Fid: float
      Diverged: bool
      Inherited: int
      Seconds: float
      Weights: string }

/// The whole search, rewritten atomically after every candidate. `Signature` describes the settings that made
/// it; resuming with other settings is refused.
type SearchState =
    { Signature: string
      Candidates: CandidateRecord[] }

module SearchState =
    let private options =
        let o = JsonSerializerOptions(WriteIndented = true)
        o.NumberHandling <- JsonNumberHandling.AllowNamedFloatingPointLiterals
        o

    let empty signature = { Signature = signature; Candidates = [||] }

    let save (path: string) (s: SearchState) = Atomic.writeAllText path (JsonSerializer.Serialize(s, options))

    let load (path: string) : SearchState =
        let text = File.ReadAllText path
        let s =
            try JsonSerializer.Deserialize<SearchState>(text, options)
            with e -> Errors.fail "search state %s is corrupt: %s" path e.Message
        if obj.ReferenceEquals(s, null) || isNull s.Candidates then Errors.fail "search state %s is empty or corrupt" path
        s

    /// Load the state at `path` (checking it was made with `signature`), or start an empty one.
    let loadOrCreate (path: string) (signature: string) =
        if File.Exists path then
            let s = load path
            if s.Signature <> signature then
                Errors.fail "search state %s was made with other settings (%s); use another run folder or the same settings" path s.Signature
            s
        else empty signature

    let tryFind (s: SearchState) (id: string) = s.Candidates |> Array.tryFind (fun c -> c.Id = id)

    let add (s: SearchState) (c: CandidateRecord) =
        { s with Candidates = Array.append (s.Candidates |> Array.filter (fun x -> x.Id <> c.Id)) [| c |] }

    let architecture (cfg: AutoDesign.Nn.DGGAN.GanConfig) (c: CandidateRecord) =
        { Config = cfg; Steps = c.Actions |> Array.map GrowStep.parse |> List.ofArray }
