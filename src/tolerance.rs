//! How float results are judged (docs/NUMPY_SEMANTICS.md section 7): per element within
//! `rtol * cumsum(|x|)` of a float64 reference rounded to the output dtype, with
//! `rtol = eps * (16 + sqrt(n))`, eps of the coarser of the accumulation and output dtypes and
//! n the scan length; non-finite values must match exactly. `gpuscan selftest` and the tests
//! use it.

use crate::array::Array;
use crate::dtype::DType;
use crate::plan::Geometry;

/// Machine epsilon of a float dtype (0 for the others).
pub fn eps(d: DType) -> f64 {
    match d {
        DType::Float16 => 2f64.powi(-10),
        DType::Float32 => f32::EPSILON as f64,
        DType::Float64 => f64::EPSILON,
        _ => 0.0,
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

/// Checks a float `result` of the cumsum of `input_in_acc` (the input cast to `acc`, as f64)
/// along `g` against the reference; `Err` names the first element out of tolerance. Elements
/// where a finite partial sum could overflow (`cumsum(|x|)`, widened by the tolerance,
/// reaching the dtype's largest value) depend on the summation order and are skipped.
pub fn check_close(
    result: &Array,
    input_in_acc: &[f64],
    g: &Geometry,
    acc: DType,
) -> Result<(), String> {
    let out = result.dtype();
    let e = eps(acc).max(eps(out));
    let rtol = e * (16.0 + (g.lane_len as f64).sqrt());
    let (reference, abs) = reference(input_in_acc, g);
    let got = result.astype(DType::Float64);
    let got = got.as_slice::<f64>().map_err(|e| e.to_string())?;
    let largest = max_finite(acc).min(max_finite(out));
    for i in 0..got.len() {
        // Within the tolerance, rounding may carry a sum just below the largest value past it.
        if abs[i].is_finite() && abs[i] * (1.0 + rtol) >= largest {
            continue;
        }
        let want = round_to(reference[i], out);
        if !want.is_finite() || !got[i].is_finite() {
            if !(want.to_bits() == got[i].to_bits() || (want.is_nan() && got[i].is_nan())) {
                return Err(format!("element {i}: got {} want {want}", got[i]));
            }
            continue;
        }
        let tol = rtol * abs[i];
        if (got[i] - want).abs() > tol {
            return Err(format!(
                "element {i}: got {} want {want} (tolerance {tol})",
                got[i]
            ));
        }
    }
    Ok(())
}
