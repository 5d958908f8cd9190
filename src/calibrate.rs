//! Measured CPU/GPU crossover: where [`crate::Device::Auto`] should switch to the GPU on this
//! machine, and where that measurement is kept between runs.
//!
//! [`Context::calibrate`] times the CPU path and the GPU end to end (upload, scan, download) on
//! 1-D inputs of growing size, per accumulation dtype, and [`choose_threshold`] turns the
//! times into a threshold. [`Calibration::save`] stores the result in a small text file
//! (see [`Calibration::to_text`]) that every later context on the same adapter applies
//! when its options give no policy of their own.
//!
//! ```no_run
//! use gpuscan::calibrate::CalibrateOptions;
//! use gpuscan::Context;
//!
//! let ctx = Context::new()?;
//! let calibration = ctx.calibrate(&CalibrateOptions::new().max_elements(1 << 22))?;
//! let path = calibration.save()?; // Context::new() applies it from now on
//! println!("{}", path.display());
//! # Ok::<(), gpuscan::Error>(())
//! ```

use std::ffi::OsString;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::Instant;

use crate::array::Array;
use crate::auto::AutoPolicy;
use crate::context::Context;
use crate::dtype::DType;
use crate::error::{Error, Result};
use crate::options::{Cumsum, Device};

/// The most that `Device::Auto` may be slower than the faster of the two paths at any
/// measured size for a threshold to be acceptable. Above 1 so that timing noise near the
/// crossover does not force a threshold into a jagged spot.
pub const MAX_SLOWDOWN: f64 = 1.2;

/// The accumulation dtypes calibrated by default: numpy's defaults for float32, float64 and
/// integer input, and int32 for `dtype=int32` scans.
pub const DEFAULT_DTYPES: [DType; 4] = [DType::Float32, DType::Int64, DType::Float64, DType::Int32];

/// The largest size measured by default (2^26 elements).
pub const DEFAULT_MAX_ELEMENTS: u64 = 1 << 26;

/// The environment variable naming the calibration file, instead of the per-adapter file in
/// the user's cache directory.
pub const PATH_VAR: &str = "GPUSCAN_CALIBRATION";

/// The first line of every calibration file; the number is the format's version.
const HEADER: &str = "gpuscan-calibration 1";

/// Calibration files are a few kilobytes; anything far larger is not one.
const MAX_FILE_BYTES: u64 = 1 << 20;

/// One measured size: seconds for the CPU path and for the GPU end to end.
#[derive(Copy, Clone, Debug, PartialEq)]
pub struct Measurement {
    /// Elements of the 1-D input.
    pub elements: u64,
    /// Median seconds of `cumsum` on [`Device::Cpu`].
    pub cpu_seconds: f64,
    /// Median seconds of `cumsum` on [`Device::Gpu`], upload and download included.
    pub gpu_seconds: f64,
}

impl Measurement {
    /// A measurement of `elements` values.
    pub fn new(elements: u64, cpu_seconds: f64, gpu_seconds: f64) -> Measurement {
        Measurement {
            elements,
            cpu_seconds,
            gpu_seconds,
        }
    }

    /// Whether `Device::Auto` runs this size on the GPU under `threshold`.
    pub fn auto_uses_gpu(&self, threshold: Option<u64>) -> bool {
        threshold.is_some_and(|t| self.elements >= t)
    }

    /// Seconds `Device::Auto` takes at this size under `threshold`.
    pub fn auto_seconds(&self, threshold: Option<u64>) -> f64 {
        if self.auto_uses_gpu(threshold) {
            self.gpu_seconds
        } else {
            self.cpu_seconds
        }
    }

    /// `Device::Auto`'s time under `threshold` over the faster path's (1: Auto picks the
    /// faster path).
    pub fn auto_ratio(&self, threshold: Option<u64>) -> f64 {
        let best = self.cpu_seconds.min(self.gpu_seconds);
        let auto = self.auto_seconds(threshold);
        if best > 0.0 {
            auto / best
        } else if auto > 0.0 {
            f64::INFINITY
        } else {
            1.0
        }
    }

    fn validate(&self) -> Result<()> {
        for (what, s) in [("CPU", self.cpu_seconds), ("GPU", self.gpu_seconds)] {
            if !s.is_finite() || s < 0.0 {
                return Err(Error::InvalidArgument(format!(
                    "the {what} time at {} elements is {s} s: times must be finite and not \
                     negative",
                    self.elements
                )));
            }
        }
        Ok(())
    }
}

/// The threshold [`choose_threshold`] picked, and how far from the faster path it leaves
/// `Device::Auto`.
#[derive(Copy, Clone, Debug, PartialEq)]
pub struct ThresholdChoice {
    /// The fewest elements for which `Device::Auto` uses the GPU (`None`: never).
    pub threshold: Option<u64>,
    /// The largest [`Measurement::auto_ratio`] over the measured sizes (1.0 when none were).
    pub worst_ratio: f64,
}

impl ThresholdChoice {
    /// Whether `Device::Auto` stays within [`MAX_SLOWDOWN`] of the faster path at every
    /// measured size.
    pub fn within_bound(&self) -> bool {
        self.worst_ratio <= MAX_SLOWDOWN
    }
}

/// The `Device::Auto` threshold for a set of measurements (in any order).
///
/// The candidates are "never" and each measured size (Auto then runs every measured size
/// from that one on on the GPU and every smaller one on the CPU). The rule:
///
/// 1. Keep the candidates under which Auto is at most [`MAX_SLOWDOWN`] (1.2) times slower
///    than the faster path at *every* measured size.
/// 2. Among those, take the one with the smallest sum of `ln(auto / best)` over the sizes
///    (the geometric mean of the slowdowns), so a threshold is not pushed past sizes where
///    the GPU clearly wins just because the bound allows it.
/// 3. If no candidate meets the bound, take the one with the smallest worst ratio (then the
///    smallest sum), and [`ThresholdChoice::within_bound`] says so.
/// 4. Ties go to the larger threshold, "never" being the largest: the CPU needs no device
///    and leaves the GPU to the caller's other work.
///
/// So when the GPU is slower at every size the answer is `None`. Times must be finite and
/// not negative; an empty list gives `None`.
pub fn choose_threshold(measurements: &[Measurement]) -> Result<ThresholdChoice> {
    for m in measurements {
        m.validate()?;
    }
    let mut sizes: Vec<u64> = measurements.iter().map(|m| m.elements).collect();
    sizes.sort_unstable();
    sizes.dedup();
    // Largest first, so that on a tie the earlier (larger) candidate stays.
    let candidates = std::iter::once(None).chain(sizes.into_iter().rev().map(Some));
    let mut best: Option<(ThresholdChoice, f64)> = None;
    for threshold in candidates {
        let (worst, total) = measurements
            .iter()
            .map(|m| m.auto_ratio(threshold))
            .fold((1.0f64, 0.0f64), |(w, t), r| (w.max(r), t + r.ln()));
        let choice = ThresholdChoice {
            threshold,
            worst_ratio: worst,
        };
        let better = match &best {
            None => true,
            Some((b, b_total)) => match (choice.within_bound(), b.within_bound()) {
                (true, false) => true,
                (false, true) => false,
                (true, true) => clearly_less(total, *b_total),
                (false, false) => {
                    clearly_less(worst, b.worst_ratio)
                        || (!clearly_less(b.worst_ratio, worst) && clearly_less(total, *b_total))
                }
            },
        };
        if better {
            best = Some((choice, total));
        }
    }
    Ok(best.map_or(
        ThresholdChoice {
            threshold: None,
            worst_ratio: 1.0,
        },
        |(c, _)| c,
    ))
}

/// `a < b` by more than rounding error, so that equal sums added in another order tie.
fn clearly_less(a: f64, b: f64) -> bool {
    a < b - 1e-9 * b.abs().max(1.0)
}

/// What [`Context::calibrate`] measures.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct CalibrateOptions {
    /// Accumulation dtypes to calibrate; those the adapter cannot scan on the GPU are
    /// skipped (Auto keeps them on the CPU anyway). Default [`DEFAULT_DTYPES`].
    pub dtypes: Vec<DType>,
    /// The largest size: powers of 4 from 1 up to it are measured, and it too when it is
    /// not one. Default [`DEFAULT_MAX_ELEMENTS`].
    pub max_elements: u64,
    /// Seconds to spend on the timed runs of one path at one size: small sizes repeat up to
    /// `max_repeats` times, sizes slower than this run once after the warm-up. The default,
    /// 0.2 s, keeps the default calibration under a minute on lavapipe.
    pub target_seconds: f64,
    /// The most timed runs per path and size (default 15).
    pub max_repeats: usize,
}

impl Default for CalibrateOptions {
    fn default() -> Self {
        CalibrateOptions {
            dtypes: DEFAULT_DTYPES.to_vec(),
            max_elements: DEFAULT_MAX_ELEMENTS,
            target_seconds: 0.2,
            max_repeats: 15,
        }
    }
}

impl CalibrateOptions {
    /// The defaults.
    pub fn new() -> CalibrateOptions {
        CalibrateOptions::default()
    }

    /// The accumulation dtypes to calibrate.
    pub fn dtypes(mut self, dtypes: &[DType]) -> Self {
        self.dtypes = dtypes.to_vec();
        self
    }

    /// The largest size measured.
    pub fn max_elements(mut self, elements: u64) -> Self {
        self.max_elements = elements;
        self
    }

    /// Seconds of timed runs per path and size.
    pub fn target_seconds(mut self, seconds: f64) -> Self {
        self.target_seconds = seconds;
        self
    }

    /// The most timed runs per path and size.
    pub fn max_repeats(mut self, repeats: usize) -> Self {
        self.max_repeats = repeats;
        self
    }

    /// The sizes measured: 1, 4, 16, ... up to `max_elements`, and `max_elements` itself.
    pub fn sizes(&self) -> Vec<u64> {
        let mut sizes: Vec<u64> = std::iter::successors(Some(1u64), |&n| n.checked_mul(4))
            .take_while(|&n| n <= self.max_elements)
            .collect();
        if sizes.last().is_some_and(|&n| n != self.max_elements) {
            sizes.push(self.max_elements);
        }
        sizes
    }

    fn validate(&self) -> Result<()> {
        if self.max_elements == 0 {
            return Err(Error::InvalidArgument(
                "the largest calibration size must be at least 1 element".into(),
            ));
        }
        if usize::try_from(self.max_elements).is_err() {
            return Err(Error::Overflow(format!(
                "{} elements do not fit in this machine's address space",
                self.max_elements
            )));
        }
        if !self.target_seconds.is_finite() || self.target_seconds < 0.0 {
            return Err(Error::InvalidArgument(format!(
                "the seconds per measurement must be finite and not negative, not {}",
                self.target_seconds
            )));
        }
        Ok(())
    }
}

/// The adapter a calibration was measured on. A stored calibration applies only to an
/// adapter whose every field matches: a new driver version may move the crossover.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct AdapterIdentity {
    /// The adapter's name (`wgpu::AdapterInfo::name`).
    pub name: String,
    /// The backend, as wgpu prints it (`vulkan`, `gl`).
    pub backend: String,
    /// `discrete-gpu`, `integrated-gpu`, `virtual-gpu`, `cpu` or `other`.
    pub device_type: String,
    /// The driver's name.
    pub driver: String,
    /// The driver's version and build information.
    pub driver_info: String,
}

impl AdapterIdentity {
    /// The identity of an adapter wgpu describes.
    pub fn of(info: &wgpu::AdapterInfo) -> AdapterIdentity {
        AdapterIdentity {
            name: info.name.clone(),
            backend: info.backend.to_string(),
            device_type: device_type_name(info.device_type).into(),
            driver: info.driver.clone(),
            driver_info: info.driver_info.clone(),
        }
    }

    /// The identity's fields as (key in the file, value).
    fn fields(&self) -> [(&'static str, &str); 5] {
        [
            ("adapter", &self.name),
            ("backend", &self.backend),
            ("device-type", &self.device_type),
            ("driver", &self.driver),
            ("driver-info", &self.driver_info),
        ]
    }

    /// `calibration-vulkan-llvmpipe-llvm-15-0-6-....txt`: the backend, adapter and driver in
    /// lowercase ASCII letters, digits and dashes, so one cache directory holds one file per
    /// adapter and driver.
    pub fn file_name(&self) -> String {
        let mut slug = String::new();
        let words = [&self.backend, &self.name, &self.driver, &self.driver_info];
        for c in words.iter().flat_map(|w| w.chars().chain([' '])) {
            if c.is_ascii_alphanumeric() {
                slug.push(c.to_ascii_lowercase());
            } else if !slug.is_empty() && !slug.ends_with('-') {
                slug.push('-');
            }
        }
        // File names are limited to 255 bytes; the identity inside the file tells truncated
        // names apart.
        slug.truncate(160);
        let slug = slug.trim_end_matches('-');
        let slug = if slug.is_empty() { "adapter" } else { slug };
        format!("calibration-{slug}.txt")
    }
}

/// wgpu's device type as the calibration file and `gpuscan info` name it (wgpu offers only
/// `Debug`).
pub fn device_type_name(t: wgpu::DeviceType) -> &'static str {
    match t {
        wgpu::DeviceType::Other => "other",
        wgpu::DeviceType::IntegratedGpu => "integrated-gpu",
        wgpu::DeviceType::DiscreteGpu => "discrete-gpu",
        wgpu::DeviceType::VirtualGpu => "virtual-gpu",
        wgpu::DeviceType::Cpu => "cpu",
    }
}

/// One accumulation dtype's threshold and the measurements it was chosen from.
#[derive(Clone, Debug, PartialEq)]
pub struct DTypeCalibration {
    /// The accumulation dtype.
    pub dtype: DType,
    /// The fewest elements for which `Device::Auto` uses the GPU (`None`: never).
    pub threshold: Option<u64>,
    /// The measurements, smallest size first (empty for a hand-written threshold).
    pub measurements: Vec<Measurement>,
}

impl DTypeCalibration {
    /// The largest [`Measurement::auto_ratio`] under this threshold (1.0 without
    /// measurements).
    pub fn worst_ratio(&self) -> f64 {
        self.measurements
            .iter()
            .map(|m| m.auto_ratio(self.threshold))
            .fold(1.0, f64::max)
    }
}

/// The calibration of one adapter: a threshold per accumulation dtype.
#[derive(Clone, Debug, PartialEq)]
pub struct Calibration {
    /// The adapter it was measured on.
    pub adapter: AdapterIdentity,
    /// One entry per calibrated dtype, each dtype at most once.
    pub dtypes: Vec<DTypeCalibration>,
}

impl Calibration {
    /// A calibration of `adapter` with no dtype calibrated yet.
    pub fn new(adapter: AdapterIdentity) -> Calibration {
        Calibration {
            adapter,
            dtypes: Vec::new(),
        }
    }

    /// The entry of `dtype`, if it was calibrated.
    pub fn get(&self, dtype: DType) -> Option<&DTypeCalibration> {
        self.dtypes.iter().find(|d| d.dtype == dtype)
    }

    /// The calibrated thresholds over `base`: dtypes this calibration did not measure keep
    /// `base`'s threshold.
    pub fn apply_to(&self, base: &AutoPolicy) -> AutoPolicy {
        let mut policy = base.clone();
        for d in &self.dtypes {
            policy.set(d.dtype, d.threshold);
        }
        policy
    }

    /// The calibrated thresholds alone: dtypes it did not measure never use the GPU.
    pub fn auto_policy(&self) -> AutoPolicy {
        self.apply_to(&AutoPolicy::never())
    }

    /// Whether this calibration was measured on `info`'s adapter.
    pub fn is_for(&self, info: &wgpu::AdapterInfo) -> bool {
        self.adapter == AdapterIdentity::of(info)
    }

    /// The calibration as the text [`Calibration::parse`] reads:
    ///
    /// ```text
    /// gpuscan-calibration 1
    /// # comments and blank lines are ignored
    /// adapter llvmpipe (LLVM 15.0.6, 256 bits)
    /// backend vulkan
    /// device-type cpu
    /// driver llvmpipe
    /// driver-info Mesa 22.3.6 (LLVM 15.0.6)
    /// float32 never
    /// int64 1048576
    /// measure float32 1024 6.01e-7 1.35e-4
    /// ```
    ///
    /// The first line names the format and its version. `KEY VALUE` lines follow, the value
    /// being the rest of the line after one space: the five adapter fields (each exactly
    /// once), then per calibrated dtype (numpy's name) its threshold in elements or `never`,
    /// then `measure DTYPE ELEMENTS CPU_SECONDS GPU_SECONDS` lines, optional, for dtypes that
    /// have a threshold line. The thresholds are what a context applies; the measurements
    /// are kept for reference.
    pub fn to_text(&self) -> String {
        let mut out = format!(
            "{HEADER}\n# written by gpuscan {}: Device::Auto thresholds in elements \
             (never: always the CPU), then the measured seconds (cpu, gpu end to end)\n",
            env!("CARGO_PKG_VERSION")
        );
        for (key, value) in self.adapter.fields() {
            push_line(&mut out, key, value);
        }
        for d in &self.dtypes {
            let threshold = d.threshold.map_or("never".into(), |t| t.to_string());
            push_line(&mut out, d.dtype.name(), &threshold);
        }
        for d in &self.dtypes {
            for m in &d.measurements {
                out.push_str(&format!(
                    "measure {} {} {:e} {:e}\n",
                    d.dtype.name(),
                    m.elements,
                    m.cpu_seconds,
                    m.gpu_seconds
                ));
            }
        }
        out
    }

    /// Reads the text [`Calibration::to_text`] writes. Anything else (another version, a
    /// missing or repeated field, an unknown key or dtype, a bad number) is
    /// [`Error::Format`] naming the line.
    pub fn parse(text: &str) -> Result<Calibration> {
        let bad = |line: usize, what: String| Error::Format(format!("line {line}: {what}"));
        let mut lines = text.lines().enumerate().map(|(i, l)| (i + 1, l));
        match lines.next() {
            Some((_, HEADER)) => {}
            Some((n, l)) if l.starts_with("gpuscan-calibration ") => {
                return Err(bad(
                    n,
                    format!("unsupported version '{l}' (expected '{HEADER}')"),
                ))
            }
            _ => {
                return Err(Error::Format(format!(
                    "not a gpuscan calibration: the first line is not '{HEADER}'"
                )))
            }
        }
        let mut identity: [Option<String>; 5] = Default::default();
        let mut dtypes: Vec<DTypeCalibration> = Vec::new();
        let mut measures: Vec<(usize, DType, Measurement)> = Vec::new();
        for (n, line) in lines {
            if line.trim().is_empty() || line.starts_with('#') {
                continue;
            }
            let (key, value) = line.split_once(' ').unwrap_or((line, ""));
            if let Some(i) = IDENTITY_KEYS.iter().position(|&k| k == key) {
                if identity[i].replace(value.to_string()).is_some() {
                    return Err(bad(n, format!("'{key}' is given twice")));
                }
            } else if key == "measure" {
                let (dtype, m) = parse_measure(value).map_err(|e| bad(n, e))?;
                measures.push((n, dtype, m));
            } else if let Some(dtype) = dtype_named(key) {
                if dtypes.iter().any(|d| d.dtype == dtype) {
                    return Err(bad(n, format!("the threshold of {key} is given twice")));
                }
                let threshold = match value {
                    "never" => None,
                    v => Some(v.parse::<u64>().map_err(|_| {
                        bad(
                            n,
                            format!("the threshold of {key} is '{v}', not a count or 'never'"),
                        )
                    })?),
                };
                dtypes.push(DTypeCalibration {
                    dtype,
                    threshold,
                    measurements: Vec::new(),
                });
            } else {
                return Err(bad(n, format!("unknown key '{key}'")));
            }
        }
        for (n, dtype, m) in measures {
            let entry = dtypes
                .iter_mut()
                .find(|d| d.dtype == dtype)
                .ok_or_else(|| {
                    bad(
                        n,
                        format!("a measurement of {dtype}, which has no threshold"),
                    )
                })?;
            entry.measurements.push(m);
        }
        for d in &mut dtypes {
            d.measurements.sort_by_key(|m| m.elements);
        }
        let mut fields = identity.into_iter().zip(IDENTITY_KEYS);
        let mut field = || {
            let (value, key) = fields.next().expect("five identity fields");
            value.ok_or_else(|| Error::Format(format!("the '{key}' line is missing")))
        };
        Ok(Calibration {
            adapter: AdapterIdentity {
                name: field()?,
                backend: field()?,
                device_type: field()?,
                driver: field()?,
                driver_info: field()?,
            },
            dtypes,
        })
    }

    /// Where the calibration of `info`'s adapter is stored: `$GPUSCAN_CALIBRATION` when set,
    /// else `$XDG_CACHE_HOME/gpuscan/<file>`, else `$HOME/.cache/gpuscan/<file>`, where
    /// `<file>` is [`AdapterIdentity::file_name`]. `None` when none of these is set.
    pub fn path_for(info: &wgpu::AdapterInfo) -> Option<PathBuf> {
        stored_path(&AdapterIdentity::of(info), |k| std::env::var_os(k))
    }

    /// Stores the calibration where [`Context::new`] finds it for this adapter (see
    /// [`Calibration::path_for`]), creating the directory; returns the path.
    pub fn save(&self) -> Result<PathBuf> {
        let path = stored_path(&self.adapter, |k| std::env::var_os(k)).ok_or_else(|| {
            Error::io(
                "store",
                "the calibration",
                std::io::Error::new(
                    std::io::ErrorKind::NotFound,
                    format!("no place for it: set {PATH_VAR}, XDG_CACHE_HOME or HOME"),
                ),
            )
        })?;
        self.save_to(&path)?;
        Ok(path)
    }

    /// Stores the calibration in `path`. The file is written beside it and renamed, so a
    /// context starting meanwhile reads the old file or the new one, never half of one.
    pub fn save_to(&self, path: &Path) -> Result<()> {
        for (key, value) in self.adapter.fields() {
            if value.contains(['\n', '\r']) {
                return Err(Error::InvalidArgument(format!(
                    "the adapter's {key} contains a line break, which the file cannot hold"
                )));
            }
        }
        let io = |e, what, p: &Path| Error::io(what, p.display(), e);
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| io(e, "create", dir))?;
        }
        let mut tmp = path.as_os_str().to_owned();
        tmp.push(format!(".tmp-{}", std::process::id()));
        let tmp = PathBuf::from(tmp);
        std::fs::write(&tmp, self.to_text()).map_err(|e| io(e, "write", &tmp))?;
        std::fs::rename(&tmp, path).map_err(|e| {
            let _ = std::fs::remove_file(&tmp);
            io(e, "write", path)
        })
    }

    /// Reads a calibration file.
    pub fn load(path: &Path) -> Result<Calibration> {
        let mut text = String::new();
        std::fs::File::open(path)
            .and_then(|f| f.take(MAX_FILE_BYTES + 1).read_to_string(&mut text))
            .map_err(|e| Error::io("read", path.display(), e))?;
        if text.len() as u64 > MAX_FILE_BYTES {
            return Err(Error::Format(format!(
                "{}: larger than a calibration file can be",
                path.display()
            )));
        }
        Calibration::parse(&text).map_err(|e| Error::Format(format!("{}: {e}", path.display())))
    }

    /// The stored calibration of `info`'s adapter and its path: `Ok(None)` when there is no
    /// file, or the file holds another adapter's calibration; an error when it cannot be
    /// read or is malformed.
    pub fn load_for(info: &wgpu::AdapterInfo) -> Result<Option<(Calibration, PathBuf)>> {
        let identity = AdapterIdentity::of(info);
        match stored_path(&identity, |k| std::env::var_os(k)) {
            Some(path) => Ok(load_matching(&path, &identity)?.map(|c| (c, path))),
            None => Ok(None),
        }
    }
}

/// The keys of [`AdapterIdentity::fields`], in order.
const IDENTITY_KEYS: [&str; 5] = ["adapter", "backend", "device-type", "driver", "driver-info"];

/// `key value`, or `key` alone for an empty value, so no line ends in a space an editor
/// might strip.
fn push_line(out: &mut String, key: &str, value: &str) {
    out.push_str(key);
    if !value.is_empty() {
        out.push(' ');
        out.push_str(value);
    }
    out.push('\n');
}

/// The dtype of numpy's canonical name (aliases such as `f4` are not accepted in the file).
fn dtype_named(name: &str) -> Option<DType> {
    DType::ALL.into_iter().find(|d| d.name() == name)
}

/// `DTYPE ELEMENTS CPU_SECONDS GPU_SECONDS`.
fn parse_measure(value: &str) -> std::result::Result<(DType, Measurement), String> {
    let fields: Vec<&str> = value.split(' ').collect();
    let [dtype, elements, cpu, gpu] = fields[..] else {
        return Err(format!(
            "'measure {value}' is not 'measure DTYPE ELEMENTS CPU_SECONDS GPU_SECONDS'"
        ));
    };
    let dtype = dtype_named(dtype).ok_or_else(|| format!("unknown dtype '{dtype}'"))?;
    let elements = elements
        .parse::<u64>()
        .map_err(|_| format!("'{elements}' is not an element count"))?;
    let seconds = |s: &str| {
        s.parse::<f64>()
            .ok()
            .filter(|x| x.is_finite() && *x >= 0.0)
            .ok_or_else(|| format!("'{s}' is not a time in seconds"))
    };
    Ok((
        dtype,
        Measurement::new(elements, seconds(cpu)?, seconds(gpu)?),
    ))
}

/// [`Calibration::path_for`] with the environment given, for tests.
fn stored_path(
    adapter: &AdapterIdentity,
    env: impl Fn(&str) -> Option<OsString>,
) -> Option<PathBuf> {
    let set = |k: &str| env(k).filter(|v| !v.is_empty());
    if let Some(p) = set(PATH_VAR) {
        return Some(PathBuf::from(p));
    }
    // The XDG spec says to ignore a relative XDG_CACHE_HOME.
    let cache = set("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .filter(|p| p.is_absolute())
        .or_else(|| set("HOME").map(|h| PathBuf::from(h).join(".cache")))
        .or_else(|| set("LOCALAPPDATA").map(PathBuf::from))?;
    Some(cache.join("gpuscan").join(adapter.file_name()))
}

/// The calibration in `path` if it is `identity`'s; `Ok(None)` for no file or another
/// adapter's.
fn load_matching(path: &Path, identity: &AdapterIdentity) -> Result<Option<Calibration>> {
    if !path.exists() {
        return Ok(None);
    }
    let calibration = Calibration::load(path)?;
    Ok((calibration.adapter == *identity).then_some(calibration))
}

/// Where a context's [`crate::Device::Auto`] policy came from.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum AutoPolicySource {
    /// gpuscan's default: [`crate::DEFAULT_AUTO_THRESHOLD`] on hardware adapters, never on
    /// software ones and without an adapter.
    #[default]
    Default,
    /// A stored calibration of this adapter, read from this file at context creation;
    /// dtypes it does not cover keep the default.
    Calibration(PathBuf),
    /// [`crate::ContextOptions::auto_policy`] (or `auto_threshold`).
    Options,
    /// [`Context::set_auto_policy`] (or `set_auto_threshold`) changed it since.
    Set,
}

impl AutoPolicySource {
    /// `default`, `calibration`, `options` or `set`.
    pub fn name(&self) -> &'static str {
        match self {
            AutoPolicySource::Default => "default",
            AutoPolicySource::Calibration(_) => "calibration",
            AutoPolicySource::Options => "options",
            AutoPolicySource::Set => "set",
        }
    }
}

/// The policy a context started with and where it came from; a later `set_auto_policy` to
/// anything else makes the source [`AutoPolicySource::Set`].
#[derive(Clone, Debug, Default)]
pub(crate) struct AutoOrigin {
    pub source: AutoPolicySource,
    pub policy: AutoPolicy,
}

impl AutoOrigin {
    /// The caller's policy if given, else the calibration stored for `info`'s adapter over
    /// `default`, else `default`. A stored file that cannot be used never fails the context:
    /// another adapter's is skipped quietly, a malformed one with a line on stderr.
    pub fn choose(
        explicit: Option<&AutoPolicy>,
        info: &wgpu::AdapterInfo,
        default: AutoPolicy,
    ) -> AutoOrigin {
        let identity = AdapterIdentity::of(info);
        let path = stored_path(&identity, |k| std::env::var_os(k));
        Self::choose_from(explicit, &identity, path, default)
    }

    fn choose_from(
        explicit: Option<&AutoPolicy>,
        identity: &AdapterIdentity,
        path: Option<PathBuf>,
        default: AutoPolicy,
    ) -> AutoOrigin {
        if let Some(policy) = explicit {
            return AutoOrigin {
                source: AutoPolicySource::Options,
                policy: policy.clone(),
            };
        }
        let stored = path.and_then(|p| match load_matching(&p, identity) {
            Ok(c) => c.map(|c| (c, p)),
            Err(e) => {
                log::warn!("ignoring the stored calibration: {e}");
                None
            }
        });
        match stored {
            Some((calibration, path)) => AutoOrigin {
                policy: calibration.apply_to(&default),
                source: AutoPolicySource::Calibration(path),
            },
            None => AutoOrigin {
                source: AutoPolicySource::Default,
                policy: default,
            },
        }
    }
}

impl Context {
    /// Measures where [`Device::Auto`] should switch to the GPU on this adapter.
    ///
    /// For each of `options.dtypes` that the adapter scans on the GPU, and each size of
    /// [`CalibrateOptions::sizes`], times `cumsum` of a 1-D input already in that dtype on
    /// [`Device::Cpu`] and on [`Device::Gpu`] (upload, scan and download: what Auto would
    /// cost), in the default summation order, as the median of the timed runs after one
    /// warm-up; [`choose_threshold`] then picks each dtype's threshold. The context's own
    /// policy is left alone: apply the result with [`Calibration::save`] (for every later
    /// context) or `set_auto_policy(calibration.apply_to(&ctx.auto_policy()))`.
    ///
    /// [`Error::NoAdapter`] on a CPU-only context.
    pub fn calibrate(&self, options: &CalibrateOptions) -> Result<Calibration> {
        options.validate()?;
        let info = self.adapter_info().ok_or_else(|| {
            Error::NoAdapter(self.gpu_unavailable_reason().unwrap_or("").to_string())
        })?;
        let on_gpu = self.gpu_dtypes();
        let mut calibration = Calibration::new(AdapterIdentity::of(info));
        for &dtype in &options.dtypes {
            if !on_gpu.contains(&dtype) || calibration.get(dtype).is_some() {
                continue;
            }
            let mut measurements = Vec::new();
            for elements in options.sizes() {
                measurements.push(self.measure(dtype, elements, options)?);
            }
            let choice = choose_threshold(&measurements)?;
            calibration.dtypes.push(DTypeCalibration {
                dtype,
                threshold: choice.threshold,
                measurements,
            });
        }
        Ok(calibration)
    }

    /// Where the [`Device::Auto`] policy in effect came from. A policy set back to the one
    /// the context started with reports the starting source again.
    pub fn auto_policy_source(&self) -> AutoPolicySource {
        if self.auto_policy() == self.auto_origin.policy {
            self.auto_origin.source.clone()
        } else {
            AutoPolicySource::Set
        }
    }

    /// Both paths at one size.
    fn measure(
        &self,
        dtype: DType,
        elements: u64,
        options: &CalibrateOptions,
    ) -> Result<Measurement> {
        let n = usize::try_from(elements)
            .map_err(|_| Error::Overflow(format!("{elements} elements")))?;
        // Small non-negative integers: exact in every dtype, no subnormals to slow the CPU.
        let input =
            Array::from_vec((0..n).map(|i| (i % 5) as u8).collect::<Vec<u8>>()).astype(dtype);
        let cumsum = Cumsum::new().dtype(dtype);
        let cpu = self.median_seconds(&input, &cumsum.device(Device::Cpu), options)?;
        let gpu = self.median_seconds(&input, &cumsum.device(Device::Gpu), options)?;
        Ok(Measurement::new(elements, cpu, gpu))
    }

    /// One warm-up (pipelines, workspace and page faults at this size), then as many timed
    /// runs as fit in `target_seconds` (at least one), and their median.
    fn median_seconds(
        &self,
        input: &Array,
        cumsum: &Cumsum,
        options: &CalibrateOptions,
    ) -> Result<f64> {
        let warm_up = self.time_one(input, cumsum)?;
        let fit = (options.target_seconds / warm_up.max(1e-9)).floor();
        let repeats = (fit as usize).clamp(1, options.max_repeats.max(1));
        let mut times = (0..repeats)
            .map(|_| self.time_one(input, cumsum))
            .collect::<Result<Vec<f64>>>()?;
        times.sort_by(f64::total_cmp);
        let mid = times.len() / 2;
        Ok(if times.len() % 2 == 1 {
            times[mid]
        } else {
            (times[mid - 1] + times[mid]) / 2.0
        })
    }

    fn time_one(&self, input: &Array, cumsum: &Cumsum) -> Result<f64> {
        let start = Instant::now();
        let result = self.cumsum(input, cumsum)?;
        let seconds = start.elapsed().as_secs_f64();
        // Freeing the result is not part of the scan's cost.
        drop(result);
        Ok(seconds)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(elements: u64, cpu: f64, gpu: f64) -> Measurement {
        Measurement::new(elements, cpu, gpu)
    }

    /// Powers of 4 from 1 to 2^26.
    fn sizes() -> Vec<u64> {
        (0..=13).map(|k| 1u64 << (2 * k)).collect()
    }

    /// Every candidate's worst ratio, by brute force, independently of `choose_threshold`.
    fn worst(measurements: &[Measurement], threshold: Option<u64>) -> f64 {
        measurements
            .iter()
            .map(|m| m.auto_ratio(threshold))
            .fold(1.0, f64::max)
    }

    fn candidates(measurements: &[Measurement]) -> Vec<Option<u64>> {
        std::iter::once(None)
            .chain(measurements.iter().map(|m| Some(m.elements)))
            .collect()
    }

    /// The rule's promise, checked at every size: within 1.2x where any threshold allows
    /// it, else the smallest worst ratio there is.
    fn check_rule(measurements: &[Measurement]) -> ThresholdChoice {
        let choice = choose_threshold(measurements).unwrap();
        let ratios: Vec<f64> = measurements
            .iter()
            .map(|m| m.auto_ratio(choice.threshold))
            .collect();
        let max = ratios.iter().copied().fold(1.0, f64::max);
        assert_eq!(choice.worst_ratio, max);
        let best_possible = candidates(measurements)
            .into_iter()
            .map(|c| worst(measurements, c))
            .fold(f64::INFINITY, f64::min);
        if best_possible <= MAX_SLOWDOWN {
            for (m, r) in measurements.iter().zip(&ratios) {
                assert!(*r <= MAX_SLOWDOWN, "{m:?}: Auto is {r}x the faster path");
            }
            assert!(choice.within_bound());
        } else {
            assert_eq!(choice.worst_ratio, best_possible);
            assert!(!choice.within_bound());
        }
        choice
    }

    #[test]
    fn gpu_always_slower_means_never() {
        let data: Vec<_> = sizes()
            .into_iter()
            .map(|n| m(n, 1e-7 + n as f64 * 5e-10, 1e-4 + n as f64 * 1e-8))
            .collect();
        let choice = check_rule(&data);
        assert_eq!(choice.threshold, None);
        assert_eq!(choice.worst_ratio, 1.0);
    }

    #[test]
    fn gpu_faster_from_a_size_gives_that_size() {
        // CPU 1 ns per element; GPU 50 µs launch plus 0.1 ns per element: the GPU wins from
        // 2^16 (65536: 65.5 µs against 56.6 µs), not at 2^14.
        let data: Vec<_> = sizes()
            .into_iter()
            .map(|n| m(n, n as f64 * 1e-9, 5e-5 + n as f64 * 1e-10))
            .collect();
        let choice = check_rule(&data);
        assert_eq!(choice.threshold, Some(1 << 16));
        assert_eq!(choice.worst_ratio, 1.0);
        // The order of the input does not matter.
        let mut reversed = data.clone();
        reversed.reverse();
        assert_eq!(choose_threshold(&reversed).unwrap(), choice);
    }

    #[test]
    fn noise_within_the_bound_does_not_move_the_threshold() {
        // The GPU wins by 10% at 2^10 by chance, loses at 2^12 to 2^18, wins clearly from
        // 2^20: a threshold of 2^20 costs 1.1x at 2^10, within the bound.
        let mut data: Vec<_> = sizes().into_iter().map(|n| m(n, 1.0, 2.0)).collect();
        for d in &mut data {
            if d.elements == 1 << 10 {
                d.gpu_seconds = 1.0 / 1.1;
            } else if d.elements >= 1 << 20 {
                d.gpu_seconds = 0.25;
            }
        }
        let choice = check_rule(&data);
        assert_eq!(choice.threshold, Some(1 << 20));
        assert!((choice.worst_ratio - 1.1).abs() < 1e-12);
    }

    #[test]
    fn without_a_threshold_in_the_bound_the_worst_ratio_is_minimal() {
        // The GPU is 1.5x faster at 2^10, 1.5x slower at 2^12 to 2^18, 3x faster from 2^20:
        // every threshold is 1.5x off somewhere; 2^20 is off at one size, 2^10 at four.
        let mut data: Vec<_> = sizes().into_iter().map(|n| m(n, 1.0, 3.0)).collect();
        for d in &mut data {
            if d.elements == 1 << 10 {
                d.gpu_seconds = 1.0 / 1.5;
            } else if (1 << 12..=1 << 18).contains(&d.elements) {
                d.gpu_seconds = 1.5;
            } else if d.elements >= 1 << 20 {
                d.gpu_seconds = 1.0 / 3.0;
            }
        }
        let choice = check_rule(&data);
        assert_eq!(choice.threshold, Some(1 << 20));
        assert!((choice.worst_ratio - 1.5).abs() < 1e-12);
    }

    #[test]
    fn random_noisy_data_follows_the_rule() {
        // A fixed-seed generator: CPU and GPU lines crossing somewhere, with up to ±40%
        // noise on each time, so some cases have a threshold within the bound and some not.
        let mut state = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state >> 11) as f64 / (1u64 << 53) as f64
        };
        let (mut within, mut beyond) = (0, 0);
        for _ in 0..2000 {
            let launch = 10f64.powf(-6.0 + 4.0 * next());
            let gpu_rate = 10f64.powf(-11.0 + 3.0 * next());
            let data: Vec<_> = sizes()
                .into_iter()
                .map(|n| {
                    let cpu = n as f64 * 1e-9 * (0.6 + 0.8 * next());
                    let gpu = (launch + n as f64 * gpu_rate) * (0.6 + 0.8 * next());
                    m(n, cpu, gpu)
                })
                .collect();
            if check_rule(&data).within_bound() {
                within += 1;
            } else {
                beyond += 1;
            }
        }
        assert!(
            within > 100 && beyond > 20,
            "{within} within, {beyond} beyond"
        );
    }

    #[test]
    fn ties_prefer_the_cpu_and_bad_input_is_an_error() {
        let same: Vec<_> = sizes().into_iter().map(|n| m(n, 1.0, 1.0)).collect();
        assert_eq!(check_rule(&same).threshold, None);
        assert_eq!(
            choose_threshold(&[]).unwrap(),
            ThresholdChoice {
                threshold: None,
                worst_ratio: 1.0
            }
        );
        assert!(choose_threshold(&[m(4, f64::NAN, 1.0)]).is_err());
        assert!(choose_threshold(&[m(4, 1.0, -1.0)]).is_err());
        assert!(choose_threshold(&[m(4, 1.0, f64::INFINITY)]).is_err());
        // Zero times (below the clock's resolution) do not divide by zero.
        let zero = check_rule(&[m(1, 0.0, 1e-4), m(4, 0.0, 0.0)]);
        assert_eq!(zero.threshold, None);
    }

    #[test]
    fn sizes_are_powers_of_four_up_to_the_maximum() {
        let o = CalibrateOptions::new();
        assert_eq!(o.sizes(), sizes());
        assert_eq!(
            o.clone().max_elements(4096).sizes(),
            [1, 4, 16, 64, 256, 1024, 4096]
        );
        assert_eq!(o.clone().max_elements(100).sizes(), [1, 4, 16, 64, 100]);
        assert_eq!(o.clone().max_elements(1).sizes(), [1]);
        assert!(o.clone().max_elements(0).validate().is_err());
        assert!(o.target_seconds(f64::NAN).validate().is_err());
    }

    fn identity() -> AdapterIdentity {
        AdapterIdentity {
            name: "llvmpipe (LLVM 15.0.6, 256 bits)".into(),
            backend: "vulkan".into(),
            device_type: "cpu".into(),
            driver: "llvmpipe".into(),
            driver_info: "Mesa 22.3.6 (LLVM 15.0.6)".into(),
        }
    }

    fn sample() -> Calibration {
        Calibration {
            adapter: identity(),
            dtypes: vec![
                DTypeCalibration {
                    dtype: DType::Float32,
                    threshold: None,
                    measurements: vec![m(1, 1.25e-7, 1.3e-4), m(4, 0.1 + 0.2, 1.0 / 3.0)],
                },
                DTypeCalibration {
                    dtype: DType::Int64,
                    threshold: Some(1 << 20),
                    measurements: vec![],
                },
            ],
        }
    }

    #[test]
    fn text_format_round_trips() {
        let c = sample();
        let text = c.to_text();
        assert!(text.starts_with("gpuscan-calibration 1\n"), "{text}");
        assert!(
            text.contains("\nadapter llvmpipe (LLVM 15.0.6, 256 bits)\n"),
            "{text}"
        );
        assert!(text.contains("\nfloat32 never\n"), "{text}");
        assert!(text.contains("\nint64 1048576\n"), "{text}");
        // Every f64 comes back bit for bit.
        assert_eq!(Calibration::parse(&text).unwrap(), c);
        // Windows line ends, comments and blank lines are fine; an empty driver too.
        let mut empty = c.clone();
        empty.adapter.driver.clear();
        let text = empty.to_text();
        assert!(text.contains("\ndriver\n"), "{text}");
        let crlf = text.replace('\n', "\r\n") + "\r\n# end\r\n";
        assert_eq!(Calibration::parse(&crlf).unwrap(), empty);

        let policy = c.auto_policy();
        assert_eq!(policy.threshold(DType::Float32), None);
        assert_eq!(policy.threshold(DType::Int64), Some(1 << 20));
        assert_eq!(policy.threshold(DType::Float64), None);
        let over = c.apply_to(&AutoPolicy::uniform(7));
        assert_eq!(over.threshold(DType::Float32), None);
        assert_eq!(over.threshold(DType::Int64), Some(1 << 20));
        assert_eq!(over.threshold(DType::Float64), Some(7));
        assert_eq!(c.dtypes[0].worst_ratio(), 1.0);
    }

    #[test]
    fn malformed_text_is_rejected() {
        let good = sample().to_text();
        let cases: Vec<(String, &str)> = vec![
            (String::new(), "first line"),
            ("hello\n".into(), "first line"),
            (good.replace("calibration 1", "calibration 2"), "version"),
            (
                good.replace("backend vulkan\n", ""),
                "'backend' line is missing",
            ),
            (
                good.replace("driver llvmpipe\n", "driver llvmpipe\ndriver x\n"),
                "twice",
            ),
            (good.replace("int64 1048576", "int64 lots"), "not a count"),
            (good.replace("int64 1048576", "int64 -1"), "not a count"),
            (good.clone() + "float32 16\n", "twice"),
            (good.clone() + "f4 16\n", "unknown key 'f4'"),
            (good.clone() + "colour blue\n", "unknown key"),
            (
                good.clone() + "measure float64 4 1e-6 1e-3\n",
                "no threshold",
            ),
            (good.clone() + "measure float32 4 1e-6\n", "not 'measure"),
            (good.clone() + "measure float32 4 1e-6 NaN\n", "not a time"),
            (good.clone() + "measure float32 4 -1 1\n", "not a time"),
            (good.clone() + "measure complex64 4 1 1\n", "unknown dtype"),
            (good[..good.len() / 2].to_string() + "\u{fffd}", ""),
        ];
        for (text, why) in cases {
            match Calibration::parse(&text) {
                Err(Error::Format(msg)) => assert!(msg.contains(why), "{msg} lacks {why}"),
                other => panic!("{text:?} gave {other:?}"),
            }
        }
    }

    #[test]
    fn file_names_are_sanitised() {
        assert_eq!(
            identity().file_name(),
            "calibration-vulkan-llvmpipe-llvm-15-0-6-256-bits-llvmpipe-mesa-22-3-6-llvm-15-0-6.txt"
        );
        let mut odd = identity();
        odd.name = "../../étrange/ GPU".into();
        odd.driver_info = "x".repeat(400);
        let name = odd.file_name();
        assert!(
            name.starts_with("calibration-vulkan-trange-gpu-llvmpipe-xxx"),
            "{name}"
        );
        let slug = &name["calibration-".len()..name.len() - ".txt".len()];
        assert!(name.len() < 200, "{name}");
        assert!(
            slug.chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-'),
            "{name}"
        );
        let blank = AdapterIdentity {
            name: String::new(),
            backend: String::new(),
            device_type: String::new(),
            driver: String::new(),
            driver_info: "!!".into(),
        };
        assert_eq!(blank.file_name(), "calibration-adapter.txt");
    }

    /// An environment of these variables only.
    fn env_of<'a>(vars: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<OsString> + 'a {
        move |k| {
            vars.iter()
                .find(|(name, _)| *name == k)
                .map(|(_, v)| OsString::from(v))
        }
    }

    #[test]
    fn stored_path_follows_the_environment() {
        let id = identity();
        let file = id.file_name();
        let all = [
            (PATH_VAR, "/tmp/c.txt"),
            ("XDG_CACHE_HOME", "/xdg"),
            ("HOME", "/home/u"),
        ];
        assert_eq!(stored_path(&id, env_of(&all)), Some("/tmp/c.txt".into()));
        assert_eq!(
            stored_path(&id, env_of(&all[1..])),
            Some(PathBuf::from("/xdg/gpuscan").join(&file))
        );
        let odd = [(PATH_VAR, ""), ("XDG_CACHE_HOME", "rel"), ("HOME", "/h")];
        assert_eq!(
            stored_path(&id, env_of(&odd)),
            Some(PathBuf::from("/h/.cache/gpuscan").join(&file))
        );
        assert_eq!(stored_path(&id, env_of(&[])), None);
    }

    /// A fresh directory under the system's temporary one.
    fn temp_dir(tag: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!(
            "gpuscan-calibrate-{tag}-{}-{:?}",
            std::process::id(),
            std::thread::current().id()
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn stored_files_apply_only_to_their_adapter_and_never_fail() {
        let dir = temp_dir("origin");
        let path = dir.join("sub").join("c.txt");
        let id = identity();
        let default = AutoPolicy::uniform(1 << 20);
        let choose = |explicit: Option<&AutoPolicy>, id: &AdapterIdentity| {
            AutoOrigin::choose_from(explicit, id, Some(path.clone()), default.clone())
        };

        // No file: the default.
        let o = choose(None, &id);
        assert_eq!(
            (o.source, o.policy),
            (AutoPolicySource::Default, default.clone())
        );

        // Its adapter's file applies over the default; an explicit policy wins over it.
        sample().save_to(&path).unwrap();
        assert_eq!(Calibration::load(&path).unwrap(), sample());
        let o = choose(None, &id);
        assert_eq!(o.source, AutoPolicySource::Calibration(path.clone()));
        assert_eq!(o.policy, sample().apply_to(&default));
        let o = choose(Some(&AutoPolicy::never()), &id);
        assert_eq!(
            (o.source, o.policy),
            (AutoPolicySource::Options, AutoPolicy::never())
        );
        assert!(load_matching(&path, &id).unwrap().is_some());

        // Another adapter, or a new driver version: ignored.
        for change in [0, 1] {
            let mut other = id.clone();
            if change == 0 {
                other.name = "NVIDIA GeForce RTX 4090".into();
            } else {
                other.driver_info = "Mesa 24.0.0".into();
            }
            assert_eq!(load_matching(&path, &other).unwrap(), None);
            assert_eq!(choose(None, &other).source, AutoPolicySource::Default);
        }

        // Malformed or unreadable: an error to load, the default for a context.
        std::fs::write(&path, "gpuscan-calibration 1\nadapter x\nfloat32 soon\n").unwrap();
        let err = load_matching(&path, &id).unwrap_err().to_string();
        assert!(err.contains("line 3") && err.contains("c.txt"), "{err}");
        assert_eq!(choose(None, &id).policy, default);
        std::fs::write(&path, vec![b'#'; MAX_FILE_BYTES as usize + 10]).unwrap();
        assert!(Calibration::load(&path).is_err());
        std::fs::remove_file(&path).unwrap();
        std::fs::create_dir(&path).unwrap();
        assert!(load_matching(&path, &id).is_err());
        assert_eq!(choose(None, &id).source, AutoPolicySource::Default);

        // A line break in an adapter field cannot be stored.
        let mut broken = sample();
        broken.adapter.name.push('\n');
        assert!(broken.save_to(&dir.join("x.txt")).is_err());
        let _ = std::fs::remove_dir_all(&dir);
    }
}
