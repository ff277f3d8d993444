namespace AutoDesign.Runs

/// An error caused by the user's input (bad graph, malformed metric, corrupt file, bad argument,
/// NaN loss...). The CLI prints its message as one line, without a stack trace, and exits 1.
exception UserError of string

module internal Errors =
    /// Raise a UserError with a formatted message: `Errors.fail "file %s is truncated" path`.
    [<CompiledName("Fail")>]
    let fail fmt = Printf.ksprintf (fun msg -> raise (UserError msg)) fmt
