//! The CPU path against a memory copy of the same bytes into a new buffer (the floor of any
//! scan that returns a new array), timed alternately in one process so that a shared machine's
//! load hits both alike: for each case, the fastest of `REPEATS` runs of each, and their ratio
//! (copy time / scan time: 1 is the wall). `into ms` is the same scan into an existing array
//! (`scan_into`), whose pages are in place already.
//!
//! `cargo run --release --example cpu_wall [-- REPEATS [FILTER]]`: FILTER keeps the cases whose
//! shape, axis, dtype and op, one space apart (`[4194304, 8] axis Some(0) int64 cumsum`),
//! contain it.
use std::time::Instant;

use gpuscan::{Array, Context, Device, Scan};

fn fastest(repeats: usize, mut f: impl FnMut()) -> f64 {
    (0..repeats)
        .map(|_| {
            let start = Instant::now();
            f();
            start.elapsed().as_secs_f64()
        })
        .fold(f64::INFINITY, f64::min)
}

fn main() -> Result<(), gpuscan::Error> {
    let repeats: usize = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(11);
    let filter = std::env::args().nth(2).unwrap_or_default();
    let ctx = Context::new()?;
    let shapes: [(&[usize], Option<isize>); 9] = [
        (&[1 << 16], None),
        (&[1 << 20], None),
        (&[1 << 24], None),
        (&[1 << 26], None),
        (&[4096, 4096], Some(0)),
        (&[4096, 4096], Some(1)),
        (&[1 << 22, 8], Some(0)),
        (&[8, 1 << 22], Some(1)),
        (&[1 << 24], None),
    ];
    println!("fastest of {repeats}; ratio = copy time / scan time");
    println!(
        "{:<24} {:<8} {:<8} {:>10} {:>10} {:>6} {:>10}",
        "case", "dtype", "op", "scan ms", "copy ms", "ratio", "into ms"
    );
    for (shape, axis) in shapes {
        let n: usize = shape.iter().product();
        let f32s: Vec<f32> = (0..n)
            .map(|i| ((i * 2654435761) % 1000) as f32 / 1000.0)
            .collect();
        let i64s: Vec<i64> = (0..n).map(|i| ((i * 2654435761) % 100) as i64).collect();
        for (dtype, a, bytes) in [
            ("float32", Array::from_shape_vec(shape, f32s.clone())?, 4),
            ("int64", Array::from_shape_vec(shape, i64s.clone())?, 8),
        ] {
            for (name, scan) in [
                ("cumsum", Scan::cumsum()),
                ("cumprod", Scan::cumprod()),
                ("cummax", Scan::cummax()),
            ] {
                let case = format!("{shape:?} axis {axis:?}");
                if !format!("{case} {dtype} {name}").contains(&filter) {
                    continue;
                }
                let scan = match axis {
                    Some(x) => scan.axis(x),
                    None => scan.flatten(),
                }
                .device(Device::Cpu);
                let mut scan_s = f64::INFINITY;
                let mut copy_s = f64::INFINITY;
                let mut out = ctx.scan(&a, &scan)?;
                let into_s = fastest(repeats, || {
                    std::hint::black_box(ctx.scan_into(&a, &mut out, &scan).ok());
                });
                for _ in 0..repeats {
                    scan_s = scan_s.min(fastest(1, || {
                        std::hint::black_box(ctx.scan(&a, &scan).ok());
                    }));
                    copy_s = copy_s.min(fastest(1, || {
                        let v: Vec<u8> = match bytes {
                            4 => bytemuck_copy(&f32s),
                            _ => bytemuck_copy(&i64s),
                        };
                        std::hint::black_box(v);
                    }));
                }
                println!(
                    "{:<24} {:<8} {:<8} {:>10.3} {:>10.3} {:>6.2} {:>10.3}",
                    case,
                    dtype,
                    name,
                    scan_s * 1e3,
                    copy_s * 1e3,
                    copy_s / scan_s,
                    into_s * 1e3
                );
            }
        }
    }
    Ok(())
}

/// A copy of `v`'s bytes into a new buffer, as numpy's `copy` makes: on Linux, a buffer of
/// 4 MiB or more is advised to be huge pages before it is written, as numpy and the scan's
/// output are, so that both pay the same page faults.
fn bytemuck_copy<T: Copy>(v: &[T]) -> Vec<u8> {
    let bytes = std::mem::size_of_val(v);
    let mut out = Vec::<u8>::with_capacity(bytes);
    #[cfg(target_os = "linux")]
    if bytes >= 4 << 20 {
        const HUGE: usize = 2 << 20;
        let start = out.as_mut_ptr() as usize;
        let (begin, end) = (start.next_multiple_of(HUGE), (start + bytes) / HUGE * HUGE);
        if end > begin {
            // SAFETY: the range lies inside `out`'s allocation; the advice changes only how
            // the kernel backs it.
            unsafe { libc::madvise(begin as *mut libc::c_void, end - begin, libc::MADV_HUGEPAGE) };
        }
    }
    // SAFETY: `out` has room for `bytes` bytes, which the copy initialises.
    unsafe {
        std::ptr::copy_nonoverlapping(v.as_ptr() as *const u8, out.as_mut_ptr(), bytes);
        out.set_len(bytes);
    }
    out
}
