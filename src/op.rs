//! The scan operations as values: each says its identity, how it combines, which inputs it
//! skips, and numpy's result dtype. The CPU kernels, the generated WGSL prelude and the
//! pipeline cache take an operation, so adding one adds rows here, not entry points.

use std::fmt;
use std::str::FromStr;

use crate::dtype::{DType, Element, Scalar};
use crate::error::{Error, Result};

/// One scan of the family, named by its numpy function.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ScanOp {
    /// `np.cumsum` (bool: a running OR).
    #[default]
    Sum,
    /// `np.cumprod` (bool: a running AND; integers wrap).
    Prod,
    /// `np.nancumsum`: NaN counts as zero.
    NanSum,
    /// `np.nancumprod`: NaN counts as one.
    NanProd,
    /// `np.maximum.accumulate`: NaN propagates; +0.0 is larger than -0.0.
    Max,
    /// `np.minimum.accumulate`: NaN propagates; -0.0 is smaller than +0.0.
    Min,
    /// `np.logaddexp.accumulate`: `log(exp(a) + exp(b))`, floats only.
    LogAddExp,
}

/// How an operation combines two values; the NaN-skipping variants combine as their base.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub(crate) enum Combine {
    Add,
    Mul,
    Max,
    Min,
    LogAddExp,
}

impl ScanOp {
    /// Every operation.
    pub const ALL: [ScanOp; 7] = [
        ScanOp::Sum,
        ScanOp::Prod,
        ScanOp::NanSum,
        ScanOp::NanProd,
        ScanOp::Max,
        ScanOp::Min,
        ScanOp::LogAddExp,
    ];

    /// The name of the command-line subcommand (numpy's function name where it has one).
    pub fn name(self) -> &'static str {
        match self {
            ScanOp::Sum => "cumsum",
            ScanOp::Prod => "cumprod",
            ScanOp::NanSum => "nancumsum",
            ScanOp::NanProd => "nancumprod",
            ScanOp::Max => "cummax",
            ScanOp::Min => "cummin",
            ScanOp::LogAddExp => "logcumsumexp",
        }
    }

    pub(crate) fn combine(self) -> Combine {
        match self {
            ScanOp::Sum | ScanOp::NanSum => Combine::Add,
            ScanOp::Prod | ScanOp::NanProd => Combine::Mul,
            ScanOp::Max => Combine::Max,
            ScanOp::Min => Combine::Min,
            ScanOp::LogAddExp => Combine::LogAddExp,
        }
    }

    /// The value NaN inputs are replaced by before the scan (the nan* variants), as a scalar
    /// to cast into the loop dtype: +0 for sums, 1 for products.
    pub(crate) fn nan_to(self) -> Option<Scalar> {
        match self {
            ScanOp::NanSum => Some(Scalar::Int(0)),
            ScanOp::NanProd => Some(Scalar::Int(1)),
            _ => None,
        }
    }

    /// Whether float results depend on the order of evaluation (they are rounded at every
    /// step); max and min are exact in any order.
    pub(crate) fn rounds(self) -> bool {
        !matches!(self.combine(), Combine::Max | Combine::Min)
    }

    /// The dtype numpy's function returns for `input` when neither `dtype=` nor `out=` is
    /// given: sums and products take bool and signed ints to int64 and unsigned ints to
    /// uint64; max and min keep the input's dtype; logaddexp takes bool and 8-bit ints to
    /// float16, 16-bit ints to float32 and wider ints to float64. Floats keep their dtype.
    pub fn result_dtype(self, input: DType) -> DType {
        match self.combine() {
            Combine::Add | Combine::Mul => input.cumsum_default(),
            Combine::Max | Combine::Min => input,
            Combine::LogAddExp => float_for(input),
        }
    }

    /// The loop (accumulation) dtype of a scan of `input`: `dtype=` if given; else with an
    /// `out=` of dtype `out`, `np.result_type(input, out)` (for logaddexp, the float that
    /// holds it); else [`ScanOp::result_dtype`]. logaddexp refuses a non-float `dtype=`, as
    /// numpy's ufunc has no loop for it.
    pub fn loop_dtype(
        self,
        input: DType,
        dtype: Option<DType>,
        out: Option<DType>,
    ) -> Result<DType> {
        let chosen = match (dtype, out) {
            (Some(d), _) => d,
            (None, Some(o)) => DType::result_type(o, input),
            (None, None) => return Ok(self.result_dtype(input)),
        };
        if self.combine() != Combine::LogAddExp {
            return Ok(chosen);
        }
        match dtype {
            Some(d) if !d.is_float() => Err(Error::InvalidArgument(format!(
                "{} has no {d} loop: it computes in float16, float32 or float64",
                self.name()
            ))),
            _ => Ok(float_for(chosen)),
        }
    }
}

/// The float numpy's logaddexp computes `input` in.
fn float_for(input: DType) -> DType {
    use DType::*;
    match input {
        Bool | Int8 | UInt8 => Float16,
        Int16 | UInt16 => Float32,
        Int32 | Int64 | UInt32 | UInt64 => Float64,
        float => float,
    }
}

impl fmt::Display for ScanOp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for ScanOp {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        ScanOp::ALL
            .into_iter()
            .find(|op| op.name() == s)
            .ok_or_else(|| {
                Error::InvalidArgument(format!(
                    "unknown scan '{s}': expected cumsum, cumprod, nancumsum, nancumprod, \
                     cummax, cummin or logcumsumexp"
                ))
            })
    }
}

/// An operation's arithmetic on one element type, for the CPU kernels: monomorphised per
/// operation, so the inner loops see a plain `+`, `*`, `max` or `min`.
pub(crate) trait Monoid<A: Element>: Copy + Send + Sync + 'static {
    /// The identity of `combine`: `combine(IDENTITY, x)` is `x` bit for bit (-0.0 for float
    /// sums, so that signed zeros survive).
    fn identity() -> A;
    /// The value of an empty scan, as an exclusive scan's first element and numpy's
    /// `include_initial` write it: 0 (+0.0), 1, the lowest or highest value, or -inf.
    fn empty() -> A {
        Self::identity()
    }
    fn combine(a: A, b: A) -> A;
    /// `combine` of two values neither of which is NaN. The vector kernels take it, and
    /// take `combine` lane by lane for a vector that holds a NaN.
    #[inline(always)]
    fn ordered(a: A, b: A) -> A {
        Self::combine(a, b)
    }
    /// Whether `ordered` differs from `combine` where there is a NaN: float max and min,
    /// whose first NaN also absorbs every later value.
    const ORDERED: bool = false;
    /// Whether the interleaved partial sums of the fast order apply: only where combining
    /// out of order cannot change which NaN comes out (addition's partials are summed as a
    /// tree; max and min keep the first NaN only in order).
    const PARTIALS: bool = false;
    /// What a sequential scan carries from element to element: the running value, for every
    /// operation but logaddexp's running form.
    type Run: Copy + Send + Sync;
    /// The state after the first element of a scan.
    fn start(x: A) -> Self::Run;
    /// Combines the next element in.
    fn step(run: &mut Self::Run, x: A);
    /// The scan's value so far.
    fn value(run: &Self::Run) -> A;
    /// The state after the elements of `earlier` and then those of `later`.
    fn merge(earlier: Self::Run, later: Self::Run) -> Self::Run;
}

/// The running state of a monoid that folds its values: the value itself.
macro_rules! folds {
    () => {
        type Run = A;
        #[inline(always)]
        fn start(x: A) -> A {
            x
        }
        #[inline(always)]
        fn step(run: &mut A, x: A) {
            *run = Self::combine(*run, x);
        }
        #[inline(always)]
        fn value(run: &A) -> A {
            *run
        }
        fn merge(earlier: A, later: A) -> A {
            Self::combine(earlier, later)
        }
    };
}

#[derive(Copy, Clone)]
pub(crate) struct Add;
#[derive(Copy, Clone)]
pub(crate) struct Mul;
#[derive(Copy, Clone)]
pub(crate) struct Max;
#[derive(Copy, Clone)]
pub(crate) struct Min;
#[derive(Copy, Clone)]
pub(crate) struct LogAdd;
/// logaddexp's running form, for the orders that need not be numpy's: the running maximum
/// and the sum of `exp(x - max)` over the elements so far, in float64. numpy's fold chains an
/// exp and a log1p from element to element; here they lie outside the chain, and the sum of
/// exponentials is rounded in float64 rather than once per element in the loop dtype.
#[derive(Copy, Clone)]
pub(crate) struct LogSumExp;

/// [`LogSumExp`]'s state: the scan's value is `max + ln(sum)`; a NaN max sticks.
#[derive(Copy, Clone)]
pub(crate) struct LogSum {
    max: f64,
    sum: f64,
}

#[inline(always)]
fn float_of<A: Element>(x: A) -> f64 {
    match x.to_scalar() {
        Scalar::Float(v) => v,
        Scalar::Int(v) => v as f64,
        Scalar::UInt(v) => v as f64,
        Scalar::Bool(v) => v as u8 as f64,
    }
}

impl<A: Element> Monoid<A> for Add {
    #[inline(always)]
    fn identity() -> A {
        // -0.0 for floats (the sign of -0.0 is lost by the cast from an integer 0).
        let zero = A::from_scalar(Scalar::Int(0));
        if A::DTYPE.is_float() {
            A::from_scalar(Scalar::Float(-0.0))
        } else {
            zero
        }
    }
    fn empty() -> A {
        A::from_scalar(Scalar::Int(0))
    }
    #[inline(always)]
    fn combine(a: A, b: A) -> A {
        a.add(b)
    }
    const PARTIALS: bool = true;
    folds!();
}

impl<A: Element> Monoid<A> for Mul {
    #[inline(always)]
    fn identity() -> A {
        A::from_scalar(Scalar::Int(1))
    }
    #[inline(always)]
    fn combine(a: A, b: A) -> A {
        a.mul(b)
    }
    folds!();
}

impl<A: Element> Monoid<A> for Max {
    #[inline(always)]
    fn identity() -> A {
        A::lowest()
    }
    #[inline(always)]
    fn combine(a: A, b: A) -> A {
        a.max_of(b)
    }
    #[inline(always)]
    fn ordered(a: A, b: A) -> A {
        a.max_ordered(b)
    }
    const ORDERED: bool = true;
    folds!();
}

impl<A: Element> Monoid<A> for Min {
    #[inline(always)]
    fn identity() -> A {
        A::highest()
    }
    #[inline(always)]
    fn combine(a: A, b: A) -> A {
        a.min_of(b)
    }
    #[inline(always)]
    fn ordered(a: A, b: A) -> A {
        a.min_ordered(b)
    }
    const ORDERED: bool = true;
    folds!();
}

impl<A: Element> Monoid<A> for LogAdd {
    #[inline(always)]
    fn identity() -> A {
        A::lowest()
    }
    #[inline(always)]
    fn combine(a: A, b: A) -> A {
        a.logaddexp(b)
    }
    folds!();
}

impl<A: Element> Monoid<A> for LogSumExp {
    #[inline(always)]
    fn identity() -> A {
        A::lowest()
    }
    #[inline(always)]
    fn combine(a: A, b: A) -> A {
        a.logaddexp(b)
    }
    type Run = LogSum;
    #[inline(always)]
    fn start(x: A) -> LogSum {
        LogSum {
            max: float_of(x),
            sum: 1.0,
        }
    }
    #[inline(always)]
    fn step(run: &mut LogSum, x: A) {
        let x = float_of(x);
        if x > run.max {
            // A new maximum rescales the sum; from -inf (no mass yet) the factor is 0.
            run.sum = run.sum * (run.max - x).exp() + 1.0;
            run.max = x;
        } else if x == run.max {
            // Also inf after inf, where `x - max` would be NaN.
            run.sum += 1.0;
        } else if x < run.max {
            run.sum += (x - run.max).exp();
        } else if !run.max.is_nan() {
            // The first NaN sticks, with its bits.
            run.max = x;
        }
    }
    #[inline(always)]
    fn value(run: &LogSum) -> A {
        let v = if run.max.is_nan() || run.max.is_infinite() {
            run.max
        } else {
            run.max + run.sum.ln()
        };
        A::from_scalar(Scalar::Float(v))
    }
    fn merge(a: LogSum, b: LogSum) -> LogSum {
        if a.max.is_nan() || b.max.is_nan() {
            return if a.max.is_nan() { a } else { b };
        }
        let max = a.max.max(b.max);
        if max.is_infinite() {
            // All -inf so far, or inf: the value is `max` itself.
            return LogSum { max, sum: 1.0 };
        }
        LogSum {
            max,
            sum: a.sum * (a.max - max).exp() + b.sum * (b.max - max).exp(),
        }
    }
}

/// Calls `$body` with the type alias `$m` bound to the monoid of `$op`'s combine.
macro_rules! with_monoid {
    ($op:expr, $m:ident => $body:expr) => {
        match $op.combine() {
            $crate::op::Combine::Add => {
                type $m = $crate::op::Add;
                $body
            }
            $crate::op::Combine::Mul => {
                type $m = $crate::op::Mul;
                $body
            }
            $crate::op::Combine::Max => {
                type $m = $crate::op::Max;
                $body
            }
            $crate::op::Combine::Min => {
                type $m = $crate::op::Min;
                $body
            }
            $crate::op::Combine::LogAddExp => {
                type $m = $crate::op::LogAdd;
                $body
            }
        }
    };
}
pub(crate) use with_monoid;

#[cfg(test)]
mod tests {
    use super::*;
    use half::f16;
    use DType::*;

    /// SCAN_FAMILY's result-dtype table, row by row.
    #[test]
    fn result_dtypes_match_numpy() {
        let rows = [
            (Bool, Int64, Bool, Float16),
            (Int8, Int64, Int8, Float16),
            (Int16, Int64, Int16, Float32),
            (Int32, Int64, Int32, Float64),
            (Int64, Int64, Int64, Float64),
            (UInt8, UInt64, UInt8, Float16),
            (UInt16, UInt64, UInt16, Float32),
            (UInt32, UInt64, UInt32, Float64),
            (UInt64, UInt64, UInt64, Float64),
            (Float16, Float16, Float16, Float16),
            (Float32, Float32, Float32, Float32),
            (Float64, Float64, Float64, Float64),
        ];
        for (input, sums, extremes, logs) in rows {
            for op in [ScanOp::Sum, ScanOp::Prod, ScanOp::NanSum, ScanOp::NanProd] {
                assert_eq!(op.result_dtype(input), sums, "{op} {input}");
            }
            assert_eq!(ScanOp::Max.result_dtype(input), extremes);
            assert_eq!(ScanOp::Min.result_dtype(input), extremes);
            assert_eq!(ScanOp::LogAddExp.result_dtype(input), logs);
        }
    }

    #[test]
    fn loop_dtypes_follow_dtype_then_out() {
        let op = ScanOp::Prod;
        assert_eq!(op.loop_dtype(Int8, None, Some(Float32)).unwrap(), Float32);
        assert_eq!(
            op.loop_dtype(Float16, Some(Float16), Some(Float32))
                .unwrap(),
            Float16
        );
        let l = ScanOp::LogAddExp;
        assert_eq!(l.loop_dtype(Int64, None, Some(Int64)).unwrap(), Float64);
        assert_eq!(l.loop_dtype(Int8, None, Some(Float32)).unwrap(), Float32);
        assert!(l.loop_dtype(Float32, Some(Int32), None).is_err());
    }

    #[test]
    fn names_round_trip() {
        for op in ScanOp::ALL {
            assert_eq!(op.name().parse::<ScanOp>().unwrap(), op);
        }
        assert!("cumfoo".parse::<ScanOp>().is_err());
    }

    #[test]
    fn extremes_order_signed_zeros_and_keep_the_first_nan() {
        let (p, n) = (0.0f32, -0.0f32);
        assert_eq!(p.max_of(n).to_bits(), p.to_bits());
        assert_eq!(n.max_of(p).to_bits(), p.to_bits());
        assert_eq!(p.min_of(n).to_bits(), n.to_bits());
        let (a, b) = (f32::from_bits(0x7fc0_0001), f32::from_bits(0x7fc0_0002));
        assert_eq!(a.max_of(b).to_bits(), a.to_bits());
        assert_eq!(b.min_of(a).to_bits(), b.to_bits());
        assert_eq!(1.0f32.max_of(a).to_bits(), a.to_bits());
        let h = f16::from_f32(-0.0);
        assert_eq!(h.max_of(f16::ZERO).to_bits(), 0);
    }

    #[test]
    fn logaddexp_special_values() {
        let inf = f64::INFINITY;
        assert_eq!((-inf).logaddexp(-inf), -inf);
        assert_eq!(inf.logaddexp(inf), inf);
        assert_eq!(inf.logaddexp(-inf), inf);
        assert_eq!((-inf).logaddexp(inf), inf);
        assert!(f64::NAN.logaddexp(1.0).is_nan());
        assert!(1.0f64.logaddexp(f64::NAN).is_nan());
        assert_eq!(0.0f64.logaddexp(0.0), std::f64::consts::LN_2);
        assert_eq!(<LogAdd as Monoid<f64>>::combine(-inf, 3.0), 3.0);
    }
}
