//! Moving accumulator values between host dtypes and their GPU storage.

use std::borrow::Cow;

use half::f16;

use crate::array::{with_data, Data, DataRef};

/// A host element and its GPU storage ([`super::kernels::GpuElem`]).
pub trait Stored: Copy {
    /// Bytes of `v` as stored on the GPU, borrowed when the layouts agree.
    fn to_stored(v: &[Self]) -> Cow<'_, [u8]>;
    /// Fills `dst` from stored bytes (narrowing wraps, as the sums do modulo 2^bits).
    fn from_stored(dst: &mut [Self], bytes: &[u8]);
}

macro_rules! same {
    ($t:ty) => {
        impl Stored for $t {
            fn to_stored(v: &[Self]) -> Cow<'_, [u8]> {
                Cow::Borrowed(bytemuck::cast_slice(v))
            }
            fn from_stored(dst: &mut [Self], bytes: &[u8]) {
                let n = std::mem::size_of_val(dst);
                bytemuck::cast_slice_mut::<Self, u8>(dst).copy_from_slice(&bytes[..n]);
            }
        }
    };
}
same!(i32);
same!(u32);
same!(i64);
same!(u64);
same!(f16);
same!(f32);
same!(f64);

macro_rules! widened {
    ($t:ty, $w:ty, $to:expr, $from:expr) => {
        impl Stored for $t {
            fn to_stored(v: &[Self]) -> Cow<'_, [u8]> {
                let wide: Vec<$w> = v.iter().map(|&x| $to(x)).collect();
                Cow::Owned(bytemuck::cast_slice(&wide).to_vec())
            }
            fn from_stored(dst: &mut [Self], bytes: &[u8]) {
                let size = std::mem::size_of::<$w>();
                for (d, b) in dst.iter_mut().zip(bytes.chunks_exact(size)) {
                    *d = $from(bytemuck::pod_read_unaligned::<$w>(b));
                }
            }
        }
    };
}
widened!(i8, i32, |x: i8| x as i32, |w: i32| w as i8);
widened!(i16, i32, |x: i16| x as i32, |w: i32| w as i16);
widened!(u8, u32, |x: u8| x as u32, |w: u32| w as u8);
widened!(u16, u32, |x: u16| x as u32, |w: u32| w as u16);
widened!(bool, u32, |x: bool| x as u32, |w: u32| w != 0);

/// Stored bytes of elements `[start, end)`, padded to a multiple of 4 for buffer writes.
pub fn stored_bytes<'a>(data: &DataRef<'a>, start: usize, end: usize) -> Cow<'a, [u8]> {
    let bytes = with_data!(DataRef, data, v => Stored::to_stored(&v[start..end]));
    if bytes.len() % 4 == 0 {
        bytes
    } else {
        let mut padded = bytes.into_owned();
        padded.resize(padded.len().next_multiple_of(4), 0);
        Cow::Owned(padded)
    }
}

/// Writes stored bytes back into elements `[start, end)`.
pub fn load_stored(data: &mut Data, start: usize, end: usize, bytes: &[u8]) {
    with_data!(Data, data, v => Stored::from_stored(&mut v[start..end], bytes))
}
