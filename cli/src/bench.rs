//! `gpuscan bench`: the CPU path, the GPU scan on resident data, the GPU end to end, and a
//! plain GPU buffer copy of the same bytes (the bandwidth ceiling), in one run, over 1-D sizes
//! and the axes of a 2-D array, for each scan of `--op` (reverse, exclusive or segmented as
//! the flags say); every result checked against a float64 (or exact) reference.

pub(crate) mod cases;
mod clock;
mod plot;
mod report;

use std::io::Write;
use std::path::PathBuf;
use std::time::Instant;

use gpuscan::{Array, Context, DType, Device, GpuArray, Order, Scan, ScanOp, Strategy};

use crate::values::{self, blank_or, mem_available_bytes, or_all, OrAll};
use crate::CliError;
use cases::{Accuracy, Case, Reference, Variant};
use clock::{host_sample, medians, GpuClock, Repeats, Sample, Timing};

/// 2^10, 2^12 ... 2^26: powers of 4 across the range where launch overhead gives way to
/// bandwidth.
const DEFAULT_SIZES: &str = "1024,4096,16384,65536,262144,1048576,4194304,16777216,67108864";

/// What `--strategy all` measures: every algorithm, forced.
const ALL_STRATEGIES: [Strategy; 3] = [
    Strategy::Blelloch,
    Strategy::ReduceThenScan,
    Strategy::Chained,
];

#[derive(clap::Args)]
pub struct Args {
    /// 1-D lengths, comma-separated (2^20 and 1<<20 work too); `none` skips the 1-D cases.
    #[arg(
        long,
        value_name = "N,...",
        default_value = DEFAULT_SIZES,
        value_delimiter = ',',
        value_parser = cases::size_term
    )]
    sizes: Vec<Option<usize>>,
    /// Input dtypes by numpy name, comma-separated; each scans in numpy's accumulation dtype.
    #[arg(
        long,
        value_name = "DTYPE,...",
        default_value = "float32",
        value_delimiter = ',',
        value_parser = blank_or(values::dtype)
    )]
    dtype: Vec<Option<DType>>,
    /// Shape of the multi-dimensional case, e.g. 4096x4096; `none` skips it.
    #[arg(
        long,
        value_name = "AxB",
        default_value = "4096x4096",
        value_parser = cases::parse_shape
    )]
    shape: cases::Shape,
    /// Axes of --shape to scan along, comma-separated (negative counts from the end).
    #[arg(
        long,
        value_name = "A,...",
        default_value = "0,1",
        allow_hyphen_values = true,
        value_delimiter = ',',
        value_parser = cases::axis_term
    )]
    axis: Vec<Option<isize>>,
    /// Timed runs after the one warm-up (default: adapts, 5 to 25, about 0.5 s per row).
    #[arg(long, value_name = "N", value_parser = values::count)]
    repeats: Option<usize>,
    /// Only the CPU rows (`cpu`) or only the GPU rows (`gpu`); default both.
    #[arg(long, value_name = "cpu|gpu", value_parser = rows_device)]
    device: Option<Device>,
    /// Summation order of float scans on the cpu and gpu-end-to-end rows: fast, exact
    /// (numpy's, bit for bit; CPU only, so the GPU rows are skipped) or wide.
    #[arg(
        long,
        value_name = "fast|exact|wide",
        default_value = "fast",
        value_parser = values::named::<Order>
    )]
    order: Order,
    /// GPU scan strategies, comma-separated: auto (the selection table), blelloch,
    /// reduce-then-scan, chained, or all (the three algorithms); each gets its GPU rows.
    #[arg(
        long,
        value_name = "NAME,...",
        default_value = "auto",
        value_delimiter = ',',
        value_parser = or_all(values::named::<Strategy>)
    )]
    strategy: Vec<OrAll<Strategy>>,
    /// Rows to measure, comma-separated: cpu, gpu-resident, gpu-end-to-end, copy (default
    /// all; --device narrows them further).
    #[arg(
        long,
        value_name = "PATH,...",
        value_delimiter = ',',
        value_parser = PathKind::parse
    )]
    paths: Option<Vec<PathKind>>,
    /// One JSON object per line: the adapter, then one per measurement.
    #[arg(long)]
    json: bool,
    /// Write a throughput-versus-size chart of the 1-D cases as SVG.
    #[arg(long, value_name = "FILE.svg")]
    plot: Option<PathBuf>,
    /// The chained scan's polls of a predecessor before reducing its tile itself (0: every
    /// look-back step falls back, quadratic in the tiles of a lane).
    #[arg(long, value_name = "N")]
    spin_limit: Option<u32>,
    /// Scans to measure, comma-separated: cumsum, cumprod, nancumsum, nancumprod, cummax,
    /// cummin, logcumsumexp; each gets every row.
    #[arg(
        long,
        value_name = "OP,...",
        default_value = "cumsum",
        value_delimiter = ',',
        value_parser = blank_or(values::named::<ScanOp>)
    )]
    op: Vec<Option<ScanOp>>,
    /// Suffix scans (every row).
    #[arg(long)]
    reverse: bool,
    /// Exclusive scans (every row).
    #[arg(long)]
    exclusive: bool,
    /// N equal segments per lane, restarting the scan (every row; at most each case's axis
    /// length).
    #[arg(long, value_name = "N", value_parser = values::count)]
    segments: Option<usize>,
    /// For tests: check every result with its last element moved, so the check must fail.
    #[arg(long, hide = true)]
    test_perturb: bool,
}

/// What one row measures.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum PathKind {
    Cpu,
    GpuResident,
    GpuEndToEnd,
    Copy,
}

impl PathKind {
    pub const ALL: [PathKind; 4] = [
        PathKind::Cpu,
        PathKind::GpuResident,
        PathKind::GpuEndToEnd,
        PathKind::Copy,
    ];

    fn parse(name: &str) -> Result<PathKind, String> {
        let name = name.trim();
        PathKind::ALL
            .into_iter()
            .find(|p| p.name() == name)
            .ok_or_else(|| {
                format!("unknown path '{name}': expected cpu, gpu-resident, gpu-end-to-end or copy")
            })
    }

    pub fn name(self) -> &'static str {
        match self {
            PathKind::Cpu => "cpu",
            PathKind::GpuResident => "gpu-resident",
            PathKind::GpuEndToEnd => "gpu-end-to-end",
            PathKind::Copy => "copy",
        }
    }

    /// Rows that run a scan on the GPU (they carry a strategy and the two ratios).
    pub fn is_gpu_scan(self) -> bool {
        matches!(self, PathKind::GpuResident | PathKind::GpuEndToEnd)
    }
}

/// One row of the result.
#[derive(Clone, Debug)]
pub struct Measurement {
    /// The scan measured (with the run's [`Variant`]).
    pub op: ScanOp,
    pub path: PathKind,
    /// The algorithm a GPU scan row ran.
    pub algorithm: Option<&'static str>,
    pub runs: usize,
    pub median: Sample,
    pub timing: Timing,
    /// `None` for the copy, which computes nothing.
    pub accuracy: Option<Accuracy>,
    /// CPU seconds over these seconds, for GPU scan rows when the CPU row ran.
    pub speedup: Option<f64>,
    /// These seconds over the copy's, for GPU scan rows when the copy ran.
    pub scan_over_copy: Option<f64>,
}

impl Measurement {
    pub fn gelem_per_s(&self, case: &Case) -> f64 {
        case.elements() as f64 / self.median.seconds / 1e9
    }
}

/// The validated options.
struct Plan {
    cases: Vec<Case>,
    ops: Vec<ScanOp>,
    variant: Variant,
    perturb: bool,
    cpu: bool,
    gpu: bool,
    repeats: Repeats,
    strategies: Vec<Strategy>,
    paths: Vec<PathKind>,
    order: Order,
}

/// `--device` of the bench: which rows run, the CPU's or the GPU's (`auto` means nothing here).
fn rows_device(s: &str) -> Result<Device, String> {
    match s.trim() {
        "cpu" => Ok(Device::Cpu),
        "gpu" => Ok(Device::Gpu),
        other => Err(format!("unknown device '{other}': expected cpu or gpu")),
    }
}

impl Plan {
    fn new(args: &Args) -> Result<Plan, CliError> {
        let strategies = values::expand(&args.strategy, &ALL_STRATEGIES);
        let ops = values::unique(&args.op);
        if ops.is_empty() {
            return Err(CliError("--op: give at least one scan".into()));
        }
        let segments = args.segments;
        let variant = Variant {
            reverse: args.reverse,
            exclusive: args.exclusive,
            segments,
        };
        let paths = args.paths.clone().unwrap_or_else(|| PathKind::ALL.to_vec());
        let order = args.order;
        let (cpu, gpu) = match args.device {
            None => (true, true),
            Some(Device::Cpu) => (true, false),
            Some(_) => (false, true),
        };
        let fixed = args.repeats;
        let dtypes = values::unique(&args.dtype);
        if dtypes.is_empty() {
            return Err(CliError("--dtype: give at least one dtype".into()));
        }
        let sizes: Vec<usize> = args.sizes.iter().flatten().copied().collect();
        let shape = args.shape.0.clone();
        let axes = match &shape {
            Some(s) => cases::resolve_axes(&args.axis, s.len())?,
            None => Vec::new(),
        };
        let mut cases = Vec::new();
        for &dtype in &dtypes {
            for &n in &sizes {
                cases.push(Case {
                    dtype,
                    shape: vec![n],
                    axis: None,
                });
            }
            if let Some(shape) = &shape {
                for &axis in &axes {
                    cases.push(Case {
                        dtype,
                        shape: shape.clone(),
                        axis: Some(axis),
                    });
                }
            }
        }
        check_memory(&cases, &ops)?;
        if let Some(n) = segments {
            if let Some(c) = cases.iter().find(|c| c.axis_len() < n) {
                return Err(CliError(format!(
                    "--segments: {n} segments do not fit the {} elements of each lane of {}",
                    c.axis_len(),
                    c.label()
                )));
            }
        }
        if cases.is_empty() {
            return Err(CliError(
                "nothing to measure: --sizes and --shape are both none".into(),
            ));
        }
        if args.plot.is_some() && sizes.is_empty() {
            return Err(CliError(
                "--plot charts the 1-D cases, and --sizes is none".into(),
            ));
        }
        let gpu = if order == Order::Exact && gpu {
            eprintln!("the exact order runs on the CPU only: no GPU rows");
            false
        } else {
            gpu
        };
        if !cpu && !gpu {
            return Err(CliError("--order exact has no GPU rows to measure".into()));
        }
        Ok(Plan {
            cases,
            ops,
            variant,
            perturb: args.test_perturb,
            cpu,
            gpu,
            repeats: Repeats { fixed },
            strategies,
            paths,
            order,
        })
    }

    /// The rows a case gets, given whether the GPU can scan its dtype here: the CPU, each
    /// strategy's GPU scans, then the copy.
    fn rows(&self, on_gpu: bool) -> Vec<Row> {
        let wanted = |p: PathKind| {
            self.paths.contains(&p)
                && match p {
                    PathKind::Cpu => self.cpu,
                    _ => self.gpu && on_gpu,
                }
        };
        let mut rows = Vec::new();
        if wanted(PathKind::Cpu) {
            rows.push(Row::new(PathKind::Cpu, None));
        }
        for &s in &self.strategies {
            for p in [PathKind::GpuResident, PathKind::GpuEndToEnd] {
                if wanted(p) {
                    rows.push(Row::new(p, Some(s)));
                }
            }
        }
        if wanted(PathKind::Copy) {
            rows.push(Row::new(PathKind::Copy, None));
        }
        rows
    }

    /// How rows name their scan: `cumsum`, `cummax reverse segments=64`.
    fn scan_labels(&self) -> Vec<String> {
        self.ops.iter().map(|&op| self.variant.label(op)).collect()
    }

    /// Whether the run measures anything but the plain cumsum, so that progress lines name
    /// the scan.
    fn names_scans(&self) -> bool {
        self.ops != [ScanOp::Sum] || self.variant != Variant::default()
    }
}

pub fn run(args: Args) -> Result<(), CliError> {
    let started = Instant::now();
    let plan = Plan::new(&args)?;
    // Fail on an unwritable path now, not after the whole run.
    let plot_file =
        match &args.plot {
            Some(path) => Some(std::fs::File::create(path).map_err(|e| {
                CliError(format!("cannot write the plot to {}: {e}", path.display()))
            })?),
            None => None,
        };
    let outcome = bench(&args, &plan, plot_file);
    if let (Err(_), Some(path)) = (&outcome, &args.plot) {
        // No half-written or empty chart is left behind.
        let _ = std::fs::remove_file(path);
    }
    let total = outcome?;
    eprintln!(
        "{total} measurement{} in {:.1} s",
        if total == 1 { "" } else { "s" },
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

/// One row of a case: a path, and the strategy of a GPU scan.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
struct Row {
    path: PathKind,
    strategy: Option<Strategy>,
}

impl Row {
    fn new(path: PathKind, strategy: Option<Strategy>) -> Row {
        Row { path, strategy }
    }
}

/// Everything after the options are checked: the measurements, the report and the chart.
/// Returns how many measurements were taken.
fn bench(args: &Args, plan: &Plan, plot_file: Option<std::fs::File>) -> Result<usize, CliError> {
    let ctx = Context::new()?;
    if let (Some(polls), true) = (args.spin_limit, ctx.has_gpu()) {
        ctx.set_spin_limit(polls)?;
    }
    let gpu_dtypes = ctx.gpu_dtypes();
    if plan.gpu {
        if let Some(reason) = ctx.gpu_unavailable_reason() {
            if !plan.cpu {
                return Err(CliError(format!("--device gpu: no GPU adapter: {reason}")));
            }
            eprintln!("no GPU adapter ({reason}): only the cpu rows are measured");
        } else {
            let missing: Vec<DType> = unique_accs(&plan.cases, &plan.ops)
                .into_iter()
                .filter(|acc| !gpu_dtypes.contains(acc))
                .collect();
            for acc in missing {
                // Say which feature is missing, in the library's words.
                let why = ctx
                    .gpu_zeros(acc, &[1])
                    .err()
                    .map(|e| e.to_string())
                    .unwrap_or_default();
                if !plan.cpu {
                    return Err(CliError(format!("--device gpu: {why}")));
                }
                eprintln!("{why}: only the cpu rows are measured for {acc}");
            }
        }
    }
    let clock = match (plan.gpu, ctx.device(), ctx.queue()) {
        (true, Some(device), Some(queue)) => Some(GpuClock::new(device, queue)),
        _ => None,
    };

    let mut printer = report::Printer::new(args.json, &plan.scan_labels());
    let strategy_names: Vec<&str> = plan.strategies.iter().map(|s| s.name()).collect();
    let op_names: Vec<&str> = plan.ops.iter().map(|o| o.name()).collect();
    printer.adapter(
        &ctx,
        clock.as_ref(),
        &plan.repeats,
        &report::RunInfo {
            strategy: &strategy_names.join(","),
            order: plan.order,
            ops: &op_names.join(","),
            variant: &plan.variant,
        },
    );

    let max_buffer = ctx.device().map_or(0, |d| d.limits().max_buffer_size);
    // Per case, per op: the rows it gets.
    let rows: Vec<Vec<Vec<Row>>> = plan
        .cases
        .iter()
        .map(|c| {
            plan.ops
                .iter()
                .map(|&op| {
                    let acc = c.acc(op);
                    let mut rows = plan.rows(clock.is_some() && gpu_dtypes.contains(&acc));
                    // The end-to-end path streams large arrays in batches; the resident rows
                    // need the whole array in one buffer.
                    let stored = c.elements() as u64 * GpuArray::stored_size(acc);
                    let resident =
                        |r: &Row| matches!(r.path, PathKind::GpuResident | PathKind::Copy);
                    if rows.iter().any(resident) && stored > max_buffer {
                        eprintln!(
                            "{} {op}: {stored} bytes exceed the adapter's largest buffer \
                             ({max_buffer} bytes); skipping gpu-resident and copy",
                            c.label()
                        );
                        rows.retain(|r| !resident(r));
                    }
                    rows
                })
                .collect()
        })
        .collect();
    let total: usize = rows.iter().flatten().map(Vec::len).sum();
    let mut progress = Progress {
        done: 0,
        total,
        names_scans: plan.names_scans(),
    };
    let mut results = Vec::new();
    for (case, per_op) in plan.cases.iter().zip(&rows) {
        let mut measured = Vec::new();
        for (&op, paths) in plan.ops.iter().zip(per_op) {
            let job = Job {
                case,
                op,
                label: plan.variant.label(op),
            };
            let rows = measure_op(&ctx, clock.as_ref(), plan, &job, paths, &mut progress)?;
            printer.case(case, &plan.variant, &rows);
            measured.extend(rows);
        }
        results.push((case.clone(), measured));
    }

    if let (Some(file), Some(path)) = (plot_file, &args.plot) {
        let svg = plot::svg(
            &ctx,
            clock.as_ref().map(GpuClock::timing),
            &plan.variant,
            &results,
        );
        let mut file = std::io::BufWriter::new(file);
        file.write_all(svg.as_bytes())
            .and_then(|()| file.flush())
            .map_err(|e| CliError(format!("cannot write the plot to {}: {e}", path.display())))?;
        eprintln!("wrote {}", path.display());
    }
    Ok(total)
}

/// Refuses a case that cannot fit in the host memory available now (Linux's MemAvailable),
/// so that an oversized --sizes is an error rather than an allocation abort minutes in.
fn check_memory(cases: &[Case], ops: &[ScanOp]) -> Result<(), CliError> {
    let Some(available) = mem_available_bytes() else {
        return Ok(());
    };
    for case in cases {
        let needed = case.host_bytes_estimate(ops);
        if needed > available {
            const GIB: f64 = (1u64 << 30) as f64;
            return Err(CliError(format!(
                "{} needs about {:.1} GiB of host memory; {:.1} GiB is available",
                case.label(),
                needed as f64 / GIB,
                available as f64 / GIB
            )));
        }
    }
    Ok(())
}

/// The accumulation dtypes of the cases' scans, each once.
fn unique_accs(cases: &[Case], ops: &[ScanOp]) -> Vec<DType> {
    let mut out = Vec::new();
    for c in cases {
        for &op in ops {
            if !out.contains(&c.acc(op)) {
                out.push(c.acc(op));
            }
        }
    }
    out
}

/// `[3/20] float32 (1048576,) gpu-resident ... 1.23 ms` on stderr (with the scan after the
/// case, `float32 (1048576,) cummax reverse gpu-resident`, unless the run is the plain
/// cumsum alone).
struct Progress {
    done: usize,
    total: usize,
    names_scans: bool,
}

impl Progress {
    fn start(&mut self, job: &Job, row: Row) {
        self.done += 1;
        let strategy = row.strategy.map(|s| format!(" {s}")).unwrap_or_default();
        let scan = if self.names_scans {
            format!(" {}", job.label)
        } else {
            String::new()
        };
        eprint!(
            "[{}/{}] {}{scan} {}{strategy} ...",
            self.done,
            self.total,
            job.case.label(),
            row.path.name()
        );
        let _ = std::io::stderr().flush();
    }

    /// Ends the progress line: the median, or "failed" before the error is reported.
    fn finish(&self, m: &Result<Measurement, CliError>) {
        let Ok(m) = m else {
            eprintln!(" failed");
            return;
        };
        eprintln!(
            " {} ({})",
            crate::values::seconds(m.median.seconds),
            match m.runs {
                1 => "one run".to_string(),
                n => format!("median of {n}"),
            }
        );
    }
}

/// Buffers the resident scan and the copy share: the uploaded input and a destination.
struct Resident {
    src: GpuArray,
    dst: GpuArray,
}

/// One scan of one case: the rows of a table group.
struct Job<'a> {
    case: &'a Case,
    op: ScanOp,
    /// The op with the run's variants, as progress lines name it.
    label: String,
}

/// The rows of one op of one case, with their ratios.
fn measure_op(
    ctx: &Context,
    clock: Option<&GpuClock>,
    plan: &Plan,
    job: &Job,
    rows: &[Row],
    progress: &mut Progress,
) -> Result<Vec<Measurement>, CliError> {
    if rows.is_empty() {
        return Ok(Vec::new());
    }
    let case = job.case;
    let input = case.input_for(job.op)?;
    let mut data = CaseData {
        reference: Reference::new(case, job.op, &plan.variant, &input)?,
        input,
        case,
        op: job.op,
        acc: case.acc(job.op),
        scan: case.scan(job.op, &plan.variant),
        resident: None,
    };
    let mut out: Vec<Measurement> = Vec::new();
    for &row in rows {
        progress.start(job, row);
        let m = measure_path(ctx, clock, plan, &mut data, row);
        progress.finish(&m);
        out.push(m?);
    }
    add_ratios(&mut out);
    Ok(out)
}

/// What every row of one op of one case shares.
struct CaseData<'a> {
    case: &'a Case,
    op: ScanOp,
    /// The dtype the scan computes in.
    acc: DType,
    /// The scan without device, order and strategy.
    scan: Scan,
    input: Array,
    reference: Reference,
    /// Uploaded on first use by the resident scan or the copy.
    resident: Option<Resident>,
}

/// One row of a case.
fn measure_path(
    ctx: &Context,
    clock: Option<&GpuClock>,
    plan: &Plan,
    data: &mut CaseData,
    row: Row,
) -> Result<Measurement, CliError> {
    let case = data.case;
    let path = row.path;
    let strategy = row.strategy.unwrap_or_default();
    let algorithm = match row.strategy {
        Some(s) => Some(ctx.gpu_algorithm(s, &case.shape, case.axis_arg())?),
        None => None,
    };
    let mut m = match (path, clock) {
        (PathKind::Cpu, _) => host_path(ctx, plan, data, Device::Cpu, strategy)?,
        (PathKind::GpuEndToEnd, _) => host_path(ctx, plan, data, Device::Gpu, strategy)?,
        (PathKind::GpuResident, Some(clock)) => {
            let r = resident_buffers(ctx, case, data.acc, &data.input, &mut data.resident)?;
            // The row's op and variants, with its strategy; the arrays hold the scan's dtype.
            let scan = data.scan.clone().strategy(strategy);
            let label = format!("gpuscan bench resident {}", data.op);
            let samples = plan.repeats.sample(|| {
                clock.time(&label, |encoder| {
                    Ok(ctx.record_scan(encoder, &r.src, &r.dst, &scan)?)
                })
            })?;
            let got = ctx.download(&r.dst)?;
            let accuracy = data.reference.check(&got, plan.perturb)?;
            measurement(data.op, path, &samples, clock.timing(), Some(accuracy))
        }
        (PathKind::Copy, Some(clock)) => {
            let r = resident_buffers(ctx, case, data.acc, &data.input, &mut data.resident)?;
            let bytes = case.elements() as u64 * GpuArray::stored_size(data.acc);
            let samples = plan.repeats.sample(|| {
                clock.time("gpuscan bench copy", |encoder| {
                    encoder.copy_buffer_to_buffer(r.src.buffer(), 0, r.dst.buffer(), 0, bytes);
                    Ok(())
                })
            })?;
            measurement(data.op, path, &samples, clock.timing(), None)
        }
        (_, None) => {
            return Err(CliError(format!(
                "internal error: {} without a GPU",
                path.name()
            )))
        }
    };
    m.algorithm = algorithm.map(|a| a.name());
    Ok(m)
}

/// Uploads the input once, cast to the scan's dtype, for the resident scan and the copy.
fn resident_buffers<'r>(
    ctx: &Context,
    case: &Case,
    acc: DType,
    input: &Array,
    slot: &'r mut Option<Resident>,
) -> Result<&'r Resident, CliError> {
    if slot.is_none() {
        let src = ctx.upload_as(input, acc)?;
        let dst = ctx.gpu_zeros(acc, &case.result_shape())?;
        *slot = Some(Resident { src, dst });
    }
    slot.as_ref()
        .ok_or_else(|| CliError("internal error: no resident buffers".into()))
}

/// `Context::scan` on `device`, timed on the host: the CPU row, or the GPU end to end
/// (upload, scan, download).
fn host_path(
    ctx: &Context,
    plan: &Plan,
    data: &CaseData,
    device: Device,
    strategy: Strategy,
) -> Result<Measurement, CliError> {
    let options = data
        .scan
        .clone()
        .device(device)
        .order(plan.order)
        .strategy(strategy);
    let input = &data.input;
    let mut last = None;
    let samples = plan.repeats.sample(|| {
        let (sample, result) = host_sample(|| Ok(ctx.scan(input, &options)?))?;
        // Dropping the previous result happens here, outside the timed region.
        last = Some(result);
        Ok(sample)
    })?;
    let got = last.ok_or_else(|| CliError("internal error: no run".into()))?;
    let path = match device {
        Device::Cpu => PathKind::Cpu,
        _ => PathKind::GpuEndToEnd,
    };
    Ok(measurement(
        data.op,
        path,
        &samples,
        Timing::Host,
        Some(data.reference.check(&got, plan.perturb)?),
    ))
}

fn measurement(
    op: ScanOp,
    path: PathKind,
    samples: &[Sample],
    timing: Timing,
    accuracy: Option<Accuracy>,
) -> Measurement {
    Measurement {
        op,
        path,
        algorithm: None,
        runs: samples.len(),
        median: medians(samples),
        timing,
        accuracy,
        speedup: None,
        scan_over_copy: None,
    }
}

/// Fills in GPU/CPU speedup and scan/copy for the GPU scan rows (of one op).
fn add_ratios(rows: &mut [Measurement]) {
    let seconds = |rows: &[Measurement], p: PathKind| {
        rows.iter().find(|m| m.path == p).map(|m| m.median.seconds)
    };
    let cpu = seconds(rows, PathKind::Cpu);
    let copy = seconds(rows, PathKind::Copy);
    for m in rows.iter_mut().filter(|m| m.path.is_gpu_scan()) {
        m.speedup = cpu.map(|c| c / m.median.seconds);
        m.scan_over_copy = copy.map(|c| m.median.seconds / c);
    }
}
