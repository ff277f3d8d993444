namespace AutoDesign.Data

open System
open System.IO
open AutoDesign.Runs

/// A labelled image data set held in memory. `Images` holds Count*Height*Width pixels scaled to
/// 0..1, image after image, row-major; `Labels` holds the Count class labels.
type Dataset = { Name: string; Images: float32[]; Labels: int[]; Height: int; Width: int; Count: int; Source: string }

/// Which part of a data set that ships a fixed train/test division.
type Split =
    | Train
    | Test

/// What `autodesign data list` shows about one data set.
type DatasetInfo =
    {
        Name: string
        Present: bool
        /// Number of examples (null: unknown, e.g. not installed).
        Examples: Nullable<int>
        /// Size on disk (null: not installed).
        Bytes: Nullable<int64>
        Location: string
        Source: string
        Install: string
    }
