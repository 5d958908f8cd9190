//! How `gpuscan` words its usage errors: clap's content kept on one line (the missing
//! argument named), one wording for every unsupported dtype, and bad option values refused
//! by clap naming the option and the value, while every spelling the options take still
//! parses. Every failure exits 2 with one line on stderr.

use std::path::PathBuf;
use std::process::{Command, Output};

use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_gpuscan");

/// The dtypes every unsupported-dtype message lists.
const HANDLED: &str = "gpuscan handles bool, int8..int64, uint8..uint64, float16, float32, float64";

fn gpuscan(args: &[&str]) -> Output {
    Command::new(BIN)
        .args(args)
        .output()
        .expect("run the gpuscan binary")
}

// The fixtures stay under the library's tests/: its npy unit tests read them too.
fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../tests/fixtures")
        .join(name)
}

/// A path in the temporary directory that nothing is written to: every command here fails
/// before it writes.
fn nowhere() -> String {
    std::env::temp_dir()
        .join(format!("gpuscan-cli-messages-{}.npy", std::process::id()))
        .display()
        .to_string()
}

/// Runs a command that must fail: exit code 2, nothing on stdout, exactly one line on stderr
/// starting with `gpuscan: `, holding every fragment, and no usage block. Returns the line.
fn fails(args: &[&str], fragments: &[&str]) -> String {
    let o = gpuscan(args);
    let stderr = String::from_utf8_lossy(&o.stderr).into_owned();
    assert_eq!(o.status.code(), Some(2), "{args:?}: {stderr}");
    assert!(o.stdout.is_empty(), "{args:?}: wrote to stdout");
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(
        lines.len(),
        1,
        "{args:?}: stderr is not one line: {stderr:?}"
    );
    let line = lines[0];
    assert!(line.starts_with("gpuscan: "), "{args:?}: {line}");
    assert!(!line.contains("Usage:"), "{args:?}: {line}");
    for f in fragments {
        assert!(line.contains(f), "{args:?}: {line:?} lacks {f:?}");
    }
    line.to_string()
}

#[test]
fn usage_errors_keep_clap_content_on_one_line() {
    let out = nowhere();
    let input = "in.npy";
    let cases: Vec<(Vec<&str>, Vec<&str>)> = vec![
        // A missing required argument is named.
        (
            vec!["cumsum", input],
            vec!["required arguments were not provided", "--output <OUTPUT>"],
        ),
        (
            vec!["cumsum"],
            vec!["--output <OUTPUT>", "<INPUT>", "see gpuscan cumsum --help"],
        ),
        (vec!["cummax", input, "-o"], vec!["'--output <OUTPUT>'"]),
        (
            vec!["cumsum", input, "-o", &out, "--bogus"],
            vec!["unexpected argument '--bogus'"],
        ),
        (
            vec!["cumsum", input, "-o", &out, "--ordr", "fast"],
            vec!["'--ordr'", "a similar argument exists: '--order'"],
        ),
        (
            vec!["cumsum", input, "-o", &out, "--axis", "abc"],
            vec!["invalid value 'abc' for '--axis <AXIS>'"],
        ),
        // An option another subcommand takes.
        (
            vec!["cumulative-sum", input, "-o", &out, "--reverse"],
            vec!["'--reverse'", "see gpuscan cumulative-sum --help"],
        ),
        (vec!["info", "--json=3"], vec!["'3'", "'--json'"]),
        (vec!["cumfoo"], vec!["'cumfoo'", "see gpuscan --help"]),
        // No command at all: the commands, not the whole help.
        (vec![], vec!["cumsum", "cumulative-prod", "selftest"]),
    ];
    for (args, fragments) in cases {
        fails(&args, &fragments);
    }
}

#[test]
fn unsupported_dtypes_have_one_wording() {
    let out = nowhere();
    let complex = fixture("bad_complex.npy");
    let complex = complex.to_str().unwrap();
    let cases: [(&[&str], &str); 5] = [
        (
            &["cumsum", "in.npy", "-o", &out, "--dtype", "complex64"],
            "complex64",
        ),
        (
            &["cumprod", "in.npy", "-o", &out, "--out-dtype", "c16"],
            "c16",
        ),
        (&["cumsum", complex, "-o", &out, "--device", "cpu"], "<c8"),
        (&["bench", "--dtype", "float32,complex64"], "complex64"),
        (&["calibrate", "--dtype", "float128"], "float128"),
    ];
    for (args, name) in cases {
        let wording = format!("unsupported dtype '{name}'");
        fails(args, &[&wording, HANDLED]);
    }
}

#[test]
fn bad_values_are_clap_errors_naming_option_and_value() {
    let out = nowhere();
    let scan = |extra: &[&'static str]| {
        let mut args = vec!["cumsum", "in.npy", "-o", out.as_str()];
        args.extend_from_slice(extra);
        args
    };
    let cases: Vec<(Vec<&str>, &str, &str)> = vec![
        (scan(&["--device", "tpu"]), "--device", "tpu"),
        (scan(&["--order", "sideways"]), "--order", "sideways"),
        (scan(&["--strategy", "fastest"]), "--strategy", "fastest"),
        (scan(&["--dtype", "bogus"]), "--dtype", "bogus"),
        (vec!["bench", "--sizes", "1024,abc"], "--sizes", "abc"),
        (vec!["bench", "--sizes", "2^99"], "--sizes", "2^99"),
        (vec!["bench", "--sizes", "0"], "--sizes", "0"),
        (vec!["bench", "--dtype", "float32,nope"], "--dtype", "nope"),
        (vec!["bench", "--shape", "64x"], "--shape", "64x"),
        (vec!["bench", "--axis", "0,x"], "--axis", "x"),
        (vec!["bench", "--repeats", "many"], "--repeats", "many"),
        (vec!["bench", "--device", "tpu"], "--device", "tpu"),
        (vec!["bench", "--order", "sideways"], "--order", "sideways"),
        (
            vec!["bench", "--strategy", "chained,nope"],
            "--strategy",
            "nope",
        ),
        (vec!["bench", "--paths", "cpu,gpu"], "--paths", "gpu"),
        (vec!["bench", "--op", "cumsum,cumfoo"], "--op", "cumfoo"),
        (vec!["bench", "--segments", "none"], "--segments", "none"),
        (vec!["calibrate", "--max-size", "0"], "--max-size", "0"),
        (vec!["calibrate", "--dtype", "nope"], "--dtype", "nope"),
        (vec!["selftest", "--strategy", "auto"], "--strategy", "auto"),
        (vec!["selftest", "--ops", "all,cumfoo"], "--ops", "cumfoo"),
    ];
    for (args, option, value) in cases {
        let fragment = format!("invalid value '{value}' for '{option} ");
        let help = format!("(see gpuscan {} --help)", args[0]);
        fails(&args, &[&fragment, &help]);
    }
    // The library's reasons are kept after clap's words.
    fails(
        &["bench", "--device", "tpu"],
        &["unknown device 'tpu': expected cpu or gpu"],
    );
    fails(
        &["selftest", "--strategy", "auto"],
        &["selftest tests each strategy by name"],
    );
}

#[test]
fn every_list_spelling_still_parses() {
    // CPU rows only, on tiny cases: counts as N, 2^N and 1<<N, `none`, blank terms, spaces,
    // negative axes, `all` strategies.
    let o = gpuscan(&[
        "bench",
        "--json",
        "--device",
        "cpu",
        "--paths",
        "cpu",
        "--sizes",
        "16, 2^5,1<<6",
        "--shape",
        "4x8",
        "--axis",
        "0,-1,",
        "--dtype",
        "float32,,int32",
        "--op",
        "cumsum, cummax,",
        "--strategy",
        "all",
        "--order",
        "fast",
        "--repeats",
        "1",
        "--segments",
        "2",
    ]);
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "{stderr}");
    let records: Vec<Value> = String::from_utf8_lossy(&o.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let rows: Vec<(String, String, Value, Value)> = records[1..]
        .iter()
        .map(|r| {
            (
                r["dtype"].as_str().unwrap().to_string(),
                r["op"].as_str().unwrap().to_string(),
                r["shape"].clone(),
                r["axis"].clone(),
            )
        })
        .collect();
    // 2 dtypes x (3 sizes + 2 axes) x 2 ops.
    assert_eq!(rows.len(), 20, "{rows:?}");
    for dtype in ["float32", "int32"] {
        for op in ["cumsum", "cummax"] {
            for (shape, axis) in [
                (serde_json::json!([16]), Value::Null),
                (serde_json::json!([32]), Value::Null),
                (serde_json::json!([64]), Value::Null),
                (serde_json::json!([4, 8]), serde_json::json!(0)),
                (serde_json::json!([4, 8]), serde_json::json!(1)),
            ] {
                let row = (dtype.to_string(), op.to_string(), shape, axis);
                assert!(rows.contains(&row), "{row:?} missing from {rows:?}");
            }
        }
    }
    // `none` skips the 1-D cases, and with --shape none too, nothing is left.
    fails(
        &["bench", "--sizes", "none", "--shape", "none"],
        &["nothing to measure"],
    );
}
