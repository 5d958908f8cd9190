//! What to request a `wgpu::Device` with, for a caller who makes the device itself and hands
//! it to [`Context::from_device`](crate::Context::from_device).

/// Features gpuscan uses where the adapter has them: 64-bit integers, float64 and float16
/// (each takes its dtypes onto the GPU), subgroups (faster tile scans) and timestamps (bench).
pub(crate) const WANTED_FEATURES: wgpu::Features = wgpu::Features::SHADER_F16
    .union(wgpu::Features::SHADER_INT64)
    .union(wgpu::Features::SHADER_F64)
    .union(wgpu::Features::SUBGROUP)
    .union(wgpu::Features::TIMESTAMP_QUERY)
    .union(wgpu::Features::TIMESTAMP_QUERY_INSIDE_ENCODERS);

/// Storage buffers every scan pass binds (source, destination, auxiliary state, carry,
/// counters, segment offsets): a device needs `max_storage_buffers_per_shader_stage` of at
/// least this.
pub const STORAGE_BUFFERS_PER_PASS: u32 = 6;

/// The features and limits to request a device with so that gpuscan runs every dtype the
/// adapter can and arrays as large as it allows. wgpu's defaults leave out the features
/// (without `SHADER_INT64` even int32 input leaves the GPU, since it sums in int64) and hold
/// buffers to 256 MiB.
///
/// ```no_run
/// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
/// use gpuscan::{wgpu, Context, ContextOptions, DeviceRequest};
///
/// let instance = wgpu::Instance::default();
/// let adapter = instance
///     .request_adapter(&wgpu::RequestAdapterOptions::default())
///     .await?;
/// let request = DeviceRequest::for_adapter(&adapter);
/// // Add the program's own features and limits to `request` before asking.
/// let (device, queue) = adapter.request_device(&request.descriptor()).await?;
/// let ctx = Context::from_device(device, queue, ContextOptions::default())?;
/// # Ok(()) }
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct DeviceRequest {
    /// The adapter's features that gpuscan uses.
    pub features: wgpu::Features,
    /// The adapter's own limits.
    pub limits: wgpu::Limits,
}

impl DeviceRequest {
    /// What to request a device on `adapter` with.
    pub fn for_adapter(adapter: &wgpu::Adapter) -> DeviceRequest {
        DeviceRequest {
            features: adapter.features() & WANTED_FEATURES,
            limits: adapter.limits(),
        }
    }

    /// A device descriptor with these features and limits, labelled `gpuscan device`.
    pub fn descriptor(&self) -> wgpu::DeviceDescriptor<'static> {
        wgpu::DeviceDescriptor {
            label: Some("gpuscan device"),
            required_features: self.features,
            required_limits: self.limits.clone(),
            ..Default::default()
        }
    }
}
