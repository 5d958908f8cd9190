//! Values on the command line: element counts and dtype lists in, durations and rates out,
//! and the host memory a measurement may use.

use gpuscan::DType;

use crate::CliError;

/// A positive element count: `1048576`, `2^20` or `1<<20`.
pub fn parse_count(t: &str, option: &str) -> Result<usize, CliError> {
    let t = t.trim();
    let bad = || {
        CliError(format!(
            "{option}: '{t}' is not a positive whole number (e.g. 1048576 or 2^20)"
        ))
    };
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

/// Parses `float32,int64` (any numpy name gpuscan knows).
pub fn parse_dtypes(s: &str) -> Result<Vec<DType>, CliError> {
    let mut dtypes = Vec::new();
    for t in s.split(',').map(str::trim).filter(|t| !t.is_empty()) {
        let d: DType = t.parse().map_err(|_| {
            let names: Vec<&str> = DType::ALL.iter().map(|d| d.name()).collect();
            CliError(format!(
                "--dtype: unknown dtype '{t}' (known: {})",
                names.join(", ")
            ))
        })?;
        if !dtypes.contains(&d) {
            dtypes.push(d);
        }
    }
    if dtypes.is_empty() {
        return Err(CliError("--dtype: give at least one dtype".into()));
    }
    Ok(dtypes)
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
        assert_eq!(parse_count("2^26", "--sizes").unwrap(), 1 << 26);
        assert_eq!(parse_count("1<<12", "--sizes").unwrap(), 4096);
        assert_eq!(parse_count(" 100 ", "--sizes").unwrap(), 100);
        for bad in ["0", "-1", "x", "2^99", "1<<64", ""] {
            assert!(parse_count(bad, "--sizes").is_err(), "{bad}");
        }
        assert_eq!(seconds(1.234e-4), "123 µs");
        assert_eq!(seconds(6.01e-7), "601 ns");
        assert_eq!(seconds(1.79), "1.79 s");
        assert_eq!(seconds(0.0118), "11.8 ms");
    }
}
