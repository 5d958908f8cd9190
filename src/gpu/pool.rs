//! Buffers kept between calls, so that a call of a size seen before creates no buffer.
//!
//! Creating a buffer costs a driver allocation, and wgpu zero-fills each new buffer on its
//! first use; a batch of staging and scratch buffers per small call was most of its fixed
//! cost. A buffer returns to the pool only once the GPU has finished every submission that
//! used it, so a buffer handed out is never still in use: a `write_buffer` into it (which wgpu
//! runs before the next submission's commands) cannot reach work already queued.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// Free buffers are kept up to this many bytes unless the context says otherwise.
pub(crate) const DEFAULT_POOL_BYTES: u64 = 512 << 20;

/// Sizes are rounded up to a power of two from this many bytes, so that calls of nearby
/// sizes share buffers.
const MIN_CLASS_BYTES: u64 = 256;

/// What a buffer is for: only a buffer of the same label, usage and size class is reused, so
/// labels stay true in captures and validation messages.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
struct Key {
    label: &'static str,
    usage: wgpu::BufferUsages,
    size: u64,
}

#[derive(Default)]
struct Free {
    buffers: HashMap<Key, Vec<wgpu::Buffer>>,
    bytes: u64,
    cap: u64,
    /// Sizes are rounded up only to this: a buffer bound whole stays within the binding limit.
    max_class: u64,
}

/// The free buffers of one device, shared with the callbacks that return buffers once the
/// GPU is done with them.
#[derive(Clone)]
pub(crate) struct Pool {
    free: Arc<Mutex<Free>>,
}

/// A buffer taken from the pool; give it back with [`Pool::put`] (or
/// [`Pool::put_after_submitted`]) when the work that uses it is done.
pub(crate) struct Pooled {
    key: Key,
    pub buffer: wgpu::Buffer,
}

impl std::ops::Deref for Pooled {
    type Target = wgpu::Buffer;
    fn deref(&self) -> &wgpu::Buffer {
        &self.buffer
    }
}

impl Pool {
    /// A pool holding at most `cap` bytes of free buffers; sizes above `max_class` (the
    /// storage binding limit) are not rounded up.
    pub fn new(cap: u64, max_class: u64) -> Pool {
        Pool {
            free: Arc::new(Mutex::new(Free {
                cap,
                max_class,
                ..Free::default()
            })),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Free> {
        self.free.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A buffer of at least `size` bytes: a free one of the same kind, or a new one.
    pub fn take(
        &self,
        (device, queue): (&wgpu::Device, &wgpu::Queue),
        label: &'static str,
        size: u64,
        usage: wgpu::BufferUsages,
    ) -> Pooled {
        let mut free = self.lock();
        let key = Key {
            label,
            usage,
            size: size_class(size, free.max_class),
        };
        let reused = {
            let found = free.buffers.get_mut(&key).and_then(Vec::pop);
            if found.is_some() {
                free.bytes -= key.size;
            }
            found
        };
        drop(free);
        if let Some(b) = &reused {
            poison(queue, b);
        }
        let buffer = reused.unwrap_or_else(|| {
            device.create_buffer(&wgpu::BufferDescriptor {
                label: Some(label),
                size: key.size,
                usage,
                mapped_at_creation: false,
            })
        });
        Pooled { key, buffer }
    }

    /// Returns buffers the GPU no longer uses; those beyond the cap are dropped.
    pub fn put(&self, buffers: impl IntoIterator<Item = Pooled>) {
        let mut free = self.lock();
        for b in buffers {
            if free.bytes + b.key.size > free.cap {
                continue;
            }
            free.bytes += b.key.size;
            free.buffers.entry(b.key).or_default().push(b.buffer);
        }
    }

    /// Returns `buffers` once the GPU has finished everything submitted to `queue` so far.
    pub fn put_after_submitted(&self, queue: &wgpu::Queue, buffers: Vec<Pooled>) {
        if buffers.is_empty() {
            return;
        }
        let pool = self.clone();
        queue.on_submitted_work_done(move || pool.put(buffers));
    }

    /// Bytes of the free buffers held now.
    pub fn held_bytes(&self) -> u64 {
        self.lock().bytes
    }

    /// The most bytes of free buffers held.
    pub fn cap(&self) -> u64 {
        self.lock().cap
    }

    /// Sets the cap, dropping free buffers beyond it; returns the bytes dropped.
    pub fn set_cap(&self, cap: u64) -> u64 {
        let mut free = self.lock();
        free.cap = cap;
        let mut dropped = 0;
        let Free { buffers, bytes, .. } = &mut *free;
        for (key, list) in buffers.iter_mut() {
            while *bytes > cap && list.pop().is_some() {
                *bytes -= key.size;
                dropped += key.size;
            }
        }
        buffers.retain(|_, list| !list.is_empty());
        dropped
    }

    /// Drops every free buffer; returns the bytes released.
    pub fn release(&self) -> u64 {
        let mut free = self.lock();
        let bytes = free.bytes;
        free.buffers.clear();
        free.bytes = 0;
        bytes
    }
}

/// In debug builds a reused buffer is filled with a pattern first, so that the tests fail if
/// a kernel reads anything it did not write (a new buffer would read as zeros).
fn poison(queue: &wgpu::Queue, buffer: &wgpu::Buffer) {
    const POISON_MAX_BYTES: u64 = 4 << 20;
    if cfg!(debug_assertions)
        && buffer.usage().contains(wgpu::BufferUsages::COPY_DST)
        && !buffer.usage().contains(wgpu::BufferUsages::MAP_READ)
        && buffer.size() <= POISON_MAX_BYTES
    {
        queue.write_buffer(buffer, 0, &vec![0xA5; buffer.size() as usize]);
    }
}

fn size_class(size: u64, max_class: u64) -> u64 {
    let class = size.max(MIN_CLASS_BYTES).next_power_of_two();
    if class <= max_class {
        class
    } else {
        size.next_multiple_of(4)
    }
}

#[cfg(test)]
mod tests {
    use super::size_class;

    #[test]
    fn size_classes_are_powers_of_two_from_the_minimum() {
        let max = 128 << 20;
        assert_eq!(size_class(0, max), 256);
        assert_eq!(size_class(256, max), 256);
        assert_eq!(size_class(257, max), 512);
        assert_eq!(size_class(3 << 20, max), 4 << 20);
        // Beyond the binding limit a size is kept, so a buffer never outgrows the device's.
        assert_eq!(size_class((128 << 20) + 2, max), (128 << 20) + 4);
    }
}
