/// Property tests over a random seed: FsCheck draws the seed, the body draws what it needs from `Random seed`.
module AutoDesign.Tests.Properties

open System
open Expecto

/// A property named `name`, checked on `runs` seeds drawn by FsCheck: `body seed (Random seed)` must hold (return true or not throw).
let seeded (runs: int) (name: string) (body: int -> Random -> 'T) =
    testPropertyWithConfig { FsCheckConfig.defaultConfig with maxTest = runs } name (fun (seed: int) -> body seed (Random seed))
