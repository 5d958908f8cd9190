//! The reusable [`Context`]: one device, its compiled pipelines, and the cumsum entry points.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

use pollster::block_on;

use crate::array::{Array, ArrayView, ArrayViewMut, Data, DataRef};
use crate::auto::AutoPolicy;
use crate::calibrate::AutoOrigin;
use crate::convert::{cast_data, cast_data_nan, cast_into};
use crate::cpu;
use crate::dtype::DType;
use crate::error::{Error, LimitOrigin, Result};
use crate::gpu::{Counters, Faults, Gpu, Overrides, ProbeReport, Tuning, Wait};
use crate::layout::{Geometry, Lanes, Segments};
use crate::op::ScanOp;
use crate::options::{Cumsum, Device, Order, Scan, Strategy};
use crate::plan::TileConfig;

/// Elements from which [`Device::Auto`] uses a hardware GPU: an estimate until measured on
/// hardware. On lavapipe the GPU never beat the CPU path (2^4 to 2^24 elements measured), so
/// `Auto` keeps software adapters for explicit use only.
pub const DEFAULT_AUTO_THRESHOLD: u64 = 1 << 20;

static NEXT_ID: AtomicU64 = AtomicU64::new(1);

/// How a [`Context`] is built.
#[derive(Clone, Debug, Default)]
#[non_exhaustive]
pub struct ContextOptions {
    /// Workgroup shape of the scan kernels.
    pub tile: TileConfig,
    /// When [`Device::Auto`] picks the GPU. Without one, a calibration stored for the adapter
    /// (see [`crate::calibrate`]) applies, else [`DEFAULT_AUTO_THRESHOLD`] elements for every
    /// dtype on hardware adapters and never on software ones.
    pub auto_policy: Option<AutoPolicy>,
    /// Caps the storage binding size below the adapter's, to exercise chunking on small data.
    pub max_binding_bytes: Option<u64>,
    /// Host bytes staged per upload-scan-download batch (default 64 MiB); two batches are in
    /// flight, so that transfers overlap scans.
    pub batch_bytes: Option<u64>,
    /// Bytes of GPU buffers kept between calls for reuse (default 512 MiB; 0 keeps none).
    pub pool_bytes: Option<u64>,
    /// The adapter whose name contains this (case-insensitive), in place of
    /// `WGPU_ADAPTER_NAME`; without a match the context is CPU-only and says why.
    pub adapter_name: Option<String>,
    /// The GPU algorithm when a call does not name one (see [`crate::strategy`]).
    pub strategy: Strategy,
    /// Keeps subgroup operations out of the kernels even where the adapter has them.
    pub no_subgroups: bool,
    /// Polls of a predecessor before the chained scan reduces its tile itself (default
    /// [`crate::shaders::SPIN_LIMIT`]; 0 makes every look-back step a fallback).
    pub spin_limit: Option<u32>,
    /// Faults the chained scan injects on purpose, for testing (default none).
    pub faults: Faults,
}

impl ContextOptions {
    /// A kernel shape other than the default.
    pub fn tile(mut self, tile: TileConfig) -> Self {
        self.tile = tile;
        self
    }

    /// One [`Device::Auto`] threshold for every dtype.
    pub fn auto_threshold(mut self, elements: u64) -> Self {
        self.auto_policy = Some(AutoPolicy::uniform(elements));
        self
    }

    /// A [`Device::Auto`] policy per dtype.
    pub fn auto_policy(mut self, policy: AutoPolicy) -> Self {
        self.auto_policy = Some(policy);
        self
    }

    /// Caps the storage binding size (bytes).
    pub fn max_binding_bytes(mut self, bytes: u64) -> Self {
        self.max_binding_bytes = Some(bytes);
        self
    }

    /// Sets the staging batch size (bytes).
    pub fn batch_bytes(mut self, bytes: u64) -> Self {
        self.batch_bytes = Some(bytes);
        self
    }

    /// Picks the adapter by name (see [`ContextOptions::adapter_name`]).
    pub fn adapter_name(mut self, name: impl Into<String>) -> Self {
        self.adapter_name = Some(name.into());
        self
    }

    /// Caps the GPU buffers kept between calls (bytes; 0 keeps none).
    pub fn pool_bytes(mut self, bytes: u64) -> Self {
        self.pool_bytes = Some(bytes);
        self
    }

    /// The GPU algorithm for calls that leave it to the context.
    pub fn strategy(mut self, strategy: Strategy) -> Self {
        self.strategy = strategy;
        self
    }

    /// Whether the kernels may use subgroup operations (default: where the adapter has them
    /// and the adapter probe finds them sound).
    pub fn subgroups(mut self, allowed: bool) -> Self {
        self.no_subgroups = !allowed;
        self
    }

    /// The chained scan's spin limit: polls of a predecessor's state before reducing its tile
    /// itself. Results are the same bits for every limit; 0 and 1 exercise the fallback.
    pub fn spin_limit(mut self, polls: u32) -> Self {
        self.spin_limit = Some(polls);
        self
    }

    /// Faults for the chained scan to inject, to test its rare paths; results must not change.
    pub fn faults(mut self, faults: Faults) -> Self {
        self.faults = faults;
        self
    }
}

/// Created once and reused, like wgpu's `repeated_compute` example: it owns (or borrows) the
/// device and queue and caches compiled pipelines per kernel and dtype.
///
/// ```
/// use gpuscan::{Array, Context, Cumsum};
/// let ctx = Context::new().unwrap(); // CPU-only when the machine has no adapter
/// let a = Array::from_vec(vec![5i32, 6, 7, 8, 9, 10, 11, 12, 19, 25]);
/// let r = ctx.cumsum(&a, &Cumsum::new()).unwrap();
/// assert_eq!(r.to_string(), "[  5  11  18  26  35  45  56  68  87 112]");
///
/// let m = Array::from_shape_vec(&[4, 3], vec![1i64, 4, 0, 7, 0, 9, 5, 0, 3, 12, 0, 5]).unwrap();
/// let r = ctx.cumsum(&m, &Cumsum::new().axis(1)).unwrap();
/// assert_eq!(r.to_string(), "[[ 1  5  5]\n [ 7  7 16]\n [ 5  5  8]\n [12 12 17]]");
/// ```
pub struct Context {
    gpu: Option<Arc<Gpu>>,
    no_gpu: Option<String>,
    auto: RwLock<AutoPolicy>,
    strategy: Strategy,
    /// Where the starting policy came from (see `Context::auto_policy_source`).
    pub(crate) auto_origin: AutoOrigin,
    pub(crate) id: u64,
}

impl std::fmt::Debug for Context {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Context")
            .field("adapter", &self.adapter_info().map(|i| &i.name))
            .field("no_gpu", &self.no_gpu)
            .field("auto", &self.auto_policy())
            .finish()
    }
}

impl Context {
    /// A context on the adapter wgpu's environment variables select (`WGPU_BACKEND`,
    /// `WGPU_ADAPTER_NAME`, `WGPU_POWER_PREF`); CPU-only, saying why, when there is none.
    pub fn new() -> Result<Context> {
        Self::with_options(ContextOptions::default())
    }

    /// [`Context::new`] with options.
    pub fn with_options(options: ContextOptions) -> Result<Context> {
        pollster::block_on(Self::with_options_async(options))
    }

    /// [`Context::new`] without blocking.
    ///
    /// ```
    /// use gpuscan::{Array, Context, Scan};
    /// pollster::block_on(async {
    ///     let ctx = Context::new_async().await?;
    ///     let a = Array::from_vec(vec![1u8, 2, 3]);
    ///     let r = ctx.scan_async(&a, &Scan::cumsum()).await?;
    ///     assert_eq!(r.as_slice::<u64>()?, &[1, 3, 6]);
    ///     Ok::<(), gpuscan::Error>(())
    /// })?;
    /// # Ok::<(), gpuscan::Error>(())
    /// ```
    pub async fn new_async() -> Result<Context> {
        Self::with_options_async(ContextOptions::default()).await
    }

    /// [`Context::with_options`] without blocking.
    pub async fn with_options_async(options: ContextOptions) -> Result<Context> {
        options.tile.validate(1024)?;
        match Gpu::request_device(options.adapter_name.as_deref()).await {
            // A device that cannot run the requested tile shape is the caller's error.
            Ok((device, queue)) => Self::on_device(device, queue, options, LimitOrigin::Adapter),
            Err(reason) => Ok(Context {
                gpu: None,
                no_gpu: Some(reason),
                auto: RwLock::new(AutoPolicy::never()),
                strategy: options.strategy,
                auto_origin: AutoOrigin::default(),
                id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
            }),
        }
    }

    /// A context on the caller's device and queue. Features the device lacks (`SHADER_INT64`,
    /// `SHADER_F64`, `SHADER_F16`) only take the dtypes that need them off the GPU path. The
    /// context installs the device's lost callback, to report a lost device as
    /// [`GpuErrorKind::DeviceLost`](crate::GpuErrorKind::DeviceLost), and sizes are checked
    /// against the limits the device was requested with.
    pub fn from_device(
        device: wgpu::Device,
        queue: wgpu::Queue,
        options: ContextOptions,
    ) -> Result<Context> {
        Self::on_device(device, queue, options, LimitOrigin::Requested)
    }

    /// [`Context::from_device`], saying whose limits the device has.
    fn on_device(
        device: wgpu::Device,
        queue: wgpu::Queue,
        options: ContextOptions,
        origin: LimitOrigin,
    ) -> Result<Context> {
        let gpu = Gpu::new(device, queue, options.tile, overrides(&options), origin)?;
        Ok(Self::from_gpu(gpu, &options))
    }

    /// A context that never uses a GPU.
    ///
    /// ```
    /// use gpuscan::{Array, Context, Cumsum, Device, Error};
    /// let ctx = Context::cpu_only();
    /// let a = Array::from_vec(vec![0.5f32, 0.25]);
    /// assert_eq!(ctx.cumsum(&a, &Cumsum::new())?.as_slice::<f32>()?, &[0.5, 0.75]);
    /// let gpu = ctx.cumsum(&a, &Cumsum::new().device(Device::Gpu));
    /// assert!(matches!(gpu, Err(Error::NoAdapter(_))));
    /// # Ok::<(), gpuscan::Error>(())
    /// ```
    pub fn cpu_only() -> Context {
        Context {
            gpu: None,
            no_gpu: Some("created CPU-only".into()),
            auto: RwLock::new(AutoPolicy::never()),
            strategy: Strategy::Auto,
            auto_origin: AutoOrigin::default(),
            id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
        }
    }

    fn from_gpu(gpu: Gpu, options: &ContextOptions) -> Context {
        let software = gpu.info.device_type == wgpu::DeviceType::Cpu;
        let default = if software {
            AutoPolicy::never()
        } else {
            AutoPolicy::uniform(DEFAULT_AUTO_THRESHOLD)
        };
        // The caller's policy, else a calibration stored for this adapter, else the default.
        let origin = AutoOrigin::choose(options.auto_policy.as_ref(), &gpu.info, default);
        Context {
            gpu: Some(Arc::new(gpu)),
            no_gpu: None,
            auto: RwLock::new(origin.policy.clone()),
            strategy: options.strategy,
            auto_origin: origin,
            id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
        }
    }

    /// Probes the adapter (what has not been probed yet) and says what it found: whether the
    /// tile scans use subgroups, and which algorithms were taken out of [`Strategy::Auto`]
    /// (`None` without a GPU). Scans run the parts they need before their first use: the
    /// subgroup probe before the first subgroup tile scan, an algorithm's check before its
    /// first scan of each element type.
    pub fn probe_report(&self) -> Option<ProbeReport> {
        self.gpu.as_ref().map(|g| g.probe.run_all(g))
    }

    /// The chained scan's diagnostic counters since the last call, then zeroes them. Waits for
    /// the GPU work submitted so far.
    pub fn take_counters(&self) -> Result<Counters> {
        self.gpu()?.read_counters(true)
    }

    /// The chained scan's spin limit (see [`ContextOptions::spin_limit`]); `None` without a
    /// GPU.
    pub fn spin_limit(&self) -> Option<u32> {
        self.gpu.as_ref().map(|g| g.tuning().spin_limit)
    }

    /// Sets the chained scan's spin limit for scans recorded from now on. Results are the
    /// same bits for every limit.
    pub fn set_spin_limit(&self, polls: u32) -> Result<()> {
        let gpu = self.gpu()?;
        gpu.set_tuning(Tuning {
            spin_limit: polls,
            ..gpu.tuning()
        });
        Ok(())
    }

    /// Sets the faults the chained scan injects, for scans recorded from now on (see
    /// [`ContextOptions::faults`]).
    pub fn set_faults(&self, faults: Faults) -> Result<()> {
        let gpu = self.gpu()?;
        gpu.set_tuning(Tuning {
            faults,
            ..gpu.tuning()
        });
        Ok(())
    }

    /// True when a GPU adapter is in use.
    pub fn has_gpu(&self) -> bool {
        self.gpu.is_some()
    }

    /// Why there is no GPU, for a CPU-only context.
    pub fn gpu_unavailable_reason(&self) -> Option<&str> {
        self.no_gpu.as_deref()
    }

    /// The adapter's name, backend, driver and type.
    pub fn adapter_info(&self) -> Option<&wgpu::AdapterInfo> {
        self.gpu.as_ref().map(|g| &g.info)
    }

    /// The device, to create buffers and encoders that share it.
    pub fn device(&self) -> Option<&wgpu::Device> {
        self.gpu.as_ref().map(|g| &g.device)
    }

    /// The queue, after submitting the resident scans queued so far ([`Context::flush`]), so
    /// that what the caller submits next runs after them.
    pub fn queue(&self) -> Option<&wgpu::Queue> {
        self.gpu.as_ref().map(|g| {
            g.flush();
            &g.queue
        })
    }

    /// Submits the resident scans queued so far ([`Context::scan_gpu`] queues its work and
    /// returns; reading a result submits it too). Call it before writing to a buffer of this
    /// context's arrays, or submitting, through a queue obtained earlier. Waits for nothing.
    pub fn flush(&self) {
        if let Some(g) = &self.gpu {
            g.flush();
        }
    }

    /// Bytes of GPU buffers held for reuse now. Each call of a size seen before takes its
    /// staging and scratch buffers from this pool instead of creating them; a buffer returns
    /// once the GPU has finished the work that used it.
    ///
    /// ```
    /// use gpuscan::{Array, Context, ContextOptions, Device, Scan};
    /// let ctx = Context::with_options(ContextOptions::default().pool_bytes(64 << 20))?;
    /// if ctx.has_gpu() {
    ///     let a = Array::from_vec(vec![1.0f32; 4096]);
    ///     ctx.scan(&a, &Scan::cumsum().device(Device::Gpu))?;
    ///     assert!(ctx.pooled_bytes() > 0 && ctx.pooled_bytes() <= ctx.pool_cap());
    ///     ctx.release_buffers(); // e.g. before a phase that needs the GPU's memory
    ///     assert_eq!(ctx.pooled_bytes(), 0);
    /// }
    /// # Ok::<(), gpuscan::Error>(())
    /// ```
    pub fn pooled_bytes(&self) -> u64 {
        self.gpu.as_ref().map_or(0, |g| g.pool().held_bytes())
    }

    /// The most bytes of GPU buffers held for reuse ([`ContextOptions::pool_bytes`]).
    pub fn pool_cap(&self) -> u64 {
        self.gpu.as_ref().map_or(0, |g| g.pool().cap())
    }

    /// Sets the most bytes of GPU buffers held for reuse, freeing those beyond it; returns the
    /// bytes freed.
    pub fn set_pool_cap(&self, bytes: u64) -> u64 {
        self.gpu.as_ref().map_or(0, |g| g.pool().set_cap(bytes))
    }

    /// Frees every GPU buffer held for reuse; returns the bytes freed.
    pub fn release_buffers(&self) -> u64 {
        self.gpu.as_ref().map_or(0, |g| g.pool().release())
    }

    /// The accumulation dtypes this adapter scans on the GPU.
    pub fn gpu_dtypes(&self) -> Vec<DType> {
        match &self.gpu {
            Some(g) => DType::ALL
                .into_iter()
                .filter(|&d| g.supports(d).is_ok())
                .collect(),
            None => Vec::new(),
        }
    }

    /// When [`Device::Auto`] picks the GPU.
    pub fn auto_policy(&self) -> AutoPolicy {
        self.auto.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Replaces the [`Device::Auto`] policy.
    pub fn set_auto_policy(&self, policy: AutoPolicy) {
        *self.auto.write().unwrap_or_else(|e| e.into_inner()) = policy;
    }

    /// Elements from which [`Device::Auto`] scans `dtype` accumulations on the GPU (`None`:
    /// never).
    pub fn auto_threshold(&self, dtype: DType) -> Option<u64> {
        self.auto_policy().threshold(dtype)
    }

    /// One [`Device::Auto`] threshold for every dtype.
    pub fn set_auto_threshold(&self, elements: u64) {
        self.set_auto_policy(AutoPolicy::uniform(elements));
    }

    /// The GPU algorithm of calls that leave it open ([`Strategy::Auto`] in a [`Scan`] or
    /// [`Cumsum`], and [`Context::cumsum_gpu`] and [`Context::record_cumsum`]): fixed when
    /// the context is made ([`ContextOptions::strategy`]); each call may name its own.
    pub fn strategy(&self) -> Strategy {
        self.strategy
    }

    /// The GPU algorithm that a scan of `shape` along `axis` into another array runs with
    /// `strategy` on this context's adapter (an in-place resident scan never runs the chained
    /// scan: see [`crate::strategy`]).
    ///
    /// ```
    /// use gpuscan::{plan::Algorithm, Context, Strategy};
    /// let ctx = Context::new().unwrap();
    /// let a = ctx.gpu_algorithm(Strategy::Blelloch, &[1 << 20], None).unwrap();
    /// assert_eq!(a, Algorithm::Blelloch);
    /// ```
    pub fn gpu_algorithm(
        &self,
        strategy: Strategy,
        shape: &[usize],
        axis: Option<isize>,
    ) -> Result<crate::plan::Algorithm> {
        // The shape and axis are checked; the table does not depend on them today.
        Geometry::resolve(shape, axis)?;
        let strategy = self.strategy_for(strategy);
        let (device_type, excluded) = match &self.gpu {
            Some(g) => (g.info.device_type, g.probe.excluded()),
            None => (wgpu::DeviceType::Other, Vec::new()),
        };
        Ok(crate::strategy::select(
            strategy,
            device_type,
            false,
            &excluded,
        ))
    }

    /// The algorithm a call with `requested` runs.
    pub(crate) fn strategy_for(&self, requested: Strategy) -> Strategy {
        match requested {
            Strategy::Auto => self.strategy(),
            s => s,
        }
    }

    pub(crate) fn gpu(&self) -> Result<&Gpu> {
        self.gpu
            .as_deref()
            .ok_or_else(|| Error::NoAdapter(self.no_gpu.clone().unwrap_or_default()))
    }

    /// Whether a scan of `elements` values accumulated in `acc` runs on the GPU.
    fn use_gpu(&self, acc: DType, elements: u64, options: &Scan) -> Result<bool> {
        let exact = options.order == Order::Exact && acc.is_float() && options.op.rounds();
        match options.device {
            Device::Cpu => Ok(false),
            Device::Gpu if exact => Err(Error::InvalidArgument(
                "the exact order is numpy's sequential loop, which runs on the CPU only".into(),
            )),
            Device::Gpu => {
                self.gpu()?.supports(acc)?;
                Ok(true)
            }
            Device::Auto => Ok(match &self.gpu {
                Some(g) if !exact => {
                    self.auto_policy().use_gpu(acc, elements) && g.supports(acc).is_ok()
                }
                _ => false,
            }),
        }
    }

    /// `a` cast to `acc` and scanned as `options` say. The wide order computes float16 in
    /// float32 and float32 in float64, then rounds once to `acc`.
    async fn accumulate(
        &self,
        a: &DataRef<'_>,
        acc: DType,
        lanes: &Lanes,
        options: &Scan,
        wait: Wait,
    ) -> Result<Data> {
        let op = options.op;
        let work = working_dtype(acc, options.order, op);
        // numpy casts every element to `acc` before combining; a wider dtype holds those
        // values exactly, so a wide scan first rounds the input to `acc`.
        let staged = (work != acc && a.dtype() != acc).then(|| cast_data(a, acc));
        let staged_view = staged.as_ref().map(Data::view);
        let a = staged_view.as_ref().unwrap_or(a);
        let data = if self.use_gpu(work, lanes.geometry.len(), options)? {
            // The upload reads the input where it lies when it holds the loop dtype already.
            let cast = (a.dtype() != work).then(|| cast_data_replacing_nan(a, work, op));
            let cast_view = cast.as_ref().map(Data::view);
            let src = cast_view.as_ref().unwrap_or(a);
            let mut data = crate::convert::zeroed_data(work, src.len());
            let how = (op, self.strategy_for(options.strategy));
            self.gpu()?
                .scan_host(src, &mut data, lanes, how, wait)
                .await?;
            data
        } else if cpu::wide_float16(acc, op, options.order, lanes) {
            cpu::scan(a, acc, lanes, op, options.order)
        } else {
            cpu::scan(a, work, lanes, op, options.order)
        };
        Ok(narrow(data, acc))
    }

    /// [`Context::scan`] of an array it may consume: when `a` already holds the loop dtype
    /// and the scan runs on the CPU, its buffer is scanned in place, so no second copy of the
    /// data is made.
    ///
    /// ```
    /// use gpuscan::{Array, Context, Scan};
    /// let ctx = Context::new()?;
    /// let a = Array::from_vec(vec![3i64, -1, 4]);
    /// let r = ctx.scan_owned(a, &Scan::cummin())?;
    /// assert_eq!(r.as_slice::<i64>()?, &[3, -1, -1]);
    /// # Ok::<(), gpuscan::Error>(())
    /// ```
    pub fn scan_owned(&self, a: Array, options: &Scan) -> Result<Array> {
        let call = Call::resolve(a.shape(), options)?;
        let acc = options.op.loop_dtype(a.dtype(), options.dtype, None)?;
        let work = working_dtype(acc, options.order, options.op);
        let native = cpu_native(acc, work, options, &call.lanes);
        let in_place = a.dtype() == acc && native && !options.include_initial;
        if in_place && !self.use_gpu(work, call.lanes.geometry.len(), options)? {
            let mut data = a.into_parts().0;
            cpu::scan_data(&mut data, &call.lanes, options.op, options.order);
            return Array::from_data(&call.shape, data);
        }
        let view = a.view();
        let data = block_on(self.accumulate(view.data(), acc, &call.lanes, options, Wait::Block))?;
        call.finish(data, options.op)
    }

    /// The scan of `a` that `options` describe ([`Scan`]): numpy's function for the
    /// operation, with its result dtype unless `dtype` is given.
    ///
    /// The result has the input's shape for an integer axis and is 1-D for `axis=None`
    /// (`include_initial` adds one along the axis).
    pub fn scan<'a>(&self, a: impl Into<ArrayView<'a>>, options: &Scan) -> Result<Array> {
        block_on(self.scan_waiting(a.into(), options, Wait::Block))
    }

    /// [`Context::scan`] as a future, for async programs on any executor: the GPU work is
    /// waited for on a thread of the context's, never in the executor's. A scan on the CPU
    /// runs when the future is first polled.
    ///
    /// ```
    /// use gpuscan::{Array, Context, Device, Scan};
    /// let ctx = Context::new()?;
    /// let a = Array::from_shape_vec(&[2, 3], vec![1.0f64, 2.0, 3.0, 4.0, 5.0, 6.0])?;
    /// let device = if ctx.has_gpu() { Device::Gpu } else { Device::Cpu };
    /// let scan = Scan::cumprod().axis(1).device(device);
    /// let r = pollster::block_on(ctx.scan_async(&a, &scan))?;
    /// assert_eq!(r.as_slice::<f64>()?, &[1.0, 2.0, 6.0, 4.0, 20.0, 120.0]);
    /// # Ok::<(), gpuscan::Error>(())
    /// ```
    pub async fn scan_async<'a>(
        &self,
        a: impl Into<ArrayView<'a>>,
        options: &Scan,
    ) -> Result<Array> {
        self.scan_waiting(a.into(), options, Wait::Background).await
    }

    async fn scan_waiting(&self, a: ArrayView<'_>, options: &Scan, wait: Wait) -> Result<Array> {
        let call = Call::resolve(a.shape(), options)?;
        let acc = options.op.loop_dtype(a.dtype(), options.dtype, None)?;
        let data = self
            .accumulate(a.data(), acc, &call.lanes, options, wait)
            .await?;
        call.finish(data, options.op)
    }

    /// The scan of `a` written into `out`, as numpy's `out=`.
    ///
    /// `out` must have the result's shape; any dtype is accepted (numpy's unsafe casting).
    /// Without `dtype` the scan computes in `np.result_type(out, a)` (logcumsumexp: the float
    /// that holds it). On any error `out` is left untouched.
    ///
    /// ```
    /// use gpuscan::{Array, Context, DType, Scan};
    /// let ctx = Context::new()?;
    /// let a = Array::from_vec(vec![200u8, 100, 50]);
    /// let mut out = Array::zeros(DType::UInt8, &[3])?; // numpy: sums in uint8, wrapping
    /// ctx.scan_into(&a, &mut out, &Scan::cumsum())?;
    /// assert_eq!(out.as_slice::<u8>()?, &[200, 44, 94]);
    /// let mut wrong = Array::zeros(DType::UInt8, &[4])?;
    /// assert!(ctx.scan_into(&a, &mut wrong, &Scan::cumsum()).is_err());
    /// # Ok::<(), gpuscan::Error>(())
    /// ```
    pub fn scan_into<'a, 'b>(
        &self,
        a: impl Into<ArrayView<'a>>,
        out: impl Into<ArrayViewMut<'b>>,
        options: &Scan,
    ) -> Result<()> {
        block_on(self.scan_into_waiting(a.into(), out.into(), options, Wait::Block))
    }

    /// [`Context::scan_into`] as a future (see [`Context::scan_async`]).
    pub async fn scan_into_async<'a, 'b>(
        &self,
        a: impl Into<ArrayView<'a>>,
        out: impl Into<ArrayViewMut<'b>>,
        options: &Scan,
    ) -> Result<()> {
        self.scan_into_waiting(a.into(), out.into(), options, Wait::Background)
            .await
    }

    async fn scan_into_waiting(
        &self,
        a: ArrayView<'_>,
        mut out: ArrayViewMut<'_>,
        options: &Scan,
        wait: Wait,
    ) -> Result<()> {
        let call = Call::resolve(a.shape(), options)?;
        if out.shape() != call.result_shape().as_slice() {
            return Err(Error::OutShape {
                out: out.shape().to_vec(),
                expected: call.result_shape(),
            });
        }
        let acc = options
            .op
            .loop_dtype(a.dtype(), options.dtype, Some(out.dtype()))?;
        let work = working_dtype(acc, options.order, options.op);
        let native = cpu_native(acc, work, options, &call.lanes);
        let direct = out.dtype() == acc && native && call.initial_axis.is_none();
        if direct && !self.use_gpu(work, call.lanes.geometry.len(), options)? {
            // The CPU path cannot fail once the call is checked: it writes `out` directly.
            cpu::scan_into(
                a.data(),
                out.data_mut(),
                &call.lanes,
                options.op,
                options.order,
            );
            return Ok(());
        }
        // The result is complete before `out` is written, so an error leaves `out` untouched.
        let data = self
            .accumulate(a.data(), acc, &call.lanes, options, wait)
            .await?;
        let result = call.finish(data, options.op)?;
        cast_into(result.data(), out.data_mut());
        Ok(())
    }

    /// cummax or cummin with the int64 positions along the axis of each running extreme, by
    /// torch's rule: ties take the element scanned last (the highest position, or in reverse
    /// the lowest), and the latest NaN takes over. An exclusive scan gives each element the
    /// position of the extreme strictly before it, and -1 at the start of every lane or
    /// segment. The positions are computed on the CPU; the values where `options` say.
    ///
    /// ```
    /// use gpuscan::{Array, Context, Scan};
    /// let ctx = Context::new()?;
    /// let a = Array::from_vec(vec![2i32, 5, 5, 1, 7]);
    /// let (values, at) = ctx.scan_indices(&a, &Scan::cummax())?;
    /// assert_eq!(values.as_slice::<i32>()?, &[2, 5, 5, 5, 7]);
    /// assert_eq!(at.as_slice::<i64>()?, &[0, 1, 2, 2, 4]);
    /// # Ok::<(), gpuscan::Error>(())
    /// ```
    pub fn scan_indices<'a>(
        &self,
        a: impl Into<ArrayView<'a>>,
        options: &Scan,
    ) -> Result<(Array, Array)> {
        let a = a.into();
        let max = match options.op {
            ScanOp::Max => true,
            ScanOp::Min => false,
            op => {
                return Err(Error::InvalidArgument(format!(
                    "indices are defined for cummax and cummin, not {op}"
                )))
            }
        };
        if options.include_initial {
            return Err(Error::InvalidArgument(
                "indices cannot be combined with include_initial".into(),
            ));
        }
        let call = Call::resolve(a.shape(), options)?;
        let acc = options.op.loop_dtype(a.dtype(), options.dtype, None)?;
        let values = block_on(self.accumulate(a.data(), acc, &call.lanes, options, Wait::Block))?;
        let staged = (a.dtype() != acc).then(|| cast_data(a.data(), acc));
        let x = staged.as_ref().map(Data::view);
        let indices = cpu::extreme_indices(x.as_ref().unwrap_or(a.data()), &call.lanes, max);
        Ok((
            Array::from_data(&call.shape, values)?,
            Array::from_data(&call.shape, Data::Int64(indices))?,
        ))
    }

    /// [`Context::cumsum`] of an array it may consume: when `a` already holds the accumulation
    /// dtype and the scan runs on the CPU, its buffer is scanned in place, so no second copy of
    /// the data is made.
    ///
    /// ```
    /// use gpuscan::{Array, Context, Cumsum};
    /// let ctx = Context::new()?;
    /// let r = ctx.cumsum_owned(Array::from_vec(vec![1u64, 2, 3]), &Cumsum::new())?;
    /// assert_eq!(r.as_slice::<u64>()?, &[1, 3, 6]);
    /// # Ok::<(), gpuscan::Error>(())
    /// ```
    pub fn cumsum_owned(&self, a: Array, options: &Cumsum) -> Result<Array> {
        self.scan_owned(a, &(*options).into())
    }

    /// `np.cumsum(a, axis, dtype)`.
    ///
    /// The result has the input's shape for an integer axis and is 1-D for `axis=None`; its
    /// dtype is `dtype`, or numpy's default (bool and signed ints accumulate in int64, unsigned
    /// ints in uint64, floats keep their dtype).
    pub fn cumsum<'a>(&self, a: impl Into<ArrayView<'a>>, options: &Cumsum) -> Result<Array> {
        self.scan(a, &(*options).into())
    }

    /// [`Context::cumsum`] as a future (see [`Context::scan_async`]).
    pub async fn cumsum_async<'a>(
        &self,
        a: impl Into<ArrayView<'a>>,
        options: &Cumsum,
    ) -> Result<Array> {
        self.scan_async(a, &(*options).into()).await
    }

    /// `np.cumsum(a, axis, dtype, out=out)`.
    ///
    /// `out` must have the result's shape; any dtype is accepted (numpy's unsafe casting).
    /// Without `dtype` the sum accumulates in `np.result_type(out, a)`. On any error `out` is
    /// left untouched.
    pub fn cumsum_into<'a, 'b>(
        &self,
        a: impl Into<ArrayView<'a>>,
        out: impl Into<ArrayViewMut<'b>>,
        options: &Cumsum,
    ) -> Result<()> {
        self.scan_into(a, out, &(*options).into())
    }

    /// [`Context::cumsum_into`] as a future (see [`Context::scan_async`]).
    pub async fn cumsum_into_async<'a, 'b>(
        &self,
        a: impl Into<ArrayView<'a>>,
        out: impl Into<ArrayViewMut<'b>>,
        options: &Cumsum,
    ) -> Result<()> {
        self.scan_into_async(a, out, &(*options).into()).await
    }
}

fn overrides(options: &ContextOptions) -> Overrides {
    Overrides {
        max_binding_bytes: options.max_binding_bytes,
        batch_bytes: options.batch_bytes,
        no_subgroups: options.no_subgroups,
        spin_limit: options.spin_limit,
        faults: options.faults,
        pool_bytes: options.pool_bytes,
    }
}

/// The dtype a scan computes in under `order` (max and min are exact in any dtype).
fn working_dtype(acc: DType, order: Order, op: ScanOp) -> DType {
    match (order, acc) {
        _ if !op.rounds() => acc,
        (Order::Wide, DType::Float16) => DType::Float32,
        (Order::Wide, DType::Float32) => DType::Float64,
        _ => acc,
    }
}

/// Whether the CPU computes a scan with loop dtype `acc` in `acc` itself: `work` is `acc`, or
/// the CPU widens as it goes ([`cpu::wide_float16`]).
fn cpu_native(acc: DType, work: DType, options: &Scan, lanes: &Lanes) -> bool {
    acc == work || cpu::wide_float16(acc, options.op, options.order, lanes)
}

/// A copy of `a` in `to`; the nan* scans replace NaN first when `to` is not a float, so that
/// no NaN reaches the cast (a float `to` keeps NaN for the kernels to replace).
fn cast_data_replacing_nan(a: &DataRef<'_>, to: DType, op: ScanOp) -> Data {
    match op.nan_to() {
        Some(r) if a.dtype().is_float() && !to.is_float() => cast_data_nan(a, to, r),
        _ => cast_data(a, to),
    }
}

/// One call's layout: the lanes it scans, its shape before `include_initial`, and where the
/// initial values go.
pub(crate) struct Call {
    pub(crate) lanes: Lanes,
    pub(crate) shape: Vec<usize>,
    /// The axis `include_initial` grows.
    initial_axis: Option<usize>,
}

impl Call {
    pub(crate) fn resolve(shape: &[usize], options: &Scan) -> Result<Call> {
        let mut axis = options.axis;
        if options.cumulative && axis.is_none() {
            // numpy 2: atleast_1d, and an axis is required from two dimensions.
            if shape.len() >= 2 {
                return Err(Error::AxisRequired);
            }
            axis = Some(0);
        }
        let (geometry, result) = Geometry::resolve(shape, axis)?;
        let segments = match &options.segments {
            Some(offsets) => Segments::new(offsets, geometry.lane_len)?,
            None => Segments::whole(geometry.lane_len),
        };
        if options.include_initial
            && (options.reverse || options.exclusive || options.segments.is_some())
        {
            return Err(Error::InvalidArgument(
                "include_initial cannot be combined with reverse, exclusive or segments".into(),
            ));
        }
        let initial_axis = match (options.include_initial, axis) {
            (false, _) => None,
            (true, None) => Some(0),
            (true, Some(a)) => Some(crate::layout::normalize_axis(a, result.len())?),
        };
        Ok(Call {
            lanes: Lanes {
                geometry,
                reverse: options.reverse,
                exclusive: options.exclusive,
                segments,
            },
            shape: result,
            initial_axis,
        })
    }

    fn result_shape(&self) -> Vec<usize> {
        let mut shape = self.shape.clone();
        if let Some(a) = self.initial_axis {
            shape[a] += 1;
        }
        shape
    }

    /// The scanned data as the result array: with `include_initial`, a row of the empty
    /// scan's value (0 or 1) before every lane.
    fn finish(&self, data: Data, op: ScanOp) -> Result<Array> {
        let Some(axis) = self.initial_axis else {
            return Array::from_data(&self.shape, data);
        };
        let outer = self.shape[..axis].iter().product();
        let cols = self.shape[axis + 1..].iter().product();
        let dims = (outer, self.shape[axis], cols);
        let data = crate::convert::with_initial_rows(&data, dims, op);
        Array::from_data(&self.result_shape(), data)
    }
}

/// `data` rounded to `acc` (a no-op unless the scan ran wider).
fn narrow(data: Data, acc: DType) -> Data {
    if data.dtype() == acc {
        data
    } else {
        cast_data(&data.view(), acc)
    }
}
