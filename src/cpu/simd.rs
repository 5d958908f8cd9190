//! In-register prefix scans: each vector of [`W`] elements is scanned as a tree of log2 W
//! shift-and-combine steps, then combined with one carry, the running value of everything
//! before it, so the loop-carried chain is one combine per vector instead of one per element.
//! The tree scans each half of the vector (four lanes, two steps), then adds the first half's
//! total to the second: every step is a shuffle within 128 bits or a broadcast, cheaper than
//! shifting the whole register at each step.
//!
//! The logical width is fixed at eight elements whatever the machine's registers hold, so the
//! tree, and every float's bits, are the same at every instruction-set level: one generic body
//! is compiled once per level (`#[target_feature]`) and chosen at run time. Float sums take a
//! compensated carry: the running total as an unevaluated sum `hi + lo`, `lo` collecting the
//! rounding error of every carry step (Knuth's two-sum), so a prefix is off by a few roundings
//! of a short local sum and one final rounding, not by one rounding per element before it.
//! The compensated step is taken once per [`GRAIN`] elements: within a grain the vectors
//! carry a plain local sum, whose error is bounded by the grain's length, not the run's.

use std::marker::PhantomData;
use std::mem::MaybeUninit;
use std::sync::OnceLock;

use crate::dtype::Element;
use crate::op::{Add, Max, Min, Monoid, Mul};

#[cfg(target_arch = "x86_64")]
mod avx512;
#[cfg(target_arch = "x86_64")]
use self::avx512::{Avx512F32, Avx512I64};

/// Elements per vector. Eight float32 fill an AVX2 register (two SSE2 or NEON registers);
/// wider types take two registers, narrower ones half of one. Fixed so that the tree does not
/// depend on the level.
pub(crate) const W: usize = 8;
/// Elements per compensated carry step: sixteen vectors, so that the step's scalar two-sum
/// and its checks for a finite error are spread over 128 elements (a float32 scan in the
/// first-level cache ran 1.3 times as fast as with grains of 32, its error on uniform data
/// still about one rounding). A run cut into pieces is cut a whole number of grains from its
/// start, so that the grains, and a float sum's bits, do not depend on the cuts.
pub(crate) const GRAIN: usize = 16 * W;

/// An instruction-set level the kernels are compiled for.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub(crate) enum Level {
    /// The target's baseline: SSE2 on x86-64, NEON on aarch64 (where NEON is baseline).
    Portable,
    /// AVX2 (with F16C, which every AVX2 CPU has) on x86-64, detected at run time.
    #[cfg(target_arch = "x86_64")]
    Avx2,
    /// AVX-512 (F, BW, DQ and VL, with AVX2 and F16C) on x86-64, detected at run time. The tree
    /// stays eight lanes wide: a 512-bit register holds two vectors of the tree side by side
    /// (float32), or one vector of eight (int64).
    #[cfg(target_arch = "x86_64")]
    Avx512,
}

impl Level {
    /// The best level this CPU runs, once per process. `GPUSCAN_CPU_LEVEL=portable` (or
    /// `avx2` or `avx512`, where the CPU has it) overrides the detection.
    pub(crate) fn detect() -> Level {
        static LEVEL: OnceLock<Level> = OnceLock::new();
        *LEVEL.get_or_init(|| {
            let best = *Level::available().last().unwrap_or(&Level::Portable);
            match std::env::var("GPUSCAN_CPU_LEVEL").as_deref() {
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
        {
            use std::arch::is_x86_feature_detected as has;
            if has!("avx2") && has!("f16c") {
                levels.push(Level::Avx2);
                if has!("avx512f") && has!("avx512bw") && has!("avx512vl") && has!("avx512dq") {
                    levels.push(Level::Avx512);
                }
            }
        }
        levels
    }

    /// The level's name, as `GPUSCAN_CPU_LEVEL` takes it.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Level::Portable => "portable",
            #[cfg(target_arch = "x86_64")]
            Level::Avx2 => "avx2",
            #[cfg(target_arch = "x86_64")]
            Level::Avx512 => "avx512",
        }
    }
}

/// `f(a[i], b[i])` for every lane.
#[inline(always)]
fn zip<A: Copy>(a: [A; W], b: [A; W], f: impl Fn(A, A) -> A) -> [A; W] {
    let mut o = a;
    for i in 0..W {
        o[i] = f(a[i], b[i]);
    }
    o
}

/// The inclusive prefix of one vector in scan order (from the last lane down when `rev`):
/// within each half, step `s` combines every lane with the one `s` before it (the identity
/// where there is none); then the second half takes the first half's total. The earlier
/// value is always on the left. Spelled out lane by lane: written as loops over lane
/// indices, the steps compile to single-lane moves instead of shuffles.
#[inline(always)]
fn prefix<A: Element, M: Monoid<A>>(v: [A; W], rev: bool) -> [A; W] {
    prefix_by(v, rev, M::identity(), M::combine)
}

/// [`prefix`] with identity `i` and combine `f`.
#[inline(always)]
fn prefix_by<A: Copy>(v: [A; W], rev: bool, i: A, f: impl Fn(A, A) -> A + Copy) -> [A; W] {
    let step = |q: [A; W], v: [A; W]| zip(q, v, f);
    if rev {
        let v = step([v[1], v[2], v[3], i, v[5], v[6], v[7], i], v);
        let v = step([v[2], v[3], i, i, v[6], v[7], i, i], v);
        step([v[4], v[4], v[4], v[4], i, i, i, i], v)
    } else {
        let v = step([i, v[0], v[1], v[2], i, v[4], v[5], v[6]], v);
        let v = step([i, i, v[0], v[1], i, i, v[4], v[5]], v);
        step([i, i, i, i, v[3], v[3], v[3], v[3]], v)
    }
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
    /// Whether [`vectors`] hands two vectors at a time to `pair`, once a run has started.
    const PAIRS: bool = false;
    fn start(&mut self, v: &mut [A; W]);
    fn step(&mut self, v: &mut [A; W]);
    /// Two vectors side by side in memory, the one at the higher address second in memory
    /// and, when `rev`, first in scan order: `step` to each in scan order, unless the kernel
    /// takes both at once (with the same bits).
    #[inline(always)]
    fn pair(&mut self, v: &mut [A; 2 * W], rev: bool) {
        let (first, second) = in_scan_order(v, rev);
        self.step(first);
        self.step(second);
    }
}

/// The two vectors of a pair, the one scanned first (the higher address when `rev`) first.
#[inline(always)]
fn in_scan_order<A>(v: &mut [A; 2 * W], rev: bool) -> (&mut [A; W], &mut [A; W]) {
    let (lo, hi) = v.split_at_mut(W);
    let lo: &mut [A; W] = lo.try_into().expect("a pair's half is a vector");
    let hi: &mut [A; W] = hi.try_into().expect("a pair's half is a vector");
    if rev {
        (hi, lo)
    } else {
        (lo, hi)
    }
}

/// `s.start(v)` or, once a run has started, `s.step(v)`. (Kernels avoid closures: a closure
/// is compiled at the baseline level, not inside its caller's `#[target_feature]`.)
#[inline(always)]
fn each<A>(s: &mut impl Step<A>, v: &mut [A; W], started: bool) {
    if started {
        s.step(v)
    } else {
        s.start(v)
    }
}

/// Where a kernel reads its elements and writes its results: the output itself (a scan in
/// place), or a separate input of the same length (the output may then start uninitialised;
/// every element of it is written).
pub(crate) struct Io<'a, A> {
    dst: &'a mut [MaybeUninit<A>],
    src: Option<&'a [A]>,
}

impl<'a, A: Copy> Io<'a, A> {
    /// A scan of `xs` in place.
    pub(crate) fn in_place(xs: &'a mut [A]) -> Self {
        // SAFETY: kernels write only values through an `Io`.
        let dst = unsafe { crate::alloc::as_slots(xs) };
        Io { dst, src: None }
    }

    /// A scan of `src` into `dst`.
    pub(crate) fn from(src: &'a [A], dst: &'a mut [MaybeUninit<A>]) -> Self {
        assert_eq!(
            src.len(),
            dst.len(),
            "a kernel's input and output differ in length"
        );
        Io {
            dst,
            src: Some(src),
        }
    }

    fn len(&self) -> usize {
        self.dst.len()
    }

    /// `self` as an `Io` of `F`, when `A` is `F`; else `self` back.
    pub(crate) fn cast<F: 'static>(self) -> Result<Io<'a, F>, Self>
    where
        A: 'static,
    {
        if std::any::TypeId::of::<A>() != std::any::TypeId::of::<F>() {
            return Err(self);
        }
        // SAFETY: `A` and `F` are the same type, so both slices are reinterpreted as
        // themselves.
        let dst = unsafe { &mut *(self.dst as *mut [MaybeUninit<A>] as *mut [MaybeUninit<F>]) };
        let src = self
            .src
            .map(|s| unsafe { &*(s as *const [A] as *const [F]) });
        Ok(Io { dst, src })
    }

    /// Elements `at..at + len`.
    #[inline(always)]
    fn sub(&mut self, at: usize, len: usize) -> Io<'_, A> {
        Io {
            dst: &mut self.dst[at..at + len],
            src: match self.src {
                Some(s) => Some(&s[at..at + len]),
                None => None,
            },
        }
    }

    /// Elements `at..at + len` (at most `N`) as `N` lanes, padded with `pad` in the lanes
    /// scanned after them.
    #[inline(always)]
    fn load<const N: usize>(&self, at: usize, len: usize, pad: A, rev: bool) -> [A; N] {
        let mut v = [pad; N];
        let lanes = if rev {
            &mut v[N - len..]
        } else {
            &mut v[..len]
        };
        match self.src {
            Some(s) => lanes.copy_from_slice(&s[at..at + len]),
            None => {
                let d = &self.dst[at..at + len];
                // SAFETY: without a separate input the output holds the input: it was made
                // by `in_place` from initialised elements, and kernels write only values.
                lanes.copy_from_slice(unsafe { &*(d as *const [MaybeUninit<A>] as *const [A]) })
            }
        }
        v
    }

    /// The lanes of `v` that [`Io::load`] filled, back into elements `at..at + len`.
    #[inline(always)]
    fn store<const N: usize>(&mut self, at: usize, len: usize, v: &[A; N], rev: bool) {
        let lanes = if rev { &v[N - len..] } else { &v[..len] };
        let d = &mut self.dst[at..at + len];
        // SAFETY: `d` and `lanes` are `len` elements each and do not overlap (`v` is a
        // value); writing initialises the slots.
        unsafe { std::ptr::copy_nonoverlapping(lanes.as_ptr(), d.as_mut_ptr().cast::<A>(), len) }
    }
}

/// Applies `s` to every vector of `io` in scan order (`start` first unless `started`; pairs
/// of vectors to `s.pair` after that, where `s` takes them); a short vector (the run's end) is
/// padded with `pad` in lanes scanned after its elements, which no element's prefix reads.
#[inline(always)]
fn vectors<A: Copy, S: Step<A>, const REV: bool>(
    io: &mut Io<'_, A>,
    pad: A,
    s: &mut S,
    mut started: bool,
) {
    let n = io.len();
    let full = n / W;
    let mut k = 0;
    while k < full {
        if S::PAIRS && started && k + 2 <= full {
            let at = if REV { n - (k + 2) * W } else { k * W };
            let mut v = io.load::<{ 2 * W }>(at, 2 * W, pad, REV);
            s.pair(&mut v, REV);
            io.store(at, 2 * W, &v, REV);
            k += 2;
            continue;
        }
        let at = if REV { n - (k + 1) * W } else { k * W };
        let mut v = io.load::<W>(at, W, pad, REV);
        each(s, &mut v, started);
        started = true;
        io.store(at, W, &v, REV);
        k += 1;
    }
    let r = n % W;
    if r > 0 {
        let at = if REV { 0 } else { n - r };
        let mut v = io.load::<W>(at, r, pad, REV);
        each(s, &mut v, started);
        io.store(at, r, &v, REV);
    }
}

/// The scan of `io` with a plain carry, continuing `carry` (the value of everything before
/// it in scan order) or, without one, starting from the first element as numpy does; each
/// vector as `K` scans it. Returns the carry after `xs` (the padding of a short last vector
/// is the identity, which leaves it exact).
#[inline(always)]
fn fold_body<A: Element, M: Monoid<A>, K: TreeOps<A, M>>(
    xs: Io<'_, A>,
    carry: Option<A>,
    rev: bool,
    exclusive: bool,
) -> Option<A> {
    match (rev, exclusive) {
        (false, false) => fold_dir::<A, M, K, false, false>(xs, carry),
        (true, false) => fold_dir::<A, M, K, true, false>(xs, carry),
        (false, true) => fold_dir::<A, M, K, false, true>(xs, carry),
        (true, true) => fold_dir::<A, M, K, true, true>(xs, carry),
    }
}

/// How [`fold_body`] scans one vector: lane by lane (the portable form, which the compiler
/// vectorises), or with an instruction set's own shuffles. All give the same bits: the same
/// combines in the same order, or, for integer sums (exact), in an order of their own.
pub(crate) trait TreeOps<A: Element, M: Monoid<A>> {
    /// The carry as the kernel holds it (a broadcast register: then the loop-carried chain
    /// is one combine per vector, with no move between register files).
    type Carry: Copy;
    fn carry(x: A) -> Self::Carry;
    fn value(c: Self::Carry) -> A;
    /// `v` scanned with `M::ordered` after `carry` (none: the run's first vector, whose
    /// exclusive scan starts with `M::empty()`); returns the carry after `v`.
    ///
    /// # Safety
    /// The CPU runs the kernel's instruction set.
    unsafe fn vector<const REV: bool, const EXCL: bool>(
        v: &mut [A; W],
        carry: Option<Self::Carry>,
    ) -> Self::Carry;
    /// Whether the kernel scans two vectors at once (`pair`).
    const PAIRS: bool = false;
    /// Two vectors side by side in memory (as [`Step::pair`] takes them) after `carry`, with
    /// the bits of `vector` on each in scan order; returns the carry after both.
    ///
    /// # Safety
    /// As for `vector`.
    #[inline(always)]
    unsafe fn pair<const REV: bool, const EXCL: bool>(
        v: &mut [A; 2 * W],
        carry: Self::Carry,
    ) -> Self::Carry {
        let (first, second) = in_scan_order(v, REV);
        // SAFETY: the caller's.
        unsafe {
            let c = Self::vector::<REV, EXCL>(first, Some(carry));
            Self::vector::<REV, EXCL>(second, Some(c))
        }
    }
}

impl<A: Element, M: Monoid<A>> TreeOps<A, M> for LaneByLane {
    type Carry = A;
    #[inline(always)]
    fn carry(x: A) -> A {
        x
    }
    #[inline(always)]
    fn value(c: A) -> A {
        c
    }
    #[inline(always)]
    unsafe fn vector<const REV: bool, const EXCL: bool>(v: &mut [A; W], carry: Option<A>) -> A {
        let p = prefix_by(*v, REV, M::identity(), M::ordered);
        let last = p[last_lane(REV)];
        let Some(c) = carry else {
            *v = if EXCL { shift(p, M::empty(), REV) } else { p };
            return last;
        };
        let q = if EXCL {
            shift(p, M::identity(), REV)
        } else {
            p
        };
        *v = zip([c; W], q, M::ordered);
        M::ordered(c, last)
    }
}

#[inline(always)]
fn fold_dir<A: Element, M: Monoid<A>, K: TreeOps<A, M>, const REV: bool, const EXCL: bool>(
    mut xs: Io<'_, A>,
    carry: Option<A>,
) -> Option<A> {
    struct S<A: Element, M: Monoid<A>, K: TreeOps<A, M>, const REV: bool, const EXCL: bool>(
        K::Carry,
        PhantomData<M>,
    );
    impl<A: Element, M: Monoid<A>, K: TreeOps<A, M>, const REV: bool, const EXCL: bool> Step<A>
        for S<A, M, K, REV, EXCL>
    {
        const PAIRS: bool = K::PAIRS;
        #[inline(always)]
        fn pair(&mut self, v: &mut [A; 2 * W], rev: bool) {
            if M::ORDERED && (K::value(self.0).is_nan() || any_nan(v)) {
                // NaN is settled vector by vector.
                let (first, second) = in_scan_order(v, rev);
                self.step(first);
                self.step(second);
            } else {
                // SAFETY: as in `start`.
                self.0 = unsafe { K::pair::<REV, EXCL>(v, self.0) };
            }
        }
        #[inline(always)]
        fn start(&mut self, v: &mut [A; W]) {
            self.0 = if M::ORDERED && any_nan(v) {
                K::carry(in_order::<A, M, REV, EXCL>(v, None))
            } else {
                // SAFETY: a fold of kernel `K` runs only at `K`'s level (`fold`).
                unsafe { K::vector::<REV, EXCL>(v, None) }
            };
        }
        #[inline(always)]
        fn step(&mut self, v: &mut [A; W]) {
            let c = self.0;
            if M::ORDERED {
                let value = K::value(c);
                if value.is_nan() {
                    // A NaN carry is every later value, inclusive or exclusive.
                    *v = [value; W];
                    return;
                }
                if any_nan(v) {
                    self.0 = K::carry(in_order::<A, M, REV, EXCL>(v, Some(value)));
                    return;
                }
            }
            // SAFETY: as in `start`.
            self.0 = unsafe { K::vector::<REV, EXCL>(v, Some(c)) };
        }
    }
    if xs.len() == 0 {
        return carry;
    }
    let c = K::carry(carry.unwrap_or_else(M::identity));
    let mut s = S::<A, M, K, REV, EXCL>(c, PhantomData);
    vectors::<A, _, REV>(&mut xs, M::identity(), &mut s, carry.is_some());
    Some(K::value(s.0))
}

/// Whether a lane of `v` is NaN (one comparison and a mask test per vector).
#[inline(always)]
fn any_nan<A: Element, const N: usize>(v: &[A; N]) -> bool {
    let mut nan = false;
    for x in v {
        nan |= x.is_nan();
    }
    nan
}

/// `v` scanned lane by lane in scan order with `combine`, continuing `carry` (none: the
/// run's first vector); returns the carry after it. The padding of a short vector is the
/// identity, which leaves the carry as it was.
#[inline(always)]
fn in_order<A: Element, M: Monoid<A>, const REV: bool, const EXCL: bool>(
    v: &mut [A; W],
    carry: Option<A>,
) -> A {
    let mut c = carry;
    for k in 0..W {
        let i = if REV { W - 1 - k } else { k };
        let x = v[i];
        let next = match c {
            Some(c) => M::combine(c, x),
            None => x,
        };
        v[i] = match (EXCL, c) {
            (false, _) => next,
            (true, Some(c)) => c,
            (true, None) => M::empty(),
        };
        c = Some(next);
    }
    c.unwrap_or_else(M::identity)
}

/// A float the compensated sum runs on.
pub(crate) trait Float:
    Element + std::ops::Add<Output = Self> + std::ops::Sub<Output = Self> + std::ops::Neg<Output = Self>
{
    /// -0.0: the identity of addition, bit for bit.
    const NEG_ZERO: Self;
    /// The AVX2 form of a compensated grain's vectors.
    #[cfg(target_arch = "x86_64")]
    type Avx2: GrainOps<Self>;
    /// The AVX-512 form.
    #[cfg(target_arch = "x86_64")]
    type Avx512: GrainOps<Self>;
    /// Neither infinite nor NaN.
    fn finite(self) -> bool;
}

impl Float for f32 {
    const NEG_ZERO: f32 = -0.0;
    #[cfg(target_arch = "x86_64")]
    type Avx2 = Avx2F32;
    #[cfg(target_arch = "x86_64")]
    type Avx512 = Avx512F32;
    #[inline(always)]
    fn finite(self) -> bool {
        self.is_finite()
    }
}

impl Float for f64 {
    const NEG_ZERO: f64 = -0.0;
    // The compiler's own vectorisation of the lane-by-lane form is as fast for four lanes
    // per register.
    #[cfg(target_arch = "x86_64")]
    type Avx2 = LaneByLane;
    #[cfg(target_arch = "x86_64")]
    type Avx512 = LaneByLane;
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

/// [`fold_body`] for float sums with a compensated carry: the run is cut into grains of
/// [`GRAIN`] elements from its start; within a grain the vectors carry a plain local sum `l`,
/// every element is `hi + (lo + l)`, and after each grain the carry takes the grain's total
/// by two-sum. The error term of an infinite or NaN step is dropped (it would be NaN and
/// poison the rest), and a zero error is -0.0, so that a run of -0.0 stays -0.0 as in numpy's
/// loop. The carry starts as `-0.0 + -0.0`, which adds nothing to any value, bit for bit.
#[inline(always)]
fn comp_body<F: Float, K: GrainOps<F>>(
    xs: Io<'_, F>,
    carry: Option<Comp<F>>,
    rev: bool,
    exclusive: bool,
) -> Option<Comp<F>> {
    match (rev, exclusive) {
        (false, false) => comp_dir::<F, K, false, false>(xs, carry),
        (true, false) => comp_dir::<F, K, true, false>(xs, carry),
        (false, true) => comp_dir::<F, K, false, true>(xs, carry),
        (true, true) => comp_dir::<F, K, true, true>(xs, carry),
    }
}

/// How a grain's vectors are computed: lane by lane (the portable form, which the compiler
/// vectorises), or with an instruction set's own shuffles. Both do the same operations in the
/// same order, so they give the same bits.
pub(crate) trait GrainOps<F: Float> {
    /// The grain's local sum, as the kernel holds it.
    type Local: Copy;
    fn local(x: F) -> Self::Local;
    fn value(l: Self::Local) -> F;
    /// One vector `v`: its prefix `p` ([`prefix`]) and `l = local + p`; writes `hi + (lo + l)`
    /// (exclusive: `l` one lane later in scan order, `before` first) and makes `local` the
    /// last lane of `l`.
    ///
    /// # Safety
    /// The CPU runs the kernel's instruction set.
    unsafe fn vector<const REV: bool, const EXCL: bool>(
        v: &mut [F; W],
        hi: F,
        lo: F,
        local: &mut Self::Local,
        before: F,
    );
    /// Whether the kernel computes two vectors at once (`pair`).
    const PAIRS: bool = false;
    /// Two vectors side by side in memory (as [`Step::pair`] takes them), each as `vector`
    /// computes it in scan order, `before` the value before the first.
    ///
    /// # Safety
    /// As for `vector`.
    #[inline(always)]
    unsafe fn pair<const REV: bool, const EXCL: bool>(
        v: &mut [F; 2 * W],
        hi: F,
        lo: F,
        local: &mut Self::Local,
        before: F,
    ) {
        let (first, second) = in_scan_order(v, REV);
        // SAFETY: the caller's.
        unsafe {
            Self::vector::<REV, EXCL>(first, hi, lo, local, before);
            let before = Self::value(*local);
            Self::vector::<REV, EXCL>(second, hi, lo, local, before);
        }
    }
}

/// [`GrainOps`] and [`TreeOps`] lane by lane.
pub(crate) struct LaneByLane;

impl<F: Float> GrainOps<F> for LaneByLane {
    type Local = F;
    #[inline(always)]
    fn local(x: F) -> F {
        x
    }
    #[inline(always)]
    fn value(l: F) -> F {
        l
    }
    #[inline(always)]
    unsafe fn vector<const REV: bool, const EXCL: bool>(
        v: &mut [F; W],
        hi: F,
        lo: F,
        local: &mut F,
        before: F,
    ) {
        let p = prefix::<F, crate::op::Add>(*v, REV);
        let l = zip([*local; W], p, |a, b| a + b);
        let q = if EXCL { shift(l, before, REV) } else { l };
        *v = zip([hi; W], zip([lo; W], q, |a, b| a + b), |a, b| a + b);
        *local = l[last_lane(REV)];
    }
}

/// One grain's vectors: the local sum and the carry it is added to.
struct Grain<F: Float, K: GrainOps<F>, const REV: bool, const EXCL: bool> {
    carry: Comp<F>,
    /// The grain's sum so far.
    local: K::Local,
    /// Whether the next vector starts the run: an exclusive scan's first value is +0.0,
    /// numpy's initial value.
    fresh: bool,
}

impl<F: Float, K: GrainOps<F>, const REV: bool, const EXCL: bool> Step<F>
    for Grain<F, K, REV, EXCL>
{
    const PAIRS: bool = K::PAIRS;
    #[inline(always)]
    fn start(&mut self, v: &mut [F; W]) {
        self.step(v)
    }
    #[inline(always)]
    fn step(&mut self, v: &mut [F; W]) {
        let (Comp { hi, lo }, before) = (self.carry, self.before());
        // SAFETY: a grain of kernel `K` runs only at `K`'s level (`comp`).
        unsafe { K::vector::<REV, EXCL>(v, hi, lo, &mut self.local, before) };
        self.fresh = false;
    }
    #[inline(always)]
    fn pair(&mut self, v: &mut [F; 2 * W], _rev: bool) {
        let (Comp { hi, lo }, before) = (self.carry, self.before());
        // SAFETY: as in `step`.
        unsafe { K::pair::<REV, EXCL>(v, hi, lo, &mut self.local, before) };
        self.fresh = false;
    }
}

impl<F: Float, K: GrainOps<F>, const REV: bool, const EXCL: bool> Grain<F, K, REV, EXCL> {
    /// The value before the next vector, which only an exclusive scan writes.
    #[inline(always)]
    fn before(&self) -> F {
        match (EXCL, self.fresh) {
            (false, _) => F::NEG_ZERO,
            (true, true) => -F::NEG_ZERO,
            (true, false) => K::value(self.local),
        }
    }
}

/// One grain of `comp_dir` (a function, not a closure, so that it is compiled inside the
/// caller's instruction-set level).
#[inline(always)]
fn grain<F: Float, K: GrainOps<F>, const REV: bool, const EXCL: bool>(
    mut xs: Io<'_, F>,
    g: &mut Grain<F, K, REV, EXCL>,
) {
    let zero = F::NEG_ZERO;
    g.local = K::local(zero);
    vectors::<F, _, REV>(&mut xs, zero, g, true);
    g.carry = absorb(g.carry, K::value(g.local));
}

/// `carry` after a grain whose total is `t`: their two-sum, the error collected in `lo`.
#[inline(always)]
pub(crate) fn absorb<F: Float>(carry: Comp<F>, t: F) -> Comp<F> {
    let (Comp { hi, lo }, zero) = (carry, F::NEG_ZERO);
    let s = hi + t;
    let b = s - hi;
    let e = (hi - (s - b)) + (t - b);
    let e = if e != zero && e.finite() { e } else { zero };
    Comp { hi: s, lo: lo + e }
}

/// The total of every grain of `xs` in scan order (from its end when `rev`), as [`comp`]
/// sums it at every level (each vector's tree total, its prefix's last lane in scan order,
/// added to a local sum that starts at -0.0; a short vector padded with -0.0), appended to
/// `totals`: [`absorb`]ed in order from a carry, they give the carry [`comp`] leaves after
/// `xs`, bit for bit.
pub(crate) fn grain_totals<F: Float>(level: Level, xs: &[F], rev: bool, totals: &mut Vec<F>) {
    match (level, rev) {
        #[cfg(target_arch = "x86_64")]
        // SAFETY: as in `fold`.
        (Level::Avx2 | Level::Avx512, false) => unsafe { totals_avx2::<F, false>(xs, totals) },
        #[cfg(target_arch = "x86_64")]
        // SAFETY: as in `fold`.
        (Level::Avx2 | Level::Avx512, true) => unsafe { totals_avx2::<F, true>(xs, totals) },
        (_, false) => totals_body::<F, false>(xs, totals),
        (_, true) => totals_body::<F, true>(xs, totals),
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn totals_avx2<F: Float, const REV: bool>(xs: &[F], totals: &mut Vec<F>) {
    totals_body::<F, REV>(xs, totals)
}

#[inline(always)]
fn totals_body<F: Float, const REV: bool>(xs: &[F], totals: &mut Vec<F>) {
    let zero = F::NEG_ZERO;
    let n = xs.len();
    let mut done = 0;
    while done < n {
        let g = GRAIN.min(n - done);
        let grain = if REV {
            &xs[n - done - g..n - done]
        } else {
            &xs[done..done + g]
        };
        let mut local = zero;
        let mut k = 0;
        while k < g {
            let len = W.min(g - k);
            let mut v = [zero; W];
            if REV {
                v[W - len..].copy_from_slice(&grain[g - k - len..g - k]);
            } else {
                v[..len].copy_from_slice(&grain[k..k + len]);
            }
            local = local + prefix::<F, Add>(v, REV)[last_lane(REV)];
            k += len;
        }
        totals.push(local);
        done += g;
    }
}

#[inline(always)]
fn comp_dir<F: Float, K: GrainOps<F>, const REV: bool, const EXCL: bool>(
    mut xs: Io<'_, F>,
    carry: Option<Comp<F>>,
) -> Option<Comp<F>> {
    let n = xs.len();
    if n == 0 {
        return carry;
    }
    let zero = F::NEG_ZERO;
    let mut g = Grain::<F, K, REV, EXCL> {
        carry: carry.unwrap_or(Comp { hi: zero, lo: zero }),
        local: K::local(zero),
        fresh: carry.is_none(),
    };
    for k in 0..n / GRAIN {
        let at = if REV { n - (k + 1) * GRAIN } else { k * GRAIN };
        grain(xs.sub(at, GRAIN), &mut g);
    }
    let r = n % GRAIN;
    if r > 0 {
        let at = if REV { 0 } else { n - r };
        grain(xs.sub(at, r), &mut g);
    }
    Some(g.carry)
}

/// [`GrainOps`] for float32 with AVX2 shuffles: the tree's steps are byte shifts within each
/// 128-bit half (shifting in -0.0, the identity) and one broadcast across halves; the local
/// sum is held broadcast, so its chain is one addition per vector.
#[cfg(target_arch = "x86_64")]
pub(crate) struct Avx2F32;

#[cfg(target_arch = "x86_64")]
impl GrainOps<f32> for Avx2F32 {
    type Local = std::arch::x86_64::__m256;
    #[inline(always)]
    fn local(x: f32) -> Self::Local {
        // SAFETY: AVX is implied by AVX2, the level this kernel runs at; `_mm256_set1_ps`
        // only builds a value.
        unsafe { std::arch::x86_64::_mm256_set1_ps(x) }
    }
    #[inline(always)]
    fn value(l: Self::Local) -> f32 {
        // SAFETY: as in `local`; every lane holds the value.
        unsafe { std::arch::x86_64::_mm256_cvtss_f32(l) }
    }
    #[inline(always)]
    unsafe fn vector<const REV: bool, const EXCL: bool>(
        v: &mut [f32; W],
        hi: f32,
        lo: f32,
        local: &mut Self::Local,
        before: f32,
    ) {
        // SAFETY: the caller runs this at the AVX2 level.
        unsafe { avx2_f32_vector::<REV, EXCL>(v, hi, lo, local, before) }
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
#[inline]
unsafe fn avx2_f32_vector<const REV: bool, const EXCL: bool>(
    v: &mut [f32; W],
    hi: f32,
    lo: f32,
    local: &mut std::arch::x86_64::__m256,
    before: f32,
) {
    use std::arch::x86_64::*;
    let bits = _mm256_castps_si256;
    let float = _mm256_castsi256_ps;
    let id = _mm256_set1_ps(-0.0);
    // SAFETY: `v` is eight floats; unaligned loads and stores.
    let x = unsafe { _mm256_loadu_ps(v.as_ptr()) };
    // The steps of `prefix`, each `q + v` with `q` the lanes `s` before (or the identity).
    let (p, total) = if REV {
        let p = _mm256_add_ps(float(_mm256_alignr_epi8(bits(id), bits(x), 4)), x);
        let p = _mm256_add_ps(float(_mm256_alignr_epi8(bits(id), bits(p), 8)), p);
        let q = _mm256_permute2f128_ps(_mm256_permute_ps(p, 0x00), id, 0x21);
        let p = _mm256_add_ps(q, p);
        let t = _mm256_permute_ps(p, 0x00);
        (p, _mm256_permute2f128_ps(t, t, 0x00))
    } else {
        let p = _mm256_add_ps(float(_mm256_alignr_epi8(bits(x), bits(id), 12)), x);
        let p = _mm256_add_ps(float(_mm256_alignr_epi8(bits(p), bits(id), 8)), p);
        let q = _mm256_permute2f128_ps(_mm256_permute_ps(p, 0xFF), id, 0x02);
        let p = _mm256_add_ps(q, p);
        let t = _mm256_permute_ps(p, 0xFF);
        (p, _mm256_permute2f128_ps(t, t, 0x11))
    };
    let l = _mm256_add_ps(*local, p);
    let q = if EXCL {
        let b = _mm256_set1_ps(before);
        if REV {
            let s = _mm256_permutevar8x32_ps(l, _mm256_setr_epi32(1, 2, 3, 4, 5, 6, 7, 7));
            _mm256_blend_ps(s, b, 0x80)
        } else {
            let s = _mm256_permutevar8x32_ps(l, _mm256_setr_epi32(0, 0, 1, 2, 3, 4, 5, 6));
            _mm256_blend_ps(s, b, 0x01)
        }
    } else {
        l
    };
    let out = _mm256_add_ps(_mm256_set1_ps(hi), _mm256_add_ps(_mm256_set1_ps(lo), q));
    // SAFETY: as for the load.
    unsafe { _mm256_storeu_ps(v.as_mut_ptr(), out) };
    // The last lane of `l`, held broadcast: `local + p[last]`.
    *local = _mm256_add_ps(*local, total);
}

/// Which combine a tree written out with shuffles takes.
#[cfg(target_arch = "x86_64")]
pub(crate) mod tree_op {
    pub(crate) const SUM: u8 = 0;
    pub(crate) const MAX: u8 = 1;
    pub(crate) const MIN: u8 = 2;
    pub(crate) const PROD: u8 = 3;
}

/// [`TreeOps`] for float32 max, min and product with AVX2: the shuffles of [`Avx2F32`]'s
/// tree. A max (min) combine is two vector maxima (minima) of the operands both ways round,
/// whose bitwise and (or) settles zeros of both signs as [`Monoid::ordered`] does.
#[cfg(target_arch = "x86_64")]
macro_rules! avx2_f32_tree_ops {
    ($m:ty, $op:expr) => {
        impl TreeOps<f32, $m> for Avx2F32 {
            type Carry = std::arch::x86_64::__m256;
            #[inline(always)]
            fn carry(x: f32) -> Self::Carry {
                <Avx2F32 as GrainOps<f32>>::local(x)
            }
            #[inline(always)]
            fn value(c: Self::Carry) -> f32 {
                <Avx2F32 as GrainOps<f32>>::value(c)
            }
            #[inline(always)]
            unsafe fn vector<const REV: bool, const EXCL: bool>(
                v: &mut [f32; W],
                carry: Option<Self::Carry>,
            ) -> Self::Carry {
                // SAFETY: the caller runs this at the AVX2 level.
                unsafe { avx2_f32_tree::<{ $op }, REV, EXCL>(v, carry) }
            }
        }
    };
}

#[cfg(target_arch = "x86_64")]
avx2_f32_tree_ops!(Max, tree_op::MAX);
#[cfg(target_arch = "x86_64")]
avx2_f32_tree_ops!(Min, tree_op::MIN);
#[cfg(target_arch = "x86_64")]
avx2_f32_tree_ops!(Mul, tree_op::PROD);

/// `a` and `b` combined by `OP` (a [`tree_op`] other than `SUM`), as [`Monoid::ordered`]
/// combines them.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
#[inline]
fn avx2_combine<const OP: u8>(
    a: std::arch::x86_64::__m256,
    b: std::arch::x86_64::__m256,
) -> std::arch::x86_64::__m256 {
    use std::arch::x86_64::*;
    match OP {
        tree_op::MAX => _mm256_and_ps(_mm256_max_ps(a, b), _mm256_max_ps(b, a)),
        tree_op::MIN => _mm256_or_ps(_mm256_min_ps(a, b), _mm256_min_ps(b, a)),
        _ => _mm256_mul_ps(a, b),
    }
}

/// The identity of `OP` (a [`tree_op`] other than `SUM`), also its empty scan's value.
#[cfg(target_arch = "x86_64")]
pub(crate) const fn f32_identity(op: u8) -> f32 {
    match op {
        tree_op::MAX => f32::NEG_INFINITY,
        tree_op::MIN => f32::INFINITY,
        _ => 1.0,
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
#[inline]
unsafe fn avx2_f32_tree<const OP: u8, const REV: bool, const EXCL: bool>(
    v: &mut [f32; W],
    carry: Option<std::arch::x86_64::__m256>,
) -> std::arch::x86_64::__m256 {
    use std::arch::x86_64::*;
    let bits = _mm256_castps_si256;
    let float = _mm256_castsi256_ps;
    let f = avx2_combine::<OP>;
    let id = _mm256_set1_ps(f32_identity(OP));
    // SAFETY: `v` is eight floats; unaligned loads and stores.
    let x = unsafe { _mm256_loadu_ps(v.as_ptr()) };
    let (p, total) = if REV {
        let p = f(float(_mm256_alignr_epi8(bits(id), bits(x), 4)), x);
        let p = f(float(_mm256_alignr_epi8(bits(id), bits(p), 8)), p);
        let p = f(
            _mm256_permute2f128_ps(_mm256_permute_ps(p, 0x00), id, 0x21),
            p,
        );
        let t = _mm256_permute_ps(p, 0x00);
        (p, _mm256_permute2f128_ps(t, t, 0x00))
    } else {
        let p = f(float(_mm256_alignr_epi8(bits(x), bits(id), 12)), x);
        let p = f(float(_mm256_alignr_epi8(bits(p), bits(id), 8)), p);
        let p = f(
            _mm256_permute2f128_ps(_mm256_permute_ps(p, 0xFF), id, 0x02),
            p,
        );
        let t = _mm256_permute_ps(p, 0xFF);
        (p, _mm256_permute2f128_ps(t, t, 0x11))
    };
    let q = if EXCL {
        if REV {
            let s = _mm256_permutevar8x32_ps(p, _mm256_setr_epi32(1, 2, 3, 4, 5, 6, 7, 7));
            _mm256_blend_ps(s, id, 0x80)
        } else {
            let s = _mm256_permutevar8x32_ps(p, _mm256_setr_epi32(0, 0, 1, 2, 3, 4, 5, 6));
            _mm256_blend_ps(s, id, 0x01)
        }
    } else {
        p
    };
    // Without a carry the identity stands in: combined with a value that is not NaN, it
    // gives the value, and in an exclusive scan's first lane it is the empty scan's value.
    let c = carry.unwrap_or(id);
    // SAFETY: as for the load.
    unsafe { _mm256_storeu_ps(v.as_mut_ptr(), f(c, q)) };
    f(c, total)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn fold_avx2<A: Element, M: Monoid<A>, K: TreeOps<A, M>>(
    xs: Io<'_, A>,
    carry: Option<A>,
    rev: bool,
    exclusive: bool,
) -> Option<A> {
    fold_body::<A, M, K>(xs, carry, rev, exclusive)
}

/// [`TreeOps`] for int64 and uint64 sums with AVX2: eight lanes in two registers of four,
/// each scanned by a shift within its 128-bit halves and a broadcast across them, the second
/// register (in scan order) then taking the first's total. Integer sums wrap and are exact, so
/// the tree's order is free; an exclusive scan is the inclusive one less each element.
#[cfg(target_arch = "x86_64")]
pub(crate) struct Avx2I64;

#[cfg(target_arch = "x86_64")]
macro_rules! avx2_i64_sum_ops {
    ($t:ty) => {
        impl TreeOps<$t, Add> for Avx2I64 {
            type Carry = std::arch::x86_64::__m256i;
            #[inline(always)]
            fn carry(x: $t) -> Self::Carry {
                // SAFETY: AVX is implied by AVX2, the level this kernel runs at; the broadcast
                // only builds a value.
                unsafe { std::arch::x86_64::_mm256_set1_epi64x(x as i64) }
            }
            #[inline(always)]
            fn value(c: Self::Carry) -> $t {
                use std::arch::x86_64::*;
                // SAFETY: as in `carry`; every lane holds the value.
                unsafe { _mm_cvtsi128_si64(_mm256_castsi256_si128(c)) as $t }
            }
            #[inline(always)]
            unsafe fn vector<const REV: bool, const EXCL: bool>(
                v: &mut [$t; W],
                carry: Option<Self::Carry>,
            ) -> Self::Carry {
                // Wrapping sums have the same bits signed or not.
                let v = bytemuck::cast_mut::<[$t; W], [i64; W]>(v);
                // SAFETY: the caller runs this at the AVX2 level.
                unsafe { avx2_i64_sum::<REV, EXCL>(v, carry) }
            }
        }
    };
}

#[cfg(target_arch = "x86_64")]
avx2_i64_sum_ops!(i64);
#[cfg(target_arch = "x86_64")]
avx2_i64_sum_ops!(u64);

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
#[inline]
unsafe fn avx2_i64_sum<const REV: bool, const EXCL: bool>(
    v: &mut [i64; W],
    carry: Option<std::arch::x86_64::__m256i>,
) -> std::arch::x86_64::__m256i {
    use std::arch::x86_64::*;
    // SAFETY: `v` is eight int64s; unaligned loads and stores.
    let (x0, x1) = unsafe {
        let p = v.as_ptr().cast::<__m256i>();
        (_mm256_loadu_si256(p), _mm256_loadu_si256(p.add(1)))
    };
    let (p0, p1) = (avx2_i64_four::<REV>(x0), avx2_i64_four::<REV>(x1));
    let c = carry.unwrap_or(_mm256_setzero_si256());
    // The register scanned first, and its total (broadcast) added to the other.
    let (p0, p1) = if REV {
        (_mm256_add_epi64(p0, _mm256_permute4x64_epi64(p1, 0x00)), p1)
    } else {
        (p0, _mm256_add_epi64(p1, _mm256_permute4x64_epi64(p0, 0xFF)))
    };
    let (o0, o1) = (_mm256_add_epi64(c, p0), _mm256_add_epi64(c, p1));
    // The vector's total, broadcast, and the carry after it: one addition on the chain.
    let total = if REV {
        _mm256_permute4x64_epi64(p0, 0x00)
    } else {
        _mm256_permute4x64_epi64(p1, 0xFF)
    };
    let (o0, o1) = if EXCL {
        (_mm256_sub_epi64(o0, x0), _mm256_sub_epi64(o1, x1))
    } else {
        (o0, o1)
    };
    // SAFETY: as for the loads.
    unsafe {
        let p = v.as_mut_ptr().cast::<__m256i>();
        _mm256_storeu_si256(p, o0);
        _mm256_storeu_si256(p.add(1), o1);
    }
    _mm256_add_epi64(c, total)
}

/// The inclusive scan of one register of four int64 lanes (from the last when `REV`): each lane
/// takes the one before it within its 128-bit half, then the second half in scan order takes
/// the first half's total.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
#[inline]
fn avx2_i64_four<const REV: bool>(x: std::arch::x86_64::__m256i) -> std::arch::x86_64::__m256i {
    use std::arch::x86_64::*;
    let zero = _mm256_setzero_si256();
    if REV {
        let p = _mm256_add_epi64(x, _mm256_alignr_epi8(zero, x, 8));
        _mm256_add_epi64(
            p,
            _mm256_blend_epi32(_mm256_permute4x64_epi64(p, 0xAA), zero, 0xF0),
        )
    } else {
        let p = _mm256_add_epi64(x, _mm256_alignr_epi8(x, zero, 8));
        _mm256_add_epi64(
            p,
            _mm256_blend_epi32(zero, _mm256_permute4x64_epi64(p, 0x55), 0xF0),
        )
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512dq,avx2,f16c")]
unsafe fn fold_avx512<A: Element, M: Monoid<A>, K: TreeOps<A, M>>(
    xs: Io<'_, A>,
    carry: Option<A>,
    rev: bool,
    exclusive: bool,
) -> Option<A> {
    fold_body::<A, M, K>(xs, carry, rev, exclusive)
}

/// [`fold`] at `level` through kernel `K`, when `A` is `B` and `M` is `N`; else `xs` back.
///
/// # Safety
/// The CPU runs `level`, which is AVX2 or AVX-512.
#[cfg(target_arch = "x86_64")]
unsafe fn fold_as<'a, A: Element, M: Monoid<A>, B: Element, N: Monoid<B>, K: TreeOps<B, N>>(
    level: Level,
    xs: Io<'a, A>,
    carry: Option<A>,
    rev: bool,
    exclusive: bool,
) -> Result<Option<A>, Io<'a, A>> {
    if std::any::TypeId::of::<M>() != std::any::TypeId::of::<N>() {
        return Err(xs);
    }
    let xs = xs.cast::<B>()?;
    // SAFETY: `cast` succeeded, so `A` is `B`, and each value is reinterpreted as itself; the
    // CPU runs `level`.
    let carry = carry.map(|c| unsafe { std::mem::transmute_copy::<A, B>(&c) });
    let out = unsafe {
        if level == Level::Avx512 {
            fold_avx512::<B, N, K>(xs, carry, rev, exclusive)
        } else {
            fold_avx2::<B, N, K>(xs, carry, rev, exclusive)
        }
    };
    Ok(out.map(|c| unsafe { std::mem::transmute_copy::<B, A>(&c) }))
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn comp_avx2<F: Float>(
    xs: Io<'_, F>,
    carry: Option<Comp<F>>,
    rev: bool,
    exclusive: bool,
) -> Option<Comp<F>> {
    comp_body::<F, F::Avx2>(xs, carry, rev, exclusive)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512dq,avx2,f16c")]
unsafe fn comp_avx512<F: Float>(
    xs: Io<'_, F>,
    carry: Option<Comp<F>>,
    rev: bool,
    exclusive: bool,
) -> Option<Comp<F>> {
    comp_body::<F, F::Avx512>(xs, carry, rev, exclusive)
}

/// The scan of `xs` with one carry per vector, at `level` (see [`fold_body`]).
pub(crate) fn fold<A: Element, M: Monoid<A>>(
    level: Level,
    xs: Io<'_, A>,
    carry: Option<A>,
    rev: bool,
    exclusive: bool,
) -> Option<A> {
    // The kernels written for a level, then the lane-by-lane form at that level.
    #[cfg(target_arch = "x86_64")]
    macro_rules! written_for {
        ($xs:ident; $($b:ty, $n:ty, $k:ty);*) => {$(
            $xs = match fold_as::<A, M, $b, $n, $k>(level, $xs, carry, rev, exclusive) {
                Ok(out) => return out,
                Err(xs) => xs,
            };
        )*};
    }
    match level {
        Level::Portable => fold_body::<A, M, LaneByLane>(xs, carry, rev, exclusive),
        #[cfg(target_arch = "x86_64")]
        // SAFETY: `Level::Avx2` is only made where the CPU has AVX2 (`Level::available`).
        Level::Avx2 => unsafe {
            let mut xs = xs;
            written_for!(xs; f32, Max, Avx2F32; f32, Min, Avx2F32; f32, Mul, Avx2F32; i64, Add, Avx2I64; u64, Add, Avx2I64);
            fold_avx2::<A, M, LaneByLane>(xs, carry, rev, exclusive)
        },
        #[cfg(target_arch = "x86_64")]
        // SAFETY: `Level::Avx512` is only made where the CPU has AVX-512 F, BW, DQ and VL, AVX2
        // and F16C.
        Level::Avx512 => unsafe {
            let mut xs = xs;
            written_for!(xs; f32, Max, Avx512F32; f32, Min, Avx512F32; f32, Mul, Avx512F32;
                i64, Add, Avx512I64; u64, Add, Avx512I64; i64, Mul, Avx512I64; u64, Mul, Avx512I64;
                i64, Max, Avx512I64; u64, Max, Avx512I64; i64, Min, Avx512I64; u64, Min, Avx512I64);
            fold_avx512::<A, M, LaneByLane>(xs, carry, rev, exclusive)
        },
    }
}

/// The float sum of `xs` with a compensated carry, at `level` (see [`comp_body`]).
pub(crate) fn comp<F: Float>(
    level: Level,
    xs: Io<'_, F>,
    carry: Option<Comp<F>>,
    rev: bool,
    exclusive: bool,
) -> Option<Comp<F>> {
    match level {
        Level::Portable => comp_body::<F, LaneByLane>(xs, carry, rev, exclusive),
        // SAFETY: as in `fold`.
        #[cfg(target_arch = "x86_64")]
        Level::Avx2 => unsafe { comp_avx2(xs, carry, rev, exclusive) },
        // SAFETY: as in `fold`.
        #[cfg(target_arch = "x86_64")]
        Level::Avx512 => unsafe { comp_avx512(xs, carry, rev, exclusive) },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::op::Mul;

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
        equal(a, b, false)
    }

    /// Bit for bit, NaN's bits included.
    fn same_bits<A: Element>(a: &[A], b: &[A]) -> bool {
        equal(a, b, true)
    }

    fn equal<A: Element>(a: &[A], b: &[A], nan_bits: bool) -> bool {
        let key = |x: &A| match x.to_scalar() {
            crate::dtype::Scalar::Float(f) if f.is_nan() && !nan_bits => u64::MAX,
            crate::dtype::Scalar::Float(f) => f.to_bits(),
            crate::dtype::Scalar::Int(i) => i as u64,
            crate::dtype::Scalar::UInt(u) => u,
            crate::dtype::Scalar::Bool(b) => b as u64,
        };
        a.len() == b.len() && a.iter().zip(b).all(|(x, y)| key(x) == key(y))
    }

    /// Every length up to two grains and a vector plus a tail, at every start offset within a vector,
    /// forward and reverse, inclusive and exclusive, with and without a carry: `kernel` at
    /// every level gives the scalar fold's bits (NaN as NaN) and carries its value on.
    fn check<A: Element, M: Monoid<A>, C: Copy + std::fmt::Debug>(
        name: &str,
        data: &[A],
        same: fn(&[A], &[A]) -> bool,
        kernel: impl Fn(Level, Io<'_, A>, Option<C>, bool, bool) -> Option<C>,
        carry_of: impl Fn(A) -> C,
        value_of: impl Fn(C) -> A,
    ) {
        for level in Level::available() {
            for start in 0..W {
                for len in 0..=2 * GRAIN + W + 3 {
                    let xs = &data[start..start + len];
                    for (rev, excl) in [(false, false), (true, false), (false, true), (true, true)]
                    {
                        for carry in [None, Some(data[data.len() - 1])] {
                            let (want, want_c) = scalar::<A, M>(xs, carry, rev, excl);
                            let c = carry.map(&carry_of);
                            // In place, and from the input into uninitialised slots.
                            let mut inplace = xs.to_vec();
                            let got_c = kernel(level, Io::in_place(&mut inplace), c, rev, excl);
                            let mut slots = vec![MaybeUninit::<A>::uninit(); len];
                            let from_c = kernel(level, Io::from(xs, &mut slots), c, rev, excl);
                            // SAFETY: the kernel writes every element of its output.
                            let from = unsafe { crate::alloc::assume_init(slots) };
                            for (how, got, got_c) in
                                [("in place", inplace, got_c), ("from", from, from_c)]
                            {
                                let ok = same(&got, &want)
                                    && same(
                                        &got_c.map(&value_of).into_iter().collect::<Vec<_>>(),
                                        &want_c.into_iter().collect::<Vec<_>>(),
                                    );
                                assert!(
                                    ok,
                                    "{name} {level:?} {how} start {start} len {len} rev {rev} \
                                     exclusive {excl} carry {carry:?}: {got:?} != {want:?}"
                                );
                            }
                        }
                    }
                }
            }
        }
    }

    /// Exact combines (integers, bool, max and min) on values of every kind.
    fn exact_case<A: Element, M: Monoid<A>>(name: &str) {
        let data = values::<A>(2 * GRAIN + 2 * W + 3, 7);
        check::<A, M, A>(name, &data, same, fold::<A, M>, |c| c, |c| c);
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
            let sums = exact_floats::<F>(2 * GRAIN + 2 * W + 3, false, seed);
            let comp_of = |c: F| Comp {
                hi: c,
                lo: F::NEG_ZERO,
            };
            check::<F, Add, Comp<F>>(name, &sums, same, comp::<F>, comp_of, |c| c.hi + c.lo);
            let prods = exact_floats::<F>(2 * GRAIN + 2 * W + 3, true, seed);
            check::<F, Mul, F>(name, &prods, same, fold::<F, Mul>, |c| c, |c| c);
        }
        // A run of -0.0 sums to -0.0, as numpy's loop does.
        for len in 1..3 * W {
            let mut v = vec![F::NEG_ZERO; len];
            comp(Level::detect(), Io::in_place(&mut v), None, false, false);
            assert!(same(&v, &vec![F::NEG_ZERO; len]), "{name}: -0.0 * {len}");
        }
    }

    /// Float max and min where NaN is rare, so that the tree of ordered combines runs: signed
    /// zeros, infinities and the first NaN's bits (of two, with different signs and payloads)
    /// come out as numpy's loop gives them. The values of the max are at most zero, so that
    /// its running value sits at zeros of both signs; the min's are their negations.
    fn extreme_case<F: Float>(name: &str) {
        let n = 2 * GRAIN + 2 * W + 3;
        let nans = [0x7ff8_4000_0000_0000u64, 0xfff8_2000_0000_0000];
        let lows: Vec<f64> = values::<i64>(n, 13)
            .into_iter()
            .enumerate()
            .map(|(i, k)| match i {
                _ if i == n / 2 - 5 => f64::INFINITY,
                _ if i % 11 == 4 => f64::NEG_INFINITY,
                _ => match k % 5 {
                    0 => 0.0,
                    1 => -0.0,
                    _ => -((k % 3).abs() as f64),
                },
            })
            .collect();
        for (max, sign) in [(true, 1.0), (false, -1.0)] {
            let data: Vec<F> = lows
                .iter()
                .enumerate()
                .map(|(i, &v)| {
                    let v = match i {
                        _ if i == n / 2 => f64::from_bits(nans[0]),
                        _ if i == n / 2 + 3 => f64::from_bits(nans[1]),
                        _ => sign * v,
                    };
                    F::from_scalar(crate::dtype::Scalar::Float(v))
                })
                .collect();
            if max {
                check::<F, Max, F>(name, &data, same_bits, fold::<F, Max>, |c| c, |c| c);
            } else {
                check::<F, Min, F>(name, &data, same_bits, fold::<F, Min>, |c| c, |c| c);
            }
        }
    }

    #[test]
    fn float_extremes_keep_numpy_bits() {
        extreme_case::<f32>("f32");
        extreme_case::<f64>("f64");
    }

    #[test]
    fn float_kernels_match_the_scalar_fold() {
        float_case::<f32>("f32");
        float_case::<f64>("f64");
    }
}
