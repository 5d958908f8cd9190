//! The bench's output: an aligned table, or one JSON object per line.

use gpuscan::Context;
use serde_json::{json, Value};

use super::cases::{Case, Check, Variant};
use super::clock::{GpuClock, Repeats};
use super::{Measurement, PathKind};
use crate::info::device_type_name;
use crate::values::{seconds, sig3};

/// Writes the adapter header and each case's rows to stdout as they complete.
pub struct Printer {
    json: bool,
    /// Width of the op column: the longest scan label of the run.
    op_w: usize,
}

/// What the whole run measures, for the header.
pub struct RunInfo<'a> {
    /// The strategies, comma-separated.
    pub strategy: &'a str,
    pub order: gpuscan::Order,
    /// The ops, comma-separated.
    pub ops: &'a str,
    pub variant: &'a Variant,
}

/// Widths of the table's columns.
const CASE_W: usize = 28;
const PATH_W: usize = 15;
const STRATEGY_W: usize = 16;

impl Printer {
    /// `labels`: how the run's rows name their scans.
    pub fn new(json: bool, labels: &[String]) -> Printer {
        let op_w = labels.iter().map(|l| l.chars().count()).max().unwrap_or(0);
        Printer {
            json,
            op_w: op_w.max(6),
        }
    }

    pub fn adapter(
        &mut self,
        ctx: &Context,
        clock: Option<&GpuClock>,
        repeats: &Repeats,
        run: &RunInfo,
    ) {
        let (strategy, order) = (run.strategy, run.order);
        let info = ctx.adapter_info();
        let timing = clock.map(|c| c.timing().name());
        if self.json {
            let record = json!({
                "record": "adapter",
                "gpu": info.is_some(),
                "reason": ctx.gpu_unavailable_reason(),
                "name": info.map(|i| i.name.clone()),
                "backend": info.map(|i| i.backend.to_string()),
                "device_type": info.map(|i| device_type_name(i.device_type)),
                "driver": info.map(|i| i.driver.clone()),
                "driver_info": info.map(|i| i.driver_info.clone()),
                "timing": timing,
                "timestamp_period_ns": clock.and_then(GpuClock::period_ns),
                "host_timing": ["cpu", "gpu-end-to-end"],
                "strategy": strategy,
                "order": format!("{order:?}").to_lowercase(),
                "op": run.ops,
                "reverse": run.variant.reverse,
                "exclusive": run.variant.exclusive,
                "segments": run.variant.segments,
                "repeats": repeats.fixed,
                "warmup": 1,
                "gpuscan_version": env!("CARGO_PKG_VERSION"),
            });
            println!("{record}");
            return;
        }
        match info {
            Some(i) => println!(
                "gpuscan bench on {} ({}, {}, {} {})",
                i.name,
                i.backend,
                device_type_name(i.device_type),
                i.driver,
                i.driver_info
            ),
            None => println!(
                "gpuscan bench without a GPU adapter ({})",
                ctx.gpu_unavailable_reason().unwrap_or("unknown reason")
            ),
        }
        let runs = match repeats.fixed {
            Some(1) => "one run".into(),
            Some(n) => format!("median of {n} runs"),
            None => format!(
                "median of {} to {} runs (fewer for slow cases)",
                Repeats::MIN,
                Repeats::MAX
            ),
        };
        let order_name = format!("{order:?}").to_lowercase();
        match timing {
            Some(t) => println!(
                "times: {runs} after 1 warm-up; gpu-resident and copy timed by {}, \
                 cpu and gpu-end-to-end by host wall time; GPU strategy {strategy}; \
                 float order {order_name}",
                if t == "host" {
                    "host wall time around submit and wait (no timestamp queries here)"
                } else {
                    "GPU timestamp queries around the recorded commands"
                }
            ),
            None => {
                println!("times: {runs} after 1 warm-up, host wall time; float order {order_name}")
            }
        }
        println!(
            "scans: {}{}",
            run.ops.replace(',', ", "),
            run.variant.suffix()
        );
        println!(
            "GPU/CPU: cpu time / this row's time (above 1: faster than the CPU); scan/copy: this \
             row's time / the copy's; max rel err: max |x - ref| / |ref| against the same scan \
             in float64 (logcumsumexp: / max(1, |ref|)); exact: integer, cummax and cummin \
             results equal the exact scan; N WRONG: N elements differ from it, or exceed the \
             rounding bound (cumprod, nancumprod, logcumsumexp)"
        );
        println!();
        let op_w = self.op_w;
        println!(
            "{:<CASE_W$} {:<op_w$} {:<PATH_W$} {:<STRATEGY_W$} {:>10} {:>4} {:>10} {:>9} {:>8} \
             {:>9} {:>11}",
            "case",
            "op",
            "path",
            "strategy",
            "elements",
            "runs",
            "median",
            "G elem/s",
            "GPU/CPU",
            "scan/copy",
            "max rel err"
        );
    }

    /// The rows of one op of a case; the case is named on the first.
    pub fn case(&mut self, case: &Case, variant: &Variant, rows: &[Measurement]) {
        let op_w = self.op_w;
        for (i, m) in rows.iter().enumerate() {
            if self.json {
                println!("{}", record(case, variant, m));
                continue;
            }
            let label = if i == 0 { case.label() } else { String::new() };
            println!(
                "{:<CASE_W$} {:<op_w$} {:<PATH_W$} {:<STRATEGY_W$} {:>10} {:>4} {:>10} {:>9} \
                 {:>8} {:>9} {:>11}",
                label,
                variant.label(m.op),
                m.path.name(),
                m.algorithm.unwrap_or("-"),
                case.elements(),
                m.runs,
                seconds(m.median.seconds),
                sig3(m.gelem_per_s(case)),
                m.speedup.map(sig3).unwrap_or_else(|| "-".into()),
                m.scan_over_copy.map(sig3).unwrap_or_else(|| "-".into()),
                error_cell(m),
            );
        }
    }
}

fn record(case: &Case, variant: &Variant, m: &Measurement) -> Value {
    json!({
        "record": "measurement",
        "op": m.op.name(),
        "reverse": variant.reverse,
        "exclusive": variant.exclusive,
        "segments": variant.segments,
        "path": m.path.name(),
        "dtype": case.dtype.name(),
        "accumulate_dtype": case.acc(m.op).name(),
        "shape": case.shape,
        "axis": case.axis,
        "elements": case.elements(),
        "runs": m.runs,
        "seconds": m.median.seconds,
        "host_seconds": m.median.host_seconds,
        "timing": m.timing.name(),
        "gelem_per_s": m.gelem_per_s(case),
        // JSON has no infinity: an infinite error (inf or NaN where the reference is finite)
        // is null with `non_finite` set.
        "max_rel_error": m.accuracy.map(|a| a.max_rel_error).filter(|e| e.is_finite()),
        "non_finite": m.accuracy.is_some_and(|a| !a.max_rel_error.is_finite()),
        "mismatches": m.accuracy.and_then(|a| a.mismatches),
        // exact (mismatches counted), bound (elements beyond the rounding bound counted in
        // beyond_bound) or relative (float sums: the error only).
        "check": m.accuracy.map(|a| a.check.name()),
        "beyond_bound": m.accuracy.and_then(|a| a.beyond_bound),
        "strategy": m.algorithm,
        "speedup_vs_cpu": m.speedup,
        "scan_over_copy": m.scan_over_copy,
    })
}

fn error_cell(m: &Measurement) -> String {
    match m.accuracy {
        None => "-".into(),
        Some(a) => match (a.check, a.wrong()) {
            (_, Some(n @ 1..)) => format!("{n} WRONG"),
            (Check::Exact, _) => "exact".into(),
            _ if a.max_rel_error == 0.0 => "0".into(),
            _ => format!("{:.1e}", a.max_rel_error),
        },
    }
}

/// The series a chart draws: each path, per dtype and op, over the 1-D cases.
pub fn series_name(path: PathKind, dtype: Option<&str>, op: Option<&str>) -> String {
    let mut name = String::new();
    for part in [dtype, op].into_iter().flatten() {
        name.push_str(part);
        name.push(' ');
    }
    name.push_str(path.name());
    name
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_numbers() {
        assert_eq!(sig3(0.00712), "0.00712");
        assert_eq!(sig3(1.739), "1.74");
        assert_eq!(sig3(233.4), "233");
        assert_eq!(seconds(0.000_056_7), "56.7 µs");
        assert_eq!(seconds(0.75), "750 ms");
        assert_eq!(seconds(2.5), "2.50 s");
    }
}
