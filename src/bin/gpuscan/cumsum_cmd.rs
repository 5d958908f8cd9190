//! `gpuscan cumsum INPUT.npy -o OUTPUT.npy`: `np.cumsum` of a `.npy` file, written to another.
//!
//! The output appears only when everything succeeded: it is written to a temporary file next
//! to it and renamed over it at the end, and the temporary file is removed on any failure.

use std::fs::{self, File};
use std::io::BufWriter;
use std::path::{Path, PathBuf};

use gpuscan::{npy, Context, Cumsum, DType, Device, Error, Order, Strategy};

use crate::CliError;

#[derive(clap::Args)]
pub struct Args {
    /// The input array (.npy: bool, int8..int64, uint8..uint64, float16/32/64; any byte order,
    /// C or Fortran order).
    input: PathBuf,
    /// Where to write the result (.npy, C order, native byte order).
    #[arg(short, long)]
    output: PathBuf,
    /// numpy's axis=; negative counts from the end. Without it the array is flattened (axis=None).
    #[arg(long, allow_hyphen_values = true)]
    axis: Option<isize>,
    /// numpy's dtype=: cast every element to it and accumulate in it (e.g. float64, int8, f4).
    #[arg(long, value_name = "NAME")]
    dtype: Option<String>,
    /// The result's dtype, as numpy's out= given an array of it: without --dtype the sum
    /// accumulates in np.result_type(out_dtype, input dtype), then is cast.
    #[arg(long, value_name = "NAME")]
    out_dtype: Option<String>,
    /// auto, cpu or gpu.
    #[arg(long, default_value = "auto")]
    device: String,
    /// Summation order of floats: fast (default), exact (numpy's bit for bit, CPU) or wide
    /// (float32 summed in float64, rounded once).
    #[arg(long, default_value = "fast")]
    order: String,
    /// GPU scan algorithm: auto (the selection table), blelloch, reduce-then-scan or chained.
    #[arg(long, default_value = "auto")]
    strategy: String,
    /// The chained scan's polls of a predecessor before reducing its tile itself (0: every
    /// look-back step falls back); the result is the same bits for every value.
    #[arg(long, value_name = "N")]
    spin_limit: Option<u32>,
}

pub fn run(args: Args) -> Result<(), CliError> {
    // Arguments first, so that a typo fails before a large file is read.
    let dtype = args.dtype.as_deref().map(str::parse::<DType>).transpose()?;
    let out_dtype = args
        .out_dtype
        .as_deref()
        .map(str::parse::<DType>)
        .transpose()?;
    let device: Device = args.device.parse()?;
    let order: Order = args.order.parse()?;
    let strategy: Strategy = args.strategy.parse()?;
    let ctx = match device {
        Device::Cpu => Context::cpu_only(),
        _ => Context::new()?,
    };
    if let (Some(polls), true) = (args.spin_limit, ctx.has_gpu()) {
        ctx.set_spin_limit(polls)?;
    }
    if device == Device::Gpu && !ctx.has_gpu() {
        let reason = ctx.gpu_unavailable_reason().unwrap_or_default();
        return Err(Error::NoAdapter(reason.to_string()).into());
    }

    let input = npy::read(&args.input)?;
    // numpy's out= accumulates in result_type(out, a) unless dtype= says otherwise.
    let acc = dtype.or_else(|| out_dtype.map(|o| DType::result_type(o, input.dtype())));
    let mut options = Cumsum::new().device(device).order(order).strategy(strategy);
    options.axis = args.axis;
    options.dtype = acc;
    // Consumes the input: when it already holds the accumulation dtype it is scanned in place.
    let result = ctx.cumsum_owned(input, &options)?;
    let out_dtype = out_dtype.unwrap_or(result.dtype());
    write_atomically(&args.output, |w| npy::write_as(w, &result, out_dtype))
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

fn write_atomically(
    output: &Path,
    write: impl FnOnce(&mut BufWriter<File>) -> gpuscan::Result<()>,
) -> Result<(), CliError> {
    let shown = output.display();
    let fail = |why: String| CliError(format!("cannot write {shown}: {why}"));
    let file_name = output
        .file_name()
        .ok_or_else(|| fail("the output path names no file".into()))?;
    // Same directory, so the final rename never crosses file systems.
    let dir = match output.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let mut temp_name = std::ffi::OsString::from(".");
    temp_name.push(file_name);
    temp_name.push(format!(".tmp-{}", std::process::id()));
    let mut temp = TempFile {
        path: dir.join(temp_name),
        keep: false,
    };
    let file = File::create(&temp.path).map_err(|e| fail(e.to_string()))?;
    let mut w = BufWriter::with_capacity(1 << 20, file);
    write(&mut w).map_err(|e| match e {
        Error::Io(why) => CliError(format!("{shown}: {why}")),
        other => CliError::from(other),
    })?;
    let file = w.into_inner().map_err(|e| fail(e.error().to_string()))?;
    // Report a full disk now rather than leave a short file behind a successful exit.
    file.sync_all().map_err(|e| fail(e.to_string()))?;
    drop(file);
    fs::rename(&temp.path, output).map_err(|e| fail(e.to_string()))?;
    temp.keep = true;
    Ok(())
}
