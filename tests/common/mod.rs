//! Helpers shared by the integration tests: the GPU context, and the float64 reference with
//! the tolerance of NUMPY_SEMANTICS.md section 7.
#![allow(dead_code)]

use gpuscan::plan::Geometry;
use gpuscan::{Array, Context, ContextOptions, DType, Data, Element};
use half::f16;

const INSTALL_HINT: &str = "no Vulkan adapter: install one with \
    `apt-get install -y mesa-vulkan-drivers libvulkan1` (Mesa's lavapipe), \
    or set GPUSCAN_GPU_OPTIONAL=1 where the GPU is optional";

/// A context on the real adapter. Fails the test, saying how to install lavapipe, when there
/// is none, unless GPUSCAN_GPU_OPTIONAL=1 says the GPU is optional (then `None`).
pub fn gpu_context_with(options: ContextOptions) -> Option<Context> {
    let ctx = Context::with_options(options).expect("context options are valid");
    let reason = ctx.gpu_unavailable_reason().unwrap_or("").to_string();
    gpu_wanted(ctx.has_gpu(), &reason).then_some(ctx)
}

/// Whether GPU checks run: true with an adapter; false without one only where
/// GPUSCAN_GPU_OPTIONAL=1 makes the GPU optional; otherwise the test fails with the hint.
pub fn gpu_wanted(has_gpu: bool, reason: &str) -> bool {
    if has_gpu {
        return true;
    }
    if std::env::var("GPUSCAN_GPU_OPTIONAL").as_deref() == Ok("1") {
        eprintln!("skipping GPU checks: {reason}");
        return false;
    }
    panic!("{INSTALL_HINT} ({reason})");
}

/// [`gpu_context_with`] with default options.
pub fn gpu_context() -> Option<Context> {
    gpu_context_with(ContextOptions::default())
}

/// Every element as f64 (bool as 0/1).
pub fn to_f64(a: &Array) -> Vec<f64> {
    match a.data() {
        Data::Bool(v) => v.iter().map(|&x| x as u8 as f64).collect(),
        Data::Int8(v) => v.iter().map(|&x| x as f64).collect(),
        Data::Int16(v) => v.iter().map(|&x| x as f64).collect(),
        Data::Int32(v) => v.iter().map(|&x| x as f64).collect(),
        Data::Int64(v) => v.iter().map(|&x| x as f64).collect(),
        Data::UInt8(v) => v.iter().map(|&x| x as f64).collect(),
        Data::UInt16(v) => v.iter().map(|&x| x as f64).collect(),
        Data::UInt32(v) => v.iter().map(|&x| x as f64).collect(),
        Data::UInt64(v) => v.iter().map(|&x| x as f64).collect(),
        Data::Float16(v) => v.iter().map(|&x| x.to_f64()).collect(),
        Data::Float32(v) => v.iter().map(|&x| x as f64).collect(),
        Data::Float64(v) => v.clone(),
    }
}

/// Every element's bit pattern widened to u64 (exact comparison of ints, bools and floats).
pub fn bits(a: &Array) -> Vec<u64> {
    match a.data() {
        Data::Bool(v) => v.iter().map(|&x| x as u64).collect(),
        Data::Int8(v) => v.iter().map(|&x| x as u8 as u64).collect(),
        Data::Int16(v) => v.iter().map(|&x| x as u16 as u64).collect(),
        Data::Int32(v) => v.iter().map(|&x| x as u32 as u64).collect(),
        Data::Int64(v) => v.iter().map(|&x| x as u64).collect(),
        Data::UInt8(v) => v.iter().map(|&x| x as u64).collect(),
        Data::UInt16(v) => v.iter().map(|&x| x as u64).collect(),
        Data::UInt32(v) => v.iter().map(|&x| x as u64).collect(),
        Data::UInt64(v) => v.clone(),
        Data::Float16(v) => v.iter().map(|&x| x.to_bits() as u64).collect(),
        Data::Float32(v) => v.iter().map(|&x| x.to_bits() as u64).collect(),
        Data::Float64(v) => v.iter().map(|&x| x.to_bits()).collect(),
    }
}

/// [`bits`] with every NaN as one value: numpy leaves NaN payloads and signs to the hardware
/// (x86 gives -nan for inf - inf).
pub fn canonical_bits(a: &Array) -> Vec<u64> {
    bits(a)
        .into_iter()
        .zip(to_f64(a))
        .map(|(b, x)| if x.is_nan() { u64::MAX } else { b })
        .collect()
}

/// Machine epsilon of a float dtype.
pub fn eps(d: DType) -> f64 {
    match d {
        DType::Float16 => 2f64.powi(-10),
        DType::Float32 => f32::EPSILON as f64,
        DType::Float64 => f64::EPSILON,
        _ => 0.0,
    }
}

/// The prefix sums of `x` along `geometry`'s lanes, compensated (Neumaier) so they are far
/// more accurate than any float64 cumsum, and the prefix sums of |x|.
pub fn reference(x: &[f64], g: &Geometry) -> (Vec<f64>, Vec<f64>) {
    let (rows, cols, lane) = (g.rows as usize, g.cols as usize, g.lane_len as usize);
    let mut sum = vec![0.0; x.len()];
    let mut abs = vec![0.0; x.len()];
    for start in (0..rows).step_by(lane.max(1)) {
        for c in 0..cols {
            let (mut s, mut comp, mut a) = (0.0f64, 0.0f64, 0.0f64);
            for r in start..start + lane {
                let v = x[r * cols + c];
                let t = s + v;
                if s.abs() >= v.abs() {
                    comp += (s - t) + v;
                } else {
                    comp += (v - t) + s;
                }
                s = t;
                a += v.abs();
                // Past an infinity the compensation is meaningless (inf - inf).
                sum[r * cols + c] = if s.is_finite() { s + comp } else { s };
                abs[r * cols + c] = a;
            }
        }
    }
    (sum, abs)
}

/// Checks a float result against the reference: per element within
/// `eps * (16 + sqrt(lane_len)) * cumsum(|x|)` of the reference rounded to the output dtype;
/// non-finite values must match exactly. Elements where a finite partial sum could overflow
/// (`cumsum(|x|)`, widened by the tolerance, reaching the dtype's largest value) depend on the
/// summation order (section 5) and are skipped.
pub fn assert_close_to_reference(
    result: &Array,
    input_in_acc: &[f64],
    g: &Geometry,
    acc: DType,
    what: &str,
) {
    let out = result.dtype();
    let e = eps(acc).max(eps(out));
    let rtol = e * (16.0 + (g.lane_len as f64).sqrt());
    let (reference, abs) = reference(input_in_acc, g);
    let got = to_f64(result);
    let largest = max_finite(acc).min(max_finite(out));
    for i in 0..got.len() {
        // Within the tolerance, rounding may carry a sum just below the largest value past it.
        if abs[i].is_finite() && abs[i] * (1.0 + rtol) >= largest {
            continue;
        }
        let want = round_to(reference[i], out);
        if !want.is_finite() || !got[i].is_finite() {
            assert!(
                want.to_bits() == got[i].to_bits() || (want.is_nan() && got[i].is_nan()),
                "{what}: element {i}: got {} want {want}",
                got[i]
            );
            continue;
        }
        let tol = rtol * abs[i];
        assert!(
            (got[i] - want).abs() <= tol,
            "{what}: element {i}: got {} want {want} (tolerance {tol})",
            got[i]
        );
    }
}

/// The largest finite value of a float dtype.
pub fn max_finite(d: DType) -> f64 {
    match d {
        DType::Float16 => 65504.0,
        DType::Float32 => f32::MAX as f64,
        _ => f64::MAX,
    }
}

/// Rounds an f64 to the precision of a float dtype.
pub fn round_to(x: f64, d: DType) -> f64 {
    match d {
        DType::Float16 => half::f16::from_f64(x).to_f64(),
        DType::Float32 => x as f32 as f64,
        _ => x,
    }
}

/// Deterministic pseudo-random values of every dtype: full-range ints (so sums wrap), floats
/// in [-100, 100).
pub fn values(dtype: DType, n: usize, seed: u64) -> Array {
    let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let unit = |r: u64| (r >> 11) as f64 / (1u64 << 53) as f64;
    fn arr<T: Element>(v: Vec<T>) -> Array {
        Array::from_vec(v)
    }
    match dtype {
        DType::Bool => arr((0..n).map(|_| next() % 3 == 0).collect()),
        DType::Int8 => arr((0..n).map(|_| next() as i8).collect()),
        DType::Int16 => arr((0..n).map(|_| next() as i16).collect()),
        DType::Int32 => arr((0..n).map(|_| next() as i32).collect()),
        DType::Int64 => arr((0..n).map(|_| next() as i64).collect()),
        DType::UInt8 => arr((0..n).map(|_| next() as u8).collect()),
        DType::UInt16 => arr((0..n).map(|_| next() as u16).collect()),
        DType::UInt32 => arr((0..n).map(|_| next() as u32).collect()),
        DType::UInt64 => arr((0..n).map(|_| next()).collect()),
        DType::Float16 => arr((0..n)
            .map(|_| f16::from_f64(unit(next()) * 200.0 - 100.0))
            .collect()),
        DType::Float32 => arr((0..n)
            .map(|_| (unit(next()) * 200.0 - 100.0) as f32)
            .collect()),
        DType::Float64 => arr((0..n).map(|_| unit(next()) * 200.0 - 100.0).collect()),
        _ => unreachable!(),
    }
}

pub fn shaped(dtype: DType, shape: &[usize], seed: u64) -> Array {
    values(dtype, shape.iter().product(), seed)
        .into_shape(shape)
        .unwrap()
}
