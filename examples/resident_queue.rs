//! What a resident scan costs a caller: the host time of one `scan_gpu` call at 2^10 float32
//! elements (submitting, not waiting), and 100 resident scans of 2^20 queued back to back
//! against one scan waited for alone. `cargo run --release --example resident_queue`
use std::time::{Duration, Instant};

use gpuscan::{Array, Context, Scan};

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn main() -> Result<(), gpuscan::Error> {
    let ctx = Context::new()?;
    let Some(info) = ctx.adapter_info() else {
        eprintln!("no GPU: {}", ctx.gpu_unavailable_reason().unwrap_or(""));
        return Ok(());
    };
    println!("adapter: {} ({:?})", info.name, info.backend);
    let scan = Scan::cumsum();

    // Per-call overhead: the call returns once the scan is submitted.
    let small = ctx.upload(&Array::from_vec(vec![1.0f32; 1 << 10]))?;
    let mut calls = Vec::new();
    let mut last = ctx.scan_gpu(&small, &scan)?;
    for _ in 0..200 {
        let t = Instant::now();
        last = ctx.scan_gpu(&small, &scan)?;
        calls.push(t.elapsed());
    }
    ctx.download(&last)?;
    println!(
        "2^10 float32: scan_gpu returns after {:.1} us (median of 200 calls)",
        median(calls).as_secs_f64() * 1e6
    );

    // One scan of 2^20, submitted and read back, against 100 queued before one read.
    let n = 1usize << 20;
    let big = ctx.upload(&Array::from_vec(vec![1.0f32; n]))?;
    let mut alone = Vec::new();
    for _ in 0..5 {
        let t = Instant::now();
        let r = ctx.scan_gpu(&big, &scan)?;
        ctx.download(&r)?;
        alone.push(t.elapsed());
    }
    let alone = median(alone);
    let t = Instant::now();
    let mut submit = Duration::ZERO;
    let mut results = Vec::with_capacity(100);
    for _ in 0..100 {
        let s = Instant::now();
        results.push(ctx.scan_gpu(&big, &scan)?);
        submit += s.elapsed();
    }
    let submitted = t.elapsed();
    ctx.download(results.last().expect("100 results"))?;
    let total = t.elapsed();
    println!(
        "2^20 float32: one scan and its download {:.2} ms; 100 queued: submitted in {:.1} ms \
         ({:.2} ms per call inside scan_gpu), all done and the last read in {:.1} ms \
         ({:.2} ms per scan)",
        alone.as_secs_f64() * 1e3,
        submitted.as_secs_f64() * 1e3,
        submit.as_secs_f64() * 1e3 / 100.0,
        total.as_secs_f64() * 1e3,
        total.as_secs_f64() * 1e3 / 100.0
    );
    Ok(())
}
