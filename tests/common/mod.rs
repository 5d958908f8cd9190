//! Helpers shared by the integration tests: the GPU context, and the float64 reference with
//! the tolerance of docs/NUMPY_SEMANTICS.md section 7.
#![allow(dead_code, unused_imports)]

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

pub use gpuscan::tolerance::round_to;

/// [`gpuscan::tolerance::check_close`], failing the test with `what`.
pub fn assert_close_to_reference(
    result: &Array,
    input_in_acc: &[f64],
    g: &Geometry,
    acc: DType,
    what: &str,
) {
    if let Err(e) = gpuscan::tolerance::check_close(result, input_in_acc, g, acc) {
        panic!("{what}: {e}");
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
