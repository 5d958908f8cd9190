//! Every `gpuscan OP` of the scan family against numpy: each case of
//! tests/fixtures/family/cases.txt (written by tests/fixtures/make_family_fixtures.py with
//! numpy; its docstring and the manifest's comment lines give the format) runs the built binary
//! on the CPU in numpy's order, on the CPU in the fast order, and on the GPU with each
//! strategy, and its result (and `--indices` file) is compared with numpy's expected file:
//!
//! * bit for bit with `--device cpu --order exact`, for every case;
//! * bit for bit on every device and order for every case not named `float_*` (integer
//!   results, cummax/cummin, float data whose partial results are all exact), and for cummax /
//!   cummin whatever the name (they never round);
//! * within a tolerance justified by the operation for `float_*` cases elsewhere (see
//!   `check_float`): sums with `gpuscan::tolerance::check_close`, products with a relative
//!   bound of (k + 1) eps, logcumsumexp with an absolute bound of (k + 2) 4 eps max(1, |v|);
//!   NaN and infinity positions always as numpy's.
//!
//! NaNs compare as "any NaN" except in `*nanpayload*` cases, which compare the raw bits
//! (cummax/cummin keep the first NaN's payload). The offsets files of bad.txt must make every
//! command exit 2 with one line on stderr that names the problem, and leave no file behind.

// The library's integration-test helpers, shared rather than copied.
#[path = "../../tests/common/mod.rs"]
mod common;
mod support;

use std::ffi::{OsStr, OsString};
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::Instant;

use support::TempDir;

use gpuscan::plan::Geometry;
use gpuscan::tolerance::{check_close, eps, max_finite, round_to};
use gpuscan::{npy, Array, Context, DType, Data, ScanOp};

const BIN: &str = env!("CARGO_BIN_EXE_gpuscan");

/// The GPU strategies every case runs with (`auto` picks one of them).
const STRATEGIES: [&str; 3] = ["blelloch", "reduce-then-scan", "chained"];

/// Set to 1 to run every case with every GPU strategy (see `gpu_jobs`).
const ALL_STRATEGIES_VAR: &str = "GPUSCAN_FAMILY_ALL_STRATEGIES";

// The fixtures stay under the library's tests/: its npy unit tests read them too.
fn family(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../tests/fixtures/family")
        .join(name)
}

fn gpuscan<I, S>(op: &str, args: I) -> Output
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    let mut cmd = Command::new(BIN);
    cmd.arg(op).args(args);
    // Mesa's window-system probe prints a line without a runtime directory, so that stderr
    // would not hold only what gpuscan says.
    if std::env::var_os("XDG_RUNTIME_DIR").is_none() {
        cmd.env("XDG_RUNTIME_DIR", std::env::temp_dir());
    }
    cmd.output().expect("run the gpuscan binary")
}

/// A GPU run is wanted (see `common::gpu_wanted`).
fn gpu_available() -> bool {
    let ctx = Context::new().expect("a default context");
    common::gpu_wanted(ctx.has_gpu(), ctx.gpu_unavailable_reason().unwrap_or(""))
}

// ---------------------------------------------------------------------------------------------
// The manifests

/// How an operation combines, for the tolerance.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
enum Kind {
    Sum,
    Prod,
    Extreme,
    LogAddExp,
}

struct Case {
    name: String,
    op: String,
    input: String,
    expected: String,
    indices: Option<String>,
    segments: Option<String>,
    args: Vec<String>,
}

impl Case {
    fn kind(&self) -> Kind {
        match self.op.as_str() {
            "cumsum" | "nancumsum" | "cumulative-sum" => Kind::Sum,
            "cumprod" | "nancumprod" | "cumulative-prod" => Kind::Prod,
            "cummax" | "cummin" => Kind::Extreme,
            "logcumsumexp" => Kind::LogAddExp,
            other => panic!("{}: unknown operation {other:?} in cases.txt", self.name),
        }
    }

    fn scan_op(&self) -> ScanOp {
        match self.op.as_str() {
            "cumsum" | "cumulative-sum" => ScanOp::Sum,
            "cumprod" | "cumulative-prod" => ScanOp::Prod,
            "nancumsum" => ScanOp::NanSum,
            "nancumprod" => ScanOp::NanProd,
            "cummax" => ScanOp::Max,
            "cummin" => ScanOp::Min,
            "logcumsumexp" => ScanOp::LogAddExp,
            other => panic!("{}: unknown operation {other:?} in cases.txt", self.name),
        }
    }

    /// NaN inputs count as the identity (nancumsum, nancumprod).
    fn skips_nan(&self) -> bool {
        self.op.starts_with("nan")
    }

    /// Float data whose results depend on the combining order.
    fn rounds(&self) -> bool {
        self.name.starts_with("float_")
    }
}

fn cases() -> Vec<Case> {
    let text = fs::read_to_string(family("cases.txt")).expect("read family/cases.txt");
    let cases: Vec<Case> = text
        .lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
        .map(|l| {
            let mut words = l.split_whitespace().map(String::from);
            let mut next = || {
                words.next().unwrap_or_else(|| {
                    panic!("a case line names case, op, input, expected, indices, segments: {l}")
                })
            };
            let (name, op, input, expected, indices, segments) =
                (next(), next(), next(), next(), next(), next());
            let dash = |s: String| (s != "-").then_some(s);
            Case {
                name,
                op,
                input,
                expected,
                indices: dash(indices),
                segments: dash(segments),
                args: words.collect(),
            }
        })
        .collect();
    // A lost or truncated manifest must not pass as "nothing failed".
    assert!(
        cases.len() >= 700,
        "only {} cases in family/cases.txt",
        cases.len()
    );
    cases
}

struct BadCase {
    name: String,
    file: String,
    why: String,
}

fn bad_cases() -> Vec<BadCase> {
    let text = fs::read_to_string(family("bad.txt")).expect("read family/bad.txt");
    let bad: Vec<BadCase> = text
        .lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
        .map(|l| {
            let w: Vec<&str> = l.split_whitespace().collect();
            assert_eq!(w.len(), 3, "a bad.txt line is NAME FILE what-is-wrong: {l}");
            BadCase {
                name: w[0].into(),
                file: w[1].into(),
                why: w[2].into(),
            }
        })
        .collect();
    assert!(bad.len() >= 5, "only {} cases in family/bad.txt", bad.len());
    bad
}

/// numpy's arguments of a case, parsed back from its ARGS.
#[derive(Default)]
struct Options {
    axis: Option<isize>,
    dtype: Option<DType>,
    out_dtype: Option<DType>,
    reverse: bool,
    exclusive: bool,
    include_initial: bool,
}

fn options(case: &Case) -> Options {
    let mut o = Options::default();
    let mut args = case.args.iter();
    let dtype = |s: Option<&String>| -> DType {
        s.and_then(|s| s.parse().ok())
            .unwrap_or_else(|| panic!("{}: bad dtype in {:?}", case.name, case.args))
    };
    while let Some(a) = args.next() {
        match a.as_str() {
            "--axis" => {
                o.axis = Some(
                    args.next()
                        .and_then(|s| s.parse().ok())
                        .unwrap_or_else(|| panic!("{}: bad --axis", case.name)),
                )
            }
            "--dtype" => o.dtype = Some(dtype(args.next())),
            "--out-dtype" => o.out_dtype = Some(dtype(args.next())),
            "--reverse" => o.reverse = true,
            "--exclusive" => o.exclusive = true,
            "--include-initial" => o.include_initial = true,
            other => panic!("{}: unknown argument {other:?} in cases.txt", case.name),
        }
    }
    o
}

// ---------------------------------------------------------------------------------------------
// Running a case

#[derive(Copy, Clone)]
struct Mode {
    device: &'static str,
    /// `None` on the CPU.
    strategy: Option<&'static str>,
    order: &'static str,
}

impl Mode {
    fn tag(&self) -> String {
        format!(
            "{}/{}/{}",
            self.device,
            self.strategy.unwrap_or("-"),
            self.order
        )
    }

    /// numpy's own order: every result bit for bit.
    fn is_numpys_order(&self) -> bool {
        self.device == "cpu" && self.order == "exact"
    }
}

/// Runs one case; the reason it does not match numpy, if any.
fn check_case(case: &Case, mode: Mode, dir: &TempDir, job: usize) -> Result<(), String> {
    let out = dir.join(&format!("{job}.out.npy"));
    let idx = dir.join(&format!("{job}.indices.npy"));
    let mut args: Vec<OsString> = vec![
        family(&case.input).into(),
        "-o".into(),
        out.clone().into(),
        "--device".into(),
        mode.device.into(),
        "--order".into(),
        mode.order.into(),
    ];
    if let Some(s) = mode.strategy {
        args.extend(["--strategy".into(), s.into()]);
    }
    if case.indices.is_some() {
        args.extend(["--indices".into(), idx.clone().into()]);
    }
    if let Some(seg) = &case.segments {
        args.extend(["--segments".into(), family(seg).into()]);
    }
    args.extend(case.args.iter().map(Into::into));
    let run = gpuscan(&case.op, &args);
    let result = (|| {
        if !run.status.success() {
            return Err(format!(
                "exit {:?}: {}",
                run.status.code(),
                String::from_utf8_lossy(&run.stderr).trim()
            ));
        }
        let ours = npy::read(&out).map_err(|e| format!("reading our output: {e}"))?;
        let numpy = npy::read(&family(&case.expected)).map_err(|e| e.to_string())?;
        compare(case, mode, &ours, &numpy)?;
        if let Some(expected) = &case.indices {
            let ours = npy::read(&idx).map_err(|e| format!("reading our indices: {e}"))?;
            let want = npy::read(&family(expected)).map_err(|e| e.to_string())?;
            same_layout(&ours, &want).map_err(|e| format!("indices: {e}"))?;
            if ours.dtype() != DType::Int64 {
                return Err(format!("indices: got {}, want int64", ours.dtype()));
            }
            first_difference(&ours, &want, &common::bits(&ours), &common::bits(&want))
                .map_err(|e| format!("indices: {e}"))?;
        }
        Ok(())
    })();
    let _ = fs::remove_file(&out);
    let _ = fs::remove_file(&idx);
    result
}

fn same_layout(ours: &Array, numpy: &Array) -> Result<(), String> {
    if (ours.dtype(), ours.shape()) != (numpy.dtype(), numpy.shape()) {
        return Err(format!(
            "got {} {:?}, numpy gives {} {:?}",
            ours.dtype(),
            ours.shape(),
            numpy.dtype(),
            numpy.shape()
        ));
    }
    Ok(())
}

/// One element, exactly (floats also as their bits).
fn show(a: &Array, i: usize) -> String {
    match a.data() {
        Data::Bool(v) => v[i].to_string(),
        Data::Int8(v) => v[i].to_string(),
        Data::Int16(v) => v[i].to_string(),
        Data::Int32(v) => v[i].to_string(),
        Data::Int64(v) => v[i].to_string(),
        Data::UInt8(v) => v[i].to_string(),
        Data::UInt16(v) => v[i].to_string(),
        Data::UInt32(v) => v[i].to_string(),
        Data::UInt64(v) => v[i].to_string(),
        Data::Float16(v) => format!("{:?} ({:#06x})", v[i].to_f64(), v[i].to_bits()),
        Data::Float32(v) => format!("{:?} ({:#010x})", v[i], v[i].to_bits()),
        Data::Float64(v) => format!("{:?} ({:#018x})", v[i], v[i].to_bits()),
    }
}

/// `Err` naming the first element whose bits differ, with both arrays when they are small.
fn first_difference(ours: &Array, numpy: &Array, a: &[u64], b: &[u64]) -> Result<(), String> {
    let Some(i) = (0..a.len()).find(|&i| a[i] != b[i]) else {
        return Ok(());
    };
    let count = (0..a.len()).filter(|&i| a[i] != b[i]).count();
    let mut msg = format!(
        "{count} of {} elements differ; first: element {i}: got {}, numpy gives {}",
        a.len(),
        show(ours, i),
        show(numpy, i)
    );
    if a.len() <= 40 {
        msg += &format!("\n  got   {ours}\n  numpy {numpy}");
    }
    Err(msg)
}

/// The comparison of ours with numpy's result that `case` and `mode` call for.
fn compare(case: &Case, mode: Mode, ours: &Array, numpy: &Array) -> Result<(), String> {
    same_layout(ours, numpy)?;
    // Bit for bit: numpy's order; every case whose partial results are all exact; cummax and
    // cummin, which only select (they never round, so no order changes a bit; the fixtures
    // already follow our signed-zero rule); and non-float results of a float loop, where a
    // tolerance would mean nothing.
    let bitwise = mode.is_numpys_order()
        || !case.rounds()
        || case.kind() == Kind::Extreme
        || !ours.dtype().is_float();
    if bitwise {
        let (a, b) = if case.name.contains("nanpayload") {
            (common::bits(ours), common::bits(numpy))
        } else {
            (common::canonical_bits(ours), common::canonical_bits(numpy))
        };
        return first_difference(ours, numpy, &a, &b);
    }
    let input = npy::read(&family(&case.input)).map_err(|e| e.to_string())?;
    let segments = match &case.segments {
        None => None,
        Some(s) => {
            let a = npy::read(&family(s)).map_err(|e| e.to_string())?;
            Some(a.astype(DType::Int64).into_vec::<i64>().unwrap())
        }
    };
    check_float(case, &input, segments.as_deref(), ours, numpy)
}

// ---------------------------------------------------------------------------------------------
// The tolerance of float_* cases off numpy's order

/// One scan run: the combined values in scan order (cast to the loop dtype) and, per output
/// element, how many of them it combines (its prefix length k; 0 is the identity).
struct ScanRun {
    values: Vec<f64>,
    outputs: Vec<(usize, usize)>,
}

/// Every run of a case's scan: the lanes along the axis (the flattened array without
/// --axis), split at the segment offsets, each read forward or (--reverse) backward; with
/// --exclusive an element combines the ones strictly before it in scan order; with
/// --include-initial the axis gains a leading identity.
fn scan_runs(
    input: &[f64],
    shape: &[usize],
    o: &Options,
    segments: Option<&[i64]>,
) -> Vec<ScanRun> {
    let shape: Vec<usize> = if shape.is_empty() {
        vec![1]
    } else {
        shape.to_vec()
    };
    let total: usize = shape.iter().product();
    let (outer, len, inner) = match o.axis {
        None => (1, total, 1),
        Some(a) => {
            let ax = if a < 0 { a + shape.len() as isize } else { a } as usize;
            (
                shape[..ax].iter().product(),
                shape[ax],
                shape[ax + 1..].iter().product(),
            )
        }
    };
    let init = o.include_initial as usize;
    let out_len = len + init;
    let whole = [0, len as i64];
    let offsets = segments.unwrap_or(&whole);
    let mut runs = Vec::new();
    for q in 0..outer {
        for c in 0..inner {
            if init == 1 {
                runs.push(ScanRun {
                    values: Vec::new(),
                    outputs: vec![(q * out_len * inner + c, 0)],
                });
            }
            for w in offsets.windows(2) {
                let (s, e) = (w[0] as usize, w[1] as usize);
                let positions: Vec<usize> = if o.reverse {
                    (s..e).rev().collect()
                } else {
                    (s..e).collect()
                };
                let values = positions
                    .iter()
                    .map(|&p| input[(q * len + p) * inner + c])
                    .collect();
                let outputs = positions
                    .iter()
                    .enumerate()
                    .map(|(t, &p)| {
                        let k = if o.exclusive { t } else { t + 1 };
                        ((q * out_len + p + init) * inner + c, k)
                    })
                    .collect();
                runs.push(ScanRun { values, outputs });
            }
        }
    }
    runs
}

/// The double-double `hi + lo` times `y`, as a double-double: within about 2^-104 of the
/// exact product.
fn dd_mul((hi, lo): (f64, f64), y: f64) -> (f64, f64) {
    let p = hi * y;
    if !p.is_finite() || p == 0.0 {
        return (p, 0.0);
    }
    let e = hi.mul_add(y, -p) + lo * y;
    let s = p + e;
    (s, e - (s - p))
}

/// The prefix products of `values` (k = 0..=n factors), far more accurate than the loop
/// dtype: in double-double, except that a product leaving the loop dtype's finite range
/// becomes its signed infinity, as every order makes it (then inf * 0 is NaN, as in IEEE).
fn prefix_products(values: &[f64], acc: DType) -> Vec<f64> {
    let mut p = (1.0, 0.0);
    let mut out = vec![1.0];
    for &v in values {
        p = dd_mul(p, v);
        if p.0.is_finite() && !round_to(p.0 + p.1, acc).is_finite() {
            p = (f64::INFINITY.copysign(p.0), 0.0);
        }
        out.push(p.0 + p.1);
    }
    out
}

/// log(sum(exp(values))) accurately: the largest value plus log1p of the compensated sum of
/// the others' exp(x - max), each in (0, 1]; -inf for none, NaN with a NaN, +inf with +inf.
fn log_sum_exp(values: &[f64]) -> f64 {
    if values.iter().any(|v| v.is_nan()) {
        return f64::NAN;
    }
    let Some((imax, &m)) = values
        .iter()
        .enumerate()
        .max_by(|a, b| a.1.partial_cmp(b.1).unwrap())
    else {
        return f64::NEG_INFINITY;
    };
    if m.is_infinite() {
        return m;
    }
    let (mut s, mut comp) = (0.0f64, 0.0f64);
    for (i, &v) in values.iter().enumerate() {
        if i == imax {
            continue;
        }
        let t = (v - m).exp();
        let u = s + t;
        comp += if s.abs() >= t.abs() {
            (s - u) + t
        } else {
            (t - u) + s
        };
        s = u;
    }
    m + (s + comp).ln_1p()
}

/// Checks a `float_*` result off numpy's order, element by element against an accurate
/// reference of the exact result, with a bound justified by the operation:
///
/// * Every element: NaN and infinity exactly where numpy has them (NaN as any NaN), and the
///   identity elements (k = 0) bit for bit.
/// * Sums: `gpuscan::tolerance::check_close` on each run (docs/NUMPY_SEMANTICS.md section 7:
///   within `eps * (16 + sqrt(n)) * cumsum(|x|)` of the compensated float64 reference,
///   rounded to the output dtype), n the run's length.
/// * Products: within `(k + 1) * eps * |p|` of the exact product p of the k factors so far
///   (double-double reference). Any order of k factors does k - 1 multiplications, each
///   rounding by a factor (1 + d) with |d| <= eps/2, and the cast to the output dtype rounds
///   once more: |got - p| <= ((1 + eps/2)^k - 1) |p| ~ k eps/2 |p| <= (k + 1) eps |p|. (The
///   fixtures have no product in the subnormal range, where this relative bound would not
///   hold.)
/// * logcumsumexp: within `(k + 2) * 4 * eps * max(1, |v|)` of the exact v = log(sum(exp))
///   of the k values so far. Each logaddexp(a, b) = max(a, b) + log1p(exp(-|a - b|)) rounds
///   its result by a few ulp of max(1, |result|) (exp, log1p and the final addition); an
///   error in an argument reaches the result scaled by its weight exp(a) / (exp(a) +
///   exp(b)) <= 1, so errors of earlier steps add up rather than multiply, and any order of k
///   values does k - 1 steps; 4 eps per step and two more steps for the casts of the inputs
///   and of the result bound that.
///
/// eps is the machine epsilon of the coarser of the loop and output dtypes.
fn check_float(
    case: &Case,
    input: &Array,
    segments: Option<&[i64]>,
    ours: &Array,
    numpy: &Array,
) -> Result<(), String> {
    let o = options(case);
    let op = case.scan_op();
    let acc = op
        .loop_dtype(input.dtype(), o.dtype, o.out_dtype)
        .map_err(|e| e.to_string())?;
    let out = ours.dtype();
    let e = eps(acc).max(eps(out));
    // The input as the scan sees it: cast to the loop dtype, NaN as the identity for nan*.
    let mut x = common::to_f64(&input.astype(acc));
    if case.skips_nan() {
        let identity = if case.kind() == Kind::Sum { 0.0 } else { 1.0 };
        for (v, raw) in x.iter_mut().zip(common::to_f64(input)) {
            if raw.is_nan() || v.is_nan() {
                *v = identity;
            }
        }
    }
    let got = common::to_f64(ours);
    let want = common::to_f64(numpy);
    let got_c = common::canonical_bits(ours);
    let want_c = common::canonical_bits(numpy);
    let runs = scan_runs(&x, input.shape(), &o, segments);
    let covered: usize = runs.iter().map(|r| r.outputs.len()).sum();
    if covered != got.len() {
        return Err(format!(
            "the test's model of the scan covers {covered} of {} elements",
            got.len()
        ));
    }
    let at = |i: usize, k: usize| {
        format!(
            "element {i} (k = {k}): got {}, numpy gives {}",
            show(ours, i),
            show(numpy, i)
        )
    };
    for run in &runs {
        for &(i, k) in &run.outputs {
            let finite = got[i].is_finite() && want[i].is_finite();
            if (k == 0 || !finite) && got_c[i] != want_c[i] {
                return Err(at(i, k));
            }
        }
        let mut prefixes: Vec<(usize, usize)> = run
            .outputs
            .iter()
            .copied()
            .filter(|&(_, k)| k > 0)
            .collect();
        prefixes.sort_by_key(|&(_, k)| k);
        let Some(&(_, longest)) = prefixes.last() else {
            continue;
        };
        match case.kind() {
            Kind::Sum => {
                // The prefixes are k = 1..=longest, in scan order.
                let values = &run.values[..longest];
                let g = Geometry {
                    rows: longest as u64,
                    cols: 1,
                    lane_len: longest as u64,
                };
                let result =
                    Array::from_vec(prefixes.iter().map(|&(i, _)| got[i]).collect()).astype(out);
                check_close(&result, values, &g, acc).map_err(|err| {
                    // check_close counts within the run; name the element of the result.
                    let n: usize = err
                        .strip_prefix("element ")
                        .and_then(|r| r.split(':').next())
                        .and_then(|n| n.parse().ok())
                        .unwrap_or(0);
                    let (i, k) = prefixes[n.min(prefixes.len() - 1)];
                    format!("{} (run {err})", at(i, k))
                })?;
            }
            Kind::Prod | Kind::LogAddExp => {
                let products = (case.kind() == Kind::Prod)
                    .then(|| prefix_products(&run.values[..longest], acc));
                for &(i, k) in &prefixes {
                    let (reference, bound) = match &products {
                        Some(p) => (p[k], (k as f64 + 1.0) * e * p[k].abs()),
                        None => {
                            let v = log_sum_exp(&run.values[..k]);
                            (v, (k as f64 + 2.0) * 4.0 * e * v.abs().max(1.0))
                        }
                    };
                    let rounded = round_to(reference, out);
                    if !got[i].is_finite() || !rounded.is_finite() {
                        // Overflow, inf and NaN: the same in every order (numpy's positions
                        // were checked above), except within the bound of the largest value.
                        let same = got[i].to_bits() == rounded.to_bits()
                            || (got[i].is_nan() && rounded.is_nan());
                        let edge = reference.is_finite()
                            && reference.abs() + bound >= max_finite(acc).min(max_finite(out));
                        if !same && !edge {
                            return Err(format!("{} (reference {reference:e})", at(i, k)));
                        }
                        continue;
                    }
                    if (got[i] - reference).abs() > bound {
                        return Err(format!(
                            "{}: off the reference {reference:e} by {:e}, bound {bound:e}",
                            at(i, k),
                            (got[i] - reference).abs()
                        ));
                    }
                }
            }
            Kind::Extreme => unreachable!("cummax/cummin compare bit for bit"),
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Many cases, a few processes at a time

/// Runs every (case, mode) job on a few threads, each launching one process at a time;
/// the failures in job order.
fn run_jobs(jobs: &[(&Case, Mode)], dir: &TempDir) -> Vec<String> {
    let next = AtomicUsize::new(0);
    let failures = Mutex::new(Vec::new());
    let workers = std::thread::available_parallelism()
        .map_or(2, |n| n.get())
        .clamp(2, 8)
        .min(jobs.len().max(1));
    std::thread::scope(|s| {
        for _ in 0..workers {
            s.spawn(|| loop {
                let j = next.fetch_add(1, Ordering::Relaxed);
                let Some(&(case, mode)) = jobs.get(j) else {
                    break;
                };
                if let Err(e) = check_case(case, mode, dir, j) {
                    let line = format!(
                        "{} [{} {}{}{}] {}: {e}",
                        case.name,
                        case.op,
                        case.args.join(" "),
                        case.segments
                            .as_ref()
                            .map(|s| format!(" --segments {s}"))
                            .unwrap_or_default(),
                        if case.indices.is_some() {
                            " --indices"
                        } else {
                            ""
                        },
                        mode.tag()
                    );
                    failures.lock().unwrap().push((j, line));
                }
            });
        }
    });
    let mut failures = failures.into_inner().unwrap();
    failures.sort();
    failures.into_iter().map(|(_, f)| f).collect()
}

/// Runs the jobs, prints the time they took, and fails with every failure.
fn check_jobs(label: &str, jobs: &[(&Case, Mode)]) {
    let dir = TempDir::new("cli-family", label);
    let start = Instant::now();
    let failures = run_jobs(jobs, &dir);
    eprintln!(
        "cli_family {label}: {} runs in {:.1} s, {} failed",
        jobs.len(),
        start.elapsed().as_secs_f64(),
        failures.len()
    );
    if failures.is_empty() {
        return;
    }
    for f in &failures {
        eprintln!("FAILED {f}");
    }
    let cpu_only = failures
        .iter()
        .filter(|f| f.contains("runs on the CPU only"))
        .count();
    const SHOWN: usize = 60;
    panic!(
        "{} of {} runs ({label}) differ from numpy or failed ({cpu_only} of them: \"runs on the \
         CPU only\"){}:\n{}",
        failures.len(),
        jobs.len(),
        if failures.len() > SHOWN {
            format!("; the first {SHOWN} (all on stderr)")
        } else {
            String::new()
        },
        failures[..failures.len().min(SHOWN)].join("\n")
    );
}

#[test]
fn every_case_matches_numpy_bit_for_bit_on_the_cpu_in_numpys_order() {
    let cases = cases();
    let mode = Mode {
        device: "cpu",
        strategy: None,
        order: "exact",
    };
    let jobs: Vec<_> = cases.iter().map(|c| (c, mode)).collect();
    check_jobs("cpu-exact", &jobs);
}

#[test]
fn every_case_matches_numpy_on_the_cpu_in_the_fast_order() {
    let cases = cases();
    let mode = Mode {
        device: "cpu",
        strategy: None,
        order: "fast",
    };
    let jobs: Vec<_> = cases.iter().map(|c| (c, mode)).collect();
    check_jobs("cpu-fast", &jobs);
}

/// The GPU runs: with GPUSCAN_FAMILY_ALL_STRATEGIES=1 every case with every strategy. By
/// default, to keep the test near three minutes on two cores with lavapipe (each launch sets
/// up the Vulkan device and compiles its pipelines, about 0.5 s of CPU; measured with two
/// workers: all 2124 runs of 708 cases x 3 strategies took 554 s, this subset of 708 runs 175
/// to 240 s), a deterministic subset in which every case still runs on the GPU: case i with
/// strategy i % 3, so each strategy sees a third of the cases spread over every operation,
/// dtype and option of the manifest.
fn gpu_jobs(cases: &[Case]) -> Vec<(&Case, Mode)> {
    let all = std::env::var(ALL_STRATEGIES_VAR).as_deref() == Ok("1");
    let mut jobs = Vec::new();
    for (i, case) in cases.iter().enumerate() {
        for (s, strategy) in STRATEGIES.into_iter().enumerate() {
            if all || i % STRATEGIES.len() == s {
                let mode = Mode {
                    device: "gpu",
                    strategy: Some(strategy),
                    order: "fast",
                };
                jobs.push((case, mode));
            }
        }
    }
    jobs
}

#[test]
fn every_case_matches_numpy_on_the_gpu() {
    let cases = cases();
    if !gpu_available() {
        return;
    }
    let jobs = gpu_jobs(&cases);
    for s in STRATEGIES {
        let n = jobs.iter().filter(|(_, m)| m.strategy == Some(s)).count();
        assert!(n >= cases.len() / 3, "only {n} cases run with {s}");
    }
    check_jobs("gpu", &jobs);
}

/// The tolerance is not vacuous: numpy's own results pass it (so the test's model of the
/// scan and its references agree with numpy), and each of them with its last finite element
/// moved to 1.5 x + 1 fails it.
#[test]
fn the_float_tolerance_accepts_numpy_and_rejects_a_wrong_element() {
    let cases = cases();
    let floats: Vec<&Case> = cases
        .iter()
        .filter(|c| c.rounds() && c.kind() != Kind::Extreme)
        .collect();
    assert!(floats.len() >= 50, "only {} float_ cases", floats.len());
    let fast = Mode {
        device: "gpu",
        strategy: Some("chained"),
        order: "fast",
    };
    let mut perturbed = 0;
    for case in floats {
        let numpy = npy::read(&family(&case.expected)).unwrap();
        compare(case, fast, &numpy, &numpy)
            .unwrap_or_else(|e| panic!("{}: numpy's own result: {e}", case.name));
        let v = common::to_f64(&numpy);
        // The last finite element: the largest k of its lane, the loosest bound.
        let Some(i) = (0..v.len()).rev().find(|&i| v[i].is_finite()) else {
            continue;
        };
        let mut w = v.clone();
        w[i] = 1.5 * w[i] + 1.0;
        let wrong = Array::from_shape_vec(numpy.shape(), w)
            .unwrap()
            .astype(numpy.dtype());
        if let Ok(()) = compare(case, fast, &wrong, &numpy) {
            panic!(
                "{}: element {i} moved from {} to {} passes",
                case.name,
                v[i],
                common::to_f64(&wrong)[i]
            );
        }
        perturbed += 1;
    }
    assert!(
        perturbed >= 50,
        "only {perturbed} perturbed results checked"
    );
}

#[test]
fn bad_segment_offsets_fail_with_one_line_and_no_output() {
    let input = family("bad_segments_in.npy");
    let dir = TempDir::new("cli-family", "bad-segments");
    let out = dir.join("out.npy");
    let idx = dir.join("indices.npy");
    let mut checked = 0;
    for bad in bad_cases() {
        // What the line must say, besides "segment", for each kind of bad file.
        let fragments: &[&str] = match bad.why.as_str() {
            "not-1-d" => &["1-d"],
            "not-int64" => &["integer"],
            "does-not-start-at-0" => &["start", "0"],
            "does-not-end-at-the-length-5" => &["end", "5"],
            "decreasing" => &["decrease"],
            other => panic!("{}: no expected message for {other:?}", bad.name),
        };
        let offsets = family(&bad.file);
        for (op, indices) in [("cumsum", false), ("logcumsumexp", false), ("cummax", true)] {
            for device in ["cpu", "auto"] {
                let mut args: Vec<&OsStr> = vec![
                    input.as_os_str(),
                    "-o".as_ref(),
                    out.as_os_str(),
                    "--segments".as_ref(),
                    offsets.as_os_str(),
                    "--device".as_ref(),
                    device.as_ref(),
                ];
                if indices {
                    args.extend(["--indices".as_ref(), idx.as_os_str()]);
                }
                let run = gpuscan(op, &args);
                let stderr = String::from_utf8_lossy(&run.stderr);
                let what = format!("{} ({}): gpuscan {op} {args:?}", bad.name, bad.why);
                assert_eq!(run.status.code(), Some(2), "{what}: {stderr}");
                let lines: Vec<&str> = stderr.lines().collect();
                assert_eq!(lines.len(), 1, "{what}: stderr is not one line: {stderr:?}");
                assert!(lines[0].starts_with("gpuscan: "), "{what}: {stderr}");
                assert!(
                    !stderr.contains("panicked") && !stderr.contains("internal error"),
                    "{what}: {stderr}"
                );
                let lower = lines[0].to_lowercase();
                for f in ["segment"].iter().chain(fragments) {
                    assert!(lower.contains(f), "{what}: {stderr:?} lacks {f:?}");
                }
                assert!(run.stdout.is_empty(), "{what}: wrote to stdout");
                assert_eq!(dir.entries(), Vec::<String>::new(), "{what}: left files");
                checked += 1;
            }
        }
    }
    assert!(checked >= 30, "only {checked} bad runs");
}
