//! Where the GPU starts beating the CPU: float32 1-D cumsum, end to end (upload + scan +
//! download) on `Device::Gpu` against `Device::Cpu`, for sizes 2^4, 2^6 ... 2^24.
//!
//! Each time is the median of 5 runs after 1 warm-up run.
//!
//! `cargo run --release --example crossover`
use std::time::Instant;

use gpuscan::{Array, Context, Cumsum, Device};

const WARM_UP: usize = 1;
const REPEATS: usize = 5;

/// Median wall time in seconds of `REPEATS` runs of `f`, after `WARM_UP` runs.
fn median_secs(
    mut f: impl FnMut() -> Result<Array, gpuscan::Error>,
) -> Result<f64, gpuscan::Error> {
    for _ in 0..WARM_UP {
        std::hint::black_box(f()?);
    }
    let mut times = Vec::with_capacity(REPEATS);
    for _ in 0..REPEATS {
        let start = Instant::now();
        std::hint::black_box(f()?);
        times.push(start.elapsed().as_secs_f64());
    }
    times.sort_by(f64::total_cmp);
    Ok(times[REPEATS / 2])
}

fn main() -> Result<(), gpuscan::Error> {
    let ctx = Context::new()?;
    let Some(info) = ctx.adapter_info() else {
        println!(
            "no GPU adapter ({}): nothing to compare",
            ctx.gpu_unavailable_reason().unwrap_or("unknown reason")
        );
        return Ok(());
    };
    println!(
        "adapter: {} ({:?}, {:?}); float32 1-D cumsum, median of {REPEATS} runs after {WARM_UP} warm-up",
        info.name, info.backend, info.device_type
    );
    let cpu = Cumsum::new().device(Device::Cpu);
    let gpu = Cumsum::new().device(Device::Gpu);

    println!(
        "{:>10} {:>12} {:>12} {:>9}",
        "elements", "cpu s", "gpu s", "gpu/cpu"
    );
    let mut wins = Vec::new();
    for p in (4..=24).step_by(2) {
        let n = 1usize << p;
        let a = Array::from_vec((0..n).map(|i| ((i % 13) as f32 - 6.0) * 0.25).collect());
        let cpu_s = median_secs(|| ctx.cumsum(&a, &cpu))?;
        let gpu_s = median_secs(|| ctx.cumsum(&a, &gpu))?;
        let ratio = gpu_s / cpu_s;
        println!("{n:>10} {cpu_s:>12.3e} {gpu_s:>12.3e} {ratio:>9.2}");
        wins.push((n, gpu_s < cpu_s));
    }

    match wins.iter().position(|&(_, win)| win) {
        None => println!("the GPU end to end never beats the CPU at these sizes"),
        Some(i) => {
            let holds = wins[i..].iter().all(|&(_, win)| win);
            println!(
                "smallest size where the GPU end to end wins: {} elements{}",
                wins[i].0,
                if holds {
                    " (and at every larger size measured)"
                } else {
                    " (but not at every larger size measured)"
                }
            );
        }
    }
    Ok(())
}
