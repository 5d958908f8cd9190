//! Whole-array casts between dtypes, with numpy's unsafe-casting rules.

use crate::array::{with_data, Data, DataMut, DataRef};
use crate::dtype::{cast, DType, Element};

fn cast_vec<S: Element, D: Element>(src: &[S]) -> Vec<D> {
    let mut out = crate::alloc::zeroed(src.len());
    copy_into(src, &mut out);
    out
}

fn cast_to<S: Element>(src: &[S], to: DType) -> Data {
    match to {
        DType::Bool => Data::Bool(cast_vec(src)),
        DType::Int8 => Data::Int8(cast_vec(src)),
        DType::Int16 => Data::Int16(cast_vec(src)),
        DType::Int32 => Data::Int32(cast_vec(src)),
        DType::Int64 => Data::Int64(cast_vec(src)),
        DType::UInt8 => Data::UInt8(cast_vec(src)),
        DType::UInt16 => Data::UInt16(cast_vec(src)),
        DType::UInt32 => Data::UInt32(cast_vec(src)),
        DType::UInt64 => Data::UInt64(cast_vec(src)),
        DType::Float16 => Data::Float16(cast_vec(src)),
        DType::Float32 => Data::Float32(cast_vec(src)),
        DType::Float64 => Data::Float64(cast_vec(src)),
    }
}

/// A fresh copy of `src` in dtype `to` (a plain copy when the dtypes agree).
pub(crate) fn cast_data(src: &DataRef<'_>, to: DType) -> Data {
    with_data!(DataRef, src, v => cast_to(v, to))
}

fn copy_into<S: Element, D: Element>(src: &[S], dst: &mut [D]) {
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
