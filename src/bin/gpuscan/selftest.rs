//! `gpuscan selftest`: every GPU strategy, on every dtype the adapter runs, along one lane,
//! axis 0 and the last axis, at tile, level, chunk and batch boundaries (and, without
//! `--quick`, arrays of hundreds of MB), under spin limits 0, 1 and the default, each run
//! repeated; integers exact against the CPU, floats within docs/NUMPY_SEMANTICS.md section 7's
//! tolerance, and every repeat and spin limit the same bits. The check to run on a new GPU.

use std::io::Write;
use std::time::Instant;

use gpuscan::plan::{Geometry, TileConfig};
use gpuscan::shaders::SPIN_LIMIT;
use gpuscan::{Array, Context, ContextOptions, Cumsum, DType, Device, Strategy};
use serde_json::json;

use crate::bench::cases::Case;
use crate::info::probe_json;
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
    /// Fewer and smaller cases and two runs each (about 2 minutes on lavapipe).
    #[arg(long)]
    quick: bool,
    /// One JSON object per line: the adapter, one per row, then the summary.
    #[arg(long)]
    json: bool,
    /// Strategies to test, comma-separated: blelloch, reduce-then-scan, chained, or all.
    #[arg(long, value_name = "NAME,...", default_value = "all")]
    strategy: String,
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
struct Scan {
    shape: Vec<usize>,
    axis: Option<usize>,
    small_bindings: bool,
}

/// The scans of one layout in `dtype`: lengths at T - 1 and T + 1 (T: a tile), several tiles,
/// T^2 +- 1 (a second level), chunk and batch boundaries of the small-binding context, and
/// without `quick` an array of up to 256 MiB.
fn scans(layout: Layout, dtype: DType, tile: TileConfig, quick: bool, max_bytes: u64) -> Vec<Scan> {
    let t = tile.tile_len() as usize;
    let stored = gpuscan::GpuArray::stored_size(dtype);
    let chunk = (SMALL_BINDING / stored) as usize;
    let batch = (SMALL_BATCH / stored) as usize;
    let scan = |shape: Vec<usize>, small_bindings: bool| Scan {
        axis: match layout {
            Layout::Flat => None,
            Layout::Axis0 => Some(0),
            Layout::LastAxis => Some(shape.len() - 1),
        },
        shape,
        small_bindings,
    };
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

/// One row of the table: a strategy, dtype and layout over all their scans.
#[derive(Default)]
struct Row {
    runs: usize,
    seconds: f64,
    fallbacks: u64,
    mismatches: u64,
    failure: Option<String>,
}

/// The contexts the scans run on.
struct Contexts {
    normal: Context,
    small: Context,
    tile: TileConfig,
}

impl Contexts {
    fn of(&self, scan: &Scan) -> &Context {
        if scan.small_bindings {
            &self.small
        } else {
            &self.normal
        }
    }
}

/// The spin limits a scan runs under: the default and 1 for the chained scan, and 0 where the
/// quadratic work of every step falling back stays small.
fn spin_limits(strategy: Strategy, scan: &Scan, tile: TileConfig) -> Vec<u32> {
    if strategy != Strategy::Chained {
        return vec![SPIN_LIMIT];
    }
    let (g, _) = match Geometry::resolve(&scan.shape, scan.axis.map(|a| a as isize)) {
        Ok(g) => g,
        Err(_) => return vec![SPIN_LIMIT],
    };
    let tile_rows = tile.tile_rows(tile.tile_cols(g.cols)) as u64;
    let chain = g.lane_len.min(g.rows).div_ceil(tile_rows);
    let mut limits = vec![SPIN_LIMIT, 1];
    if chain <= SPIN_ZERO_TILES {
        limits.push(0);
    }
    limits
}

/// Runs one scan under every spin limit and repeat; `Err` says what went wrong first.
fn check_scan(
    ctx: &Context,
    strategy: Strategy,
    dtype: DType,
    scan: &Scan,
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
    let (g, _) = Geometry::resolve(&scan.shape, scan.axis.map(|a| a as isize))
        .map_err(|e| format!("{what}: {e}"))?;
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
    let mut first: Option<Vec<u8>> = None;
    for (k, &spin) in spins.iter().enumerate() {
        ctx.set_spin_limit(spin).map_err(|e| e.to_string())?;
        // Other spin limits repeat the default's result already: one run each is enough.
        let runs = if k == 0 { repeats } else { repeats.min(2) - 1 }.max(1);
        for run in 0..runs {
            let what = format!("{what} spin limit {spin} run {run}");
            let start = Instant::now();
            let got = ctx
                .cumsum(&input, &gpu)
                .map_err(|e| format!("{what}: {e}"))?;
            row.seconds += start.elapsed().as_secs_f64();
            row.runs += 1;
            let bytes = npy_bytes(&got)?;
            match &reference {
                Some(want) if bytes != *want => {
                    return Err(format!("{what}: differs from the CPU"));
                }
                Some(_) => {}
                None => gpuscan::tolerance::check_close(&got, x, &g, dtype)
                    .map_err(|e| format!("{what}: {e}"))?,
            }
            match &first {
                Some(f) if bytes != *f => {
                    return Err(format!("{what}: the bits differ from the first run"));
                }
                Some(_) => {}
                None => first = Some(bytes),
            }
        }
    }
    ctx.set_spin_limit(SPIN_LIMIT).map_err(|e| e.to_string())?;
    Ok(())
}

/// The bytes `np.save` would write: equal bytes are equal dtype, shape and bits, NaN payloads
/// included.
fn npy_bytes(a: &Array) -> Result<Vec<u8>, String> {
    let mut v = Vec::new();
    gpuscan::npy::write(&mut v, a).map_err(|e| e.to_string())?;
    Ok(v)
}

fn run_row(
    contexts: &Contexts,
    strategy: Strategy,
    dtype: DType,
    layout: Layout,
    quick: bool,
) -> Row {
    let mut row = Row::default();
    let repeats = if quick { 2 } else { 3 };
    let max_bytes = contexts
        .normal
        .device()
        .map_or(0, |d| d.limits().max_buffer_size);
    for ctx in [&contexts.normal, &contexts.small] {
        let _ = ctx.take_counters();
    }
    for scan in scans(layout, dtype, contexts.tile, quick, max_bytes) {
        let spins = spin_limits(strategy, &scan, contexts.tile);
        let ctx = contexts.of(&scan);
        if let Err(e) = check_scan(ctx, strategy, dtype, &scan, &spins, repeats, &mut row) {
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

fn strategies(list: &str) -> Result<Vec<Strategy>, CliError> {
    let mut v = Vec::new();
    for name in list.split(',').map(str::trim) {
        match name {
            "all" => v.extend(ALL_STRATEGIES),
            "auto" => return Err(CliError(
                "selftest tests each strategy by name: blelloch, reduce-then-scan, chained or all"
                    .into(),
            )),
            other => v.push(other.parse::<Strategy>()?),
        }
    }
    v.dedup();
    Ok(v)
}

pub fn run(args: Args) -> Result<(), CliError> {
    let strategies = strategies(&args.strategy)?;
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
                "{:<17} {:<8} {:<10} {:<6} {:>5} {:>10} {:>10} {:>10}",
                "strategy", "dtype", "case", "result", "runs", "time", "fallbacks", "mismatches"
            ),
        );
    }
    let started = Instant::now();
    let (mut rows, mut failed) = (0, 0);
    for &strategy in &strategies {
        for dtype in contexts.normal.gpu_dtypes() {
            for layout in Layout::ALL {
                let row = run_row(&contexts, strategy, dtype, layout, args.quick);
                rows += 1;
                failed += usize::from(row.failure.is_some());
                // Fallbacks are counted by the chained scan alone.
                let chained = strategy == Strategy::Chained;
                if args.json {
                    let line = json!({
                        "strategy": strategy.name(),
                        "dtype": dtype.name(),
                        "case": layout.name(),
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
                        "{:<17} {:<8} {:<10} {:<6} {:>5} {:>8.3} s {:>10} {:>10}",
                        strategy.name(),
                        dtype.name(),
                        layout.name(),
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
