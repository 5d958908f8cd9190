//! The library's dependency tree with its default features, as `cargo tree` resolves it from
//! Cargo.lock: the command-line tool's crates belong to the `gpuscan-cli` package only, and
//! `ndarray` is the version that `gpuscan::ndarray` re-exports.

use std::process::Command;

/// The crates the CLI needs and the library must not pull in.
const CLI_ONLY: [&str; 6] = [
    "gpuscan-cli",
    "clap",
    "clap_builder",
    "clap_derive",
    "clap_lex",
    "serde_json",
];

/// Every crate of the library's normal (not dev, not build) dependency tree as `name vX.Y.Z`.
fn normal_tree() -> Vec<String> {
    let manifest = concat!(env!("CARGO_MANIFEST_DIR"), "/Cargo.toml");
    let out = Command::new(env!("CARGO"))
        .args(["tree", "--locked", "--offline", "--manifest-path", manifest])
        .args(["-p", "gpuscan", "-e", "normal", "--prefix", "none"])
        .output()
        .expect("run cargo tree");
    assert!(
        out.status.success(),
        "cargo tree failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .expect("cargo tree prints UTF-8")
        .lines()
        .map(str::to_string)
        .collect()
}

fn name(line: &str) -> &str {
    line.split_whitespace().next().unwrap_or("")
}

#[test]
fn default_features_pull_in_no_cli_crate() {
    let tree = normal_tree();
    assert!(
        tree.first().is_some_and(|l| name(l) == "gpuscan"),
        "the tree starts at the library: {tree:?}"
    );
    let cli: Vec<&String> = tree
        .iter()
        .filter(|l| CLI_ONLY.contains(&name(l)))
        .collect();
    assert!(cli.is_empty(), "CLI crates in the library's tree: {cli:?}");
}

#[test]
fn ndarray_is_0_17() {
    let tree = normal_tree();
    let ndarray: Vec<&String> = tree.iter().filter(|l| name(l) == "ndarray").collect();
    assert!(
        !ndarray.is_empty() && ndarray.iter().all(|l| l.starts_with("ndarray v0.17.")),
        "ndarray in the library's tree: {ndarray:?}"
    );
}
