module AutoDesign.Tests.RandomTests

open System
open Expecto
open AutoDesign.Nn

/// The same calls on two generators, as a list of numbers (the calls AutoDesign makes; NextInt64 is
/// SeededRandom's own, .NET's seeded NextInt64 changed between releases).
let private draws (r: Random) =
    let bytes = Array.zeroCreate<byte> 7

    [ for k in 0..199 do
          match k % 8 with
          | 0 -> yield float (r.Next())
          | 1 -> yield float (r.Next(17))
          | 2 -> yield float (r.Next(-5, 1000))
          | 3 -> yield float (r.Next(Int32.MinValue, Int32.MaxValue))
          | 4 -> yield r.NextDouble()
          | 5 ->
              r.NextBytes bytes
              yield! bytes |> Array.map float
          | 6 -> yield float (r.Next(0, 1))
          | _ -> yield float (r.NextSingle()) ]

[<Tests>]
let tests =
    testList
        "seeded-random"
        [ test "streams equal System.Random's for the same seed" {
              for seed in [ 0; 1; 7; -5; 123456789; Int32.MaxValue; Int32.MinValue ] do
                  Expect.sequenceEqual (draws (SeededRandom seed)) (draws (Random seed)) (sprintf "seed %d" seed)
          }
          test "a restored state continues the stream exactly" {
              let a = SeededRandom 42
              draws a |> ignore
              let saved = a.State
              let rest = draws a
              let b = SeededRandom(saved)
              Expect.sequenceEqual (draws b) rest "continues from the saved state"
              let c = SeededRandom 1
              c.State <- saved
              Expect.sequenceEqual (draws c) rest "State setter"
          }
          test "NextInt64 stays in range and is reproducible" {
              let a, b = SeededRandom 9, SeededRandom 9

              for _ in 1..1000 do
                  let x = a.NextInt64(-7L, 1_000_000_000_000L)
                  Expect.isTrue (x >= -7L && x < 1_000_000_000_000L) "in range"
                  Expect.equal (b.NextInt64(-7L, 1_000_000_000_000L)) x "same seed, same draw"
          }
          test "a malformed state is refused" {
              Expect.throwsT<ArgumentException> (fun () -> SeededRandom(RandomState(Array.zeroCreate 3, 0, 21)) |> ignore) "short table"
              Expect.throwsT<ArgumentException> (fun () -> SeededRandom(RandomState(Array.zeroCreate 56, 99, 21)) |> ignore) "index out of range"
          } ]
