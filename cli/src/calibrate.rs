//! `gpuscan calibrate`: measures where `Device::Auto` should switch from the CPU to the GPU
//! on this machine, per accumulation dtype, and with `--save` stores the thresholds where
//! every later `Context::new` on this adapter applies them.

use std::time::Instant;

use gpuscan::calibrate::{
    choose_threshold, CalibrateOptions, Calibration, DTypeCalibration, MAX_SLOWDOWN,
};
use gpuscan::{Array, Context, Cumsum, DType, Device};
use serde_json::{json, Value};

use crate::values::{self, blank_or, mem_available_bytes, or_all, seconds, OrAll};
use crate::CliError;
use gpuscan::calibrate::device_type_name;

#[derive(clap::Args)]
pub struct Args {
    /// The largest 1-D size measured: powers of 4 from 1 up to it (2^20 and 1<<20 work too).
    #[arg(long, value_name = "N", default_value = "2^26", value_parser = values::count)]
    max_size: usize,
    /// Accumulation dtypes, comma-separated, or `all` for every dtype the adapter scans on
    /// the GPU.
    #[arg(
        long,
        value_name = "DTYPE,...",
        default_value = "float32,int64,float64,int32",
        value_delimiter = ',',
        value_parser = or_all(blank_or(values::dtype))
    )]
    dtype: Vec<OrAll<Option<DType>>>,
    /// Store the thresholds where Context::new finds them for this adapter
    /// ($GPUSCAN_CALIBRATION, else $XDG_CACHE_HOME/gpuscan or ~/.cache/gpuscan).
    #[arg(long)]
    save: bool,
    /// Print one JSON object instead of the tables.
    #[arg(long)]
    json: bool,
}

/// The dtypes `--dtype` names, each once; `None` for `all`.
fn wanted_dtypes(terms: &[OrAll<Option<DType>>]) -> Result<Option<Vec<DType>>, CliError> {
    let mut named = Vec::new();
    for term in terms {
        match term {
            OrAll::All => return Ok(None),
            OrAll::One(d) => named.push(*d),
        }
    }
    let dtypes = values::unique(&named);
    if dtypes.is_empty() {
        return Err(CliError("--dtype: give at least one dtype".into()));
    }
    Ok(Some(dtypes))
}

pub fn run(args: Args) -> Result<(), CliError> {
    let started = Instant::now();
    // Bad options are errors whether or not there is an adapter.
    let max_size = args.max_size as u64;
    let wanted = wanted_dtypes(&args.dtype)?;
    let ctx = Context::new()?;
    let Some(info) = ctx.adapter_info() else {
        let reason = ctx.gpu_unavailable_reason().unwrap_or("unknown reason");
        if args.json {
            println!("{}", json!({"gpu": false, "reason": reason, "dtypes": []}));
        } else {
            println!(
                "no GPU adapter ({reason}): nothing to calibrate; Device::Auto keeps everything \
                 on the CPU"
            );
        }
        return Ok(());
    };
    let on_gpu = ctx.gpu_dtypes();
    let dtypes = wanted.unwrap_or_else(|| on_gpu.clone());
    check_memory(&dtypes, max_size)?;
    let options = CalibrateOptions::new().max_elements(max_size);

    if !args.json {
        println!(
            "gpuscan calibrate on {} ({}, {}, {} {})",
            info.name,
            info.backend,
            device_type_name(info.device_type),
            info.driver,
            info.driver_info
        );
        println!(
            "times: median of 1 to {} runs after 1 warm-up (about {} s of runs per path and \
             size), host wall time of Context::cumsum on 1-D input already in the accumulation \
             dtype; gpu is end to end (upload, scan, download)",
            options.max_repeats, options.target_seconds
        );
        println!(
            "auto: the path Device::Auto takes under the chosen threshold (the CPU below it, \
             the GPU from it); auto/best: its time over the faster path's, at most {MAX_SLOWDOWN} \
             wherever a threshold allows"
        );
    }
    let mut calibration: Option<Calibration> = None;
    let mut skipped = Vec::new();
    for &dtype in &dtypes {
        if !on_gpu.contains(&dtype) {
            let reason = why_not_on_gpu(&ctx, dtype);
            if !args.json {
                println!("\n{dtype}: not calibrated, always the CPU: {reason}");
            }
            skipped.push(json!({"dtype": dtype.name(), "reason": reason}));
            continue;
        }
        // One dtype at a time, so each table prints as soon as it is measured.
        let part = ctx.calibrate(&options.clone().dtypes(&[dtype]))?;
        match &mut calibration {
            None => calibration = Some(part),
            Some(c) => c.dtypes.extend(part.dtypes),
        }
        if !args.json {
            if let Some(d) = calibration.as_ref().and_then(|c| c.get(dtype)) {
                print!("\n{}", table(d)?);
            }
        }
    }

    let saved = match (&calibration, args.save) {
        (Some(c), true) => Some(c.save()?),
        _ => None,
    };
    let measured: &[DTypeCalibration] = calibration.as_ref().map_or(&[], |c| &c.dtypes);
    if args.json {
        let mut record = json!({
            "gpu": true,
            "adapter": {
                "name": info.name,
                "backend": info.backend.to_string(),
                "device_type": device_type_name(info.device_type),
                "driver": info.driver,
                "driver_info": info.driver_info,
            },
            "max_size": max_size,
            "dtypes": measured.iter().map(dtype_json).collect::<Result<Vec<_>, _>>()?,
            "skipped": skipped,
            "saved": saved.as_ref().map(|p| p.display().to_string()),
            "seconds": started.elapsed().as_secs_f64(),
        });
        if let Some(path) = Calibration::path_for(info).filter(|_| saved.is_none()) {
            record["path"] = json!(path.display().to_string());
        }
        println!("{record}");
    } else {
        let thresholds: Vec<String> = measured
            .iter()
            .map(|d| format!("{} {}", d.dtype, threshold_text(d.threshold)))
            .collect();
        println!(
            "\nthresholds: {}",
            if thresholds.is_empty() {
                "none measured".to_string()
            } else {
                thresholds.join(", ")
            }
        );
        match (&saved, Calibration::path_for(info)) {
            (Some(path), _) => println!(
                "saved to {}: Context::new applies it on this adapter",
                path.display()
            ),
            (None, _) if measured.is_empty() => {}
            (None, Some(path)) => println!(
                "not saved (--save stores it in {}, where Context::new finds it)",
                path.display()
            ),
            (None, None) => {
                println!("not saved (--save needs GPUSCAN_CALIBRATION, XDG_CACHE_HOME or HOME)")
            }
        }
        eprintln!("calibrated in {:.1} s", started.elapsed().as_secs_f64());
    }
    Ok(())
}

/// `never` or `>= N`.
fn threshold_text(t: Option<u64>) -> String {
    t.map_or("never".into(), |t| format!(">= {t}"))
}

/// One dtype's measurements, the path Auto takes at each size, and the threshold.
fn table(d: &DTypeCalibration) -> Result<String, CliError> {
    let choice = choose_threshold(&d.measurements)?;
    let mut out = match d.threshold {
        Some(t) => format!("{}: Device::Auto uses the GPU from {t} elements", d.dtype),
        None => format!("{}: Device::Auto never uses the GPU", d.dtype),
    };
    let worst = d.worst_ratio();
    if choice.within_bound() {
        out.push_str(&format!(
            " (at most {worst:.2}x the faster path at every size)\n"
        ));
    } else {
        out.push_str(&format!(
            " (no threshold keeps it within {MAX_SLOWDOWN}x at every size; this one's worst \
             is {worst:.2}x)\n"
        ));
    }
    out.push_str(&format!(
        "{:>12} {:>11} {:>11} {:>5} {:>10}\n",
        "elements", "cpu", "gpu", "auto", "auto/best"
    ));
    for m in &d.measurements {
        out.push_str(&format!(
            "{:>12} {:>11} {:>11} {:>5} {:>10.2}\n",
            m.elements,
            seconds(m.cpu_seconds),
            seconds(m.gpu_seconds),
            if m.auto_uses_gpu(d.threshold) {
                "gpu"
            } else {
                "cpu"
            },
            m.auto_ratio(d.threshold)
        ));
    }
    Ok(out)
}

fn dtype_json(d: &DTypeCalibration) -> Result<Value, CliError> {
    let choice = choose_threshold(&d.measurements)?;
    let rows: Vec<Value> = d
        .measurements
        .iter()
        .map(|m| {
            json!({
                "elements": m.elements,
                "cpu_seconds": m.cpu_seconds,
                "gpu_seconds": m.gpu_seconds,
                "auto": if m.auto_uses_gpu(d.threshold) { "gpu" } else { "cpu" },
                "auto_over_best": m.auto_ratio(d.threshold),
            })
        })
        .collect();
    Ok(json!({
        "dtype": d.dtype.name(),
        "threshold": d.threshold,
        "worst_ratio": d.worst_ratio(),
        "within_bound": choice.within_bound(),
        "measurements": rows,
    }))
}

/// The library's own words for why `dtype` cannot run on this adapter's GPU.
fn why_not_on_gpu(ctx: &Context, dtype: DType) -> String {
    let probe = Array::zeros(dtype, &[1]).map_err(|e| e.to_string());
    match probe.and_then(|a| {
        ctx.cumsum(&a, &Cumsum::new().dtype(dtype).device(Device::Gpu))
            .map_err(|e| e.to_string())
    }) {
        Err(reason) => reason,
        Ok(_) => "the adapter does not scan it on the GPU".into(),
    }
}

/// Refuses sizes whose buffers cannot fit in memory, rather than failing an allocation late.
fn check_memory(dtypes: &[DType], max_size: u64) -> Result<(), CliError> {
    let widest = dtypes.iter().map(|d| d.size() as u64).max().unwrap_or(1);
    // The input, the CPU result, the GPU path's cast copy and result, and the source and
    // destination buffers, which a software adapter keeps in host memory too.
    let needed = max_size.saturating_mul(6 * widest + 1);
    let Some(available) = mem_available_bytes() else {
        return Ok(());
    };
    if needed > available {
        const GIB: f64 = (1u64 << 30) as f64;
        return Err(CliError(format!(
            "--max-size {max_size} needs about {:.1} GiB of host memory; {:.1} GiB is available",
            needed as f64 / GIB,
            available as f64 / GIB
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_dtypes() {
        let parse = |s: &str| {
            let terms = s.split(',').map(or_all(blank_or(values::dtype)));
            wanted_dtypes(&terms.collect::<Result<Vec<_>, _>>().unwrap())
        };
        assert_eq!(
            parse("float32, int64,float32").unwrap(),
            Some(vec![DType::Float32, DType::Int64])
        );
        assert_eq!(parse("ALL").unwrap(), None);
        assert!(values::dtype("complex64").is_err());
        assert!(parse(",").is_err());
    }
}
