//! Output buffers that the kernel backs with huge pages.
//!
//! A fresh buffer is page-faulted on first write, one 4 KiB page at a time; for arrays of
//! tens of megabytes the faults cost more than the scan itself. Asking for transparent huge
//! pages before the first write makes each fault cover 2 MiB (numpy does the same).

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

#[cfg(target_os = "linux")]
fn advise_huge<A>(v: &mut [A]) {
    const HUGE: usize = 2 << 20;
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
