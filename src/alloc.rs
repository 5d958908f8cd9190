//! Output buffers that the kernel backs with huge pages.
//!
//! A fresh buffer is page-faulted on first write, one 4 KiB page at a time; for arrays of
//! tens of megabytes the faults cost more than the scan itself. Asking for transparent huge
//! pages before the first write makes each fault cover 2 MiB (numpy does the same).

use std::mem::MaybeUninit;

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
