namespace AutoDesign.DetectorGAN

open System
open System.Collections.Generic
open AutoDesign.Runs
open AutoDesign.Metrics

/// One grayscale scan (Size×Size, values 0..1, row-major) with its annotated object boxes.
type Scan = { Pixels: float32[]; Boxes: IReadOnlyList<Box> }

/// The small-data detection task: a few dozen labelled images (domain Y), a pool of clean images (domain X)
/// and a larger, fully annotated test set.
type ScanSet = { Size: int; Labelled: Scan[]; Clean: Scan[]; Test: Scan[]; Seed: int }

/// Sizes of the task; `Contrast` scales the nodules' amplitude and `NoduleScale` their width (1 = the original
/// stand-in; smaller values make a harder, fainter or smaller-nodule regime).
type ScanSpec = { Size: int; Labelled: int; Clean: int; Test: int; Contrast: float; NoduleScale: float }

/// Where to insert an object into a clean scan (§4.3.1): the matched labelled scan, its source box, the jittered target box.
type Insertion = { Labelled: int; Source: Box; Target: Box }
