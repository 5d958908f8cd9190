//! `gpuscan`: numpy.cumsum on `.npy` files, adapter information, and the GPU-versus-CPU
//! benchmark.

mod bench;
mod calibrate;
mod cumsum_cmd;
mod info;
mod selftest;
mod values;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "gpuscan",
    version,
    about = "numpy.cumsum on any GPU, through wgpu"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Cumulative sum of a .npy file, written to another (numpy.cumsum semantics).
    Cumsum(cumsum_cmd::Args),
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
    let runtime_dir = quiet_mesa();
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        // --help and --version print as clap formats them.
        Err(e) if !e.use_stderr() => {
            let _ = e.print();
            return ExitCode::SUCCESS;
        }
        // A usage error is one line, like every other bad input.
        Err(e) => {
            let text = e.to_string();
            let first = text.lines().next().unwrap_or("invalid arguments");
            let first = first.strip_prefix("error: ").unwrap_or(first);
            eprintln!("gpuscan: {first} (see gpuscan --help)");
            return ExitCode::from(2);
        }
    };
    let result = match cli.command {
        Command::Cumsum(args) => cumsum_cmd::run(args),
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
