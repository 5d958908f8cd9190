//! The one error type of the crate.

use crate::dtype::DType;

/// Everything that can go wrong in gpuscan. Bad input is reported before anything is written to
/// a caller's `out`, so an error never leaves `out` half-written.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// An axis outside `-ndim..ndim` (numpy's `AxisError`).
    #[error("axis {axis} is out of bounds for array of dimension {ndim}")]
    AxisOutOfBounds { axis: isize, ndim: usize },
    /// The data length does not match the product of the shape.
    #[error("shape {shape:?} holds {expected} elements but {actual} were given")]
    ShapeMismatch {
        shape: Vec<usize>,
        expected: usize,
        actual: usize,
    },
    /// `out` does not have the result's shape (numpy's message).
    #[error("provided out is the wrong size for the accumulation: out has shape {out:?}, the result has shape {expected:?}")]
    OutShape {
        out: Vec<usize>,
        expected: Vec<usize>,
    },
    /// Segment offsets that are not `[0, ..., axis length]` without decreasing.
    #[error("bad segment offsets: {0}")]
    Segments(String),
    /// numpy 2's `cumulative_sum` / `cumulative_prod` of an array of two or more dimensions
    /// without an axis (numpy's message, double backticks included).
    #[error("For arrays which have more than one dimension ``axis`` argument is required.")]
    AxisRequired,
    /// A dtype name numpy would not understand, or one gpuscan does not handle.
    #[error("data type '{0}' not understood")]
    UnknownDType(String),
    /// A typed accessor was asked for another element type than the array holds.
    #[error("the array holds {actual}, not {requested}")]
    DTypeMismatch { requested: DType, actual: DType },
    /// The array (or one of its pieces) cannot be placed on this device.
    #[error("too large: {0}")]
    TooLarge(String),
    /// The GPU was asked for, but this context has no adapter.
    #[error("no GPU adapter is available: {0}")]
    NoAdapter(String),
    /// The adapter lacks a feature that this accumulation dtype needs on the GPU.
    #[error("the adapter cannot scan {dtype} on the GPU: it lacks the {feature} feature")]
    MissingFeature { dtype: DType, feature: &'static str },
    /// An argument gpuscan cannot take (a kernel shape the device cannot run, a GPU array of
    /// another context, a buffer too small or without the needed usage); the message says which.
    #[error("{0}")]
    InvalidArgument(String),
    /// Reading or writing a file failed.
    #[error("{0}")]
    Io(String),
    /// A file is not a valid `.npy` file, or holds a dtype gpuscan does not handle.
    #[error("{0}")]
    Format(String),
    /// wgpu reported a validation error, out-of-memory, or a lost device.
    #[error("GPU error: {0}")]
    Gpu(String),
}

/// Shorthand for results of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;
