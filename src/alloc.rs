//! Output buffers that the kernel backs with huge pages.
//!
//! A fresh buffer is page-faulted on first write, one 4 KiB page at a time; for arrays of
//! tens of megabytes the faults cost more than the scan itself. Asking for transparent huge
//! pages before the first write makes each fault cover 2 MiB (numpy does the same).
//!
//! Each fault still has the kernel zero its page, which costs about as much as the scan that
//! follows; [`prefaulting`] has a second thread take those faults ahead of the writer.

use std::mem::MaybeUninit;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use crate::dtype::Element;

/// Below this a buffer takes ordinary pages: the advice would not pay for its system call.
const HUGE_MIN_BYTES: usize = 4 << 20;

/// A zero-filled vector of `n` elements (+0.0 for floats) whose pages are not touched yet
/// and, on Linux, are advised to be huge pages.
pub(crate) fn zeroed<A: Element>(n: usize) -> Vec<A> {
    // For zero-bit defaults the allocator hands out fresh zeroed memory without writing it.
    let mut v = vec![A::default(); n];
    if std::mem::size_of_val(v.as_slice()) >= HUGE_MIN_BYTES {
        advise_huge(&mut v);
    }
    v
}

/// A transparent huge page.
#[cfg(target_os = "linux")]
const HUGE: usize = 2 << 20;

#[cfg(target_os = "linux")]
fn advise_huge<A>(v: &mut [A]) {
    let bytes = std::mem::size_of_val(v);
    let start = v.as_mut_ptr() as usize;
    let begin = start.next_multiple_of(HUGE);
    let end = (start + bytes) / HUGE * HUGE;
    if end > begin {
        // SAFETY: the range lies inside `v`'s allocation, and MADV_HUGEPAGE changes only how
        // the kernel backs it, never its contents. Failure (no THP support) is harmless.
        unsafe {
            libc::madvise(begin as *mut libc::c_void, end - begin, libc::MADV_HUGEPAGE);
        }
    }
}

#[cfg(not(target_os = "linux"))]
fn advise_huge<A>(_: &mut [A]) {}

/// Below this a writer takes its own page faults: a pool thread's wake-up would cost more
/// than the two huge pages past the writer's first that it could fault.
const PREFAULT_MIN_BYTES: usize = 8 << 20;

/// How far a writer has got through a buffer, for the helper of [`prefaulting`]: the
/// address up to which (down to which, in reverse) it is about to write.
#[derive(Default)]
pub(crate) struct Progress {
    helped: AtomicBool,
    at: AtomicUsize,
}

impl Progress {
    /// The writer is about to write up to `x` (down to `x` in reverse). Free when no helper
    /// is watching: one load of a flag that only changes at the start and end of a write.
    #[inline]
    pub(crate) fn reached<T>(&self, x: *const T) {
        if self.helped.load(Ordering::Relaxed) {
            self.at.store(x as usize, Ordering::Relaxed);
        }
    }
}

/// `write(buf)`, which writes `buf` in order on one thread (from its end when `reverse`)
/// and tells `progress` where it has got to, while a thread of the pool faults the pages
/// ahead of it in (`MADV_POPULATE_WRITE`): the kernel zeroes fresh pages on the other core
/// instead of between the writer's stores. Pages already in place cost the helper a look at
/// the page table; their contents never change.
#[cfg(target_os = "linux")]
pub(crate) fn prefaulting<A, R>(
    buf: &mut [A],
    reverse: bool,
    progress: &Progress,
    write: impl FnOnce(&mut [A]) -> R,
) -> R {
    let bytes = std::mem::size_of_val(buf);
    if bytes < PREFAULT_MIN_BYTES || rayon::current_num_threads() < 2 {
        return write(buf);
    }
    let start = buf.as_ptr() as usize;
    // The huge pages wholly inside `buf`, by their first byte.
    let (first, last) = (start.next_multiple_of(HUGE), (start + bytes) / HUGE * HUGE);
    if last <= first || resident(if reverse { first } else { last - 4096 }) {
        // A reused block, its pages in place already (the allocator keeps freed blocks
        // below 32 MiB): nothing to help with.
        return write(buf);
    }
    progress.at.store(
        if reverse { start + bytes } else { start },
        Ordering::Relaxed,
    );
    progress.helped.store(true, Ordering::Relaxed);
    let help = || {
        // The next page to fault in: never the writer's page or the one after it, which it
        // may reach first (both would fault it, and the kernel would zero it twice).
        let mut page = None;
        loop {
            let w = progress.at.load(Ordering::Relaxed);
            let next = if reverse {
                let ahead = ((w - 1) / HUGE * HUGE).saturating_sub(2 * HUGE);
                page.map_or(ahead, |p: usize| p.min(ahead))
            } else {
                let ahead = w / HUGE * HUGE + 2 * HUGE;
                page.map_or(ahead, |p: usize| p.max(ahead))
            };
            if !progress.helped.load(Ordering::Relaxed) || next < first || next + HUGE > last {
                return;
            }
            // SAFETY: the page lies inside `buf`; populating maps it without changing what
            // it holds. An error (a kernel before 5.14, no memory) ends the help and leaves
            // the faults to the writer.
            let r = unsafe {
                libc::madvise(next as *mut libc::c_void, HUGE, libc::MADV_POPULATE_WRITE)
            };
            if r != 0 {
                return;
            }
            page = Some(if reverse {
                next.wrapping_sub(HUGE)
            } else {
                next + HUGE
            });
        }
    };
    rayon::in_place_scope(|scope| {
        scope.spawn(|_| help());
        let r = write(buf);
        progress.helped.store(false, Ordering::Relaxed);
        r
    })
}

/// Whether the 4 KiB page at `page` (a multiple of 4096) is in memory.
#[cfg(target_os = "linux")]
fn resident(page: usize) -> bool {
    let mut state = 0u8;
    // SAFETY: the kernel writes one byte, for one page, into `state`; `page` is aligned.
    let r = unsafe { libc::mincore(page as *mut libc::c_void, 4096, &mut state) };
    r == 0 && state & 1 == 1
}

#[cfg(not(target_os = "linux"))]
pub(crate) fn prefaulting<A, R>(
    buf: &mut [A],
    _reverse: bool,
    _progress: &Progress,
    write: impl FnOnce(&mut [A]) -> R,
) -> R {
    write(buf)
}

/// An uninitialised vector of `n` elements for a result that every element of is written
/// before it is read, advised as [`zeroed`] is. It skips the zero-fill that a reused heap
/// block would take (`calloc` clears memory it did not get fresh from the kernel): one pass
/// over the buffer fewer.
pub(crate) fn uninit<A>(n: usize) -> Vec<MaybeUninit<A>> {
    let mut v = Vec::with_capacity(n);
    // SAFETY: `MaybeUninit` needs no initialisation, and the capacity is `n`.
    unsafe { v.set_len(n) };
    if std::mem::size_of_val(v.as_slice()) >= HUGE_MIN_BYTES {
        advise_huge(&mut v);
    }
    v
}

/// `v` as the vector of its values.
///
/// # Safety
/// Every element of `v` has been written.
pub(crate) unsafe fn assume_init<A>(v: Vec<MaybeUninit<A>>) -> Vec<A> {
    let mut v = std::mem::ManuallyDrop::new(v);
    // SAFETY: `MaybeUninit<A>` has `A`'s layout, so the allocation is one of `A`s of the same
    // length and capacity; the caller vouches for the values.
    unsafe { Vec::from_raw_parts(v.as_mut_ptr().cast::<A>(), v.len(), v.capacity()) }
}

/// `xs` as the values it holds.
///
/// # Safety
/// Every element of `xs` has been written.
pub(crate) unsafe fn written<A>(xs: &mut [MaybeUninit<A>]) -> &mut [A] {
    // SAFETY: same layout; the caller vouches for the values.
    unsafe { &mut *(xs as *mut [MaybeUninit<A>] as *mut [A]) }
}

/// `xs` seen as slots that may be written.
///
/// # Safety
/// Only values, never `MaybeUninit::uninit()`, are written through the result.
pub(crate) unsafe fn as_slots<A>(xs: &mut [A]) -> &mut [MaybeUninit<A>] {
    // SAFETY: same layout; every element stays initialised, as the caller vouches.
    unsafe { &mut *(xs as *mut [A] as *mut [MaybeUninit<A>]) }
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;
    use std::time::{Duration, Instant};

    /// With two threads, the helper faults in the far end of a fresh buffer while the writer
    /// holds back at its start, and leaves what is written already as it was.
    #[test]
    fn prefaulting_faults_ahead_and_keeps_contents() {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(2)
            .build()
            .unwrap();
        for reverse in [false, true] {
            // Above the allocator's largest reuse threshold (32 MiB): fresh pages.
            let n = (64 << 20) / 8 + 3;
            let mut buf = uninit::<u64>(n);
            let start = buf.as_ptr() as usize;
            let (first, last) = (start.next_multiple_of(HUGE), (start + n * 8) / HUGE * HUGE);
            let far = if reverse { first } else { last - 4096 };
            // The middle quarter is written before the helper passes over it.
            let middle = n / 2..3 * n / 4;
            for i in middle.clone() {
                buf[i].write(!(i as u64));
            }
            let progress = Progress::default();
            let reached = pool.install(|| {
                prefaulting(&mut buf, reverse, &progress, |b| {
                    let t = Instant::now();
                    while !resident(far) && t.elapsed() < Duration::from_secs(10) {
                        std::thread::sleep(Duration::from_millis(1));
                    }
                    let reached = resident(far);
                    // SAFETY: the middle quarter was written above.
                    let kept = middle
                        .clone()
                        .all(|i| unsafe { b[i].assume_init() } == !(i as u64));
                    let order: Box<dyn Iterator<Item = usize>> = match reverse {
                        false => Box::new(0..n),
                        true => Box::new((0..n).rev()),
                    };
                    for i in order {
                        b[i].write(i as u64 * 3);
                        if i % 2048 == 0 {
                            progress.reached(b[i..].as_ptr());
                        }
                    }
                    (reached, kept)
                })
            });
            assert_eq!(reached, (true, true), "reverse {reverse}");
            // SAFETY: the writer wrote every element.
            let buf = unsafe { assume_init(buf) };
            assert!(buf.iter().enumerate().all(|(i, &x)| x == i as u64 * 3));
        }
    }
}
