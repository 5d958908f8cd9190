//! The CPU path: numpy's summation order (sequential down each lane), parallel across lanes.

use rayon::prelude::*;

use crate::array::{with_data, Data};
use crate::dtype::Element;
use crate::plan::Geometry;

/// Below this many elements a scan stays on the calling thread.
const PARALLEL_MIN_ELEMENTS: usize = 1 << 16;

/// Scans `data` (C order, `geometry.len()` elements) in place.
pub(crate) fn scan_data(data: &mut Data, geometry: &Geometry) {
    with_data!(Data, data, v => scan_in_place(v.as_mut_slice(), geometry))
}

/// Scans one typed buffer in place. Each lane is summed strictly left to right, with its first
/// element copied rather than added to zero, so floats are bit-identical to numpy.
pub fn scan_in_place<T: Element>(data: &mut [T], geometry: &Geometry) {
    if data.is_empty() {
        return;
    }
    let lane = geometry.lane_len as usize;
    let cols = geometry.cols as usize;
    let block = lane * cols;
    let parallel = data.len() >= PARALLEL_MIN_ELEMENTS && rayon::current_num_threads() > 1;
    if cols == 1 {
        if parallel && data.len() / lane > 1 {
            data.par_chunks_mut(lane).for_each(scan_lane);
        } else {
            data.chunks_mut(lane).for_each(scan_lane);
        }
    } else if parallel && data.len() / block > 1 {
        data.par_chunks_mut(block)
            .for_each(|b| scan_rows(b, cols, 0, cols));
    } else if parallel {
        // One tall block: split its columns across threads.
        let threads = rayon::current_num_threads();
        let width = cols.div_ceil(threads).max(64);
        let ptr = SharedBlock(data.as_mut_ptr(), data.len());
        (0..cols.div_ceil(width)).into_par_iter().for_each(|i| {
            let c0 = i * width;
            let c1 = (c0 + width).min(cols);
            // SAFETY: each task writes only columns [c0, c1) of the block, which no other task
            // touches, and the block outlives the parallel loop.
            let block = unsafe { std::slice::from_raw_parts_mut(ptr.ptr(), ptr.1) };
            scan_rows(block, cols, c0, c1);
        });
    } else {
        data.chunks_mut(block)
            .for_each(|b| scan_rows(b, cols, 0, cols));
    }
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

#[inline]
fn scan_lane<T: Element>(lane: &mut [T]) {
    let mut acc = lane[0];
    for x in &mut lane[1..] {
        acc = acc.accumulate(*x);
        *x = acc;
    }
}

/// Adds each row into the next over columns `[c0, c1)`: every column keeps numpy's order, and
/// the inner loop runs along contiguous memory.
#[inline]
fn scan_rows<T: Element>(block: &mut [T], cols: usize, c0: usize, c1: usize) {
    let rows = block.len() / cols;
    for r in 1..rows {
        let (above, below) = block.split_at_mut(r * cols);
        let prev = &above[(r - 1) * cols + c0..(r - 1) * cols + c1];
        let cur = &mut below[c0..c1];
        for (c, &p) in cur.iter_mut().zip(prev) {
            *c = p.accumulate(*c);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seed_examples() {
        let mut v = vec![5i64, 6, 7, 8, 9, 10, 11, 12, 19, 25];
        scan_in_place(
            &mut v,
            &Geometry {
                rows: 10,
                cols: 1,
                lane_len: 10,
            },
        );
        assert_eq!(v, [5, 11, 18, 26, 35, 45, 56, 68, 87, 112]);
        let mut m = vec![1i64, 4, 0, 7, 0, 9, 5, 0, 3, 12, 0, 5];
        scan_in_place(
            &mut m,
            &Geometry {
                rows: 12,
                cols: 1,
                lane_len: 3,
            },
        );
        assert_eq!(m, [1, 5, 5, 7, 7, 16, 5, 5, 8, 12, 12, 17]);
    }

    #[test]
    fn parallel_paths_match_sequential() {
        for (rows, cols, lane) in [
            (1 << 17, 1, 1 << 17),
            (1 << 10, 300, 1 << 10),
            (4000, 40, 1000),
            (100_003, 1, 7),
        ] {
            let data: Vec<i64> = (0..rows * cols)
                .map(|i| (i as i64 * 7919) % 1000 - 500)
                .collect();
            let g = Geometry {
                rows: rows as u64,
                cols: cols as u64,
                lane_len: lane as u64,
            };
            let mut fast = data.clone();
            scan_in_place(&mut fast, &g);
            let mut slow = data.clone();
            for l in 0..rows / lane {
                for c in 0..cols {
                    for r in 1..lane {
                        let i = (l * lane + r) * cols + c;
                        slow[i] = slow[i - cols].wrapping_add(slow[i]);
                    }
                }
            }
            assert_eq!(fast, slow, "rows {rows} cols {cols} lane {lane}");
        }
    }
}
