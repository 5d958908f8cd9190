//! The benchmark's cases: option parsing, deterministic inputs per operation, and the
//! float64 (or exact integer) reference every result is checked against.

use gpuscan::{Array, Cumsum, DType, Scan, ScanOp};
use half::f16;

use crate::values::{blank_or, count};
use crate::CliError;

/// One input: an array of `dtype` and `shape`, scanned along `axis` (`None`: flattened, the
/// 1-D cases).
#[derive(Clone, Debug)]
pub struct Case {
    pub dtype: DType,
    pub shape: Vec<usize>,
    pub axis: Option<usize>,
}

/// The scan variants every row of a run takes: `--reverse`, `--exclusive`, `--segments N`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Variant {
    pub reverse: bool,
    pub exclusive: bool,
    /// Equal segments per lane.
    pub segments: Option<usize>,
}

impl Variant {
    /// ` reverse exclusive segments=64`, or empty for the plain scan.
    pub fn suffix(&self) -> String {
        let mut s = String::new();
        if self.reverse {
            s.push_str(" reverse");
        }
        if self.exclusive {
            s.push_str(" exclusive");
        }
        if let Some(n) = self.segments {
            s.push_str(&format!(" segments={n}"));
        }
        s
    }

    /// `op` with the variants, as rows and progress lines name it: `cumsum reverse`.
    pub fn label(&self, op: ScanOp) -> String {
        format!("{}{}", op.name(), self.suffix())
    }

    /// `[0, L/N, 2L/N, ..., L]` (rounded down) for a lane of `len`: N equal segments.
    pub fn offsets(&self, len: usize) -> Option<Vec<i64>> {
        let n = self.segments? as u128;
        Some(
            (0..=n)
                .map(|i| (i * len as u128 / n.max(1)) as i64)
                .collect(),
        )
    }
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

    /// The length of every lane: the axis's, or every element when flattening.
    pub fn axis_len(&self) -> usize {
        match self.axis {
            Some(a) => self.shape[a],
            None => self.elements(),
        }
    }

    /// Host bytes a case holds at once for the widest of `ops`: the input, its float64 (or
    /// 64-bit int) reference, the result widened for the check, two results, and the source
    /// and destination GPU buffers, which a software adapter keeps in host memory too.
    pub fn host_bytes_estimate(&self, ops: &[ScanOp]) -> u64 {
        let acc = ops.iter().map(|&op| self.acc(op).size()).max().unwrap_or(8);
        let per_element = self.dtype.size() + 8 + 8 + 4 * acc;
        (self.elements() as u64).saturating_mul(per_element as u64)
    }

    /// The dtype numpy (and gpuscan) computes `op` of this input in.
    pub fn acc(&self, op: ScanOp) -> DType {
        op.result_dtype(self.dtype)
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

    /// The scan a row runs (before its device, order and strategy are set).
    pub fn scan(&self, op: ScanOp, variant: &Variant) -> Scan {
        let mut scan = Scan::new(op)
            .reverse(variant.reverse)
            .exclusive(variant.exclusive);
        scan.axis = self.axis_arg();
        if let Some(offsets) = variant.offsets(self.axis_len()) {
            scan = scan.segments(offsets);
        }
        scan
    }

    /// The cumsum of this case (`gpuscan selftest` scans the bench's cases).
    pub fn options(&self) -> Cumsum {
        match self.axis {
            Some(a) => Cumsum::new().axis(a),
            None => Cumsum::new().flatten(),
        }
    }

    /// The axis as `record_scan` takes it.
    pub fn axis_arg(&self) -> Option<isize> {
        self.axis.map(|a| a as isize)
    }

    /// The input of `op`, from a fixed seed per case so every run and every tool sees the
    /// same kind of data. Sums, max and min: uniform [0, 1) floats, or small non-negative
    /// ints (bool: fair coin flips). Products: floats near 1 whose running products stay
    /// near 1 in every lane and segment, either direction; odd ints. logcumsumexp: values
    /// in [-20, 20].
    pub fn input_for(&self, op: ScanOp) -> Result<Array, CliError> {
        match op {
            ScanOp::Prod | ScanOp::NanProd => self.product_input(),
            ScanOp::LogAddExp => self.log_input(),
            _ => self.sum_input(),
        }
    }

    fn rng(&self) -> SplitMix64 {
        let n = self.elements();
        SplitMix64(0x5eed ^ (n as u64).rotate_left(17) ^ self.dtype.size() as u64)
    }

    /// The input of the cumsum (`gpuscan selftest` scans it too).
    pub fn input(&self) -> Result<Array, CliError> {
        self.sum_input()
    }

    /// Uniform [0, 1) floats, or small non-negative ints (bool: fair coin flips).
    fn sum_input(&self) -> Result<Array, CliError> {
        let n = self.elements();
        let mut rng = self.rng();
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
            DType::Bool => self.coin_flips(&mut rng)?,
            // Values below 100 fit every integer dtype, and their sums stay exact.
            int => Array::from_shape_vec(&self.shape, (0..n).map(|_| rng.below(100)).collect())?
                .astype(int),
        };
        Ok(a)
    }

    fn coin_flips(&self, rng: &mut SplitMix64) -> Result<Array, CliError> {
        let n = self.elements();
        Ok(Array::from_shape_vec(
            &self.shape,
            (0..n).map(|_| rng.next() >> 63 == 1).collect(),
        )?)
    }

    /// Floats: element j of a lane is exp(s_j - s_(j-1)) (s_(-1) = 0) with every s uniform
    /// in [-0.005, 0.005], so the factors lie within 1% of 1 and the product of any run of
    /// them telescopes to exp(s_last - s_before_first), within 1% of 1 too, however long the
    /// lane (1 + 0.01 (u - 0.5) drifts: its logarithm loses about 4e-6 a factor, e^-70 over
    /// 2^24, into float32's subnormals, which are slow on CPUs and round worse). Rounding
    /// each factor to the dtype adds relative noise of an ulp per factor, a random walk that
    /// stays far from either end of float32's range. Ints: odd values below 100, whose
    /// wrapping products stay odd, so no lane collapses to zero and every element of the
    /// exact check means something.
    fn product_input(&self) -> Result<Array, CliError> {
        let mut rng = self.rng();
        let (_, len, inner) = lanes(self);
        let mut prev = vec![0.0f64; inner];
        let mut at = 0usize;
        let mut factor = move || {
            let (i, j) = (at % inner, (at / inner) % len);
            at += 1;
            let s = 0.01 * (rng.unit() - 0.5);
            let before = if j == 0 { 0.0 } else { prev[i] };
            prev[i] = s;
            (s - before).exp()
        };
        let n = self.elements();
        let a = match self.dtype {
            DType::Float32 => {
                Array::from_shape_vec(&self.shape, (0..n).map(|_| factor() as f32).collect())?
            }
            DType::Float64 => {
                Array::from_shape_vec(&self.shape, (0..n).map(|_| factor()).collect())?
            }
            DType::Float16 => Array::from_shape_vec(
                &self.shape,
                (0..n).map(|_| f16::from_f64(factor())).collect(),
            )?,
            DType::Bool => self.coin_flips(&mut self.rng())?,
            int => {
                let mut rng = self.rng();
                Array::from_shape_vec(&self.shape, (0..n).map(|_| 2 * rng.below(50) + 1).collect())?
                    .astype(int)
            }
        };
        Ok(a)
    }

    /// Uniform in [-20, 20] (unsigned ints: 0 to 20; bool: coin flips): the running
    /// log-sum-exp stays far from overflow in every dtype it computes in.
    fn log_input(&self) -> Result<Array, CliError> {
        let n = self.elements();
        let mut rng = self.rng();
        let a = match self.dtype {
            DType::Float32 => Array::from_shape_vec(
                &self.shape,
                (0..n).map(|_| 40.0 * rng.unit_f32() - 20.0).collect(),
            )?,
            DType::Float64 => Array::from_shape_vec(
                &self.shape,
                (0..n).map(|_| 40.0 * rng.unit() - 20.0).collect(),
            )?,
            DType::Float16 => Array::from_shape_vec(
                &self.shape,
                (0..n)
                    .map(|_| f16::from_f64(40.0 * rng.unit_f16().to_f64() - 20.0))
                    .collect(),
            )?,
            DType::Bool => self.coin_flips(&mut rng)?,
            int if int.is_unsigned() => {
                Array::from_shape_vec(&self.shape, (0..n).map(|_| rng.below(21)).collect())?
                    .astype(int)
            }
            int => {
                Array::from_shape_vec(&self.shape, (0..n).map(|_| rng.below(41) - 20).collect())?
                    .astype(int)
            }
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

/// How a result is compared with its reference.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Check {
    /// Integer results, and cummax and cummin in any dtype: every element equal.
    Exact,
    /// Float sums: the max relative error against float64 (no pass or fail, as ever).
    Relative,
    /// Float products: every element within the rounding bound of [`Reference::check`].
    ProductBound,
    /// Float logcumsumexp: every element within the rounding bound of [`Reference::check`].
    LogBound,
}

impl Check {
    pub fn name(self) -> &'static str {
        match self {
            Check::Exact => "exact",
            Check::Relative => "relative",
            Check::ProductBound | Check::LogBound => "bound",
        }
    }
}

/// How far one result is from the reference.
#[derive(Copy, Clone, Debug)]
pub struct Accuracy {
    pub check: Check,
    /// max |got - ref| / max(|ref|, tiny) over all elements (logcumsumexp, whose error
    /// scales with max(1, |x|): / max(|ref|, 1)); for exact checks, over the mismatches.
    pub max_rel_error: f64,
    /// For exact checks: elements that differ from the reference.
    pub mismatches: Option<u64>,
    /// For bounded checks: elements beyond the bound.
    pub beyond_bound: Option<u64>,
}

impl Accuracy {
    /// Elements the check rejects (`None`: a float sum, which is only measured).
    pub fn wrong(&self) -> Option<u64> {
        self.mismatches.or(self.beyond_bound)
    }
}

/// The reference's values: float64 for float results, exact wrapping 64-bit integers in the
/// result's signedness for the others.
enum Values {
    Float(Vec<f64>),
    Int(Vec<i64>),
    UInt(Vec<u64>),
}

/// The scan every path is checked against, computed here, sequentially, from the input: an
/// independent model of the operation and the reverse, exclusive and segmented variants.
pub struct Reference {
    values: Values,
    check: Check,
    acc: DType,
    walk: Walk,
}

impl Reference {
    pub fn new(
        case: &Case,
        op: ScanOp,
        variant: &Variant,
        input: &Array,
    ) -> Result<Reference, CliError> {
        let acc = case.acc(op);
        let walk = Walk::new(case, variant);
        let unknown = || CliError(format!("internal error: no reference for {op}"));
        let (lowest, highest) = int_range(acc);
        let values = if acc.is_float() {
            // numpy casts every element to the loop dtype first; float64 holds it exactly.
            let cast = if input.dtype() == acc {
                input.astype(DType::Float64)
            } else {
                input.astype(acc).astype(DType::Float64)
            };
            let mut v = cast.into_vec::<f64>()?;
            let nan_to = match op {
                ScanOp::NanSum => Some(0.0),
                ScanOp::NanProd => Some(1.0),
                _ => None,
            };
            if let Some(r) = nan_to {
                v.iter_mut().filter(|x| x.is_nan()).for_each(|x| *x = r);
            }
            match op {
                ScanOp::Sum | ScanOp::NanSum => walk.scan(&mut v, 0.0, |a, b| a + b),
                ScanOp::Prod | ScanOp::NanProd => walk.scan(&mut v, 1.0, |a, b| a * b),
                ScanOp::Max => walk.scan(&mut v, f64::NEG_INFINITY, f64::max),
                ScanOp::Min => walk.scan(&mut v, f64::INFINITY, f64::min),
                ScanOp::LogAddExp => walk.scan(&mut v, f64::NEG_INFINITY, logaddexp),
                _ => return Err(unknown()),
            }
            Values::Float(v)
        } else if acc.is_signed() {
            let mut v = input.astype(DType::Int64).into_vec::<i64>()?;
            // Sums and products compute in int64, so 64-bit wrapping is numpy's; max and min
            // keep the input's dtype, whose values int64 holds exactly.
            match op {
                ScanOp::Sum | ScanOp::NanSum => walk.scan(&mut v, 0, i64::wrapping_add),
                ScanOp::Prod | ScanOp::NanProd => walk.scan(&mut v, 1, i64::wrapping_mul),
                ScanOp::Max => walk.scan(&mut v, lowest as i64, i64::max),
                ScanOp::Min => walk.scan(&mut v, highest as i64, i64::min),
                _ => return Err(unknown()),
            }
            Values::Int(v)
        } else {
            // Unsigned ints and bool (cummax and cummin of bool: a running OR and AND).
            let mut v = input.astype(DType::UInt64).into_vec::<u64>()?;
            match op {
                ScanOp::Sum | ScanOp::NanSum => walk.scan(&mut v, 0, u64::wrapping_add),
                ScanOp::Prod | ScanOp::NanProd => walk.scan(&mut v, 1, u64::wrapping_mul),
                ScanOp::Max => walk.scan(&mut v, lowest as u64, u64::max),
                ScanOp::Min => walk.scan(&mut v, highest as u64, u64::min),
                _ => return Err(unknown()),
            }
            Values::UInt(v)
        };
        let check = match op {
            _ if !acc.is_float() => Check::Exact,
            ScanOp::Max | ScanOp::Min => Check::Exact,
            ScanOp::Prod | ScanOp::NanProd => Check::ProductBound,
            ScanOp::LogAddExp => Check::LogBound,
            _ => Check::Relative,
        };
        Ok(Reference {
            values,
            check,
            acc,
            walk,
        })
    }

    /// Compares `got` (the result, in the scan's dtype) element by element. `perturb` first
    /// moves the last finite element of the result (as the check sees it) to 1.5 x + 1, or
    /// an integer's to x + 1: `--test-perturb`, which shows the check is not vacuous.
    ///
    /// The bounds, with eps the machine epsilon of the result's dtype plus float64's (the
    /// reference is rounded too) and k the elements combined into an element:
    ///
    /// * cumprod, nancumprod: |got - ref| <= (k + 1) eps |ref|. However the library orders
    ///   the product of k factors (sequential, blocked or a tree), it rounds k - 1 times,
    ///   each time by a relative error of at most eps/2, so while (k - 1) eps/2 <= 1/2 the
    ///   result is within (k - 1) eps of the exact product (Higham, Accuracy and Stability of
    ///   Numerical Algorithms, 2nd ed., lemma 3.1: gamma_(k-1) <= 2 (k-1) u); the float64
    ///   reference is within the same of float64's eps, and the two add. The inputs
    ///   ([`Case::input`]) keep every product within 1% of 1, far from underflow, where
    ///   relative bounds fail.
    /// * logcumsumexp: |got - ref| <= (k + 2) 8 eps max(1, |ref|). One step computes
    ///   max(a, b) + log1p(exp(-|a - b|)): exp and log1p are within an ulp or two of values
    ///   at most 1 and ln 2, and the sum rounds once relative to its magnitude, so a step
    ///   errs by at most about 4 eps max(1, |result|). Errors already in a and b are not
    ///   amplified: the partial derivatives e^a / (e^a + e^b) and e^b / (e^a + e^b) lie in
    ///   [0, 1] and sum to 1, so in any order of evaluation the k - 1 steps' errors add at
    ///   most, each weighted by e^(partial - result) <= 1, which also keeps a partial of
    ///   larger magnitude than the result from contributing more than about max(1, |result|)
    ///   eps. 8 eps a step (twice the estimate) and the two extra steps cover the casts and
    ///   the reference's own error.
    pub fn check(&self, got: &Array, perturb: bool) -> Result<Accuracy, CliError> {
        if got.len() != self.len() {
            return Err(CliError(format!(
                "internal error: the result has {} elements, the reference {}",
                got.len(),
                self.len()
            )));
        }
        if got.dtype() != self.acc {
            return Err(CliError(format!(
                "internal error: a {} result where {} was expected",
                got.dtype(),
                self.acc
            )));
        }
        let mut acc = Accuracy {
            check: self.check,
            max_rel_error: 0.0,
            mismatches: None,
            beyond_bound: None,
        };
        match &self.values {
            Values::Float(want) => {
                let mut g = got.astype(DType::Float64).into_vec::<f64>()?;
                if perturb {
                    if let Some(x) = g.iter_mut().rev().find(|x| x.is_finite()) {
                        *x = 1.5 * *x + 1.0;
                    }
                }
                let eps = gpuscan::tolerance::eps(self.acc) + f64::EPSILON;
                match self.check {
                    Check::Exact => acc = exact(&g, want, self.check, |x| x),
                    Check::Relative => {
                        acc.max_rel_error = g
                            .iter()
                            .zip(want)
                            .map(|(&g, &w)| rel(g, w, f64::MIN_POSITIVE))
                            .fold(0.0, f64::max);
                    }
                    Check::ProductBound | Check::LogBound => {
                        let log = self.check == Check::LogBound;
                        let (floor, per_step, extra) = if log {
                            (1.0, 8.0, 2.0)
                        } else {
                            (f64::MIN_POSITIVE, 1.0, 1.0)
                        };
                        let mut beyond = 0u64;
                        let mut max_rel = 0.0f64;
                        let inner = self.walk.inner;
                        self.walk.rows(|base, _, k| {
                            let bound = (k as f64 + extra) * per_step * eps;
                            for (&g, &w) in g[base..base + inner].iter().zip(&want[base..]) {
                                let r = rel(g, w, floor);
                                max_rel = max_rel.max(r);
                                if r > bound {
                                    beyond += 1;
                                }
                            }
                        });
                        acc.max_rel_error = max_rel;
                        acc.beyond_bound = Some(beyond);
                    }
                }
            }
            Values::Int(want) => {
                let mut g = got.astype(DType::Int64).into_vec::<i64>()?;
                if let (true, Some(x)) = (perturb, g.last_mut()) {
                    *x = x.wrapping_add(1);
                }
                acc = exact(&g, want, self.check, |x| x as f64);
            }
            Values::UInt(want) => {
                let mut g = got.astype(DType::UInt64).into_vec::<u64>()?;
                if let (true, Some(x)) = (perturb, g.last_mut()) {
                    *x = x.wrapping_add(1);
                }
                acc = exact(&g, want, self.check, |x| x as f64);
            }
        }
        Ok(acc)
    }

    fn len(&self) -> usize {
        match &self.values {
            Values::Float(v) => v.len(),
            Values::Int(v) => v.len(),
            Values::UInt(v) => v.len(),
        }
    }
}

/// |got - want| / max(|want|, floor); 0 where they are equal (infinities included), and
/// infinite for a NaN where a number belongs (as wrong as it gets).
fn rel(got: f64, want: f64, floor: f64) -> f64 {
    if got == want {
        return 0.0;
    }
    let err = (got - want).abs() / want.abs().max(floor);
    if err.is_nan() {
        f64::INFINITY
    } else {
        err
    }
}

/// Counts the elements that differ, and their largest relative error.
fn exact<T: Copy + PartialEq>(
    got: &[T],
    want: &[T],
    check: Check,
    to_f64: impl Fn(T) -> f64,
) -> Accuracy {
    let mut acc = Accuracy {
        check,
        max_rel_error: 0.0,
        mismatches: Some(0),
        beyond_bound: None,
    };
    let mut n = 0u64;
    for (&g, &w) in got.iter().zip(want) {
        if g != w {
            n += 1;
            acc.max_rel_error = acc
                .max_rel_error
                .max(rel(to_f64(g), to_f64(w), f64::MIN_POSITIVE));
        }
    }
    acc.mismatches = Some(n);
    acc
}

/// log(exp(a) + exp(b)) as numpy computes it, with its infinities.
fn logaddexp(a: f64, b: f64) -> f64 {
    if a == b {
        // Equal infinities too (inf - inf would be NaN).
        return a + std::f64::consts::LN_2;
    }
    let (hi, lo) = if a > b { (a, b) } else { (b, a) };
    if hi.is_nan() || lo.is_nan() {
        return f64::NAN;
    }
    hi + (lo - hi).exp().ln_1p()
}

/// The lowest and highest values of an integer or bool dtype (floats: unused).
fn int_range(d: DType) -> (i128, i128) {
    match d {
        DType::Bool => (0, 1),
        DType::Int8 => (i8::MIN.into(), i8::MAX.into()),
        DType::Int16 => (i16::MIN.into(), i16::MAX.into()),
        DType::Int32 => (i32::MIN.into(), i32::MAX.into()),
        DType::Int64 => (i64::MIN.into(), i64::MAX.into()),
        DType::UInt8 => (0, u8::MAX.into()),
        DType::UInt16 => (0, u16::MAX.into()),
        DType::UInt32 => (0, u32::MAX.into()),
        DType::UInt64 => (0, u64::MAX.into()),
        _ => (0, 0),
    }
}

/// The order a scan visits a case's rows in: `outer` blocks of `len` rows of `inner`
/// contiguous lanes (C order), each block's rows forward or backward, restarting at every
/// segment's first row in that direction.
struct Walk {
    outer: usize,
    len: usize,
    inner: usize,
    /// Per position along the axis: whether a segment starts there (in the scan's direction).
    starts: Vec<bool>,
    reverse: bool,
    exclusive: bool,
}

impl Walk {
    fn new(case: &Case, variant: &Variant) -> Walk {
        let (outer, len, inner) = lanes(case);
        let mut starts = vec![false; len];
        let first = |a: usize, b: usize| if variant.reverse { b - 1 } else { a };
        match variant.offsets(len) {
            None if len > 0 => starts[first(0, len)] = true,
            None => {}
            Some(offsets) => {
                for w in offsets.windows(2) {
                    let (a, b) = (w[0] as usize, w[1] as usize);
                    if a < b {
                        starts[first(a, b)] = true;
                    }
                }
            }
        }
        Walk {
            outer,
            len,
            inner,
            starts,
            reverse: variant.reverse,
            exclusive: variant.exclusive,
        }
    }

    /// Calls `f(first index of the row, whether a segment restarts there, elements combined
    /// into each element of the row)` for every row, in the scan's order within each block.
    fn rows(&self, mut f: impl FnMut(usize, bool, u64)) {
        if self.inner == 0 {
            return;
        }
        for o in 0..self.outer {
            let mut seen = 0u64;
            for step in 0..self.len {
                let j = if self.reverse {
                    self.len - 1 - step
                } else {
                    step
                };
                let restart = self.starts[j];
                if restart {
                    seen = 0;
                }
                let k = if self.exclusive { seen } else { seen + 1 };
                f((o * self.len + j) * self.inner, restart, k);
                seen += 1;
            }
        }
    }

    /// Scans `v` in place sequentially: whole rows at a time, so every lane keeps its own
    /// order; `empty` (the value of an empty scan) starts every segment.
    fn scan<T: Copy>(&self, v: &mut [T], empty: T, combine: impl Fn(T, T) -> T) {
        let mut run = vec![empty; self.inner];
        let (inner, exclusive) = (self.inner, self.exclusive);
        self.rows(|base, restart, _| {
            if restart {
                run.fill(empty);
            }
            for (x, r) in v[base..base + inner].iter_mut().zip(run.iter_mut()) {
                let c = combine(*r, *x);
                *x = if exclusive { *r } else { c };
                *r = c;
            }
        });
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

/// A `--sizes` term: a count, or `none` (or blank) for no 1-D cases.
pub fn size_term(s: &str) -> Result<Option<usize>, String> {
    let t = s.trim();
    if t.is_empty() || t.eq_ignore_ascii_case("none") {
        return Ok(None);
    }
    count(t).map(Some)
}

/// `--shape`: `4096x4096` (any rank), or `none` (or empty) for no multi-dimensional case.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Shape(pub Option<Vec<usize>>);

/// Parses `--shape`; each dimension is a count (`2^12` works too).
pub fn parse_shape(s: &str) -> Result<Shape, String> {
    let s = s.trim();
    if s.is_empty() || s.eq_ignore_ascii_case("none") {
        return Ok(Shape(None));
    }
    let dims = s
        .split(['x', 'X', ','])
        .map(|t| count(t).map_err(|e| format!("dimension '{}' is {e}", t.trim())))
        .collect::<Result<Vec<_>, _>>()?;
    dims.iter()
        .try_fold(1usize, |acc, &d| acc.checked_mul(d))
        .ok_or_else(|| format!("{s} has too many elements"))?;
    Ok(Shape(Some(dims)))
}

/// A `--axis` term: an integer (blank terms are skipped).
pub fn axis_term(s: &str) -> Result<Option<isize>, String> {
    blank_or(|t: &str| t.trim().parse().map_err(|_| "not an integer".to_string()))(s)
}

/// Resolves the `--axis` terms against a rank (negative axes count from the end, as in
/// numpy), each axis once.
pub fn resolve_axes(terms: &[Option<isize>], ndim: usize) -> Result<Vec<usize>, CliError> {
    let mut axes = Vec::new();
    for &a in terms.iter().flatten() {
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
        let sizes = |s: &str| s.split(',').map(size_term).collect::<Result<Vec<_>, _>>();
        assert_eq!(
            sizes("1024, 2^20,1<<3").unwrap(),
            [Some(1024), Some(1 << 20), Some(8)]
        );
        assert_eq!(sizes("none").unwrap(), [None]);
        for bad in ["0", "abc", "2^99", "1<<70"] {
            assert!(sizes(bad).is_err(), "{bad}");
        }
        assert_eq!(parse_shape("64x32").unwrap(), Shape(Some(vec![64, 32])));
        assert_eq!(parse_shape("").unwrap(), Shape(None));
        assert!(parse_shape("64x").is_err());
        let axes = ["0", "-1", "1", ""].map(|t| axis_term(t).unwrap());
        assert_eq!(resolve_axes(&axes, 2).unwrap(), [0, 1]);
        assert!(resolve_axes(&[Some(2)], 2).is_err());
        assert!(axis_term("x").is_err());
    }

    fn int_ref(case: &Case, op: ScanOp, variant: &Variant, a: &Array) -> Vec<i64> {
        match Reference::new(case, op, variant, a).unwrap().values {
            Values::Int(v) => v,
            _ => panic!("int64 reference expected"),
        }
    }

    #[test]
    fn reference_scans_each_lane() {
        let case = Case {
            dtype: DType::Int32,
            shape: vec![2, 3],
            axis: Some(0),
        };
        let plain = Variant::default();
        let a = Array::from_shape_vec(&[2, 3], vec![1i32, 2, 3, 4, 5, 6]).unwrap();
        assert_eq!(int_ref(&case, ScanOp::Sum, &plain, &a), [1, 2, 3, 5, 7, 9]);
        let case = Case {
            axis: Some(1),
            ..case
        };
        assert_eq!(int_ref(&case, ScanOp::Sum, &plain, &a), [1, 3, 6, 4, 9, 15]);
        assert_eq!(
            int_ref(&case, ScanOp::Prod, &plain, &a),
            [1, 2, 6, 4, 20, 120]
        );
        let rev_excl = Variant {
            reverse: true,
            exclusive: true,
            segments: None,
        };
        assert_eq!(
            int_ref(&case, ScanOp::Sum, &rev_excl, &a),
            [5, 3, 0, 11, 6, 0]
        );
        let max_excl = int_ref(
            &case,
            ScanOp::Max,
            &Variant {
                exclusive: true,
                ..Variant::default()
            },
            &a,
        );
        assert_eq!(max_excl, [i32::MIN as i64, 1, 2, i32::MIN as i64, 4, 5]);
    }

    #[test]
    fn reference_restarts_at_segments_as_the_library_does() {
        let case = Case {
            dtype: DType::Int64,
            shape: vec![8],
            axis: None,
        };
        let a = Array::from_vec(vec![3i64, 1, 4, 1, 5, 9, 2, 6]);
        let variant = Variant {
            reverse: true,
            exclusive: true,
            segments: Some(2),
        };
        assert_eq!(variant.offsets(8), Some(vec![0, 4, 8]));
        assert_eq!(variant.offsets(7), Some(vec![0, 3, 7]));
        let want = int_ref(&case, ScanOp::Sum, &variant, &a);
        let ctx = gpuscan::Context::cpu_only();
        let got = ctx.scan(&a, &case.scan(ScanOp::Sum, &variant)).unwrap();
        assert_eq!(got.as_slice::<i64>().unwrap(), want.as_slice());
        assert_eq!(want, [6, 5, 1, 0, 17, 8, 6, 0]);
    }

    /// Every op's CPU result passes its check on each case's own inputs, and fails it with
    /// the last element moved.
    #[test]
    fn checks_pass_the_cpu_and_catch_a_moved_element() {
        let ctx = gpuscan::Context::cpu_only();
        let variants = [
            Variant::default(),
            Variant {
                reverse: true,
                exclusive: true,
                segments: Some(3),
            },
        ];
        for dtype in [DType::Float32, DType::Float64, DType::Int64, DType::UInt8] {
            for (shape, axis) in [(vec![1000], None), (vec![40, 30], Some(0))] {
                let case = Case { dtype, shape, axis };
                for op in ScanOp::ALL {
                    for variant in &variants {
                        let input = case.input_for(op).unwrap();
                        let r = Reference::new(&case, op, variant, &input).unwrap();
                        let got = ctx.scan(&input, &case.scan(op, variant)).unwrap();
                        let what = format!("{} {}", case.label(), variant.label(op));
                        let ok = r.check(&got, false).unwrap();
                        assert_eq!(ok.wrong().unwrap_or(0), 0, "{what}: {ok:?}");
                        if ok.check == Check::Relative {
                            assert!(ok.max_rel_error < 1e-5, "{what}: {ok:?}");
                        }
                        // float16's bounds over a thousand steps exceed the move (8 for
                        // logcumsumexp): nothing to catch there.
                        if case.acc(op) == DType::Float16 {
                            continue;
                        }
                        let bad = r.check(&got, true).unwrap();
                        let caught = match bad.wrong() {
                            Some(n) => n > 0,
                            None => bad.max_rel_error > 0.1,
                        };
                        assert!(caught, "{what}: {bad:?}");
                    }
                }
            }
        }
    }
}
