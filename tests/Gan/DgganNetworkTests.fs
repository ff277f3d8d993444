module AutoDesign.Tests.DgganNetworkTests

open Expecto
open TorchSharp
open AutoDesign.Nn
open AutoDesign.DGGAN
open AutoDesign.Reproduce.DGGAN
open AutoDesign.Metrics
open AutoDesign.Nn.DGGAN

let private cfg = GanConfig(4, 2, 1, 8)
let private cpu = torch.CPU

let private count (m: torch.nn.Module) = m.parameters () |> Seq.sumBy (fun p -> p.numel ())

let private arch steps = { Config = cfg; Steps = steps }

let private nets (a: Architecture) fading =
    let l = Architecture.layout a
    GrowingGenerator.Create(l, fading, cpu), GrowingDiscriminator.Create(l, fading, cpu)

[<Tests>]
let tests =
    testList
        "dggan.networks"
        [ test "base networks: shapes and hand-counted parameters" {
              torch.manual_seed 1L |> ignore
              let g, d = nets (arch []) false
              // G: linear 4→2·64 (512+128) + 3×3 conv 2→2 (36+2) + toRGB 1×1 2→1 (2+1) = 681
              Expect.equal (count g) 681L "G parameters"
              // D: fromRGB 1→2 (4) + d_base (38) + d_final 3→2 (54+2) + linear 128→1 (129) = 227
              Expect.equal (count d) 227L "D parameters"
              Expect.equal (Architecture.gParams (arch [])) 681L "analytic G"
              Expect.equal (Architecture.dParams (arch [])) 227L "analytic D"
              use z = torch.randn (3L, 4L)
              use x = g.forward z
              Expect.equal x.shape [| 3L; 1L; 8L; 8L |] "G output"
              use s = d.forward x
              Expect.equal s.shape [| 3L; 1L |] "D output"
          }
          test "each growth action changes shapes and parameter counts as counted by hand" {
              let a0 = arch []
              let aG = Architecture.grow a0 (GrowG(3, 5))
              // + conv 3×3 2→5 (90+5), toRGB now 5→1 (6 instead of 3)
              Expect.equal (Architecture.gParams aG) (681L + 95L + 3L) "G grow"
              Expect.equal (Architecture.dParams aG) 227L "D unchanged by a G action"
              let aD = Architecture.grow aG (GrowD(7, 3))
              // + conv 7×7 3→2 (294+2), fromRGB now 1→3 (6 instead of 4)
              Expect.equal (Architecture.dParams aD) (227L + 296L + 2L) "D grow"
              Expect.equal (Architecture.gParams aD) (681L + 98L) "G unchanged by a D action"
              let aU = Architecture.grow aD Upscale
              // G: + 3×3 5→5 (230); D: + 3×3 2→2 (38)... D's up conv is v→v with v = 3: 81+3 = 84
              Expect.equal (Architecture.gParams aU) (681L + 98L + 230L) "G upscale"
              Expect.equal (Architecture.dParams aU) (227L + 298L + 84L) "D upscale"
              Expect.equal (Architecture.resolution aU) 16 "resolution doubles"

              for a in [ a0; aG; aD; aU ] do
                  for fading in [ false; true ] do
                      torch.manual_seed 2L |> ignore
                      let g, d = nets a fading
                      let l = Architecture.layout a
                      Expect.equal (count g) (l.GParams fading) (sprintf "G module count %s fading=%b" (Architecture.describe a) fading)
                      Expect.equal (count d) (l.DParams fading) (sprintf "D module count %s fading=%b" (Architecture.describe a) fading)
                      use z = torch.randn (2L, 4L)
                      use x = g.forward z
                      let r = int64 (Architecture.resolution a)
                      Expect.equal x.shape [| 2L; 1L; r; r |] "G image shape"
                      use s = d.forward x
                      Expect.equal s.shape [| 2L; 1L |] "D score shape"
          }
          test "weight inheritance copies exactly the shared layers" {
              torch.manual_seed 3L |> ignore
              let parent = arch [ GrowG(3, 4); GrowD(3, 4) ]
              let child = Architecture.grow parent (GrowG(7, 6))
              let pg, pd = nets parent false
              let w = NamedWeights.Capture(pg, "G.")

              for kv in NamedWeights.Capture(pd, "D.") do
                  w.[kv.Key] <- kv.Value

              torch.manual_seed 4L |> ignore
              let cg, cd = nets child false
              let copied = Set.ofSeq (Seq.append (NamedWeights.Inherit(cg, w, "G.")) (NamedWeights.Inherit(cd, w, "D.")))

              let expected =
                  Set.ofList
                      [ for n in [ "g_input"; "g_base"; "g0_k3f4" ] do
                            for p in [ "weight"; "bias" ] do
                                yield sprintf "G.%s.%s" n p
                        for n in [ "d_fromRGB_r8_c4"; "d1_k3f4"; "d_base"; "d_final"; "d_out" ] do
                            for p in [ "weight"; "bias" ] do
                                yield sprintf "D.%s.%s" n p ]

              Expect.equal copied expected "copied = shared layers (the new conv and the reshaped toRGB are fresh)"

              for (name, p) in
                  Seq.append
                      (cg.named_parameters () |> Seq.map (fun struct (n, p) -> "G." + n, p))
                      (cd.named_parameters () |> Seq.map (fun struct (n, p) -> "D." + n, p)) do
                  let v = p.detach().data<float32>().ToArray()

                  if copied.Contains name then
                      Expect.equal v (w.[name].data<float32>().ToArray()) (sprintf "%s copied exactly" name)
                  else
                      match w.TryGetValue name with
                      | true, old -> Expect.notEqual v (old.data<float32>().ToArray()) (sprintf "%s not copied" name)
                      | _ -> ()
          }
          test "fade-in at alpha = 0 equals the old networks" {
              torch.manual_seed 5L |> ignore
              let parent = arch [ GrowG(3, 3); GrowD(7, 5) ]
              let child = Architecture.grow parent Upscale
              let pg, pd = nets parent false
              let w = NamedWeights.Capture(pg, "G.")

              for kv in NamedWeights.Capture(pd, "D.") do
                  w.[kv.Key] <- kv.Value

              let cg, cd = nets child true
              NamedWeights.Inherit(cg, w, "G.") |> ignore
              NamedWeights.Inherit(cd, w, "D.") |> ignore
              cg.Alpha <- 0.0
              cd.Alpha <- 0.0
              use z = torch.randn (4L, 4L)
              use old = pg.forward z
              use now = cg.forward z
              Expect.equal now.shape [| 4L; 1L; 16L; 16L |] "child is 16×16"
              use expectG = GanOps.Upsample2 old
              Expect.isTrue (torch.allclose (now, expectG, 1e-5, 1e-6)) "G(α=0) = upsample(G_old)"
              use x = torch.randn (4L, 1L, 16L, 16L)
              use dOld = pd.forward (GanOps.Downsample2 x)
              use dNow = cd.forward x
              Expect.isTrue (torch.allclose (dNow, dOld, 1e-5, 1e-6)) "D(α=0) = D_old(avgpool x)"
              cg.Alpha <- 1.0
              use full = cg.forward z
              Expect.isFalse (torch.allclose (full, expectG, 1e-5, 1e-6)) "α = 1 uses the new path"
          }
          test "WGAN-GP penalty matches a hand computation on a linear critic" {
              use lin = torch.nn.Linear(3L, 1L)

              let setWeights () =
                  use _ = torch.no_grad ()
                  lin.weight.copy_ (torch.tensor([| 1.0f; 2.0f; 2.0f |]).reshape(1L, 3L)) |> ignore
                  lin.bias.fill_ (0.5) |> ignore

              setWeights ()
              // ∇ₓ(w·x + b) = w everywhere, ‖w‖ = 3 ⇒ penalty = λ·(3 − 1)² = 40 for any interpolation.
              use real = torch.randn (5L, 3L)
              use fake = torch.randn (5L, 3L)
              use t = torch.rand (5L)
              let gp = (WganGp.gradientPenaltyAt (System.Func<_, _>(fun x -> lin.forward x)) real fake t WganGp.lambda).Item()
              Expect.floatClose Accuracy.high gp 40.0 "λ(‖w‖−1)²"
          }
          test "candidate weights go through safetensors unchanged and without the fade-in's old layers" {
              torch.manual_seed 6L |> ignore
              let child = Architecture.grow (arch [ GrowG(3, 3) ]) Upscale
              let g, d = nets child true
              let w = Candidate.capture g d
              let l = Architecture.layout child
              Expect.isFalse (w.ContainsKey("G." + l.OldToRgbName + ".weight")) "old toRGB left out"
              Expect.isFalse (w.ContainsKey("D." + l.OldFromRgbName + ".weight")) "old fromRGB left out"

              let path =
                  System.IO.Path.Combine(System.IO.Path.GetTempPath(), sprintf "dggan-%s.safetensors" (System.Guid.NewGuid().ToString("N")))

              AutoDesign.Runs.Safetensors.save path w
              let back = AutoDesign.Runs.Safetensors.load path
              Expect.equal (Set.ofSeq back.Keys) (Set.ofSeq w.Keys) "same names"

              for kv in w do
                  Expect.isTrue (back.[kv.Key].eq(kv.Value).all().item<bool>()) (kv.Key + " same values")

              let g2, d2 = nets child false
              let n = NamedWeights.Inherit(g2, back, "G.").Count + NamedWeights.Inherit(d2, back, "D.").Count
              Expect.equal n (Seq.length (g2.parameters ()) + Seq.length (d2.parameters ())) "a non-fading copy takes every tensor"
              System.IO.File.Delete path
          } ]
