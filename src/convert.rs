//! Whole-array casts between dtypes, with numpy's unsafe-casting rules.

use std::any::TypeId;

use half::f16;

use crate::data::{with_data, with_dtype, Data, DataMut, DataRef, Wrap};
use crate::dtype::{cast, DType, Element, Scalar};
use crate::op::{with_monoid, Monoid, ScanOp};

fn cast_vec<S: Element, D: Element>(src: &[S]) -> Vec<D> {
    let halves = TypeId::of::<f16>();
    let (s, d) = (TypeId::of::<S>(), TypeId::of::<D>());
    if (s, d) == (halves, TypeId::of::<f32>()) || (s, d) == (TypeId::of::<f32>(), halves) {
        let (n, mut out) = (src.len(), crate::alloc::uninit::<D>(src.len()));
        // SAFETY: `S` and `D` are float16 and float32 (in one order or the other), each slice
        // reinterpreted as itself; the conversion writes every element of `out`.
        unsafe {
            let (from, to) = (src.as_ptr(), out.as_mut_ptr());
            if s == halves {
                let src = std::slice::from_raw_parts(from.cast::<f16>(), n);
                crate::cpu::widen_f16(src, std::slice::from_raw_parts_mut(to.cast(), n));
            } else {
                let src = std::slice::from_raw_parts(from.cast::<f32>(), n);
                crate::cpu::narrow_f16(src, std::slice::from_raw_parts_mut(to.cast(), n));
            }
            return crate::alloc::assume_init(out);
        }
    }
    cast_vec_with(src, cast)
}

/// `f` of every element of `src`, into a fresh vector written once.
fn cast_vec_with<S: Element, D: Element>(src: &[S], f: impl Fn(S) -> D) -> Vec<D> {
    let mut out = crate::alloc::uninit(src.len());
    for (d, &s) in out.iter_mut().zip(src) {
        d.write(f(s));
    }
    // SAFETY: `out` has `src`'s length, so every element was written.
    unsafe { crate::alloc::assume_init(out) }
}

/// `n` zeros of `dtype` whose pages are not touched yet (see [`crate::alloc::zeroed`]).
pub(crate) fn zeroed_data(dtype: DType, n: usize) -> Data {
    with_dtype!(dtype, T => Wrap::owned(crate::alloc::zeroed::<T>(n)))
}

/// A fresh copy of `src` in dtype `to` (a plain copy when the dtypes agree).
pub(crate) fn cast_data(src: &DataRef<'_>, to: DType) -> Data {
    with_data!(DataRef, src, v => with_dtype!(to, D => Wrap::owned(cast_vec::<_, D>(v))))
}

fn cast_vec_nan<S: Element, D: Element>(src: &[S], nan_to: Scalar) -> Vec<D> {
    let r = D::from_scalar(nan_to);
    cast_vec_with(src, |s| if s.is_nan() { r } else { cast(s) })
}

/// [`cast_data`] with every NaN replaced by `nan_to` before the cast.
pub(crate) fn cast_data_nan(src: &DataRef<'_>, to: DType, nan_to: Scalar) -> Data {
    with_data!(DataRef, src, v => with_dtype!(to, D => Wrap::owned(cast_vec_nan::<_, D>(v, nan_to))))
}

fn initial_rows<A: Element, M: Monoid<A>>(
    v: &[A],
    (outer, lane, cols): (usize, usize, usize),
) -> Vec<A> {
    let mut out = Vec::with_capacity(outer * (lane + 1) * cols);
    for o in 0..outer {
        out.extend(std::iter::repeat_n(M::empty(), cols));
        out.extend_from_slice(&v[o * lane * cols..(o + 1) * lane * cols]);
    }
    out
}

/// numpy 2's `include_initial`: the empty scan's value (0 or 1) as a row before each of
/// `outer` lanes of `lane` rows by `cols` columns.
pub(crate) fn with_initial_rows(data: &Data, dims: (usize, usize, usize), op: ScanOp) -> Data {
    with_data!(Data, data, v => Wrap::owned(with_monoid!(op, M => initial_rows::<_, M>(v, dims))))
}
fn copy_into<S: Element, D: Element>(src: &[S], dst: &mut [D]) {
    if TypeId::of::<S>() == TypeId::of::<D>() {
        // SAFETY: `S` is `D`, so the slice is reinterpreted as itself.
        let src = unsafe { &*(src as *const [S] as *const [D]) };
        return dst.copy_from_slice(src);
    }
    for (d, &s) in dst.iter_mut().zip(src) {
        *d = cast(s);
    }
}

fn copy_from<S: Element>(src: &[S], dst: &mut DataMut<'_>) {
    with_data!(DataMut, dst, d => copy_into(src, d))
}

/// Writes `src` into `dst`, casting each element; the lengths must agree.
pub(crate) fn cast_into(src: &Data, dst: &mut DataMut<'_>) {
    debug_assert_eq!(src.len(), dst.len());
    with_data!(Data, src, v => copy_from(v.as_slice(), dst))
}
