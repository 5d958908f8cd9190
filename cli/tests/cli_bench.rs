//! The `gpuscan bench` and `gpuscan info` subcommands, run as the built binary.
//!
//! GPU expectations need an adapter (lavapipe in CI). Without one these tests fail saying how
//! to install it, unless GPUSCAN_GPU_OPTIONAL=1 makes the GPU optional.

// The library's integration-test helpers, shared rather than copied.
#[path = "../../tests/common/mod.rs"]
mod common;

use std::path::PathBuf;
use std::process::{Command, Output};
use std::sync::OnceLock;

use serde_json::Value;

/// An adapter name no machine has, to run the binary as if there were no GPU.
const NO_ADAPTER: (&str, &str) = ("WGPU_ADAPTER_NAME", "gpuscan-test-no-such-adapter");

fn gpuscan(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_gpuscan"));
    cmd.args(args);
    // Mesa's window-system probe prints to stderr without a runtime directory; give it one
    // so that stderr holds only what gpuscan says.
    if std::env::var_os("XDG_RUNTIME_DIR").is_none() {
        cmd.env("XDG_RUNTIME_DIR", runtime_dir());
    }
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().expect("the gpuscan binary runs")
}

fn runtime_dir() -> &'static PathBuf {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = std::env::temp_dir().join("gpuscan-cli-bench-runtime");
        let mut builder = std::fs::DirBuilder::new();
        builder.recursive(true);
        #[cfg(unix)]
        std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
        builder.create(&dir).expect("create a runtime directory");
        dir
    })
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// `gpuscan info --json`, parsed once per test binary.
fn info() -> &'static Value {
    static INFO: OnceLock<Value> = OnceLock::new();
    INFO.get_or_init(|| {
        let o = gpuscan(&["info", "--json"], &[]);
        assert!(o.status.success(), "info --json failed: {}", stderr(&o));
        serde_json::from_str(stdout(&o).trim()).expect("info --json prints one JSON object")
    })
}

/// Whether GPU rows are expected, by the binary's own `info` (see `common::gpu_wanted`).
fn gpu_expected() -> bool {
    let reason = info()["reason"].as_str().unwrap_or("").to_string();
    common::gpu_wanted(info()["gpu"] == Value::Bool(true), &reason)
}

fn json_lines(o: &Output) -> Vec<Value> {
    assert!(o.status.success(), "bench failed: {}", stderr(o));
    stdout(o)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not a JSON line ({e}): {l}")))
        .collect()
}

/// Asserts the process failed with exit code 2 and exactly one line on stderr; returns it.
fn one_line_error(o: &Output) -> String {
    assert_eq!(o.status.code(), Some(2), "stderr: {}", stderr(o));
    let err = stderr(o);
    let lines: Vec<&str> = err.lines().collect();
    assert_eq!(lines.len(), 1, "expected one line on stderr, got: {err}");
    assert!(lines[0].starts_with("gpuscan: "), "{err}");
    lines[0].to_string()
}

#[test]
fn bench_json_has_the_adapter_then_every_measurement() {
    let gpu = gpu_expected();
    let o = gpuscan(
        &[
            "bench",
            "--json",
            "--sizes",
            "1024,4096",
            "--shape",
            "64x32",
            "--axis",
            "0,1",
            "--repeats",
            "2",
        ],
        &[],
    );
    let records = json_lines(&o);
    let adapter = &records[0];
    assert_eq!(adapter["record"], "adapter", "{adapter}");
    for key in ["name", "backend", "device_type", "driver"] {
        assert_eq!(adapter[key].is_string(), gpu, "{key} in {adapter}");
    }
    if gpu {
        let timing = adapter["timing"].as_str().expect("timing method");
        assert!(["timestamp-query", "host"].contains(&timing), "{timing}");
    }
    let progress = stderr(&o);
    assert!(progress.contains("float32 (1024,) cpu ..."), "{progress}");

    let measurements = &records[1..];
    let cases: [(&[u64], Value); 4] = [
        (&[1024], Value::Null),
        (&[4096], Value::Null),
        (&[64, 32], 0.into()),
        (&[64, 32], 1.into()),
    ];
    let paths: &[&str] = if gpu {
        &["cpu", "gpu-resident", "gpu-end-to-end", "copy"]
    } else {
        &["cpu"]
    };
    assert_eq!(measurements.len(), cases.len() * paths.len());
    for (m, ((shape, axis), path)) in measurements.iter().zip(
        cases
            .iter()
            .flat_map(|c| paths.iter().map(move |p| (c.clone(), *p))),
    ) {
        assert_eq!(m["record"], "measurement", "{m}");
        assert_eq!(m["path"], path, "{m}");
        assert_eq!(m["dtype"], "float32", "{m}");
        // The default scan: a plain cumsum.
        assert_eq!(m["op"], "cumsum", "{m}");
        assert_eq!(m["reverse"], false, "{m}");
        assert_eq!(m["exclusive"], false, "{m}");
        assert!(m["segments"].is_null(), "{m}");
        let got_shape: Vec<u64> = m["shape"]
            .as_array()
            .expect("shape is an array")
            .iter()
            .map(|d| d.as_u64().expect("shape holds integers"))
            .collect();
        assert_eq!(got_shape, shape, "{m}");
        assert_eq!(m["axis"], axis, "{m}");
        assert_eq!(
            m["elements"].as_u64(),
            Some(shape.iter().product::<u64>()),
            "{m}"
        );
        let seconds = m["seconds"].as_f64().expect("seconds is a number");
        assert!(seconds > 0.0 && seconds < 10.0, "{m}");
        assert!(m["gelem_per_s"].as_f64().expect("gelem_per_s") > 0.0, "{m}");
        assert_eq!(m["runs"], 2, "{m}");
        if path == "copy" {
            assert!(m["max_rel_error"].is_null(), "{m}");
        } else {
            let err = m["max_rel_error"].as_f64().expect("max_rel_error number");
            // float32 against float64: sequential sums of 4096 values stay well inside this.
            assert!((0.0..1e-4).contains(&err), "{m}");
        }
        if path.starts_with("gpu-") {
            // The default strategy is the selection table's pick, by its algorithm's name.
            let strategy = m["strategy"]
                .as_str()
                .expect("a GPU row names its algorithm");
            assert!(
                ["blelloch", "reduce-then-scan", "chained"].contains(&strategy),
                "{m}"
            );
            assert!(m["speedup_vs_cpu"].as_f64().is_some(), "{m}");
            assert!(m["scan_over_copy"].as_f64().is_some(), "{m}");
        } else {
            assert!(m["strategy"].is_null(), "{m}");
        }
    }
}

#[test]
fn every_strategy_gets_its_own_gpu_rows() {
    if !gpu_expected() {
        return;
    }
    let o = gpuscan(
        &[
            "bench",
            "--json",
            "--strategy",
            "all",
            "--paths",
            "gpu-resident,copy",
            "--sizes",
            "5000",
            "--shape",
            "300x7",
            "--axis",
            "0",
            "--repeats",
            "1",
        ],
        &[],
    );
    let records = json_lines(&o);
    assert_eq!(records[0]["strategy"], "blelloch,reduce-then-scan,chained");
    let rows: Vec<(String, Value)> = records[1..]
        .iter()
        .map(|m| {
            (
                m["path"].as_str().unwrap().to_string(),
                m["strategy"].clone(),
            )
        })
        .collect();
    let one_case = [
        ("gpu-resident", Value::from("blelloch")),
        ("gpu-resident", Value::from("reduce-then-scan")),
        ("gpu-resident", Value::from("chained")),
        ("copy", Value::Null),
    ];
    let expected: Vec<(String, Value)> = one_case
        .iter()
        .chain(one_case.iter())
        .map(|(p, s)| (p.to_string(), s.clone()))
        .collect();
    assert_eq!(rows, expected);
    for m in &records[1..] {
        if m["path"] == "gpu-resident" {
            let err = m["max_rel_error"].as_f64().expect("max_rel_error number");
            assert!((0.0..1e-5).contains(&err), "{m}");
        }
    }
}

#[test]
fn bench_on_the_cpu_alone_prints_a_table() {
    let o = gpuscan(
        &[
            "bench",
            "--device",
            "cpu",
            "--sizes",
            "1024",
            "--shape",
            "none",
            "--repeats",
            "2",
        ],
        &[],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let out = stdout(&o);
    assert!(out.contains("max rel err"), "{out}");
    let rows: Vec<&str> = out.lines().filter(|l| l.contains(" 1024 ")).collect();
    assert_eq!(rows.len(), 1, "{out}");
    assert!(
        rows[0].contains("float32 (1024,)") && rows[0].contains("cpu"),
        "{out}"
    );
    assert!(!out.contains("gpu-resident"), "{out}");
}

#[test]
fn bad_options_exit_2_with_one_line() {
    let cases: [(&[&str], &str); 17] = [
        (&["--sizes", "abc"], "--sizes"),
        (&["--sizes", "0"], "--sizes"),
        (&["--dtype", "float128"], "float128"),
        (&["--strategy", "decoupled-lookback"], "reduce-then-scan"),
        (&["--strategy", "chained,nope"], "nope"),
        (&["--paths", "gpu"], "gpu-resident"),
        (&["--repeats", "0"], "--repeats"),
        (&["--repeats", "many"], "--repeats"),
        (&["--shape", "64x"], "--shape"),
        (&["--shape", "64x32", "--axis", "2"], "out of bounds"),
        (&["--device", "tpu"], "cpu or gpu"),
        (&["--plot", "/nonexistent-gpuscan-dir/chart.svg"], "plot"),
        (&["--op", "cumfoo"], "cumfoo"),
        (&["--op", "cumsum,cumprod,nope"], "logcumsumexp"),
        (&["--op", ","], "--op"),
        (&["--segments", "0"], "--segments"),
        // 64 elements along axis 0 of 64x32: 65 segments cannot fit.
        (
            &["--shape", "64x32", "--sizes", "none", "--segments", "65"],
            "65",
        ),
    ];
    for (args, needle) in cases {
        let mut full = vec!["bench"];
        full.extend_from_slice(args);
        let line = one_line_error(&gpuscan(&full, &[]));
        assert!(line.contains(needle), "{args:?}: {line}");
    }
}

#[test]
fn selftest_checks_its_options_and_needs_an_adapter() {
    for (args, needle) in [
        (&["--strategy", "auto"][..], "by name"),
        (&["--strategy", "fastest"][..], "reduce-then-scan"),
        (&["--bogus"][..], "--bogus"),
    ] {
        let mut full = vec!["selftest"];
        full.extend_from_slice(args);
        let line = one_line_error(&gpuscan(&full, &[]));
        assert!(line.contains(needle), "{args:?}: {line}");
    }
    let line = one_line_error(&gpuscan(&["selftest", "--quick"], &[NO_ADAPTER]));
    assert!(line.contains("no GPU adapter"), "{line}");
}

#[test]
fn without_an_adapter_only_the_cpu_rows_run() {
    let o = gpuscan(
        &["bench", "--json", "--sizes", "1024", "--shape", "none"],
        &[NO_ADAPTER],
    );
    let records = json_lines(&o);
    assert_eq!(records[0]["gpu"], false, "{}", records[0]);
    assert_eq!(records.len(), 2, "{records:?}");
    assert_eq!(records[1]["path"], "cpu");
    assert!(stderr(&o).contains("no GPU adapter"), "{}", stderr(&o));

    let o = gpuscan(
        &[
            "bench", "--device", "gpu", "--sizes", "1024", "--shape", "none",
        ],
        &[NO_ADAPTER],
    );
    assert!(one_line_error(&o).contains("no GPU adapter"));

    let o = gpuscan(&["info"], &[NO_ADAPTER]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stdout(&o).starts_with("no GPU adapter: "), "{}", stdout(&o));
    assert!(stdout(&o).contains("CPU"), "{}", stdout(&o));
}

#[test]
fn info_names_the_adapter() {
    let gpu = gpu_expected();
    let o = gpuscan(&["info"], &[]);
    assert!(o.status.success(), "{}", stderr(&o));
    let text = stdout(&o);
    let json = info();
    if gpu {
        let name = json["name"].as_str().expect("adapter name");
        assert!(text.contains(name), "{text}");
        assert!(text.contains("timestamp queries"), "{text}");
        assert!(text.contains("max storage binding size"), "{text}");
        assert!(json["gpu_dtypes"]
            .as_array()
            .expect("gpu_dtypes")
            .contains(&"float32".into()));
        assert!(
            json["limits"]["max_buffer_size"].as_u64().is_some(),
            "{json}"
        );
        assert!(json["features"]["timestamp_query"].is_boolean(), "{json}");
        // The probe ran: lavapipe's subgroups are sound, and every algorithm passed.
        assert!(text.contains("probe "), "{text}");
        assert_eq!(json["probe"]["excluded"], serde_json::json!([]), "{json}");
        if name.contains("llvmpipe") {
            assert_eq!(json["probe"]["subgroup_tile_scans"], true, "{json}");
            assert_eq!(json["probe"]["subgroup_size"], 8, "{json}");
        }
    } else {
        assert!(text.starts_with("no GPU adapter: "), "{text}");
    }
}

#[test]
fn plot_writes_an_svg_chart() {
    let path = std::env::temp_dir().join(format!("gpuscan-bench-{}.svg", std::process::id()));
    let o = gpuscan(
        &[
            "bench",
            "--sizes",
            "1024,4096",
            "--shape",
            "none",
            "--repeats",
            "1",
            "--plot",
            path.to_str().expect("a UTF-8 temp path"),
        ],
        &[],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let svg = std::fs::read_to_string(&path).expect("the chart was written");
    let _ = std::fs::remove_file(&path);
    assert!(svg.starts_with("<svg"), "{svg}");
    assert!(svg.trim_end().ends_with("</svg>"));
    assert!(
        svg.contains("<polyline") && svg.contains(">cpu</text>"),
        "{svg}"
    );
}

#[test]
fn calibrate_measures_saves_and_info_reports_it() {
    let path = std::env::temp_dir().join(format!(
        "gpuscan-cli-calibration-{}.txt",
        std::process::id()
    ));
    let _ = std::fs::remove_file(&path);
    let env = [(
        "GPUSCAN_CALIBRATION",
        path.to_str().expect("a UTF-8 temp path"),
    )];

    // Without an adapter: one line saying everything stays on the CPU, success, no file.
    let o = gpuscan(&["calibrate", "--save"], &[NO_ADAPTER, env[0]]);
    assert!(o.status.success(), "{}", stderr(&o));
    let text = stdout(&o);
    assert_eq!(text.lines().count(), 1, "{text}");
    assert!(text.contains("CPU"), "{text}");
    assert!(!path.exists());

    let o = gpuscan(&["calibrate", "--max-size", "0"], &[]);
    assert!(one_line_error(&o).contains("--max-size"));
    let o = gpuscan(&["calibrate", "--dtype", "complex64"], &[]);
    assert!(one_line_error(&o).contains("complex64"));

    if !gpu_expected() {
        return;
    }
    let o = gpuscan(
        &["calibrate", "--max-size", "64", "--dtype", "float32"],
        &env,
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let text = stdout(&o);
    assert!(
        text.contains("elements") && text.contains("auto/best"),
        "{text}"
    );
    assert!(text.contains("\nthresholds: float32 "), "{text}");
    assert!(!path.exists(), "saved without --save");

    let o = gpuscan(
        &[
            "calibrate",
            "--max-size",
            "2^6",
            "--dtype",
            "float32",
            "--save",
            "--json",
        ],
        &env,
    );
    let record = &json_lines(&o)[0];
    let dtypes = record["dtypes"].as_array().expect("dtypes");
    assert_eq!(dtypes.len(), 1, "{record}");
    assert_eq!(dtypes[0]["dtype"], "float32");
    let sizes: Vec<u64> = dtypes[0]["measurements"]
        .as_array()
        .expect("measurements")
        .iter()
        .map(|m| m["elements"].as_u64().expect("elements"))
        .collect();
    assert_eq!(sizes, [1, 4, 16, 64]);
    assert_eq!(record["saved"].as_str(), path.to_str());
    let stored = std::fs::read_to_string(&path).expect("saved");
    assert!(stored.starts_with("gpuscan-calibration 1\n"), "{stored}");

    // `info` on the same adapter reports the stored calibration.
    let o = gpuscan(&["info", "--json"], &env);
    assert!(o.status.success(), "{}", stderr(&o));
    let json: Value = serde_json::from_str(stdout(&o).trim()).expect("one JSON object");
    assert_eq!(json["auto_policy_source"], "calibration", "{json}");
    assert_eq!(json["calibration_path"].as_str(), path.to_str());
    assert_eq!(json["auto_policy"]["float32"], dtypes[0]["threshold"]);
    let o = gpuscan(&["info"], &env);
    let text = stdout(&o);
    assert!(text.contains("Device::Auto thresholds"), "{text}");
    assert!(text.contains("stored calibration"), "{text}");
    let _ = std::fs::remove_file(&path);
}

/// The measurement records of a `--json` run, after checking the adapter record.
fn measurements(o: &Output) -> Vec<Value> {
    let records = json_lines(o);
    assert_eq!(records[0]["record"], "adapter", "{}", records[0]);
    records[1..].to_vec()
}

/// Whether a row's check accepted its result: exact with no mismatch, within the bound, or
/// (float sums, which are only measured) a small relative error.
fn passed(m: &Value) -> bool {
    match m["check"].as_str() {
        Some("exact") => m["mismatches"] == 0,
        Some("bound") => m["beyond_bound"] == 0,
        Some("relative") => m["max_rel_error"].as_f64().is_some_and(|e| e < 1e-4),
        _ => panic!("a computed row has a check: {m}"),
    }
}

#[test]
fn every_op_gets_every_row_and_passes_its_check() {
    let gpu = gpu_expected();
    let o = gpuscan(
        &[
            "bench",
            "--json",
            "--op",
            "cummax,cumprod",
            "--dtype",
            "float32,int64",
            "--sizes",
            "3000",
            "--shape",
            "48x20",
            "--axis",
            "0,1",
            "--repeats",
            "1",
        ],
        &[],
    );
    let progress = stderr(&o);
    assert!(
        progress.contains("float32 (3000,) cummax cpu ..."),
        "{progress}"
    );
    let records = json_lines(&o);
    assert_eq!(records[0]["op"], "cummax,cumprod", "{}", records[0]);
    let paths: &[&str] = if gpu {
        &["cpu", "gpu-resident", "gpu-end-to-end", "copy"]
    } else {
        &["cpu"]
    };
    let ms = &records[1..];
    // 2 dtypes x 3 cases x 2 ops, each with every path, ops innermost but for the paths.
    assert_eq!(ms.len(), 2 * 3 * 2 * paths.len());
    for (i, m) in ms.iter().enumerate() {
        let op = ["cummax", "cumprod"][(i / paths.len()) % 2];
        assert_eq!(m["op"], op, "{m}");
        assert_eq!(m["path"], paths[i % paths.len()], "{m}");
        let dtype = m["dtype"].as_str().unwrap();
        // cummax keeps the dtype; cumprod of int64 is int64, of float32 float32.
        assert_eq!(m["accumulate_dtype"], dtype, "{m}");
        if m["path"] == "copy" {
            assert!(m["check"].is_null(), "{m}");
            continue;
        }
        let check = match (op, dtype) {
            ("cumprod", "float32") => "bound",
            _ => "exact",
        };
        assert_eq!(m["check"], check, "{m}");
        assert!(passed(m), "{m}");
        if check == "bound" {
            // Products of 3000 factors within 1% of 1, in float32: far inside the bound.
            let err = m["max_rel_error"].as_f64().expect("max_rel_error");
            assert!(err < 1e-4, "{m}");
        }
    }
}

#[test]
fn reverse_exclusive_and_segments_apply_to_every_row() {
    let o = gpuscan(
        &[
            "bench",
            "--json",
            "--reverse",
            "--exclusive",
            "--segments",
            "4",
            "--op",
            "cumsum,logcumsumexp,cummin",
            "--dtype",
            "float32,int32",
            "--sizes",
            "1000",
            "--shape",
            "30x17",
            "--repeats",
            "1",
        ],
        &[],
    );
    let records = json_lines(&o);
    let adapter = &records[0];
    assert_eq!(adapter["reverse"], true, "{adapter}");
    assert_eq!(adapter["exclusive"], true, "{adapter}");
    assert_eq!(adapter["segments"], 4, "{adapter}");
    let ms = &records[1..];
    assert!(ms.len() >= 2 * 3 * 3, "{}", ms.len());
    for m in ms {
        assert_eq!(m["reverse"], true, "{m}");
        assert_eq!(m["exclusive"], true, "{m}");
        assert_eq!(m["segments"], 4, "{m}");
        if m["path"] != "copy" {
            assert!(passed(m), "{m}");
        }
    }
    // numpy's result dtypes: logcumsumexp of int32 computes in float64, cummin keeps int32.
    let acc = |op: &str, dtype: &str| {
        ms.iter()
            .find(|m| m["op"] == op && m["dtype"] == dtype)
            .map(|m| m["accumulate_dtype"].clone())
    };
    assert_eq!(acc("logcumsumexp", "int32"), Some("float64".into()));
    assert_eq!(acc("cummin", "int32"), Some("int32".into()));
    assert_eq!(acc("cumsum", "int32"), Some("int64".into()));
    // The table names the variants on every row.
    let o = gpuscan(
        &[
            "bench",
            "--device",
            "cpu",
            "--reverse",
            "--sizes",
            "1024",
            "--shape",
            "none",
            "--repeats",
            "1",
        ],
        &[],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let out = stdout(&o);
    let rows: Vec<&str> = out.lines().filter(|l| l.contains(" 1024 ")).collect();
    assert_eq!(rows.len(), 1, "{out}");
    assert!(rows[0].contains("cumsum reverse"), "{out}");
}

/// The checks are not vacuous: with every result's last element moved (1.5 x + 1 for
/// floats, x + 1 for integers) every computed row fails its check, in the table too.
#[test]
fn the_reference_check_catches_a_wrong_element() {
    let args = [
        "bench",
        "--op",
        "cumsum,cummax,cumprod,logcumsumexp",
        "--dtype",
        "float32,int64",
        "--sizes",
        "1000",
        "--shape",
        "40x25",
        "--axis",
        "1",
        "--repeats",
        "1",
        "--test-perturb",
    ];
    let mut json = args.to_vec();
    json.push("--json");
    let o = gpuscan(&json, &[]);
    let ms = measurements(&o);
    let computed: Vec<&Value> = ms.iter().filter(|m| m["path"] != "copy").collect();
    assert!(computed.len() >= 2 * 2 * 4, "{}", computed.len());
    for m in computed {
        assert!(!passed(m), "a moved element passed: {m}");
    }
    let o = gpuscan(&args, &[]);
    assert!(o.status.success(), "{}", stderr(&o));
    let out = stdout(&o);
    let wrong = out.lines().filter(|l| l.ends_with(" WRONG")).count();
    // Every integer row, and the float rows of cummax, cumprod and logcumsumexp.
    assert!(wrong >= 2 * (4 + 3), "{out}");
}
