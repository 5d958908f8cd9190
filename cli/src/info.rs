//! `gpuscan info`: the adapter, the features and limits the scan kernels depend on, which
//! accumulation dtypes run on the GPU, and where `Device::Auto` switches to it.

use gpuscan::calibrate::{AutoPolicySource, Calibration};
use gpuscan::{wgpu, Context};
use serde_json::{json, Value};

use crate::CliError;

#[derive(clap::Args)]
pub struct Args {
    /// Print one JSON object instead of the text report.
    #[arg(long)]
    json: bool,
}

pub fn run(args: Args) -> Result<(), CliError> {
    let ctx = Context::new()?;
    if args.json {
        println!("{}", report_json(&ctx));
    } else {
        print!("{}", report_text(&ctx));
    }
    Ok(())
}

pub(crate) use gpuscan::calibrate::device_type_name;

/// The features the kernels use, as (JSON key, text label, wgpu feature).
const FEATURES: [(&str, &str, wgpu::Features); 6] = [
    ("subgroup", "subgroups", wgpu::Features::SUBGROUP),
    ("shader_f16", "shader f16", wgpu::Features::SHADER_F16),
    ("shader_int64", "shader int64", wgpu::Features::SHADER_INT64),
    ("shader_f64", "shader f64", wgpu::Features::SHADER_F64),
    (
        "timestamp_query",
        "timestamp queries",
        wgpu::Features::TIMESTAMP_QUERY,
    ),
    (
        "timestamp_query_inside_encoders",
        "timestamps inside encoders",
        wgpu::Features::TIMESTAMP_QUERY_INSIDE_ENCODERS,
    ),
];

/// The limits that bound chunk, tile and grid sizes, as (JSON key, text label, value).
fn limits(l: &wgpu::Limits) -> [(&'static str, &'static str, u64); 6] {
    [
        (
            "max_storage_buffer_binding_size",
            "max storage binding size",
            l.max_storage_buffer_binding_size,
        ),
        ("max_buffer_size", "max buffer size", l.max_buffer_size),
        (
            "max_compute_workgroup_size_x",
            "max workgroup size x",
            l.max_compute_workgroup_size_x.into(),
        ),
        (
            "max_compute_invocations_per_workgroup",
            "max invocations per workgroup",
            l.max_compute_invocations_per_workgroup.into(),
        ),
        (
            "max_compute_workgroups_per_dimension",
            "max workgroups per dimension",
            l.max_compute_workgroups_per_dimension.into(),
        ),
        (
            "max_compute_workgroup_storage_size",
            "workgroup storage size",
            l.max_compute_workgroup_storage_size.into(),
        ),
    ]
}

/// `Some(n)` when `Device::Auto` uses the GPU from `n` elements, `None` when it never does.
fn auto_threshold(ctx: &Context) -> Option<u64> {
    ctx.auto_threshold(gpuscan::DType::Float32)
        .filter(|_| ctx.has_gpu())
}

/// `float32 >= 1048576, int64 never, ...` over the dtypes the adapter scans on the GPU (Auto
/// keeps the others on the CPU whatever the policy says).
fn auto_thresholds_text(ctx: &Context) -> String {
    let items: Vec<String> = ctx
        .gpu_dtypes()
        .into_iter()
        .map(|d| match ctx.auto_threshold(d) {
            Some(t) => format!("{d} >= {t}"),
            None => format!("{d} never"),
        })
        .collect();
    items.join(", ")
}

/// Where the policy came from, in words.
fn auto_source_text(ctx: &Context, software: bool) -> String {
    const HINT: &str = "`gpuscan calibrate --save` measures this machine";
    match ctx.auto_policy_source() {
        AutoPolicySource::Default if software => {
            format!("default: never on a software adapter (the CPU path is faster); {HINT}")
        }
        AutoPolicySource::Default => format!(
            "default: {} elements, an estimate; {HINT}",
            gpuscan::DEFAULT_AUTO_THRESHOLD
        ),
        AutoPolicySource::Calibration(path) => {
            // Name the dtypes it covers: the others keep the default.
            let covered = Calibration::load(&path)
                .map(|c| {
                    let names: Vec<&str> = c.dtypes.iter().map(|d| d.dtype.name()).collect();
                    format!(" (covers {}; other dtypes: default)", names.join(" "))
                })
                .unwrap_or_default();
            format!("stored calibration {}{covered}", path.display())
        }
        AutoPolicySource::Options => "ContextOptions::auto_policy".into(),
        AutoPolicySource::Set => "Context::set_auto_policy".into(),
        other => other.name().into(),
    }
}

fn report_json(ctx: &Context) -> Value {
    let dtypes: Vec<&str> = ctx.gpu_dtypes().iter().map(|d| d.name()).collect();
    let (Some(info), Some(device)) = (ctx.adapter_info(), ctx.device()) else {
        return json!({
            "gpu": false,
            "reason": ctx.gpu_unavailable_reason().unwrap_or("unknown"),
            "gpu_dtypes": dtypes,
            "auto_threshold": null,
            "auto_policy": {},
            "auto_policy_source": ctx.auto_policy_source().name(),
            "calibration_path": null,
        });
    };
    let features = device.features();
    let feature_map: serde_json::Map<String, Value> = FEATURES
        .iter()
        .map(|&(key, _, f)| (key.to_string(), Value::Bool(features.contains(f))))
        .collect();
    let limit_map: serde_json::Map<String, Value> = limits(&device.limits())
        .iter()
        .map(|&(key, _, v)| (key.to_string(), json!(v)))
        .collect();
    let auto_policy: serde_json::Map<String, Value> = ctx
        .gpu_dtypes()
        .into_iter()
        .map(|d| (d.name().to_string(), json!(ctx.auto_threshold(d))))
        .collect();
    let source = ctx.auto_policy_source();
    json!({
        "gpu": true,
        "name": info.name,
        "backend": info.backend.to_string(),
        "device_type": device_type_name(info.device_type),
        "driver": info.driver,
        "driver_info": info.driver_info,
        "features": feature_map,
        "subgroup_min_size": info.subgroup_min_size,
        "subgroup_max_size": info.subgroup_max_size,
        "limits": limit_map,
        "gpu_dtypes": dtypes,
        "auto_threshold": auto_threshold(ctx),
        "auto_policy": auto_policy,
        "auto_policy_source": source.name(),
        "calibration_path": match &source {
            AutoPolicySource::Calibration(path) => Some(path.display().to_string()),
            _ => None,
        },
        "probe": ctx.probe_report().map(|p| probe_json(&p)),
    })
}

/// The adapter probe as JSON: what the kernels use, and what was left out and why.
pub(crate) fn probe_json(p: &gpuscan::ProbeReport) -> Value {
    json!({
        "subgroup_tile_scans": p.subgroups,
        "subgroup_size": p.subgroup_size,
        "subgroups_in_local_order": p.local_order,
        "subgroups_off": p.subgroups_off,
        "excluded": p.excluded.iter().map(|(a, why)| json!({
            "algorithm": a.name(),
            "reason": why,
        })).collect::<Vec<_>>(),
    })
}

fn report_text(ctx: &Context) -> String {
    let (Some(info), Some(device)) = (ctx.adapter_info(), ctx.device()) else {
        return format!(
            "no GPU adapter: {}\neverything runs on the CPU (Device::Auto and Device::Cpu; \
             Device::Gpu is an error)\n",
            ctx.gpu_unavailable_reason().unwrap_or("unknown reason")
        );
    };
    let mut out = String::new();
    let mut line = |label: &str, value: String| row(&mut out, "", label, value);
    line("adapter", info.name.clone());
    line("backend", info.backend.to_string());
    let software = if info.device_type == wgpu::DeviceType::Cpu {
        " (software rasteriser)"
    } else {
        ""
    };
    line(
        "device type",
        format!("{}{software}", device_type_name(info.device_type)),
    );
    line("driver", info.driver.clone());
    line("driver info", info.driver_info.clone());

    let features = device.features();
    let yes_no = |f: wgpu::Features| if features.contains(f) { "yes" } else { "no" };
    out.push_str("features\n");
    for (_, label, f) in FEATURES {
        let mut value = yes_no(f).to_string();
        if f == wgpu::Features::SUBGROUP && features.contains(f) {
            value.push_str(&format!(
                " (subgroup size {}..{})",
                info.subgroup_min_size, info.subgroup_max_size
            ));
        }
        row(&mut out, "  ", label, value);
    }
    out.push_str("limits\n");
    for (key, label, v) in limits(&device.limits()) {
        let value = if key.ends_with("_size") && key != "max_compute_workgroup_size_x" {
            format!("{v} bytes{}", human_bytes(v))
        } else {
            v.to_string()
        };
        row(&mut out, "  ", label, value);
    }
    let dtypes: Vec<&str> = ctx.gpu_dtypes().iter().map(|d| d.name()).collect();
    row(&mut out, "", "GPU accumulation dtypes", dtypes.join(" "));
    if let Some(probe) = ctx.probe_report() {
        row(&mut out, "", "probe", probe.to_string());
    }
    row(
        &mut out,
        "",
        "Device::Auto thresholds",
        auto_thresholds_text(ctx),
    );
    let software = info.device_type == wgpu::DeviceType::Cpu;
    row(
        &mut out,
        "",
        "Device::Auto policy",
        auto_source_text(ctx, software),
    );
    out
}

/// Appends one aligned `label value` line.
fn row(out: &mut String, indent: &str, label: &str, value: String) {
    let width = 31 - indent.len();
    out.push_str(&format!("{indent}{label:<width$} {value}\n"));
}

/// " (128 MiB)" for sizes of at least 1 KiB that are whole in some binary unit, else "".
fn human_bytes(v: u64) -> String {
    const UNITS: [&str; 5] = ["KiB", "MiB", "GiB", "TiB", "PiB"];
    let mut unit = None;
    let mut x = v;
    for u in UNITS {
        if x < 1024 || !x.is_multiple_of(1024) {
            break;
        }
        x /= 1024;
        unit = Some(u);
    }
    match unit {
        Some(u) => format!(" ({x} {u})"),
        // Not a whole unit (u64::MAX on some drivers): show an approximate size instead.
        None if v >= 1 << 30 => format!(" ({:.1} GiB)", v as f64 / (1u64 << 30) as f64),
        None => String::new(),
    }
}
