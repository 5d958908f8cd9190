//! The AVX-512 kernels. The tree stays eight lanes wide, so a 512-bit register holds two
//! float32 vectors side by side, each scanned with the shuffles of the AVX2 kernel (which act
//! within 128-bit lanes at either width) and one masked move of 128-bit lanes for the step
//! across each vector's halves. The second vector in scan order starts from the first one's
//! carry plus the first one's total, the same additions in the same order as two steps of
//! the AVX2 kernel, so every bit is the same at both levels. int64 and uint64 sums, products,
//! maxima and minima, exact in any order, hold one vector of eight in a register.

use std::arch::x86_64::*;

use super::tree_op::{MAX, MIN, SUM};
use super::{avx2_f32_tree, avx2_f32_vector, f32_identity, tree_op, GrainOps, TreeOps, W};
use crate::op::{Add, Max, Min, Mul};

/// `a` and `b` combined lane by lane by `OP` (a [`tree_op`]) as `Monoid::ordered` combines
/// them: a sum or product, or one `vrangeps`, whose maximum (minimum) with the sign taken
/// from the comparison orders -0.0 below +0.0 as IEEE 754's `maximum` does (AVX2 takes two
/// maxima and a bitwise and for the same bits).
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512dq")]
#[inline]
fn combine<const OP: u8>(a: __m512, b: __m512) -> __m512 {
    // imm8 bits 1:0 choose the minimum (00) or maximum (01); bits 3:2 = 01 take the sign of
    // the value the comparison chose.
    const RANGE_MIN: i32 = 0b0100;
    const RANGE_MAX: i32 = 0b0101;
    match OP {
        SUM => _mm512_add_ps(a, b),
        MAX => _mm512_range_ps::<RANGE_MAX>(a, b),
        MIN => _mm512_range_ps::<RANGE_MIN>(a, b),
        _ => _mm512_mul_ps(a, b),
    }
}

/// The inclusive prefix of each of the two vectors in `x` (the shifts fill with `id`, the
/// identity), with the total of the vector scanned first, then of the one scanned second,
/// each broadcast. Scanned in reverse (`REV`), the vector at the higher address is first.
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512dq")]
#[inline]
fn tree<const OP: u8, const REV: bool>(x: __m512, id: __m512) -> (__m512, __m512, __m512) {
    let (bits, float) = (_mm512_castps_si512, _mm512_castsi512_ps);
    let f = combine::<OP>;
    if REV {
        let p = f(float(_mm512_alignr_epi8(bits(id), bits(x), 4)), x);
        let p = f(float(_mm512_alignr_epi8(bits(id), bits(p), 8)), p);
        // Each vector's upper 128 bits' first lane, into its lower 128 bits.
        let t = _mm512_permute_ps(p, 0x00);
        let p = f(_mm512_mask_shuffle_f32x4(id, 0x0F0F, t, t, 0x31), p);
        let t = _mm512_permute_ps(p, 0x00);
        (
            p,
            _mm512_shuffle_f32x4(t, t, 0xAA),
            _mm512_shuffle_f32x4(t, t, 0x00),
        )
    } else {
        let p = f(float(_mm512_alignr_epi8(bits(x), bits(id), 12)), x);
        let p = f(float(_mm512_alignr_epi8(bits(p), bits(id), 8)), p);
        // Each vector's lower 128 bits' last lane, into its upper 128 bits.
        let t = _mm512_permute_ps(p, 0xFF);
        let p = f(_mm512_mask_shuffle_f32x4(id, 0xF0F0, t, t, 0x80), p);
        let t = _mm512_permute_ps(p, 0xFF);
        (
            p,
            _mm512_shuffle_f32x4(t, t, 0x55),
            _mm512_shuffle_f32x4(t, t, 0xFF),
        )
    }
}

/// The lanes of the vector scanned second.
const fn second(rev: bool) -> __mmask16 {
    if rev {
        0x00FF
    } else {
        0xFF00
    }
}

/// `v` as two vectors' lanes moved one lane later in scan order: across both vectors
/// (`ACROSS`, the first lane of the second vector taking the last of the first), or within
/// each. The lanes left empty come out as `fill`'s.
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512dq")]
#[inline]
fn shift<const REV: bool, const ACROSS: bool>(v: __m512, fill: __m512) -> __m512 {
    let (idx, empty) = match (REV, ACROSS) {
        (false, true) => (
            _mm512_setr_epi32(0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14),
            0x0001,
        ),
        (true, true) => (
            _mm512_setr_epi32(1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 15),
            0x8000,
        ),
        (false, false) => (
            _mm512_setr_epi32(0, 0, 1, 2, 3, 4, 5, 6, 8, 8, 9, 10, 11, 12, 13, 14),
            0x0101,
        ),
        (true, false) => (
            _mm512_setr_epi32(1, 2, 3, 4, 5, 6, 7, 7, 9, 10, 11, 12, 13, 14, 15, 15),
            0x8080,
        ),
    };
    _mm512_mask_blend_ps(empty, _mm512_permutexvar_ps(idx, v), fill)
}

/// [`GrainOps`] for float32 with AVX-512: pairs of vectors as above; a vector alone (a
/// grain's odd one) takes the AVX2 kernel.
pub(crate) struct Avx512F32;

impl GrainOps<f32> for Avx512F32 {
    type Local = __m512;
    const PAIRS: bool = true;
    #[inline(always)]
    fn local(x: f32) -> __m512 {
        // SAFETY: AVX-512 F is the level this kernel runs at; the broadcast only builds a
        // value.
        unsafe { _mm512_set1_ps(x) }
    }
    #[inline(always)]
    fn value(l: __m512) -> f32 {
        // SAFETY: as in `local`; every lane holds the value.
        unsafe { _mm512_cvtss_f32(l) }
    }
    #[inline(always)]
    unsafe fn vector<const REV: bool, const EXCL: bool>(
        v: &mut [f32; W],
        hi: f32,
        lo: f32,
        local: &mut __m512,
        before: f32,
    ) {
        // SAFETY: the caller runs this at the AVX-512 level, which has AVX2.
        unsafe {
            let mut l = _mm512_castps512_ps256(*local);
            avx2_f32_vector::<REV, EXCL>(v, hi, lo, &mut l, before);
            *local = _mm512_broadcastss_ps(_mm256_castps256_ps128(l));
        }
    }
    #[inline(always)]
    unsafe fn pair<const REV: bool, const EXCL: bool>(
        v: &mut [f32; 2 * W],
        hi: f32,
        lo: f32,
        local: &mut __m512,
        before: f32,
    ) {
        // SAFETY: the caller runs this at the AVX-512 level.
        unsafe { sum_pair::<REV, EXCL>(v, hi, lo, local, before) }
    }
}

#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512dq")]
#[inline]
unsafe fn sum_pair<const REV: bool, const EXCL: bool>(
    v: &mut [f32; 2 * W],
    hi: f32,
    lo: f32,
    local: &mut __m512,
    before: f32,
) {
    // SAFETY: `v` is sixteen floats; unaligned loads and stores.
    let x = unsafe { _mm512_loadu_ps(v.as_ptr()) };
    let (p, first, last) = tree::<SUM, REV>(x, _mm512_set1_ps(-0.0));
    // The local sum after the first vector, which the second one starts from.
    let mid = _mm512_add_ps(*local, first);
    let l = _mm512_add_ps(_mm512_mask_blend_ps(second(REV), *local, mid), p);
    let q = if EXCL {
        shift::<REV, true>(l, _mm512_set1_ps(before))
    } else {
        l
    };
    let out = _mm512_add_ps(_mm512_set1_ps(hi), _mm512_add_ps(_mm512_set1_ps(lo), q));
    // SAFETY: as for the load.
    unsafe { _mm512_storeu_ps(v.as_mut_ptr(), out) };
    *local = _mm512_add_ps(mid, last);
}

/// [`TreeOps`] for float32 max, min and product with AVX-512: pairs as above, a vector alone
/// through the AVX2 kernel.
macro_rules! f32_tree_ops {
    ($m:ty, $op:expr) => {
        impl TreeOps<f32, $m> for Avx512F32 {
            type Carry = __m512;
            const PAIRS: bool = true;
            #[inline(always)]
            fn carry(x: f32) -> __m512 {
                <Avx512F32 as GrainOps<f32>>::local(x)
            }
            #[inline(always)]
            fn value(c: __m512) -> f32 {
                <Avx512F32 as GrainOps<f32>>::value(c)
            }
            #[inline(always)]
            unsafe fn vector<const REV: bool, const EXCL: bool>(
                v: &mut [f32; W],
                carry: Option<__m512>,
            ) -> __m512 {
                // SAFETY: the caller runs this at the AVX-512 level, which has AVX2.
                unsafe {
                    let c = carry.map(|c| _mm512_castps512_ps256(c));
                    let c = avx2_f32_tree::<{ $op }, REV, EXCL>(v, c);
                    _mm512_broadcastss_ps(_mm256_castps256_ps128(c))
                }
            }
            #[inline(always)]
            unsafe fn pair<const REV: bool, const EXCL: bool>(
                v: &mut [f32; 2 * W],
                carry: __m512,
            ) -> __m512 {
                // SAFETY: the caller runs this at the AVX-512 level.
                unsafe { tree_pair::<{ $op }, REV, EXCL>(v, carry) }
            }
        }
    };
}

f32_tree_ops!(Max, MAX);
f32_tree_ops!(Min, MIN);
f32_tree_ops!(Mul, tree_op::PROD);

#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512dq")]
#[inline]
unsafe fn tree_pair<const OP: u8, const REV: bool, const EXCL: bool>(
    v: &mut [f32; 2 * W],
    carry: __m512,
) -> __m512 {
    let f = combine::<OP>;
    let id = _mm512_set1_ps(f32_identity(OP));
    // SAFETY: `v` is sixteen floats; unaligned loads and stores.
    let x = unsafe { _mm512_loadu_ps(v.as_ptr()) };
    let (p, first, last) = tree::<OP, REV>(x, id);
    // Each vector's exclusive prefix starts with the identity, as in the AVX2 kernel.
    let q = if EXCL { shift::<REV, false>(p, id) } else { p };
    let mid = f(carry, first);
    // SAFETY: as for the load.
    unsafe {
        _mm512_storeu_ps(
            v.as_mut_ptr(),
            f(_mm512_mask_blend_ps(second(REV), carry, mid), q),
        )
    };
    f(mid, last)
}

/// [`TreeOps`] for int64 and uint64 sums, products, maxima and minima with AVX-512: one
/// vector of eight lanes in a register, scanned by three shifts across it. These are exact in
/// any order, so the tree's order is free.
pub(crate) struct Avx512I64;

macro_rules! i64_tree_ops {
    ($t:ty, $m:ty, $op:expr) => {
        impl TreeOps<$t, $m> for Avx512I64 {
            type Carry = __m512i;
            #[inline(always)]
            fn carry(x: $t) -> __m512i {
                // SAFETY: AVX-512 F is the level this kernel runs at; the broadcast only
                // builds a value.
                unsafe { _mm512_set1_epi64(x as i64) }
            }
            #[inline(always)]
            fn value(c: __m512i) -> $t {
                // SAFETY: as in `carry`; every lane holds the value.
                unsafe { _mm_cvtsi128_si64(_mm512_castsi512_si128(c)) as $t }
            }
            #[inline(always)]
            unsafe fn vector<const REV: bool, const EXCL: bool>(
                v: &mut [$t; W],
                carry: Option<__m512i>,
            ) -> __m512i {
                let v = bytemuck::cast_mut::<[$t; W], [i64; W]>(v);
                let id = <$m as crate::op::Monoid<$t>>::identity() as i64;
                // SAFETY: the caller runs this at the AVX-512 level.
                unsafe { i64_tree::<{ $op }, { <$t>::MIN == 0 }, REV, EXCL>(v, id, carry) }
            }
        }
    };
}

i64_tree_ops!(i64, Add, SUM);
i64_tree_ops!(u64, Add, SUM);
i64_tree_ops!(i64, Mul, tree_op::PROD);
i64_tree_ops!(u64, Mul, tree_op::PROD);
i64_tree_ops!(i64, Max, MAX);
i64_tree_ops!(u64, Max, MAX);
i64_tree_ops!(i64, Min, MIN);
i64_tree_ops!(u64, Min, MIN);

/// `a` and `b` combined lane by lane by `OP` (a [`tree_op`]), as int64 (as uint64 where
/// `UNSIGNED`: only the order differs; sums and products wrap with the same bits).
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512dq")]
#[inline]
fn combine_i64<const OP: u8, const UNSIGNED: bool>(a: __m512i, b: __m512i) -> __m512i {
    match (OP, UNSIGNED) {
        (SUM, _) => _mm512_add_epi64(a, b),
        (MAX, false) => _mm512_max_epi64(a, b),
        (MAX, true) => _mm512_max_epu64(a, b),
        (MIN, false) => _mm512_min_epi64(a, b),
        (MIN, true) => _mm512_min_epu64(a, b),
        _ => _mm512_mullo_epi64(a, b),
    }
}

#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512dq")]
#[inline]
unsafe fn i64_tree<const OP: u8, const UNSIGNED: bool, const REV: bool, const EXCL: bool>(
    v: &mut [i64; W],
    id: i64,
    carry: Option<__m512i>,
) -> __m512i {
    let f = combine_i64::<OP, UNSIGNED>;
    let id = _mm512_set1_epi64(id);
    // SAFETY: `v` is eight int64s; unaligned loads and stores.
    let x = unsafe { _mm512_loadu_si512(v.as_ptr().cast()) };
    // Each step combines the lanes 1, 2, then 4 before (after, in reverse), the identity
    // shifted in; an exclusive scan shifts the prefix one lane further.
    let (p, q, last) = if REV {
        let p = f(x, _mm512_alignr_epi64(id, x, 1));
        let p = f(p, _mm512_alignr_epi64(id, p, 2));
        let p = f(p, _mm512_alignr_epi64(id, p, 4));
        (p, _mm512_alignr_epi64(id, p, 1), 0)
    } else {
        let p = f(x, _mm512_alignr_epi64(x, id, 7));
        let p = f(p, _mm512_alignr_epi64(p, id, 6));
        let p = f(p, _mm512_alignr_epi64(p, id, 4));
        (p, _mm512_alignr_epi64(p, id, 7), 7)
    };
    let total = _mm512_permutexvar_epi64(_mm512_set1_epi64(last), p);
    // Without a carry the identity stands in; it is also an exclusive scan's first value.
    let c = carry.unwrap_or(id);
    let o = f(c, if EXCL { q } else { p });
    // SAFETY: as for the load.
    unsafe { _mm512_storeu_si512(v.as_mut_ptr().cast(), o) };
    f(c, total)
}
