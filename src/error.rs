//! The one error type of the crate.

use crate::dtype::DType;

/// Everything that can go wrong in gpuscan. Bad input is reported before anything is written to
/// a caller's `out`, so an error never leaves `out` half-written.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// An axis outside `-ndim..ndim` (numpy's `AxisError`).
    #[error("axis {axis} is out of bounds for array of dimension {ndim}")]
    AxisOutOfBounds {
        /// The axis given.
        axis: isize,
        /// The array's number of dimensions.
        ndim: usize,
    },
    /// The data length does not match the product of the shape.
    #[error("shape {shape:?} holds {expected} elements but {actual} were given")]
    ShapeMismatch {
        /// The shape given.
        shape: Vec<usize>,
        /// The product of `shape`.
        expected: usize,
        /// The data's length.
        actual: usize,
    },
    /// `out` does not have the result's shape (numpy's message).
    #[error("provided out is the wrong size for the accumulation: out has shape {out:?}, the result has shape {expected:?}")]
    OutShape {
        /// `out`'s shape.
        out: Vec<usize>,
        /// The result's shape.
        expected: Vec<usize>,
    },
    /// Segment offsets that are not `[0, ..., axis length]` without decreasing; the message says
    /// how.
    #[error("bad segment offsets: {0}")]
    Segments(String),
    /// numpy 2's `cumulative_sum` / `cumulative_prod` of an array of two or more dimensions
    /// without an axis (numpy's message, double backticks included).
    #[error("For arrays which have more than one dimension ``axis`` argument is required.")]
    AxisRequired,
    /// A dtype name numpy would not understand, or one gpuscan does not handle; holds the name.
    #[error(
        "unsupported dtype '{0}': gpuscan handles bool, int8..int64, uint8..uint64, float16, \
         float32, float64"
    )]
    UnknownDType(String),
    /// A typed accessor was asked for another element type than the array holds.
    #[error("the array holds {actual}, not {requested}")]
    DTypeMismatch {
        /// The element type asked for.
        requested: DType,
        /// The element type the array holds.
        actual: DType,
    },
    /// The call needs more than a limit of the device allows (a buffer larger than
    /// `max_buffer_size`, a dispatch grid beyond `max_compute_workgroups_per_dimension`).
    #[error(
        "{what} needs {requested} {unit}, more than {device}'s {limit} of {allowed} ({origin})"
    )]
    TooLarge {
        /// What needed the size, e.g. "a buffer for the array".
        what: String,
        /// The limit's name in [`wgpu::Limits`], e.g. `max_buffer_size`.
        limit: &'static str,
        /// The size the call needs, in `unit`s.
        requested: u64,
        /// The limit's value on this device, in `unit`s.
        allowed: u64,
        /// What the sizes count: "bytes", "rows of workgroups".
        unit: &'static str,
        /// The adapter's name.
        device: String,
        /// Whether the limit is the adapter's own or only what the device was requested with.
        origin: LimitOrigin,
    },
    /// A size overflows what this machine or gpuscan's kernels can count or hold (a shape whose
    /// product overflows `usize`, a segmented lane beyond 32-bit positions, memory that cannot
    /// be reserved); no device limit is involved.
    #[error("too large: {0}")]
    Overflow(String),
    /// The GPU was asked for, but this context has no adapter; holds the reason.
    #[error("no GPU adapter is available: {0}")]
    NoAdapter(String),
    /// The adapter lacks a feature that this accumulation dtype needs on the GPU.
    #[error("the adapter cannot scan {dtype} on the GPU: it lacks the {feature} feature")]
    MissingFeature {
        /// The accumulation dtype.
        dtype: DType,
        /// The wgpu feature's name, e.g. `SHADER_F64`.
        feature: &'static str,
    },
    /// An argument gpuscan cannot take (a kernel shape the device cannot run, a GPU array of
    /// another context, a buffer too small or without the needed usage); the message says which.
    #[error("{0}")]
    InvalidArgument(String),
    /// Reading or writing a file or stream failed.
    #[error("cannot {action} {path}: {source}")]
    Io {
        /// What was being done: "open", "read", "write", "create", "store".
        action: &'static str,
        /// The file's path, or what stands for it (the name given to
        /// [`npy::read_from`](crate::npy::read_from), ".npy data" for a writer).
        path: String,
        /// The operating system's error.
        #[source]
        source: std::io::Error,
    },
    /// A file is not a valid `.npy` or calibration file, or holds a dtype gpuscan does not
    /// handle; the message starts with the file's path (or the name that stands for it).
    #[error("{0}")]
    Format(String),
    /// wgpu reported an error, or the GPU could not deliver a result; `kind` tells which.
    #[error("GPU {kind}: {message}")]
    Gpu {
        /// Validation error, out of memory, lost device, ...
        kind: GpuErrorKind,
        /// wgpu's description, or what failed.
        message: String,
        /// The wgpu error ([`wgpu::Error`], [`wgpu::PollError`], [`wgpu::BufferAsyncError`])
        /// where there is one.
        #[source]
        source: Option<Box<dyn std::error::Error + Send + Sync>>,
    },
}

impl Error {
    /// A GPU error of `kind` with its wgpu source.
    pub(crate) fn gpu(
        kind: GpuErrorKind,
        message: impl Into<String>,
        source: impl std::error::Error + Send + Sync + 'static,
    ) -> Error {
        Error::Gpu {
            kind,
            message: message.into(),
            source: Some(Box::new(source)),
        }
    }

    /// [`Error::Io`] of `action` on `path`.
    pub(crate) fn io(
        action: &'static str,
        path: impl std::fmt::Display,
        source: std::io::Error,
    ) -> Error {
        Error::Io {
            action,
            path: path.to_string(),
            source,
        }
    }
}

/// What kind of GPU failure an [`Error::Gpu`] is.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum GpuErrorKind {
    /// wgpu rejected a call (a destroyed buffer, a binding beyond a limit): a bug or bad input.
    Validation,
    /// The device ran out of memory.
    OutOfMemory,
    /// The device was lost (driver reset, `destroy`); a new context is needed.
    DeviceLost,
    /// wgpu reported an internal error.
    Internal,
    /// Waiting for the GPU or mapping a result failed.
    Mapping,
    /// Every GPU algorithm failed this adapter's check, so `Auto` has none left to pick.
    Unsound,
}

impl GpuErrorKind {
    /// The kind of a wgpu error caught in an error scope.
    pub(crate) fn of(e: &wgpu::Error) -> GpuErrorKind {
        match e {
            wgpu::Error::OutOfMemory { .. } => GpuErrorKind::OutOfMemory,
            wgpu::Error::Validation { .. } => GpuErrorKind::Validation,
            _ => GpuErrorKind::Internal,
        }
    }
}

impl std::fmt::Display for GpuErrorKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            GpuErrorKind::Validation => "validation error",
            GpuErrorKind::OutOfMemory => "out of memory",
            GpuErrorKind::DeviceLost => "device lost",
            GpuErrorKind::Internal => "internal error",
            GpuErrorKind::Mapping => "mapping failed",
            GpuErrorKind::Unsound => "check failed",
        })
    }
}

/// Where the limit of an [`Error::TooLarge`] comes from.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum LimitOrigin {
    /// gpuscan requested the device with all of the adapter's limits: the adapter allows no
    /// more.
    Adapter,
    /// The caller's device (see `Context::from_device`): the limit it was requested with,
    /// which the adapter may exceed.
    Requested,
}

impl std::fmt::Display for LimitOrigin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            LimitOrigin::Adapter => "the adapter's own limit",
            LimitOrigin::Requested => {
                "the limit the device was requested with; the adapter may allow more"
            }
        })
    }
}

/// Shorthand for results of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;
