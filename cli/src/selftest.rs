//! `gpuscan selftest`: every GPU strategy, on every dtype the adapter runs, along one lane,
//! axis 0 and the last axis, at tile, level, chunk and batch boundaries (and, without
//! `--quick`, arrays of hundreds of MB), under spin limits 0, 1 and the default, each run
//! repeated; integers exact against the CPU, floats within docs/NUMPY_SEMANTICS.md section 7's
//! tolerance, and every repeat and spin limit the same bits. The check to run on a new GPU.
//!
//! Then the scan family (docs/SCAN_FAMILY.md), one row per strategy, dtype, operation and
//! variant: every operation on int32 and float32 (without `--quick` also bool, int64, float16
//! and float64 where the adapter runs them), forward, reverse, exclusive and segmented (random
//! offsets with empty segments, and a segment per element; without `--quick` also their
//! combinations), each along the three layouts at tile and chunk boundaries. These are the
//! parts a new GPU could get wrong: the kernels each operation compiles on its own
//! (identities, combines, NaN bit tests, the software exp and log1p of logcumsumexp), the
//! mirrored chunk windows and carries of reverse scans, the carried inputs of exclusive ones
//! and the binary-searched segments. Integers, bools, cummax and cummin equal the CPU bit for
//! bit (NaN payloads included); float sums, products and logcumsumexp stay within a bound of
//! the CPU's fast order ([`family_tolerances`]); every repeat gives the same bits.

use std::io::Write;
use std::time::Instant;

use gpuscan::plan::{Geometry, TileConfig};
use gpuscan::shaders::SPIN_LIMIT;
use gpuscan::tolerance::{eps, max_finite};
use gpuscan::{Array, Context, ContextOptions, Cumsum, DType, Device, Scan, ScanOp, Strategy};
use half::f16;
use serde_json::json;

use crate::bench::cases::Case;
use crate::info::probe_json;
use crate::values::{self, or_all, OrAll};
use crate::CliError;

/// The algorithms a full run tests.
const ALL_STRATEGIES: [Strategy; 3] = [
    Strategy::Blelloch,
    Strategy::ReduceThenScan,
    Strategy::Chained,
];

/// Binding and batch sizes of the second context, small enough that some hundred thousand
/// elements cross chunk and batch boundaries on any adapter.
const SMALL_BINDING: u64 = 1 << 18;
const SMALL_BATCH: u64 = 3 << 18;

/// Most tiles a scan may have to run under spin limit 0, where every tile reduces all of its
/// predecessors (quadratic work).
const SPIN_ZERO_TILES: u64 = 64;

#[derive(clap::Args)]
pub struct Args {
    /// Fewer and smaller cases and two runs each (about 3 minutes on lavapipe).
    #[arg(long)]
    quick: bool,
    /// One JSON object per line: the adapter, one per row, then the summary.
    #[arg(long)]
    json: bool,
    /// Strategies to test, comma-separated: blelloch, reduce-then-scan, chained, or all.
    #[arg(
        long,
        value_name = "NAME,...",
        default_value = "all",
        value_delimiter = ',',
        value_parser = or_all(strategy)
    )]
    strategy: Vec<OrAll<Strategy>>,
    /// Operations to test, comma-separated: cumsum, cumprod, nancumsum, nancumprod, cummax,
    /// cummin, logcumsumexp, or all. The plain rows (every dtype along every layout) are
    /// cumsum's and run when it is named.
    #[arg(
        long,
        value_name = "NAME,...",
        default_value = "all",
        value_delimiter = ',',
        value_parser = or_all(values::named::<ScanOp>)
    )]
    ops: Vec<OrAll<ScanOp>>,
}

/// The three layouts each row covers.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
enum Layout {
    Flat,
    Axis0,
    LastAxis,
}

impl Layout {
    const ALL: [Layout; 3] = [Layout::Flat, Layout::Axis0, Layout::LastAxis];

    fn name(self) -> &'static str {
        match self {
            Layout::Flat => "1-D",
            Layout::Axis0 => "axis 0",
            Layout::LastAxis => "last axis",
        }
    }
}

/// One scan to run: a shape and axis, on the default context or the small-binding one.
#[derive(Clone, Debug)]
struct ScanCase {
    shape: Vec<usize>,
    axis: Option<usize>,
    small_bindings: bool,
}

impl ScanCase {
    fn new(layout: Layout, shape: Vec<usize>, small_bindings: bool) -> ScanCase {
        ScanCase {
            axis: match layout {
                Layout::Flat => None,
                Layout::Axis0 => Some(0),
                Layout::LastAxis => Some(shape.len() - 1),
            },
            shape,
            small_bindings,
        }
    }

    fn geometry(&self) -> Result<Geometry, String> {
        Geometry::resolve(&self.shape, self.axis.map(|a| a as isize))
            .map(|(g, _)| g)
            .map_err(|e| e.to_string())
    }

    /// (lanes before the axis, the axis's length, elements after it): flattening is one lane.
    fn split(&self) -> (usize, usize, usize) {
        match self.axis {
            None => (1, self.shape.iter().product(), 1),
            Some(a) => (
                self.shape[..a].iter().product(),
                self.shape[a],
                self.shape[a + 1..].iter().product(),
            ),
        }
    }
}

/// The scans of one layout in `dtype`: lengths at T - 1 and T + 1 (T: a tile), several tiles,
/// T^2 +- 1 (a second level), chunk and batch boundaries of the small-binding context, and
/// without `quick` an array of up to 256 MiB.
fn scans(
    layout: Layout,
    dtype: DType,
    tile: TileConfig,
    quick: bool,
    max_bytes: u64,
) -> Vec<ScanCase> {
    let t = tile.tile_len() as usize;
    let stored = gpuscan::GpuArray::stored_size(dtype);
    let chunk = (SMALL_BINDING / stored) as usize;
    let batch = (SMALL_BATCH / stored) as usize;
    let scan =
        |shape: Vec<usize>, small_bindings: bool| ScanCase::new(layout, shape, small_bindings);
    let mut v = Vec::new();
    match layout {
        Layout::Flat => {
            for n in [1, t - 1, t + 1, 7 * t + 3] {
                v.push(scan(vec![n], false));
            }
            for n in [chunk - 1, chunk + 1, batch + 1] {
                v.push(scan(vec![n], true));
            }
            if !quick {
                v.push(scan(vec![t * t - 1], false));
                v.push(scan(vec![t * t + 1], false));
                let big = (max_bytes.min(256 << 20) / stored) as usize;
                v.push(scan(vec![big], false));
            }
        }
        Layout::Axis0 => {
            // 37 columns make tiles of 32 columns and a partial one.
            let rows = tile.tile_rows(tile.tile_cols(37)) as usize;
            for r in [1, rows - 1, rows + 1, 9 * rows + 5] {
                v.push(scan(vec![r, 37], false));
            }
            v.push(scan(vec![chunk / 37 + 3, 37], true));
            // Rows wider than a binding: column blocks.
            v.push(scan(vec![3, chunk + 70], true));
            if !quick {
                v.push(scan(vec![rows * rows + 1, 37], false));
                v.push(scan(vec![4096, 4096], false));
            }
        }
        Layout::LastAxis => {
            for (lanes, len) in [(1000, 37), (100, t + 1), (3, 3 * t + 5)] {
                v.push(scan(vec![lanes, len], false));
            }
            v.push(scan(vec![2, batch / 2 + 11], true));
            if !quick {
                v.push(scan(vec![4096, 4096], false));
                v.push(scan(vec![2, t * t + 1], false));
            }
        }
    }
    v
}

/// How many lengths a family row scans along each layout.
#[derive(Copy, Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Lengths {
    /// T - 1 and T + 1 (T: a tile), several tiles, and a chunk boundary of the small-binding
    /// context.
    Boundaries,
    /// Also one element, T^2 + 1 along axis 0, a batch boundary, and many short lanes.
    More,
    /// Also the second level of a lane of T^2 + 1 and rows wider than a binding (column
    /// blocks), which take lavapipe some seconds a row.
    Levels,
}

/// The scans of a family row along one layout, with `lengths`; `all_small` runs all of them
/// on the small-binding context, which below a chunk scans as the default one does, so that
/// each operation's kernels are compiled on one device only.
fn family_scans(
    layout: Layout,
    dtype: DType,
    tile: TileConfig,
    lengths: Lengths,
    all_small: bool,
) -> Vec<ScanCase> {
    let t = tile.tile_len() as usize;
    let stored = gpuscan::GpuArray::stored_size(dtype);
    let chunk = (SMALL_BINDING / stored) as usize;
    let batch = (SMALL_BATCH / stored) as usize;
    let scan = |shape: Vec<usize>, small: bool| ScanCase::new(layout, shape, small || all_small);
    let (more, levels) = (lengths >= Lengths::More, lengths >= Lengths::Levels);
    let mut v = Vec::new();
    match layout {
        Layout::Flat => {
            for n in [t - 1, t + 1, 5 * t + 3] {
                v.push(scan(vec![n], false));
            }
            v.push(scan(vec![chunk + 1], true));
            if more {
                v.push(scan(vec![1], false));
                v.push(scan(vec![batch + 1], true));
            }
            if levels {
                v.push(scan(vec![t * t + 1], false));
            }
        }
        Layout::Axis0 => {
            let rows = tile.tile_rows(tile.tile_cols(37)) as usize;
            for r in [rows + 1, 9 * rows + 5] {
                v.push(scan(vec![r, 37], false));
            }
            v.push(scan(vec![chunk / 37 + 3, 37], true));
            if more {
                v.push(scan(vec![rows - 1, 37], false));
                v.push(scan(vec![rows * rows + 1, 37], false));
            }
            if levels {
                v.push(scan(vec![3, chunk + 70], true));
            }
        }
        Layout::LastAxis => {
            for (lanes, len) in [(100, t + 1), (3, 3 * t + 5)] {
                v.push(scan(vec![lanes, len], false));
            }
            v.push(scan(vec![2, chunk / 2 + 11], true));
            if more {
                v.push(scan(vec![1000, 37], false));
                v.push(scan(vec![2, batch / 2 + 11], true));
            }
        }
    }
    v
}

/// The lengths of a family row, and whether it runs on the small-binding context alone.
/// `--quick` scans the boundaries, on that context. A full run scans int32 and float32 at more
/// lengths (the levels and column blocks in the plain variant and the one combining reverse,
/// exclusive and random segments), on both contexts; the other dtypes, whose kernels take
/// lavapipe seconds to compile for each operation and strategy, at the boundaries on one.
fn family_lengths(dtype: DType, variant: Variant, quick: bool) -> (Lengths, bool) {
    let core = matches!(dtype, DType::Int32 | DType::Float32);
    if quick || !core {
        return (Lengths::Boundaries, true);
    }
    let combined = variant.reverse && variant.exclusive && variant.cuts == Cuts::Random;
    if variant.is_plain() || combined {
        (Lengths::Levels, false)
    } else {
        (Lengths::More, false)
    }
}

/// Where a family row restarts its lanes.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
enum Cuts {
    /// No segments.
    Whole,
    /// Random offsets about 500 apart, with empty segments (two at each end) and clusters of
    /// segments of one to two elements.
    Random,
    /// A segment per element.
    Each,
}

/// The variant of a family row.
#[derive(Copy, Clone, Debug)]
struct Variant {
    reverse: bool,
    exclusive: bool,
    cuts: Cuts,
}

impl Variant {
    const fn new(reverse: bool, exclusive: bool, cuts: Cuts) -> Variant {
        Variant {
            reverse,
            exclusive,
            cuts,
        }
    }

    fn is_plain(self) -> bool {
        !self.reverse && !self.exclusive && self.cuts == Cuts::Whole
    }

    /// The `segments` of the JSON row.
    fn segments_name(self) -> Option<&'static str> {
        match self.cuts {
            Cuts::Whole => None,
            Cuts::Random => Some("random"),
            Cuts::Each => Some("each"),
        }
    }

    /// `cumprod`, `cumprod reverse exclusive segments=random`.
    fn label(self, op: ScanOp) -> String {
        let mut s = op.name().to_string();
        if self.reverse {
            s.push_str(" reverse");
        }
        if self.exclusive {
            s.push_str(" exclusive");
        }
        if let Some(cuts) = self.segments_name() {
            s.push_str(" segments=");
            s.push_str(cuts);
        }
        s
    }

    /// The offsets of `self.cuts` for a lane of `len`, drawn from `rng`.
    fn offsets(self, len: usize, rng: &mut SplitMix64) -> Option<Vec<i64>> {
        let n = len as i64;
        match self.cuts {
            Cuts::Whole => None,
            Cuts::Each => Some((0..=n).collect()),
            Cuts::Random => {
                let mut v = vec![0, 0, n, n];
                for _ in 0..1 + len / 512 {
                    v.push(rng.below(n as u64 + 1));
                }
                for _ in 0..1 + len / 4096 {
                    let p = rng.below(n as u64 + 1);
                    v.extend([p, p + 1, p + 1, p + 3].map(|q| q.min(n)));
                }
                v.sort_unstable();
                Some(v)
            }
        }
    }
}

/// The variants of the family rows of `dtype`: forward, reverse, exclusive and the two kinds
/// of segments; a full run adds their combinations for int32 and float32, and the one that
/// combines reverse, exclusive and random segments for the other dtypes.
fn variants(dtype: DType, quick: bool) -> Vec<Variant> {
    use Cuts::*;
    let mut v = vec![
        Variant::new(false, false, Whole),
        Variant::new(true, false, Whole),
        Variant::new(false, true, Whole),
        Variant::new(false, false, Random),
        Variant::new(false, false, Each),
    ];
    if quick {
        return v;
    }
    if matches!(dtype, DType::Int32 | DType::Float32) {
        v.extend([
            Variant::new(true, true, Whole),
            Variant::new(true, false, Random),
            Variant::new(false, true, Random),
        ]);
    }
    v.push(Variant::new(true, true, Random));
    if matches!(dtype, DType::Int32 | DType::Float32) {
        v.push(Variant::new(true, true, Each));
    }
    v
}

/// The loop dtypes of the family rows that the adapter runs: int32 and float32, and without
/// `quick` also bool, int64, float16 and float64 (whose kernels take lavapipe some seconds
/// to compile for each operation and strategy).
fn family_dtypes(contexts: &Contexts, quick: bool) -> Vec<DType> {
    let want: &[DType] = if quick {
        &[DType::Int32, DType::Float32]
    } else {
        &[
            DType::Bool,
            DType::Int32,
            DType::Int64,
            DType::Float16,
            DType::Float32,
            DType::Float64,
        ]
    };
    let runs = contexts.small.gpu_dtypes();
    want.iter().copied().filter(|d| runs.contains(d)).collect()
}

/// One row of the table: a strategy, dtype and layout over all their scans.
#[derive(Default)]
struct Row {
    runs: usize,
    seconds: f64,
    fallbacks: u64,
    mismatches: u64,
    failure: Option<String>,
}

/// What a row covers: a layout of plain cumsums, or one variant of one operation of the
/// family along all three layouts.
#[derive(Copy, Clone, Debug)]
enum RowSpec {
    Plain {
        strategy: Strategy,
        dtype: DType,
        layout: Layout,
    },
    Family {
        strategy: Strategy,
        dtype: DType,
        op: ScanOp,
        variant: Variant,
    },
}

impl RowSpec {
    fn strategy(self) -> Strategy {
        match self {
            RowSpec::Plain { strategy, .. } | RowSpec::Family { strategy, .. } => strategy,
        }
    }

    fn dtype(self) -> DType {
        match self {
            RowSpec::Plain { dtype, .. } | RowSpec::Family { dtype, .. } => dtype,
        }
    }

    fn case(self) -> String {
        match self {
            RowSpec::Plain { layout, .. } => layout.name().to_string(),
            RowSpec::Family { op, variant, .. } => variant.label(op),
        }
    }

    fn op(self) -> ScanOp {
        match self {
            RowSpec::Plain { .. } => ScanOp::Sum,
            RowSpec::Family { op, .. } => op,
        }
    }

    fn variant(self) -> Variant {
        match self {
            RowSpec::Plain { .. } => Variant::new(false, false, Cuts::Whole),
            RowSpec::Family { variant, .. } => variant,
        }
    }
}

/// The contexts the scans run on.
struct Contexts {
    normal: Context,
    small: Context,
    tile: TileConfig,
}

impl Contexts {
    fn of(&self, scan: &ScanCase) -> &Context {
        if scan.small_bindings {
            &self.small
        } else {
            &self.normal
        }
    }
}

/// The spin limits a scan runs under: the default and 1 for the chained scan, and 0 where the
/// quadratic work of every step falling back stays small.
fn spin_limits(strategy: Strategy, scan: &ScanCase, tile: TileConfig) -> Vec<u32> {
    if strategy != Strategy::Chained {
        return vec![SPIN_LIMIT];
    }
    let Ok(g) = scan.geometry() else {
        return vec![SPIN_LIMIT];
    };
    let tile_rows = tile.tile_rows(tile.tile_cols(g.cols)) as u64;
    let chain = g.lane_len.min(g.rows).div_ceil(tile_rows);
    let mut limits = vec![SPIN_LIMIT, 1];
    if chain <= SPIN_ZERO_TILES {
        limits.push(0);
    }
    limits
}

/// Runs `scan` under every spin limit and repeat, checking each result with `check` (given
/// the result and its `.npy` bytes) and every run against the first run's bits; `Err` says
/// what went wrong first. The default spin limit is restored whatever happens.
fn repeat_runs(
    ctx: &Context,
    spins: &[u32],
    repeats: usize,
    row: &mut Row,
    what: &str,
    scan: impl Fn() -> gpuscan::Result<Array>,
    check: impl Fn(&Array, &[u8]) -> Result<(), String>,
) -> Result<(), String> {
    let mut first: Option<Vec<u8>> = None;
    let mut runs = || -> Result<(), String> {
        for (k, &spin) in spins.iter().enumerate() {
            ctx.set_spin_limit(spin).map_err(|e| e.to_string())?;
            // Other spin limits repeat the default's result already: one run each is enough.
            let runs = if k == 0 { repeats } else { repeats.min(2) - 1 }.max(1);
            for run in 0..runs {
                let what = format!("{what} spin limit {spin} run {run}");
                let start = Instant::now();
                let got = scan().map_err(|e| format!("{what}: {e}"))?;
                row.seconds += start.elapsed().as_secs_f64();
                row.runs += 1;
                let bytes = npy_bytes(&got)?;
                check(&got, &bytes).map_err(|e| format!("{what}: {e}"))?;
                match &first {
                    Some(f) if bytes != *f => {
                        return Err(format!("{what}: the bits differ from the first run"));
                    }
                    Some(_) => {}
                    None => first = Some(bytes),
                }
            }
        }
        Ok(())
    };
    let result = runs();
    let restored = ctx.set_spin_limit(SPIN_LIMIT).map_err(|e| e.to_string());
    result.and(restored)
}

/// Runs one cumsum under every spin limit and repeat; `Err` says what went wrong first.
fn check_scan(
    ctx: &Context,
    strategy: Strategy,
    dtype: DType,
    scan: &ScanCase,
    spins: &[u32],
    repeats: usize,
    row: &mut Row,
) -> Result<(), String> {
    let case = Case {
        dtype,
        shape: scan.shape.clone(),
        axis: scan.axis,
    };
    let what = case.label();
    let input = case.input().map_err(|e| format!("{what}: {}", e.0))?;
    let options: Cumsum = case.options().dtype(dtype).strategy(strategy);
    let gpu = options.device(Device::Gpu);
    let g = scan.geometry().map_err(|e| format!("{what}: {e}"))?;
    // Integers must equal the CPU's bytes; every run must equal the first run's.
    let reference = if dtype.is_float() {
        None
    } else {
        let cpu = ctx
            .cumsum(&input, &options.device(Device::Cpu))
            .map_err(|e| format!("{what}: {e}"))?;
        Some(npy_bytes(&cpu)?)
    };
    let x = input.astype(DType::Float64);
    let x = x.as_slice::<f64>().map_err(|e| e.to_string())?;
    repeat_runs(
        ctx,
        spins,
        repeats,
        row,
        &what,
        || ctx.cumsum(&input, &gpu),
        |got, bytes| match &reference {
            Some(want) if bytes != want.as_slice() => Err("differs from the CPU".into()),
            Some(_) => Ok(()),
            None => gpuscan::tolerance::check_close(got, x, &g, dtype),
        },
    )
}

/// Runs one scan of a family row, as [`check_scan`] does: integers, bools, cummax and cummin
/// equal to the CPU's bytes (NaN payloads included), other floats within
/// [`family_tolerances`] of the CPU's fast order.
#[allow(clippy::too_many_arguments)]
fn check_family_scan(
    ctx: &Context,
    strategy: Strategy,
    op: ScanOp,
    variant: Variant,
    dtype: DType,
    case: &ScanCase,
    spins: &[u32],
    repeats: usize,
    row: &mut Row,
) -> Result<(), String> {
    let shape = Case {
        dtype,
        shape: case.shape.clone(),
        axis: case.axis,
    }
    .label();
    let what = format!("{} {shape}", variant.label(op));
    let (_, lane, _) = case.split();
    let mut rng = SplitMix64::seeded(op, dtype, &case.shape);
    let input =
        family_input(op, dtype, &case.shape, &mut rng).map_err(|e| format!("{what}: {e}"))?;
    let mut scan = Scan::new(op)
        .dtype(dtype)
        .reverse(variant.reverse)
        .exclusive(variant.exclusive);
    scan.axis = case.axis.map(|a| a as isize);
    scan.segments = variant.offsets(lane, &mut rng);
    let cpu = ctx
        .scan(&input, &scan.clone().device(Device::Cpu))
        .map_err(|e| format!("{what}: the CPU: {e}"))?;
    let want = npy_bytes(&cpu)?;
    let exact = !dtype.is_float() || matches!(op, ScanOp::Max | ScanOp::Min);
    let close = if exact {
        None
    } else {
        let x = loaded(&input, op)?;
        let c = cpu
            .astype(DType::Float64)
            .into_vec::<f64>()
            .map_err(|e| e.to_string())?;
        let tol = family_tolerances(&x, &c, case, &scan, dtype);
        Some((c, tol))
    };
    let gpu = scan.device(Device::Gpu).strategy(strategy);
    repeat_runs(
        ctx,
        spins,
        repeats,
        row,
        &what,
        || ctx.scan(&input, &gpu),
        |got, bytes| match &close {
            None if bytes != want.as_slice() => Err(first_difference(got, &cpu)),
            None => Ok(()),
            Some((c, tol)) => {
                if got.dtype() != cpu.dtype() || got.shape() != cpu.shape() {
                    return Err(format!(
                        "got {} {:?}, the CPU {} {:?}",
                        got.dtype(),
                        got.shape(),
                        cpu.dtype(),
                        cpu.shape()
                    ));
                }
                check_within(got, c, tol)
            }
        },
    )
}

/// Names the first element where `got` and the CPU's `want` differ in their bits.
fn first_difference(got: &Array, want: &Array) -> String {
    if got.dtype() != want.dtype() || got.shape() != want.shape() {
        return format!(
            "got {} {:?}, the CPU {} {:?}",
            got.dtype(),
            got.shape(),
            want.dtype(),
            want.shape()
        );
    }
    let bits = |a: &Array| -> Vec<u64> {
        match a.dtype() {
            DType::Float16 => a.as_slice::<f16>().map_or(Vec::new(), |v| {
                v.iter().map(|x| x.to_bits() as u64).collect()
            }),
            DType::Float32 => a.as_slice::<f32>().map_or(Vec::new(), |v| {
                v.iter().map(|x| x.to_bits() as u64).collect()
            }),
            DType::Float64 => a
                .as_slice::<f64>()
                .map_or(Vec::new(), |v| v.iter().map(|x| x.to_bits()).collect()),
            _ => a
                .astype(DType::Int64)
                .into_vec::<i64>()
                .map_or(Vec::new(), |v| v.into_iter().map(|x| x as u64).collect()),
        }
    };
    let (g, w) = (bits(got), bits(want));
    let (gf, wf) = (got.astype(DType::Float64), want.astype(DType::Float64));
    let (gf, wf) = (gf.as_slice::<f64>(), wf.as_slice::<f64>());
    match (g.iter().zip(&w).position(|(a, b)| a != b), gf, wf) {
        (Some(i), Ok(gf), Ok(wf)) if got.dtype().is_float() => format!(
            "differs from the CPU at element {i}: got {} (bits {:#x}), the CPU {} (bits {:#x})",
            gf[i], g[i], wf[i], w[i]
        ),
        (Some(i), _, _) => format!(
            "differs from the CPU at element {i}: got {}, the CPU {}",
            g[i] as i64, w[i] as i64
        ),
        _ => "differs from the CPU".into(),
    }
}

/// The input of a float scan as its loop sees it, in float64: NaN counted as 0 or 1 by the
/// nan* scans.
fn loaded(input: &Array, op: ScanOp) -> Result<Vec<f64>, String> {
    let mut x = input
        .astype(DType::Float64)
        .into_vec::<f64>()
        .map_err(|e| e.to_string())?;
    let to = match op {
        ScanOp::NanSum => 0.0,
        ScanOp::NanProd => 1.0,
        _ => return Ok(x),
    };
    x.iter_mut().filter(|v| v.is_nan()).for_each(|v| *v = to);
    Ok(x)
}

/// How far each element of the GPU's float scan (sums, products, logcumsumexp in `dtype`)
/// may be from the CPU's fast-order result `cpu` of the same scan; `None` where it is not
/// compared. Each bound is twice a bound on either result's distance from the exact value
/// (the triangle inequality), over the k elements combined into the element (in scan order,
/// from the start of its segment; for exclusive scans those before it):
/// - sums: docs/NUMPY_SEMANTICS.md section 7's `eps * (16 + sqrt(n)) * sum |x|`, n the lane's
///   length (at least the segment's), which both the GPU's tree orders and the CPU's
///   sequential or blocked order meet;
/// - products: any evaluation order of k factors multiplies k - 1 times, and WGSL rounds a
///   product faithfully (within one ulp, eps relative), so either result is within
///   `g = (1 + eps)^(k - 1) - 1` relative of the exact product P, the two differ by at most
///   `2 g |P| <= 2 g / (1 - g) * |cpu|`; elements where `g >= 1/2` (float16 lanes of
///   hundreds of factors) say nothing and are skipped;
/// - logcumsumexp: every step rounds its result by a few ulp (at most 4 from the exp, log1p
///   and final addition) and is 1-Lipschitz in each argument, so the errors add but never
///   grow: `(k + 2) * 8 * eps * max(1, M)` from the exact value, M the largest magnitude of
///   the inputs combined and the result (tests/family.rs uses the same bound against a
///   float64 reference).
///
/// Non-finite results must match (NaN as NaN), which an empty exclusive logcumsumexp (-inf)
/// does; sums that could reach the largest finite value are skipped.
fn family_tolerances(
    x: &[f64],
    cpu: &[f64],
    case: &ScanCase,
    scan: &Scan,
    dtype: DType,
) -> Vec<Option<f64>> {
    let (outer, lane, cols) = case.split();
    let cuts = scan
        .segments
        .clone()
        .unwrap_or_else(|| vec![0, lane as i64]);
    let e = eps(dtype);
    let largest = max_finite(dtype);
    let rtol = e * (16.0 + (lane as f64).sqrt());
    let mut tol = vec![None; x.len()];
    for o in 0..outer {
        for c in 0..cols {
            for w in cuts.windows(2) {
                let (start, end) = (w[0] as usize, w[1] as usize);
                let (mut k, mut sum, mut most) = (0usize, 0.0f64, 0.0f64);
                for j in 0..end - start {
                    let p = if scan.reverse { end - 1 - j } else { start + j };
                    let i = (o * lane + p) * cols + c;
                    let before = (k, sum, most);
                    k += 1;
                    sum += x[i].abs();
                    most = most.max(x[i].abs());
                    let (k, sum, most) = if scan.exclusive {
                        before
                    } else {
                        (k, sum, most)
                    };
                    let r = cpu[i].abs();
                    tol[i] = match scan.op {
                        ScanOp::Sum | ScanOp::NanSum => {
                            (sum * (1.0 + 2.0 * rtol) < largest).then_some(2.0 * rtol * sum)
                        }
                        ScanOp::Prod | ScanOp::NanProd => {
                            let g = (1.0 + e).powi(k.saturating_sub(1) as i32) - 1.0;
                            (g < 0.5 && r < largest / 2.0).then_some(2.0 * g / (1.0 - g) * r)
                        }
                        _ => Some(2.0 * (k as f64 + 2.0) * 8.0 * e * most.max(r).max(1.0)),
                    };
                }
            }
        }
    }
    tol
}

/// Checks `got` against the CPU's `want` within `tol` per element (see [`family_tolerances`]).
fn check_within(got: &Array, want: &[f64], tol: &[Option<f64>]) -> Result<(), String> {
    let got = got
        .astype(DType::Float64)
        .into_vec::<f64>()
        .map_err(|e| e.to_string())?;
    for (i, ((&g, &w), t)) in got.iter().zip(want).zip(tol).enumerate() {
        let Some(t) = *t else { continue };
        if !g.is_finite() || !w.is_finite() {
            if !(g.to_bits() == w.to_bits() || (g.is_nan() && w.is_nan())) {
                return Err(format!("element {i}: got {g}, the CPU {w}"));
            }
        } else if (g - w).abs() > t {
            return Err(format!(
                "element {i}: got {g}, the CPU {w} (tolerance {t:e})"
            ));
        }
    }
    Ok(())
}

/// The input of a family scan of `op` in its loop dtype, chosen so that every result stays in
/// range and every element counts:
/// - sums: integers in [-100, 100), floats in [-1, 1) (NaN at one element in 37 for
///   nancumsum);
/// - products: ±1 and some 3s for integers (odd, so no wrapping product collapses to 0),
///   floats within 1 ± 0.005 (NaN at one in 37 for nancumprod);
/// - cummax and cummin: a random walk, so the running extreme keeps changing in either
///   direction, with the dtype's lowest and highest integers, signed float zeros, and NaNs
///   (one in about 4096, each followed by a second of another payload and sign three
///   elements on, so the first NaN's payload must come through);
/// - logcumsumexp: values in [-20, 20];
/// - bool: mostly true for products and cummin, mostly false otherwise.
fn family_input(
    op: ScanOp,
    dtype: DType,
    shape: &[usize],
    rng: &mut SplitMix64,
) -> Result<Array, String> {
    let n: usize = shape.iter().product();
    let extreme = matches!(op, ScanOp::Max | ScanOp::Min);
    let product = matches!(op, ScanOp::Prod | ScanOp::NanProd);
    let err = |e: gpuscan::Error| e.to_string();
    if dtype == DType::Bool {
        let mostly = product || op == ScanOp::Min;
        let v: Vec<bool> = (0..n).map(|_| (rng.below(64) == 0) != mostly).collect();
        return Array::from_shape_vec(shape, v).map_err(err);
    }
    if !dtype.is_float() {
        let (lowest, highest) = match dtype {
            DType::Int64 => (i64::MIN, i64::MAX),
            _ => (i32::MIN as i64, i32::MAX as i64),
        };
        let mut walk = 0i64;
        let v: Vec<i64> = (0..n)
            .map(|_| {
                if product {
                    [1, -1, 1, -1, 3, -3, 1, -1][rng.below(8) as usize]
                } else if extreme {
                    match rng.below(1000) {
                        0 => lowest,
                        1 => highest,
                        _ => {
                            walk += rng.below(101) - 50;
                            walk
                        }
                    }
                } else {
                    rng.below(200) - 100
                }
            })
            .collect();
        return Ok(Array::from_shape_vec(shape, v).map_err(err)?.astype(dtype));
    }
    let mut walk = 0.0f64;
    let values: Vec<f64> = (0..n)
        .map(|_| {
            let u = rng.unit();
            match op {
                ScanOp::Prod | ScanOp::NanProd => 1.0 + 0.01 * (u - 0.5),
                ScanOp::LogAddExp => 40.0 * u - 20.0,
                ScanOp::Max | ScanOp::Min => match rng.below(64) {
                    0 => 0.0,
                    1 => -0.0,
                    _ => {
                        walk += 2.0 * u - 1.0;
                        walk
                    }
                },
                _ => 2.0 * u - 1.0,
            }
        })
        .collect();
    // NaN sites, each with its own payload and sign.
    let mut nans: Vec<(usize, u64)> = Vec::new();
    let one_in = match op {
        ScanOp::NanSum | ScanOp::NanProd => 37,
        ScanOp::Max | ScanOp::Min => 4096,
        _ => 0,
    };
    for i in 0..n {
        if one_in > 0 && rng.below(one_in) == 0 {
            nans.push((i, rng.next()));
            if extreme && i + 3 < n {
                nans.push((i + 3, rng.next()));
            }
        }
    }
    // Quiet NaNs (some GPUs quiet signalling ones), the payload's other bits random.
    let a = match dtype {
        DType::Float16 => {
            let mut v: Vec<f16> = values.iter().map(|&x| f16::from_f64(x)).collect();
            for &(i, r) in &nans {
                v[i] = f16::from_bits(0x7e00 | (r as u16 & 0x81ff));
            }
            Array::from_shape_vec(shape, v)
        }
        DType::Float32 => {
            let mut v: Vec<f32> = values.iter().map(|&x| x as f32).collect();
            for &(i, r) in &nans {
                v[i] = f32::from_bits(0x7fc0_0000 | (r as u32 & 0x803f_ffff));
            }
            Array::from_shape_vec(shape, v)
        }
        _ => {
            let mut v = values;
            for &(i, r) in &nans {
                v[i] = f64::from_bits(0x7ff8_0000_0000_0000 | (r & 0x8007_ffff_ffff_ffff));
            }
            Array::from_shape_vec(shape, v)
        }
    };
    a.map_err(err)
}

/// A small, fast, deterministic generator (Steele, Lea and Flood's SplitMix64).
struct SplitMix64(u64);

impl SplitMix64 {
    /// A fixed seed per operation, dtype and shape: every run sees the same data.
    fn seeded(op: ScanOp, dtype: DType, shape: &[usize]) -> SplitMix64 {
        let op = ScanOp::ALL.iter().position(|&o| o == op).unwrap_or(0) as u64;
        let dtype = DType::ALL.iter().position(|&d| d == dtype).unwrap_or(0) as u64;
        let mut s = 0x5e1f_7e57 ^ (op << 56) ^ (dtype << 48);
        for &d in shape {
            s = s.rotate_left(21) ^ d as u64;
        }
        SplitMix64(s)
    }

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

    /// Uniform in [0, n).
    fn below(&mut self, n: u64) -> i64 {
        (self.next() % n) as i64
    }
}

/// The bytes `np.save` would write: equal bytes are equal dtype, shape and bits, NaN payloads
/// included.
fn npy_bytes(a: &Array) -> Result<Vec<u8>, String> {
    let mut v = Vec::new();
    gpuscan::npy::write(&mut v, a).map_err(|e| e.to_string())?;
    Ok(v)
}

fn run_row(contexts: &Contexts, spec: RowSpec, quick: bool) -> Row {
    let mut row = Row::default();
    let repeats = if quick { 2 } else { 3 };
    let max_bytes = contexts
        .normal
        .device()
        .map_or(0, |d| d.limits().max_buffer_size);
    for ctx in [&contexts.normal, &contexts.small] {
        let _ = ctx.take_counters();
    }
    let (strategy, dtype) = (spec.strategy(), spec.dtype());
    let cases: Vec<ScanCase> = match spec {
        RowSpec::Plain { layout, .. } => scans(layout, dtype, contexts.tile, quick, max_bytes),
        RowSpec::Family { variant, .. } => {
            let (lengths, all_small) = family_lengths(dtype, variant, quick);
            Layout::ALL
                .into_iter()
                .flat_map(|l| family_scans(l, dtype, contexts.tile, lengths, all_small))
                .collect()
        }
    };
    for case in cases {
        let ctx = contexts.of(&case);
        let result = match spec {
            RowSpec::Plain { .. } => {
                let spins = spin_limits(strategy, &case, contexts.tile);
                check_scan(ctx, strategy, dtype, &case, &spins, repeats, &mut row)
            }
            RowSpec::Family { op, variant, .. } => {
                // The plain rows run every spin limit; a full run adds spin limit 1 (the
                // chained scan's fallbacks, within segments and in reverse) up to a level.
                let small = case.shape.iter().product::<usize>() < 1 << 20;
                let spins = if strategy == Strategy::Chained && !quick && small {
                    vec![SPIN_LIMIT, 1]
                } else {
                    vec![SPIN_LIMIT]
                };
                check_family_scan(
                    ctx, strategy, op, variant, dtype, &case, &spins, repeats, &mut row,
                )
            }
        };
        if let Err(e) = result {
            row.failure = Some(e);
            break;
        }
    }
    for ctx in [&contexts.normal, &contexts.small] {
        match ctx.take_counters() {
            Ok(c) => {
                row.fallbacks += c.fallbacks;
                row.mismatches += c.mismatches;
            }
            Err(e) => row.failure = row.failure.take().or(Some(e.to_string())),
        }
    }
    if row.mismatches > 0 && row.failure.is_none() {
        row.failure = Some(format!("{} mismatched publications", row.mismatches));
    }
    row
}

/// A `--strategy` term: `auto` is refused, as it would test whichever the table picks.
fn strategy(name: &str) -> Result<Strategy, String> {
    match values::named(name)? {
        Strategy::Auto => Err(
            "selftest tests each strategy by name: blelloch, reduce-then-scan, chained or all"
                .into(),
        ),
        s => Ok(s),
    }
}

/// Every row of the run, in order: the plain cumsum rows (when cumsum is tested), then the
/// family rows. The plain forward cumsum is left to the plain rows, which test it on every
/// dtype; logcumsumexp runs in floats only.
fn row_specs(
    contexts: &Contexts,
    strategies: &[Strategy],
    ops: &[ScanOp],
    quick: bool,
) -> Vec<RowSpec> {
    let mut specs = Vec::new();
    let plain = ops.contains(&ScanOp::Sum);
    if plain {
        for &strategy in strategies {
            for dtype in contexts.normal.gpu_dtypes() {
                for layout in Layout::ALL {
                    specs.push(RowSpec::Plain {
                        strategy,
                        dtype,
                        layout,
                    });
                }
            }
        }
    }
    let dtypes = family_dtypes(contexts, quick);
    for &strategy in strategies {
        for &dtype in &dtypes {
            for &op in ops {
                if op == ScanOp::LogAddExp && !dtype.is_float() {
                    continue;
                }
                for variant in variants(dtype, quick) {
                    if op == ScanOp::Sum && variant.is_plain() && plain {
                        continue;
                    }
                    specs.push(RowSpec::Family {
                        strategy,
                        dtype,
                        op,
                        variant,
                    });
                }
            }
        }
    }
    specs
}

pub fn run(args: Args) -> Result<(), CliError> {
    let strategies = values::expand(&args.strategy, &ALL_STRATEGIES);
    let ops = values::expand(&args.ops, &ScanOp::ALL);
    let normal = Context::new()?;
    let Some(info) = normal.adapter_info().cloned() else {
        return Err(CliError(format!(
            "no GPU adapter: {}",
            normal.gpu_unavailable_reason().unwrap_or("unknown reason")
        )));
    };
    let tile = TileConfig::default();
    let small = Context::with_options(
        ContextOptions::default()
            .max_binding_bytes(SMALL_BINDING)
            .batch_bytes(SMALL_BATCH),
    )?;
    let contexts = Contexts {
        normal,
        small,
        tile,
    };
    let specs = row_specs(&contexts, &strategies, &ops, args.quick);
    let case_width = specs
        .iter()
        .map(|s| s.case().len())
        .max()
        .unwrap_or(0)
        .max(10);
    let probe = contexts.normal.probe_report();
    let mut out = std::io::stdout().lock();
    let print = |out: &mut std::io::StdoutLock<'_>, line: String| {
        let _ = writeln!(out, "{line}");
        let _ = out.flush();
    };
    if args.json {
        let adapter = json!({
            "adapter": info.name,
            "backend": info.backend.to_string(),
            "driver": info.driver,
            "driver_info": info.driver_info,
            "quick": args.quick,
            "probe": probe.as_ref().map(probe_json),
        });
        print(&mut out, adapter.to_string());
    } else {
        print(
            &mut out,
            format!(
                "gpuscan selftest{} on {} ({}, {} {})",
                if args.quick { " --quick" } else { "" },
                info.name,
                info.backend,
                info.driver,
                info.driver_info
            ),
        );
        if let Some(p) = &probe {
            print(&mut out, format!("probe: {p}"));
        }
        print(
            &mut out,
            format!(
                "{:<17} {:<8} {:<case_width$} {:<6} {:>5} {:>10} {:>10} {:>10}",
                "strategy", "dtype", "case", "result", "runs", "time", "fallbacks", "mismatches"
            ),
        );
    }
    let started = Instant::now();
    let (mut rows, mut failed) = (0, 0);
    for spec in specs {
        let row = run_row(&contexts, spec, args.quick);
        rows += 1;
        failed += usize::from(row.failure.is_some());
        let (strategy, dtype, variant) = (spec.strategy(), spec.dtype(), spec.variant());
        // Fallbacks are counted by the chained scan alone.
        let chained = strategy == Strategy::Chained;
        if args.json {
            let line = json!({
                "strategy": strategy.name(),
                "dtype": dtype.name(),
                "case": spec.case(),
                "op": spec.op().name(),
                "reverse": variant.reverse,
                "exclusive": variant.exclusive,
                "segments": variant.segments_name(),
                "pass": row.failure.is_none(),
                "runs": row.runs,
                "seconds": row.seconds,
                "fallbacks": chained.then_some(row.fallbacks),
                "mismatches": chained.then_some(row.mismatches),
                "failure": row.failure,
            });
            print(&mut out, line.to_string());
        } else {
            let count = |n: u64| if chained { n.to_string() } else { "-".into() };
            let mut line = format!(
                "{:<17} {:<8} {:<case_width$} {:<6} {:>5} {:>8.3} s {:>10} {:>10}",
                strategy.name(),
                dtype.name(),
                spec.case(),
                if row.failure.is_some() {
                    "FAIL"
                } else {
                    "pass"
                },
                row.runs,
                row.seconds,
                count(row.fallbacks),
                count(row.mismatches),
            );
            if let Some(f) = &row.failure {
                line.push_str(&format!("  {f}"));
            }
            print(&mut out, line);
        }
    }
    let elapsed = started.elapsed().as_secs_f64();
    if args.json {
        let summary = json!({"rows": rows, "failed": failed, "seconds": elapsed});
        print(&mut out, summary.to_string());
    } else {
        print(&mut out, format!("{rows} rows in {elapsed:.1} s"));
        print(
            &mut out,
            format!("selftest: {} passed, {failed} failed", rows - failed),
        );
    }
    if failed > 0 {
        return Err(CliError(format!(
            "selftest: {failed} of {rows} rows failed"
        )));
    }
    Ok(())
}
