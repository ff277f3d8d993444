namespace AutoDesign.Reproduce

open System.Collections.Generic
open System.IO
open AutoDesign.Runs

/// How long each job of `reproduce --quick` took when last measured on 2 cores (one torch thread per job),
/// shipped as quick-job-seconds.csv (the runs root's jobs/durations.csv of that run). The local pool starts
/// the longest remaining path first with it on a fresh clone; durations of the user's own runs take over.
module ExpectedSeconds =
    let private resource = "AutoDesign.Reproduce.quick-job-seconds.csv"

    /// The shipped durations, keyed by the job folder relative to the runs root (Durations.keyOf).
    let quick () : IReadOnlyDictionary<string, float> =
        use s = typeof<ReportRow>.Assembly.GetManifestResourceStream resource

        if isNull s then
            readOnlyDict []
        else
            use r = new StreamReader(s)
            Durations.parse (r.ReadToEnd().Split('\n'))
