//! Arguments of a scan, mirroring numpy's `axis`, `dtype` and `out`, plus where it runs.

use crate::dtype::DType;
use crate::error::{Error, Result};
use crate::op::ScanOp;

/// Where a cumsum runs.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Device {
    /// The GPU for inputs of at least [`crate::Context::auto_threshold`] elements whose
    /// accumulation dtype the adapter can run, else the CPU.
    #[default]
    Auto,
    /// Always the CPU (numpy's summation order, bit for bit).
    Cpu,
    /// Always the GPU; an error when there is no adapter or it lacks a needed feature.
    Gpu,
}

impl std::str::FromStr for Device {
    type Err = crate::Error;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "auto" => Ok(Device::Auto),
            "cpu" => Ok(Device::Cpu),
            "gpu" => Ok(Device::Gpu),
            _ => Err(crate::Error::InvalidArgument(format!(
                "unknown device '{s}': expected auto, cpu or gpu"
            ))),
        }
    }
}

/// The summation order of float scans. Integer and bool results are exact in any order, so
/// they always take the fastest.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Order {
    /// The fastest order: on the CPU, float32 and float64 sums along the last axis take
    /// vectors of eight, each an in-register prefix tree, with a compensated (two-sum) carry
    /// every 128 elements: every prefix within a few ulps, more accurate than numpy's loop, and
    /// the same bits whatever the thread count and instruction-set level; on the GPU, tiles summed as
    /// trees. Within docs/NUMPY_SEMANTICS.md section 7's tolerance.
    #[default]
    Fast,
    /// numpy's order: strictly sequential down each lane, bit for bit numpy's floats. CPU only.
    Exact,
    /// float16 accumulates in float32 and float32 in float64, rounded once at the end: every
    /// result is the correctly rounded prefix sum (numpy's `cumsum(x, dtype=float64)
    /// .astype(float32)`). float64 and integers are unaffected.
    Wide,
}

impl std::str::FromStr for Order {
    type Err = crate::Error;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "fast" => Ok(Order::Fast),
            "exact" => Ok(Order::Exact),
            "wide" => Ok(Order::Wide),
            _ => Err(crate::Error::InvalidArgument(format!(
                "unknown order '{s}': expected fast, exact or wide"
            ))),
        }
    }
}

/// The GPU scan algorithm. Every strategy gives numpy's result (floats within the documented
/// tolerance) and the same bits on every run on one adapter; they differ in speed. See
/// [`crate::strategy`] for what [`Strategy::Auto`] picks.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Strategy {
    /// The selection table in [`crate::strategy`], per adapter, dtype and shape.
    #[default]
    Auto,
    /// Scan-then-propagate with Blelloch workgroup scans ([`crate::plan::Algorithm::Blelloch`]).
    Blelloch,
    /// Reduce, scan the totals, scan again seeded ([`crate::plan::Algorithm::ReduceThenScan`]).
    ReduceThenScan,
    /// One pass with decoupled look-back and fallback ([`crate::plan::Algorithm::Chained`]).
    Chained,
}

impl Strategy {
    /// Every strategy, `Auto` first.
    pub const ALL: [Strategy; 4] = [
        Strategy::Auto,
        Strategy::Blelloch,
        Strategy::ReduceThenScan,
        Strategy::Chained,
    ];

    /// The name the CLI takes.
    pub fn name(self) -> &'static str {
        match self {
            Strategy::Auto => "auto",
            Strategy::Blelloch => "blelloch",
            Strategy::ReduceThenScan => "reduce-then-scan",
            Strategy::Chained => "chained",
        }
    }
}

impl std::fmt::Display for Strategy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl std::str::FromStr for Strategy {
    type Err = crate::Error;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Strategy::ALL
            .into_iter()
            .find(|k| k.name() == s)
            .ok_or_else(|| {
                crate::Error::InvalidArgument(format!(
                    "unknown strategy '{s}': expected auto, blelloch, reduce-then-scan or chained"
                ))
            })
    }
}

/// An axis as numpy takes it: negative values count from the end.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub struct AxisIndex(pub isize);

impl From<isize> for AxisIndex {
    fn from(a: isize) -> Self {
        AxisIndex(a)
    }
}

impl From<i32> for AxisIndex {
    fn from(a: i32) -> Self {
        AxisIndex(a as isize)
    }
}

impl From<usize> for AxisIndex {
    fn from(a: usize) -> Self {
        AxisIndex(a as isize)
    }
}

#[cfg(feature = "ndarray")]
impl From<ndarray::Axis> for AxisIndex {
    fn from(a: ndarray::Axis) -> Self {
        AxisIndex(a.index() as isize)
    }
}

/// The arguments of `np.cumsum(a, axis=None, dtype=None)`; `out` is
/// [`crate::Context::cumsum_into`]. A [`Scan`] of [`ScanOp::Sum`] with fewer options.
///
/// ```
/// use gpuscan::{Cumsum, DType, Device};
/// let numpy_default = Cumsum::new(); // axis=None: flatten
/// let along_rows = Cumsum::new().axis(1).dtype(DType::Float64).device(Device::Cpu);
/// assert_eq!(along_rows.axis, Some(1));
/// ```
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq)]
pub struct Cumsum {
    /// `None` flattens in C order; an index scans every lane along that axis.
    pub axis: Option<isize>,
    /// The accumulation and result dtype; `None` follows numpy's promotion.
    pub dtype: Option<DType>,
    /// Where to run.
    pub device: Device,
    /// The summation order of float scans.
    pub order: Order,
    /// The GPU algorithm; [`Strategy::Auto`] defers to the context's
    /// ([`crate::Context::strategy`]).
    pub strategy: Strategy,
}

impl Cumsum {
    /// numpy's defaults: `axis=None`, `dtype=None`, on [`Device::Auto`].
    pub fn new() -> Cumsum {
        Cumsum::default()
    }

    /// Scan along `axis` (negative counts from the end).
    pub fn axis(mut self, axis: impl Into<AxisIndex>) -> Cumsum {
        self.axis = Some(axis.into().0);
        self
    }

    /// Flatten first (numpy's `axis=None`).
    pub fn flatten(mut self) -> Cumsum {
        self.axis = None;
        self
    }

    /// Cast every element to `dtype` and accumulate in it.
    pub fn dtype(mut self, dtype: DType) -> Cumsum {
        self.dtype = Some(dtype);
        self
    }

    /// Where to run.
    pub fn device(mut self, device: Device) -> Cumsum {
        self.device = device;
        self
    }

    /// The summation order of float scans.
    pub fn order(mut self, order: Order) -> Cumsum {
        self.order = order;
        self
    }

    /// The GPU algorithm.
    pub fn strategy(mut self, strategy: Strategy) -> Cumsum {
        self.strategy = strategy;
        self
    }
}

impl From<Cumsum> for Scan {
    fn from(c: Cumsum) -> Scan {
        Scan {
            axis: c.axis,
            dtype: c.dtype,
            device: c.device,
            order: c.order,
            strategy: c.strategy,
            ..Scan::cumsum()
        }
    }
}

/// Every argument of a scan of the family: the operation, numpy's `axis` and `dtype`,
/// numpy 2's `include_initial`, the reverse, exclusive and segmented variants, and where it
/// runs ([`crate::Context::scan`]; `out` is [`crate::Context::scan_into`]).
///
/// ```
/// use gpuscan::{Array, Context, Scan};
/// let ctx = Context::cpu_only();
/// let a = Array::from_vec(vec![3i64, 1, 4, 1, 5, 9, 2, 6]);
/// let r = ctx.scan(&a, &Scan::cummax())?;
/// assert_eq!(r.as_slice::<i64>()?, &[3, 3, 4, 4, 5, 9, 9, 9]);
/// // Suffix sums, exclusive, restarting at offsets 0, 3 and 8.
/// let s = Scan::cumsum().reverse(true).exclusive(true).segments(vec![0, 3, 8]);
/// let r = ctx.scan(&a, &s)?;
/// assert_eq!(r.as_slice::<i64>()?, &[5, 4, 0, 22, 17, 8, 6, 0]);
/// # Ok::<(), gpuscan::Error>(())
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Scan {
    /// The operation.
    pub op: ScanOp,
    /// `None` flattens in C order; an index scans every lane along that axis.
    pub axis: Option<isize>,
    /// The accumulation and result dtype; `None` follows numpy's promotion.
    pub dtype: Option<DType>,
    /// numpy 2's `cumulative_sum` / `cumulative_prod` rules: the input is at least 1-D, and
    /// an input of two or more dimensions needs an axis.
    pub cumulative: bool,
    /// Prepends the value of an empty scan (0 or 1) along the axis, as numpy 2's
    /// `include_initial` (the axis grows by one).
    pub include_initial: bool,
    /// Suffix scans: element i combines element i and every element after it.
    pub reverse: bool,
    /// Element i combines the elements strictly before it (after it, in reverse); the first
    /// of each lane or segment is the value of an empty scan: 0, 1, the dtype's lowest (-inf)
    /// for max, its highest (+inf) for min, -inf for logcumsumexp.
    pub exclusive: bool,
    /// Offsets `[0, s1, ..., L]` along the axis at which every lane restarts (for
    /// `axis=None`, along the flattened array); repeated offsets are empty segments.
    pub segments: Option<Vec<i64>>,
    /// Where to run.
    pub device: Device,
    /// The evaluation order of float scans.
    pub order: Order,
    /// The GPU algorithm; [`Strategy::Auto`] defers to the context's.
    pub strategy: Strategy,
}

impl Scan {
    /// A scan of `op` with numpy's defaults (`axis=None`, `dtype=None`) on [`Device::Auto`].
    pub fn new(op: ScanOp) -> Scan {
        Scan {
            op,
            ..Scan::default()
        }
    }

    /// `np.cumsum`.
    pub fn cumsum() -> Scan {
        Scan::new(ScanOp::Sum)
    }

    /// `np.cumprod`.
    pub fn cumprod() -> Scan {
        Scan::new(ScanOp::Prod)
    }

    /// `np.nancumsum`.
    pub fn nancumsum() -> Scan {
        Scan::new(ScanOp::NanSum)
    }

    /// `np.nancumprod`.
    pub fn nancumprod() -> Scan {
        Scan::new(ScanOp::NanProd)
    }

    /// `np.maximum.accumulate`, with `axis=None` flattening.
    pub fn cummax() -> Scan {
        Scan::new(ScanOp::Max)
    }

    /// `np.minimum.accumulate`, with `axis=None` flattening.
    pub fn cummin() -> Scan {
        Scan::new(ScanOp::Min)
    }

    /// `np.logaddexp.accumulate`, with `axis=None` flattening.
    pub fn logcumsumexp() -> Scan {
        Scan::new(ScanOp::LogAddExp)
    }

    /// numpy 2's `np.cumulative_sum`.
    pub fn cumulative_sum() -> Scan {
        Scan {
            cumulative: true,
            ..Scan::cumsum()
        }
    }

    /// numpy 2's `np.cumulative_prod`.
    pub fn cumulative_prod() -> Scan {
        Scan {
            cumulative: true,
            ..Scan::cumprod()
        }
    }

    /// Scan along `axis` (negative counts from the end).
    pub fn axis(mut self, axis: impl Into<AxisIndex>) -> Scan {
        self.axis = Some(axis.into().0);
        self
    }

    /// Flatten first (numpy's `axis=None`).
    pub fn flatten(mut self) -> Scan {
        self.axis = None;
        self
    }

    /// Cast every element to `dtype` and accumulate in it.
    pub fn dtype(mut self, dtype: DType) -> Scan {
        self.dtype = Some(dtype);
        self
    }

    /// numpy 2's `include_initial`.
    pub fn include_initial(mut self, include: bool) -> Scan {
        self.include_initial = include;
        self
    }

    /// Suffix scans.
    pub fn reverse(mut self, reverse: bool) -> Scan {
        self.reverse = reverse;
        self
    }

    /// Exclusive scans.
    pub fn exclusive(mut self, exclusive: bool) -> Scan {
        self.exclusive = exclusive;
        self
    }

    /// Restart every lane at `offsets` (`[0, ..., L]`, never decreasing).
    pub fn segments(mut self, offsets: impl Into<Vec<i64>>) -> Scan {
        self.segments = Some(offsets.into());
        self
    }

    /// [`Scan::segments`] from an array: it must be 1-D and hold integers.
    pub fn segments_array(self, offsets: &crate::Array) -> Result<Scan> {
        let bad = |why: String| Err(Error::Segments(why));
        if offsets.ndim() != 1 {
            return bad(format!(
                "they must be a 1-D array, not {}-D of shape {:?}",
                offsets.ndim(),
                offsets.shape()
            ));
        }
        let dtype = offsets.dtype();
        if !(dtype.is_signed() || dtype.is_unsigned()) {
            return bad(format!("they must be integers, not {dtype}"));
        }
        if dtype == DType::UInt64 {
            if let Some(&o) = offsets
                .as_slice::<u64>()?
                .iter()
                .find(|&&o| o > i64::MAX as u64)
            {
                return bad(format!("offset {o} is larger than any axis"));
            }
        }
        let wide = offsets.astype(DType::Int64).into_vec::<i64>()?;
        Ok(self.segments(wide))
    }

    /// Where to run.
    pub fn device(mut self, device: Device) -> Scan {
        self.device = device;
        self
    }

    /// The evaluation order of float scans.
    pub fn order(mut self, order: Order) -> Scan {
        self.order = order;
        self
    }

    /// The GPU algorithm.
    pub fn strategy(mut self, strategy: Strategy) -> Scan {
        self.strategy = strategy;
        self
    }
}
