//! The CPU path.
//!
//! Kernels scan the output buffer in place. A source first writes each piece of the input,
//! cast to the accumulation dtype, into the output just before the piece is scanned, so casting
//! and scanning share one pass over memory (for an in-place scan it does nothing). Along the
//! last axis a lane is summed sequentially, or, for long lanes in the fast order, in fixed
//! blocks: every block's sum in parallel (read straight from the input), then every block in
//! parallel from the running total of the blocks before it. Along other axes whole rows are
//! added at once (numpy's order, vectorised across lanes).

use rayon::prelude::*;

use crate::array::{with_data, Data, DataRef};
use crate::dtype::{cast, DType, Element};
use crate::options::Order;
use crate::plan::Geometry;

/// Below this many elements a scan stays on the calling thread.
pub const PARALLEL_MIN_ELEMENTS: usize = 1 << 16;
/// Block of the fast order; fixed, so results do not depend on the number of threads.
pub const BLOCK: usize = 1 << 14;
/// Threads from which long lanes take the blocked order. Blocks read the input twice; with
/// fewer threads the sequential loop is faster (measured on 2 cores: 14 ms against 18 ms for
/// 2^24 float32, both bandwidth-bound).
pub const BLOCKED_MIN_THREADS: usize = 4;
/// Elements cast at a time: small enough to stay in the first-level cache until scanned.
const PIECE: usize = 1 << 11;

/// Where a scan's inputs come from: cast from another array, or already in the output.
trait Source<A>: Sync {
    /// Writes input elements `[offset, offset + dst.len())`, in the accumulation dtype, into
    /// `dst`.
    fn fill(&self, dst: &mut [A], offset: usize);
    /// The sum of input elements `[offset, offset + out.len())`, where `out` is the output's
    /// (not yet scanned) range, in a fixed order.
    fn sum(&self, out: &[A], offset: usize) -> A;
    /// Scans inputs `[offset, offset + dst.len())` into `dst` sequentially, continuing from
    /// `carry` or, without one, copying the first; returns the last value. `dst` is not empty.
    fn scan(&self, dst: &mut [A], offset: usize, carry: Option<A>) -> A;
}

/// The inputs are the output's own values.
struct InPlace;

impl<A: Element> Source<A> for InPlace {
    fn fill(&self, _: &mut [A], _: usize) {}
    fn scan(&self, dst: &mut [A], _: usize, carry: Option<A>) -> A {
        let mut acc = carry.map_or(dst[0], |c| c.accumulate(dst[0]));
        dst[0] = acc;
        for x in &mut dst[1..] {
            acc = acc.accumulate(*x);
            *x = acc;
        }
        acc
    }
    fn sum(&self, out: &[A], _: usize) -> A {
        let mut parts = [A::identity(); 8];
        add_partials(&mut parts, out);
        combine_partials(parts)
    }
}

/// The inputs are another array's elements, cast.
struct Cast<'a, S>(&'a [S]);

impl<S: Element, A: Element> Source<A> for Cast<'_, S> {
    // One loop reads, casts, adds and writes: the input never passes through the output first.
    fn scan(&self, dst: &mut [A], offset: usize, carry: Option<A>) -> A {
        let src = &self.0[offset..offset + dst.len()];
        let first: A = cast(src[0]);
        let mut acc = carry.map_or(first, |c| c.accumulate(first));
        dst[0] = acc;
        for (x, &s) in dst[1..].iter_mut().zip(&src[1..]) {
            acc = acc.accumulate(cast(s));
            *x = acc;
        }
        acc
    }
    fn fill(&self, dst: &mut [A], offset: usize) {
        for (x, &s) in dst.iter_mut().zip(&self.0[offset..]) {
            *x = cast(s);
        }
    }
    fn sum(&self, out: &[A], offset: usize) -> A {
        let mut parts = [A::identity(); 8];
        let mut buf = [A::identity(); 256];
        for piece in self.0[offset..offset + out.len()].chunks(buf.len()) {
            let b = &mut buf[..piece.len()];
            for (x, &s) in b.iter_mut().zip(piece) {
                *x = cast(s);
            }
            add_partials(&mut parts, b);
        }
        combine_partials(parts)
    }
}

/// Adds `xs` into eight interleaved partial sums: independent chains that vectorise.
#[inline]
fn add_partials<A: Element>(parts: &mut [A; 8], xs: &[A]) {
    let chunks = xs.chunks_exact(8);
    let rest = chunks.remainder();
    for c in chunks {
        for k in 0..8 {
            parts[k] = parts[k].accumulate(c[k]);
        }
    }
    for (k, &x) in rest.iter().enumerate() {
        parts[k] = parts[k].accumulate(x);
    }
}

/// The partial sums combined as a fixed tree.
fn combine_partials<A: Element>(p: [A; 8]) -> A {
    let [a, b, c, d, e, f, g, h] = p;
    let left = a.accumulate(b).accumulate(c.accumulate(d));
    left.accumulate(e.accumulate(f).accumulate(g.accumulate(h)))
}

/// numpy's cumsum of `src` accumulated in `acc`, cast and scanned in one pass.
pub(crate) fn cumsum(src: &DataRef<'_>, acc: DType, g: &Geometry, order: Order) -> Data {
    with_data!(DataRef, src, s => cumsum_from(s, acc, g, order))
}

fn cumsum_from<S: Element>(src: &[S], acc: DType, g: &Geometry, order: Order) -> Data {
    fn run<S: Element, A: Element>(src: &[S], g: &Geometry, order: Order) -> Vec<A> {
        // Untouched, huge-page-backed memory: no pass over the buffer before ours.
        let mut dst = crate::alloc::zeroed(src.len());
        scan(&mut dst, g, order, &Cast(src));
        dst
    }
    match acc {
        DType::Bool => Data::Bool(run(src, g, order)),
        DType::Int8 => Data::Int8(run(src, g, order)),
        DType::Int16 => Data::Int16(run(src, g, order)),
        DType::Int32 => Data::Int32(run(src, g, order)),
        DType::Int64 => Data::Int64(run(src, g, order)),
        DType::UInt8 => Data::UInt8(run(src, g, order)),
        DType::UInt16 => Data::UInt16(run(src, g, order)),
        DType::UInt32 => Data::UInt32(run(src, g, order)),
        DType::UInt64 => Data::UInt64(run(src, g, order)),
        DType::Float16 => Data::Float16(run(src, g, order)),
        DType::Float32 => Data::Float32(run(src, g, order)),
        DType::Float64 => Data::Float64(run(src, g, order)),
    }
}

/// Scans data that already holds the accumulation dtype, in place.
pub(crate) fn scan_data(data: &mut Data, g: &Geometry, order: Order) {
    with_data!(Data, data, v => scan(v.as_mut_slice(), g, order, &InPlace))
}

/// Scans one typed buffer in place (numpy's order along each lane unless `order` allows the
/// blocked one).
pub fn scan_in_place<T: Element>(data: &mut [T], geometry: &Geometry, order: Order) {
    scan(data, geometry, order, &InPlace);
}

fn scan<A: Element>(dst: &mut [A], g: &Geometry, order: Order, fill: &dyn Source<A>) {
    if dst.is_empty() {
        return;
    }
    let threads = rayon::current_num_threads();
    let parallel = dst.len() >= PARALLEL_MIN_ELEMENTS && threads > 1;
    let lane = g.lane_len as usize;
    let cols = g.cols as usize;
    if cols == 1 {
        // Integers are exact in any order; floats take blocks only when asked to be fast.
        let blocked = lane >= 2 * BLOCK
            && threads >= BLOCKED_MIN_THREADS
            && (order != Order::Exact || !A::DTYPE.is_float());
        let lanes = dst.len() / lane;
        if parallel && (lanes >= threads || !blocked) {
            dst.par_chunks_mut(lane).enumerate().for_each(|(k, l)| {
                scan_lane(l, k * lane, None, fill);
            });
        } else {
            for (k, l) in dst.chunks_mut(lane).enumerate() {
                if blocked && parallel {
                    scan_blocked(l, k * lane, fill);
                } else {
                    scan_lane(l, k * lane, None, fill);
                }
            }
        }
        return;
    }
    let block = lane * cols;
    let outer = dst.len() / block;
    if parallel && outer >= threads {
        dst.par_chunks_mut(block)
            .enumerate()
            .for_each(|(o, b)| scan_rows(b, o * block, cols, 0..cols, fill));
    } else if parallel {
        for (o, b) in dst.chunks_mut(block).enumerate() {
            scan_rows_split(b, o * block, cols, threads, fill);
        }
    } else {
        for (o, b) in dst.chunks_mut(block).enumerate() {
            scan_rows(b, o * block, cols, 0..cols, fill);
        }
    }
}

/// Scans one lane sequentially, continuing from `carry` (the sum of everything before it in
/// its lane) or, without one, copying its first element; returns the last value.
fn scan_lane<A: Element>(
    lane: &mut [A],
    offset: usize,
    carry: Option<A>,
    fill: &dyn Source<A>,
) -> Option<A> {
    let mut acc = carry;
    for (p, piece) in lane.chunks_mut(PIECE).enumerate() {
        acc = Some(fill.scan(piece, offset + p * PIECE, acc));
    }
    acc
}

/// The fast order of one long lane: every block's sum in parallel, read straight from the
/// input; the running totals in order; then every block in parallel from its running total.
fn scan_blocked<A: Element>(lane: &mut [A], offset: usize, fill: &dyn Source<A>) {
    let sums: Vec<A> = lane
        .par_chunks(BLOCK)
        .enumerate()
        .map(|(b, block)| fill.sum(block, offset + b * BLOCK))
        .collect();
    let mut carry: Option<A> = None;
    let carries: Vec<Option<A>> = sums
        .iter()
        .map(|&s| {
            let before = carry;
            carry = Some(carry.map_or(s, |c| c.accumulate(s)));
            before
        })
        .collect();
    lane.par_chunks_mut(BLOCK)
        .zip(carries)
        .enumerate()
        .for_each(|(b, (block, c))| {
            scan_lane(block, offset + b * BLOCK, c, fill);
        });
}

/// Adds each row into the next over columns `cols_range` of one block of `lane` rows: every
/// column keeps numpy's order, and the inner loop runs along contiguous memory.
fn scan_rows<A: Element>(
    block: &mut [A],
    offset: usize,
    cols: usize,
    range: std::ops::Range<usize>,
    fill: &dyn Source<A>,
) {
    let rows = block.len() / cols;
    let whole = range.start == 0 && range.end == cols;
    // Whole rows are cast several at a time; partial rows one segment at a time.
    let rows_per_fill = if whole { (PIECE / cols).max(1) } else { 1 };
    let mut r0 = 0;
    while r0 < rows {
        let r1 = (r0 + rows_per_fill).min(rows);
        if whole {
            fill.fill(&mut block[r0 * cols..r1 * cols], offset + r0 * cols);
        } else {
            for r in r0..r1 {
                let seg = r * cols + range.start..r * cols + range.end;
                fill.fill(&mut block[seg.clone()], offset + seg.start);
            }
        }
        for r in r0.max(1)..r1 {
            let (above, below) = block.split_at_mut(r * cols);
            let prev = &above[(r - 1) * cols + range.start..(r - 1) * cols + range.end];
            let cur = &mut below[range.clone()];
            for (c, &p) in cur.iter_mut().zip(prev) {
                *c = p.accumulate(*c);
            }
        }
        r0 = r1;
    }
}

/// [`scan_rows`] of one tall block with its columns split across threads.
fn scan_rows_split<A: Element>(
    block: &mut [A],
    offset: usize,
    cols: usize,
    threads: usize,
    fill: &dyn Source<A>,
) {
    let width = cols.div_ceil(threads).max(64);
    let shared = SharedBlock(block.as_mut_ptr(), block.len());
    (0..cols.div_ceil(width)).into_par_iter().for_each(|i| {
        let range = i * width..((i + 1) * width).min(cols);
        // SAFETY: each task reads and writes only columns `range` of the block, which no other
        // task touches, and the block outlives the parallel loop.
        let block = unsafe { std::slice::from_raw_parts_mut(shared.ptr(), shared.1) };
        scan_rows(block, offset, cols, range, fill);
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

#[cfg(test)]
mod tests {
    use super::*;

    fn sequential<T: Element>(data: &[T], g: &Geometry) -> Vec<T> {
        let (rows, cols, lane) = (g.rows as usize, g.cols as usize, g.lane_len as usize);
        let mut out = data.to_vec();
        for l in 0..rows / lane {
            for c in 0..cols {
                for r in 1..lane {
                    let i = (l * lane + r) * cols + c;
                    out[i] = out[i - cols].accumulate(out[i]);
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

    fn geometry(rows: usize, cols: usize, lane: usize) -> Geometry {
        Geometry {
            rows: rows as u64,
            cols: cols as u64,
            lane_len: lane as u64,
        }
    }

    #[test]
    fn seed_examples() {
        let mut v = vec![5i64, 6, 7, 8, 9, 10, 11, 12, 19, 25];
        scan_in_place(&mut v, &geometry(10, 1, 10), Order::Fast);
        assert_eq!(v, [5, 11, 18, 26, 35, 45, 56, 68, 87, 112]);
        let mut m = vec![1i64, 4, 0, 7, 0, 9, 5, 0, 3, 12, 0, 5];
        scan_in_place(&mut m, &geometry(12, 1, 3), Order::Fast);
        assert_eq!(m, [1, 5, 5, 7, 7, 16, 5, 5, 8, 12, 12, 17]);
    }

    /// Every parallel split (lanes, blocks of long lanes, outer blocks, column ranges) at sizes
    /// that divide unevenly, in place and cast, against the sequential loop; integers must
    /// match exactly. Two threads take the sequential lane loop, four the blocked one.
    #[test]
    fn parallel_paths_match_sequential() {
        let cases = [
            (1 << 17, 1, 1 << 17),
            (37 * BLOCK + 12345, 1, 37 * BLOCK + 12345),
            (2 * BLOCK + 1, 1, 2 * BLOCK + 1),
            (100_003, 1, 7),
            (1 << 10, 300, 1 << 10),
            (4000, 40, 1000),
            (70_001, 3, 70_001),
            (5, 20_011, 5),
        ];
        for threads in [2, BLOCKED_MIN_THREADS] {
            for (rows, cols, lane) in cases {
                let data: Vec<i64> = (0..rows * cols)
                    .map(|i| (i as i64 * 7919) % 1000 - 500)
                    .collect();
                let g = geometry(rows, cols, lane);
                let want = sequential(&data, &g);
                let what = format!("rows {rows} cols {cols} lane {lane} threads {threads}");
                for order in [Order::Fast, Order::Exact] {
                    let mut fast = data.clone();
                    with_threads(threads, || scan_in_place(&mut fast, &g, order));
                    assert_eq!(fast, want, "in place: {what} {order:?}");
                    let src: Vec<i32> = data.iter().map(|&x| x as i32).collect();
                    let fused = with_threads(threads, || {
                        cumsum(&DataRef::Int32(&src), DType::Int64, &g, order)
                    });
                    assert!(
                        matches!(&fused, Data::Int64(v) if *v == want),
                        "cast: {what}"
                    );
                }
            }
        }
    }

    /// The exact order is numpy's loop bit for bit; the blocked order of a long float lane is
    /// not, but gives the same bits whatever the number of threads that takes it.
    #[test]
    fn float_orders() {
        let n = 160 * BLOCK + 77;
        let data: Vec<f32> = (0..n)
            .map(|i| ((i * 2654435761usize) % 1000) as f32 / 997.0)
            .collect();
        let g = geometry(n, 1, n);
        let want = sequential(&data, &g);
        let run = |threads, order| {
            with_threads(threads, || {
                match cumsum(&DataRef::Float32(&data), DType::Float32, &g, order) {
                    Data::Float32(v) => v.iter().map(|x| x.to_bits()).collect::<Vec<_>>(),
                    _ => unreachable!(),
                }
            })
        };
        let want: Vec<u32> = want.iter().map(|x| x.to_bits()).collect();
        assert_eq!(run(BLOCKED_MIN_THREADS, Order::Exact), want);
        assert_eq!(run(2, Order::Fast), want, "two threads take numpy's loop");
        let blocked = run(BLOCKED_MIN_THREADS, Order::Fast);
        assert_eq!(blocked, run(BLOCKED_MIN_THREADS + 3, Order::Fast));
        assert_ne!(blocked, want, "the blocked order differs somewhere");
    }

    #[test]
    fn signed_zeros_survive_blocks() {
        let n = 5 * BLOCK + 5;
        assert!(n >= PARALLEL_MIN_ELEMENTS);
        let data = vec![-0.0f64; n];
        let out = with_threads(BLOCKED_MIN_THREADS, || {
            cumsum(
                &DataRef::Float64(&data),
                DType::Float64,
                &geometry(n, 1, n),
                Order::Fast,
            )
        });
        assert!(
            matches!(&out, Data::Float64(v) if v.iter().all(|x| x.to_bits() == (-0.0f64).to_bits()))
        );
    }
}
