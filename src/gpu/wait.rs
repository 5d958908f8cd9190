//! Waiting for the GPU: in the calling thread, or for the `_async` calls on a thread of the
//! context's, so that their futures run on any executor (wgpu on native delivers a mapping
//! only while someone polls the device).

use std::sync::mpsc;

use super::{Gpu, GpuErrorKind, Pooled};
use crate::error::{Error, Result};

/// How a call waits for its submissions.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub(crate) enum Wait {
    /// Polls the device in the calling thread.
    Block,
    /// Hands the wait to the context's poller thread; the future wakes when it is done.
    Background,
}

/// A thread that polls the device until each submission it is sent has completed; it ends
/// when the context drops its sender.
pub(crate) struct Poller {
    submissions: mpsc::Sender<wgpu::SubmissionIndex>,
}

impl Poller {
    fn start(device: wgpu::Device) -> std::io::Result<Poller> {
        let (submissions, queue) = mpsc::channel::<wgpu::SubmissionIndex>();
        std::thread::Builder::new()
            .name("gpuscan poller".into())
            .spawn(move || {
                for index in queue {
                    let wait = wgpu::PollType::Wait {
                        submission_index: Some(index),
                        timeout: None,
                    };
                    // A failed wait fails the mapping too, which reports it to the caller.
                    if let Err(e) = device.poll(wait) {
                        log::warn!("waiting for the GPU failed: {e}");
                    }
                }
            })?;
        Ok(Poller { submissions })
    }
}

impl Gpu {
    fn poller(&self) -> Result<&Poller> {
        if let Some(p) = self.poller.get() {
            return Ok(p);
        }
        let started = Poller::start(self.device.clone()).map_err(|e| {
            Error::gpu(
                GpuErrorKind::Mapping,
                format!("cannot start the thread that waits for the GPU: {e}"),
                e,
            )
        })?;
        // Another thread may have won the race; its poller serves both.
        Ok(self.poller.get_or_init(|| started))
    }

    /// Maps `buffer`'s first `size` bytes for reading once submission `index` has completed.
    pub async fn map_read(
        &self,
        buffer: &wgpu::Buffer,
        size: u64,
        index: wgpu::SubmissionIndex,
        wait: Wait,
    ) -> Result<()> {
        let (sender, receiver) = futures_intrusive::channel::shared::oneshot_channel();
        buffer
            .slice(..size)
            .map_async(wgpu::MapMode::Read, move |r| {
                let _ = sender.send(r);
            });
        match wait {
            Wait::Block => {
                let until = wgpu::PollType::Wait {
                    submission_index: Some(index),
                    timeout: None,
                };
                self.device.poll(until).map_err(|e| {
                    self.gpu_error(
                        GpuErrorKind::Mapping,
                        format!("waiting for the GPU failed: {e}"),
                        e,
                    )
                })?;
            }
            Wait::Background => {
                // The poller outlives this call: it ends only with the context.
                let _ = self.poller()?.submissions.send(index);
            }
        }
        receiver
            .receive()
            .await
            .ok_or_else(|| Error::Gpu {
                kind: self.lost_or(GpuErrorKind::Mapping),
                message: "the buffer mapping was dropped".into(),
                source: None,
            })?
            .map_err(|e| {
                self.gpu_error(
                    GpuErrorKind::Mapping,
                    format!("mapping the result failed: {e}"),
                    e,
                )
            })
    }

    /// Hands the mapped first `size` bytes of `buffer` to `f`, then unmaps it.
    pub fn take_mapped(
        &self,
        buffer: &wgpu::Buffer,
        size: u64,
        f: impl FnOnce(&[u8]),
    ) -> Result<()> {
        {
            let view = buffer.slice(..size).get_mapped_range().map_err(|e| {
                self.gpu_error(
                    GpuErrorKind::Mapping,
                    format!("reading the result failed: {e}"),
                    e,
                )
            })?;
            f(&view);
        }
        buffer.unmap();
        Ok(())
    }

    /// Copies `buffer`'s first `size` bytes into a staging buffer (`label`) after the work
    /// queued and submitted so far, waits as `wait` says, and hands them to `f`.
    pub async fn read_back(
        &self,
        buffer: &wgpu::Buffer,
        size: u64,
        label: &'static str,
        wait: Wait,
        f: impl FnOnce(&[u8]),
    ) -> Result<()> {
        let (staging, index) = self.scoped(|| {
            let staging: Pooled = self.pool.take(
                (&self.device, &self.queue),
                label,
                size,
                wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
            );
            let mut encoder = self
                .device
                .create_command_encoder(&wgpu::CommandEncoderDescriptor { label: Some(label) });
            encoder.copy_buffer_to_buffer(buffer, 0, &staging, 0, size);
            let index = self.submit(Some(encoder.finish()));
            Ok((staging, index))
        })?;
        self.map_read(&staging, size, index, wait).await?;
        self.take_mapped(&staging, size, f)?;
        self.pool.put([staging]);
        Ok(())
    }
}
