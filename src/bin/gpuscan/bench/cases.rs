//! The benchmark's cases: option parsing, deterministic inputs, and the float64 (or exact
//! integer) reference every result is checked against.

use gpuscan::{Array, Cumsum, DType, Data};
use half::f16;

use crate::values::parse_count;
pub use crate::values::parse_dtypes;
use crate::CliError;

/// One input: an array of `dtype` and `shape`, scanned along `axis` (`None`: flattened, the
/// 1-D cases).
#[derive(Clone, Debug)]
pub struct Case {
    pub dtype: DType,
    pub shape: Vec<usize>,
    pub axis: Option<usize>,
}

impl Case {
    pub fn elements(&self) -> usize {
        self.shape.iter().product()
    }

    /// The result's shape: the input's, or 1-D when flattening.
    pub fn result_shape(&self) -> Vec<usize> {
        match self.axis {
            Some(_) => self.shape.clone(),
            None => vec![self.elements()],
        }
    }

    /// Host bytes a case holds at once: the input, its float64 (or 64-bit int) reference,
    /// two results, and the source and destination GPU buffers, which a software adapter
    /// keeps in host memory too.
    pub fn host_bytes_estimate(&self) -> u64 {
        let per_element = self.dtype.size() + 8 + 4 * self.acc().size();
        (self.elements() as u64).saturating_mul(per_element as u64)
    }

    /// The dtype numpy (and gpuscan) accumulates this input in.
    pub fn acc(&self) -> DType {
        self.dtype.cumsum_default()
    }

    /// numpy's way of writing the shape: `(1024,)`, `(64, 32)`.
    pub fn shape_str(&self) -> String {
        match self.shape.as_slice() {
            [n] => format!("({n},)"),
            dims => {
                let parts: Vec<String> = dims.iter().map(|d| d.to_string()).collect();
                format!("({})", parts.join(", "))
            }
        }
    }

    /// `float32 (1024,)` or `float32 (64, 32) axis=1`.
    pub fn label(&self) -> String {
        match self.axis {
            None => format!("{} {}", self.dtype, self.shape_str()),
            Some(a) => format!("{} {} axis={a}", self.dtype, self.shape_str()),
        }
    }

    pub fn options(&self) -> Cumsum {
        match self.axis {
            Some(a) => Cumsum::new().axis(a),
            None => Cumsum::new().flatten(),
        }
    }

    /// The axis as `record_cumsum` takes it.
    pub fn axis_arg(&self) -> Option<isize> {
        self.axis.map(|a| a as isize)
    }

    /// Uniform [0, 1) floats, or small non-negative ints (bool: fair coin flips), from a fixed
    /// seed per case so every run and every tool sees the same kind of data.
    pub fn input(&self) -> Result<Array, CliError> {
        let n = self.elements();
        let mut rng = SplitMix64(0x5eed ^ (n as u64).rotate_left(17) ^ self.dtype.size() as u64);
        // Build float32 directly: the default and largest case should not pass through f64.
        let a = match self.dtype {
            DType::Float32 => {
                Array::from_shape_vec(&self.shape, (0..n).map(|_| rng.unit_f32()).collect())?
            }
            DType::Float64 => {
                Array::from_shape_vec(&self.shape, (0..n).map(|_| rng.unit()).collect())?
            }
            DType::Float16 => {
                Array::from_shape_vec(&self.shape, (0..n).map(|_| rng.unit_f16()).collect())?
            }
            DType::Bool => {
                Array::from_shape_vec(&self.shape, (0..n).map(|_| rng.next() >> 63 == 1).collect())?
            }
            // Values below 100 fit every integer dtype, and their sums stay exact.
            int => Array::from_shape_vec(&self.shape, (0..n).map(|_| rng.below(100)).collect())?
                .astype(int),
        };
        Ok(a)
    }
}

/// A small, fast, deterministic generator (Steele, Lea and Flood's SplitMix64).
struct SplitMix64(u64);

impl SplitMix64 {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1) with 53 random bits.
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    /// Uniform in [0, 1) on float32's grid (a rounded f64 could reach 1.0).
    fn unit_f32(&mut self) -> f32 {
        (self.next() >> 40) as f32 * (1.0 / (1u32 << 24) as f32)
    }

    /// Uniform in [0, 1) in steps of 2^-11, all exact in float16.
    fn unit_f16(&mut self) -> f16 {
        f16::from_f64((self.next() >> 53) as f64 / 2048.0)
    }

    fn below(&mut self, n: u64) -> i64 {
        (self.next() % n) as i64
    }
}

/// The cumsum every path is checked against: float64 for float inputs, exact wrapping
/// integers in the accumulation dtype for the others.
pub enum Reference {
    Float(Vec<f64>),
    Int(Vec<i64>),
    UInt(Vec<u64>),
}

/// How far one result is from the reference.
#[derive(Copy, Clone, Debug)]
pub struct Accuracy {
    /// max |got - ref| / max(|ref|, tiny) over all elements.
    pub max_rel_error: f64,
    /// For integer and bool inputs: elements that differ from the exact sum.
    pub mismatches: Option<u64>,
}

impl Reference {
    pub fn new(case: &Case, input: &Array) -> Result<Reference, CliError> {
        let (outer, len, inner) = lanes(case);
        Ok(match case.acc() {
            DType::Int64 => {
                let mut v = input.astype(DType::Int64).into_vec::<i64>()?;
                scan_lanes(&mut v, outer, len, inner, |a, b| a.wrapping_add(b));
                Reference::Int(v)
            }
            DType::UInt64 => {
                let mut v = input.astype(DType::UInt64).into_vec::<u64>()?;
                scan_lanes(&mut v, outer, len, inner, |a, b| a.wrapping_add(b));
                Reference::UInt(v)
            }
            _ => {
                let mut v = input.astype(DType::Float64).into_vec::<f64>()?;
                scan_lanes(&mut v, outer, len, inner, |a, b| a + b);
                Reference::Float(v)
            }
        })
    }

    /// Compares `got` (the result, in the accumulation dtype) element by element.
    pub fn check(&self, got: &Array) -> Result<Accuracy, CliError> {
        fn rel(got: f64, want: f64) -> f64 {
            if got == want {
                return 0.0;
            }
            let err = (got - want).abs() / want.abs().max(f64::MIN_POSITIVE);
            // A NaN where a number belongs is as wrong as it gets.
            if err.is_nan() {
                f64::INFINITY
            } else {
                err
            }
        }
        fn max_rel<T: Copy>(got: &[T], want: &[f64], to_f64: impl Fn(T) -> f64) -> f64 {
            got.iter()
                .zip(want)
                .map(|(&g, &w)| rel(to_f64(g), w))
                .fold(0.0, f64::max)
        }
        fn exact<T: Copy + PartialEq>(
            got: &[T],
            want: &[T],
            to_f64: impl Fn(T) -> f64,
        ) -> Accuracy {
            let mut acc = Accuracy {
                max_rel_error: 0.0,
                mismatches: Some(0),
            };
            for (&g, &w) in got.iter().zip(want) {
                if g != w {
                    acc.mismatches = acc.mismatches.map(|m| m + 1);
                    acc.max_rel_error = acc.max_rel_error.max(rel(to_f64(g), to_f64(w)));
                }
            }
            acc
        }
        let wrong_len = |n: usize| {
            CliError(format!(
                "internal error: the result has {n} elements, the reference {}",
                self.len()
            ))
        };
        if got.len() != self.len() {
            return Err(wrong_len(got.len()));
        }
        let float = |max_rel_error| Accuracy {
            max_rel_error,
            mismatches: None,
        };
        Ok(match (self, got.data()) {
            (Reference::Float(want), Data::Float32(g)) => float(max_rel(g, want, f64::from)),
            (Reference::Float(want), Data::Float64(g)) => float(max_rel(g, want, |x| x)),
            (Reference::Float(want), Data::Float16(g)) => float(max_rel(g, want, f16::to_f64)),
            (Reference::Int(want), Data::Int64(g)) => exact(g, want, |x| x as f64),
            (Reference::UInt(want), Data::UInt64(g)) => exact(g, want, |x| x as f64),
            (_, other) => {
                return Err(CliError(format!(
                    "internal error: a {} result has no reference",
                    other.dtype()
                )))
            }
        })
    }

    fn len(&self) -> usize {
        match self {
            Reference::Float(v) => v.len(),
            Reference::Int(v) => v.len(),
            Reference::UInt(v) => v.len(),
        }
    }
}

/// The case as `outer` blocks of `len` rows of `inner` contiguous lanes (C order).
fn lanes(case: &Case) -> (usize, usize, usize) {
    match case.axis {
        None => (1, case.elements(), 1),
        Some(a) => (
            case.shape[..a].iter().product(),
            case.shape[a],
            case.shape[a + 1..].iter().product(),
        ),
    }
}

/// Sequential cumsum of every lane; whole rows at a time, so every lane keeps its own order.
fn scan_lanes<T: Copy>(
    v: &mut [T],
    outer: usize,
    len: usize,
    inner: usize,
    add: impl Fn(T, T) -> T,
) {
    if len == 0 || inner == 0 {
        return;
    }
    for block in v.chunks_exact_mut(len * inner).take(outer) {
        for k in 1..len {
            let (done, rest) = block.split_at_mut(k * inner);
            let prev = &done[(k - 1) * inner..];
            for (x, &p) in rest[..inner].iter_mut().zip(prev) {
                *x = add(p, *x);
            }
        }
    }
}

/// Parses `1024,4096`, `2^20` or `1<<20` terms; `none` or an empty list gives no sizes.
pub fn parse_sizes(s: &str) -> Result<Vec<usize>, CliError> {
    let s = s.trim();
    if s.is_empty() || s.eq_ignore_ascii_case("none") {
        return Ok(Vec::new());
    }
    s.split(',').map(|t| parse_count(t, "--sizes")).collect()
}

/// Parses `4096x4096` (any rank); `none` or empty gives no shape.
pub fn parse_shape(s: &str) -> Result<Option<Vec<usize>>, CliError> {
    let s = s.trim();
    if s.is_empty() || s.eq_ignore_ascii_case("none") {
        return Ok(None);
    }
    let dims = s
        .split(['x', 'X', ','])
        .map(|t| parse_count(t, "--shape"))
        .collect::<Result<Vec<_>, _>>()?;
    dims.iter()
        .try_fold(1usize, |acc, &d| acc.checked_mul(d))
        .ok_or_else(|| CliError(format!("--shape: {s} has too many elements")))?;
    Ok(Some(dims))
}

/// Parses `0,1` (negative axes count from the end, as in numpy) against a rank.
pub fn parse_axes(s: &str, ndim: usize) -> Result<Vec<usize>, CliError> {
    let mut axes = Vec::new();
    for t in s.split(',').map(str::trim).filter(|t| !t.is_empty()) {
        let a: isize = t
            .parse()
            .map_err(|_| CliError(format!("--axis: '{t}' is not an integer")))?;
        let resolved = if a < 0 { a + ndim as isize } else { a };
        if resolved < 0 || resolved >= ndim as isize {
            return Err(CliError(format!(
                "--axis: axis {a} is out of bounds for array of dimension {ndim}"
            )));
        }
        if !axes.contains(&(resolved as usize)) {
            axes.push(resolved as usize);
        }
    }
    if axes.is_empty() {
        return Err(CliError(
            "--axis: give at least one axis for --shape (or --shape none)".into(),
        ));
    }
    Ok(axes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_sizes_shapes_and_axes() {
        assert_eq!(parse_sizes("1024, 2^20,1<<3").unwrap(), [1024, 1 << 20, 8]);
        assert!(parse_sizes("none").unwrap().is_empty());
        assert!(parse_sizes("0").is_err());
        assert!(parse_sizes("abc").is_err());
        assert!(parse_sizes("2^99").is_err());
        assert!(parse_sizes("1<<70").is_err());
        assert_eq!(parse_shape("64x32").unwrap(), Some(vec![64, 32]));
        assert_eq!(parse_shape("").unwrap(), None);
        assert!(parse_shape("64x").is_err());
        assert_eq!(parse_axes("0,-1,1", 2).unwrap(), [0, 1]);
        assert!(parse_axes("2", 2).is_err());
        assert!(parse_dtypes("float128").is_err());
    }

    #[test]
    fn reference_scans_each_lane() {
        let case = Case {
            dtype: DType::Int32,
            shape: vec![2, 3],
            axis: Some(0),
        };
        let a = Array::from_shape_vec(&[2, 3], vec![1i32, 2, 3, 4, 5, 6]).unwrap();
        let Reference::Int(v) = Reference::new(&case, &a).unwrap() else {
            panic!("int64 reference expected")
        };
        assert_eq!(v, [1, 2, 3, 5, 7, 9]);
        let case = Case {
            axis: Some(1),
            ..case
        };
        let Reference::Int(v) = Reference::new(&case, &a).unwrap() else {
            panic!("int64 reference expected")
        };
        assert_eq!(v, [1, 3, 6, 4, 9, 15]);
    }
}
