//! `ndarray` interop: any ndarray array in, an `ndarray::ArrayD` out.

use ndarray::{ArrayBase, ArrayD, ArrayRef, Dimension, IxDyn};

use crate::array::{Array, ArrayView};
use crate::context::Context;
use crate::dtype::Element;
use crate::error::{Error, Result};
use crate::options::Cumsum;

impl<T: Element, D: Dimension> From<&ArrayRef<T, D>> for Array {
    /// Copies an ndarray array of any layout, in logical (C) order.
    fn from(a: &ArrayRef<T, D>) -> Array {
        let v: Vec<T> = a.iter().copied().collect();
        Array::from_shape_vec(a.shape(), v).expect("an ndarray's shape matches its length")
    }
}

// `Array::from(&a)` for owned arrays and views: trait lookup does not deref to `ArrayRef`.
impl<T, S, D> From<&ArrayBase<S, D>> for Array
where
    T: Element,
    S: ndarray::Data<Elem = T>,
    D: Dimension,
{
    /// Copies an ndarray array of any layout, in logical (C) order.
    fn from(a: &ArrayBase<S, D>) -> Array {
        Array::from(&**a)
    }
}

impl Array {
    /// The array as an `ndarray::ArrayD<T>`; `T` must be the array's dtype.
    pub fn into_ndarray<T: Element>(self) -> Result<ArrayD<T>> {
        let shape = self.shape().to_vec();
        let v = self.into_vec::<T>()?;
        ArrayD::from_shape_vec(IxDyn(&shape), v).map_err(|e| Error::InvalidArgument(e.to_string()))
    }
}

impl Context {
    /// `np.cumsum` of an ndarray array (any layout; owned arrays and views deref to
    /// `ArrayRef`), returned as an `ndarray::ArrayD<R>`, where `R` must be the result dtype
    /// (for example `i64` for `i32` input).
    ///
    /// ```
    /// use gpuscan::ndarray::{array, Axis};
    /// use gpuscan::{Context, Cumsum};
    /// let ctx = Context::new().unwrap();
    /// let a = array![[1i64, 4, 0], [7, 0, 9], [5, 0, 3], [12, 0, 5]];
    /// let r = ctx.cumsum_ndarray::<_, i64, _>(&a, &Cumsum::new().axis(Axis(1))).unwrap();
    /// assert_eq!(r, array![[1i64, 5, 5], [7, 7, 16], [5, 5, 8], [12, 12, 17]].into_dyn());
    /// let r = ctx.cumsum_ndarray::<_, i64, _>(&a.t(), &Cumsum::new().axis(1)).unwrap();
    /// assert_eq!(r, array![[1i64, 8, 13, 25], [4, 4, 4, 4], [0, 9, 12, 17]].into_dyn());
    /// ```
    pub fn cumsum_ndarray<T, R, D>(&self, a: &ArrayRef<T, D>, options: &Cumsum) -> Result<ArrayD<R>>
    where
        T: Element,
        R: Element,
        D: Dimension,
    {
        let result = match a.as_slice() {
            Some(slice) => self.cumsum(ArrayView::new(a.shape(), slice)?, options)?,
            None => self.cumsum(&Array::from(a), options)?,
        };
        result.into_ndarray::<R>()
    }
}
