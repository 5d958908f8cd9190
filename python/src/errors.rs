//! gpuscan's errors as the Python exceptions numpy raises for the same mistakes. The variants
//! are matched, never their messages; the exception classes of gpuscan's own device errors
//! live in `gpuscan._errors`, so they can inherit from two builtins (`MemoryError` too).

use gpuscan::{Error, GpuErrorKind};
use pyo3::exceptions::{PyOSError, PyTypeError, PyValueError};
use pyo3::prelude::*;

/// An exception class of `gpuscan._errors` built with `msg`.
fn ours(py: Python<'_>, class: &str, msg: String) -> PyErr {
    match py
        .import("gpuscan._errors")
        .and_then(|m| m.getattr(class))
        .and_then(|c| c.call1((msg,)))
    {
        Ok(e) => PyErr::from_value(e),
        Err(e) => e,
    }
}

/// numpy's `AxisError(axis, ndim)`: it writes numpy's message itself.
fn axis_error(py: Python<'_>, axis: isize, ndim: usize) -> PyErr {
    match py
        .import("numpy.exceptions")
        .and_then(|m| m.getattr("AxisError"))
        .and_then(|c| c.call1((axis, ndim)))
    {
        Ok(e) => PyErr::from_value(e),
        Err(e) => e,
    }
}

/// The Python exception for `e`.
pub fn to_py(py: Python<'_>, e: Error) -> PyErr {
    let msg = e.to_string();
    match e {
        Error::AxisOutOfBounds { axis, ndim } => axis_error(py, axis, ndim),
        // numpy's own wording (the library's adds the shapes).
        Error::OutShape { .. } => {
            PyValueError::new_err("provided out is the wrong size for the accumulation.")
        }
        Error::ShapeMismatch { .. }
        | Error::Segments(_)
        | Error::AxisRequired
        | Error::InvalidArgument(_)
        | Error::Format(_) => PyValueError::new_err(msg),
        Error::UnknownDType(_) | Error::DTypeMismatch { .. } => PyTypeError::new_err(msg),
        Error::Overflow(_) => ours(py, "GpuMemoryError", msg),
        Error::TooLarge { .. } => ours(py, "GpuMemoryError", msg),
        Error::NoAdapter(_) | Error::MissingFeature { .. } => ours(py, "GpuUnavailableError", msg),
        Error::Gpu {
            kind: GpuErrorKind::OutOfMemory,
            ..
        } => ours(py, "GpuMemoryError", msg),
        Error::Io { .. } => PyOSError::new_err(msg),
        // Every other GPU failure, and variants added later.
        _ => ours(py, "GpuError", msg),
    }
}

/// `Result<T, Error>` into `PyResult<T>`.
pub trait IntoPy<T> {
    /// The result with gpuscan's error turned into its Python exception.
    fn py(self, py: Python<'_>) -> PyResult<T>;
}

impl<T> IntoPy<T> for gpuscan::Result<T> {
    fn py(self, py: Python<'_>) -> PyResult<T> {
        self.map_err(|e| to_py(py, e))
    }
}
