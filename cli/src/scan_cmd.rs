//! `gpuscan OP INPUT.npy -o OUTPUT.npy`: one of numpy's scans (`np.cumsum`, `np.cumprod`,
//! `np.nancumsum`, `np.nancumprod`, `np.maximum.accumulate`, `np.minimum.accumulate`,
//! `np.logaddexp.accumulate`, numpy 2's `np.cumulative_sum` and `np.cumulative_prod`) of a
//! `.npy` file, written to another.
//!
//! Every argument is checked before the input is read, so a typo fails before a large file
//! is loaded; the segment offsets are read after the arguments and before the input.
//!
//! The outputs appear only when everything succeeded: each is written to a temporary file
//! next to it, and the temporaries are renamed over the outputs only once all of them were
//! written; on any failure the temporaries are removed and no output is left behind.

use std::fs::{self, File};
use std::io::BufWriter;
use std::path::{Path, PathBuf};

use gpuscan::{npy, Array, Context, DType, Device, Error, Order, Scan, ScanOp, Strategy};

use crate::values;
use crate::CliError;

/// The files and numpy's arguments that every scan takes.
#[derive(clap::Args)]
pub struct Io {
    /// The input array (.npy: bool, int8..int64, uint8..uint64, float16/32/64; any byte order,
    /// C or Fortran order).
    input: PathBuf,
    /// Where to write the result (.npy, C order, native byte order).
    #[arg(short, long)]
    output: PathBuf,
    /// numpy's axis=; negative counts from the end. Without it the array is flattened (axis=None).
    #[arg(long, allow_hyphen_values = true)]
    axis: Option<isize>,
    /// numpy's dtype=: cast every element to it and compute in it (e.g. float64, int8, f4).
    #[arg(long, value_name = "NAME", value_parser = values::dtype)]
    dtype: Option<DType>,
    /// The result's dtype, as numpy's out= given an array of it: without --dtype the scan
    /// computes in np.result_type(out_dtype, input dtype) (logcumsumexp: the float that holds
    /// it), then is cast.
    #[arg(long, value_name = "NAME", value_parser = values::dtype)]
    out_dtype: Option<DType>,
}

/// The reverse, exclusive and segmented variants (not numpy's; every operation but
/// numpy 2's cumulative_* takes them).
#[derive(clap::Args)]
pub struct Variants {
    /// Suffix scans: element i combines element i and every element after it along the axis.
    #[arg(long)]
    reverse: bool,
    /// Element i combines the elements strictly before it (after it, with --reverse); the
    /// first of each lane or segment is the empty scan's value (0, 1, the lowest or highest
    /// value, -inf).
    #[arg(long)]
    exclusive: bool,
    /// Restart every lane at these offsets along the axis (the flattened array without
    /// --axis): a 1-D integer .npy [0, ..., axis length], never decreasing; repeated offsets
    /// are empty segments.
    #[arg(long, value_name = "OFFSETS.npy")]
    segments: Option<PathBuf>,
}

/// Where and how the scan runs.
#[derive(clap::Args)]
pub struct Run {
    /// auto, cpu or gpu.
    #[arg(long, default_value = "auto")]
    device: Device,
    /// Evaluation order of float scans: fast, exact (numpy's bit for bit, CPU) or
    /// wide (float16 computed in float32 and float32 in float64, rounded once).
    #[arg(long, default_value = "fast")]
    order: Order,
    /// GPU scan algorithm: auto (the selection table), blelloch, reduce-then-scan or chained.
    #[arg(long, default_value = "auto")]
    strategy: Strategy,
    /// The chained scan's polls of a predecessor before reducing its tile itself (0: every
    /// look-back step falls back); the result is the same bits for every value.
    #[arg(long, value_name = "N")]
    spin_limit: Option<u32>,
}

/// cumsum, cumprod, nancumsum, nancumprod and logcumsumexp.
#[derive(clap::Args)]
pub struct ScanArgs {
    #[command(flatten)]
    io: Io,
    #[command(flatten)]
    variants: Variants,
    #[command(flatten)]
    run: Run,
}

/// cummax and cummin.
#[derive(clap::Args)]
pub struct ExtremeArgs {
    #[command(flatten)]
    io: Io,
    #[command(flatten)]
    variants: Variants,
    /// Also write the int64 position along the axis of each running extreme to this .npy
    /// (ties and NaNs: the latest scanned wins; -1 where an exclusive scan has none yet).
    #[arg(long, value_name = "INDICES.npy")]
    indices: Option<PathBuf>,
    #[command(flatten)]
    run: Run,
}

/// cumulative-sum and cumulative-prod.
#[derive(clap::Args)]
#[command(mut_arg("axis", |a| a.help(
    "numpy's axis=; negative counts from the end. Required for inputs of two or more \
     dimensions; without it a 1-D (or 0-d) input is scanned whole"
)))]
pub struct CumulativeArgs {
    #[command(flatten)]
    io: Io,
    /// numpy 2's include_initial=True: start every lane with the empty scan's value (0 or 1);
    /// the axis grows by one.
    #[arg(long)]
    include_initial: bool,
    #[command(flatten)]
    run: Run,
}

/// `gpuscan OP` for cumsum, cumprod, nancumsum, nancumprod and logcumsumexp.
pub fn scan(op: ScanOp, args: ScanArgs) -> Result<(), CliError> {
    let options = Scan::new(op)
        .reverse(args.variants.reverse)
        .exclusive(args.variants.exclusive);
    execute(options, args.io, args.variants.segments, None, args.run)
}

/// `gpuscan cummax` and `gpuscan cummin`, with or without `--indices`.
pub fn extreme(op: ScanOp, args: ExtremeArgs) -> Result<(), CliError> {
    let options = Scan::new(op)
        .reverse(args.variants.reverse)
        .exclusive(args.variants.exclusive);
    execute(
        options,
        args.io,
        args.variants.segments,
        args.indices,
        args.run,
    )
}

/// `gpuscan cumulative-sum` and `gpuscan cumulative-prod` (`options` is
/// [`Scan::cumulative_sum`] or [`Scan::cumulative_prod`]).
pub fn cumulative(options: Scan, args: CumulativeArgs) -> Result<(), CliError> {
    let options = options.include_initial(args.include_initial);
    execute(options, args.io, None, None, args.run)
}

fn execute(
    mut options: Scan,
    io: Io,
    segments: Option<PathBuf>,
    indices: Option<PathBuf>,
    run: Run,
) -> Result<(), CliError> {
    if let Some(indices) = &indices {
        if same_file(&io.output, indices) {
            return Err(CliError(format!(
                "--indices and --output both name {}: they must be two files",
                indices.display()
            )));
        }
    }
    let ctx = match run.device {
        Device::Cpu => Context::cpu_only(),
        _ => Context::new()?,
    };
    if let (Some(polls), true) = (run.spin_limit, ctx.has_gpu()) {
        ctx.set_spin_limit(polls)?;
    }
    if run.device == Device::Gpu && !ctx.has_gpu() {
        let reason = ctx.gpu_unavailable_reason().unwrap_or_default();
        return Err(Error::NoAdapter(reason.to_string()).into());
    }
    options.axis = io.axis;
    options.device = run.device;
    options.order = run.order;
    options.strategy = run.strategy;

    // The offsets are small: read them before the input, so that a bad file fails early.
    let segments_error = |e: Error| match (&e, &segments) {
        (Error::Segments(_), Some(path)) => CliError(format!("{}: {e}", path.display())),
        _ => CliError::from(e),
    };
    if let Some(path) = &segments {
        let offsets = npy::read(path)?;
        options = options.segments_array(&offsets).map_err(segments_error)?;
    }

    let input = npy::read(&io.input)?;
    // numpy's out= computes in result_type(out, a) unless dtype= says otherwise.
    options.dtype = match io.out_dtype {
        Some(out) => Some(options.op.loop_dtype(input.dtype(), io.dtype, Some(out))?),
        None => io.dtype,
    };
    let out_dtype = |result: &Array| io.out_dtype.unwrap_or(result.dtype());
    match indices {
        None => {
            // Consumes the input: when it already holds the loop dtype it is scanned in place.
            let result = ctx.scan_owned(input, &options).map_err(segments_error)?;
            let dtype = out_dtype(&result);
            let values = write_temp(&io.output, |w| npy::write_as(w, &result, dtype))?;
            commit(vec![values])
        }
        Some(indices) => {
            let (result, positions) = ctx.scan_indices(&input, &options).map_err(segments_error)?;
            drop(input);
            let dtype = out_dtype(&result);
            let values = write_temp(&io.output, |w| npy::write_as(w, &result, dtype))?;
            let positions = write_temp(&indices, |w| npy::write(w, &positions))?;
            commit(vec![values, positions])
        }
    }
}

/// The directory a file is written in ("." for a bare name).
fn parent_dir(path: &Path) -> &Path {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    }
}

/// Whether two output paths name one file (same name in the same directory).
fn same_file(a: &Path, b: &Path) -> bool {
    let key = |p: &Path| {
        let dir = parent_dir(p);
        (
            fs::canonicalize(dir).unwrap_or_else(|_| dir.to_path_buf()),
            p.file_name().map(ToOwned::to_owned),
        )
    };
    a == b || key(a) == key(b)
}

/// Removes the temporary file unless it was renamed into place, whatever path left early.
struct TempFile {
    path: PathBuf,
    keep: bool,
}

impl Drop for TempFile {
    fn drop(&mut self) {
        if !self.keep {
            let _ = fs::remove_file(&self.path);
        }
    }
}

/// One output, written in full to its temporary file and waiting for [`commit`].
struct Staged {
    temp: TempFile,
    output: PathBuf,
}

fn cannot_write(output: &Path, why: impl std::fmt::Display) -> CliError {
    CliError(format!("cannot write {}: {why}", output.display()))
}

/// Writes `output`'s contents to a temporary file next to it (same directory, so that the
/// final rename never crosses file systems), synced to disk.
fn write_temp(
    output: &Path,
    write: impl FnOnce(&mut BufWriter<File>) -> gpuscan::Result<()>,
) -> Result<Staged, CliError> {
    let fail = |why: String| cannot_write(output, why);
    let file_name = output
        .file_name()
        .ok_or_else(|| fail("the output path names no file".into()))?;
    let mut temp_name = std::ffi::OsString::from(".");
    temp_name.push(file_name);
    temp_name.push(format!(".tmp-{}", std::process::id()));
    let temp = TempFile {
        path: parent_dir(output).join(temp_name),
        keep: false,
    };
    let file = File::create(&temp.path).map_err(|e| fail(e.to_string()))?;
    let mut w = BufWriter::with_capacity(1 << 20, file);
    write(&mut w).map_err(|e| match e {
        Error::Io { source, .. } => CliError(format!(
            "{}: cannot write .npy data: {source}",
            output.display()
        )),
        other => CliError::from(other),
    })?;
    let file = w.into_inner().map_err(|e| fail(e.error().to_string()))?;
    // Report a full disk now rather than leave a short file behind a successful exit.
    file.sync_all().map_err(|e| fail(e.to_string()))?;
    Ok(Staged {
        temp,
        output: output.to_path_buf(),
    })
}

/// Renames every staged file into place. Should a rename fail, the outputs already renamed
/// are removed again (a file they replaced is then gone too), so that on failure no output
/// exists; the remaining temporaries are removed as they drop.
fn commit(mut staged: Vec<Staged>) -> Result<(), CliError> {
    for i in 0..staged.len() {
        let s = &mut staged[i];
        if let Err(e) = fs::rename(&s.temp.path, &s.output) {
            let err = cannot_write(&s.output, e);
            for done in &staged[..i] {
                let _ = fs::remove_file(&done.output);
            }
            return Err(err);
        }
        s.temp.keep = true;
    }
    Ok(())
}
