//! `ndarray` interop: any ndarray array in, a typed ndarray array out.
//!
//! [`ScanExt`] adds the scan family to every ndarray array (owned arrays, views and
//! `ArcArray`s reach it through their deref to [`ArrayRef`]), with the result element type
//! chosen at compile time by numpy's promotion ([`Promote`]).

use ndarray::{
    Array as NdArray, Array1, ArrayBase, ArrayD, ArrayRef, ArrayViewMut as NdViewMut, Axis,
    Dimension, IxDyn,
};

use crate::array::{Array, ArrayView, ArrayViewMut};
use crate::context::Context;
use crate::dtype::Element;
use crate::error::{Error, Result};
use crate::options::{Cumsum, Scan};

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
    /// (for example `i64` for `i32` input). [`ScanExt`] is the typed form.
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
        with_host_view(a, |view| self.cumsum(view, options))?.into_ndarray::<R>()
    }
}

/// numpy's result dtypes of the scan family, as types: what [`ScanExt`]'s typed methods
/// return for an input of element type `Self`.
///
/// | input                          | `Sum` (cumsum, cumprod, nancumsum, nancumprod) | `Log` (logcumsumexp) |
/// |--------------------------------|---------------------|----------------------|
/// | `bool`, `i8`, `i16`, `i32`, `i64` | `i64`            | `f16`, `f16`, `f32`, `f64`, `f64` |
/// | `u8`, `u16`, `u32`, `u64`      | `u64`               | `f16`, `f32`, `f64`, `f64` |
/// | `f16`, `f32`, `f64`            | itself              | itself               |
///
/// cummax and cummin keep the input's type. These agree with [`crate::ScanOp::result_dtype`]
/// (`f16` is [`half::f16`]).
pub trait Promote: Element {
    /// The result of `cumsum`, `cumprod`, `nancumsum` and `nancumprod`
    /// (`DType::cumsum_default`): `i64` for bool and signed ints, `u64` for unsigned ints,
    /// the float itself for floats.
    type Sum: Element;
    /// The result of `logcumsumexp`: the float numpy's `logaddexp` computes the input in.
    type Log: Element;
}

macro_rules! promote {
    ($($t:ty => $sum:ty, $log:ty;)*) => {
        $(impl Promote for $t {
            type Sum = $sum;
            type Log = $log;
        })*
    };
}

promote! {
    bool => i64, half::f16;
    i8 => i64, half::f16;
    i16 => i64, f32;
    i32 => i64, f64;
    i64 => i64, f64;
    u8 => u64, half::f16;
    u16 => u64, f32;
    u32 => u64, f64;
    u64 => u64, f64;
    half::f16 => half::f16, half::f16;
    f32 => f32, f32;
    f64 => f64, f64;
}

/// One operation's three typed methods, declared (`decl`) or implemented (`impl`).
macro_rules! typed_ops {
    (decl $($axis:ident, $flat:ident, $into:ident, $ctor:ident, $np:literal, $out:ty;)*) => {$(
        #[doc = concat!("`", $np, "(a, axis)`: every lane along `axis` scanned, in numpy's ",
            "result type; a standard-layout array of the input's shape.")]
        ///
        /// # Errors
        ///
        /// [`Error::AxisOutOfBounds`] when `axis` is not below `ndim`; the errors of
        /// [`Context::scan`] (no GPU when the context's defaults ask for one).
        fn $axis(&self, ctx: &Context, axis: Axis) -> Result<NdArray<$out, D>>;

        #[doc = concat!("`", $np, "(a)` (numpy's `axis=None`): the array flattened in ",
            "logical C order and scanned, in numpy's result type.")]
        ///
        /// # Errors
        ///
        /// The errors of [`Context::scan`].
        fn $flat(&self, ctx: &Context) -> Result<Array1<$out>>;

        #[doc = concat!("`", $np, "(a, axis, out=out)`: the scan along `axis` written into ",
            "`out` of any element type and layout (numpy's unsafe casting), accumulated in ",
            "`np.result_type(out, a)`")]
        #[doc = concat!("(logcumsumexp: the float that holds it), as [`Context::scan_into`]. ",
            "See [`ScanExt::scan_axis_into`].")]
        ///
        /// # Errors
        ///
        /// [`Error::OutShape`] when `out` does not have the input's shape, and the errors of
        /// [`ScanExt::scan_axis`]. On any error `out` is left untouched.
        fn $into<R: Element>(&self, ctx: &Context, axis: Axis, out: NdViewMut<'_, R, D>)
            -> Result<()>;
    )*};
    (impl $($axis:ident, $flat:ident, $into:ident, $ctor:ident, $np:literal, $out:ty;)*) => {$(
        fn $axis(&self, ctx: &Context, axis: Axis) -> Result<NdArray<$out, D>> {
            self.scan_axis::<$out>(ctx, &Scan::$ctor(), axis)
        }

        fn $flat(&self, ctx: &Context) -> Result<Array1<$out>> {
            self.scan_flat::<$out>(ctx, &Scan::$ctor())
        }

        fn $into<R: Element>(&self, ctx: &Context, axis: Axis, out: NdViewMut<'_, R, D>)
            -> Result<()> {
            self.scan_axis_into(ctx, &Scan::$ctor(), axis, out)
        }
    )*};
}

/// The whole table: for each operation its methods, its [`Scan`] constructor, numpy's name
/// and the result type.
macro_rules! for_each_op {
    ($mode:ident) => {
        typed_ops! {$mode
            cumsum_axis, cumsum_flat, cumsum_axis_into, cumsum, "np.cumsum", T::Sum;
            cumprod_axis, cumprod_flat, cumprod_axis_into, cumprod, "np.cumprod", T::Sum;
            nancumsum_axis, nancumsum_flat, nancumsum_axis_into, nancumsum,
                "np.nancumsum", T::Sum;
            nancumprod_axis, nancumprod_flat, nancumprod_axis_into, nancumprod,
                "np.nancumprod", T::Sum;
            cummax_axis, cummax_flat, cummax_axis_into, cummax,
                "np.maximum.accumulate", T;
            cummin_axis, cummin_flat, cummin_axis_into, cummin,
                "np.minimum.accumulate", T;
            logcumsumexp_axis, logcumsumexp_flat, logcumsumexp_axis_into,
                logcumsumexp, "np.logaddexp.accumulate", T::Log;
        }
    };
}

/// The scan family as methods of ndarray arrays, in ndarray's style: `_axis` scans every lane
/// along an [`Axis`], `_flat` flattens first (numpy's `axis=None`), `_axis_into` writes into
/// an `out` view (numpy's `out=`). Implemented for [`ArrayRef`], so owned arrays, views
/// (`a.t()`, `a.slice(s![..;-1, ..])`) and `ArcArray`s of any layout all have it; the result
/// is a standard-layout array of the input's shape whose element type numpy's promotion
/// gives ([`Promote`]). [`ScanExt::scan_axis`] takes a whole [`Scan`] (reverse, exclusive,
/// segments, `dtype=`, order, device).
///
/// ```
/// use gpuscan::ndarray::{array, s, Array, Array1, Array2, Axis};
/// use gpuscan::{Context, Device, Scan, ScanExt};
///
/// let ctx = Context::new()?;
/// let a = array![[1i32, 4, 0], [7, 0, 9], [5, 0, 3], [12, 0, 5]];
/// // numpy promotes int32 sums to int64: the type is inferred.
/// let r: Array2<i64> = a.cumsum_axis(&ctx, Axis(1))?;
/// assert_eq!(r, array![[1i64, 5, 5], [7, 7, 16], [5, 5, 8], [12, 12, 17]]);
/// // Any layout: a transposed view scans in its logical order.
/// let r = a.t().cummax_axis(&ctx, Axis(1))?;
/// assert_eq!(r, array![[1i32, 7, 7, 12], [4, 4, 4, 4], [0, 9, 9, 9]]);
/// // axis=None flattens in C order.
/// let r: Array1<i64> = a.cumsum_flat(&ctx)?;
/// assert_eq!(r[11], 46);
///
/// // numpy's out=: into part of a larger float64 array, accumulated in float64.
/// let mut big = Array::<f64, _>::zeros((4, 5));
/// a.cumsum_axis_into(&ctx, Axis(0), big.slice_mut(s![.., 1..4]))?;
/// assert_eq!(big.row(3), array![0.0, 25.0, 4.0, 17.0, 0.0]);
///
/// // The general form: any Scan, the result type named by the caller.
/// let scan = Scan::cumsum().reverse(true).exclusive(true).device(Device::Cpu);
/// let r = a.scan_axis::<i64>(&ctx, &scan, Axis(1))?;
/// assert_eq!(r.row(0), array![4i64, 0, 0]);
/// assert!(a.scan_axis::<i32>(&ctx, &scan, Axis(1)).is_err()); // the result is int64
/// # Ok::<(), gpuscan::Error>(())
/// ```
pub trait ScanExt<T: Promote, D: Dimension> {
    for_each_op!(decl);

    /// The scan `scan` describes along `axis` (its own `axis` is ignored), as an array of
    /// `R`, which must be the scan's result dtype: `scan.dtype` if set, else numpy's
    /// promotion of `T` ([`crate::ScanOp::result_dtype`]). The result has the input's shape
    /// (`include_initial` adds one along `axis`) and standard layout.
    ///
    /// # Errors
    ///
    /// [`Error::DTypeMismatch`] (`requested`: `R`, `actual`: the result dtype) before any
    /// work when `R` is not the result dtype; [`Error::AxisOutOfBounds`]; the errors of
    /// [`Context::scan`].
    fn scan_axis<R: Element>(
        &self,
        ctx: &Context,
        scan: &Scan,
        axis: Axis,
    ) -> Result<NdArray<R, D>>;

    /// The scan `scan` describes of the array flattened in logical C order (numpy's
    /// `axis=None`; its own `axis` is ignored), as a 1-D array of `R`, which must be the
    /// scan's result dtype as in [`ScanExt::scan_axis`].
    ///
    /// # Errors
    ///
    /// As [`ScanExt::scan_axis`]; numpy 2's `cumulative_*` rules refuse to flatten two or
    /// more dimensions ([`Error::AxisRequired`]).
    fn scan_flat<R: Element>(&self, ctx: &Context, scan: &Scan) -> Result<Array1<R>>;

    /// The scan `scan` describes along `axis`, written into `out` (numpy's `out=`): `out` may
    /// have any element type and layout (a view of a larger array, strided, transposed) but
    /// must have the result's shape. Without `scan.dtype` the scan accumulates in
    /// `np.result_type(out, a)` (logcumsumexp: the float that holds it) and is cast into
    /// `out` with numpy's unsafe casting, as [`Context::scan_into`].
    ///
    /// # Errors
    ///
    /// [`Error::OutShape`] when `out`'s shape is not the result's; the errors of
    /// [`Context::scan_into`]. On any error `out` is left untouched.
    fn scan_axis_into<R: Element>(
        &self,
        ctx: &Context,
        scan: &Scan,
        axis: Axis,
        out: NdViewMut<'_, R, D>,
    ) -> Result<()>;

    /// [`ScanExt::scan_axis_into`] of the flattened array (numpy's `axis=None`): `out` is 1-D
    /// with as many elements as the input (one more with `include_initial`).
    ///
    /// # Errors
    ///
    /// As [`ScanExt::scan_axis_into`]. On any error `out` is left untouched.
    fn scan_flat_into<R: Element>(
        &self,
        ctx: &Context,
        scan: &Scan,
        out: NdViewMut<'_, R, ndarray::Ix1>,
    ) -> Result<()>;
}

impl<T: Promote, D: Dimension> ScanExt<T, D> for ArrayRef<T, D> {
    for_each_op!(impl);

    fn scan_axis<R: Element>(
        &self,
        ctx: &Context,
        scan: &Scan,
        axis: Axis,
    ) -> Result<NdArray<R, D>> {
        scan_typed(ctx, self, &scan.clone().axis(axis))
    }

    fn scan_flat<R: Element>(&self, ctx: &Context, scan: &Scan) -> Result<Array1<R>> {
        scan_typed(ctx, self, &scan.clone().flatten())
    }

    fn scan_axis_into<R: Element>(
        &self,
        ctx: &Context,
        scan: &Scan,
        axis: Axis,
        out: NdViewMut<'_, R, D>,
    ) -> Result<()> {
        scan_typed_into(ctx, self, &scan.clone().axis(axis), out)
    }

    fn scan_flat_into<R: Element>(
        &self,
        ctx: &Context,
        scan: &Scan,
        out: NdViewMut<'_, R, ndarray::Ix1>,
    ) -> Result<()> {
        scan_typed_into(ctx, self, &scan.clone().flatten(), out)
    }
}

/// `f` of a host view of `a`: its own buffer when it is in standard layout, else a copy in
/// logical (C) order.
fn with_host_view<T: Element, D: Dimension, X>(
    a: &ArrayRef<T, D>,
    f: impl FnOnce(ArrayView<'_>) -> Result<X>,
) -> Result<X> {
    let copy: Vec<T>;
    let slice = match a.as_slice() {
        Some(slice) => slice,
        None => {
            copy = a.iter().copied().collect();
            &copy
        }
    };
    f(ArrayView::new(a.shape(), slice)?)
}

/// The scan of `a` as an array of `R` with `E`'s dimensionality (`E` is `a`'s, or `Ix1` for
/// `axis=None`).
fn scan_typed<T, D, R, E>(ctx: &Context, a: &ArrayRef<T, D>, scan: &Scan) -> Result<NdArray<R, E>>
where
    T: Element,
    D: Dimension,
    R: Element,
    E: Dimension,
{
    let actual = scan.op.loop_dtype(T::DTYPE, scan.dtype, None)?;
    if R::DTYPE != actual {
        return Err(Error::DTypeMismatch {
            requested: R::DTYPE,
            actual,
        });
    }
    let result = with_host_view(a, |view| ctx.scan(view, scan))?;
    let dim = dim_of::<E>(result.shape())?;
    let v = result.into_vec::<R>()?;
    NdArray::from_shape_vec(dim, v).map_err(|e| Error::InvalidArgument(e.to_string()))
}

/// The scan of `a` written into `out` in its logical order, only once it has succeeded.
fn scan_typed_into<T, D, R, E>(
    ctx: &Context,
    a: &ArrayRef<T, D>,
    scan: &Scan,
    mut out: NdViewMut<'_, R, E>,
) -> Result<()>
where
    T: Element,
    D: Dimension,
    R: Element,
    E: Dimension,
{
    let shape = out.shape().to_vec();
    if let Some(slice) = out.as_slice_mut() {
        // `Context::scan_into` writes nothing on error.
        return with_host_view(a, |view| {
            ctx.scan_into(view, ArrayViewMut::new(&shape, slice)?, scan)
        });
    }
    // `out`'s values do not enter the scan, only its dtype and shape.
    let mut staged = vec![R::default(); out.len()];
    with_host_view(a, |view| {
        ctx.scan_into(view, ArrayViewMut::new(&shape, &mut staged)?, scan)
    })?;
    for (o, v) in out.iter_mut().zip(staged) {
        *o = v;
    }
    Ok(())
}

/// `shape` as a dimension of type `E`.
fn dim_of<E: Dimension>(shape: &[usize]) -> Result<E> {
    if E::NDIM.is_some_and(|n| n != shape.len()) {
        return Err(Error::InvalidArgument(format!(
            "a result of shape {shape:?} does not fit {} dimensions",
            E::NDIM.unwrap_or_default()
        )));
    }
    let mut dim = E::zeros(shape.len());
    dim.slice_mut().copy_from_slice(shape);
    Ok(dim)
}
