//! Criterion benchmarks of float32 cumsum: the CPU path, the GPU end to end
//! (upload + scan + download), the GPU scan alone on resident data, and a plain GPU
//! buffer-to-buffer copy of the same bytes (the bandwidth ceiling of the resident scan).
//!
//! `cargo bench --bench cumsum`; filter with e.g. `cargo bench --bench cumsum -- gpu_resident`.

use std::hint::black_box;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use gpuscan::{Array, Context, Cumsum, DType, Device, GpuArray};

/// One benchmarked input: a float32 array of `shape`, scanned along `axis` (`None` flattens).
struct Case {
    name: &'static str,
    shape: Vec<usize>,
    axis: Option<isize>,
}

impl Case {
    fn len(&self) -> usize {
        self.shape.iter().product()
    }

    /// The criterion id: the case's name and its size.
    fn id(&self) -> BenchmarkId {
        let dims: Vec<String> = self.shape.iter().map(|d| d.to_string()).collect();
        BenchmarkId::new(self.name, dims.join("x"))
    }

    fn options(&self, device: Device) -> Cumsum {
        let options = Cumsum::new().device(device);
        match self.axis {
            Some(axis) => options.axis(axis),
            None => options.flatten(),
        }
    }

    /// The shape of the result: 1-D when flattening, else the input's.
    fn result_shape(&self) -> Vec<usize> {
        let (_, shape) = gpuscan::layout::Geometry::resolve(&self.shape, self.axis)
            .expect("the case's axis is in bounds");
        shape
    }

    fn input(&self) -> Array {
        let data: Vec<f32> = (0..self.len())
            .map(|i| ((i % 13) as f32 - 6.0) * 0.25)
            .collect();
        Array::from_shape_vec(&self.shape, data).expect("shape matches data")
    }
}

fn cases() -> Vec<Case> {
    let mut cases: Vec<Case> = [10u32, 14, 18, 22]
        .into_iter()
        .map(|p| Case {
            name: "1d",
            shape: vec![1 << p],
            axis: None,
        })
        .collect();
    cases.push(Case {
        name: "2d_axis0",
        shape: vec![2048, 2048],
        axis: Some(0),
    });
    cases.push(Case {
        name: "2d_axis1",
        shape: vec![2048, 2048],
        axis: Some(1),
    });
    cases
}

/// Host-side cumsum through [`Context::cumsum`] on `device` (the GPU case includes the
/// upload, the scan and the download).
fn bench_host(c: &mut Criterion, ctx: &Context, group_name: &str, device: Device) {
    let mut group = c.benchmark_group(group_name);
    for case in cases() {
        let a = case.input();
        let options = case.options(device);
        group.throughput(Throughput::Elements(case.len() as u64));
        group.bench_function(case.id(), |b| {
            b.iter(|| black_box(ctx.cumsum(black_box(&a), &options).expect("cumsum")))
        });
    }
    group.finish();
}

/// Submits `encoder` and blocks until the GPU has finished it.
fn submit_and_wait(device: &wgpu::Device, queue: &wgpu::Queue, encoder: wgpu::CommandEncoder) {
    queue.submit([encoder.finish()]);
    device
        .poll(wgpu::PollType::wait_indefinitely())
        .expect("device poll");
}

fn new_encoder(device: &wgpu::Device, label: &str) -> wgpu::CommandEncoder {
    device.create_command_encoder(&wgpu::CommandEncoderDescriptor { label: Some(label) })
}

/// Uploads the case's input once and allocates a destination of the result's shape.
fn resident(ctx: &Context, case: &Case) -> (GpuArray, GpuArray) {
    let src = ctx.upload(&case.input()).expect("upload");
    let dst = ctx
        .gpu_zeros(DType::Float32, &case.result_shape())
        .expect("gpu_zeros");
    (src, dst)
}

/// The scan alone: each iteration records `record_cumsum` into a fresh encoder, submits it
/// and waits for it.
fn bench_gpu_resident(c: &mut Criterion, ctx: &Context) {
    let (device, queue) = (ctx.device().unwrap(), ctx.queue().unwrap());
    let mut group = c.benchmark_group("gpu_resident");
    for case in cases() {
        let (src, dst) = resident(ctx, &case);
        group.throughput(Throughput::Elements(case.len() as u64));
        group.bench_function(case.id(), |b| {
            b.iter(|| {
                let mut encoder = new_encoder(device, "bench cumsum");
                ctx.record_cumsum(&mut encoder, &src, &dst, case.axis)
                    .expect("record_cumsum");
                submit_and_wait(device, queue, encoder);
            })
        });
    }
    group.finish();
}

/// A plain buffer-to-buffer copy of the same bytes, submitted and waited the same way.
fn bench_copy(c: &mut Criterion, ctx: &Context) {
    let (device, queue) = (ctx.device().unwrap(), ctx.queue().unwrap());
    let mut group = c.benchmark_group("copy");
    for case in cases() {
        let (src, dst) = resident(ctx, &case);
        let bytes = case.len() as u64 * GpuArray::stored_size(DType::Float32);
        group.throughput(Throughput::Elements(case.len() as u64));
        group.bench_function(case.id(), |b| {
            b.iter(|| {
                let mut encoder = new_encoder(device, "bench copy");
                encoder.copy_buffer_to_buffer(src.buffer(), 0, dst.buffer(), 0, bytes);
                submit_and_wait(device, queue, encoder);
            })
        });
    }
    group.finish();
}

fn benches(c: &mut Criterion) {
    let ctx = Context::new().expect("context");
    bench_host(c, &ctx, "cpu", Device::Cpu);
    if !ctx.has_gpu() {
        eprintln!(
            "skipping the gpu_end_to_end, gpu_resident and copy groups: no GPU adapter ({})",
            ctx.gpu_unavailable_reason().unwrap_or("unknown reason")
        );
        return;
    }
    if let Some(info) = ctx.adapter_info() {
        eprintln!(
            "adapter: {} ({:?}, {:?})",
            info.name, info.backend, info.device_type
        );
    }
    bench_host(c, &ctx, "gpu_end_to_end", Device::Gpu);
    bench_gpu_resident(c, &ctx);
    bench_copy(c, &ctx);
}

criterion_group! {
    name = cumsum;
    // Small enough for `cargo bench --bench cumsum` to finish in a few minutes on 2 cores;
    // criterion switches the slow cases to flat sampling by itself.
    config = Criterion::default()
        .sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(2))
        .without_plots();
    targets = benches
}
criterion_main!(cumsum);
