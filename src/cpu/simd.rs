//! In-register prefix scans: each vector of [`W`] elements is scanned as a tree of log2 W
//! shift-and-combine steps, then combined with one carry, the running value of everything
//! before it, so the loop-carried chain is one combine per vector instead of one per element.
//!
//! The logical width is fixed at eight elements whatever the machine's registers hold, so the
//! tree, and every float's bits, are the same at every instruction-set level: one generic body
//! is compiled once per level (`#[target_feature]`) and chosen at run time. Float sums take a
//! compensated carry: the running total as an unevaluated sum `hi + lo`, `lo` collecting the
//! rounding error of every carry step (Knuth's two-sum), so a prefix is off by the in-vector
//! tree's few roundings and one final rounding, not by one rounding per element before it.

use std::marker::PhantomData;
use std::sync::OnceLock;

use crate::dtype::Element;
use crate::op::Monoid;

/// Elements per vector. Eight float32 fill an AVX2 register (two SSE2 or NEON registers);
/// wider types take two registers, narrower ones half of one. Fixed so that the tree does not
/// depend on the level.
pub(crate) const W: usize = 8;

/// An instruction-set level the kernels are compiled for. AVX-512 machines take the AVX2
/// kernel: with the width fixed for determinism, 512-bit registers would only halve the
/// register count of a loop already bound by memory.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub(crate) enum Level {
    /// The target's baseline: SSE2 on x86-64, NEON on aarch64 (where NEON is baseline).
    Portable,
    /// AVX2 on x86-64, detected at run time.
    #[cfg(target_arch = "x86_64")]
    Avx2,
}

impl Level {
    /// The best level this CPU runs, once per process. `GPUSCAN_CPU_LEVEL=portable` (or
    /// `avx2`, where the CPU has it) overrides the detection.
    pub(crate) fn detect() -> Level {
        static LEVEL: OnceLock<Level> = OnceLock::new();
        *LEVEL.get_or_init(|| {
            let best = *Level::available().last().unwrap_or(&Level::Portable);
            match std::env::var("GPUSCAN_CPU_LEVEL").as_deref() {
                Ok("portable") => Level::Portable,
                Ok(name) => Level::available()
                    .into_iter()
                    .find(|l| l.name() == name)
                    .unwrap_or(best),
                Err(_) => best,
            }
        })
    }

    /// Every level this CPU runs, lowest first.
    pub(crate) fn available() -> Vec<Level> {
        #[allow(unused_mut)]
        let mut levels = vec![Level::Portable];
        #[cfg(target_arch = "x86_64")]
        if std::arch::is_x86_feature_detected!("avx2") {
            levels.push(Level::Avx2);
        }
        levels
    }

    /// The level's name, as `GPUSCAN_CPU_LEVEL` takes it.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Level::Portable => "portable",
            #[cfg(target_arch = "x86_64")]
            Level::Avx2 => "avx2",
        }
    }
}

/// The inclusive prefix of one vector in scan order (from the last lane down when `rev`):
/// step `s` combines every lane with the one `s` before it, the earlier value on the left.
#[inline(always)]
fn prefix<A: Element, M: Monoid<A>>(mut v: [A; W], rev: bool) -> [A; W] {
    let mut s = 1;
    while s < W {
        let p = v;
        for i in 0..W {
            if rev {
                if i + s < W {
                    v[i] = M::combine(p[i + s], p[i]);
                }
            } else if i >= s {
                v[i] = M::combine(p[i - s], p[i]);
            }
        }
        s *= 2;
    }
    v
}

/// `p` moved one lane later in scan order, `first` in the first lane: the exclusive prefix.
#[inline(always)]
fn shift<A: Copy>(p: [A; W], first: A, rev: bool) -> [A; W] {
    let mut q = [first; W];
    for i in 0..W - 1 {
        if rev {
            q[i] = p[i + 1];
        } else {
            q[i + 1] = p[i];
        }
    }
    q
}

/// The lane scanned last.
#[inline(always)]
fn last_lane(rev: bool) -> usize {
    if rev {
        0
    } else {
        W - 1
    }
}

/// What [`vectors`] does to each vector: `start` to a run's first, `step` to the others.
trait Step<A> {
    fn start(&mut self, v: &mut [A; W]);
    fn step(&mut self, v: &mut [A; W]);
}

/// Applies `s` to whole vectors in scan order (`start` first unless `started`); returns
/// whether a run has started.
#[inline(always)]
fn whole<'a, A: Copy + 'a>(
    chunks: impl Iterator<Item = &'a mut [A]>,
    s: &mut impl Step<A>,
    mut started: bool,
) -> bool {
    let mut vs = chunks.filter_map(|c| <&mut [A; W]>::try_from(c).ok());
    if !started {
        if let Some(v) = vs.next() {
            s.start(v);
            started = true;
        }
    }
    for v in vs {
        s.step(v);
    }
    started
}

/// Applies `s` to every vector of `xs` in scan order (`start` first unless `started`); a
/// short vector (the run's end) is padded with `pad` in lanes scanned after its elements,
/// which no element's prefix reads.
#[inline(always)]
fn vectors<A: Copy, const REV: bool>(xs: &mut [A], pad: A, s: &mut impl Step<A>, started: bool) {
    let n = xs.len();
    let r = n % W;
    let mut started = started;
    let each = |s: &mut _, v: &mut [A; W], started: bool| {
        if started {
            Step::step(s, v)
        } else {
            Step::start(s, v)
        }
    };
    if REV {
        let (head, body) = xs.split_at_mut(r);
        started = whole(body.rchunks_exact_mut(W), s, started);
        if r > 0 {
            let mut v = [pad; W];
            v[W - r..].copy_from_slice(head);
            each(s, &mut v, started);
            head.copy_from_slice(&v[W - r..]);
        }
    } else {
        let (body, tail) = xs.split_at_mut(n - r);
        started = whole(body.chunks_exact_mut(W), s, started);
        if r > 0 {
            let mut v = [pad; W];
            v[..r].copy_from_slice(tail);
            each(s, &mut v, started);
            tail.copy_from_slice(&v[..r]);
        }
    }
}

/// The scan of `xs` in place with a plain carry, continuing `carry` (the value of everything
/// before `xs` in scan order) or, without one, starting from the first element as numpy does.
/// Returns the carry after `xs` (the padding of a short last vector is the identity, which
/// leaves it exact).
#[inline(always)]
fn fold_body<A: Element, M: Monoid<A>>(
    xs: &mut [A],
    carry: Option<A>,
    rev: bool,
    exclusive: bool,
) -> Option<A> {
    match (rev, exclusive) {
        (false, false) => fold_dir::<A, M, false, false>(xs, carry),
        (true, false) => fold_dir::<A, M, true, false>(xs, carry),
        (false, true) => fold_dir::<A, M, false, true>(xs, carry),
        (true, true) => fold_dir::<A, M, true, true>(xs, carry),
    }
}

#[inline(always)]
fn fold_dir<A: Element, M: Monoid<A>, const REV: bool, const EXCL: bool>(
    xs: &mut [A],
    carry: Option<A>,
) -> Option<A> {
    struct S<A, M, const REV: bool, const EXCL: bool>(A, PhantomData<M>);
    impl<A: Element, M: Monoid<A>, const REV: bool, const EXCL: bool> Step<A> for S<A, M, REV, EXCL> {
        #[inline(always)]
        fn start(&mut self, v: &mut [A; W]) {
            let p = prefix::<A, M>(*v, REV);
            *v = if EXCL { shift(p, M::empty(), REV) } else { p };
            self.0 = p[last_lane(REV)];
        }
        #[inline(always)]
        fn step(&mut self, v: &mut [A; W]) {
            let c = self.0;
            let p = prefix::<A, M>(*v, REV);
            let q = if EXCL {
                shift(p, M::identity(), REV)
            } else {
                p
            };
            *v = q.map(|x| M::combine(c, x));
            self.0 = M::combine(c, p[last_lane(REV)]);
        }
    }
    if xs.is_empty() {
        return carry;
    }
    let mut s = S::<A, M, REV, EXCL>(carry.unwrap_or_else(M::identity), PhantomData);
    vectors::<A, REV>(xs, M::identity(), &mut s, carry.is_some());
    Some(s.0)
}

/// A float the compensated sum runs on.
pub(crate) trait Float:
    Element + std::ops::Add<Output = Self> + std::ops::Sub<Output = Self> + std::ops::Neg<Output = Self>
{
    /// -0.0: the identity of addition, bit for bit.
    const NEG_ZERO: Self;
    /// Neither infinite nor NaN.
    fn finite(self) -> bool;
}

impl Float for f32 {
    const NEG_ZERO: f32 = -0.0;
    #[inline(always)]
    fn finite(self) -> bool {
        self.is_finite()
    }
}

impl Float for f64 {
    const NEG_ZERO: f64 = -0.0;
    #[inline(always)]
    fn finite(self) -> bool {
        self.is_finite()
    }
}

/// A compensated running total: `hi + lo`, with `hi` the rounded total and `lo` the sum of
/// the rounding errors of the carries into it.
#[derive(Copy, Clone, Debug, PartialEq)]
pub(crate) struct Comp<F> {
    pub(crate) hi: F,
    pub(crate) lo: F,
}

/// [`fold_body`] for float sums with a compensated carry: every element is `hi + (lo + p)`
/// for its in-vector prefix `p`, and the carry steps by two-sum. The error term of an
/// infinite or NaN step is dropped (it would be NaN and poison the rest), and a zero error is
/// -0.0, so that a run of -0.0 stays -0.0 as in numpy's loop.
#[inline(always)]
fn comp_body<F: Float>(
    xs: &mut [F],
    carry: Option<Comp<F>>,
    rev: bool,
    exclusive: bool,
) -> Option<Comp<F>> {
    match (rev, exclusive) {
        (false, false) => comp_dir::<F, false, false>(xs, carry),
        (true, false) => comp_dir::<F, true, false>(xs, carry),
        (false, true) => comp_dir::<F, false, true>(xs, carry),
        (true, true) => comp_dir::<F, true, true>(xs, carry),
    }
}

#[inline(always)]
fn comp_dir<F: Float, const REV: bool, const EXCL: bool>(
    xs: &mut [F],
    carry: Option<Comp<F>>,
) -> Option<Comp<F>> {
    struct S<F, const REV: bool, const EXCL: bool>(Comp<F>);
    impl<F: Float, const REV: bool, const EXCL: bool> Step<F> for S<F, REV, EXCL> {
        #[inline(always)]
        fn start(&mut self, v: &mut [F; W]) {
            let p = prefix::<F, crate::op::Add>(*v, REV);
            // The exclusive scan's first value is +0.0, numpy's initial value.
            *v = if EXCL { shift(p, -F::NEG_ZERO, REV) } else { p };
            self.0 = Comp {
                hi: p[last_lane(REV)],
                lo: F::NEG_ZERO,
            };
        }
        #[inline(always)]
        fn step(&mut self, v: &mut [F; W]) {
            let zero = F::NEG_ZERO;
            let Comp { hi, lo } = self.0;
            let p = prefix::<F, crate::op::Add>(*v, REV);
            let t = p[last_lane(REV)];
            let q = if EXCL { shift(p, zero, REV) } else { p };
            *v = q.map(|x| hi + (lo + x));
            let s = hi + t;
            let b = s - hi;
            let e = (hi - (s - b)) + (t - b);
            let e = if e != zero && e.finite() { e } else { zero };
            self.0 = Comp { hi: s, lo: lo + e };
        }
    }
    if xs.is_empty() {
        return carry;
    }
    let zero = F::NEG_ZERO;
    let mut s = S::<F, REV, EXCL>(carry.unwrap_or(Comp { hi: zero, lo: zero }));
    vectors::<F, REV>(xs, zero, &mut s, carry.is_some());
    Some(s.0)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn fold_avx2<A: Element, M: Monoid<A>>(
    xs: &mut [A],
    carry: Option<A>,
    rev: bool,
    exclusive: bool,
) -> Option<A> {
    fold_body::<A, M>(xs, carry, rev, exclusive)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn comp_avx2<F: Float>(
    xs: &mut [F],
    carry: Option<Comp<F>>,
    rev: bool,
    exclusive: bool,
) -> Option<Comp<F>> {
    comp_body(xs, carry, rev, exclusive)
}

/// The scan of `xs` in place with one carry per vector, at `level` (see [`fold_body`]).
pub(crate) fn fold<A: Element, M: Monoid<A>>(
    level: Level,
    xs: &mut [A],
    carry: Option<A>,
    rev: bool,
    exclusive: bool,
) -> Option<A> {
    match level {
        Level::Portable => fold_body::<A, M>(xs, carry, rev, exclusive),
        // SAFETY: `Level::Avx2` is only made where the CPU has AVX2 (`Level::available`).
        #[cfg(target_arch = "x86_64")]
        Level::Avx2 => unsafe { fold_avx2::<A, M>(xs, carry, rev, exclusive) },
    }
}

/// The float sum of `xs` in place with a compensated carry, at `level` (see [`comp_body`]).
pub(crate) fn comp<F: Float>(
    level: Level,
    xs: &mut [F],
    carry: Option<Comp<F>>,
    rev: bool,
    exclusive: bool,
) -> Option<Comp<F>> {
    match level {
        Level::Portable => comp_body(xs, carry, rev, exclusive),
        // SAFETY: as in `fold`.
        #[cfg(target_arch = "x86_64")]
        Level::Avx2 => unsafe { comp_avx2(xs, carry, rev, exclusive) },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::op::{Add, Max, Min, Mul};

    /// The plain sequential scan of `xs` in scan order, continuing `carry`.
    fn scalar<A: Element, M: Monoid<A>>(
        xs: &[A],
        carry: Option<A>,
        rev: bool,
        exclusive: bool,
    ) -> (Vec<A>, Option<A>) {
        let mut out = xs.to_vec();
        let idx: Vec<usize> = if rev {
            (0..xs.len()).rev().collect()
        } else {
            (0..xs.len()).collect()
        };
        let mut acc = carry;
        for i in idx {
            let next = acc.map_or(xs[i], |a| M::combine(a, xs[i]));
            out[i] = if exclusive {
                acc.unwrap_or_else(M::empty)
            } else {
                next
            };
            acc = Some(next);
        }
        (out, acc)
    }

    /// Pseudo-random values of every kind an operation meets, NaN and signed zeros included
    /// for floats.
    fn values<A: Element>(n: usize, seed: u64) -> Vec<A> {
        let mut s = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
        (0..n)
            .map(|_| {
                s ^= s << 13;
                s ^= s >> 7;
                s ^= s << 17;
                let k = (s >> 40) as i64;
                let v = match k % 16 {
                    0 if A::DTYPE.is_float() => crate::dtype::Scalar::Float(f64::NAN),
                    1 if A::DTYPE.is_float() => crate::dtype::Scalar::Float(-0.0),
                    2 => crate::dtype::Scalar::Int(0),
                    _ => crate::dtype::Scalar::Int(k % 7 - 3),
                };
                A::from_scalar(v)
            })
            .collect()
    }

    fn same<A: Element>(a: &[A], b: &[A]) -> bool {
        // Bits, through the scalar (NaN equal to NaN; signed zeros apart).
        let key = |x: &A| match x.to_scalar() {
            crate::dtype::Scalar::Float(f) if f.is_nan() => u64::MAX,
            crate::dtype::Scalar::Float(f) => f.to_bits(),
            crate::dtype::Scalar::Int(i) => i as u64,
            crate::dtype::Scalar::UInt(u) => u,
            crate::dtype::Scalar::Bool(b) => b as u64,
        };
        a.len() == b.len() && a.iter().zip(b).all(|(x, y)| key(x) == key(y))
    }

    /// Every length up to four vectors plus a tail, at every start offset within a vector,
    /// forward and reverse, inclusive and exclusive, with and without a carry: `kernel` at
    /// every level gives the scalar fold's bits (NaN as NaN) and carries its value on.
    fn check<A: Element, M: Monoid<A>, C: Copy + std::fmt::Debug>(
        name: &str,
        data: &[A],
        kernel: impl Fn(Level, &mut [A], Option<C>, bool, bool) -> Option<C>,
        carry_of: impl Fn(A) -> C,
        value_of: impl Fn(C) -> A,
    ) {
        for level in Level::available() {
            for start in 0..W {
                for len in 0..=4 * W + 3 {
                    let xs = &data[start..start + len];
                    for (rev, excl) in [(false, false), (true, false), (false, true), (true, true)]
                    {
                        for carry in [None, Some(data[data.len() - 1])] {
                            let (want, want_c) = scalar::<A, M>(xs, carry, rev, excl);
                            let mut got = xs.to_vec();
                            let got_c = kernel(level, &mut got, carry.map(&carry_of), rev, excl)
                                .map(&value_of);
                            let ok = same(&got, &want)
                                && same(
                                    &got_c.into_iter().collect::<Vec<_>>(),
                                    &want_c.into_iter().collect::<Vec<_>>(),
                                );
                            assert!(
                                ok,
                                "{name} {level:?} start {start} len {len} rev {rev} \
                                 exclusive {excl} carry {carry:?}: {got:?} != {want:?}"
                            );
                        }
                    }
                }
            }
        }
    }

    /// Exact combines (integers, bool, max and min) on values of every kind.
    fn exact_case<A: Element, M: Monoid<A>>(name: &str) {
        let data = values::<A>(5 * W + 3, 7);
        check::<A, M, A>(name, &data, fold::<A, M>, |c| c, |c| c);
    }

    macro_rules! exact {
        ($($t:ty),*) => {$(
            exact_case::<$t, Add>(concat!(stringify!($t), " sum"));
            exact_case::<$t, Mul>(concat!(stringify!($t), " prod"));
            exact_case::<$t, Max>(concat!(stringify!($t), " max"));
            exact_case::<$t, Min>(concat!(stringify!($t), " min"));
        )*};
    }

    #[test]
    fn exact_kernels_match_the_scalar_fold() {
        exact!(bool, i8, i16, i32, i64, u8, u16, u32, u64);
        exact_case::<f32, Max>("f32 max");
        exact_case::<f32, Min>("f32 min");
        exact_case::<f64, Max>("f64 max");
        exact_case::<f64, Min>("f64 min");
    }

    /// Values whose sums (multiples of 1/8, small) or products (signed powers of two) are
    /// exact in any order, with the special values mixed in: there, a float scan in any order
    /// must give the sequential fold's bits.
    fn exact_floats<F: Float>(n: usize, products: bool, seed: u64) -> Vec<F> {
        let ints = values::<i64>(n, seed);
        ints.iter()
            .enumerate()
            .map(|(i, &k)| {
                let v = match (i * 7 + seed as usize) % 23 {
                    0 => f64::INFINITY,
                    1 => f64::NEG_INFINITY,
                    2 => f64::NAN,
                    3 => -0.0,
                    _ if products => (if k < 0 { -1.0 } else { 1.0 }) * 2f64.powi(k as i32 % 3),
                    _ => k as f64 / 8.0,
                };
                F::from_scalar(crate::dtype::Scalar::Float(v))
            })
            .collect()
    }

    /// The compensated sum and the vector product of floats, against the scalar fold.
    fn float_case<F: Float>(name: &str) {
        for seed in [3, 11] {
            let sums = exact_floats::<F>(5 * W + 3, false, seed);
            let comp_of = |c: F| Comp {
                hi: c,
                lo: F::NEG_ZERO,
            };
            check::<F, Add, Comp<F>>(name, &sums, comp::<F>, comp_of, |c| c.hi + c.lo);
            let prods = exact_floats::<F>(5 * W + 3, true, seed);
            check::<F, Mul, F>(name, &prods, fold::<F, Mul>, |c| c, |c| c);
        }
        // A run of -0.0 sums to -0.0, as numpy's loop does.
        for len in 1..3 * W {
            let mut v = vec![F::NEG_ZERO; len];
            comp(Level::detect(), &mut v, None, false, false);
            assert!(same(&v, &vec![F::NEG_ZERO; len]), "{name}: -0.0 * {len}");
        }
    }

    #[test]
    fn float_kernels_match_the_scalar_fold() {
        float_case::<f32>("f32");
        float_case::<f64>("f64");
    }
}
