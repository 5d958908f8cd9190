//! What GPU calls cost a caller, with and without queueing and the buffer pool, in one run:
//! - the host time of one `scan_gpu` call at 2^10 float32 elements, and of one host call
//!   (`scan` with `Device::Gpu`: upload, scan, download) at 2^10;
//! - 100 resident scans of 2^20 queued back to back, until the last is read.
//!
//! "submit each, no pool" flushes after every `scan_gpu` and keeps no buffers between calls,
//! as each call did before scans were queued and buffers pooled.
//! `cargo run --release --example resident_queue`
use std::time::{Duration, Instant};

use gpuscan::{Array, Context, ContextOptions, Device, Scan};

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn us(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

/// Median host time of `scan_gpu` at 2^10 (plus a flush when `submit_each`), and of a host
/// scan at 2^10.
fn small_calls(ctx: &Context, submit_each: bool) -> Result<(Duration, Duration), gpuscan::Error> {
    let scan = Scan::cumsum();
    let a = Array::from_vec(vec![1.0f32; 1 << 10]);
    let small = ctx.upload(&a)?;
    let mut last = ctx.scan_gpu(&small, &scan)?;
    ctx.download(&last)?;
    let mut calls = Vec::new();
    for _ in 0..200 {
        let t = Instant::now();
        last = ctx.scan_gpu(&small, &scan)?;
        if submit_each {
            ctx.flush();
        }
        calls.push(t.elapsed());
    }
    ctx.download(&last)?;
    let host = Scan::cumsum().device(Device::Gpu);
    ctx.scan(&a, &host)?;
    let mut round_trips = Vec::new();
    for _ in 0..200 {
        let t = Instant::now();
        ctx.scan(&a, &host)?;
        round_trips.push(t.elapsed());
    }
    Ok((median(calls), median(round_trips)))
}

/// 100 scans of 2^20 queued, then the last read: the time of the calls, and the total.
fn queued(ctx: &Context, submit_each: bool) -> Result<(Duration, Duration), gpuscan::Error> {
    let scan = Scan::cumsum();
    let big = ctx.upload(&Array::from_vec(vec![1.0f32; 1 << 20]))?;
    ctx.download(&ctx.scan_gpu(&big, &scan)?)?;
    let t = Instant::now();
    let mut results = Vec::with_capacity(100);
    for _ in 0..100 {
        results.push(ctx.scan_gpu(&big, &scan)?);
        if submit_each {
            ctx.flush();
        }
    }
    let calls = t.elapsed();
    let last = ctx.download(results.last().expect("100 results"))?;
    assert_eq!(last.as_slice::<f32>()?[(1 << 20) - 1], (1 << 20) as f32);
    Ok((calls, t.elapsed()))
}

fn main() -> Result<(), gpuscan::Error> {
    let pooled = Context::new()?;
    let Some(info) = pooled.adapter_info() else {
        eprintln!("no GPU: {}", pooled.gpu_unavailable_reason().unwrap_or(""));
        return Ok(());
    };
    println!("adapter: {} ({:?})", info.name, info.backend);
    let unpooled = Context::with_options(ContextOptions::default().pool_bytes(0))?;
    for (name, ctx, submit_each) in [
        ("submit each, no pool", &unpooled, true),
        ("queued, pooled      ", &pooled, false),
    ] {
        let (call, round_trip) = small_calls(ctx, submit_each)?;
        let (calls, total) = queued(ctx, submit_each)?;
        println!(
            "{name}: 2^10 scan_gpu {:.1} us, 2^10 host scan {:.1} us (medians of 200); \
             100 x 2^20 queued: calls {:.1} ms, last read at {:.1} ms ({:.2} ms per scan)",
            us(call),
            us(round_trip),
            calls.as_secs_f64() * 1e3,
            total.as_secs_f64() * 1e3,
            total.as_secs_f64() * 1e3 / 100.0
        );
    }
    Ok(())
}
