namespace AutoDesign.Metrics

/// An axis-aligned box in pixel coordinates: [X0, X1) × [Y0, Y1).
[<Struct>]
type Box =
    { X0: float
      Y0: float
      X1: float
      Y1: float }

    member b.Width = max 0.0 (b.X1 - b.X0)
    member b.Height = max 0.0 (b.Y1 - b.Y0)
    member b.Area = b.Width * b.Height
    member b.CenterX = 0.5 * (b.X0 + b.X1)
    member b.CenterY = 0.5 * (b.Y0 + b.Y1)

/// A scored prediction.
type Detection = { Box: Box; Score: float }

module Box =
    [<CompiledName("Make")>]
    let make x0 y0 x1 y1 = { X0 = x0; Y0 = y0; X1 = x1; Y1 = y1 }

    /// Area of the intersection (0 when the boxes do not overlap or either is empty).
    [<CompiledName("Intersection")>]
    let intersection (a: Box) (b: Box) =
        let w = min a.X1 b.X1 - max a.X0 b.X0
        let h = min a.Y1 b.Y1 - max a.Y0 b.Y0
        if w <= 0.0 || h <= 0.0 then 0.0 else w * h

    /// Intersection over union; 0 when the union is empty (two empty boxes), never NaN.
    [<CompiledName("Iou")>]
    let iou (a: Box) (b: Box) = AutoDesign.Nn.DetectorGAN.BoxMath.Iou(a.X0, a.Y0, a.X1, a.Y1, b.X0, b.Y0, b.X1, b.Y1)

    /// Intersection over the *detected* box's area (IoBB of Wang et al. 2017, ChestX-ray8); 0 for an empty prediction.
    [<CompiledName("Iobb")>]
    let iobb (predicted: Box) (truth: Box) =
        let a = predicted.Area
        if a <= 0.0 then 0.0 else intersection predicted truth / a

    /// Clip into a size×size image.
    [<CompiledName("Clip")>]
    let clip (size: float) (b: Box) =
        { X0 = max 0.0 (min size b.X0)
          Y0 = max 0.0 (min size b.Y0)
          X1 = max 0.0 (min size b.X1)
          Y1 = max 0.0 (min size b.Y1) }

    /// Shift a box so it lies inside a size×size image (keeping its size when it fits).
    [<CompiledName("ShiftInside")>]
    let shiftInside (size: float) (b: Box) =
        let dx =
            if b.X0 < 0.0 then -b.X0
            elif b.X1 > size then size - b.X1
            else 0.0

        let dy =
            if b.Y0 < 0.0 then -b.Y0
            elif b.Y1 > size then size - b.Y1
            else 0.0

        clip size { X0 = b.X0 + dx; Y0 = b.Y0 + dy; X1 = b.X1 + dx; Y1 = b.Y1 + dy }

    /// As a float32 array (x0, y0, x1, y1) for the C# detector.
    [<CompiledName("ToArray")>]
    let toArray (b: Box) = [| float32 b.X0; float32 b.Y0; float32 b.X1; float32 b.Y1 |]
