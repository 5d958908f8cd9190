//! float16 on the CPU: conversions to and from float32 eight at a time, and numpy's float16
//! sum loop (`acc = f16(acc + x)`: each partial sum rounded to float16) with the conversions
//! inlined, where the element-by-element arithmetic of `half` calls out twice per conversion.
//! F16C's conversions round to nearest even, as `half`'s do, so every level gives the same
//! bits.

use std::mem::MaybeUninit;

use half::f16;

use super::simd::Level;

/// Eight elements per conversion.
const EIGHT: usize = 8;

/// `src` widened into `dst` (of its length), every element of which is written.
pub(crate) fn widen(level: Level, src: &[f16], dst: &mut [MaybeUninit<f32>]) {
    assert_eq!(
        src.len(),
        dst.len(),
        "a conversion's sides differ in length"
    );
    match level {
        #[cfg(target_arch = "x86_64")]
        // SAFETY: `Level::Avx2` and `Level::Avx512` are only made where the CPU has AVX2 and
        // F16C.
        Level::Avx2 | Level::Avx512 => unsafe { widen_f16c(src, dst) },
        _ => {
            for (d, s) in dst.iter_mut().zip(src) {
                d.write(s.to_f32());
            }
        }
    }
}

/// `src` rounded to float16 into `dst` (of its length), every element of which is written.
pub(crate) fn narrow(level: Level, src: &[f32], dst: &mut [MaybeUninit<f16>]) {
    assert_eq!(
        src.len(),
        dst.len(),
        "a conversion's sides differ in length"
    );
    match level {
        #[cfg(target_arch = "x86_64")]
        // SAFETY: as in `widen`.
        Level::Avx2 | Level::Avx512 => unsafe { narrow_f16c(src, dst) },
        _ => {
            for (d, &s) in dst.iter_mut().zip(src) {
                d.write(f16::from_f32(s));
            }
        }
    }
}

/// numpy's float16 cumsum loop over `xs` in scan order (from its end when `rev`), continuing
/// `carry` or, without one, starting from the first element as numpy does; an exclusive scan's
/// first value is +0.0. Returns the carry after `xs`.
pub(crate) fn sum(
    level: Level,
    xs: &mut [f16],
    carry: Option<f16>,
    rev: bool,
    exclusive: bool,
) -> Option<f16> {
    match level {
        #[cfg(target_arch = "x86_64")]
        // SAFETY: as in `widen`.
        Level::Avx2 | Level::Avx512 => unsafe { sum_f16c(xs, carry, rev, exclusive) },
        _ => sum_with::<Portable>(xs, carry, rev, exclusive),
    }
}

/// One row of numpy's float16 sum down columns: every `runs[i]` becomes `f16(runs[i] +
/// row[i])`, and `row[i]` the run after it (before it, when `exclusive`). The columns are
/// independent, so eight of them are rounded at once.
pub(crate) fn step_row(level: Level, row: &mut [f16], runs: &mut [f16], exclusive: bool) {
    assert_eq!(row.len(), runs.len(), "a row and its runs differ in length");
    match level {
        #[cfg(target_arch = "x86_64")]
        // SAFETY: as in `widen`.
        Level::Avx2 | Level::Avx512 => unsafe { step_row_f16c(row, runs, exclusive) },
        _ => step_row_with::<Portable>(row, runs, exclusive),
    }
}

#[inline(always)]
fn step_row_with<C: Convert>(row: &mut [f16], runs: &mut [f16], exclusive: bool) {
    let mut x = row.chunks_exact_mut(EIGHT);
    let mut r = runs.chunks_exact_mut(EIGHT);
    for (x, r) in (&mut x).zip(&mut r) {
        let (x, r): (&mut [f16; EIGHT], &mut [f16; EIGHT]) =
            (x.try_into().expect("eight"), r.try_into().expect("eight"));
        let (a, b) = (C::widen(r), C::widen(x));
        let sum = C::narrow(&std::array::from_fn(|i| a[i] + b[i]));
        *x = if exclusive { *r } else { sum };
        *r = sum;
    }
    for (x, r) in x.into_remainder().iter_mut().zip(r.into_remainder()) {
        let sum = *r + *x;
        *x = if exclusive { *r } else { sum };
        *r = sum;
    }
}

/// How [`sum_with`] converts: eight at a time both ways, and one float32 rounded to float16.
trait Convert {
    fn widen(x: &[f16; EIGHT]) -> [f32; EIGHT];
    fn narrow(x: &[f32; EIGHT]) -> [f16; EIGHT];
    /// `x` rounded to float16, as a float32.
    fn round(x: f32) -> f32;
}

struct Portable;

impl Convert for Portable {
    #[inline(always)]
    fn widen(x: &[f16; EIGHT]) -> [f32; EIGHT] {
        x.map(f16::to_f32)
    }
    #[inline(always)]
    fn narrow(x: &[f32; EIGHT]) -> [f16; EIGHT] {
        x.map(f16::from_f32)
    }
    #[inline(always)]
    fn round(x: f32) -> f32 {
        f16::from_f32(x).to_f32()
    }
}

/// The loop of [`sum`]: the running value is held as a float32 that float16 represents, the
/// elements are widened and the results narrowed eight at a time (both exact), and each sum is
/// rounded to float16 on the chain. (float32 holds the sum of two float16 values to more than
/// twice float16's precision, so rounding it once more to float16 is the correctly rounded
/// float16 sum.)
#[inline(always)]
fn sum_with<C: Convert>(
    xs: &mut [f16],
    carry: Option<f16>,
    rev: bool,
    exclusive: bool,
) -> Option<f16> {
    let n = xs.len();
    if n == 0 {
        return carry;
    }
    let mut acc = carry.map(f16::to_f32);
    let mut k = 0;
    while k < n {
        let len = EIGHT.min(n - k);
        let at = if rev { n - k - len } else { k };
        let mut v = [f16::ZERO; EIGHT];
        v[..len].copy_from_slice(&xs[at..at + len]);
        let mut a = C::widen(&v);
        for j in 0..len {
            let i = if rev { len - 1 - j } else { j };
            let x = a[i];
            let next = match acc {
                Some(c) => C::round(c + x),
                None => x,
            };
            a[i] = match (exclusive, acc) {
                (false, _) => next,
                (true, Some(c)) => c,
                (true, None) => 0.0,
            };
            acc = Some(next);
        }
        xs[at..at + len].copy_from_slice(&C::narrow(&a)[..len]);
        k += len;
    }
    acc.map(f16::from_f32)
}

#[cfg(target_arch = "x86_64")]
struct F16c;

#[cfg(target_arch = "x86_64")]
impl Convert for F16c {
    #[inline(always)]
    fn widen(x: &[f16; EIGHT]) -> [f32; EIGHT] {
        use std::arch::x86_64::*;
        // SAFETY: runs inside `sum_f16c`, at F16C's level; `x` is eight halves, read
        // unaligned.
        unsafe {
            let h = _mm_loadu_si128(x.as_ptr().cast());
            std::mem::transmute::<__m256, [f32; EIGHT]>(_mm256_cvtph_ps(h))
        }
    }
    #[inline(always)]
    fn narrow(x: &[f32; EIGHT]) -> [f16; EIGHT] {
        use std::arch::x86_64::*;
        // SAFETY: as in `widen`.
        unsafe {
            let v = _mm256_loadu_ps(x.as_ptr());
            let h = _mm256_cvtps_ph::<_MM_FROUND_TO_NEAREST_INT>(v);
            std::mem::transmute::<__m128i, [f16; EIGHT]>(h)
        }
    }
    #[inline(always)]
    fn round(x: f32) -> f32 {
        use std::arch::x86_64::*;
        // SAFETY: as in `widen`.
        unsafe {
            let h = _mm_cvtps_ph::<_MM_FROUND_TO_NEAREST_INT>(_mm_set_ss(x));
            _mm_cvtss_f32(_mm_cvtph_ps(h))
        }
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,f16c")]
unsafe fn sum_f16c(xs: &mut [f16], carry: Option<f16>, rev: bool, exclusive: bool) -> Option<f16> {
    sum_with::<F16c>(xs, carry, rev, exclusive)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,f16c")]
unsafe fn step_row_f16c(row: &mut [f16], runs: &mut [f16], exclusive: bool) {
    step_row_with::<F16c>(row, runs, exclusive)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,f16c")]
unsafe fn widen_f16c(src: &[f16], dst: &mut [MaybeUninit<f32>]) {
    by_eights(src, dst, F16c::widen, f16::to_f32)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,f16c")]
unsafe fn narrow_f16c(src: &[f32], dst: &mut [MaybeUninit<f16>]) {
    by_eights(src, dst, F16c::narrow, f16::from_f32)
}

/// `one` of every element of `src` into `dst`: eight at a time through `eight`, the rest
/// one by one (function items, so that both are compiled at the caller's level).
#[inline(always)]
fn by_eights<S: Copy, D>(
    src: &[S],
    dst: &mut [MaybeUninit<D>],
    eight: impl Fn(&[S; EIGHT]) -> [D; EIGHT],
    one: impl Fn(S) -> D,
) {
    let mut d = dst.chunks_exact_mut(EIGHT);
    let mut s = src.chunks_exact(EIGHT);
    for (d, s) in (&mut d).zip(&mut s) {
        let out = eight(s.try_into().expect("eight elements"));
        for (d, x) in d.iter_mut().zip(out) {
            d.write(x);
        }
    }
    for (d, &s) in d.into_remainder().iter_mut().zip(s.remainder()) {
        d.write(one(s));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::op::{Add, Monoid};

    /// Every float16 bit pattern but the NaNs, then a few NaNs.
    fn every_half() -> Vec<f16> {
        let mut v: Vec<f16> = (0..=u16::MAX)
            .map(f16::from_bits)
            .filter(|x| !x.is_nan())
            .collect();
        v.extend([0x7e00u16, 0xfe00, 0x7c01, 0x7d55].map(f16::from_bits));
        v
    }

    #[test]
    fn conversions_match_half_at_every_level() {
        let halves = every_half();
        // float32 values around every float16 rounding boundary, ties included, and beyond
        // float16's range.
        let mut floats: Vec<f32> = Vec::new();
        for h in &halves {
            let f = h.to_f32();
            let b = f.to_bits();
            floats.extend([
                f,
                f32::from_bits(b.wrapping_add(1 << 12)),
                f32::from_bits(b + 1),
            ]);
            floats.extend([f32::from_bits(b.wrapping_add(1 << 12).wrapping_sub(1))]);
        }
        floats.extend([
            1e10,
            -1e10,
            65520.0,
            65519.99,
            f32::MIN_POSITIVE,
            1e-8,
            -3e-8,
        ]);
        for level in Level::available() {
            for len in [0, 1, 7, 8, 9, halves.len()] {
                let src = &halves[halves.len() - len..];
                let mut out = vec![MaybeUninit::uninit(); len];
                widen(level, src, &mut out);
                for (o, s) in out.iter().zip(src) {
                    assert_eq!(unsafe { o.assume_init() }.to_bits(), s.to_f32().to_bits());
                }
            }
            let mut out = vec![MaybeUninit::uninit(); floats.len()];
            narrow(level, &floats, &mut out);
            for (o, s) in out.iter().zip(&floats) {
                let want = f16::from_f32(*s).to_bits();
                assert_eq!(
                    unsafe { o.assume_init() }.to_bits(),
                    want,
                    "{s:e} at {level:?}"
                );
            }
        }
    }

    /// numpy's loop with `half`'s arithmetic, element by element.
    fn numpy_loop(xs: &[f16], carry: Option<f16>, rev: bool, exclusive: bool) -> Vec<f16> {
        let order: Vec<usize> = if rev {
            (0..xs.len()).rev().collect()
        } else {
            (0..xs.len()).collect()
        };
        let mut out = xs.to_vec();
        let mut acc = carry;
        for i in order {
            let next = acc.map_or(xs[i], |c| c + xs[i]);
            out[i] = if exclusive {
                acc.unwrap_or_else(<Add as Monoid<f16>>::empty)
            } else {
                next
            };
            acc = Some(next);
        }
        out
    }

    #[test]
    fn the_sum_loop_is_numpys_at_every_level() {
        // Mixed magnitudes and signs, so that sums round, stall, overflow to inf and meet NaN.
        let mut seed = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        let mut data: Vec<f16> = (0..5000)
            .map(|_| {
                let r = next();
                let x = (r % 2000) as f32 / 997.0 * if r & (1 << 40) != 0 { -1.0 } else { 1.0 };
                f16::from_f32(x * [1.0, 30.0, 0.01, 1000.0][(r >> 20) as usize % 4])
            })
            .collect();
        data[4321] = f16::NAN;
        data[13] = f16::NEG_ZERO;
        for level in Level::available() {
            for len in [0, 1, 5, 8, 13, 16, 100, 4000, 5000] {
                for carry in [None, Some(f16::from_f32(-2.5)), Some(f16::NEG_ZERO)] {
                    for (rev, excl) in [(false, false), (true, false), (false, true), (true, true)]
                    {
                        let xs = &data[..len];
                        let mut got = xs.to_vec();
                        let c = sum(level, &mut got, carry, rev, excl);
                        let want = numpy_loop(xs, carry, rev, excl);
                        let same = got
                            .iter()
                            .zip(&want)
                            .all(|(a, b)| a.to_bits() == b.to_bits());
                        assert!(
                            same,
                            "len {len} carry {carry:?} rev {rev} excl {excl} {level:?}"
                        );
                        let want_carry = numpy_loop(xs, carry, rev, false);
                        let last = if rev {
                            want_carry.first()
                        } else {
                            want_carry.last()
                        };
                        let want_c = last.copied().or(carry);
                        assert_eq!(c.map(f16::to_bits), want_c.map(f16::to_bits));
                    }
                }
            }
        }
    }
}
