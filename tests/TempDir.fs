/// Folders for the files a test writes: one fresh folder each, under the system's temporary directory.
module AutoDesign.Tests.TempDir

open System
open System.IO

/// A new empty folder `<temp>/autodesign-tests/<prefix>-<random>`.
let fresh (prefix: string) =
    let d = Path.Combine(Path.GetTempPath(), "autodesign-tests", prefix + "-" + Guid.NewGuid().ToString("N"))
    Directory.CreateDirectory d |> ignore
    d
