//! A host scan end to end against a plain upload and download of the same bytes, in one run,
//! for float32 1-D arrays of 2^26 and 2^28 elements:
//! - "copy": the bytes written to a GPU buffer, copied to a readback buffer and read into a
//!   new host array, in 64 MiB pieces one after another (wgpu calls only, no scan);
//! - "scan, pipelined": `scan` with `Device::Gpu`, 64 MiB batches, two in flight;
//! - "scan, one batch": the same with the whole array in one batch, nothing overlapped.
//!
//! Each time is the best of 3 runs (or the second argument's count) after a warm-up.
//! `cargo run --release --example host_pipeline [log2 sizes, default 26,28] [runs]`
use std::time::Instant;

use gpuscan::{wgpu, Array, Context, ContextOptions, Device, Scan};

const PIECE: u64 = 64 << 20;

/// Seconds of the best of `runs` runs of `f`, after one warm-up.
fn best(
    runs: usize,
    mut f: impl FnMut() -> Result<(), gpuscan::Error>,
) -> Result<f64, gpuscan::Error> {
    f()?;
    let mut times = Vec::new();
    for _ in 0..runs {
        let t = Instant::now();
        f()?;
        times.push(t.elapsed().as_secs_f64());
    }
    Ok(times.into_iter().fold(f64::INFINITY, f64::min))
}

/// Upload and download of `data` in pieces, as a caller would without any scan.
fn copy(ctx: &Context, data: &[f32]) -> Vec<f32> {
    let (device, queue) = (ctx.device().unwrap(), ctx.queue().unwrap());
    let bytes: &[u8] = bytemuck::cast_slice(data);
    let mut out = vec![0f32; data.len()];
    let out_bytes: &mut [u8] = bytemuck::cast_slice_mut(&mut out);
    let buffer = |label, usage| {
        device.create_buffer(&wgpu::BufferDescriptor {
            label: Some(label),
            size: PIECE,
            usage,
            mapped_at_creation: false,
        })
    };
    use wgpu::BufferUsages as U;
    let gpu = buffer("copy piece", U::STORAGE | U::COPY_DST | U::COPY_SRC);
    let readback = buffer("copy readback", U::MAP_READ | U::COPY_DST);
    for (piece, dst) in bytes
        .chunks(PIECE as usize)
        .zip(out_bytes.chunks_mut(PIECE as usize))
    {
        queue.write_buffer(&gpu, 0, piece);
        let mut encoder = device.create_command_encoder(&Default::default());
        let size = piece.len() as u64;
        encoder.copy_buffer_to_buffer(&gpu, 0, &readback, 0, size);
        queue.submit([encoder.finish()]);
        let slice = readback.slice(..size);
        slice.map_async(wgpu::MapMode::Read, |r| r.expect("mapping the copy"));
        device
            .poll(wgpu::PollType::wait_indefinitely())
            .expect("waiting for the copy");
        dst.copy_from_slice(&slice.get_mapped_range().expect("the mapped copy"));
        readback.unmap();
    }
    out
}

fn main() -> Result<(), gpuscan::Error> {
    let sizes: Vec<u32> = std::env::args()
        .nth(1)
        .map(|s| {
            s.split(',')
                .map(|x| x.parse().expect("log2 sizes"))
                .collect()
        })
        .unwrap_or_else(|| vec![26, 28]);
    let runs: usize = std::env::args()
        .nth(2)
        .map_or(3, |r| r.parse().expect("a run count"));
    let pipelined = Context::new()?;
    let Some(info) = pipelined.adapter_info() else {
        eprintln!(
            "no GPU: {}",
            pipelined.gpu_unavailable_reason().unwrap_or("")
        );
        return Ok(());
    };
    println!("adapter: {} ({:?})", info.name, info.backend);
    let scan = Scan::cumsum().device(Device::Gpu);
    for log2 in sizes {
        let n = 1usize << log2;
        let data: Vec<f32> = (0..n).map(|i| (i % 1000) as f32 / 1000.0).collect();
        let a = Array::from_vec(data.clone());
        let whole = Context::with_options(ContextOptions::default().batch_bytes(4 * n as u64))?;
        let t_copy = best(runs, || {
            std::hint::black_box(copy(&pipelined, &data));
            Ok(())
        })?;
        let t_pipe = best(runs, || pipelined.scan(&a, &scan).map(drop))?;
        let t_one = best(runs, || whole.scan(&a, &scan).map(drop))?;
        let gb = |t: f64| 2.0 * 4.0 * n as f64 / t / 1e9;
        println!(
            "2^{log2} float32: copy {:.0} ms ({:.2} GB/s both ways); scan, pipelined {:.0} ms \
             ({:.2} of the copy's rate); scan, one batch {:.0} ms ({:.2})",
            t_copy * 1e3,
            gb(t_copy),
            t_pipe * 1e3,
            t_copy / t_pipe,
            t_one * 1e3,
            t_copy / t_one
        );
    }
    Ok(())
}
