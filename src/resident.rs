//! Arrays that live on the GPU between scans, and the context's calls on them.

use crate::array::{Array, ArrayView};
use crate::context::{Call, Context};
use crate::convert::cast_data;
use crate::dtype::DType;
use crate::error::{Error, Result};
use crate::gpu::{load_stored, stored_bytes, GpuElem, KernelOp, Wait};
use crate::options::{Order, Scan};

/// An array in a GPU buffer: the values of `dtype`, stored as the GPU stores that accumulation
/// dtype (8- and 16-bit ints widened to 32 bits, bool as a `u32` 0 or 1).
///
/// Made by [`crate::Context::upload`], [`crate::Context::scan_gpu`] or
/// [`GpuArray::from_buffer`]; read back with [`crate::Context::download`].
#[derive(Debug, Clone)]
pub struct GpuArray {
    pub(crate) buffer: wgpu::Buffer,
    pub(crate) shape: Vec<usize>,
    pub(crate) dtype: DType,
    pub(crate) context: u64,
}

impl GpuArray {
    /// The shape.
    pub fn shape(&self) -> &[usize] {
        &self.shape
    }

    /// The dtype of the values (also the dtype its scans accumulate in).
    pub fn dtype(&self) -> DType {
        self.dtype
    }

    /// Number of elements.
    pub fn len(&self) -> usize {
        self.shape.iter().product()
    }

    /// True when the array holds no element.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The buffer, to bind in the caller's own passes.
    pub fn buffer(&self) -> &wgpu::Buffer {
        &self.buffer
    }

    /// Bytes per stored element on the GPU.
    pub fn stored_size(dtype: DType) -> u64 {
        crate::gpu::GpuElem::of(dtype).size()
    }

    /// Wraps a caller's buffer, created on `context`'s device with `STORAGE`, `COPY_SRC` and
    /// `COPY_DST` usage, holding `shape` elements of `dtype` in the stored layout.
    ///
    /// ```
    /// use gpuscan::{wgpu, Context, DType, GpuArray, Scan};
    /// let ctx = Context::new()?;
    /// if let Some(device) = ctx.device() {
    ///     let buffer = device.create_buffer(&wgpu::BufferDescriptor {
    ///         label: Some("my values"),
    ///         size: 4 * 4,
    ///         usage: wgpu::BufferUsages::STORAGE
    ///             | wgpu::BufferUsages::COPY_SRC
    ///             | wgpu::BufferUsages::COPY_DST,
    ///         mapped_at_creation: false,
    ///     });
    ///     // Through `ctx.queue()`, so that the write lands after the context's queued scans.
    ///     let queue = ctx.queue().expect("a device has a queue");
    ///     queue.write_buffer(&buffer, 0, bytemuck::cast_slice(&[1.0f32, 2.0, 3.0, 4.0]));
    ///     let a = GpuArray::from_buffer(&ctx, buffer, &[4], DType::Float32)?;
    ///     let r = ctx.scan_gpu(&a, &Scan::cumsum())?;
    ///     assert_eq!(ctx.download(&r)?.as_slice::<f32>()?, &[1.0, 3.0, 6.0, 10.0]);
    /// }
    /// # Ok::<(), gpuscan::Error>(())
    /// ```
    pub fn from_buffer(
        context: &crate::Context,
        buffer: wgpu::Buffer,
        shape: &[usize],
        dtype: DType,
    ) -> Result<GpuArray> {
        let needed = stored_bytes_of(shape, GpuElem::of(dtype))?;
        if buffer.size() < needed {
            return Err(Error::InvalidArgument(format!(
                "a buffer of {} bytes cannot hold {shape:?} {dtype} ({needed} bytes)",
                buffer.size()
            )));
        }
        let want = wgpu::BufferUsages::STORAGE
            | wgpu::BufferUsages::COPY_SRC
            | wgpu::BufferUsages::COPY_DST;
        if !buffer.usage().contains(want) {
            return Err(Error::InvalidArgument(format!(
                "the buffer's usage {:?} lacks {want:?}",
                buffer.usage()
            )));
        }
        Ok(GpuArray {
            buffer,
            shape: shape.to_vec(),
            dtype,
            context: context.id,
        })
    }
}

impl Context {
    /// Uploads `a`, stored in the dtype its scans accumulate in by default
    /// ([`DType::cumsum_default`]: an int32 array is stored as int64).
    ///
    /// ```
    /// use gpuscan::{Array, Context, DType};
    /// let ctx = Context::new()?;
    /// if ctx.has_gpu() {
    ///     let a = ctx.upload(&Array::from_shape_vec(&[2, 2], vec![1i32, 2, 3, 4])?)?;
    ///     assert_eq!((a.dtype(), a.shape()), (DType::Int64, &[2, 2][..]));
    ///     let f = ctx.upload_as(&Array::from_vec(vec![1i32, 2]), DType::Float32)?;
    ///     assert_eq!(ctx.download(&f)?.as_slice::<f32>()?, &[1.0, 2.0]);
    /// }
    /// # Ok::<(), gpuscan::Error>(())
    /// ```
    pub fn upload<'a>(&self, a: impl Into<ArrayView<'a>>) -> Result<GpuArray> {
        let a = a.into();
        let acc = a.dtype().cumsum_default();
        self.upload_as(a, acc)
    }

    /// Uploads `a` cast to `dtype` (the dtype its scans then accumulate in).
    pub fn upload_as<'a>(&self, a: impl Into<ArrayView<'a>>, dtype: DType) -> Result<GpuArray> {
        let a = a.into();
        let gpu = self.gpu()?;
        let elem = gpu.supports(dtype)?;
        let bytes_needed = a.len() as u64 * elem.size();
        gpu.check_buffer_size(bytes_needed, "the array")?;
        let data = cast_data(a.data(), dtype);
        let buffer = gpu.scoped(|| {
            let buffer = gpu.buffer("gpuscan array", bytes_needed, resident_usage());
            gpu.queue
                .write_buffer(&buffer, 0, &stored_bytes(&data.view(), 0, data.len()));
            Ok(buffer)
        })?;
        Ok(GpuArray {
            buffer,
            shape: a.shape().to_vec(),
            dtype,
            context: self.id,
        })
    }

    /// A zero-filled GPU array, e.g. the destination of [`Context::record_cumsum`].
    pub fn gpu_zeros(&self, dtype: DType, shape: &[usize]) -> Result<GpuArray> {
        let gpu = self.gpu()?;
        let elem = gpu.supports(dtype)?;
        let bytes = stored_bytes_of(shape, elem)?;
        gpu.check_buffer_size(bytes, "the array")?;
        let buffer = gpu.scoped(|| Ok(gpu.buffer("gpuscan array", bytes, resident_usage())))?;
        Ok(GpuArray {
            buffer,
            shape: shape.to_vec(),
            dtype,
            context: self.id,
        })
    }

    /// Reads a GPU array back, after the scans queued so far (which this submits).
    ///
    /// ```
    /// use gpuscan::{Array, Context, Scan};
    /// let ctx = Context::new()?;
    /// if ctx.has_gpu() {
    ///     let a = ctx.upload(&Array::from_vec(vec![4.0f32, 1.0, 3.0]))?;
    ///     let m = ctx.scan_gpu(&a, &Scan::cummax())?; // queued
    ///     let s = ctx.scan_gpu(&m, &Scan::cumsum())?; // queued after it
    ///     assert_eq!(ctx.download(&s)?.as_slice::<f32>()?, &[4.0, 8.0, 12.0]);
    ///     let r = pollster::block_on(ctx.download_async(&m))?; // from any executor
    ///     assert_eq!(r.as_slice::<f32>()?, &[4.0, 4.0, 4.0]);
    /// }
    /// # Ok::<(), gpuscan::Error>(())
    /// ```
    pub fn download(&self, a: &GpuArray) -> Result<Array> {
        pollster::block_on(self.download_waiting(a, Wait::Block))
    }

    /// [`Context::download`] as a future, for async programs on any executor: the wait for
    /// the GPU happens on a thread of the context's.
    pub async fn download_async(&self, a: &GpuArray) -> Result<Array> {
        self.download_waiting(a, Wait::Background).await
    }

    async fn download_waiting(&self, a: &GpuArray, wait: Wait) -> Result<Array> {
        let gpu = self.gpu()?;
        self.check_owner(a)?;
        let out = Array::zeros(a.dtype, &a.shape)?;
        let n = out.len();
        if n == 0 {
            return Ok(out);
        }
        let size = (n as u64 * GpuElem::of(a.dtype).size()).next_multiple_of(4);
        let (mut data, shape) = out.into_parts();
        gpu.read_back(&a.buffer, size, "gpuscan download", wait, |b| {
            load_stored(&mut data, 0, n, b)
        })
        .await?;
        Array::from_data(&shape, data)
    }

    /// The cumsum of a GPU array along `axis` (`None` flattens), kept on the GPU, in the
    /// array's dtype.
    ///
    /// ```
    /// use gpuscan::{Array, Context};
    /// let ctx = Context::new()?;
    /// if ctx.has_gpu() {
    ///     let a = ctx.upload(&Array::from_shape_vec(&[2, 2], vec![1i64, 2, 3, 4])?)?;
    ///     let r = ctx.cumsum_gpu(&a, Some(0))?;
    ///     assert_eq!(ctx.download(&r)?.as_slice::<i64>()?, &[1, 2, 4, 6]);
    /// }
    /// # Ok::<(), gpuscan::Error>(())
    /// ```
    pub fn cumsum_gpu(&self, a: &GpuArray, axis: Option<isize>) -> Result<GpuArray> {
        let mut scan = Scan::cumsum();
        scan.axis = axis;
        self.scan_gpu(a, &scan)
    }

    /// The scan of a GPU array that `options` describe, kept on the GPU and computed in the
    /// array's dtype (see [`Context::record_scan`]).
    ///
    /// The scan is queued, not submitted: it returns without waiting for earlier GPU work, and
    /// the queue is submitted when a result is read ([`Context::download`]), on
    /// [`Context::flush`], through [`Context::queue`], or every 64 queued scans. Errors in
    /// recording it are returned here.
    pub fn scan_gpu(&self, a: &GpuArray, options: &Scan) -> Result<GpuArray> {
        let shape = Call::resolve(&a.shape, options)?.shape;
        let out = self.gpu_zeros(a.dtype, &shape)?;
        let gpu = self.gpu()?;
        let (commands, pooled) = gpu.scoped(|| {
            let mut encoder = gpu
                .device
                .create_command_encoder(&wgpu::CommandEncoderDescriptor {
                    label: Some("gpuscan resident scan"),
                });
            let pooled = self.record_pooled(&mut encoder, a, &out, options)?;
            // Finishing here makes a recording error this call's, not a later submission's.
            Ok((encoder.finish(), pooled))
        })?;
        gpu.enqueue(commands, pooled);
        Ok(out)
    }

    /// Records the cumsum of `src` into `dst` on the caller's encoder (nothing is submitted);
    /// [`Context::record_scan`] has a complete example.
    /// `dst` must have the result's shape and `src`'s dtype; `src` is only read. `dst` may be
    /// `src` itself: that scan runs in place with reduce-then-scan where the chained scan
    /// would run (three element moves instead of two, no extra memory; see
    /// [`crate::strategy`]).
    pub fn record_cumsum(
        &self,
        encoder: &mut wgpu::CommandEncoder,
        src: &GpuArray,
        dst: &GpuArray,
        axis: Option<isize>,
    ) -> Result<()> {
        let mut scan = Scan::cumsum();
        scan.axis = axis;
        self.record_scan(encoder, src, dst, &scan)
    }

    /// Records the scan that `options` describe of `src` into `dst` on the caller's encoder
    /// (nothing is submitted), in the arrays' dtype: `options.dtype` must be unset or that
    /// dtype, and `include_initial` and the exact order are host-path options. `dst` must
    /// have the result's shape; it may be `src` itself, except for an exclusive scan (which
    /// reads each row's input after the row above is written).
    ///
    /// A scan inside the caller's own frame, on the caller's device:
    ///
    /// ```
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// use gpuscan::{wgpu, Array, Context, ContextOptions, DeviceRequest, Scan};
    ///
    /// let instance = wgpu::Instance::default();
    /// let Ok(adapter) = pollster::block_on(instance.request_adapter(&Default::default()))
    /// else {
    ///     return Ok(()); // no adapter on this machine
    /// };
    /// // The features and limits gpuscan needs on this adapter, plus the program's own.
    /// let request = DeviceRequest::for_adapter(&adapter);
    /// let (device, queue) = pollster::block_on(adapter.request_device(&request.descriptor()))?;
    /// let ctx = Context::from_device(device.clone(), queue.clone(), ContextOptions::default())?;
    ///
    /// let counts = ctx.upload(&Array::from_vec(vec![3i64, 0, 2, 5, 1]))?;
    /// let offsets = ctx.gpu_zeros(counts.dtype(), counts.shape())?;
    /// let mut encoder = device.create_command_encoder(&wgpu::CommandEncoderDescriptor {
    ///     label: Some("frame"),
    /// });
    /// // The program's passes that write `counts.buffer()` would be recorded here.
    /// ctx.record_scan(&mut encoder, &counts, &offsets, &Scan::cumsum().exclusive(true))?;
    /// // ... and those that read `offsets.buffer()` here.
    /// queue.submit([encoder.finish()]);
    /// assert_eq!(ctx.download(&offsets)?.as_slice::<i64>()?, &[0, 3, 3, 5, 10]);
    /// # Ok(()) }
    /// ```
    pub fn record_scan(
        &self,
        encoder: &mut wgpu::CommandEncoder,
        src: &GpuArray,
        dst: &GpuArray,
        options: &Scan,
    ) -> Result<()> {
        // The caller submits the encoder when it likes, so its workspace is not returned to
        // the pool: it is freed once the caller's commands have run.
        self.record_pooled(encoder, src, dst, options).map(drop)
    }

    /// [`Context::record_scan`], returning the pooled buffers the recorded commands use.
    fn record_pooled(
        &self,
        encoder: &mut wgpu::CommandEncoder,
        src: &GpuArray,
        dst: &GpuArray,
        options: &Scan,
    ) -> Result<Vec<crate::gpu::Pooled>> {
        let gpu = self.gpu()?;
        self.check_owner(src)?;
        self.check_owner(dst)?;
        let call = Call::resolve(&src.shape, options)?;
        if dst.shape != call.shape {
            return Err(Error::OutShape {
                out: dst.shape.clone(),
                expected: call.shape,
            });
        }
        for d in [Some(dst.dtype), options.dtype].into_iter().flatten() {
            if d != src.dtype {
                return Err(Error::DTypeMismatch {
                    requested: src.dtype,
                    actual: d,
                });
            }
        }
        let unsupported = |what: &str| {
            Err(Error::InvalidArgument(format!(
                "a scan of a GPU array cannot take {what}"
            )))
        };
        if options.include_initial {
            return unsupported("include_initial (its result has another shape)");
        }
        if options.order == Order::Exact && src.dtype.is_float() && options.op.rounds() {
            return unsupported("the exact order (numpy's sequential loop runs on the CPU)");
        }
        let elem = gpu.supports(src.dtype)?;
        if !crate::gpu::runs(options.op, elem) {
            return Err(Error::InvalidArgument(format!(
                "{} has no {} loop",
                options.op, src.dtype
            )));
        }
        let in_place = src.buffer == dst.buffer;
        if in_place && options.exclusive {
            return unsupported("an exclusive scan in place");
        }
        if call.lanes.geometry.is_empty() {
            return Ok(Vec::new());
        }
        let strategy = self.strategy_for(options.strategy);
        let (algorithm, tile_scan) = gpu.method(strategy, in_place, elem)?;
        let plan = gpu.plan_resident(&call.lanes, elem, algorithm, in_place)?;
        gpu.scoped(|| {
            let workspace = gpu.workspace(std::iter::once(&plan));
            let input = (!in_place).then_some(&src.buffer);
            gpu.record_plan(
                encoder,
                &plan,
                (KernelOp::new(options.op, src.dtype), elem),
                tile_scan,
                &workspace.buffers(input, &dst.buffer),
            );
            Ok(workspace.into_pooled())
        })
    }

    fn check_owner(&self, a: &GpuArray) -> Result<()> {
        if a.context != self.id {
            return Err(Error::InvalidArgument(
                "the GPU array belongs to another context".into(),
            ));
        }
        Ok(())
    }
}

/// Bytes `shape` takes in `elem`'s storage, or `Overflow` if that overflows.
pub(crate) fn stored_bytes_of(shape: &[usize], elem: GpuElem) -> Result<u64> {
    shape
        .iter()
        .try_fold(elem.size(), |acc, &d| acc.checked_mul(d as u64))
        .ok_or_else(|| Error::Overflow(format!("shape {shape:?} overflows a byte count")))
}

fn resident_usage() -> wgpu::BufferUsages {
    wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_SRC | wgpu::BufferUsages::COPY_DST
}
