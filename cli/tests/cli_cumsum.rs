//! `gpuscan cumsum` against numpy's own results: every case of tests/fixtures/cases.txt (written
//! by tests/fixtures/make_fixtures.py with numpy) runs the built binary on the CPU and on the
//! GPU and must reproduce numpy's expected file bit for bit. Bad inputs must exit 2 with one
//! line on stderr and leave no file behind.

// The library's integration-test helpers, shared rather than copied.
#[path = "../../tests/common/mod.rs"]
mod common;
mod support;

use std::ffi::OsStr;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use support::TempDir;

use gpuscan::{npy, Context, DType};

const BIN: &str = env!("CARGO_BIN_EXE_gpuscan");

// The fixtures stay under the library's tests/: its npy unit tests read them too.
fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../tests/fixtures")
        .join(name)
}

fn gpuscan<I, S>(args: I, envs: &[(&str, &str)]) -> Output
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    let mut cmd = Command::new(BIN);
    cmd.arg("cumsum").args(args);
    // Mesa's window-system probe prints a line without a runtime directory; .ci/run gives one
    // too, so that stderr holds only what gpuscan says.
    if std::env::var_os("XDG_RUNTIME_DIR").is_none() {
        cmd.env("XDG_RUNTIME_DIR", std::env::temp_dir());
    }
    for (k, v) in envs {
        cmd.env(k, v);
    }
    cmd.output().expect("run the gpuscan binary")
}

/// A GPU run is wanted (see `common::gpu_wanted`).
fn gpu_available() -> bool {
    let ctx = Context::new().expect("a default context");
    common::gpu_wanted(ctx.has_gpu(), ctx.gpu_unavailable_reason().unwrap_or(""))
}

struct Case {
    name: String,
    input: String,
    expected: String,
    args: Vec<String>,
}

fn cases() -> Vec<Case> {
    let text = fs::read_to_string(fixture("cases.txt")).expect("read tests/fixtures/cases.txt");
    let cases: Vec<Case> = text
        .lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
        .map(|l| {
            let mut words = l.split_whitespace().map(String::from);
            let mut next = || {
                words
                    .next()
                    .expect("a case line names case, input, expected")
            };
            let (name, input, expected) = (next(), next(), next());
            Case {
                name,
                input,
                expected,
                args: words.collect(),
            }
        })
        .collect();
    // A lost or truncated manifest must not pass as "nothing failed".
    assert!(cases.len() >= 80, "only {} cases in cases.txt", cases.len());
    cases
}

/// Runs one case on `device`; the reason it does not match numpy, if any.
fn check_case(case: &Case, device: &str, strategy: &str, dir: &TempDir) -> Result<(), String> {
    let out = dir.join(&format!("{}.{device}.{strategy}.npy", case.name));
    let mut args = vec![
        fixture(&case.input).into_os_string(),
        "-o".into(),
        out.clone().into_os_string(),
        "--device".into(),
        device.into(),
        "--strategy".into(),
        strategy.into(),
    ];
    args.extend(case.args.iter().map(Into::into));
    let run = gpuscan(&args, &[]);
    if !run.status.success() {
        return Err(format!(
            "exit {:?}: {}",
            run.status.code(),
            String::from_utf8_lossy(&run.stderr).trim()
        ));
    }
    let ours = npy::read(&out).map_err(|e| format!("reading our output: {e}"))?;
    let numpy = npy::read(&fixture(&case.expected)).map_err(|e| e.to_string())?;
    if (ours.dtype(), ours.shape()) != (numpy.dtype(), numpy.shape()) {
        return Err(format!(
            "got {} {:?}, numpy gives {} {:?}",
            ours.dtype(),
            ours.shape(),
            numpy.dtype(),
            numpy.shape()
        ));
    }
    if common::canonical_bits(&ours) != common::canonical_bits(&numpy) {
        return Err(format!("got\n{ours}\nnumpy gives\n{numpy}"));
    }
    Ok(())
}

fn check_all(device: &str, strategy: &str) {
    let dir = TempDir::new("cli-cumsum", &format!("{device}-{strategy}"));
    let cases = cases();
    let failures: Vec<String> = cases
        .iter()
        .filter_map(|c| {
            check_case(c, device, strategy, &dir)
                .err()
                .map(|e| format!("{} ({}): {e}", c.name, c.args.join(" ")))
        })
        .collect();
    assert!(
        failures.is_empty(),
        "{} of {} cases differ from numpy on the {device} ({strategy}):\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
}

#[test]
fn every_case_matches_numpy_on_the_cpu() {
    check_all("cpu", "auto");
}

#[test]
fn every_case_matches_numpy_on_the_gpu() {
    if gpu_available() {
        for strategy in ["auto", "blelloch", "reduce-then-scan", "chained"] {
            check_all("gpu", strategy);
        }
    }
}

#[test]
fn output_is_c_ordered_and_native_endian() {
    let dir = TempDir::new("cli-cumsum", "layout");
    let native = if cfg!(target_endian = "big") {
        '>'
    } else {
        '<'
    };
    for (input, args, dtype) in [
        ("be_i4_in.npy", &["--axis", "0"][..], "i8"),
        ("be_f8_in.npy", &[][..], "f8"),
        (
            "be_u2_in.npy",
            &["--axis", "-1", "--out-dtype", "uint16"][..],
            "u2",
        ),
        ("fortran_i4_in.npy", &["--axis", "1"][..], "i8"),
        (
            "fortran_be_i8_in.npy",
            &["--axis", "0", "--dtype", "float32"][..],
            "f4",
        ),
        ("fortran_f8_in.npy", &["--axis", "-1"][..], "f8"),
    ] {
        let out = dir.join("out.npy");
        let mut full = vec![
            fixture(input).into_os_string(),
            "-o".into(),
            out.clone().into_os_string(),
            "--device".into(),
            "cpu".into(),
        ];
        full.extend(args.iter().map(Into::into));
        let run = gpuscan(&full, &[]);
        assert!(
            run.status.success(),
            "{input}: {}",
            String::from_utf8_lossy(&run.stderr)
        );
        let bytes = fs::read(&out).unwrap();
        let header_len = u16::from_le_bytes([bytes[8], bytes[9]]) as usize;
        let header = String::from_utf8_lossy(&bytes[10..10 + header_len]);
        assert!(
            header.contains(&format!("'descr': '{native}{dtype}'")),
            "{input}: {header}"
        );
        assert!(
            header.contains("'fortran_order': False"),
            "{input}: {header}"
        );
        assert_eq!((10 + header_len) % 64, 0, "{input}: data alignment");
        // The file holds exactly what npy::write makes of its logical contents: C order.
        let a = npy::read(&out).unwrap();
        let mut rewritten = Vec::new();
        npy::write(&mut rewritten, &a).unwrap();
        assert_eq!(rewritten, bytes, "{input}");
    }
}

/// Runs a command that must fail: exit 2, exactly one line on stderr starting with
/// "gpuscan: " that contains every fragment, no panic text, and nothing left in `dir`.
fn assert_fails(args: &[&OsStr], envs: &[(&str, &str)], dir: &TempDir, fragments: &[&str]) {
    let run = gpuscan(args, envs);
    let stderr = String::from_utf8_lossy(&run.stderr);
    let what = format!("gpuscan cumsum {args:?}");
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

#[test]
fn bad_files_fail_with_one_line_and_no_output() {
    const HANDLED: &str =
        "gpuscan handles bool, int8..int64, uint8..uint64, float16, float32, float64";
    let cases: [(&str, &str); 15] = [
        ("bad_empty.npy", "is not a .npy file: it is empty"),
        (
            "bad_magic.npy",
            "is not a .npy file: it does not start with \\x93NUMPY",
        ),
        ("bad_truncated_header.npy", ": truncated .npy header"),
        (
            "bad_truncated.npy",
            ": the header declares 10 elements (80 bytes) but 72 data bytes follow",
        ),
        (
            "bad_trailing.npy",
            ": the header declares 10 elements (80 bytes) but 83 data bytes follow",
        ),
        (
            "bad_lying_header.npy",
            ": the header declares 1000 elements (4000 bytes) but 3996 data bytes follow",
        ),
        (
            "bad_version.npy",
            ": unsupported .npy format version 9.0 (gpuscan reads 1.0, 2.0 and 3.0)",
        ),
        (
            "bad_header_dict.npy",
            ": the header is not a valid .npy header dict",
        ),
        (
            "bad_shape_overflow.npy",
            "more elements than this machine can address",
        ),
        ("bad_complex.npy", "unsupported dtype '<c8' in "),
        ("bad_object.npy", "unsupported dtype '|O' in "),
        ("bad_unicode.npy", "unsupported dtype '<U5' in "),
        ("bad_bytes.npy", "unsupported dtype '|S3' in "),
        (
            "bad_structured.npy",
            "unsupported dtype '[('a', '<i4'), ('b', '<f8')]' in ",
        ),
        ("bad_datetime.npy", "unsupported dtype '<M8[ns]' in "),
    ];
    let dir = TempDir::new("cli-cumsum", "bad-files");
    let out = dir.join("out.npy");
    for (name, message) in cases {
        let input = fixture(name);
        let shown = input.display().to_string();
        let mut fragments = vec![message, shown.as_str()];
        if message.starts_with("unsupported dtype") {
            fragments.push(HANDLED);
        }
        for device in ["cpu", "auto"] {
            let args = [
                input.as_os_str(),
                "-o".as_ref(),
                out.as_os_str(),
                "--device".as_ref(),
                device.as_ref(),
            ];
            assert_fails(&args, &[], &dir, &fragments);
        }
    }
}

#[test]
fn bad_arguments_fail_with_one_line_and_no_output() {
    let dir = TempDir::new("cli-cumsum", "bad-args");
    let out = dir.join("out.npy");
    let seed1 = fixture("seed1_in.npy");
    let zero_d = fixture("zero_d_i4_in.npy");
    let missing = dir.join("missing.npy");
    let run = |input: &Path, extra: &[&str], fragments: &[&str]| {
        let mut args: Vec<&OsStr> = vec![input.as_os_str(), "-o".as_ref(), out.as_os_str()];
        args.extend(extra.iter().copied().map(OsStr::new));
        assert_fails(&args, &[], &dir, fragments);
    };
    let numpy_axis = "gpuscan: axis 3 is out of bounds for array of dimension 1";
    run(&seed1, &["--axis", "3"], &[numpy_axis]);
    run(&seed1, &["--axis", "3", "--device", "cpu"], &[numpy_axis]);
    run(
        &seed1,
        &["--axis=-2"],
        &["gpuscan: axis -2 is out of bounds for array of dimension 1"],
    );
    // A 0-d array counts as 1-d, as in numpy.
    run(
        &zero_d,
        &["--axis", "1"],
        &["gpuscan: axis 1 is out of bounds for array of dimension 1"],
    );
    run(
        &seed1,
        &["--dtype", "bogus"],
        &["'--dtype <NAME>'", "unsupported dtype 'bogus'"],
    );
    run(
        &seed1,
        &["--out-dtype", "complex64"],
        &["'--out-dtype <NAME>'", "unsupported dtype 'complex64'"],
    );
    run(
        &seed1,
        &["--device", "tpu"],
        &["'--device <DEVICE>'", "unknown device 'tpu'"],
    );
    run(
        &seed1,
        &["--strategy", "fastest"],
        &["'--strategy <STRATEGY>'", "unknown strategy 'fastest'"],
    );
    run(
        &missing,
        &["--device", "cpu"],
        &["gpuscan: cannot open ", "missing.npy"],
    );
}

#[test]
fn unwritable_outputs_fail_and_leave_nothing_behind() {
    let dir = TempDir::new("cli-cumsum", "unwritable");
    let seed1 = fixture("seed1_in.npy");
    let cpu = ["--device", "cpu"].map(OsStr::new);

    // A directory that does not exist.
    let nowhere = dir.join("no/such/dir/out.npy");
    let args = [
        seed1.as_os_str(),
        "-o".as_ref(),
        nowhere.as_os_str(),
        cpu[0],
        cpu[1],
    ];
    assert_fails(&args, &[], &dir, &["gpuscan: cannot write ", "out.npy"]);

    // A path through a regular file.
    fs::write(dir.join("file"), b"x").unwrap();
    let through_file = dir.join("file/out.npy");
    let args = [
        seed1.as_os_str(),
        "-o".as_ref(),
        through_file.as_os_str(),
        cpu[0],
        cpu[1],
    ];
    let run = gpuscan(args, &[]);
    assert_eq!(run.status.code(), Some(2));
    assert_eq!(dir.entries(), ["file"]);
    fs::remove_file(dir.join("file")).unwrap();

    // The output is an existing directory: the data is written to the temporary file first,
    // and the failed rename must remove it.
    let sub = dir.join("sub");
    fs::create_dir(&sub).unwrap();
    let args = [
        seed1.as_os_str(),
        "-o".as_ref(),
        sub.as_os_str(),
        cpu[0],
        cpu[1],
    ];
    let run = gpuscan(args, &[]);
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert_eq!(run.status.code(), Some(2), "{stderr}");
    assert!(stderr.starts_with("gpuscan: cannot write "), "{stderr}");
    assert_eq!(dir.entries(), ["sub"], "the temporary file was left behind");
    assert!(fs::read_dir(&sub).unwrap().next().is_none());
}

#[test]
fn gpu_without_adapter_fails_with_the_library_message() {
    let dir = TempDir::new("cli-cumsum", "no-adapter");
    let out = dir.join("out.npy");
    let seed1 = fixture("seed1_in.npy");
    let args = [
        seed1.as_os_str(),
        "-o".as_ref(),
        out.as_os_str(),
        "--device".as_ref(),
        "gpu".as_ref(),
    ];
    // wgpu's adapter choice by name: nothing matches, so the context is CPU-only.
    assert_fails(
        &args,
        &[("WGPU_ADAPTER_NAME", "no such adapter 1234")],
        &dir,
        &["gpuscan: no GPU adapter is available: "],
    );
}

#[test]
fn failure_keeps_an_existing_output_and_success_replaces_it() {
    let dir = TempDir::new("cli-cumsum", "replace");
    let out = dir.join("out.npy");
    fs::write(&out, b"previous").unwrap();
    let seed1 = fixture("seed1_in.npy");
    let base = [seed1.as_os_str(), "-o".as_ref(), out.as_os_str()];
    let run = gpuscan(base.iter().chain(&["--axis".as_ref(), "5".as_ref()]), &[]);
    assert_eq!(run.status.code(), Some(2));
    assert_eq!(fs::read(&out).unwrap(), b"previous");

    let run = gpuscan(base.iter().chain(&["--axis".as_ref(), "-1".as_ref()]), &[]);
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let r = npy::read(&out).unwrap();
    assert_eq!(r.dtype(), DType::Int64);
    assert_eq!(
        r.as_slice::<i64>().unwrap(),
        &[5, 11, 18, 26, 35, 45, 56, 68, 87, 112]
    );
    assert_eq!(dir.entries(), ["out.npy"]);
}
