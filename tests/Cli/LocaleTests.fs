/// Numbers are read and written the same in every locale: the CLI under de_DE (decimal comma), tr_TR (dotless
/// i) and ar_SA (Arabic decimal separator) parses `--tau 0.5`, `--ce-lr 0.001` and `--ce-weight 0.25` as
/// written and writes CSV fields and report rows with a decimal point; the library's formatting of report
/// figures ignores the thread's culture.
module AutoDesign.Tests.LocaleTests

open System
open System.Globalization
open System.IO
open System.Text.RegularExpressions
open Expecto
open AutoDesign.Reproduce.UniLoss

let private locales = [ "de_DE.UTF-8"; "tr_TR.UTF-8"; "ar_SA.UTF-8" ]

let private tempRoot () = TempDir.fresh "locale"

let private cli (root: string) (locale: string) (args: string list) =
    let rc, out, err =
        CliProcess.runQuiet root [ "LC_ALL", locale; "LANG", locale ] (args @ [ "--runs-root"; root; "--launcher"; "serial"; "--device"; "cpu" ])

    Expect.equal rc 0 (sprintf "%s: autodesign %s exits 0:\n%s\n%s" locale (String.Join(" ", args)) out err)
    out

/// Every line of a CSV file has the header's field count, and the named numeric columns parse invariantly.
let private expectCsv (path: string) (numeric: string list) =
    let lines = File.ReadAllLines path
    let header = lines.[0].Split(',')

    for l in lines.[1..] do
        let cells = l.Split(',')
        Expect.equal cells.Length header.Length (sprintf "%s: '%s' has %d fields like its header" path l header.Length)

        for c in numeric do
            let v = cells.[Array.IndexOf(header, c)]

            Expect.isTrue
                (Double.TryParse(v, NumberStyles.Float, CultureInfo.InvariantCulture) |> fst)
                (sprintf "%s: %s = '%s' is an invariant number" path c v)

[<Tests>]
let tests =
    testSequenced
    <| testList
        "locale"
        [ for locale in locales do
              test (sprintf "uniloss ap under %s: --tau and --ce-lr as written, CSV and report with decimal points" locale) {
                  let root = tempRoot ()

                  let out = cli root locale (CliCommands.unilossApOneEpoch [ "--tau"; "0.5"; "--ce-lr"; "0.001"; "--seeds"; "2" ])

                  let exp = Path.Combine(root, "uniloss", "ap-mnist-quick")
                  let text = File.ReadAllText(Path.Combine(exp, "seed1", "uniloss", "config.json"))
                  Expect.isTrue (Regex.IsMatch(text, "\"Tau\": 0\\.5\\b")) (sprintf "Tau is stored as 0.5:\n%s" text)

                  Expect.stringContains
                      (File.ReadAllText(Path.Combine(exp, "seed1", "ce", "config.json")))
                      "\"Lr\": 0.001"
                      "the CE arm's learning rate is 0.001"

                  expectCsv (Path.Combine(exp, "seeds1-2", "summary.csv")) [ "final_metric" ]
                  expectCsv (Path.Combine(exp, "seeds1-2", "curves.csv")) [ "train_loss"; "test_metric" ]
                  Expect.stringContains out "tau 0.5" "the report's config names tau 0.5"
                  Expect.isFalse (Regex.IsMatch(out, "\\d[,٫]\\d{3}")) (sprintf "no decimal commas in the report rows:\n%s" out)
                  Directory.Delete(root, true)
              }
          test "d2nn cascade under tr_TR: --ce-weight 0.25 as written" {
              let root = tempRoot ()

              cli root "tr_TR.UTF-8" (CliCommands.d2nnCascade [ "0.9" ] [ "--ce-weight"; "0.25" ]) |> ignore

              let configs = Directory.GetFiles(Path.Combine(root, "d2nn"), "config.json", SearchOption.AllDirectories)
              let point = configs |> Array.find (fun f -> f.Contains "lambda-0.9")
              let text = File.ReadAllText point
              Expect.isTrue (Regex.IsMatch(text, "\"Weight\": 0\\.25\\b")) (sprintf "the regular loss weight is 0.25:\n%s" text)
              Directory.Delete(root, true)
          }
          test "a number written with a decimal comma is refused with one error line, not read as thousands" {
              let root = tempRoot ()

              for args in [ [ "uniloss"; "ap"; "--quick"; "--tau"; "1,5" ]; [ "d2nn"; "highlow"; "--quick"; "--lambdas"; "0,5"; "0,9" ] ] do
                  let rc, _, err =
                      CliProcess.runQuiet root [ "LC_ALL", "de_DE.UTF-8"; "LANG", "de_DE.UTF-8" ] (args @ [ "--runs-root"; root ])

                  let line = String.Join(" ", args)
                  Expect.equal rc 2 (sprintf "autodesign %s exits 2:\n%s" line err)
                  Expect.equal (err.Trim().Split('\n').Length) 1 (sprintf "autodesign %s: one error line:\n%s" line err)
                  Expect.stringContains err "is not a number here: decimals take a point" line
          }
          test "report figures ignore the thread's culture" {
              let saved = CultureInfo.CurrentCulture

              try
                  for c in [ "de-DE"; "tr-TR"; "ar-SA" ] do
                      CultureInfo.CurrentCulture <- CultureInfo(c)
                      Expect.equal (UnilossExp.fmt 4 [ 0.1; 0.2 ]) "0.1500 ± 0.0707 (2 runs)" (c + ": mean ± sd")
                      Expect.equal (UnilossExp.fmt 3 [ 0.25 ]) "0.250" (c + ": one run")
              finally
                  CultureInfo.CurrentCulture <- saved
          } ]
