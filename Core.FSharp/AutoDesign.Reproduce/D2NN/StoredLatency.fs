namespace AutoDesign.Reproduce.D2NN

open System
open System.IO
open System.Collections.Generic
open TorchSharp
open AutoDesign.Runs
open AutoDesign.D2NN

/// Latency tables of every experiment architecture (its D²NN and static baselines), measured once with
/// `autodesign d2nn latency-tables` and kept in the repository (D2NN/latency/<arch>.json, embedded), so the
/// modeled time fractions in REPORT.md are a deterministic function of the trained networks: they do not
/// change with the load of the machine that reproduces them. A sweep with `--cost latency` measures its
/// own tables instead (the `latency` child run).
module StoredLatency =
    let private resource (arch: string) = sprintf "AutoDesign.Reproduce.D2NN.latency.%s.json" arch

    /// The stored tables of architecture `arch`, if the repository has them.
    let tables (arch: string) : LatencyTables option =
        let asm = Reflection.Assembly.GetExecutingAssembly()
        use s = asm.GetManifestResourceStream(resource arch)

        if isNull s then
            None
        else
            use r = new StreamReader(s)
            Some(Latency.parseTables (resource arch) (r.ReadToEnd()))

    /// Measure the tables of `arch` on inputs of shape `input` (uniform noise; timings do not depend on
    /// values), every function node at 1, 4, 16, 64 and `batch` examples, fastest of 7 interleaved calls.
    let measure (arch: Architecture) (input: int64[]) (batch: int) (seed: int) : LatencyTables =
        let build (g: Func<D2nnGraph>) =
            torch.manual_seed (int64 seed) |> ignore
            Preprocess.compile (g.Invoke())

        let nets =
            [ yield KeyValuePair(arch.Name, build arch.Build); for b in arch.Baselines -> KeyValuePair(b.Name, build b.Build) ]

        use _ = torch.NewDisposeScope()
        torch.manual_seed (int64 seed) |> ignore
        let sample = torch.rand (Array.append [| int64 batch |] input)
        let models = Latency.measureAll nets sample (Sweep.latencyBatches batch) 7

        { Batch = batch
          Note = sprintf "measured with `autodesign d2nn latency-tables` on a CPU, %d torch thread(s), inference mode" (torch.get_num_threads ())
          Networks = models }
