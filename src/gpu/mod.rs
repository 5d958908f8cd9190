//! The GPU path: device ownership, error capture, and recording planned scans.

mod host;
mod kernels;
mod op_wgsl;
mod pool;
mod probe;
mod record;
#[cfg(test)]
mod subgroup_model;
mod transfer;
mod tuning;
mod wait;

use std::sync::Arc;

pub(crate) use kernels::GpuElem;
use kernels::Kernels;
pub use kernels::{module_source, prelude, Items, Params, TileScan, SPIN_LIMIT};
pub use op_wgsl::{runs, KernelOp};
use pool::Pool;
pub(crate) use pool::Pooled;
pub(crate) use pool::DEFAULT_POOL_BYTES;
use probe::Probe;
pub use probe::ProbeReport;
pub(crate) use transfer::{load_stored, stored_bytes};
pub(crate) use tuning::Tuning;
pub use tuning::{Counters, Faults};
pub(crate) use wait::Wait;

use crate::device::{DeviceRequest, STORAGE_BUFFERS_PER_PASS};
use crate::dtype::DType;
use crate::error::{Error, GpuErrorKind, LimitOrigin, Result};
use crate::options::Strategy;
use crate::plan::{Algorithm, DeviceLimits, TileConfig};

/// Host memory one upload-scan-download batch stages. Larger arrays stream in batches, two
/// in flight, so that one batch's transfers overlap another's scan.
pub(crate) const DEFAULT_BATCH_BYTES: u64 = 64 << 20;

/// Resident scans queue at most this many command buffers before they are submitted.
const MAX_QUEUED: usize = 64;

/// Resident scans recorded but not submitted yet, and the pooled buffers they use.
#[derive(Default)]
struct Queued {
    commands: Vec<wgpu::CommandBuffer>,
    buffers: Vec<Pooled>,
}

/// A device and queue, with the compiled kernels and the limits plans must respect.
pub(crate) struct Gpu {
    pub device: wgpu::Device,
    pub queue: wgpu::Queue,
    pub info: wgpu::AdapterInfo,
    pub limits: DeviceLimits,
    /// Whether `limits` are the adapter's own or only what the caller's device asked for.
    pub limit_origin: LimitOrigin,
    /// Why the device was lost, once it is: errors caught after that are `DeviceLost`.
    lost: Arc<std::sync::Mutex<Option<String>>>,
    pub tile: TileConfig,
    pub batch_bytes: u64,
    /// Whether the workgroup scans may use subgroup operations, if the probe finds them sound.
    pub subgroups: bool,
    /// The chained scan's spin limit and injected faults.
    tuning: std::sync::RwLock<Tuning>,
    /// The checks run on this adapter so far: `Auto` avoids algorithms they found wrong.
    pub probe: Probe,
    /// The kernels' diagnostic counters (see `shaders/common.wgsl`).
    counters: wgpu::Buffer,
    kernels: Kernels,
    /// Buffers kept between calls.
    pool: Pool,
    queued: std::sync::Mutex<Queued>,
    /// Waits for submissions on behalf of the `_async` calls, once one has run.
    poller: std::sync::OnceLock<wait::Poller>,
}

/// Words of the counters buffer: fallbacks, mismatches, and a sink that stays 0.
const COUNTER_WORDS: u64 = 4;

/// What a context was asked to override in the adapter's limits and features (tests use it to
/// force chunks and the paths without subgroups).
#[derive(Copy, Clone, Debug, Default)]
pub(crate) struct Overrides {
    pub max_binding_bytes: Option<u64>,
    pub batch_bytes: Option<u64>,
    pub no_subgroups: bool,
    pub spin_limit: Option<u32>,
    pub faults: Faults,
    pub pool_bytes: Option<u64>,
}

impl Gpu {
    pub fn new(
        device: wgpu::Device,
        queue: wgpu::Queue,
        tile: TileConfig,
        overrides: Overrides,
        limit_origin: LimitOrigin,
    ) -> Result<Gpu> {
        let l = device.limits();
        // Without enough storage bindings wgpu would panic creating the bind group layout.
        if l.max_storage_buffers_per_shader_stage < STORAGE_BUFFERS_PER_PASS {
            return Err(Error::TooLarge {
                what: "a scan pass".into(),
                limit: "max_storage_buffers_per_shader_stage",
                requested: STORAGE_BUFFERS_PER_PASS.into(),
                allowed: l.max_storage_buffers_per_shader_stage.into(),
                unit: "storage buffers",
                device: device.adapter_info().name,
                origin: limit_origin,
            });
        }
        tile.validate(
            l.max_compute_invocations_per_workgroup
                .min(l.max_compute_workgroup_size_x),
        )?;
        let mut limits = DeviceLimits {
            max_binding_bytes: l.max_storage_buffer_binding_size,
            max_buffer_bytes: l.max_buffer_size,
            offset_alignment: l.min_storage_buffer_offset_alignment as u64,
            max_workgroups_per_dim: l.max_compute_workgroups_per_dimension,
        };
        if let Some(b) = overrides.max_binding_bytes {
            limits.max_binding_bytes = limits
                .max_binding_bytes
                .min(b.max(limits.offset_alignment * 2));
        }
        let batch_bytes = overrides
            .batch_bytes
            .unwrap_or(DEFAULT_BATCH_BYTES)
            .min(limits.max_buffer_bytes);
        let kernels = Kernels::new(&device, tile);
        let has_subgroups = device.features().contains(wgpu::Features::SUBGROUP);
        let counters = device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("gpuscan counters"),
            size: 4 * COUNTER_WORDS,
            usage: wgpu::BufferUsages::STORAGE
                | wgpu::BufferUsages::COPY_SRC
                | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        });
        // wgpu reports a lost device only through this callback, never in an error scope.
        let lost = Arc::new(std::sync::Mutex::new(None));
        let on_lost = Arc::clone(&lost);
        device.set_device_lost_callback(move |reason, message| {
            *on_lost.lock().unwrap_or_else(|e| e.into_inner()) =
                Some(format!("{reason:?}: {message}"));
        });
        Ok(Gpu {
            limit_origin,
            lost,
            subgroups: has_subgroups && !overrides.no_subgroups,
            info: device.adapter_info(),
            device,
            queue,
            limits,
            tile,
            batch_bytes,
            tuning: std::sync::RwLock::new(Tuning {
                spin_limit: overrides.spin_limit.unwrap_or(SPIN_LIMIT),
                faults: overrides.faults,
            }),
            probe: Probe::default(),
            counters,
            kernels,
            pool: Pool::new(
                overrides.pool_bytes.unwrap_or(DEFAULT_POOL_BYTES),
                limits.max_binding_bytes,
            ),
            queued: std::sync::Mutex::new(Queued::default()),
            poller: std::sync::OnceLock::new(),
        })
    }

    /// Queues a resident scan's commands, submitted with the next submission (or once
    /// [`MAX_QUEUED`] are waiting); `buffers` return to the pool when they have run.
    pub fn enqueue(&self, commands: wgpu::CommandBuffer, buffers: Vec<Pooled>) {
        let full = {
            let mut q = self.queued.lock().unwrap_or_else(|e| e.into_inner());
            q.commands.push(commands);
            q.buffers.extend(buffers);
            q.commands.len() >= MAX_QUEUED
        };
        if full {
            self.submit(None);
        }
    }

    /// Submits the queued work, then `commands`; every submission goes through here, so the
    /// queue runs work in the order it was recorded.
    pub fn submit(&self, commands: Option<wgpu::CommandBuffer>) -> wgpu::SubmissionIndex {
        // Held until submitted: another thread's submission (a read of these scans' results)
        // must not reach the queue between taking the queued work and submitting it.
        let mut queued = self.queued.lock().unwrap_or_else(|e| e.into_inner());
        let Queued {
            commands: q,
            buffers,
        } = std::mem::take(&mut *queued);
        let index = self.queue.submit(q.into_iter().chain(commands));
        self.pool.put_after_submitted(&self.queue, buffers);
        index
    }

    /// Submits the queued work, if any.
    pub fn flush(&self) {
        let empty = self
            .queued
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .commands
            .is_empty();
        if !empty {
            self.submit(None);
        }
    }

    /// The buffer pool's cap, the bytes it holds, and its release.
    pub fn pool(&self) -> &Pool {
        &self.pool
    }

    /// Creates a device on the adapter whose name contains `name`, else the one wgpu's
    /// environment variables select; `Err` says why there is none.
    pub async fn request_device(
        name: Option<&str>,
    ) -> std::result::Result<(wgpu::Device, wgpu::Queue), String> {
        let adapter = select_adapter(name).await?;
        let (device, queue) = adapter
            .request_device(&DeviceRequest::for_adapter(&adapter).descriptor())
            .await
            .map_err(|e| format!("the adapter refused a device: {e}"))?;
        // Errors are captured in scopes; anything that escapes must not abort the process.
        device.on_uncaptured_error(Arc::new(|e: wgpu::Error| {
            log::error!("uncaptured wgpu error: {e}");
        }));
        Ok((device, queue))
    }

    /// Whether this device can scan accumulator dtype `dtype`; the error names what is missing.
    pub fn supports(&self, dtype: DType) -> Result<GpuElem> {
        let elem = GpuElem::of(dtype);
        if let Some((feature, name)) = elem.required_feature() {
            if !self.device.features().contains(feature) {
                return Err(Error::MissingFeature {
                    dtype,
                    feature: name,
                });
            }
        }
        Ok(elem)
    }

    /// The algorithm and workgroup scan for a scan in `elem`, into another buffer or in
    /// place. Blelloch keeps the tree in workgroup memory; the other algorithms
    /// take subgroups where the adapter has them and the probe found them sound. Before an
    /// algorithm's first scan of `elem` its check runs; `Auto` then avoids one that failed,
    /// and is an error when every algorithm failed.
    pub fn method(
        &self,
        strategy: Strategy,
        in_place: bool,
        elem: GpuElem,
    ) -> Result<(Algorithm, TileScan)> {
        loop {
            let excluded = self.probe.excluded();
            let algorithm =
                crate::strategy::select(strategy, self.info.device_type, in_place, &excluded);
            match self.probe.verify(self, algorithm, elem) {
                Some(tile_scan) => return Ok((algorithm, tile_scan)),
                // A forced algorithm runs even when wrong here; selftest shows it.
                None if strategy != Strategy::Auto => return Ok((algorithm, TileScan::Shared)),
                None if excluded.len() + 1 >= Algorithm::ALL.len() => {
                    // A lost device fails every check: that is not the algorithms' fault.
                    return Err(Error::Gpu {
                        kind: self.lost_or(GpuErrorKind::Unsound),
                        message: format!(
                            "every GPU algorithm failed this adapter's check: {}",
                            self.probe.report()
                        ),
                        source: None,
                    });
                }
                // Auto picks again, without the one just excluded.
                None => {}
            }
        }
    }

    /// Runs `f` inside validation and out-of-memory error scopes and returns what they caught.
    pub fn scoped<T>(&self, f: impl FnOnce() -> Result<T>) -> Result<T> {
        // On a lost device wgpu drops the errors and some helpers (`create_buffer_init`) panic.
        if let Some(why) = self.lost.lock().unwrap_or_else(|e| e.into_inner()).clone() {
            return Err(Error::Gpu {
                kind: GpuErrorKind::DeviceLost,
                message: format!("the device was lost: {why}"),
                source: None,
            });
        }
        let oom = self.device.push_error_scope(wgpu::ErrorFilter::OutOfMemory);
        let validation = self.device.push_error_scope(wgpu::ErrorFilter::Validation);
        let internal = self.device.push_error_scope(wgpu::ErrorFilter::Internal);
        let value = f();
        let errors = [
            pollster::block_on(internal.pop()),
            pollster::block_on(validation.pop()),
            pollster::block_on(oom.pop()),
        ];
        if let Some(e) = errors.into_iter().flatten().next() {
            let kind = GpuErrorKind::of(&e);
            return Err(self.gpu_error(kind, e.to_string(), e));
        }
        value
    }

    /// Checks that one buffer of `bytes` may be created.
    pub fn check_buffer_size(&self, bytes: u64, what: &str) -> Result<()> {
        if bytes > self.limits.max_buffer_bytes {
            return Err(self.on_device(Error::TooLarge {
                what: format!("a buffer for {what}"),
                limit: "max_buffer_size",
                requested: bytes,
                allowed: self.limits.max_buffer_bytes,
                unit: "bytes",
                device: String::new(),
                origin: self.limit_origin,
            }));
        }
        Ok(())
    }

    /// Names this device in a [`Error::TooLarge`] planned without it; other errors pass.
    pub fn on_device(&self, e: Error) -> Error {
        match e {
            Error::TooLarge {
                what,
                limit,
                requested,
                allowed,
                unit,
                ..
            } => Error::TooLarge {
                what,
                limit,
                requested,
                allowed,
                unit,
                device: self.info.name.clone(),
                origin: self.limit_origin,
            },
            e => e,
        }
    }

    /// `kind`, or `DeviceLost` once the device is lost.
    fn lost_or(&self, kind: GpuErrorKind) -> GpuErrorKind {
        let lost = self.lost.lock().unwrap_or_else(|e| e.into_inner());
        if lost.is_some() {
            GpuErrorKind::DeviceLost
        } else {
            kind
        }
    }

    /// An [`Error::Gpu`] of `kind` (or `DeviceLost`, saying why) with its wgpu source.
    fn gpu_error(
        &self,
        kind: GpuErrorKind,
        message: String,
        source: impl std::error::Error + Send + Sync + 'static,
    ) -> Error {
        let lost = self.lost.lock().unwrap_or_else(|e| e.into_inner()).clone();
        match lost {
            Some(why) => Error::gpu(
                GpuErrorKind::DeviceLost,
                format!("{message} (the device was lost: {why})"),
                source,
            ),
            None => Error::gpu(kind, message, source),
        }
    }

    /// The chained scan's settings for scans recorded from now on.
    pub(crate) fn tuning(&self) -> Tuning {
        *self.tuning.read().unwrap_or_else(|e| e.into_inner())
    }

    /// Replaces the chained scan's settings.
    pub(crate) fn set_tuning(&self, tuning: Tuning) {
        *self.tuning.write().unwrap_or_else(|e| e.into_inner()) = tuning;
    }

    /// Reads the kernels' counters; `reset` zeroes them after.
    pub fn read_counters(&self, reset: bool) -> Result<Counters> {
        let size = 4 * COUNTER_WORDS;
        let mut words = [0u32; COUNTER_WORDS as usize];
        pollster::block_on(self.read_back(
            &self.counters,
            size,
            "gpuscan counters readback",
            Wait::Block,
            |b| words.copy_from_slice(bytemuck::cast_slice(&b[..size as usize])),
        ))?;
        self.scoped(|| {
            if reset {
                let mut encoder =
                    self.device
                        .create_command_encoder(&wgpu::CommandEncoderDescriptor {
                            label: Some("gpuscan counters reset"),
                        });
                encoder.clear_buffer(&self.counters, 0, None);
                self.submit(Some(encoder.finish()));
            }
            Ok(())
        })?;
        Ok(Counters {
            fallbacks: words[0] as u64,
            mismatches: words[1] as u64,
        })
    }

    pub fn buffer(&self, label: &str, size: u64, usage: wgpu::BufferUsages) -> wgpu::Buffer {
        self.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some(label),
            size: size.max(4).next_multiple_of(4),
            usage,
            mapped_at_creation: false,
        })
    }
}

impl Drop for Gpu {
    /// Work queued for a buffer the caller holds (`GpuArray::from_buffer`) still runs.
    fn drop(&mut self) {
        self.flush();
    }
}

/// Picks an adapter the way wgpu's examples do, without ever panicking: `WGPU_BACKEND` limits
/// the backends, `name` (else `WGPU_ADAPTER_NAME`) picks by name (substring,
/// case-insensitive), and `WGPU_POWER_PREF` (`low`/`high`) steers the default choice.
async fn select_adapter(name: Option<&str>) -> std::result::Result<wgpu::Adapter, String> {
    let mut desc = wgpu::InstanceDescriptor::new_without_display_handle().with_env();
    desc.backends = wgpu::Backends::from_env().unwrap_or(wgpu::Backends::all());
    let backends = desc.backends;
    let instance = wgpu::Instance::new(desc);
    let (source, wanted) = match name {
        Some(n) => ("the adapter name", Some(n.to_string())),
        None => ("WGPU_ADAPTER_NAME", std::env::var("WGPU_ADAPTER_NAME").ok()),
    };
    if let Some(wanted) = wanted {
        let adapters = instance.enumerate_adapters(backends).await;
        let names: Vec<String> = adapters.iter().map(|a| a.get_info().name).collect();
        return adapters
            .into_iter()
            .find(|a| {
                a.get_info()
                    .name
                    .to_lowercase()
                    .contains(&wanted.to_lowercase())
            })
            .ok_or_else(|| format!("no adapter matches {source} {wanted:?} (found: {names:?})"));
    }
    instance
        .request_adapter(&wgpu::RequestAdapterOptions {
            power_preference: wgpu::PowerPreference::from_env().unwrap_or_default(),
            force_fallback_adapter: false,
            compatible_surface: None,
            ..Default::default()
        })
        .await
        .map_err(|e| {
            format!(
                "no GPU adapter found ({e}); on Debian or Ubuntu, \
                 `apt-get install -y mesa-vulkan-drivers libvulkan1` provides a software one"
            )
        })
}
