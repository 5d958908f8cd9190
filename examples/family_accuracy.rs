//! Float32 accuracy of cumsum, cumprod and logcumsumexp at 2^24 elements, per path and GPU
//! strategy, against a float64 reference folded sequentially (sums compensated):
//! `cargo run --release --example family_accuracy [log2 n]`. `benches/family_accuracy.py`
//! prints numpy's figures for the same inputs. cummax and cummin never round, so they are
//! exact on every path.

use gpuscan::{Array, Context, Device, Order, Scan, ScanOp, Strategy};

/// The inputs both programs generate: `u` in [0, 1) from a multiplicative hash of the index.
fn unit(i: u64) -> f64 {
    ((i * 2_654_435_761) % (1 << 32)) as f64 / (1u64 << 32) as f64
}

fn input(op: ScanOp, n: usize) -> Vec<f32> {
    (0..n as u64)
        .map(|i| {
            let u = unit(i);
            (match op {
                ScanOp::Prod => 1.0 + 0.01 * (u - 0.5),
                ScanOp::LogAddExp => 20.0 * (u - 0.5),
                _ => u,
            }) as f32
        })
        .collect()
}

fn logaddexp(a: f64, b: f64) -> f64 {
    if a == b {
        return a + std::f64::consts::LN_2;
    }
    a.max(b) + (-(a - b).abs()).exp().ln_1p()
}

fn reference(op: ScanOp, x: &[f32]) -> Vec<f64> {
    let mut out = Vec::with_capacity(x.len());
    let (mut acc, mut comp) = (x[0] as f64, 0.0f64);
    out.push(acc);
    for &v in &x[1..] {
        let v = v as f64;
        acc = match op {
            ScanOp::Sum => {
                let t = acc + v;
                comp += if acc.abs() >= v.abs() {
                    (acc - t) + v
                } else {
                    (v - t) + acc
                };
                t
            }
            ScanOp::Prod => acc * v,
            _ => logaddexp(acc, v),
        };
        out.push(acc + comp);
    }
    out
}

/// The largest error relative to `max(1, |reference|)` for logcumsumexp (whose values pass
/// through zero), relative to `|reference|` otherwise.
fn max_error(op: ScanOp, got: &[f32], want: &[f64]) -> f64 {
    got.iter()
        .zip(want)
        // A zero reference (the first sum) is met exactly.
        .filter(|(_, &w)| w != 0.0)
        .map(|(&g, &w)| {
            let scale = if op == ScanOp::LogAddExp {
                w.abs().max(1.0)
            } else {
                w.abs()
            };
            (g as f64 - w).abs() / scale
        })
        .fold(0.0, f64::max)
}

fn main() -> gpuscan::Result<()> {
    let log2: u32 = std::env::args()
        .nth(1)
        .map(|a| a.parse().expect("log2 of the length"))
        .unwrap_or(24);
    let n = 1usize << log2;
    let ctx = Context::new()?;
    println!("float32, n = 2^{log2}; max error against a float64 reference");
    println!("| operation | CPU exact (numpy's order) | CPU fast | GPU blelloch | GPU reduce-then-scan | GPU chained |");
    println!("|---|---|---|---|---|---|");
    for op in [ScanOp::Sum, ScanOp::Prod, ScanOp::LogAddExp] {
        let x = input(op, n);
        let want = reference(op, &x);
        let a = Array::from_vec(x);
        let mut row = format!("| {op} |");
        let mut runs = vec![
            Scan::new(op).device(Device::Cpu).order(Order::Exact),
            Scan::new(op).device(Device::Cpu),
        ];
        if ctx.has_gpu() {
            for s in [
                Strategy::Blelloch,
                Strategy::ReduceThenScan,
                Strategy::Chained,
            ] {
                runs.push(Scan::new(op).device(Device::Gpu).strategy(s));
            }
        }
        for scan in runs {
            let got = ctx.scan(&a, &scan)?;
            let e = max_error(op, got.as_slice::<f32>()?, &want);
            row.push_str(&format!(" {e:.2e} |"));
        }
        println!("{row}");
    }
    Ok(())
}
