/// Checks of command-line values, made before any work starts: each failure is a UserError naming the option.
module AutoDesign.Cli.Values

open System
open Microsoft.FSharp.Quotations
open Argu
open AutoDesign.Runs

/// A whole number of at least 1.
let positive (name: string) (v: int) =
    if v < 1 then Errors.fail "--%s must be at least 1, got %d" name v
    v

/// A whole number of at least 0.
let nonNegative (name: string) (v: int) =
    if v < 0 then Errors.fail "--%s must be at least 0, got %d" name v
    v

/// A finite number that fits a float32 (tensors hold float32).
let real (name: string) (v: float) =
    if Double.IsNaN v || Double.IsInfinity v then Errors.fail "--%s must be a finite number, got %g" name v

    if abs v > float Single.MaxValue then
        Errors.fail "--%s is %g, outside the float32 range (±%g)" name v (float Single.MaxValue)

    v

/// A finite float32 number above 0.
let positiveReal (name: string) (v: float) =
    let v = real name v
    if v <= 0.0 then Errors.fail "--%s must be positive, got %g" name v
    v

/// A finite float32 number of at least 0.
let nonNegativeReal (name: string) (v: float) =
    let v = real name v
    if v < 0.0 then Errors.fail "--%s must be at least 0, got %g" name v
    v

/// A finite number in [lo, hi].
let between (name: string) (lo: float) (hi: float) (v: float) =
    let v = real name v
    if v < lo || v > hi then Errors.fail "--%s must be in [%g, %g], got %g" name lo hi v
    v

/// `--seed s --seeds n`: seeds s .. s+n-1, all within 0 .. Int32.MaxValue.
let seeds (seed: int) (count: int) =
    if seed < 0 then Errors.fail "--seed must be at least 0, got %d" seed
    if count < 1 then Errors.fail "--seeds must be at least 1, got %d" count

    if int64 seed + int64 count - 1L > int64 Int32.MaxValue then
        Errors.fail "--seed %d with --seeds %d runs past the largest seed %d" seed count Int32.MaxValue

    [ seed .. seed + count - 1 ]

/// Options that several commands take, read from a command's parse results and checked.
type Read =
    /// `--seed s --seeds n` (each 1 unless given): seeds s .. s+n-1.
    static member Seeds(r: ParseResults<'T>, [<ReflectedDefinition>] seed: Expr<int -> 'T>, [<ReflectedDefinition>] count: Expr<int -> 'T>) : int list =
        seeds (r.GetResult(seed, defaultValue = 1)) (r.GetResult(count, defaultValue = 1))
