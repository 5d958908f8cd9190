//! Values on the command line: clap's parsers of element counts, dtypes, names and list
//! terms in, durations and rates out, and the host memory a measurement may use.

use std::str::FromStr;

use gpuscan::DType;

/// `--dtype NAME`: numpy's names and aliases (`float32`, `f4`, `<f4`, `single`, ...).
pub fn dtype(s: &str) -> Result<DType, String> {
    s.parse().map_err(|e: gpuscan::Error| e.to_string())
}

/// A name the library parses (device, order, strategy, scan), in its words when unknown;
/// spaces around a list term are ignored.
pub fn named<T: FromStr<Err = gpuscan::Error>>(s: &str) -> Result<T, String> {
    s.trim().parse().map_err(|e: gpuscan::Error| e.to_string())
}

/// A positive element count: `1048576`, `2^20` or `1<<20`.
pub fn count(t: &str) -> Result<usize, String> {
    let t = t.trim();
    let bad = || "not a positive whole number (e.g. 1048576 or 2^20)".to_string();
    let n = if let Some((base, exp)) = t.split_once('^') {
        let base: usize = base.trim().parse().map_err(|_| bad())?;
        let exp: u32 = exp.trim().parse().map_err(|_| bad())?;
        base.checked_pow(exp).ok_or_else(bad)?
    } else if let Some((base, shift)) = t.split_once("<<") {
        let base: usize = base.trim().parse().map_err(|_| bad())?;
        let shift: u32 = shift.trim().parse().map_err(|_| bad())?;
        base.checked_shl(shift)
            .filter(|&v| shift < usize::BITS && v >> shift == base)
            .ok_or_else(bad)?
    } else {
        t.parse().map_err(|_| bad())?
    };
    if n == 0 {
        return Err(bad());
    }
    Ok(n)
}

/// A list term that may be left blank (`a,,b`, a trailing comma): `None`, skipped.
pub fn blank_or<T>(
    parse: impl Fn(&str) -> Result<T, String> + Clone + Send + Sync + 'static,
) -> impl Fn(&str) -> Result<Option<T>, String> + Clone + Send + Sync + 'static {
    move |s| match s.trim() {
        "" => Ok(None),
        _ => parse(s).map(Some),
    }
}

/// A term of a list that may also be `all`.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum OrAll<T> {
    One(T),
    All,
}

/// Parses `all` or one term.
pub fn or_all<T>(
    parse: impl Fn(&str) -> Result<T, String> + Clone + Send + Sync + 'static,
) -> impl Fn(&str) -> Result<OrAll<T>, String> + Clone + Send + Sync + 'static {
    move |s| match s.trim() {
        t if t.eq_ignore_ascii_case("all") => Ok(OrAll::All),
        _ => parse(s).map(OrAll::One),
    }
}

/// The terms of a list, each once in the order given, `all` standing for every one of `all`.
pub fn expand<T: Copy + PartialEq>(terms: &[OrAll<T>], all: &[T]) -> Vec<T> {
    let mut out = Vec::new();
    for term in terms {
        let more = match term {
            OrAll::One(t) => std::slice::from_ref(t),
            OrAll::All => all,
        };
        for t in more {
            if !out.contains(t) {
                out.push(*t);
            }
        }
    }
    out
}

/// The given terms of a list, each once in the order given (blank ones skipped).
pub fn unique<T: Copy + PartialEq>(terms: &[Option<T>]) -> Vec<T> {
    let mut out = Vec::new();
    for t in terms.iter().flatten() {
        if !out.contains(t) {
            out.push(*t);
        }
    }
    out
}

/// Three significant digits, without exponent for the ranges a bench shows.
pub fn sig3(x: f64) -> String {
    if !x.is_finite() {
        return x.to_string();
    }
    if x == 0.0 {
        return "0".into();
    }
    let magnitude = x.abs().log10().floor() as i32;
    if !(-5..=6).contains(&magnitude) {
        return format!("{x:.2e}");
    }
    let decimals = (2 - magnitude).max(0) as usize;
    format!("{x:.decimals$}")
}

/// A duration with a unit that keeps three significant digits readable: `1.23 ms`.
pub fn seconds(s: f64) -> String {
    let (value, unit) = if s >= 1.0 {
        (s, "s")
    } else if s >= 1e-3 {
        (s * 1e3, "ms")
    } else if s >= 1e-6 {
        (s * 1e6, "µs")
    } else {
        (s * 1e9, "ns")
    };
    format!("{} {unit}", sig3(value))
}

/// The kernel's estimate of memory available to a new allocation (Linux), in bytes.
pub fn mem_available_bytes() -> Option<u64> {
    let meminfo = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = meminfo.lines().find(|l| l.starts_with("MemAvailable:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    kib.checked_mul(1024)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_and_durations() {
        assert_eq!(count("2^26").unwrap(), 1 << 26);
        assert_eq!(count("1<<12").unwrap(), 4096);
        assert_eq!(count(" 100 ").unwrap(), 100);
        for bad in ["0", "-1", "x", "2^99", "1<<64", ""] {
            assert!(count(bad).is_err(), "{bad}");
        }
        assert_eq!(seconds(1.234e-4), "123 µs");
        assert_eq!(seconds(6.01e-7), "601 ns");
        assert_eq!(seconds(1.79), "1.79 s");
        assert_eq!(seconds(0.0118), "11.8 ms");
    }
}
