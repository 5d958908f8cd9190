//! numpy arrays as gpuscan views, and gpuscan arrays as numpy arrays.
//!
//! Views borrow the numpy buffer without rust-numpy's dynamic borrow flags: the wrapper has
//! already copied an input that overlaps `out` (and [`check_disjoint`] makes sure), and the
//! flags would refuse some disjoint views of one buffer. Like numpy's own loops, nothing stops
//! another Python thread from writing the arrays while the GIL is released.

use gpuscan::{Array, ArrayView, ArrayViewMut, DType, Element};
use numpy::npyffi::{NPY_ARRAY_ALIGNED, NPY_ARRAY_WRITEABLE};
use numpy::prelude::*;
use numpy::{PyArray1, PyArrayDescr, PyArrayDescrMethods, PyArrayDyn, PyUntypedArray};
use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;

/// Calls `$body` with `$t` naming the Rust element type of `$dtype` (bool excluded: numpy's
/// bool bytes are not guaranteed to be 0 or 1, so they are read as bytes elsewhere).
macro_rules! with_elem {
    ($dtype:expr, $t:ident => $body:expr, bool => $bool:expr) => {
        match $dtype {
            DType::Bool => $bool,
            DType::Int8 => {
                type $t = i8;
                $body
            }
            DType::Int16 => {
                type $t = i16;
                $body
            }
            DType::Int32 => {
                type $t = i32;
                $body
            }
            DType::Int64 => {
                type $t = i64;
                $body
            }
            DType::UInt8 => {
                type $t = u8;
                $body
            }
            DType::UInt16 => {
                type $t = u16;
                $body
            }
            DType::UInt32 => {
                type $t = u32;
                $body
            }
            DType::UInt64 => {
                type $t = u64;
                $body
            }
            DType::Float16 => {
                type $t = half::f16;
                $body
            }
            DType::Float32 => {
                type $t = f32;
                $body
            }
            DType::Float64 => {
                type $t = f64;
                $body
            }
            other => return Err(PyTypeError::new_err(format!("unsupported dtype {other}"))),
        }
    };
}

/// The gpuscan dtype of a numpy dtype, if gpuscan handles it.
pub fn dtype_of(d: &Bound<'_, PyArrayDescr>) -> Option<DType> {
    if d.is_native_byteorder() == Some(false) {
        return None;
    }
    Some(match (d.kind(), d.itemsize()) {
        (b'b', 1) => DType::Bool,
        (b'i', 1) => DType::Int8,
        (b'i', 2) => DType::Int16,
        (b'i', 4) => DType::Int32,
        (b'i', 8) => DType::Int64,
        (b'u', 1) => DType::UInt8,
        (b'u', 2) => DType::UInt16,
        (b'u', 4) => DType::UInt32,
        (b'u', 8) => DType::UInt64,
        (b'f', 2) => DType::Float16,
        (b'f', 4) => DType::Float32,
        (b'f', 8) => DType::Float64,
        _ => return None,
    })
}

fn flags(a: &Bound<'_, PyUntypedArray>) -> i32 {
    // SAFETY: a live numpy array object.
    unsafe { (*a.as_array_ptr()).fields.flags }
}

fn data_ptr(a: &Bound<'_, PyUntypedArray>) -> usize {
    // SAFETY: a live numpy array object.
    unsafe { (*a.as_array_ptr()).fields.data as usize }
}

/// The dtype of `a`, checked to be C-contiguous, aligned and native-endian.
fn checked(a: &Bound<'_, PyUntypedArray>, what: &str) -> PyResult<DType> {
    let d = dtype_of(&a.dtype())
        .ok_or_else(|| PyTypeError::new_err(format!("{what}: unsupported dtype {}", a.dtype())))?;
    if !a.is_c_contiguous() || flags(a) & NPY_ARRAY_ALIGNED == 0 {
        return Err(PyValueError::new_err(format!(
            "{what} must be C-contiguous and aligned"
        )));
    }
    Ok(d)
}

/// The element slice of a checked array; empty arrays may have any data pointer.
///
/// # Safety
/// `a` holds `T` (checked by the cast), is C-contiguous and aligned ([`checked`]); the caller
/// must not create a mutable view of the same memory while this one lives.
unsafe fn slice<'a, T: Element + numpy::Element>(
    a: &'a Bound<'_, PyUntypedArray>,
) -> PyResult<&'a [T]> {
    if a.len() == 0 {
        return Ok(&[]);
    }
    let t = a.cast::<PyArrayDyn<T>>()?;
    t.as_slice()
        .map_err(|e| PyValueError::new_err(e.to_string()))
}

/// An input: borrowed, except bool, whose bytes are normalised to `!= 0`.
pub enum Input<'a> {
    Borrowed(ArrayView<'a>),
    Owned(Array),
}

impl Input<'_> {
    /// Calls `f` with the view of the input.
    pub fn with_view<R>(self, f: impl FnOnce(ArrayView<'_>) -> R) -> R {
        match self {
            Input::Borrowed(v) => f(v),
            Input::Owned(a) => f(a.view()),
        }
    }
}

pub fn input<'a>(a: &'a Bound<'_, PyUntypedArray>) -> PyResult<Input<'a>> {
    let d = checked(a, "the input")?;
    let shape = a.shape();
    let view = with_elem!(d, T => {
        // SAFETY: checked above; no mutable view exists (see `check_disjoint`).
        ArrayView::new(shape, unsafe { slice::<T>(a)? })
    }, bool => {
        // SAFETY: as above; u8 accepts every byte.
        let bytes = unsafe { raw_bytes(a) };
        let v: Vec<bool> = bytes.iter().map(|&b| b != 0).collect();
        return Array::from_shape_vec(shape, v).map(Input::Owned).map_err(|e| PyValueError::new_err(e.to_string()));
    });
    view.map(Input::Borrowed)
        .map_err(|e| PyValueError::new_err(e.to_string()))
}

/// The bytes of a checked, one-byte-per-element array.
unsafe fn raw_bytes<'a>(a: &'a Bound<'_, PyUntypedArray>) -> &'a [u8] {
    if a.len() == 0 {
        return &[];
    }
    std::slice::from_raw_parts(data_ptr(a) as *const u8, a.len())
}

/// The mutable view of a checked, writable `out` that is not bool (bool goes through a
/// temporary: a `&mut [bool]` over numpy's bytes could see bytes that are not 0 or 1).
pub fn output<'a>(out: &'a Bound<'_, PyUntypedArray>) -> PyResult<ArrayViewMut<'a>> {
    let d = checked(out, "out")?;
    if flags(out) & NPY_ARRAY_WRITEABLE == 0 {
        return Err(PyValueError::new_err("output array is read-only"));
    }
    let shape = out.shape();
    let n = out.len();
    let view = with_elem!(d, T => {
        let s: &mut [T] = if n == 0 {
            &mut []
        } else {
            // SAFETY: checked contiguous, aligned, writable, of T (the dtype test above); the
            // caller holds no other view of this memory (see `check_disjoint`).
            unsafe { std::slice::from_raw_parts_mut(data_ptr(out) as *mut T, n) }
        };
        ArrayViewMut::new(shape, s)
    }, bool => return Err(PyTypeError::new_err("a bool out goes through a temporary")));
    view.map_err(|e| PyValueError::new_err(e.to_string()))
}

/// Refuses an `out` whose bytes overlap the input's (the wrapper copies such an input first).
pub fn check_disjoint(
    a: &Bound<'_, PyUntypedArray>,
    out: &Bound<'_, PyUntypedArray>,
) -> PyResult<()> {
    let span = |x: &Bound<'_, PyUntypedArray>| {
        let start = data_ptr(x);
        (start, start + x.len() * x.dtype().itemsize())
    };
    let ((a0, a1), (o0, o1)) = (span(a), span(out));
    if a0 < o1 && o0 < a1 {
        return Err(PyValueError::new_err("out overlaps the input"));
    }
    Ok(())
}

/// Copies a bool result into a bool `out`'s bytes.
pub fn write_bool(out: &Bound<'_, PyUntypedArray>, r: &Array) -> PyResult<()> {
    checked(out, "out")?;
    if flags(out) & NPY_ARRAY_WRITEABLE == 0 {
        return Err(PyValueError::new_err("output array is read-only"));
    }
    let src = r
        .as_slice::<bool>()
        .map_err(|e| PyValueError::new_err(e.to_string()))?;
    if src.len() != out.len() {
        return Err(PyValueError::new_err(
            "provided out is the wrong size for the accumulation.",
        ));
    }
    if src.is_empty() {
        return Ok(());
    }
    // SAFETY: checked contiguous and writable, one byte per element, `src.len()` elements.
    let dst = unsafe { std::slice::from_raw_parts_mut(data_ptr(out) as *mut u8, src.len()) };
    for (d, &s) in dst.iter_mut().zip(src) {
        *d = s as u8;
    }
    Ok(())
}

/// A gpuscan result as a numpy array that owns its buffer (no copy).
pub fn to_numpy<'py>(py: Python<'py>, r: Array) -> PyResult<Bound<'py, PyAny>> {
    let shape = r.shape().to_vec();
    let value_err = |e: gpuscan::Error| PyValueError::new_err(e.to_string());
    let flat = with_elem!(r.dtype(), T => {
        PyArray1::from_vec(py, r.into_vec::<T>().map_err(value_err)?).into_any()
    }, bool => PyArray1::from_vec(py, r.into_vec::<bool>().map_err(value_err)?).into_any());
    if shape.len() == 1 {
        return Ok(flat);
    }
    flat.call_method1("reshape", (shape,))
}
