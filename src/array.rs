//! Host arrays: C-ordered data of one dtype plus a shape.

use std::fmt;

pub(crate) use crate::data::with_data;
use crate::data::{with_dtype, Wrap};
pub use crate::data::{Data, DataMut, DataRef};
use crate::dtype::{DType, Element};
use crate::error::{Error, Result};

fn check_len(shape: &[usize], len: usize) -> Result<()> {
    let expected = shape
        .iter()
        .try_fold(1usize, |acc, &d| acc.checked_mul(d))
        .ok_or_else(|| Error::Overflow(format!("shape {shape:?} overflows usize")))?;
    if expected != len {
        return Err(Error::ShapeMismatch {
            shape: shape.to_vec(),
            expected,
            actual: len,
        });
    }
    Ok(())
}

/// An owned, C-ordered (row-major) array of one dtype.
///
/// ```
/// use gpuscan::Array;
/// let a = Array::from_shape_vec(&[2, 3], vec![1i32, 2, 3, 4, 5, 6]).unwrap();
/// assert_eq!(a.shape(), &[2, 3]);
/// assert_eq!(a.as_slice::<i32>().unwrap(), &[1, 2, 3, 4, 5, 6]);
/// ```
#[derive(Debug, Clone)]
pub struct Array {
    data: Data,
    shape: Vec<usize>,
}

impl Array {
    /// A 1-D array.
    pub fn from_vec<T: Element>(v: Vec<T>) -> Array {
        let shape = vec![v.len()];
        Array {
            data: T::owned(v),
            shape,
        }
    }

    /// An array of the given shape; `v.len()` must be the product of `shape` (`[]` is 0-d).
    pub fn from_shape_vec<T: Element>(shape: &[usize], v: Vec<T>) -> Result<Array> {
        check_len(shape, v.len())?;
        Ok(Array {
            data: T::owned(v),
            shape: shape.to_vec(),
        })
    }

    /// An array from already-typed data.
    pub fn from_data(shape: &[usize], data: Data) -> Result<Array> {
        check_len(shape, data.len())?;
        Ok(Array {
            data,
            shape: shape.to_vec(),
        })
    }

    /// An array of zeros.
    pub fn zeros(dtype: DType, shape: &[usize]) -> Result<Array> {
        let n = shape
            .iter()
            .try_fold(1usize, |acc, &d| acc.checked_mul(d))
            .ok_or_else(|| Error::Overflow(format!("shape {shape:?} overflows usize")))?;
        let data = with_dtype!(dtype, T => Wrap::owned(vec![T::default(); n]));
        Ok(Array {
            data,
            shape: shape.to_vec(),
        })
    }

    /// The dtype of the elements.
    pub fn dtype(&self) -> DType {
        self.data.dtype()
    }

    /// The shape (`[]` for a 0-d array).
    pub fn shape(&self) -> &[usize] {
        &self.shape
    }

    /// Number of dimensions.
    pub fn ndim(&self) -> usize {
        self.shape.len()
    }

    /// Number of elements.
    pub fn len(&self) -> usize {
        self.data.len()
    }

    /// True when the array holds no element.
    pub fn is_empty(&self) -> bool {
        self.data.is_empty()
    }

    /// The typed elements in C order, if the array holds `T`.
    pub fn as_slice<T: Element>(&self) -> Result<&[T]> {
        self.view().as_slice()
    }

    /// The typed elements, consuming the array.
    pub fn into_vec<T: Element>(self) -> Result<Vec<T>> {
        let actual = self.dtype();
        T::from_owned(self.data).map_err(|_| Error::DTypeMismatch {
            requested: T::DTYPE,
            actual,
        })
    }

    /// The untyped data.
    pub fn data(&self) -> &Data {
        &self.data
    }

    /// The same elements under another shape with as many elements (C order).
    pub fn into_shape(self, shape: &[usize]) -> Result<Array> {
        Array::from_data(shape, self.data)
    }

    /// A copy cast to `dtype` with numpy's unsafe casting (`a.astype(dtype)`).
    pub fn astype(&self, dtype: DType) -> Array {
        Array {
            data: crate::convert::cast_data(&self.view().data, dtype),
            shape: self.shape.clone(),
        }
    }

    /// A borrowed view.
    pub fn view(&self) -> ArrayView<'_> {
        ArrayView {
            data: with_data!(Data, &self.data, v => Wrap::shared(v.as_slice())),
            shape: self.shape.clone(),
        }
    }

    /// A mutable view, to pass as `out`.
    pub fn view_mut(&mut self) -> ArrayViewMut<'_> {
        ArrayViewMut {
            data: with_data!(Data, &mut self.data, v => Wrap::unique(v.as_mut_slice())),
            shape: self.shape.clone(),
        }
    }

    pub(crate) fn into_parts(self) -> (Data, Vec<usize>) {
        (self.data, self.shape)
    }
}

/// A borrowed, C-ordered array of one dtype.
#[derive(Debug)]
pub struct ArrayView<'a> {
    data: DataRef<'a>,
    shape: Vec<usize>,
}

impl<'a> ArrayView<'a> {
    /// A view of `data` with the given shape (`[]` is 0-d).
    pub fn new<T: Element>(shape: &[usize], data: &'a [T]) -> Result<ArrayView<'a>> {
        check_len(shape, data.len())?;
        Ok(ArrayView {
            data: T::shared(data),
            shape: shape.to_vec(),
        })
    }

    /// A 1-D view.
    pub fn from_slice<T: Element>(data: &'a [T]) -> ArrayView<'a> {
        ArrayView {
            data: T::shared(data),
            shape: vec![data.len()],
        }
    }

    /// The dtype of the elements.
    pub fn dtype(&self) -> DType {
        self.data.dtype()
    }

    /// The shape.
    pub fn shape(&self) -> &[usize] {
        &self.shape
    }

    /// Number of elements.
    pub fn len(&self) -> usize {
        self.data.len()
    }

    /// True when the view holds no element.
    pub fn is_empty(&self) -> bool {
        self.data.is_empty()
    }

    /// The typed elements, if the view holds `T`.
    pub fn as_slice<T: Element>(&self) -> Result<&'a [T]> {
        T::from_shared(&self.data).ok_or(Error::DTypeMismatch {
            requested: T::DTYPE,
            actual: self.dtype(),
        })
    }

    /// The untyped data.
    pub fn data(&self) -> &DataRef<'a> {
        &self.data
    }
}

impl<'a> From<&'a Array> for ArrayView<'a> {
    fn from(a: &'a Array) -> Self {
        a.view()
    }
}

/// A mutably borrowed, C-ordered array: the `out` of a cumsum.
#[derive(Debug)]
pub struct ArrayViewMut<'a> {
    data: DataMut<'a>,
    shape: Vec<usize>,
}

impl<'a> ArrayViewMut<'a> {
    /// A mutable view of `data` with the given shape.
    pub fn new<T: Element>(shape: &[usize], data: &'a mut [T]) -> Result<ArrayViewMut<'a>> {
        check_len(shape, data.len())?;
        Ok(ArrayViewMut {
            data: T::unique(data),
            shape: shape.to_vec(),
        })
    }

    /// The dtype of the elements.
    pub fn dtype(&self) -> DType {
        self.data.dtype()
    }

    /// The shape.
    pub fn shape(&self) -> &[usize] {
        &self.shape
    }

    pub(crate) fn data_mut(&mut self) -> &mut DataMut<'a> {
        &mut self.data
    }
}

impl<'a> From<&'a mut Array> for ArrayViewMut<'a> {
    fn from(a: &'a mut Array) -> Self {
        a.view_mut()
    }
}

/// Formats like numpy's `str(array)`: `[  5  11  18]`, `[[ 1  5  5]\n [ 7  7 16]]`.
impl fmt::Display for Array {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let cells: Vec<String> = with_data!(Data, &self.data, v => format_cells(v));
        let width = cells.iter().map(|c| c.len()).max().unwrap_or(0);
        write_nested(f, &self.shape, &cells, width, 0)
    }
}

fn format_cells<T: Element>(v: &[T]) -> Vec<String> {
    use crate::dtype::Scalar;
    let scalars: Vec<Scalar> = v.iter().map(|x| x.to_scalar()).collect();
    let floats: Vec<f64> = scalars
        .iter()
        .filter_map(|s| match s {
            Scalar::Float(f) => Some(*f),
            _ => None,
        })
        .collect();
    if floats.len() == scalars.len() && !floats.is_empty() {
        return format_floats(&floats);
    }
    scalars
        .iter()
        .map(|s| match s {
            Scalar::Bool(b) => if *b { "True" } else { "False" }.to_string(),
            Scalar::Int(i) => i.to_string(),
            Scalar::UInt(u) => u.to_string(),
            Scalar::Float(f) => f.to_string(),
        })
        .collect()
}

/// numpy's positional float style: shortest digits, a trailing `.` for whole numbers, and
/// fractional parts padded on the right so the points line up.
fn format_floats(v: &[f64]) -> Vec<String> {
    let raw: Vec<String> = v
        .iter()
        .map(|x| {
            if x.is_nan() {
                "nan".to_string()
            } else if x.is_infinite() {
                if *x > 0.0 { "inf" } else { "-inf" }.to_string()
            } else {
                let s = format!("{x}");
                if s.contains('.') {
                    s
                } else {
                    format!("{s}.")
                }
            }
        })
        .collect();
    let frac = raw
        .iter()
        .map(|s| s.find('.').map_or(0, |p| s.len() - p - 1))
        .max()
        .unwrap_or(0);
    raw.into_iter()
        .map(|s| match s.find('.') {
            Some(p) => {
                let pad = frac - (s.len() - p - 1);
                format!("{s}{}", " ".repeat(pad))
            }
            None => format!("{s}{}", " ".repeat(frac + 1)),
        })
        .collect()
}

fn write_nested(
    f: &mut fmt::Formatter<'_>,
    shape: &[usize],
    cells: &[String],
    width: usize,
    depth: usize,
) -> fmt::Result {
    if shape.is_empty() {
        return write!(f, "{}", cells.first().map(|s| s.trim_end()).unwrap_or(""));
    }
    let n = shape[0];
    let inner: usize = shape[1..].iter().product();
    write!(f, "[")?;
    for i in 0..n {
        if shape.len() == 1 {
            if i > 0 {
                write!(f, " ")?;
            }
            write!(f, "{:>width$}", cells[i], width = width)?;
        } else {
            if i > 0 {
                let blank_lines = shape.len() - 1;
                write!(f, "{}", "\n".repeat(blank_lines))?;
                write!(f, "{}", " ".repeat(depth + 1))?;
            }
            write_nested(
                f,
                &shape[1..],
                &cells[i * inner..(i + 1) * inner],
                width,
                depth + 1,
            )?;
        }
    }
    write!(f, "]")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prints_like_numpy() {
        let a = Array::from_vec(vec![5i64, 11, 18, 26, 35, 45, 56, 68, 87, 112]);
        assert_eq!(a.to_string(), "[  5  11  18  26  35  45  56  68  87 112]");
        let b = Array::from_shape_vec(&[2, 3], vec![1i64, 5, 5, 7, 7, 16]).unwrap();
        assert_eq!(b.to_string(), "[[ 1  5  5]\n [ 7  7 16]]");
        let c = Array::from_vec(vec![1.0f32, 2.5, 3.0]);
        assert_eq!(c.to_string(), "[1.  2.5 3. ]");
        let d = Array::from_vec(vec![true, false]);
        assert_eq!(d.to_string(), "[ True False]");
        let e = Array::from_shape_vec(&[2, 1, 2], vec![1u8, 2, 3, 4]).unwrap();
        assert_eq!(e.to_string(), "[[[1 2]]\n\n [[3 4]]]");
    }

    #[test]
    fn shape_must_match_data() {
        let err = Array::from_shape_vec(&[2, 2], vec![1i32, 2, 3]).unwrap_err();
        assert!(matches!(
            err,
            Error::ShapeMismatch {
                expected: 4,
                actual: 3,
                ..
            }
        ));
    }
}
