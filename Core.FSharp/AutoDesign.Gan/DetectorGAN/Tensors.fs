namespace AutoDesign.DetectorGAN

open System.Collections.Generic
open TorchSharp
open AutoDesign.Nn.DetectorGAN
open AutoDesign.Metrics

/// Scans ↔ tensors and box lists ↔ the C# detector's arrays.
module ScanTensors =
    /// [N,1,S,S] of the given scans' pixels.
    [<CompiledName("Images")>]
    let images (size: int) (scans: Scan seq) (dtype: torch.ScalarType) (device: torch.Device) =
        let arr = scans |> Array.ofSeq
        let px = Array.zeroCreate<float32>(arr.Length * size * size)
        arr |> Array.iteri (fun i s -> Array.blit s.Pixels 0 px (i * size * size) (size * size))
        use flat = torch.tensor (px)
        use t = flat.reshape (int64 arr.Length, 1L, int64 size, int64 size)
        t.``to`` (dtype, device)

    /// Each image's boxes as the C# detector's [x0; y0; x1; y1] arrays.
    [<CompiledName("BoxArrays")>]
    let boxArrays (boxes: IEnumerable<IReadOnlyList<Box>>) : IReadOnlyList<float32[][]> =
        boxes |> Seq.map (fun bs -> bs |> Seq.map Box.toArray |> Array.ofSeq) |> List.ofSeq :> IReadOnlyList<_>

    [<CompiledName("Targets")>]
    let targets (det: IDetector) (boxes: IEnumerable<IReadOnlyList<Box>>) (device: torch.Device) = det.Targets(ResizeArray(boxArrays boxes), device)

    [<CompiledName("Masks")>]
    let masks (size: int) (boxes: IEnumerable<IReadOnlyList<Box>>) (dtype: torch.ScalarType) (device: torch.Device) =
        BoxOps.Masks(ResizeArray(boxArrays boxes), size, dtype, device)

    [<CompiledName("Crops")>]
    let crops (images: torch.Tensor) (boxes: Box seq) (outSize: int) = BoxOps.CropResize(images, ResizeArray(boxes |> Seq.map Box.toArray), outSize)

    /// Detections of the detector on scans (in batches, no gradient).
    [<CompiledName("Predict")>]
    let predict (det: IDetector) (size: int) (scans: Scan[]) (device: torch.Device) : IReadOnlyList<IReadOnlyList<Detection>> =
        [ for chunk in Array.chunkBySize 64 scans do
              use _ = torch.NewDisposeScope()
              use x = images size chunk (det.Weights.[0].dtype) device

              for ps in det.Predict(x, 0.05, 0.5, 10) ->
                  [ for p in ps -> { Box = Box.make (float p.X0) (float p.Y0) (float p.X1) (float p.Y1); Score = float p.Score } ] :> IReadOnlyList<_> ]
        :> IReadOnlyList<_>
