//! The CPU path: every operation of the family, forward or reverse, inclusive or exclusive,
//! restarting at lane and segment starts.
//!
//! The output starts uninitialised and every element is written before it is read. Where
//! the input needs no cast and no NaN replacement, the vector kernels read it directly and
//! write the output once. Otherwise a source first writes each piece of the input, cast to
//! the loop dtype (NaN replaced for the nan* scans), into the output just before the piece is
//! scanned there, so casting and scanning share one pass over memory while the piece is in
//! the first-level cache. A run (one segment of one lane) along the last axis is scanned in
//! vectors of eight ([`simd`]): an in-register prefix, then one carry per vector, with a
//! compensated carry per grain of 128 elements for float sums outside numpy's order; numpy's
//! order, logaddexp and float16 take the sequential loop, except the wide order's float16
//! sums, which are widened stretch by stretch for the compensated kernel. Grains are counted
//! from each segment's start, so a float result does not depend on how the lane is cut into
//! pieces or across threads. Long runs of a combine exact in any order may also take fixed blocks:
//! every block reduced in parallel, then every block scanned in parallel from the running
//! total of the blocks before it; long runs of compensated sums too, each block reduced to
//! its grains' totals and the carry before it absorbed from those in scan order, so that the
//! bits stay one scan's. Along other axes whole rows are combined at once (numpy's
//! order, vectorised across lanes). A reverse scan walks every run from its end, so no
//! flipped copy is made.

mod float16;
mod simd;

use std::any::TypeId;
use std::marker::PhantomData;
use std::mem::MaybeUninit;
use std::ops::Range;

use half::f16;
use rayon::prelude::*;

use self::simd::{Comp, Io, Level};

use crate::alloc::{as_slots, prefaulting, written, Progress};
use crate::array::{with_data, Data, DataMut, DataRef};
use crate::dtype::{cast, DType, Element};
use crate::layout::Lanes;
use crate::op::{with_monoid, Add, Combine, LogSumExp, Monoid, ScanOp};
use crate::options::Order;

/// Below this many elements a scan stays on the calling thread.
const PARALLEL_MIN_ELEMENTS: usize = 1 << 16;
/// Block of the blocked order.
const BLOCK: usize = 1 << 14;
/// Threads from which long runs of exact combines and of compensated sums take blocks. Blocks
/// pass over the data twice; with fewer threads one pass on one core is faster (measured on 2
/// cores: 14 ms against 18 ms for 2^24 float32 maxima, both bandwidth-bound; compensated sums
/// in blocks 0.48 to 0.70 times as fast as one core at 2^20 float32, 0.69 to 0.82 for float16
/// in the wide order).
const BLOCKED_MIN_THREADS: usize = 4;
/// Elements cast at a time: small enough to stay in the first-level cache until scanned.
const PIECE: usize = 1 << 11;

/// Where a scan's inputs come from: cast from another array, or already in the output. The
/// output may start uninitialised: each piece is read only through what `fill` returns.
trait Source<A>: Sync {
    /// Writes input elements `[offset, offset + dst.len())`, in the loop dtype, into `dst`,
    /// and returns it as values.
    fn fill<'d>(&self, dst: &'d mut [MaybeUninit<A>], offset: usize) -> &'d mut [A];
    /// The input itself when it needs no cast and no replacement: the vector kernels then
    /// read it directly instead of filling the output first.
    fn direct(&self) -> Option<&[A]> {
        None
    }
}

/// The inputs are the output's own values; NaN is replaced in place for the nan* scans. Made
/// only over an output that holds its values already.
struct InPlace<A> {
    nan_to: Option<A>,
}

impl<A: Element> Source<A> for InPlace<A> {
    fn fill<'d>(&self, dst: &'d mut [MaybeUninit<A>], _: usize) -> &'d mut [A] {
        // SAFETY: an in-place source is made only over initialised data (`scan_data`, the
        // second pass of `scan_blocked`).
        let dst = unsafe { written(dst) };
        if let Some(r) = self.nan_to {
            for x in dst.iter_mut().filter(|x| x.is_nan()) {
                *x = r;
            }
        }
        dst
    }
}

/// The inputs are another array's elements, cast; NaN is replaced before the cast (numpy's
/// nan* functions replace it in the input, so a NaN never reaches an integer cast).
struct Cast<'a, S, A> {
    src: &'a [S],
    nan_to: Option<A>,
    /// The scan's level, which the conversions are compiled for too.
    level: Level,
}

impl<S: Element, A: Element> Source<A> for Cast<'_, S, A> {
    fn fill<'d>(&self, dst: &'d mut [MaybeUninit<A>], offset: usize) -> &'d mut [A] {
        if let Some(same) = self.direct() {
            // The loop dtype already, without NaN to replace: a copy (a cast through `cast`
            // would convert every float16 twice).
            let same = &same[offset..offset + dst.len()];
            // SAFETY: `same` and `dst` are `dst.len()` elements each and do not overlap (one
            // is the input, the other the output); the copy initialises every slot.
            unsafe {
                std::ptr::copy_nonoverlapping(same.as_ptr(), dst.as_mut_ptr().cast(), same.len());
                return written(dst);
            }
        }
        let src = &self.src[offset..offset + dst.len()];
        if widened(self.level, src, dst) {
            // SAFETY: `widened` wrote every element.
            let out = unsafe { written(dst) };
            // NaN stays NaN through the widening, and is replaced after it.
            if let Some(r) = self.nan_to {
                for x in out.iter_mut().filter(|x| x.is_nan()) {
                    *x = r;
                }
            }
            return out;
        }
        match self.nan_to {
            Some(r) if S::DTYPE.is_float() => {
                for (x, &s) in dst.iter_mut().zip(src) {
                    x.write(if s.is_nan() { r } else { cast(s) });
                }
            }
            _ => cast_into(self.level, src, dst),
        }
        // SAFETY: every element was written above (`src` has `dst`'s length).
        unsafe { written(dst) }
    }
    fn direct(&self) -> Option<&[A]> {
        if TypeId::of::<S>() != TypeId::of::<A>() || (self.nan_to.is_some() && S::DTYPE.is_float())
        {
            return None;
        }
        // SAFETY: `S` and `A` are the same type.
        Some(unsafe { &*(self.src as *const [S] as *const [A]) })
    }
}

/// Whether `src` was widened into `dst` (every element written) eight at a time: only when
/// `S` is float16 and `A` float32.
fn widened<S: Element, A: Element>(level: Level, src: &[S], dst: &mut [MaybeUninit<A>]) -> bool {
    if TypeId::of::<S>() != TypeId::of::<f16>() || TypeId::of::<A>() != TypeId::of::<f32>() {
        return false;
    }
    // SAFETY: `S` is float16 and `A` float32, each slice reinterpreted as itself.
    let src = unsafe { &*(src as *const [S] as *const [f16]) };
    let out = unsafe { &mut *(dst as *mut [MaybeUninit<A>] as *mut [MaybeUninit<f32>]) };
    float16::widen(level, src, out);
    true
}

/// float16 `src` widened to float32 into `dst` (of its length), eight at a time.
pub(crate) fn widen_f16(src: &[f16], dst: &mut [MaybeUninit<f32>]) {
    float16::widen(Level::detect(), src, dst)
}

/// Every element of `src` cast into `dst` (of its length), the loop compiled for `level`: the
/// baseline SSE2 has no sign or zero extension of packed integers, so there an int8 widens
/// into int64 one element at a time, where AVX2 and AVX-512 extend eight at once.
fn cast_into<S: Element, A: Element>(level: Level, src: &[S], dst: &mut [MaybeUninit<A>]) {
    #[inline(always)]
    fn each<S: Element, A: Element>(src: &[S], dst: &mut [MaybeUninit<A>]) {
        for (x, &s) in dst.iter_mut().zip(src) {
            x.write(cast(s));
        }
    }
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2")]
    fn avx2<S: Element, A: Element>(src: &[S], dst: &mut [MaybeUninit<A>]) {
        each(src, dst)
    }
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512dq,avx2,f16c")]
    fn avx512<S: Element, A: Element>(src: &[S], dst: &mut [MaybeUninit<A>]) {
        each(src, dst)
    }
    match level {
        // SAFETY: a level is only made where the CPU runs it (`Level::available`).
        #[cfg(target_arch = "x86_64")]
        Level::Avx2 => unsafe { avx2(src, dst) },
        // SAFETY: as above.
        #[cfg(target_arch = "x86_64")]
        Level::Avx512 => unsafe { avx512(src, dst) },
        _ => each(src, dst),
    }
}

/// float32 `src` rounded to float16 into `dst` (of its length), eight at a time.
pub(crate) fn narrow_f16(src: &[f32], dst: &mut [MaybeUninit<f16>]) {
    float16::narrow(Level::detect(), src, dst)
}

/// Output elements, written before they are read.
type Slots<A> = [MaybeUninit<A>];

/// What every kernel of one scan needs.
struct Job<'a, A> {
    lanes: &'a Lanes,
    fill: &'a dyn Source<A>,
    /// Whether long runs may take the blocked order.
    blocked: bool,
    parallel: bool,
    threads: usize,
    level: Level,
    /// Where a lone writer has got to, for a helper faulting its output's pages in.
    progress: &'a Progress,
}

/// `src` cast to `acc` and scanned with `op` as `lanes` and `order` say.
pub(crate) fn scan(src: &DataRef<'_>, acc: DType, lanes: &Lanes, op: ScanOp, order: Order) -> Data {
    scan_at(src, acc, lanes, op, order, Level::detect())
}

/// [`scan`] with the kernels of `level`.
fn scan_at(
    src: &DataRef<'_>,
    acc: DType,
    lanes: &Lanes,
    op: ScanOp,
    order: Order,
    level: Level,
) -> Data {
    let args = (lanes, op, order, level);
    fn run<A: Element>(src: &DataRef<'_>, args: Args<'_>) -> Vec<A> {
        // Uninitialised, huge-page-backed memory: no pass over the buffer before ours.
        let mut dst = crate::alloc::uninit(src.len());
        scan_slots(src, &mut dst, args);
        // SAFETY: the scan fills every element of its output before scanning it.
        unsafe { crate::alloc::assume_init(dst) }
    }
    match acc {
        DType::Bool => Data::Bool(run(src, args)),
        DType::Int8 => Data::Int8(run(src, args)),
        DType::Int16 => Data::Int16(run(src, args)),
        DType::Int32 => Data::Int32(run(src, args)),
        DType::Int64 => Data::Int64(run(src, args)),
        DType::UInt8 => Data::UInt8(run(src, args)),
        DType::UInt16 => Data::UInt16(run(src, args)),
        DType::UInt32 => Data::UInt32(run(src, args)),
        DType::UInt64 => Data::UInt64(run(src, args)),
        DType::Float16 => Data::Float16(run(src, args)),
        DType::Float32 => Data::Float32(run(src, args)),
        DType::Float64 => Data::Float64(run(src, args)),
    }
}

/// What a scan of data is asked: its lanes, operation, order and kernels.
type Args<'a> = (&'a Lanes, ScanOp, Order, Level);

/// `src` cast to `A` and scanned into `dst` (of its length), every element of which is
/// written.
fn scan_slots<A: Element>(src: &DataRef<'_>, dst: &mut Slots<A>, args: Args<'_>) {
    let (lanes, op, order, level) = args;
    let nan_to = op.nan_to().map(A::from_scalar);
    with_data!(DataRef, src, s => {
        let source = Cast { src: s, nan_to, level };
        scan_with::<A>(dst, lanes, order, op, &source, level);
    });
}

/// [`scan`] into `dst`, which holds `src.len()` elements of the loop dtype already (a caller's
/// `out`): its pages are in place, so the scan writes them without the faults (and the
/// kernel's zeroing) of a fresh buffer.
pub(crate) fn scan_into(
    src: &DataRef<'_>,
    dst: &mut DataMut<'_>,
    lanes: &Lanes,
    op: ScanOp,
    order: Order,
) {
    let args = (lanes, op, order, Level::detect());
    // SAFETY: the kernels write only values into the slots.
    with_data!(DataMut, dst, d => scan_slots(src, unsafe { as_slots(d) }, args))
}

/// Scans data that already holds the loop dtype, in place.
pub(crate) fn scan_data(data: &mut Data, lanes: &Lanes, op: ScanOp, order: Order) {
    fn run<A: Element>(v: &mut [A], lanes: &Lanes, op: ScanOp, order: Order) {
        let source = InPlace {
            nan_to: op.nan_to().map(A::from_scalar),
        };
        // SAFETY: the kernels write only values.
        let v = unsafe { as_slots(v) };
        scan_with::<A>(v, lanes, order, op, &source, Level::detect());
    }
    with_data!(Data, data, v => run(v.as_mut_slice(), lanes, op, order))
}

/// [`scan_slice`] with `op`'s monoid; logaddexp takes its running form where the order need
/// not be numpy's.
fn scan_with<A: Element>(
    dst: &mut Slots<A>,
    lanes: &Lanes,
    order: Order,
    op: ScanOp,
    fill: &dyn Source<A>,
    level: Level,
) {
    if op.combine() == Combine::LogAddExp && order != Order::Exact {
        return scan_slice::<A, LogSumExp>(dst, lanes, order, op, fill, level);
    }
    with_monoid!(op, M => scan_slice::<A, M>(dst, lanes, order, op, fill, level))
}

/// How the runs along the last axis are scanned.
#[derive(Copy, Clone, PartialEq, Eq)]
enum Kernel {
    /// numpy's loop, one combine per element: numpy's order for float sums and products,
    /// logaddexp, and float16 (whose arithmetic goes through float32 element by element).
    Sequential,
    /// In-register prefixes with one carry per vector: integers, bool, and float max and
    /// min, exact in any order (a float vector that holds a NaN is combined lane by lane, with
    /// numpy's NaN rules), and float products in the fast and wide orders.
    Vectors,
    /// In-register prefixes with a compensated carry: float32 and float64 sums in the fast
    /// and wide orders.
    Compensated,
    /// float16 sums in the wide order: [`Kernel::Compensated`] in float32, each stretch
    /// widened on the stack and rounded back once ([`wide_float16`] says where).
    Widened,
}

impl Kernel {
    fn of(dtype: DType, op: ScanOp, order: Order) -> Kernel {
        let float = matches!(dtype, DType::Float32 | DType::Float64);
        match op.combine() {
            Combine::LogAddExp => Kernel::Sequential,
            Combine::Add if dtype == DType::Float16 && order == Order::Wide => Kernel::Widened,
            _ if dtype == DType::Float16 => Kernel::Sequential,
            _ if !dtype.is_float() => Kernel::Vectors,
            Combine::Max | Combine::Min => Kernel::Vectors,
            _ if order == Order::Exact => Kernel::Sequential,
            Combine::Add if float => Kernel::Compensated,
            _ => Kernel::Vectors,
        }
    }
}

fn scan_slice<A: Element, M: Monoid<A>>(
    dst: &mut Slots<A>,
    lanes: &Lanes,
    order: Order,
    op: ScanOp,
    fill: &dyn Source<A>,
    level: Level,
) {
    match Kernel::of(A::DTYPE, op, order) {
        Kernel::Sequential => {
            let runner = Sequential::<M> {
                level,
                monoid: PhantomData,
            };
            scan_slice_with::<A, M, _>(dst, lanes, op, fill, &runner, level)
        }
        Kernel::Vectors => {
            let runner = Vectors::<M> {
                level,
                monoid: PhantomData,
            };
            scan_slice_with::<A, M, _>(dst, lanes, op, fill, &runner, level)
        }
        Kernel::Compensated => {
            let runner = Compensated { level };
            scan_slice_with::<A, M, _>(dst, lanes, op, fill, &runner, level)
        }
        Kernel::Widened => {
            let runner = Widened { level };
            scan_slice_with::<A, M, _>(dst, lanes, op, fill, &runner, level)
        }
    }
}

fn scan_slice_with<A: Element, M: Monoid<A>, R: Runner<A>>(
    dst: &mut Slots<A>,
    lanes: &Lanes,
    op: ScanOp,
    fill: &dyn Source<A>,
    runner: &R,
    level: Level,
) {
    let g = &lanes.geometry;
    if dst.is_empty() || g.lane_len == 0 {
        return;
    }
    let threads = rayon::current_num_threads();
    // Only combines exact in any order take blocks, and float sums whose blocks carry the
    // grains of one scan: a float result must not depend on the number of threads.
    let exact = !A::DTYPE.is_float() || !op.rounds() || R::OWN_BLOCKS;
    let progress = Progress::default();
    let job = Job {
        progress: &progress,
        lanes,
        fill,
        blocked: exact && threads >= BLOCKED_MIN_THREADS,
        parallel: dst.len() >= PARALLEL_MIN_ELEMENTS && threads > 1,
        threads,
        level,
    };
    let lane = g.lane_len as usize;
    let cols = g.cols as usize;
    if cols == 1 {
        let count = dst.len() / lane;
        if job.parallel && count >= threads {
            dst.par_chunks_mut(lane)
                .enumerate()
                .for_each(|(k, l)| scan_lane::<A, M, R>(l, k * lane, &job, runner, false));
        } else {
            for (k, l) in dst.chunks_mut(lane).enumerate() {
                scan_lane::<A, M, R>(l, k * lane, &job, runner, job.parallel);
            }
        }
        return;
    }
    let block = lane * cols;
    let outer = dst.len() / block;
    if job.parallel && outer >= threads {
        dst.par_chunks_mut(block)
            .enumerate()
            .for_each(|(o, b)| scan_rows::<A, M>(b, o * block, cols, 0..cols, &job));
    } else if job.parallel {
        for (o, b) in dst.chunks_mut(block).enumerate() {
            scan_rows_split::<A, M>(b, o * block, cols, &job);
        }
    } else {
        for (o, b) in dst.chunks_mut(block).enumerate() {
            scan_rows::<A, M>(b, o * block, cols, 0..cols, &job);
        }
    }
}

/// How one kernel scans a stretch of a run, and what it carries from one stretch to the next.
trait Runner<A: Element>: Sync {
    type State: Copy + Send + Sync;
    /// Scans `xs` in place in scan order (from its end when `reverse`), continuing `carry`
    /// or, without one, starting a run; returns the carry after `xs`.
    fn scan(
        &self,
        xs: &mut [A],
        carry: Option<Self::State>,
        reverse: bool,
        exclusive: bool,
        short: bool,
    ) -> Option<Self::State>;

    /// [`Runner::scan`] of `src` into `dst` (of the same length), every element of which it
    /// writes: by default a copy, then the scan in place.
    fn scan_from(
        &self,
        src: &[A],
        dst: &mut Slots<A>,
        carry: Option<Self::State>,
        reverse: bool,
        exclusive: bool,
        short: bool,
    ) -> Option<Self::State> {
        scan_copied(self, src, dst, carry, reverse, exclusive, short)
    }

    /// Whether a long run may take blocks scanned in parallel from the carries of
    /// [`Runner::parts`] and [`Runner::absorb`] ([`scan_grains`]), where [`scan_blocked`]
    /// would change its bits: the compensated float sums.
    const OWN_BLOCKS: bool = false;

    /// The parts of `xs` (a run's start, or a whole number of grains from it), in scan order,
    /// appended to `parts`: [`Runner::absorb`]ed in order into a carry, they give the carry
    /// that [`Runner::scan`] of `xs` leaves, bit for bit. Called only where
    /// [`Runner::OWN_BLOCKS`].
    fn parts(&self, xs: &[A], reverse: bool, parts: &mut Vec<Self::State>) {
        let _ = (xs, reverse, parts);
        unreachable!("a runner without parts")
    }

    /// `carry` (none: a run's start) after `part`. Called only where [`Runner::OWN_BLOCKS`].
    fn absorb(carry: Option<Self::State>, part: Self::State) -> Self::State {
        let _ = (carry, part);
        unreachable!("a runner without parts")
    }
}

/// `src` copied into `dst`, then scanned there by `runner`.
fn scan_copied<A: Element, R: Runner<A> + ?Sized>(
    runner: &R,
    src: &[A],
    dst: &mut Slots<A>,
    carry: Option<R::State>,
    reverse: bool,
    exclusive: bool,
    short: bool,
) -> Option<R::State> {
    for (d, &s) in dst.iter_mut().zip(src) {
        d.write(s);
    }
    // SAFETY: written just above (the lengths agree).
    let xs = unsafe { written(dst) };
    runner.scan(xs, carry, reverse, exclusive, short)
}

/// Runs (segments of a lane) shorter than this take numpy's loop in every order: the tree
/// gains nothing there, and a short scan keeps numpy's bits (its overflow to inf, its stall
/// at 2^24 in float32), as the GPU's per-invocation loop does for short inputs.
const SHORT_RUN: usize = 4 * simd::W;

/// [`Kernel::Sequential`].
struct Sequential<M> {
    level: Level,
    monoid: PhantomData<M>,
}

impl<A: Element, M: Monoid<A>> Runner<A> for Sequential<M> {
    type State = M::Run;
    fn scan(
        &self,
        xs: &mut [A],
        carry: Option<M::Run>,
        reverse: bool,
        exclusive: bool,
        _: bool,
    ) -> Option<M::Run> {
        if TypeId::of::<A>() == TypeId::of::<f16>() && TypeId::of::<M>() == TypeId::of::<Add>() {
            // SAFETY: `A` is float16, and the sum's state is its value, so both casts
            // reinterpret float16 as itself.
            let xs = unsafe { &mut *(xs as *mut [A] as *mut [f16]) };
            let carry = carry.map(|c| unsafe { std::mem::transmute_copy::<M::Run, f16>(&c) });
            let out = float16::sum(self.level, xs, carry, reverse, exclusive);
            return out.map(|c| unsafe { std::mem::transmute_copy::<f16, M::Run>(&c) });
        }
        sequential::<A, M>(xs, carry, reverse, exclusive)
    }
}

/// numpy's loop over `xs` in scan order.
fn sequential<A: Element, M: Monoid<A>>(
    xs: &mut [A],
    carry: Option<M::Run>,
    reverse: bool,
    exclusive: bool,
) -> Option<M::Run> {
    if reverse {
        scan_iter::<A, M>(xs.iter_mut().rev(), carry, exclusive)
    } else {
        scan_iter::<A, M>(xs.iter_mut(), carry, exclusive)
    }
}

/// [`Kernel::Vectors`]; only for monoids that fold their values, whose state is the value.
struct Vectors<M> {
    level: Level,
    monoid: PhantomData<M>,
}

impl<A: Element, M: Monoid<A>> Runner<A> for Vectors<M> {
    type State = M::Run;
    fn scan(
        &self,
        xs: &mut [A],
        carry: Option<M::Run>,
        reverse: bool,
        exclusive: bool,
        short: bool,
    ) -> Option<M::Run> {
        if short {
            return sequential::<A, M>(xs, carry, reverse, exclusive);
        }
        let carry = carry.map(|c| M::value(&c));
        simd::fold::<A, M>(self.level, Io::in_place(xs), carry, reverse, exclusive).map(M::start)
    }
    fn scan_from(
        &self,
        src: &[A],
        dst: &mut Slots<A>,
        carry: Option<M::Run>,
        reverse: bool,
        exclusive: bool,
        short: bool,
    ) -> Option<M::Run> {
        if short {
            return scan_copied(self, src, dst, carry, reverse, exclusive, short);
        }
        let carry = carry.map(|c| M::value(&c));
        let io = Io::from(src, dst);
        simd::fold::<A, M>(self.level, io, carry, reverse, exclusive).map(M::start)
    }
}

/// [`Kernel::Compensated`], for float32 and float64.
struct Compensated {
    level: Level,
}

impl<A: Element> Runner<A> for Compensated {
    type State = Comp<A>;
    fn scan(
        &self,
        xs: &mut [A],
        carry: Option<Comp<A>>,
        reverse: bool,
        exclusive: bool,
        short: bool,
    ) -> Option<Comp<A>> {
        type Add = crate::op::Add;
        if short {
            // The error term of a short run stays -0.0: its carry is numpy's running sum.
            let carry = carry.map(|c| c.hi);
            return sequential::<A, Add>(xs, carry, reverse, exclusive).map(|hi| Comp {
                hi,
                lo: <Add as Monoid<A>>::identity(),
            });
        }
        self.comp(Io::in_place(xs), carry, reverse, exclusive)
    }
    fn scan_from(
        &self,
        src: &[A],
        dst: &mut Slots<A>,
        carry: Option<Comp<A>>,
        reverse: bool,
        exclusive: bool,
        short: bool,
    ) -> Option<Comp<A>> {
        if short {
            return scan_copied(self, src, dst, carry, reverse, exclusive, short);
        }
        self.comp(Io::from(src, dst), carry, reverse, exclusive)
    }
    const OWN_BLOCKS: bool = true;
    /// Each grain's total as a carry of its own (an error of -0.0).
    fn parts(&self, xs: &[A], reverse: bool, parts: &mut Vec<Comp<A>>) {
        let done = grains_as::<A, f32>(self.level, xs, reverse, parts)
            || grains_as::<A, f64>(self.level, xs, reverse, parts);
        assert!(done, "the compensated kernel runs on float32 and float64");
    }
    fn absorb(carry: Option<Comp<A>>, part: Comp<A>) -> Comp<A> {
        absorb_as(carry, part)
    }
}

/// `x` as `F`, when `A` is `F`.
fn same<A: 'static + Copy, F: 'static + Copy>(x: A) -> Option<F> {
    // SAFETY: `A` and `F` are the same type.
    (TypeId::of::<A>() == TypeId::of::<F>()).then(|| unsafe { std::mem::transmute_copy(&x) })
}

/// The grains of `xs` (scanned in reverse when `reverse`) as carries of their own, each
/// grain's total with an error of -0.0, when `A` is `F`; else false.
fn grains_as<A: Element, F: simd::Float>(
    level: Level,
    xs: &[A],
    reverse: bool,
    parts: &mut Vec<Comp<A>>,
) -> bool {
    let Some(xs) = same_slice::<A, F>(xs) else {
        return false;
    };
    let mut totals = Vec::with_capacity(xs.len().div_ceil(simd::GRAIN));
    simd::grain_totals(level, xs, reverse, &mut totals);
    let lo = F::NEG_ZERO;
    parts.extend(
        totals
            .into_iter()
            .map(|hi| same::<Comp<F>, Comp<A>>(Comp { hi, lo }).expect("`A` is `F`")),
    );
    true
}

/// `carry` (none: a run's start) after a grain `part` of [`grains_as`].
fn absorb_as<A: Element>(carry: Option<Comp<A>>, part: Comp<A>) -> Comp<A> {
    fn go<A: Element, F: simd::Float>(carry: Option<Comp<A>>, part: Comp<A>) -> Option<Comp<A>> {
        let zero = Comp {
            hi: F::NEG_ZERO,
            lo: F::NEG_ZERO,
        };
        let carry = match carry {
            Some(c) => same::<Comp<A>, Comp<F>>(c)?,
            None => zero,
        };
        let part = same::<Comp<A>, Comp<F>>(part)?;
        same(simd::absorb(carry, part.hi))
    }
    go::<A, f32>(carry, part)
        .or_else(|| go::<A, f64>(carry, part))
        .expect("the compensated kernel runs on float32 and float64")
}

/// One long run (a whole segment) of a compensated float sum in blocks of [`BLOCK`], a
/// whole number of grains from the run's start in scan order: every block reduced to its
/// parts in parallel ([`Runner::parts`]), the carry before each block by absorbing them in
/// scan order ([`Runner::absorb`]), then every block scanned in parallel from its carry. The
/// bits are one scan's at any thread count; the input is read twice (one that needs a cast
/// is cast into the output by the first pass and scanned there).
fn scan_grains<A: Element, R: Runner<A>>(
    runner: &R,
    run: &mut Slots<A>,
    offset: usize,
    job: &Job<A>,
) {
    let (reverse, exclusive) = (job.lanes.reverse, job.lanes.exclusive);
    let n = run.len();
    let direct = job.fill.direct().map(|src| &src[offset..offset + n]);
    let block_start = |b: usize| block_start(n, b, reverse);
    let reduce_block = |(b, block): (usize, &mut Slots<A>)| {
        let start = block_start(b);
        let mut out = Vec::with_capacity(block.len().div_ceil(simd::GRAIN));
        match direct {
            Some(src) => runner.parts(&src[start..start + block.len()], reverse, &mut out),
            None => {
                for (p, piece) in block.chunks_mut(PIECE).enumerate() {
                    job.fill.fill(piece, offset + start + p * PIECE);
                }
                // SAFETY: every piece of the block was filled just above.
                runner.parts(unsafe { written(block) }, reverse, &mut out);
            }
        }
        out
    };
    let reduced = map_blocks(run, reverse, reduce_block);
    let mut carry: Option<R::State> = None;
    let carries: Vec<Option<R::State>> = reduced
        .iter()
        .map(|grains| {
            let before = carry;
            for &g in grains {
                carry = Some(R::absorb(carry, g));
            }
            before
        })
        .collect();
    let scan_block = |(b, (block, c)): (usize, (&mut Slots<A>, Option<R::State>))| {
        let start = block_start(b);
        match direct {
            Some(src) => {
                let src = &src[start..start + block.len()];
                runner.scan_from(src, block, c, reverse, exclusive, false);
            }
            None => {
                // SAFETY: the first pass filled the block.
                runner.scan(unsafe { written(block) }, c, reverse, exclusive, false);
            }
        }
    };
    for_blocks(run, reverse, carries, scan_block);
}

impl Compensated {
    fn comp<A: Element>(
        &self,
        io: Io<'_, A>,
        carry: Option<Comp<A>>,
        reverse: bool,
        exclusive: bool,
    ) -> Option<Comp<A>> {
        let level = self.level;
        let io = match as_float::<A, f32>(io, carry, |x, c| {
            simd::comp(level, x, c, reverse, exclusive)
        }) {
            Ok(r) => return r,
            Err(io) => io,
        };
        let io = match as_float::<A, f64>(io, carry, |x, c| {
            simd::comp(level, x, c, reverse, exclusive)
        }) {
            Ok(r) => return r,
            Err(io) => io,
        };
        // Not reached ([`Kernel::of`] picks this kernel for float32 and float64 only): an
        // uncompensated carry.
        type Add = crate::op::Add;
        let carry = carry.map(|c| c.hi);
        simd::fold::<A, Add>(level, io, carry, reverse, exclusive).map(|hi| Comp {
            hi,
            lo: <Add as Monoid<A>>::identity(),
        })
    }
}

/// [`Kernel::Widened`], for float16.
struct Widened {
    level: Level,
}

/// The stretch [`Widened`] widens at a time: a whole number of grains, so that the grains
/// stay counted from the run's start.
const WIDENED: usize = 16 * simd::GRAIN;

impl<A: Element> Runner<A> for Widened {
    type State = Comp<f32>;
    fn scan(
        &self,
        xs: &mut [A],
        carry: Option<Comp<f32>>,
        reverse: bool,
        exclusive: bool,
        short: bool,
    ) -> Option<Comp<f32>> {
        let p = xs.as_mut_ptr();
        // SAFETY: `xs` is read and written in place, one stretch at a time.
        unsafe { self.stretches::<A>(p, p, xs.len(), carry, reverse, exclusive, short) }
    }
    fn scan_from(
        &self,
        src: &[A],
        dst: &mut Slots<A>,
        carry: Option<Comp<f32>>,
        reverse: bool,
        exclusive: bool,
        short: bool,
    ) -> Option<Comp<f32>> {
        let (n, from, to) = (src.len(), src.as_ptr(), dst.as_mut_ptr().cast::<A>());
        // SAFETY: `src` and `dst` are `n` elements each (the caller's contract).
        unsafe { self.stretches::<A>(from, to, n, carry, reverse, exclusive, short) }
    }
    const OWN_BLOCKS: bool = true;
    /// Each stretch widened on the stack, in scan order, and its grains' totals taken in
    /// float32 as carries of their own (an error of -0.0).
    fn parts(&self, xs: &[A], reverse: bool, parts: &mut Vec<Comp<f32>>) {
        let halves = same_slice::<A, f16>(xs).expect("the widened kernel runs on float16 only");
        let mut buf = [MaybeUninit::<f32>::uninit(); WIDENED];
        let mut totals = Vec::with_capacity(xs.len().div_ceil(simd::GRAIN));
        let n = halves.len();
        let mut done = 0;
        while done < n {
            let take = WIDENED.min(n - done);
            let at = if reverse { n - done - take } else { done };
            let wide = &mut buf[..take];
            float16::widen(self.level, &halves[at..at + take], wide);
            // SAFETY: `widen` wrote every element.
            simd::grain_totals(self.level, unsafe { written(wide) }, reverse, &mut totals);
            done += take;
        }
        parts.extend(totals.into_iter().map(|hi| Comp { hi, lo: -0.0 }));
    }
    fn absorb(carry: Option<Comp<f32>>, part: Comp<f32>) -> Comp<f32> {
        let carry = carry.unwrap_or(Comp { hi: -0.0, lo: -0.0 });
        simd::absorb(carry, part.hi)
    }
}

/// `xs` as `F`, when `A` is `F`.
fn same_slice<A: 'static, F: 'static>(xs: &[A]) -> Option<&[F]> {
    // SAFETY: `A` and `F` are the same type.
    (TypeId::of::<A>() == TypeId::of::<F>()).then(|| unsafe { &*(xs as *const [A] as *const [F]) })
}

impl Widened {
    /// The scan of the `n` elements at `src` into those at `dst` (the same place for a scan
    /// in place), stretch by stretch in scan order, each continuing the carry before it.
    ///
    /// # Safety
    /// `src` is readable and `dst` writable for `n` elements of `A`; each stretch is read
    /// before it is written.
    #[allow(clippy::too_many_arguments)]
    unsafe fn stretches<A: Element>(
        &self,
        src: *const A,
        dst: *mut A,
        n: usize,
        mut carry: Option<Comp<f32>>,
        reverse: bool,
        exclusive: bool,
        short: bool,
    ) -> Option<Comp<f32>> {
        assert!(
            TypeId::of::<A>() == TypeId::of::<f16>(),
            "the widened kernel runs on float16 only"
        );
        let (src, dst) = (src.cast::<f16>(), dst.cast::<MaybeUninit<f16>>());
        let inner = Compensated { level: self.level };
        let mut buf = [MaybeUninit::<f32>::uninit(); WIDENED];
        let mut done = 0;
        while done < n {
            let take = WIDENED.min(n - done);
            let at = if reverse { n - done - take } else { done };
            let wide = &mut buf[..take];
            // SAFETY: the caller's contract; `A` is float16 (checked above), and the input's
            // stretch is no longer borrowed once the output's is.
            unsafe {
                float16::widen(
                    self.level,
                    std::slice::from_raw_parts(src.add(at), take),
                    wide,
                );
                let wide = written(wide);
                carry = inner.scan(wide, carry, reverse, exclusive, short);
                let out = std::slice::from_raw_parts_mut(dst.add(at), take);
                float16::narrow(self.level, wide, out);
            }
            done += take;
        }
        carry
    }
}

/// Whether the CPU scans `acc` in the wide order itself, widening as it goes (float16 sums
/// along the last axis), where otherwise a wider copy is scanned and rounded afterwards.
pub(crate) fn wide_float16(acc: DType, op: ScanOp, order: Order, lanes: &Lanes) -> bool {
    acc == DType::Float16
        && op.combine() == Combine::Add
        && order == Order::Wide
        && lanes.geometry.cols == 1
}

/// `f` on `io` and `carry` seen as `F`, when `A` is `F`; else `io` back.
fn as_float<'a, A: Element, F: simd::Float>(
    io: Io<'a, A>,
    carry: Option<Comp<A>>,
    f: impl FnOnce(Io<'a, F>, Option<Comp<F>>) -> Option<Comp<F>>,
) -> Result<Option<Comp<A>>, Io<'a, A>> {
    let io = io.cast::<F>()?;
    // SAFETY: `cast` succeeded, so `A` and `F` are the same type and the state is
    // reinterpreted as itself.
    let carry = carry.map(|c| unsafe { std::mem::transmute_copy::<Comp<A>, Comp<F>>(&c) });
    let out = f(io, carry);
    // SAFETY: as above.
    Ok(out.map(|c| unsafe { std::mem::transmute_copy::<Comp<F>, Comp<A>>(&c) }))
}

/// The non-empty segments of a lane of `len` elements, as element ranges.
fn runs(lanes: &Lanes) -> impl Iterator<Item = Range<usize>> + '_ {
    lanes
        .segments
        .offsets()
        .windows(2)
        .filter(|w| w[1] > w[0])
        .map(|w| w[0] as usize..w[1] as usize)
}

/// Scans one contiguous lane, segment by segment; with `split`, its segments (or the blocks
/// of a long one) run in parallel.
fn scan_lane<A: Element, M: Monoid<A>, R: Runner<A>>(
    lane: &mut Slots<A>,
    offset: usize,
    job: &Job<A>,
    runner: &R,
    split: bool,
) {
    let long = |n: usize| split && job.blocked && n >= 2 * BLOCK;
    if !split {
        let len = lane.len();
        scan_segments::<A, R>(lane, 0..len, offset, job, runner);
        return;
    }
    // Groups of whole segments of about a block each, so that many short segments make few
    // tasks; a long segment is its own group and is scanned in blocks.
    let mut groups: Vec<(Range<usize>, &mut Slots<A>, bool)> = Vec::new();
    let mut rest: &mut Slots<A> = lane;
    let mut consumed = 0usize;
    for r in runs(job.lanes) {
        let alone = long(r.len());
        let cuts = [
            (alone && r.start > consumed).then_some((r.start, false)),
            (alone || r.end - consumed >= BLOCK).then_some((r.end, alone)),
        ];
        for (at, blocked) in cuts.into_iter().flatten() {
            let (head, tail) = std::mem::take(&mut rest).split_at_mut(at - consumed);
            groups.push((consumed..at, head, blocked));
            rest = tail;
            consumed = at;
        }
    }
    if !rest.is_empty() {
        let end = consumed + rest.len();
        groups.push((consumed..end, rest, false));
    }
    let group = |(range, slice, blocked): (Range<usize>, &mut Slots<A>, bool)| {
        if blocked && R::OWN_BLOCKS {
            scan_grains(runner, slice, offset + range.start, job);
        } else if blocked {
            scan_blocked::<A, M>(slice, offset + range.start, job);
        } else {
            scan_segments::<A, R>(slice, range, offset, job, runner);
        }
    };
    // One group runs here: handing it to the pool costs a thread's wake-up (tens of
    // microseconds on a busy machine) for nothing. Written by one thread, it can have the
    // pool take its page faults.
    match <[_; 1]>::try_from(groups) {
        Ok([(range, slice, false)]) => {
            prefaulting(slice, job.lanes.reverse, job.progress, |slice| {
                group((range, slice, false))
            })
        }
        Ok([blocked]) => group(blocked),
        Err(groups) => groups.into_par_iter().for_each(group),
    }
}

/// Scans `span`, lane positions `range` (whole segments) of the lane whose first element is
/// input element `offset`, sequentially in the job's direction. Each piece of the input is
/// filled once and every segment in it scanned, so short segments cost no call of their own.
/// A piece that ends inside a segment ends a whole number of grains ([`simd::GRAIN`]) from
/// the segment's start in scan order, so the grains, and a float result's bits, are the same
/// whatever the range (and so the thread count).
fn scan_segments<A: Element, R: Runner<A>>(
    span: &mut Slots<A>,
    range: Range<usize>,
    offset: usize,
    job: &Job<A>,
    runner: &R,
) {
    let offsets = job.lanes.segments.offsets();
    let at = |k: usize| offsets[k] as usize;
    let exclusive = job.lanes.exclusive;
    let base = range.start;
    let direct = job.fill.direct();
    let mut carry: Option<R::State> = None;
    if job.lanes.reverse {
        // `k`: the start of the segment holding `pos - 1`.
        let mut pos = range.end;
        let mut k = offsets
            .partition_point(|&o| (o as usize) < pos)
            .saturating_sub(1);
        while pos > range.start {
            let mut piece_start = pos.saturating_sub(PIECE).max(range.start);
            // The segment holding `piece_start`: [at(j - 1), at(j)).
            let j = offsets.partition_point(|&o| (o as usize) <= piece_start);
            if j > 0 && j < offsets.len() && at(j - 1) < piece_start {
                let end = at(j);
                let cut = end - (end - piece_start) / simd::GRAIN * simd::GRAIN;
                if cut < pos {
                    piece_start = cut;
                }
            }
            let dst = &mut span[piece_start - base..pos - base];
            job.progress.reached(dst.as_ptr());
            let mut piece = Piece::new(job, direct, dst, offset + piece_start);
            while pos > piece_start {
                while at(k) >= pos {
                    k -= 1;
                }
                let stop = at(k).max(piece_start);
                let short = at(k + 1) - at(k) < SHORT_RUN;
                let part = stop - piece_start..pos - piece_start;
                carry = piece.scan(part, runner, carry, true, exclusive, short);
                if stop == at(k) {
                    carry = None;
                }
                pos = stop;
            }
        }
    } else {
        // `k`: the end of the segment holding `pos`.
        let mut pos = range.start;
        let mut k = offsets.partition_point(|&o| (o as usize) <= pos);
        while pos < range.end {
            let mut piece_end = (pos + PIECE).min(range.end);
            // The segment holding `piece_end - 1`: [at(j - 1), at(j)).
            let j = offsets.partition_point(|&o| (o as usize) < piece_end);
            if j > 0 && j < offsets.len() && at(j) > piece_end {
                let start = at(j - 1);
                let cut = start + (piece_end - start) / simd::GRAIN * simd::GRAIN;
                if cut > pos {
                    piece_end = cut;
                }
            }
            let piece_start = pos;
            let dst = &mut span[pos - base..piece_end - base];
            job.progress.reached(dst.as_ptr_range().end);
            let mut piece = Piece::new(job, direct, dst, offset + pos);
            while pos < piece_end {
                while at(k) <= pos {
                    k += 1;
                }
                let stop = at(k).min(piece_end);
                let short = at(k) - at(k - 1) < SHORT_RUN;
                let part = pos - piece_start..stop - piece_start;
                carry = piece.scan(part, runner, carry, false, exclusive, short);
                if stop == at(k) {
                    carry = None;
                }
                pos = stop;
            }
        }
    }
}

/// One piece of a lane, ready to scan: filled into the output, or (when the input needs no
/// cast or replacement) read by the kernels straight from the input, so that reading the
/// input, scanning and writing the output are one pass.
enum Piece<'a, A> {
    Filled(&'a mut [A]),
    Direct(&'a [A], &'a mut Slots<A>),
}

impl<'a, A: Element> Piece<'a, A> {
    /// Output slots `dst`, for input elements from `at` on, read from `direct` (the job's
    /// [`Source::direct`]) where it is given, else filled.
    fn new(job: &Job<'a, A>, direct: Option<&'a [A]>, dst: &'a mut Slots<A>, at: usize) -> Self {
        match direct {
            Some(src) => Piece::Direct(&src[at..at + dst.len()], dst),
            None => Piece::Filled(job.fill.fill(dst, at)),
        }
    }

    /// Scans elements `part` of the piece (see [`Runner::scan`]).
    fn scan<R: Runner<A>>(
        &mut self,
        part: Range<usize>,
        runner: &R,
        carry: Option<R::State>,
        reverse: bool,
        exclusive: bool,
        short: bool,
    ) -> Option<R::State> {
        match self {
            Piece::Filled(xs) => runner.scan(&mut xs[part], carry, reverse, exclusive, short),
            Piece::Direct(src, dst) => {
                let (src, dst) = (&src[part.clone()], &mut dst[part]);
                runner.scan_from(src, dst, carry, reverse, exclusive, short)
            }
        }
    }
}

/// Scans one run (a segment of a lane) in the job's direction, continuing `carry`
/// (everything before it in scan order).
fn scan_run<A: Element, R: Runner<A>>(
    run: &mut Slots<A>,
    offset: usize,
    mut carry: Option<R::State>,
    job: &Job<A>,
    fill: &dyn Source<A>,
    runner: &R,
) {
    let exclusive = job.lanes.exclusive;
    let n = run.len();
    if job.lanes.reverse {
        let mut end = n;
        while end > 0 {
            let start = end.saturating_sub(PIECE);
            let piece = fill.fill(&mut run[start..end], offset + start);
            carry = runner.scan(piece, carry, true, exclusive, false);
            end = start;
        }
    } else {
        for (p, piece) in run.chunks_mut(PIECE).enumerate() {
            let piece = fill.fill(piece, offset + p * PIECE);
            carry = runner.scan(piece, carry, false, exclusive, false);
        }
    }
}

/// The sequential scan of values in iteration order, continuing `carry` or, without one,
/// starting from the first value (numpy copies it: no identity is combined in).
#[inline(always)]
fn scan_iter<'a, A: Element, M: Monoid<A>>(
    mut it: impl Iterator<Item = &'a mut A>,
    carry: Option<M::Run>,
    exclusive: bool,
) -> Option<M::Run> {
    let first = it.next()?;
    let x0 = *first;
    let mut run = match carry {
        Some(mut c) => {
            M::step(&mut c, x0);
            c
        }
        None => M::start(x0),
    };
    if exclusive {
        *first = carry.map_or_else(M::empty, |c| M::value(&c));
        for x in it {
            let v = *x;
            *x = M::value(&run);
            M::step(&mut run, v);
        }
    } else {
        *first = M::value(&run);
        for x in it {
            M::step(&mut run, *x);
            *x = M::value(&run);
        }
    }
    Some(run)
}

/// The scan state after `xs` in order (addition: eight interleaved partial sums, combined as
/// a fixed tree, which vectorise).
fn reduce<A: Element, M: Monoid<A>>(xs: &[A], reverse: bool) -> M::Run {
    if M::PARTIALS {
        let mut parts = [M::identity(); 8];
        let chunks = xs.chunks_exact(8);
        let rest = chunks.remainder();
        for c in chunks {
            for k in 0..8 {
                parts[k] = M::combine(parts[k], c[k]);
            }
        }
        for (k, &x) in rest.iter().enumerate() {
            parts[k] = M::combine(parts[k], x);
        }
        let [a, b, c, d, e, f, g, h] = parts;
        let left = M::combine(M::combine(a, b), M::combine(c, d));
        return M::start(M::combine(
            left,
            M::combine(M::combine(e, f), M::combine(g, h)),
        ));
    }
    if reverse {
        fold_run::<A, M>(xs.iter().rev())
    } else {
        fold_run::<A, M>(xs.iter())
    }
}

/// The scan state after the values in iteration order.
fn fold_run<'a, A: Element, M: Monoid<A>>(mut it: impl Iterator<Item = &'a A>) -> M::Run {
    let mut run = M::start(it.next().copied().unwrap_or_else(M::identity));
    it.for_each(|&x| M::step(&mut run, x));
    run
}

/// The first element of block `b` in scan order of a run of `n`: blocks of [`BLOCK`] from the
/// run's start, or (`reverse`) from its end.
fn block_start(n: usize, b: usize, reverse: bool) -> usize {
    if reverse {
        n.saturating_sub((b + 1) * BLOCK)
    } else {
        b * BLOCK
    }
}

/// `f` of every block of `run` with its index in scan order, in parallel; the results in
/// scan order.
fn map_blocks<A: Send, T: Send>(
    run: &mut Slots<A>,
    reverse: bool,
    f: impl Fn((usize, &mut Slots<A>)) -> T + Sync + Send,
) -> Vec<T> {
    if reverse {
        run.par_rchunks_mut(BLOCK).enumerate().map(f).collect()
    } else {
        run.par_chunks_mut(BLOCK).enumerate().map(f).collect()
    }
}

/// `f` of every block of `run` with its index in scan order and the item of `with` at that
/// index, in parallel.
fn for_blocks<A: Send, T: Send>(
    run: &mut Slots<A>,
    reverse: bool,
    with: Vec<T>,
    f: impl Fn((usize, (&mut Slots<A>, T))) + Sync + Send,
) {
    if reverse {
        run.par_rchunks_mut(BLOCK).zip(with).enumerate().for_each(f)
    } else {
        run.par_chunks_mut(BLOCK).zip(with).enumerate().for_each(f)
    }
}

/// One long run of a combine exact in any order (integers, bool, max and min), in blocks:
/// every block filled and reduced in parallel, the running totals in scan order, then every
/// block scanned in parallel from its running total. The input is read twice, so this pays
/// only with enough threads to share the second pass ([`BLOCKED_MIN_THREADS`]).
fn scan_blocked<A: Element, M: Monoid<A>>(run: &mut Slots<A>, offset: usize, job: &Job<A>) {
    let runner = Vectors::<M> {
        level: job.level,
        monoid: PhantomData,
    };
    let reverse = job.lanes.reverse;
    let n = run.len();
    let block_start = |b: usize| block_start(n, b, reverse);
    let sum_block = |(b, block): (usize, &mut Slots<A>)| {
        let start = block_start(b);
        for (p, piece) in block.chunks_mut(PIECE).enumerate() {
            job.fill.fill(piece, offset + start + p * PIECE);
        }
        // SAFETY: every piece of the block was filled just above.
        reduce::<A, M>(unsafe { written(block) }, reverse)
    };
    let sums = map_blocks(run, reverse, sum_block);
    let mut carry: Option<M::Run> = None;
    let carries: Vec<Option<M::Run>> = sums
        .iter()
        .map(|&s| {
            let before = carry;
            carry = Some(carry.map_or(s, |c| M::merge(c, s)));
            before
        })
        .collect();
    // The blocks already hold their inputs in the loop dtype.
    let filled = InPlace { nan_to: None };
    let scan_block = |(b, (block, c)): (usize, (&mut Slots<A>, Option<M::Run>))| {
        scan_run::<A, _>(block, offset + block_start(b), c, job, &filled, &runner);
    };
    for_blocks(run, reverse, carries, scan_block);
}

/// Scans columns `range` of one block of `lane` rows, segment by segment: every row is
/// combined into the next (the one above, in reverse) along contiguous memory, so every
/// column keeps numpy's order.
fn scan_rows<A: Element, M: Monoid<A>>(
    block: &mut Slots<A>,
    offset: usize,
    cols: usize,
    range: Range<usize>,
    job: &Job<A>,
) {
    for r in runs(job.lanes) {
        scan_row_run::<A, M>(block, offset, cols, range.clone(), r, job);
    }
}

fn scan_row_run<A: Element, M: Monoid<A>>(
    block: &mut Slots<A>,
    offset: usize,
    cols: usize,
    range: Range<usize>,
    rows: Range<usize>,
    job: &Job<A>,
) {
    let (reverse, exclusive) = (job.lanes.reverse, job.lanes.exclusive);
    let width = range.len();
    let whole = width == cols;
    // Narrow rows read an input that needs no cast where it lies, so that reading it,
    // combining and writing the output are one pass (for rows of eight, half the time of a
    // fill and a pass over it). Wide rows are filled first, which measured as fast or faster
    // (the fill is one copy along a whole row); float16 sums round in place after a fill.
    let direct = job
        .fill
        .direct()
        .filter(|_| width < WIDE_ROW && !float16_sum::<A, M>())
        .map(|src| &src[offset..offset + block.len()]);
    // Whole rows are cast several at a time; partial rows one segment at a time.
    let per_fill = (PIECE / width).max(1);
    let fill_rows = |block: &mut Slots<A>, lo: usize, hi: usize| {
        if whole {
            job.fill
                .fill(&mut block[lo * cols..hi * cols], offset + lo * cols);
        } else {
            for r in lo..hi {
                let seg = r * cols + range.start..r * cols + range.end;
                job.fill.fill(&mut block[seg.clone()], offset + seg.start);
            }
        }
    };
    // Each column's running state, row after row in scan order.
    let mut runs: Vec<M::Run> = Vec::with_capacity(width);
    let n = rows.len();
    let mut done = 0;
    while done < n {
        let take = per_fill.min(n - done);
        let (lo, hi) = if reverse {
            (rows.end - done - take, rows.end - done)
        } else {
            (rows.start + done, rows.start + done + take)
        };
        let edge = if reverse { lo } else { hi };
        job.progress
            .reached(block.as_ptr().wrapping_add(edge * cols));
        if direct.is_none() {
            fill_rows(block, lo, hi);
        }
        let dst = block.as_mut_ptr().cast::<A>();
        // Rows `lo..hi` of the columns in `range`: the input's values, or the fill's.
        let fill = Rows {
            src: direct.map_or(dst.cast_const(), <[A]>::as_ptr),
            dst,
        };
        // Row `k` of this fill in scan order, as an index into the block.
        let row_at = |k: usize| {
            let r = if reverse { hi - 1 - k } else { lo + k };
            r * cols + range.start
        };
        let mut from = 0;
        if done == 0 {
            let at = row_at(0);
            for j in at..at + width {
                // SAFETY: element `j` lies in row `row_at(0)` of the columns in `range`.
                let x = unsafe { fill.get(j) };
                runs.push(M::start(x));
                // SAFETY: as above.
                unsafe { fill.set(j, if exclusive { M::empty() } else { x }) };
            }
            from = 1;
        }
        let rows = from..take;
        if float16_rows::<A, M>(block, &mut runs, rows.clone(), &row_at, job) {
            // Stepped eight columns at a time.
        } else {
            // SAFETY: `fill` holds rows `lo..hi`, and `row_at` indexes them.
            unsafe { step_rows_at::<A, M>(job.level, exclusive, fill, &mut runs, rows, row_at) };
        }
        done += take;
    }
}

/// Where a fill's rows are read from (the input, or the output after a fill) and written to
/// (the output): one block of elements indexed alike, the same one or two that do not
/// overlap. Every element is read before it is written.
#[derive(Copy, Clone)]
struct Rows<A> {
    src: *const A,
    dst: *mut A,
}

impl<A: Copy> Rows<A> {
    /// # Safety
    /// `i` indexes an element of the fill.
    #[inline(always)]
    unsafe fn get(self, i: usize) -> A {
        // SAFETY: the caller's.
        unsafe { self.src.add(i).read() }
    }
    /// # Safety
    /// As for `get`.
    #[inline(always)]
    unsafe fn set(self, i: usize, x: A) {
        // SAFETY: the caller's.
        unsafe { self.dst.add(i).write(x) }
    }
    /// # Safety
    /// `i..i + N` index elements of the fill.
    #[inline(always)]
    unsafe fn get_n<const N: usize>(self, i: usize) -> [A; N] {
        // SAFETY: the caller's; the read is unaligned.
        unsafe { self.src.add(i).cast::<[A; N]>().read_unaligned() }
    }
    /// # Safety
    /// As for `get_n`.
    #[inline(always)]
    unsafe fn set_n<const N: usize>(self, i: usize, x: [A; N]) {
        // SAFETY: the caller's; the write is unaligned.
        unsafe { self.dst.add(i).cast::<[A; N]>().write_unaligned(x) }
    }
}

/// Rows from which a row is stepped whole, the compiler vectorising its loop over columns.
const WIDE_ROW: usize = 64;

/// Whether `A` is float16 and `M` the sum, whose rows [`float16_rows`] steps.
fn float16_sum<A: Element, M: Monoid<A>>() -> bool {
    TypeId::of::<A>() == TypeId::of::<f16>() && TypeId::of::<M>() == TypeId::of::<Add>()
}

/// Whether rows `rows` were stepped as float16 sums, eight columns rounded at once
/// ([`float16::step_row`]): only when `A` is float16 and `M` the sum.
fn float16_rows<A: Element, M: Monoid<A>>(
    block: &mut Slots<A>,
    runs: &mut [M::Run],
    rows: Range<usize>,
    row_at: impl Fn(usize) -> usize,
    job: &Job<A>,
) -> bool {
    if !float16_sum::<A, M>() {
        return false;
    }
    let width = runs.len();
    // SAFETY: `A` is float16 and the sum's state is its value, so both are float16 seen as
    // itself.
    let runs = unsafe { std::slice::from_raw_parts_mut(runs.as_mut_ptr().cast::<f16>(), width) };
    for k in rows {
        let at = row_at(k);
        // SAFETY: the caller filled these rows with values; `A` is float16.
        let row = unsafe { written(&mut block[at..at + width]) };
        let row = unsafe { std::slice::from_raw_parts_mut(row.as_mut_ptr().cast::<f16>(), width) };
        float16::step_row(job.level, row, runs, job.lanes.exclusive);
    }
    true
}

/// [`step_rows`] compiled for `level`: one row of eight float32 is one AVX register, and the
/// float maxima's selects are blends.
///
/// # Safety
/// As for [`step_rows`].
unsafe fn step_rows_at<A: Element, M: Monoid<A>>(
    level: Level,
    exclusive: bool,
    fill: Rows<A>,
    runs: &mut [M::Run],
    rows: Range<usize>,
    row_at: impl Fn(usize) -> usize,
) {
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2")]
    unsafe fn avx2<A: Element, M: Monoid<A>, const EXCL: bool>(
        fill: Rows<A>,
        runs: &mut [M::Run],
        rows: Range<usize>,
        row_at: impl Fn(usize) -> usize,
    ) {
        // SAFETY: the caller's.
        unsafe { step_rows::<A, M, EXCL>(fill, runs, rows, row_at) }
    }
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512dq,avx2,f16c")]
    unsafe fn avx512<A: Element, M: Monoid<A>, const EXCL: bool>(
        fill: Rows<A>,
        runs: &mut [M::Run],
        rows: Range<usize>,
        row_at: impl Fn(usize) -> usize,
    ) {
        // SAFETY: the caller's.
        unsafe { step_rows::<A, M, EXCL>(fill, runs, rows, row_at) }
    }
    // SAFETY: the caller's; a level is only made where the CPU runs it (`Level::available`).
    unsafe {
        match (level, exclusive) {
            #[cfg(target_arch = "x86_64")]
            (Level::Avx2, false) => avx2::<A, M, false>(fill, runs, rows, row_at),
            #[cfg(target_arch = "x86_64")]
            (Level::Avx2, true) => avx2::<A, M, true>(fill, runs, rows, row_at),
            #[cfg(target_arch = "x86_64")]
            (Level::Avx512, false) => avx512::<A, M, false>(fill, runs, rows, row_at),
            #[cfg(target_arch = "x86_64")]
            (Level::Avx512, true) => avx512::<A, M, true>(fill, runs, rows, row_at),
            (_, false) => step_rows::<A, M, false>(fill, runs, rows, row_at),
            (_, true) => step_rows::<A, M, true>(fill, runs, rows, row_at),
        }
    }
}

/// Rows `rows` of a fill (row `k` starts at `row_at(k)`, `runs.len()` columns wide), each
/// column's state taking the row's element, whose output becomes the state's value (`EXCL`:
/// the value before it). Wide rows go one loop along each row; narrow rows go eight columns
/// at a time down the rows, read, stepped and written as one array, those columns' states
/// held in registers across them, so that a row of eight costs no loop of its own.
///
/// # Safety
/// `fill` holds the elements `row_at(k)..row_at(k) + runs.len()` for every `k` in `rows`,
/// in place (`src` is `dst`) when the rows are [`WIDE_ROW`] or more wide.
#[inline(always)]
unsafe fn step_rows<A: Element, M: Monoid<A>, const EXCL: bool>(
    fill: Rows<A>,
    runs: &mut [M::Run],
    rows: Range<usize>,
    row_at: impl Fn(usize) -> usize,
) {
    const EIGHT: usize = 8;
    #[inline(always)]
    fn step<A: Element, M: Monoid<A>, const EXCL: bool>(x: A, run: &mut M::Run) -> A {
        if EXCL {
            let v = M::value(run);
            M::step(run, x);
            v
        } else {
            M::step(run, x);
            M::value(run)
        }
    }
    // Columns `at..at + EIGHT` of one row.
    #[inline(always)]
    unsafe fn eight<A: Element, M: Monoid<A>, const EXCL: bool>(
        fill: Rows<A>,
        at: usize,
        states: &mut [M::Run; EIGHT],
    ) {
        // SAFETY (both): the caller's.
        let xs: [A; EIGHT] = unsafe { fill.get_n(at) };
        let out: [A; EIGHT] = std::array::from_fn(|j| step::<A, M, EXCL>(xs[j], &mut states[j]));
        unsafe { fill.set_n(at, out) };
    }
    // Columns `at..at + states.len()` of one row, one by one.
    #[inline(always)]
    unsafe fn each<A: Element, M: Monoid<A>, const EXCL: bool>(
        fill: Rows<A>,
        at: usize,
        states: &mut [M::Run],
    ) {
        for (j, run) in states.iter_mut().enumerate() {
            // SAFETY (both): the caller's.
            let x = unsafe { fill.get(at + j) };
            unsafe { fill.set(at + j, step::<A, M, EXCL>(x, run)) };
        }
    }
    // SAFETY (every call below): the columns lie inside row `k`'s, which the caller vouches
    // for.
    if runs.len() >= WIDE_ROW {
        // Filled in place (`scan_row_run`): one loop along each row, which the compiler
        // vectorises as it would a copy's.
        debug_assert!(fill.src == fill.dst.cast_const(), "wide rows are filled");
        for k in rows {
            let row =
                unsafe { std::slice::from_raw_parts_mut(fill.dst.add(row_at(k)), runs.len()) };
            for (x, run) in row.iter_mut().zip(runs.iter_mut()) {
                *x = step::<A, M, EXCL>(*x, run);
            }
        }
        return;
    }
    for (c, states) in runs.chunks_mut(EIGHT).enumerate() {
        let c = c * EIGHT;
        if let Ok(states) = <&mut [M::Run; EIGHT]>::try_from(&mut *states) {
            let mut held = *states;
            for k in rows.clone() {
                unsafe { eight::<A, M, EXCL>(fill, row_at(k) + c, &mut held) };
            }
            *states = held;
        } else {
            for k in rows.clone() {
                unsafe { each::<A, M, EXCL>(fill, row_at(k) + c, states) };
            }
        }
    }
}

/// [`scan_rows`] of one tall block with its columns split across threads.
fn scan_rows_split<A: Element, M: Monoid<A>>(
    block: &mut Slots<A>,
    offset: usize,
    cols: usize,
    job: &Job<A>,
) {
    let width = cols.div_ceil(job.threads).max(64);
    if width >= cols {
        // Too narrow to split: one thread writes the rows in order, and the pool can take
        // their page faults.
        let reverse = job.lanes.reverse;
        return prefaulting(block, reverse, job.progress, |block| {
            scan_rows::<A, M>(block, offset, cols, 0..cols, job)
        });
    }
    let shared = SharedBlock(block.as_mut_ptr(), block.len());
    (0..cols.div_ceil(width)).into_par_iter().for_each(|i| {
        let range = i * width..((i + 1) * width).min(cols);
        // SAFETY: each task reads and writes only columns `range` of the block, which no other
        // task touches, and the block outlives the parallel loop.
        let block = unsafe { std::slice::from_raw_parts_mut(shared.ptr(), shared.1) };
        scan_rows::<A, M>(block, offset, cols, range, job);
    });
}

#[derive(Copy, Clone)]
struct SharedBlock<T>(*mut T, usize);
unsafe impl<T: Send> Send for SharedBlock<T> {}
unsafe impl<T: Send> Sync for SharedBlock<T> {}
impl<T> SharedBlock<T> {
    fn ptr(&self) -> *mut T {
        self.0
    }
}

/// The int64 positions along the axis of the running maximum (`max`) or minimum of `x` (in
/// the loop dtype), by torch's rule: element i takes over when it is NaN, or when the running
/// value is not NaN and `x[i] >= acc` (`<=` for the minimum), so ties take the element scanned
/// last and the latest NaN wins. Exclusive scans give each element the position of the
/// extreme strictly before it, and -1 where there is none.
pub(crate) fn extreme_indices(x: &DataRef<'_>, lanes: &Lanes, max: bool) -> Vec<i64> {
    with_data!(DataRef, x, v => indices_of(v, lanes, max))
}

fn indices_of<A: Element>(x: &[A], lanes: &Lanes, max: bool) -> Vec<i64> {
    let g = &lanes.geometry;
    let mut out = vec![-1i64; x.len()];
    if x.is_empty() || g.lane_len == 0 {
        return out;
    }
    let (lane, cols) = (g.lane_len as usize, g.cols as usize);
    let takes =
        |v: A, acc: A| v.is_nan() || (!acc.is_nan() && if max { v >= acc } else { v <= acc });
    let block = lane * cols;
    out.par_chunks_mut(block)
        .zip(x.par_chunks(block))
        .for_each(|(out, x)| {
            for c in 0..cols {
                for r in runs(lanes) {
                    let positions: Box<dyn Iterator<Item = usize>> = if lanes.reverse {
                        Box::new(r.rev())
                    } else {
                        Box::new(r)
                    };
                    let mut best: Option<(A, i64)> = None;
                    for p in positions {
                        let i = p * cols + c;
                        let before = best.map_or(-1, |b| b.1);
                        best = match best {
                            Some((acc, _)) if !takes(x[i], acc) => best,
                            _ => Some((x[i], p as i64)),
                        };
                        out[i] = if lanes.exclusive {
                            before
                        } else {
                            best.unwrap().1
                        };
                    }
                }
            }
        });
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::layout::{Geometry, Segments};

    /// The plain sequential fold of every run in scan order, written element by element.
    fn fold<A: Element, M: Monoid<A>>(data: &[A], lanes: &Lanes) -> Vec<A> {
        let g = &lanes.geometry;
        let (lane, cols) = (g.lane_len as usize, g.cols as usize);
        let mut out = data.to_vec();
        for l in 0..(g.rows as usize / lane) {
            for c in 0..cols {
                for r in runs(lanes) {
                    let mut pos: Vec<usize> = r.collect();
                    if lanes.reverse {
                        pos.reverse();
                    }
                    let mut acc: Option<A> = None;
                    for p in pos {
                        let i = (l * lane + p) * cols + c;
                        let x = data[i];
                        let next = acc.map_or(x, |a| M::combine(a, x));
                        out[i] = if lanes.exclusive {
                            acc.unwrap_or_else(M::empty)
                        } else {
                            next
                        };
                        acc = Some(next);
                    }
                }
            }
        }
        out
    }

    fn with_threads<R: Send>(threads: usize, f: impl FnOnce() -> R + Send) -> R {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap();
        pool.install(f)
    }

    fn lanes(rows: usize, cols: usize, lane: usize) -> Lanes {
        Lanes::plain(Geometry {
            rows: rows as u64,
            cols: cols as u64,
            lane_len: lane as u64,
        })
    }

    fn scan_i64(data: &[i64], l: &Lanes, op: ScanOp, order: Order) -> Vec<i64> {
        let src: Vec<i32> = data.iter().map(|&x| x as i32).collect();
        match scan(&DataRef::Int32(&src), DType::Int64, l, op, order) {
            Data::Int64(v) => v,
            _ => unreachable!(),
        }
    }

    #[test]
    fn seed_examples() {
        let v = [5i64, 6, 7, 8, 9, 10, 11, 12, 19, 25];
        let r = scan_i64(&v, &lanes(10, 1, 10), ScanOp::Sum, Order::Fast);
        assert_eq!(r, [5, 11, 18, 26, 35, 45, 56, 68, 87, 112]);
        let m = [1i64, 4, 0, 7, 0, 9, 5, 0, 3, 12, 0, 5];
        let r = scan_i64(&m, &lanes(12, 1, 3), ScanOp::Sum, Order::Fast);
        assert_eq!(r, [1, 5, 5, 7, 7, 16, 5, 5, 8, 12, 12, 17]);
    }

    /// Every parallel split (lanes, blocks of long runs, groups of segments, outer blocks,
    /// column ranges) at sizes that divide unevenly, for every combine, forward and reverse,
    /// inclusive and exclusive, with and without segments, against the plain fold; integers
    /// must match exactly. Two threads take the sequential run loop, four the blocked one.
    #[test]
    fn parallel_paths_match_the_fold() {
        let cases = [
            (1 << 17, 1, 1 << 17),
            (37 * BLOCK + 12345, 1, 37 * BLOCK + 12345),
            (2 * BLOCK + 1, 1, 2 * BLOCK + 1),
            (100_002, 1, 7),
            (1 << 10, 300, 1 << 10),
            (4000, 40, 1000),
            (70_001, 3, 70_001),
            (5, 20_011, 5),
            // Rows of a block of eight columns and five more; tall rows of eight, whose
            // output (over 8 MiB) one thread writes while the pool faults it in.
            (3000, 13, 3000),
            (150_001, 8, 150_001),
        ];
        for threads in [2, BLOCKED_MIN_THREADS] {
            for (rows, cols, lane) in cases {
                let data: Vec<i64> = (0..rows * cols)
                    .map(|i| (i as i64 * 7919) % 1000 - 500)
                    .collect();
                let segments = [
                    Segments::whole(lane as u64),
                    // Empty segments at both ends and in the middle, one long segment.
                    Segments::new(
                        &[
                            0,
                            0,
                            1,
                            lane as i64 / 3,
                            lane as i64 / 3,
                            lane as i64,
                            lane as i64,
                        ],
                        lane as u64,
                    )
                    .unwrap(),
                ];
                for (s, reverse, exclusive) in [
                    (0, false, false),
                    (0, true, false),
                    (0, false, true),
                    (1, true, true),
                    (1, false, false),
                ] {
                    let mut l = lanes(rows, cols, lane);
                    l.segments = segments[s].clone();
                    l.reverse = reverse;
                    l.exclusive = exclusive;
                    for op in [ScanOp::Sum, ScanOp::Max, ScanOp::Prod] {
                        let want = with_monoid!(op, M => fold::<i64, M>(&data, &l));
                        let what = format!(
                            "{op} rows {rows} cols {cols} lane {lane} threads {threads} \
                             segments {s} reverse {reverse} exclusive {exclusive}"
                        );
                        let got = with_threads(threads, || scan_i64(&data, &l, op, Order::Fast));
                        assert_eq!(got, want, "cast: {what}");
                        let mut d = Data::Int64(data.clone());
                        with_threads(threads, || scan_data(&mut d, &l, op, Order::Exact));
                        assert_eq!(d, Data::Int64(want), "in place: {what}");
                    }
                }
            }
        }
    }

    /// Down rows (other axes), at every level and thread count: read straight from an input of
    /// the loop dtype, filled from a cast one (int32 into int64), and NaN replaced first (the
    /// nan* scans), rows of every width around the eight-column step, forward and reverse,
    /// inclusive and exclusive, against the fold. Float maxima and minima keep numpy's NaN
    /// bits and signed zeros; sums and products any NaN where the fold has one.
    #[test]
    fn rows_match_the_fold_at_every_level() {
        let specials = [
            f32::NAN,
            -f32::NAN,
            0.0,
            -0.0,
            f32::INFINITY,
            f32::NEG_INFINITY,
        ];
        let f32s = |n: usize| -> Vec<f32> {
            (0..n)
                // A special in about 150 elements, so that most columns run a while first.
                .map(|i| match (i * 2654435761) % 997 {
                    k @ 0..=5 => specials[k],
                    k => ((k % 97) as f32 - 48.0) / 32.0,
                })
                .collect()
        };
        let same = |a: &[f32], b: &[f32], nan_bits: bool| {
            a.iter()
                .zip(b)
                .all(|(x, y)| x.to_bits() == y.to_bits() || (!nan_bits && x.is_nan() && y.is_nan()))
        };
        for (rows, cols, lane) in [
            (300, 8, 300),
            (200, 13, 200),
            (100, 16, 100),
            (64, 63, 64),
            (40, 77, 40),
            (9, 200, 9),
            // Several lanes down the rows (a middle axis): blocks after the first start
            // inside the input.
            (600, 8, 200),
            (600, 13, 150),
            // Past the parallel threshold: one writer down rows of eight, and rows of 100
            // split into columns 0..64 and 64..100 across threads.
            (9000, 8, 9000),
            (700, 100, 700),
        ] {
            let mut l = lanes(rows, cols, lane);
            let f = f32s(rows * cols);
            let ints: Vec<i32> = (0..rows * cols)
                .map(|i| (i as i32 * 7919) % 41 - 20)
                .collect();
            let wide: Vec<i64> = ints.iter().map(|&x| x as i64).collect();
            for (reverse, exclusive) in [(false, false), (true, false), (false, true), (true, true)]
            {
                (l.reverse, l.exclusive) = (reverse, exclusive);
                for op in [
                    ScanOp::Sum,
                    ScanOp::Prod,
                    ScanOp::Max,
                    ScanOp::Min,
                    ScanOp::NanSum,
                ] {
                    let what =
                        format!("{op} {rows}x{cols} reverse {reverse} exclusive {exclusive}");
                    let nan_bits = matches!(op, ScanOp::Max | ScanOp::Min);
                    let input: Vec<f32> = match op.nan_to() {
                        Some(r) => f
                            .iter()
                            .map(|&x| if x.is_nan() { f32::from_scalar(r) } else { x })
                            .collect(),
                        None => f.clone(),
                    };
                    let want = with_monoid!(op, M => fold::<f32, M>(&input, &l));
                    let iwant = with_monoid!(op, M => fold::<i64, M>(&wide, &l));
                    for level in Level::available() {
                        for threads in [1, 2] {
                            let got = with_threads(threads, || {
                                scan_at(
                                    &DataRef::Float32(&f),
                                    DType::Float32,
                                    &l,
                                    op,
                                    Order::Fast,
                                    level,
                                )
                            });
                            let Data::Float32(got) = got else {
                                unreachable!()
                            };
                            assert!(
                                same(&got, &want, nan_bits),
                                "float32 {what} {level:?} {threads}"
                            );
                            for src in [DataRef::Int32(&ints), DataRef::Int64(&wide)] {
                                let got = with_threads(threads, || {
                                    scan_at(&src, DType::Int64, &l, op, Order::Fast, level)
                                });
                                assert_eq!(
                                    got,
                                    Data::Int64(iwant.clone()),
                                    "int64 {what} {level:?}"
                                );
                            }
                        }
                    }
                    let mut d = Data::Float32(f.clone());
                    scan_data(&mut d, &l, op, Order::Fast);
                    let Data::Float32(got) = d else {
                        unreachable!()
                    };
                    assert!(same(&got, &want, nan_bits), "in place: float32 {what}");
                }
            }
        }
    }

    /// The cast loop compiled at every level gives the portable loop's values, for every
    /// pair of source and loop dtypes the scans cast between, extremes and specials included
    /// (a vectorised conversion must keep the scalar one's rounding and saturation).
    #[test]
    fn casts_match_at_every_level() {
        use crate::dtype::Scalar;
        fn inputs<S: Element>() -> Vec<S> {
            let mut s = 0x9E37_79B9_7F4A_7C15u64;
            let specials = [
                Scalar::Float(f64::NAN),
                Scalar::Float(f64::INFINITY),
                Scalar::Float(f64::NEG_INFINITY),
                Scalar::Float(-0.0),
                Scalar::Float(1e300),
                Scalar::Float(-1e300),
                Scalar::Float(9.3e18),
                Scalar::Float(-9.3e18),
                Scalar::Float(2.5),
                Scalar::Float(-3.5),
                Scalar::Float(1e-310),
                Scalar::Int(i64::MIN),
                Scalar::Int(i64::MAX),
                Scalar::UInt(u64::MAX),
                Scalar::Int(-1),
                Scalar::Int(255),
                Scalar::Int(70_000),
            ];
            (0..1000)
                .map(|i| {
                    s ^= s << 13;
                    s ^= s >> 7;
                    s ^= s << 17;
                    let v = match i % 3 {
                        0 => specials[(s % specials.len() as u64) as usize],
                        1 if S::DTYPE.is_float() => Scalar::Float((s as i64) as f64 / 7.0),
                        1 => Scalar::UInt(s),
                        _ => Scalar::Int((s >> 50) as i64 - 8192),
                    };
                    S::from_scalar(v)
                })
                .collect()
        }
        fn check<S: Element, A: Element>() {
            let src = inputs::<S>();
            let show = |v: Vec<MaybeUninit<A>>| -> Vec<String> {
                // SAFETY: `cast_into` wrote every element.
                let v = unsafe { crate::alloc::assume_init(v) };
                v.iter().map(|x| format!("{:?}", x.to_scalar())).collect()
            };
            let mut want = vec![MaybeUninit::uninit(); src.len()];
            cast_into(Level::Portable, &src, &mut want);
            let want = show(want);
            for level in Level::available() {
                let mut got = vec![MaybeUninit::uninit(); src.len()];
                cast_into(level, &src, &mut got);
                assert_eq!(
                    show(got),
                    want,
                    "{:?} into {:?} at {level:?}",
                    S::DTYPE,
                    A::DTYPE
                );
            }
        }
        macro_rules! into_each {
            ($($s:ty),*) => {$(
                check::<$s, i64>();
                check::<$s, u64>();
                check::<$s, i32>();
                check::<$s, f16>();
                check::<$s, f32>();
                check::<$s, f64>();
            )*};
        }
        into_each!(bool, i8, i16, i32, i64, u8, u16, u32, u64, f16, f32, f64);
    }

    /// A segment per element, and many short segments over a long lane.
    #[test]
    fn many_segments() {
        let n = 3 * BLOCK + 17;
        let data: Vec<i64> = (0..n as i64).map(|i| i % 13 - 6).collect();
        let mut l = lanes(n, 1, n);
        let per_element: Vec<i64> = (0..=n as i64).collect();
        let every_fifth: Vec<i64> = (0..n as i64).step_by(5).chain([n as i64]).collect();
        for offsets in [per_element, every_fifth] {
            l.segments = Segments::new(&offsets, n as u64).unwrap();
            for (reverse, exclusive) in [(false, false), (true, true)] {
                l.reverse = reverse;
                l.exclusive = exclusive;
                let want = fold::<i64, crate::op::Add>(&data, &l);
                let got = with_threads(BLOCKED_MIN_THREADS, || {
                    scan_i64(&data, &l, ScanOp::Sum, Order::Fast)
                });
                assert_eq!(got, want, "reverse {reverse} exclusive {exclusive}");
            }
        }
    }

    fn scan_f32(data: &[f32], l: &Lanes, order: Order, threads: usize, level: Level) -> Vec<u32> {
        let src = DataRef::Float32(data);
        match with_threads(threads, || {
            scan_at(&src, DType::Float32, l, ScanOp::Sum, order, level)
        }) {
            Data::Float32(v) => v.iter().map(|x| x.to_bits()).collect(),
            _ => unreachable!(),
        }
    }

    /// The exact order is numpy's loop bit for bit (reverse: numpy's loop on the flipped
    /// lane). The fast order is not, but gives the same bits whatever the number of threads
    /// and the instruction-set level, also where segments start off the vector grid and span
    /// pieces (the split across threads starts its pieces at segment starts).
    #[test]
    fn float_orders() {
        let n = PARALLEL_MIN_ELEMENTS + 3 * PIECE + 77;
        let data: Vec<f32> = (0..n)
            .map(|i| ((i * 2654435761usize) % 1000) as f32 / 997.0)
            .collect();
        let cut = |k: usize| (k * n / 5 + 3) as i64;
        let offsets = [0, 1, cut(1), cut(2), cut(3), n as i64];
        for (reverse, exclusive, segmented) in [
            (false, false, false),
            (true, false, true),
            (false, true, true),
        ] {
            let mut l = l_of(n);
            l.reverse = reverse;
            l.exclusive = exclusive;
            if segmented {
                l.segments = Segments::new(&offsets, n as u64).unwrap();
            }
            let bits = |v: Vec<f32>| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
            let want = bits(fold::<f32, crate::op::Add>(&data, &l));
            let what = format!("reverse {reverse} exclusive {exclusive} segmented {segmented}");
            let level = Level::detect();
            for threads in [1, BLOCKED_MIN_THREADS] {
                let exact = scan_f32(&data, &l, Order::Exact, threads, level);
                assert!(exact == want, "exact order, {threads} threads, {what}");
            }
            let fast = scan_f32(&data, &l, Order::Fast, 1, Level::Portable);
            assert!(fast != want, "the fast order differs somewhere, {what}");
            for threads in [1, 2, BLOCKED_MIN_THREADS + 1] {
                for level in Level::available() {
                    let got = scan_f32(&data, &l, Order::Fast, threads, level);
                    assert!(
                        got == fast,
                        "fast order, {threads} threads, {level:?}, {what}"
                    );
                }
            }
        }
    }

    /// The parts of the compensated runners, absorbed in order, give the carry of one scan,
    /// bit for bit: at every level, in both directions, from a run's start and from a carry,
    /// over runs that are not a whole number of vectors, grains or stretches.
    #[test]
    fn parts_absorb_to_the_scans_carry() {
        fn check<A: Element, R: Runner<A>>(runner: &R, xs: &[A], what: &str)
        where
            R::State: std::fmt::Debug,
        {
            for reverse in [false, true] {
                for exclusive in [false, true] {
                    let start = R::absorb(None, {
                        let mut p = Vec::new();
                        runner.parts(&xs[..simd::GRAIN], reverse, &mut p);
                        p[0]
                    });
                    for carry in [None, Some(start)] {
                        let mut parts = Vec::new();
                        runner.parts(xs, reverse, &mut parts);
                        let mut absorbed = carry;
                        for &p in &parts {
                            absorbed = Some(R::absorb(absorbed, p));
                        }
                        let mut copy = xs.to_vec();
                        let want = runner.scan(&mut copy, carry, reverse, exclusive, false);
                        let bits = |c: Option<R::State>| format!("{c:?}");
                        assert_eq!(
                            bits(absorbed),
                            bits(want),
                            "{what} reverse {reverse} exclusive {exclusive} carry {carry:?}"
                        );
                    }
                }
            }
        }
        let n = 3 * WIDENED + 5 * simd::GRAIN + 13;
        // Large terms that cancel, so that every rounding of a total shows in the carry.
        let f: Vec<f32> = (0..n)
            .map(|i| {
                let big = ((i % 7) as f32 - 3.0) * 1.0e4;
                let big = if (i / 7) % 2 == 0 { big } else { -big };
                big + ((i * 2654435761usize) % 1000) as f32 / 997.0 - 0.3
            })
            .collect();
        let d: Vec<f64> = f.iter().map(|&x| x as f64 * 1.1).collect();
        let h: Vec<f16> = f.iter().map(|&x| f16::from_f32(x / 8.0)).collect();
        for level in Level::available() {
            for len in [simd::GRAIN, simd::GRAIN + 5, 2 * WIDENED + 3, n] {
                let what = format!("{level:?} {len}");
                check(
                    &Compensated { level },
                    &f[..len],
                    &format!("float32 {what}"),
                );
                check(
                    &Compensated { level },
                    &d[..len],
                    &format!("float64 {what}"),
                );
                check(&Widened { level }, &h[..len], &format!("float16 {what}"));
            }
        }
    }

    /// Long runs of compensated sums cut into blocks keep one scan's bits: float32 and float64,
    /// sums and nan-sums (with NaNs), in every direction, read where they lie, cast from
    /// integers, and in place, over a run whose last block is short and not a whole number
    /// of grains.
    #[test]
    fn compensated_blocks_keep_one_scans_bits() {
        let n = 4 * BLOCK + 7 * simd::GRAIN + 77;
        assert!(n >= PARALLEL_MIN_ELEMENTS);
        let f: Vec<f32> = (0..n)
            .map(|i| match i {
                40_000 | 50_001 => f32::NAN,
                // Large terms that cancel within a few elements, so that the prefixes are
                // small beside the grain's partial sums and every rounding of a grain's
                // total or of the carry shows in the result.
                _ => {
                    let big = ((i % 7) as f32 - 3.0) * 1.0e5;
                    let big = if (i / 7) % 2 == 0 { big } else { -big };
                    big + ((i * 2654435761usize) % 1000) as f32 / 997.0 - 0.3
                }
            })
            .collect();
        let d: Vec<f64> = f.iter().map(|&x| x as f64 * 1.1).collect();
        let ints: Vec<i32> = (0..n as i32).map(|i| (i * 7919) % 41 - 20).collect();
        let l = l_of(n);
        let bits = |d: Data| match d {
            Data::Float32(v) => v.iter().map(|x| x.to_bits() as u64).collect::<Vec<_>>(),
            Data::Float64(v) => v.iter().map(|x| x.to_bits()).collect(),
            _ => unreachable!(),
        };
        for (reverse, exclusive) in [(false, false), (true, false), (false, true), (true, true)] {
            let mut l = l.clone();
            (l.reverse, l.exclusive) = (reverse, exclusive);
            for op in [ScanOp::Sum, ScanOp::NanSum] {
                let cases = [
                    (DataRef::Float32(&f), DType::Float32),
                    (DataRef::Float64(&d), DType::Float64),
                    (DataRef::Int32(&ints), DType::Float64),
                    (DataRef::Int32(&ints), DType::Float32),
                ];
                for (src, acc) in cases {
                    let what = format!("{op} {acc:?} reverse {reverse} exclusive {exclusive}");
                    let one = bits(with_threads(1, || scan(&src, acc, &l, op, Order::Fast)));
                    for threads in [BLOCKED_MIN_THREADS, BLOCKED_MIN_THREADS + 3] {
                        let got = with_threads(threads, || scan(&src, acc, &l, op, Order::Fast));
                        assert!(bits(got) == one, "{what}, {threads} threads");
                    }
                }
                let in_place = |threads: usize| {
                    let mut data = Data::Float64(d.clone());
                    with_threads(threads, || scan_data(&mut data, &l, op, Order::Fast));
                    bits(data)
                };
                assert!(
                    in_place(1) == in_place(BLOCKED_MIN_THREADS + 1),
                    "in place {op} reverse {reverse} exclusive {exclusive}"
                );
            }
        }
    }

    /// The fast order's float32 sum of 2^21 uniform values: every prefix within 8 eps of the
    /// float64 sum (whose own error here is below 2^-29 relative), at every level; numpy's
    /// loop is far off.
    #[test]
    fn fast_sums_are_accurate() {
        let n = 1 << 21;
        let mut s = 0x2545_F491_4F6C_DD1Du64;
        let data: Vec<f32> = (0..n)
            .map(|_| {
                s ^= s << 13;
                s ^= s >> 7;
                s ^= s << 17;
                (s >> 40) as f32 / (1u64 << 24) as f32
            })
            .collect();
        let mut acc = 0f64;
        let want: Vec<f64> = data
            .iter()
            .map(|&x| {
                acc += x as f64;
                acc
            })
            .collect();
        let err = |bits: Vec<u32>| {
            bits.iter()
                .zip(&want)
                .map(|(&g, &w)| (f32::from_bits(g) as f64 - w).abs() / w.abs())
                .filter(|e| e.is_finite())
                .fold(0.0, f64::max)
                / f32::EPSILON as f64
        };
        let l = l_of(n);
        for level in Level::available() {
            let fast = err(scan_f32(&data, &l, Order::Fast, 1, level));
            assert!(fast <= 8.0, "{level:?}: {fast} eps");
        }
        let numpy = err(scan_f32(&data, &l, Order::Exact, 1, Level::detect()));
        assert!(numpy > 50.0, "numpy's loop: {numpy} eps");
    }

    #[test]
    fn signed_zeros_survive_blocks() {
        let n = 5 * BLOCK + 5;
        assert!(n >= PARALLEL_MIN_ELEMENTS);
        let data = vec![-0.0f64; n];
        let out = with_threads(BLOCKED_MIN_THREADS, || {
            scan(
                &DataRef::Float64(&data),
                DType::Float64,
                &lanes(n, 1, n),
                ScanOp::Sum,
                Order::Fast,
            )
        });
        assert!(
            matches!(&out, Data::Float64(v) if v.iter().all(|x| x.to_bits() == (-0.0f64).to_bits()))
        );
    }

    #[test]
    fn nan_scans_replace_before_the_cast() {
        let data = [f64::NAN, 2.0, f64::NAN, 3.0];
        let l = lanes(4, 1, 4);
        let r = scan(
            &DataRef::Float64(&data),
            DType::Int64,
            &l,
            ScanOp::NanProd,
            Order::Fast,
        );
        assert_eq!(r, Data::Int64(vec![1, 2, 2, 6]));
        let r = scan(
            &DataRef::Float64(&[f64::NAN, -0.0]),
            DType::Float64,
            &lanes(2, 1, 2),
            ScanOp::NanSum,
            Order::Fast,
        );
        assert!(matches!(r, Data::Float64(v) if v.iter().all(|x| x.to_bits() == 0)));
    }

    #[test]
    fn extreme_indices_follow_torch() {
        let x = [1.0f64, 3.0, 3.0, f64::NAN, 5.0, f64::NAN, 0.0];
        let l = lanes(7, 1, 7);
        assert_eq!(
            extreme_indices(&DataRef::Float64(&x), &l, true),
            [0, 1, 2, 3, 3, 5, 5]
        );
        let y = [2i32, 1, 1, 4, 0];
        assert_eq!(
            extreme_indices(&DataRef::Int32(&y), &l_of(5), false),
            [0, 1, 2, 2, 4]
        );
        let mut e = l_of(5);
        e.exclusive = true;
        assert_eq!(
            extreme_indices(&DataRef::Int32(&y), &e, false),
            [-1, 0, 1, 2, 2]
        );
        e.reverse = true;
        e.exclusive = false;
        assert_eq!(
            extreme_indices(&DataRef::Int32(&y), &e, true),
            [3, 3, 3, 3, 4]
        );
    }

    fn logsumexp_f32(data: &[f32], l: &Lanes, order: Order, threads: usize) -> Vec<f32> {
        let src = DataRef::Float32(data);
        let op = ScanOp::LogAddExp;
        match with_threads(threads, || scan(&src, DType::Float32, l, op, order)) {
            Data::Float32(v) => v,
            _ => unreachable!(),
        }
    }

    /// logaddexp's running form keeps numpy's special values and the first NaN's bits.
    #[test]
    fn logsumexp_special_values() {
        let inf = f32::INFINITY;
        let nan = f32::from_bits(0x7fc0_1234);
        let cases: [&[f32]; 6] = [
            &[-inf, -inf, 1.0, 1.0, inf, 2.0, inf, -inf],
            &[3.0, nan, inf, f32::NAN, 1.0],
            &[-inf, -inf],
            &[2.0, 2.0, 2.0],
            &[inf, -inf, 5.0, -inf],
            &[-1e30, 1e30, -inf, 0.0],
        ];
        for data in cases {
            for (reverse, exclusive) in [(false, false), (true, false), (false, true)] {
                let mut l = l_of(data.len());
                l.reverse = reverse;
                l.exclusive = exclusive;
                let numpy = logsumexp_f32(data, &l, Order::Exact, 1);
                let running = logsumexp_f32(data, &l, Order::Fast, 1);
                for (r, n) in running.iter().zip(&numpy) {
                    if n.is_finite() {
                        assert!((r - n).abs() <= 4.0 * f32::EPSILON * n.abs().max(1.0));
                    } else {
                        assert_eq!(r.to_bits(), n.to_bits(), "{data:?} {running:?} {numpy:?}");
                    }
                }
            }
        }
    }

    /// The running form rounds once per element: within half an ulp of a float64 fold (whose
    /// own error over this many elements is below 1e-10), on every path; numpy's fold in
    /// float32 is far off.
    #[test]
    fn logsumexp_rounds_once() {
        let logaddexp = |a: f64, b: f64| {
            let (hi, lo) = if a > b { (a, b) } else { (b, a) };
            if lo == f64::NEG_INFINITY {
                hi
            } else {
                hi + (lo - hi).exp().ln_1p()
            }
        };
        let err = |got: &[f32], want: &[f64]| {
            got.iter()
                .zip(want)
                .map(|(&g, &w)| (g as f64 - w).abs() / w.abs().max(1.0))
                .fold(0.0, f64::max)
        };
        let bound = f32::EPSILON as f64 / 2.0 + 1e-10;
        let n = 5 * BLOCK + 123;
        let data: Vec<f32> = (0..n)
            .map(|i| ((i * 2654435761usize) % 10_007) as f32 / 1000.7 - 5.0)
            .collect();
        for reverse in [false, true] {
            let mut l = l_of(n);
            l.reverse = reverse;
            let mut want = vec![0f64; n];
            let mut acc = f64::NEG_INFINITY;
            let order: Vec<usize> = if reverse {
                (0..n).rev().collect()
            } else {
                (0..n).collect()
            };
            for i in order {
                acc = logaddexp(acc, data[i] as f64);
                want[i] = acc;
            }
            for threads in [1, BLOCKED_MIN_THREADS] {
                let fast = logsumexp_f32(&data, &l, Order::Fast, threads);
                assert!(
                    err(&fast, &want) <= bound,
                    "threads {threads} reverse {reverse}"
                );
            }
            let numpy = logsumexp_f32(&data, &l, Order::Exact, 1);
            assert!(err(&numpy, &want) > 100.0 * bound);
        }
        // Along axis 0: every column keeps its own running state.
        let (rows, cols) = (n / 7, 7);
        let l = lanes(rows, cols, rows);
        let fast = logsumexp_f32(&data[..rows * cols], &l, Order::Fast, 1);
        let mut want = vec![0f64; rows * cols];
        for c in 0..cols {
            let mut acc = f64::NEG_INFINITY;
            for r in 0..rows {
                acc = logaddexp(acc, data[r * cols + c] as f64);
                want[r * cols + c] = acc;
            }
        }
        assert!(err(&fast, &want) <= bound);
    }

    fn l_of(n: usize) -> Lanes {
        lanes(n, 1, n)
    }

    /// float16 sums in numpy's order, along the last axis (the loop with its conversions
    /// inlined) and down rows (eight columns rounded at once), equal the plain fold with
    /// `half`'s arithmetic bit for bit, at every level, in every direction, with segments.
    #[test]
    fn float16_sums_are_numpys_loop() {
        let cases = [
            (5000, 1, 5000),
            (700, 37, 700),
            (300, 8, 150),
            (2000, 100, 2000),
        ];
        for (rows, cols, lane) in cases {
            let mut data: Vec<f16> = (0..rows * cols)
                .map(|i| f16::from_f32(((i * 7919) % 1000) as f32 / 97.0 - 3.0))
                .collect();
            data[rows * cols / 2] = f16::NAN;
            let end = lane as i64;
            for offsets in [vec![0, end], vec![0, 0, 3, end / 2, end]] {
                for (reverse, exclusive) in
                    [(false, false), (true, false), (false, true), (true, true)]
                {
                    let mut l = lanes(rows, cols, lane);
                    l.segments = Segments::new(&offsets, lane as u64).unwrap();
                    l.reverse = reverse;
                    l.exclusive = exclusive;
                    let want: Vec<u16> = fold::<f16, Add>(&data, &l)
                        .iter()
                        .map(|x| x.to_bits())
                        .collect();
                    for level in Level::available() {
                        for order in [Order::Fast, Order::Exact] {
                            let src = DataRef::Float16(&data);
                            let got = with_threads(2, || {
                                scan_at(&src, DType::Float16, &l, ScanOp::Sum, order, level)
                            });
                            let Data::Float16(got) = got else {
                                unreachable!()
                            };
                            let got: Vec<u16> = got.iter().map(|x| x.to_bits()).collect();
                            assert!(
                                got == want,
                                "({rows}, {cols}) {offsets:?} reverse {reverse} exclusive \
                                 {exclusive} {level:?} {order:?}"
                            );
                        }
                    }
                }
            }
        }
    }

    /// The wide order's float16 sums, widened stretch by stretch, give the bits of a float32
    /// copy scanned whole and rounded once, at every level and thread count, with segments
    /// that start off the grain grid, in every direction, and with NaN replaced first.
    #[test]
    fn wide_float16_rounds_a_float32_scan_once() {
        let n = PARALLEL_MIN_ELEMENTS + 3 * WIDENED + 45;
        let data: Vec<f16> = (0..n)
            .map(|i| f16::from_f32(((i * 2654435761) % 1000) as f32 / 300.0 - 1.0))
            .chain([f16::NAN])
            .collect();
        let n = data.len();
        let mut l = l_of(n);
        let end = n as i64;
        for offsets in [vec![0, end], vec![0, 5, 40, 2100, 2101, end - 3, end]] {
            l.segments = Segments::new(&offsets, n as u64).unwrap();
            for (reverse, exclusive) in [(false, false), (true, false), (false, true), (true, true)]
            {
                l.reverse = reverse;
                l.exclusive = exclusive;
                for op in [ScanOp::Sum, ScanOp::NanSum] {
                    let src = DataRef::Float16(&data);
                    let wide = scan_at(&src, DType::Float32, &l, op, Order::Wide, Level::detect());
                    let Data::Float32(wide) = wide else {
                        unreachable!()
                    };
                    let want: Vec<u16> = wide.iter().map(|&x| f16::from_f32(x).to_bits()).collect();
                    for level in Level::available() {
                        for threads in [1, 2, BLOCKED_MIN_THREADS] {
                            let got = with_threads(threads, || {
                                scan_at(&src, DType::Float16, &l, op, Order::Wide, level)
                            });
                            let Data::Float16(got) = got else {
                                unreachable!()
                            };
                            let got: Vec<u16> = got.iter().map(|x| x.to_bits()).collect();
                            assert!(
                                got == want,
                                "{op:?} reverse {reverse} exclusive {exclusive} {offsets:?} {level:?}"
                            );
                        }
                    }
                }
            }
        }
        // The runner itself, over several stretches: the float32 kernel's carry, bit for bit
        // (rounding to float16 would hide a grain cut off its grid).
        let data = &data[..n - 1];
        let bits = |c: Option<Comp<f32>>| c.map(|c| (c.hi.to_bits(), c.lo.to_bits()));
        for level in Level::available() {
            for (reverse, exclusive) in [(false, false), (true, false), (false, true), (true, true)]
            {
                for carry in [None, Some(Comp { hi: 3.5, lo: 1e-7 })] {
                    let mut halves = data.to_vec();
                    let widened = Widened { level };
                    let got = widened.scan(&mut halves, carry, reverse, exclusive, false);
                    let mut floats: Vec<f32> = data.iter().map(|x| x.to_f32()).collect();
                    let compensated = Compensated { level };
                    let want = compensated.scan(&mut floats, carry, reverse, exclusive, false);
                    assert_eq!(bits(got), bits(want), "reverse {reverse} {level:?}");
                    let rounded = floats.iter().map(|&x| f16::from_f32(x).to_bits());
                    assert!(rounded.eq(halves.iter().map(|x| x.to_bits())));
                }
            }
        }
    }
}
