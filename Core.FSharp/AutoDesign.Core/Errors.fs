namespace AutoDesign

/// An error caused by the user's input (bad graph, malformed metric, corrupt file, bad argument,
/// NaN loss...). The CLI prints its message as one line, without a stack trace, and exits 1. `Message`
/// is that message (from C# as from F#).
exception UserError of string with
    override e.Message = e.Data0

module internal Errors =
    /// Raise a UserError with a formatted message: `Errors.fail "file %s is truncated" path`.
    [<CompiledName("Fail")>]
    let fail fmt = Printf.ksprintf (fun msg -> raise (UserError msg)) fmt

// F# code that references this assembly sees UserError and Errors without an `open`.
[<assembly: AutoOpen("AutoDesign")>]
do ()
