//! The scan family on the command line: every subcommand of `gpuscan` that scans (cumsum,
//! cumprod, nancumsum, nancumprod, cummax, cummin, logcumsumexp, cumulative-sum,
//! cumulative-prod) on small hand-computed inputs, the options each takes and refuses, bad
//! segment offsets, and `--indices`, whose two outputs appear together or not at all. Every
//! failure must exit 2 with one line on stderr and leave no output behind.

// The library's integration-test helpers, shared rather than copied.
#[path = "../../tests/common/mod.rs"]
mod common;
mod support;

use std::ffi::OsStr;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use support::TempDir;

use gpuscan::{npy, Array, Context, DType, Element};

const BIN: &str = env!("CARGO_BIN_EXE_gpuscan");

impl TempDir {
    /// Writes `a` as `name` and returns its path.
    fn npy(&self, name: &str, a: &Array) -> PathBuf {
        let path = self.join(name);
        let mut bytes = Vec::new();
        npy::write(&mut bytes, a).expect("encode a .npy file");
        fs::write(&path, bytes).expect("write a .npy file");
        path
    }
}

/// Runs the binary with `args` (the subcommand first).
fn gpuscan<I, S>(args: I) -> Output
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    let mut cmd = Command::new(BIN);
    cmd.args(args);
    // Mesa's window-system probe prints a line without a runtime directory.
    if std::env::var_os("XDG_RUNTIME_DIR").is_none() {
        cmd.env("XDG_RUNTIME_DIR", std::env::temp_dir());
    }
    cmd.output().expect("run the gpuscan binary")
}

/// `gpuscan OP INPUT -o OUTPUT EXTRA...` as the arguments of [`gpuscan`].
fn command<'a>(
    op: &'a str,
    input: &'a Path,
    output: &'a Path,
    extra: &[&'a str],
) -> Vec<&'a OsStr> {
    let mut args: Vec<&OsStr> = vec![
        op.as_ref(),
        input.as_os_str(),
        "-o".as_ref(),
        output.as_os_str(),
    ];
    args.extend(extra.iter().map(|a| OsStr::new(*a)));
    args
}

/// A GPU run is wanted (see `common::gpu_wanted`).
fn gpu_available() -> bool {
    let ctx = Context::new().expect("a default context");
    common::gpu_wanted(ctx.has_gpu(), ctx.gpu_unavailable_reason().unwrap_or(""))
}

/// Runs a command that must succeed, with nothing on stdout.
fn assert_runs(args: &[&OsStr]) {
    let run = gpuscan(args);
    assert!(
        run.status.success(),
        "gpuscan {args:?}: exit {:?}: {}",
        run.status.code(),
        String::from_utf8_lossy(&run.stderr)
    );
    assert!(run.stdout.is_empty(), "gpuscan {args:?} wrote to stdout");
}

/// Runs a command that must fail: exit 2, exactly one line on stderr starting with
/// "gpuscan: " that contains every fragment, no panic text, and nothing left in `dir`.
fn assert_fails(args: &[&OsStr], dir: &TempDir, fragments: &[&str]) {
    let run = gpuscan(args);
    let stderr = String::from_utf8_lossy(&run.stderr);
    let what = format!("gpuscan {args:?}");
    assert_eq!(run.status.code(), Some(2), "{what}: {stderr}");
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(lines.len(), 1, "{what}: stderr is not one line: {stderr:?}");
    assert!(lines[0].starts_with("gpuscan: "), "{what}: {stderr}");
    assert!(
        !stderr.contains("panicked") && !stderr.contains("internal error"),
        "{what}: {stderr}"
    );
    for f in fragments {
        assert!(stderr.contains(f), "{what}: {stderr:?} lacks {f:?}");
    }
    assert!(run.stdout.is_empty(), "{what}: wrote to stdout");
    assert_eq!(dir.entries(), Vec::<String>::new(), "{what}: left files");
}

/// Reads `path` and checks its dtype, shape and elements exactly.
fn assert_npy<T: Element + PartialEq + std::fmt::Debug>(
    path: &Path,
    dtype: DType,
    shape: &[usize],
    expected: &[T],
) {
    let a = npy::read(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
    assert_eq!(
        (a.dtype(), a.shape()),
        (dtype, shape),
        "{}: {a}",
        path.display()
    );
    assert_eq!(a.as_slice::<T>().unwrap(), expected, "{}", path.display());
}

fn pi_digits() -> Array {
    Array::from_vec(vec![3i64, 1, 4, 1, 5, 9, 2, 6])
}

/// One subcommand on one input: the options, then the expected result.
struct Case {
    op: &'static str,
    input: &'static str,
    args: &'static [&'static str],
    check: fn(&Path),
}

/// The inputs of [`cases`], by name.
fn inputs(dir: &TempDir) -> Vec<(&'static str, PathBuf)> {
    let arrays: [(&str, Array); 9] = [
        ("pi", pi_digits()),
        (
            "m23",
            Array::from_shape_vec(&[2, 3], vec![1i32, 2, 3, 4, 5, 6]).unwrap(),
        ),
        ("seg", Array::from_vec(vec![0i64, 3, 8])),
        ("prod", Array::from_vec(vec![1i64, 2, 3, 4])),
        ("i8", Array::from_vec(vec![100i8, 2, 3])),
        (
            "nan",
            Array::from_vec(vec![2.0f64, f64::NAN, 3.0, f64::NAN, 0.5]),
        ),
        ("ties", Array::from_vec(vec![2i32, 2, 1, 2, 7, 1])),
        ("zeros", Array::from_vec(vec![0.0f64; 4])),
        (
            "m22",
            Array::from_shape_vec(&[2, 2], vec![1i64, 2, 3, 4]).unwrap(),
        ),
    ];
    arrays
        .into_iter()
        .map(|(name, a)| (name, dir.npy(&format!("{name}.npy"), &a)))
        .collect()
}

/// Close to `expected` within a few ulps (logcumsumexp rounds at every step).
fn assert_f64_close(path: &Path, shape: &[usize], expected: &[f64]) {
    let a = npy::read(path).unwrap();
    assert_eq!((a.dtype(), a.shape()), (DType::Float64, shape));
    let got = a.as_slice::<f64>().unwrap();
    assert_eq!(got.len(), expected.len());
    for (g, e) in got.iter().zip(expected) {
        assert!(
            (g - e).abs() <= 4.0 * f64::EPSILON * e.abs().max(1.0),
            "{got:?} vs {expected:?}"
        );
    }
}

fn cases() -> Vec<Case> {
    vec![
        // cumsum: flattened, along each axis, the variants, dtype= and out=.
        Case {
            op: "cumsum",
            input: "pi",
            args: &[],
            check: |p| assert_npy(p, DType::Int64, &[8], &[3i64, 4, 8, 9, 14, 23, 25, 31]),
        },
        Case {
            op: "cumsum",
            input: "m23",
            args: &[],
            check: |p| assert_npy(p, DType::Int64, &[6], &[1i64, 3, 6, 10, 15, 21]),
        },
        Case {
            op: "cumsum",
            input: "m23",
            args: &["--axis", "0"],
            check: |p| assert_npy(p, DType::Int64, &[2, 3], &[1i64, 2, 3, 5, 7, 9]),
        },
        Case {
            op: "cumsum",
            input: "m23",
            args: &["--axis", "-1"],
            check: |p| assert_npy(p, DType::Int64, &[2, 3], &[1i64, 3, 6, 4, 9, 15]),
        },
        Case {
            op: "cumsum",
            input: "pi",
            args: &["--reverse"],
            check: |p| assert_npy(p, DType::Int64, &[8], &[31i64, 28, 27, 23, 22, 17, 8, 6]),
        },
        Case {
            op: "cumsum",
            input: "pi",
            args: &["--exclusive"],
            check: |p| assert_npy(p, DType::Int64, &[8], &[0i64, 3, 4, 8, 9, 14, 23, 25]),
        },
        Case {
            op: "cumsum",
            input: "pi",
            args: &["--segments", "seg"],
            check: |p| assert_npy(p, DType::Int64, &[8], &[3i64, 4, 8, 1, 6, 15, 17, 23]),
        },
        Case {
            op: "cumsum",
            input: "pi",
            args: &["--reverse", "--exclusive", "--segments", "seg"],
            check: |p| assert_npy(p, DType::Int64, &[8], &[5i64, 4, 0, 22, 17, 8, 6, 0]),
        },
        Case {
            op: "cumsum",
            input: "i8",
            args: &["--dtype", "int8"],
            check: |p| assert_npy(p, DType::Int8, &[3], &[100i8, 102, 105]),
        },
        Case {
            op: "cumsum",
            input: "pi",
            args: &["--out-dtype", "float32"],
            // result_type(float32, int64) is float64, cast to float32.
            check: |p| {
                assert_npy(
                    p,
                    DType::Float32,
                    &[8],
                    &[3.0f32, 4.0, 8.0, 9.0, 14.0, 23.0, 25.0, 31.0],
                )
            },
        },
        // cumprod: int8 promotes to int64; dtype=int8 wraps (100 * 2 = 200 = -56).
        Case {
            op: "cumprod",
            input: "prod",
            args: &[],
            check: |p| assert_npy(p, DType::Int64, &[4], &[1i64, 2, 6, 24]),
        },
        Case {
            op: "cumprod",
            input: "i8",
            args: &[],
            check: |p| assert_npy(p, DType::Int64, &[3], &[100i64, 200, 600]),
        },
        Case {
            op: "cumprod",
            input: "i8",
            args: &["--dtype", "int8"],
            check: |p| assert_npy(p, DType::Int8, &[3], &[100i8, -56, 88]),
        },
        Case {
            op: "cumprod",
            input: "m23",
            args: &["--axis", "1", "--reverse"],
            check: |p| assert_npy(p, DType::Int64, &[2, 3], &[6i64, 6, 3, 120, 30, 6]),
        },
        Case {
            op: "cumprod",
            input: "prod",
            args: &["--exclusive"],
            check: |p| assert_npy(p, DType::Int64, &[4], &[1i64, 1, 2, 6]),
        },
        // The nan* variants: NaN counts as 0 or 1.
        Case {
            op: "nancumsum",
            input: "nan",
            args: &[],
            check: |p| assert_npy(p, DType::Float64, &[5], &[2.0f64, 2.0, 5.0, 5.0, 5.5]),
        },
        Case {
            op: "nancumprod",
            input: "nan",
            args: &[],
            check: |p| assert_npy(p, DType::Float64, &[5], &[2.0f64, 2.0, 6.0, 6.0, 3.0]),
        },
        Case {
            op: "nancumsum",
            input: "nan",
            args: &["--reverse", "--out-dtype", "int16"],
            check: |p| assert_npy(p, DType::Int16, &[5], &[5i16, 3, 3, 0, 0]),
        },
        // cummax and cummin keep the input's dtype.
        Case {
            op: "cummax",
            input: "pi",
            args: &[],
            check: |p| assert_npy(p, DType::Int64, &[8], &[3i64, 3, 4, 4, 5, 9, 9, 9]),
        },
        Case {
            op: "cummax",
            input: "m23",
            args: &["--axis", "0", "--reverse"],
            check: |p| assert_npy(p, DType::Int32, &[2, 3], &[4i32, 5, 6, 4, 5, 6]),
        },
        Case {
            op: "cummax",
            input: "ties",
            args: &["--exclusive"],
            check: |p| assert_npy(p, DType::Int32, &[6], &[i32::MIN, 2, 2, 2, 2, 7]),
        },
        Case {
            op: "cummin",
            input: "pi",
            args: &[],
            check: |p| assert_npy(p, DType::Int64, &[8], &[3i64, 1, 1, 1, 1, 1, 1, 1]),
        },
        Case {
            op: "cummin",
            input: "pi",
            args: &["--segments", "seg", "--out-dtype", "uint8"],
            check: |p| assert_npy(p, DType::UInt8, &[8], &[3u8, 1, 1, 1, 1, 1, 1, 1]),
        },
        Case {
            op: "cummin",
            input: "ties",
            args: &["--reverse", "--exclusive"],
            check: |p| assert_npy(p, DType::Int32, &[6], &[1i32, 1, 1, 1, 1, i32::MAX]),
        },
        // logcumsumexp of zeros is log(1), log(2), log(3), ...; int64 computes in float64.
        Case {
            op: "logcumsumexp",
            input: "zeros",
            args: &[],
            check: |p| assert_f64_close(p, &[4], &[0.0, 2f64.ln(), 3f64.ln(), 4f64.ln()]),
        },
        Case {
            op: "logcumsumexp",
            input: "prod",
            args: &["--reverse"],
            check: |p| {
                let l = |xs: &[f64]| xs.iter().map(|x| x.exp()).sum::<f64>().ln();
                let e = [
                    l(&[1.0, 2.0, 3.0, 4.0]),
                    l(&[2.0, 3.0, 4.0]),
                    l(&[3.0, 4.0]),
                    4.0,
                ];
                assert_f64_close(p, &[4], &e)
            },
        },
        Case {
            op: "logcumsumexp",
            input: "zeros",
            args: &["--exclusive"],
            check: |p| {
                let a = npy::read(p).unwrap();
                assert_eq!(a.dtype(), DType::Float64);
                let v = a.as_slice::<f64>().unwrap();
                assert_eq!(v[..2], [f64::NEG_INFINITY, 0.0]);
                assert!((v[2] - 2f64.ln()).abs() < 1e-15 && (v[3] - 3f64.ln()).abs() < 1e-15);
            },
        },
        // numpy 2's cumulative_*: a 1-D input without an axis, include_initial.
        Case {
            op: "cumulative-sum",
            input: "prod",
            args: &[],
            check: |p| assert_npy(p, DType::Int64, &[4], &[1i64, 3, 6, 10]),
        },
        Case {
            op: "cumulative-sum",
            input: "prod",
            args: &["--include-initial"],
            check: |p| assert_npy(p, DType::Int64, &[5], &[0i64, 1, 3, 6, 10]),
        },
        Case {
            op: "cumulative-sum",
            input: "m22",
            args: &["--axis", "1", "--include-initial"],
            check: |p| assert_npy(p, DType::Int64, &[2, 3], &[0i64, 1, 3, 0, 3, 7]),
        },
        Case {
            op: "cumulative-sum",
            input: "m22",
            args: &["--axis", "0", "--out-dtype", "float64"],
            check: |p| assert_npy(p, DType::Float64, &[2, 2], &[1.0f64, 2.0, 4.0, 6.0]),
        },
        Case {
            op: "cumulative-prod",
            input: "prod",
            args: &["--include-initial"],
            check: |p| assert_npy(p, DType::Int64, &[5], &[1i64, 1, 2, 6, 24]),
        },
        Case {
            op: "cumulative-prod",
            input: "m22",
            args: &["--axis", "-2", "--dtype", "int8"],
            check: |p| assert_npy(p, DType::Int8, &[2, 2], &[1i8, 2, 3, 8]),
        },
    ]
}

fn check_cases(devices: &[&str], only: impl Fn(&Case) -> bool) {
    let dir = TempDir::new("cli-scan", "values");
    let inputs = inputs(&dir);
    let path_of = |name: &str| -> PathBuf {
        inputs
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, p)| p.clone())
            .unwrap_or_else(|| panic!("no input {name}"))
    };
    let cases = cases();
    let mut ran = 0;
    for case in cases.iter().filter(|c| only(c)) {
        for device in devices {
            let out = dir.join("out.npy");
            let input = path_of(case.input);
            // The value of --segments names one of the inputs.
            let extra: Vec<String> = case
                .args
                .iter()
                .enumerate()
                .map(|(i, a)| match i.checked_sub(1).map(|j| case.args[j]) {
                    Some("--segments") => path_of(a).to_string_lossy().into_owned(),
                    _ => a.to_string(),
                })
                .collect();
            let mut args = command(case.op, &input, &out, &["--device", device]);
            args.extend(extra.iter().map(OsStr::new));
            assert_runs(&args);
            (case.check)(&out);
            fs::remove_file(&out).unwrap();
            ran += 1;
        }
    }
    assert!(ran > 0, "no case ran");
}

#[test]
fn every_subcommand_gives_the_right_values() {
    // Every subcommand is covered.
    let ops: std::collections::BTreeSet<&str> = cases().iter().map(|c| c.op).collect();
    assert_eq!(ops.len(), 9, "{ops:?}");
    check_cases(&["cpu", "auto"], |_| true);
}

#[test]
fn plain_cumsum_gives_the_right_values_on_the_gpu() {
    if gpu_available() {
        check_cases(&["gpu"], |c| {
            c.op == "cumsum"
                && !c
                    .args
                    .iter()
                    .any(|a| ["--reverse", "--exclusive", "--segments"].contains(a))
        });
    }
}

#[test]
fn indices_are_written_with_the_values() {
    let inputs = TempDir::new("cli-scan", "indices-in");
    let pi = inputs.npy("pi.npy", &pi_digits());
    let ties = inputs.npy("ties.npy", &Array::from_vec(vec![2i32, 2, 1, 2, 7, 1]));
    let m23 = inputs.npy(
        "m23.npy",
        &Array::from_shape_vec(&[2, 3], vec![5i32, 2, 3, 4, 5, 6]).unwrap(),
    );
    let seg = inputs.npy("seg.npy", &Array::from_vec(vec![0u8, 3, 8]));
    let dir = TempDir::new("cli-scan", "indices");
    let (out, idx) = (dir.join("out.npy"), dir.join("idx.npy"));
    let idx_s = idx.to_str().unwrap();
    let seg_s = seg.to_str().unwrap();

    assert_runs(&command("cummax", &pi, &out, &["--indices", idx_s]));
    assert_npy(&out, DType::Int64, &[8], &[3i64, 3, 4, 4, 5, 9, 9, 9]);
    assert_npy(&idx, DType::Int64, &[8], &[0i64, 0, 2, 2, 4, 5, 5, 5]);

    // Ties take the latest position.
    assert_runs(&command("cummax", &ties, &out, &["--indices", idx_s]));
    assert_npy(&out, DType::Int32, &[6], &[2i32, 2, 2, 2, 7, 7]);
    assert_npy(&idx, DType::Int64, &[6], &[0i64, 1, 1, 3, 4, 4]);
    assert_runs(&command("cummin", &ties, &out, &["--indices", idx_s]));
    assert_npy(&out, DType::Int32, &[6], &[2i32, 2, 1, 1, 1, 1]);
    assert_npy(&idx, DType::Int64, &[6], &[0i64, 1, 2, 2, 2, 5]);

    // Exclusive: -1 where nothing came before.
    assert_runs(&command(
        "cummin",
        &ties,
        &out,
        &["--indices", idx_s, "--exclusive"],
    ));
    assert_npy(&out, DType::Int32, &[6], &[i32::MAX, 2, 2, 1, 1, 1]);
    assert_npy(&idx, DType::Int64, &[6], &[-1i64, 0, 1, 2, 2, 2]);

    // Positions along the axis, per lane.
    assert_runs(&command(
        "cummax",
        &m23,
        &out,
        &["--indices", idx_s, "--axis", "1", "--out-dtype", "float32"],
    ));
    assert_npy(
        &out,
        DType::Float32,
        &[2, 3],
        &[5.0f32, 5.0, 5.0, 4.0, 5.0, 6.0],
    );
    assert_npy(&idx, DType::Int64, &[2, 3], &[0i64, 0, 0, 0, 1, 2]);
    assert_runs(&command(
        "cummin",
        &m23,
        &out,
        &["--indices", idx_s, "--axis", "0"],
    ));
    assert_npy(&out, DType::Int32, &[2, 3], &[5i32, 2, 3, 4, 2, 3]);
    assert_npy(&idx, DType::Int64, &[2, 3], &[0i64, 0, 0, 1, 0, 0]);

    // Segments restart the positions' running extreme too (positions stay along the axis).
    assert_runs(&command(
        "cummax",
        &pi,
        &out,
        &["--indices", idx_s, "--segments", seg_s],
    ));
    assert_npy(&out, DType::Int64, &[8], &[3i64, 3, 4, 1, 5, 9, 9, 9]);
    assert_npy(&idx, DType::Int64, &[8], &[0i64, 0, 2, 3, 4, 5, 5, 5]);
    assert_eq!(dir.entries(), ["idx.npy", "out.npy"]);
}

#[test]
fn options_of_other_subcommands_are_usage_errors() {
    let inputs = TempDir::new("cli-scan", "usage-in");
    let pi = inputs.npy("pi.npy", &pi_digits());
    let seg = inputs.npy("seg.npy", &Array::from_vec(vec![0i64, 3, 8]));
    let dir = TempDir::new("cli-scan", "usage");
    let out = dir.join("out.npy");
    let idx = dir.join("idx.npy");
    let (idx_s, seg_s) = (idx.to_str().unwrap(), seg.to_str().unwrap());
    let cases: [(&str, &[&str], &str); 10] = [
        ("cumsum", &["--include-initial"], "'--include-initial'"),
        ("cummax", &["--include-initial"], "'--include-initial'"),
        ("cumulative-sum", &["--reverse"], "'--reverse'"),
        ("cumulative-sum", &["--exclusive"], "'--exclusive'"),
        ("cumsum", &["--indices", idx_s], "'--indices'"),
        ("logcumsumexp", &["--indices", idx_s], "'--indices'"),
        ("cumulative-prod", &["--segments", seg_s], "'--segments'"),
        ("cumulative-sum", &["--indices", idx_s], "'--indices'"),
        (
            "cumprod",
            &["--dtype", "bogus"],
            "unsupported dtype 'bogus'",
        ),
        (
            "cummin",
            &["--order", "sideways"],
            "unknown order 'sideways'",
        ),
    ];
    for (op, extra, fragment) in cases {
        let args = command(op, &pi, &out, extra);
        assert_fails(&args, &dir, &[fragment]);
    }
    // Not a subcommand.
    assert_fails(&command("cumfoo", &pi, &out, &[]), &dir, &["'cumfoo'"]);
}

#[test]
fn bad_segments_fail_with_one_line_naming_the_problem() {
    let inputs = TempDir::new("cli-scan", "segments-in");
    let x = inputs.npy("x.npy", &Array::from_vec(vec![1.0f64, 2.0, 3.0, 4.0, 5.0]));
    let m = inputs.npy(
        "m.npy",
        &Array::from_shape_vec(&[2, 3], vec![1i32, 2, 3, 4, 5, 6]).unwrap(),
    );
    let dir = TempDir::new("cli-scan", "segments");
    let (out, idx) = (dir.join("out.npy"), dir.join("idx.npy"));
    let bad: [(&str, Array, &str); 7] = [
        (
            "two_d.npy",
            Array::from_shape_vec(&[2, 2], vec![0i64, 2, 3, 5]).unwrap(),
            "bad segment offsets: they must be a 1-D array, not 2-D of shape [2, 2]",
        ),
        (
            "float.npy",
            Array::from_vec(vec![0.0f64, 2.0, 5.0]),
            "bad segment offsets: they must be integers, not float64",
        ),
        (
            "start.npy",
            Array::from_vec(vec![1i64, 3, 5]),
            "bad segment offsets: the offsets must start at 0, not 1",
        ),
        (
            "end.npy",
            Array::from_vec(vec![0i64, 2, 4]),
            "bad segment offsets: the offsets must end at the axis length 5, not 4",
        ),
        (
            "end_long.npy",
            Array::from_vec(vec![0i32, 2, 6]),
            "bad segment offsets: the offsets must end at the axis length 5, not 6",
        ),
        (
            "decreasing.npy",
            Array::from_vec(vec![0i64, 3, 2, 5]),
            "bad segment offsets: the offsets decrease at index 2: 2 after 3",
        ),
        (
            "empty.npy",
            Array::from_vec(Vec::<i64>::new()),
            "bad segment offsets: the offsets are empty",
        ),
    ];
    for (name, offsets, message) in bad {
        let file = inputs.npy(name, &offsets);
        let seg = file.to_str().unwrap();
        for op in ["cumsum", "nancumprod", "logcumsumexp"] {
            for device in ["cpu", "auto"] {
                let args = command(op, &x, &out, &["--segments", seg, "--device", device]);
                assert_fails(&args, &dir, &[message, name]);
            }
        }
        // With --indices, neither file appears.
        let args = command(
            "cummax",
            &x,
            &out,
            &["--segments", seg, "--indices", idx.to_str().unwrap()],
        );
        assert_fails(&args, &dir, &[message, name]);
    }
    // Along an axis, the offsets run to that axis's length.
    let end3 = inputs.npy("end3.npy", &Array::from_vec(vec![0i64, 1, 3]));
    let seg = end3.to_str().unwrap();
    let args = command("cumsum", &m, &out, &["--segments", seg, "--axis", "0"]);
    assert_fails(
        &args,
        &dir,
        &["the offsets must end at the axis length 2, not 3"],
    );
    // ... and without an axis, to the flattened length.
    let args = command("cumsum", &m, &out, &["--segments", seg]);
    assert_fails(
        &args,
        &dir,
        &["the offsets must end at the axis length 6, not 3"],
    );
    let args = command("cumsum", &m, &out, &["--segments", seg, "--axis", "1"]);
    assert_runs(&args);
    assert_npy(&out, DType::Int64, &[2, 3], &[1i64, 2, 5, 4, 5, 11]);
    fs::remove_file(&out).unwrap();
    // A segments file that does not exist.
    let missing = inputs.join("missing.npy");
    let args = command(
        "cumsum",
        &x,
        &out,
        &["--segments", missing.to_str().unwrap()],
    );
    assert_fails(&args, &dir, &["gpuscan: cannot open ", "missing.npy"]);
}

#[test]
fn cumulative_of_two_dimensions_needs_an_axis() {
    let inputs = TempDir::new("cli-scan", "cumulative-in");
    let m = inputs.npy(
        "m.npy",
        &Array::from_shape_vec(&[2, 2], vec![1i64, 2, 3, 4]).unwrap(),
    );
    let dir = TempDir::new("cli-scan", "cumulative");
    let out = dir.join("out.npy");
    for op in ["cumulative-sum", "cumulative-prod"] {
        for extra in [
            &[][..],
            &["--include-initial"][..],
            &["--device", "cpu"][..],
        ] {
            let args = command(op, &m, &out, extra);
            let run = gpuscan(&args);
            assert_eq!(
                String::from_utf8_lossy(&run.stderr),
                "gpuscan: For arrays which have more than one dimension ``axis`` argument is \
                 required.\n"
            );
            assert_eq!(run.status.code(), Some(2));
            assert_eq!(dir.entries(), Vec::<String>::new());
        }
    }
    // cumsum flattens the same input.
    assert_runs(&command("cumsum", &m, &out, &[]));
    assert_npy(&out, DType::Int64, &[4], &[1i64, 3, 6, 10]);
}

#[test]
fn logcumsumexp_refuses_an_integer_dtype() {
    let inputs = TempDir::new("cli-scan", "lse-in");
    let x = inputs.npy("x.npy", &Array::from_vec(vec![0.0f64, 1.0]));
    let dir = TempDir::new("cli-scan", "lse");
    let out = dir.join("out.npy");
    for extra in [
        &["--dtype", "int32"][..],
        &["--dtype", "int32", "--out-dtype", "float64"][..],
        &["--dtype", "bool", "--device", "cpu"][..],
    ] {
        let dtype = extra[1];
        assert_fails(
            &command("logcumsumexp", &x, &out, extra),
            &dir,
            &[&format!("gpuscan: logcumsumexp has no {dtype} loop")],
        );
    }
    // A float dtype is fine.
    assert_runs(&command("logcumsumexp", &x, &out, &["--dtype", "float32"]));
    let a = npy::read(&out).unwrap();
    assert_eq!(a.dtype(), DType::Float32);
    let v = a.as_slice::<f32>().unwrap();
    assert_eq!(v[0], 0.0);
    assert!((v[1] - 1.313_261_7).abs() < 1e-6, "{v:?}");
}

#[test]
fn unwritable_indices_leave_neither_output() {
    let inputs = TempDir::new("cli-scan", "unwritable-in");
    let pi = inputs.npy("pi.npy", &pi_digits());
    let dir = TempDir::new("cli-scan", "unwritable");
    let out = dir.join("out.npy");
    let idx = dir.join("idx.npy");

    // The indices in a directory that does not exist.
    let nowhere = dir.join("no/such/dir/idx.npy");
    let args = command(
        "cummax",
        &pi,
        &out,
        &["--indices", nowhere.to_str().unwrap()],
    );
    assert_fails(&args, &dir, &["gpuscan: cannot write ", "idx.npy"]);

    // The values in a directory that does not exist.
    let nowhere = dir.join("no/such/dir/out.npy");
    let args = command(
        "cummin",
        &pi,
        &nowhere,
        &["--indices", idx.to_str().unwrap()],
    );
    assert_fails(&args, &dir, &["gpuscan: cannot write ", "out.npy"]);

    // The indices are an existing directory: both temporaries are written and the values
    // renamed into place before the second rename fails; the values must go again.
    let sub = dir.join("sub");
    fs::create_dir(&sub).unwrap();
    let args = command("cummax", &pi, &out, &["--indices", sub.to_str().unwrap()]);
    let run = gpuscan(&args);
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert_eq!(run.status.code(), Some(2), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.starts_with("gpuscan: cannot write "), "{stderr}");
    assert_eq!(
        dir.entries(),
        ["sub"],
        "an output or a temporary was left behind"
    );
    assert!(fs::read_dir(&sub).unwrap().next().is_none());
    fs::remove_dir(&sub).unwrap();

    // One file for both.
    let args = command("cummax", &pi, &out, &["--indices", out.to_str().unwrap()]);
    assert_fails(&args, &dir, &["they must be two files"]);
    let same = dir.join(".").join("out.npy");
    let args = command("cummax", &pi, &out, &["--indices", same.to_str().unwrap()]);
    assert_fails(&args, &dir, &["they must be two files"]);

    // A bad argument after the files leaves existing outputs as they were.
    fs::write(&out, b"previous values").unwrap();
    fs::write(&idx, b"previous indices").unwrap();
    let args = command(
        "cummax",
        &pi,
        &out,
        &["--indices", idx.to_str().unwrap(), "--axis", "1"],
    );
    let run = gpuscan(&args);
    assert_eq!(run.status.code(), Some(2));
    assert_eq!(fs::read(&out).unwrap(), b"previous values");
    assert_eq!(fs::read(&idx).unwrap(), b"previous indices");
    // ... and a good run replaces both.
    let args = command("cummax", &pi, &out, &["--indices", idx.to_str().unwrap()]);
    assert_runs(&args);
    assert_npy(&out, DType::Int64, &[8], &[3i64, 3, 4, 4, 5, 9, 9, 9]);
    assert_npy(&idx, DType::Int64, &[8], &[0i64, 0, 2, 2, 4, 5, 5, 5]);
    assert_eq!(dir.entries(), ["idx.npy", "out.npy"]);
}

#[test]
fn every_scan_subcommand_has_its_help() {
    let run = gpuscan(["--help"]);
    let help = String::from_utf8_lossy(&run.stdout);
    assert!(run.status.success());
    for op in [
        "cumsum",
        "cumprod",
        "nancumsum",
        "nancumprod",
        "cummax",
        "cummin",
        "logcumsumexp",
        "cumulative-sum",
        "cumulative-prod",
    ] {
        assert!(
            help.contains(&format!("\n  {op} ")),
            "{op} missing from\n{help}"
        );
        let run = gpuscan([op, "--help"]);
        let text = String::from_utf8_lossy(&run.stdout);
        assert!(run.status.success(), "{op} --help");
        for option in [
            "--axis",
            "--dtype",
            "--out-dtype",
            "--device",
            "--spin-limit",
        ] {
            assert!(text.contains(option), "{op} --help lacks {option}");
        }
        let cumulative = op.starts_with("cumulative");
        assert_eq!(text.contains("--include-initial"), cumulative, "{op}");
        for option in ["--reverse", "--exclusive", "--segments"] {
            assert_eq!(text.contains(option), !cumulative, "{op} {option}");
        }
        assert_eq!(
            text.contains("--indices"),
            op == "cummax" || op == "cummin",
            "{op}"
        );
    }
}

/// `gpuscan selftest --ops` runs the family rows of the operations named: one row per
/// operation, dtype and variant, naming them in its JSON, every one passing; without cumsum
/// among them, none of the plain cumsum rows. An unknown operation is a one-line error.
#[test]
fn selftest_runs_the_family_rows_of_the_operations_named() {
    let dir = TempDir::new("cli-scan", "selftest");
    let args = ["selftest", "--quick", "--ops", "cumfoo"].map(OsStr::new);
    assert_fails(&args, &dir, &["unknown scan 'cumfoo'"]);
    if !gpu_available() {
        return;
    }
    let args = [
        "selftest",
        "--quick",
        "--json",
        "--strategy",
        "chained",
        "--ops",
        "cummax,nancumprod",
    ];
    let run = gpuscan(args);
    let out = String::from_utf8_lossy(&run.stdout);
    assert!(
        run.status.success(),
        "gpuscan {args:?}: exit {:?}: {}{out}",
        run.status.code(),
        String::from_utf8_lossy(&run.stderr)
    );
    let lines: Vec<serde_json::Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).expect("a JSON line"))
        .collect();
    let rows: Vec<&serde_json::Value> =
        lines.iter().filter(|l| l["strategy"].is_string()).collect();
    let summary = lines.last().expect("a summary");
    assert_eq!(summary["failed"], 0, "{summary}");
    assert_eq!(summary["rows"], rows.len(), "{summary}");
    let mut variants = std::collections::BTreeSet::new();
    for row in &rows {
        assert_eq!(row["pass"], true, "{row}");
        assert_eq!(row["strategy"], "chained", "{row}");
        let op = row["op"].as_str().expect("an op");
        assert!(op == "cummax" || op == "nancumprod", "{row}");
        let case = row["case"].as_str().expect("a case");
        assert!(case.starts_with(op), "{row}");
        let (reverse, exclusive) = (row["reverse"].as_bool(), row["exclusive"].as_bool());
        let segments = row["segments"].as_str().map(str::to_string);
        assert!(reverse.is_some() && exclusive.is_some(), "{row}");
        assert!(row["runs"].as_u64().unwrap_or(0) > 0, "{row}");
        variants.insert((
            op.to_string(),
            row["dtype"].as_str().unwrap_or("").to_string(),
            reverse,
            exclusive,
            segments,
        ));
    }
    // Every row is its own variant: forward, reverse, exclusive and both kinds of segments,
    // on int32 and float32 at least.
    assert_eq!(variants.len(), rows.len(), "{out}");
    for op in ["cummax", "nancumprod"] {
        for dtype in ["int32", "float32"] {
            let of = |r: bool, e: bool, s: Option<&str>| {
                let key = (
                    op.to_string(),
                    dtype.to_string(),
                    Some(r),
                    Some(e),
                    s.map(str::to_string),
                );
                variants.contains(&key)
            };
            assert!(of(false, false, None), "{op} {dtype}: {out}");
            assert!(of(true, false, None), "{op} {dtype} reverse: {out}");
            assert!(of(false, true, None), "{op} {dtype} exclusive: {out}");
            assert!(of(false, false, Some("random")), "{op} {dtype}: {out}");
            assert!(of(false, false, Some("each")), "{op} {dtype}: {out}");
        }
    }
}
