//! Timing GPU work: timestamp queries around the recorded commands where the device has them,
//! else host time around submit-and-wait; and the repeat policy every path shares.

use std::time::Instant;

use gpuscan::wgpu;

use crate::CliError;

/// One timed run: the time reported (GPU timestamps or host) and the host time around it.
#[derive(Copy, Clone, Debug)]
pub struct Sample {
    pub seconds: f64,
    pub host_seconds: f64,
}

/// How the GPU rows are timed.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Timing {
    /// `write_timestamp` before and after the commands, inside the encoder.
    TimestampQuery,
    /// Host wall time from creating the encoder to the end of the wait.
    Host,
}

impl Timing {
    pub fn name(self) -> &'static str {
        match self {
            Timing::TimestampQuery => "timestamp-query",
            Timing::Host => "host",
        }
    }
}

/// The query set and buffers timestamp timing reuses for every run.
struct Stamps {
    set: wgpu::QuerySet,
    resolve: wgpu::Buffer,
    readback: wgpu::Buffer,
    period_ns: f64,
}

/// Bytes the two resolved timestamps take.
const STAMP_BYTES: u64 = 2 * wgpu::QUERY_SIZE as u64;

pub struct GpuClock<'a> {
    device: &'a wgpu::Device,
    queue: &'a wgpu::Queue,
    stamps: Option<Stamps>,
}

impl<'a> GpuClock<'a> {
    /// Uses timestamp queries when the device was created with both timestamp features and
    /// reports a usable tick period.
    pub fn new(device: &'a wgpu::Device, queue: &'a wgpu::Queue) -> GpuClock<'a> {
        let wanted =
            wgpu::Features::TIMESTAMP_QUERY | wgpu::Features::TIMESTAMP_QUERY_INSIDE_ENCODERS;
        let period_ns = f64::from(queue.get_timestamp_period());
        let stamps = (device.features().contains(wanted) && period_ns > 0.0).then(|| Stamps {
            set: device.create_query_set(&wgpu::QuerySetDescriptor {
                label: Some("gpuscan bench timestamps"),
                ty: wgpu::QueryType::Timestamp,
                count: 2,
            }),
            resolve: device.create_buffer(&wgpu::BufferDescriptor {
                label: Some("gpuscan bench timestamp resolve"),
                size: STAMP_BYTES,
                usage: wgpu::BufferUsages::QUERY_RESOLVE | wgpu::BufferUsages::COPY_SRC,
                mapped_at_creation: false,
            }),
            readback: device.create_buffer(&wgpu::BufferDescriptor {
                label: Some("gpuscan bench timestamp readback"),
                size: STAMP_BYTES,
                usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
                mapped_at_creation: false,
            }),
            period_ns,
        });
        GpuClock {
            device,
            queue,
            stamps,
        }
    }

    pub fn timing(&self) -> Timing {
        match self.stamps {
            Some(_) => Timing::TimestampQuery,
            None => Timing::Host,
        }
    }

    /// Nanoseconds per timestamp tick, when timestamps are used.
    pub fn period_ns(&self) -> Option<f64> {
        self.stamps.as_ref().map(|s| s.period_ns)
    }

    /// Records `work` into a fresh encoder (labelled `label`), submits it and waits for it.
    pub fn time(
        &self,
        label: &str,
        work: impl FnOnce(&mut wgpu::CommandEncoder) -> Result<(), CliError>,
    ) -> Result<Sample, CliError> {
        // Our own commands could fail validation too; turn that into an error, not a log line.
        let scope = self.device.push_error_scope(wgpu::ErrorFilter::Validation);
        let start = Instant::now();
        let mut encoder = self
            .device
            .create_command_encoder(&wgpu::CommandEncoderDescriptor { label: Some(label) });
        // On Vulkan wgpu writes these at BOTTOM_OF_PIPE, so the second stamp waits for every
        // command recorded before it; the interval is the work alone, without submission.
        if let Some(s) = &self.stamps {
            encoder.write_timestamp(&s.set, 0);
        }
        let recorded = work(&mut encoder);
        if let Some(s) = &self.stamps {
            encoder.write_timestamp(&s.set, 1);
            encoder.resolve_query_set(&s.set, 0..2, &s.resolve, 0);
            encoder.copy_buffer_to_buffer(&s.resolve, 0, &s.readback, 0, STAMP_BYTES);
        }
        if recorded.is_ok() {
            self.queue.submit([encoder.finish()]);
        }
        let waited = match (&recorded, &self.stamps) {
            (Ok(()), Some(s)) => self.read_ticks(&s.readback).map(Some),
            (Ok(()), None) => self.wait().map(|()| None),
            (Err(_), _) => Ok(None),
        };
        let host_seconds = start.elapsed().as_secs_f64();
        if let Some(e) = pollster::block_on(scope.pop()) {
            return Err(CliError(format!("GPU error while timing {label}: {e}")));
        }
        recorded?;
        let seconds = match (waited?, &self.stamps) {
            (Some([t0, t1]), Some(s)) => {
                // A driver may report stamps that do not advance; the host time is then the
                // only honest number.
                if t1 > t0 {
                    (t1 - t0) as f64 * s.period_ns * 1e-9
                } else {
                    host_seconds
                }
            }
            _ => host_seconds,
        };
        Ok(Sample {
            seconds,
            host_seconds,
        })
    }

    fn wait(&self) -> Result<(), CliError> {
        self.device
            .poll(wgpu::PollType::wait_indefinitely())
            .map(|_| ())
            .map_err(|e| CliError(format!("waiting for the GPU failed: {e}")))
    }

    /// Maps the readback buffer (which waits for the submission) and reads both stamps.
    fn read_ticks(&self, readback: &wgpu::Buffer) -> Result<[u64; 2], CliError> {
        let (sender, receiver) = std::sync::mpsc::channel();
        readback.map_async(wgpu::MapMode::Read, .., move |r| {
            let _ = sender.send(r);
        });
        self.wait()?;
        receiver
            .recv()
            .map_err(|_| CliError("the timestamp mapping was dropped".into()))?
            .map_err(|e| CliError(format!("mapping the timestamps failed: {e}")))?;
        let ticks = {
            let view = readback
                .get_mapped_range(..)
                .map_err(|e| CliError(format!("reading the timestamps failed: {e}")))?;
            let stamp = |i: usize| {
                let mut b = [0u8; 8];
                b.copy_from_slice(&view[i * 8..i * 8 + 8]);
                u64::from_le_bytes(b)
            };
            [stamp(0), stamp(1)]
        };
        readback.unmap();
        Ok(ticks)
    }
}

/// How many timed runs follow the warm-up.
#[derive(Copy, Clone, Debug)]
pub struct Repeats {
    /// `--repeats N`: exactly N.
    pub fixed: Option<usize>,
}

impl Repeats {
    /// Seconds of timed runs aimed for per measurement when the count adapts; with the
    /// default cases this keeps a lavapipe run near 40 s on two cores.
    pub const TARGET_SECONDS: f64 = 0.5;
    /// Fewest timed runs: a median of five shrugs off two outliers.
    pub const MIN: usize = 5;
    /// Most timed runs: small cases gain nothing from more.
    pub const MAX: usize = 25;

    /// Runs `run` once to warm up (pipelines compile, buffers and workspaces are allocated on
    /// the first scan), then as often as the policy says; returns the timed samples.
    pub fn sample(
        &self,
        mut run: impl FnMut() -> Result<Sample, CliError>,
    ) -> Result<Vec<Sample>, CliError> {
        let warm = run()?;
        let n = self.fixed.unwrap_or_else(|| {
            let fit = (Self::TARGET_SECONDS / warm.host_seconds.max(1e-9)).ceil();
            (fit.min(Self::MAX as f64) as usize).max(Self::MIN)
        });
        (0..n).map(|_| run()).collect()
    }
}

/// The median of `samples` by each field (the middle one, or the mean of the middle two).
pub fn medians(samples: &[Sample]) -> Sample {
    fn median(mut v: Vec<f64>) -> f64 {
        v.sort_by(f64::total_cmp);
        let m = v.len() / 2;
        match v.len() {
            0 => f64::NAN,
            n if n % 2 == 1 => v[m],
            _ => 0.5 * (v[m - 1] + v[m]),
        }
    }
    Sample {
        seconds: median(samples.iter().map(|s| s.seconds).collect()),
        host_seconds: median(samples.iter().map(|s| s.host_seconds).collect()),
    }
}

/// Host wall time of `f`, as a sample whose two times agree.
pub fn host_sample<T>(f: impl FnOnce() -> Result<T, CliError>) -> Result<(Sample, T), CliError> {
    let start = Instant::now();
    let value = f()?;
    let s = start.elapsed().as_secs_f64();
    Ok((
        Sample {
            seconds: s,
            host_seconds: s,
        },
        value,
    ))
}
