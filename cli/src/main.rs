//! `gpuscan`: numpy's scans (cumsum, cumprod, nancumsum, nancumprod, cummax, cummin,
//! logcumsumexp, cumulative_sum, cumulative_prod) on `.npy` files, adapter information, and
//! the GPU-versus-CPU benchmark.

mod bench;
mod calibrate;
mod info;
mod scan_cmd;
mod selftest;
mod values;

use std::process::ExitCode;

use clap::error::ErrorKind;
use clap::{CommandFactory, Parser, Subcommand};
use gpuscan::{Scan, ScanOp};

#[derive(Parser)]
#[command(
    name = "gpuscan",
    version,
    about = "numpy's scans (cumsum, cumprod, nancumsum, nancumprod, cummax, cummin, \
             logcumsumexp, cumulative_sum, cumulative_prod) on any GPU, through wgpu"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// np.cumsum of a .npy file, written to another (bool: a running OR).
    Cumsum(scan_cmd::ScanArgs),
    /// np.cumprod: the running product (integers wrap; bool: a running AND).
    Cumprod(scan_cmd::ScanArgs),
    /// np.nancumsum: the running sum with NaN counted as zero.
    Nancumsum(scan_cmd::ScanArgs),
    /// np.nancumprod: the running product with NaN counted as one.
    Nancumprod(scan_cmd::ScanArgs),
    /// np.maximum.accumulate (NaN propagates); --indices also writes the argmax positions.
    Cummax(scan_cmd::ExtremeArgs),
    /// np.minimum.accumulate (NaN propagates); --indices also writes the argmin positions.
    Cummin(scan_cmd::ExtremeArgs),
    /// np.logaddexp.accumulate: the running log(exp(a) + exp(b)), in float16/32/64.
    Logcumsumexp(scan_cmd::ScanArgs),
    /// numpy 2's np.cumulative_sum: --axis is required from 2-D; --include-initial.
    CumulativeSum(scan_cmd::CumulativeArgs),
    /// numpy 2's np.cumulative_prod: --axis is required from 2-D; --include-initial.
    CumulativeProd(scan_cmd::CumulativeArgs),
    /// The adapter, its features and limits, and which dtypes run on the GPU.
    Info(info::Args),
    /// GPU against CPU and a plain buffer copy, over sizes and axes.
    Bench(bench::Args),
    /// Measures where Device::Auto should switch to the GPU on this machine; --save keeps it.
    Calibrate(calibrate::Args),
    /// Checks every GPU strategy on this adapter against the CPU: run it on a new GPU.
    Selftest(selftest::Args),
}

/// A failure the user can act on: printed as one line on stderr, exit code 2.
#[derive(Debug)]
pub struct CliError(pub String);

impl From<gpuscan::Error> for CliError {
    fn from(e: gpuscan::Error) -> Self {
        CliError(e.to_string())
    }
}

/// clap's error as one line: the message with its details (the missing arguments, the
/// accepted values) and tips, without the usage, then which help to read.
fn usage_error(e: &clap::Error) -> String {
    let cli = Cli::command();
    // Not every error carries the usage (a bad value does not), so the command line says
    // which subcommand's help applies.
    let first_arg = std::env::args_os().nth(1);
    let help = match first_arg.as_ref().and_then(|a| a.to_str()) {
        Some(name) if cli.find_subcommand(name).is_some() => format!("gpuscan {name} --help"),
        _ => "gpuscan --help".to_string(),
    };
    if e.kind() == ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand {
        // clap would print the whole help here.
        let names: Vec<&str> = cli.get_subcommands().map(|c| c.get_name()).collect();
        return format!("a command is required: {} (see {help})", names.join(", "));
    }
    let mut parts = Vec::new();
    // clap's paragraphs: the message and its indented details, tips, the usage, a pointer
    // to --help.
    for paragraph in e.to_string().split("\n\n") {
        let mut lines = paragraph.lines().map(str::trim).filter(|l| !l.is_empty());
        let Some(first) = lines.next() else {
            continue;
        };
        if first.starts_with("Usage:") || first.starts_with("For more information") {
            continue;
        }
        let first = first.strip_prefix("error: ").unwrap_or(first);
        let details: Vec<&str> = lines.collect();
        parts.push(match (details.is_empty(), first.ends_with(':')) {
            (true, _) => first.to_string(),
            (false, true) => format!("{first} {}", details.join(", ")),
            (false, false) => format!("{first} {}", details.join(" ")),
        });
    }
    if parts.is_empty() {
        parts.push("invalid arguments".to_string());
    }
    format!("{} (see {help})", parts.join("; "))
}

/// Mesa's Vulkan drivers warn on stderr when `XDG_RUNTIME_DIR` is unset (common in containers
/// and CI), which would break the one-line error output; give them a private directory. Runs
/// before any thread starts, as `set_var` requires; returns the directory to remove at exit.
fn quiet_mesa() -> Option<std::path::PathBuf> {
    if cfg!(target_os = "linux") && std::env::var_os("XDG_RUNTIME_DIR").is_none() {
        let dir = std::env::temp_dir().join(format!("gpuscan-runtime-{}", std::process::id()));
        if std::fs::create_dir_all(&dir).is_ok() {
            #[cfg(unix)]
            {
                use std::os::unix::fs::PermissionsExt;
                let _ = std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700));
            }
            std::env::set_var("XDG_RUNTIME_DIR", &dir);
            return Some(dir);
        }
    }
    None
}

/// Rust ignores SIGPIPE, so `gpuscan bench | head` would panic on the closed pipe; end
/// quietly instead, as other command-line tools do.
fn restore_sigpipe() {
    #[cfg(target_os = "linux")]
    // SAFETY: called first thing in main, before any thread exists; SIG_DFL is a valid action.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}

fn main() -> ExitCode {
    restore_sigpipe();
    // Bad input is reported as errors; should a bug panic, still print one line, no backtrace.
    std::panic::set_hook(Box::new(|info| {
        eprintln!("gpuscan: internal error: {info}");
    }));
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        // --help and --version print as clap formats them.
        Err(e) if !e.use_stderr() => {
            let _ = e.print();
            return ExitCode::SUCCESS;
        }
        // A usage error (a missing argument, an unknown one, a bad value) is one line, like
        // every other bad input.
        Err(e) => {
            eprintln!("gpuscan: {}", usage_error(&e));
            return ExitCode::from(2);
        }
    };
    // After parsing, so that a usage error leaves no directory behind.
    let runtime_dir = quiet_mesa();
    let result = match cli.command {
        Command::Cumsum(args) => scan_cmd::scan(ScanOp::Sum, args),
        Command::Cumprod(args) => scan_cmd::scan(ScanOp::Prod, args),
        Command::Nancumsum(args) => scan_cmd::scan(ScanOp::NanSum, args),
        Command::Nancumprod(args) => scan_cmd::scan(ScanOp::NanProd, args),
        Command::Cummax(args) => scan_cmd::extreme(ScanOp::Max, args),
        Command::Cummin(args) => scan_cmd::extreme(ScanOp::Min, args),
        Command::Logcumsumexp(args) => scan_cmd::scan(ScanOp::LogAddExp, args),
        Command::CumulativeSum(args) => scan_cmd::cumulative(Scan::cumulative_sum(), args),
        Command::CumulativeProd(args) => scan_cmd::cumulative(Scan::cumulative_prod(), args),
        Command::Info(args) => info::run(args),
        Command::Bench(args) => bench::run(args),
        Command::Calibrate(args) => calibrate::run(args),
        Command::Selftest(args) => selftest::run(args),
    };
    if let Some(dir) = runtime_dir {
        // Empty unless a driver put something there; then leave it.
        let _ = std::fs::remove_dir(dir);
    }
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(CliError(message)) => {
            eprintln!("gpuscan: {message}");
            ExitCode::from(2)
        }
    }
}
