//! The throughput-versus-size chart of `--plot`, as hand-written SVG: log2 elements across,
//! G elements/s up on a log scale (the paths differ by orders of magnitude), one polyline per
//! path (and dtype and op, when several were measured).

use std::fmt::Write;

use gpuscan::{Context, ScanOp};

use super::cases::{Case, Variant};
use super::clock::Timing;
use super::report::series_name;
use super::{Measurement, PathKind};
use crate::info::device_type_name;
use crate::values::sig3;

const WIDTH: f64 = 800.0;
const HEIGHT: f64 = 480.0;
/// The plot area's margins; the legend sits in the right one.
const LEFT: f64 = 80.0;
const RIGHT: f64 = 200.0;
const TOP: f64 = 64.0;
const BOTTOM: f64 = 64.0;

/// One polyline: (elements, G elements/s) points in size order.
struct Series {
    name: String,
    path: PathKind,
    algorithm: Option<&'static str>,
    op: ScanOp,
    /// Which (dtype, op) pair: its dash pattern.
    style_index: usize,
    points: Vec<(f64, f64)>,
}

fn color(path: PathKind) -> &'static str {
    match path {
        PathKind::Cpu => "#1f77b4",
        PathKind::GpuResident => "#d62728",
        PathKind::GpuEndToEnd => "#ff7f0e",
        PathKind::Copy => "#7f7f7f",
    }
}

/// Dash patterns that tell dtypes (and ops) apart when several share a chart.
const DASHES: [&str; 6] = ["", "8 4", "2 3", "10 3 2 3", "4 4", "12 6"];

/// The chart of the 1-D cases in `results`.
pub fn svg(
    ctx: &Context,
    timing: Option<Timing>,
    variant: &Variant,
    results: &[(Case, Vec<Measurement>)],
) -> String {
    let series = collect(results);
    let mut ops: Vec<&str> = Vec::new();
    for s in &series {
        if !ops.contains(&s.op.name()) {
            ops.push(s.op.name());
        }
    }
    let title = format!(
        "gpuscan {}{} throughput, 1-D",
        if ops.is_empty() {
            "cumsum".to_string()
        } else {
            ops.join(", ")
        },
        variant.suffix()
    );
    let points = series.iter().flat_map(|s| s.points.iter().copied());
    let (mut x0, mut x1, mut y0, mut y1) = (f64::MAX, f64::MIN, f64::MAX, f64::MIN);
    for (n, g) in points.filter(|&(n, g)| n > 0.0 && g > 0.0 && g.is_finite()) {
        x0 = x0.min(n.log2());
        x1 = x1.max(n.log2());
        y0 = y0.min(g.log10());
        y1 = y1.max(g.log10());
    }
    if x0 > x1 {
        // Nothing plottable: an empty frame over a nominal range.
        (x0, x1, y0, y1) = (10.0, 20.0, -3.0, 1.0);
    }
    let (x0, x1) = if x1 - x0 < 1.0 {
        (x0.floor() - 1.0, x1.ceil() + 1.0)
    } else {
        (x0.floor(), x1.ceil())
    };
    let (y0, y1) = (y0.floor(), y1.ceil().max(y0.floor() + 1.0));
    let plot_w = WIDTH - LEFT - RIGHT;
    let plot_h = HEIGHT - TOP - BOTTOM;
    let sx = |log2n: f64| LEFT + (log2n - x0) / (x1 - x0) * plot_w;
    let sy = |log10g: f64| TOP + plot_h - (log10g - y0) / (y1 - y0) * plot_h;

    let mut s = String::new();
    let _ = writeln!(
        s,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" viewBox="0 0 {WIDTH} {HEIGHT}" font-family="sans-serif" font-size="12">"#
    );
    let _ = writeln!(s, r#"<rect width="100%" height="100%" fill="white"/>"#);
    let adapter = match ctx.adapter_info() {
        Some(i) => format!(
            "{} ({}, {})",
            i.name,
            i.backend,
            device_type_name(i.device_type)
        ),
        None => "no GPU adapter".into(),
    };
    let timing_note = match timing {
        Some(Timing::TimestampQuery) => "; GPU rows by timestamp queries",
        Some(Timing::Host) => "; GPU rows by host wall time",
        None => "",
    };
    let _ = writeln!(
        s,
        r#"<text x="{LEFT}" y="24" font-size="16" font-weight="bold">{}</text>"#,
        escape(&title)
    );
    let _ = writeln!(
        s,
        r##"<text x="{LEFT}" y="44" fill="#444">{}</text>"##,
        escape(&format!("{adapter}{timing_note}; median times"))
    );

    // Grid and tick labels: every decade up, every power of two across (thinned to ~12).
    let step = ((x1 - x0) / 12.0).ceil().max(1.0) as usize;
    let (xa, xb) = (x0 as i64, x1 as i64);
    for k in (xa..=xb).step_by(step) {
        let x = sx(k as f64);
        let _ = writeln!(
            s,
            r##"<line x1="{x:.1}" y1="{TOP}" x2="{x:.1}" y2="{:.1}" stroke="#e4e4e4"/>"##,
            TOP + plot_h
        );
        let _ = writeln!(
            s,
            r#"<text x="{x:.1}" y="{:.1}" text-anchor="middle">2<tspan dy="-5" font-size="9">{k}</tspan></text>"#,
            TOP + plot_h + 18.0
        );
    }
    for k in (y0 as i64)..=(y1 as i64) {
        let y = sy(k as f64);
        let _ = writeln!(
            s,
            r##"<line x1="{LEFT}" y1="{y:.1}" x2="{:.1}" y2="{y:.1}" stroke="#e4e4e4"/>"##,
            LEFT + plot_w
        );
        let _ = writeln!(
            s,
            r#"<text x="{:.1}" y="{:.1}" text-anchor="end">{}</text>"#,
            LEFT - 6.0,
            y + 4.0,
            decade(k)
        );
    }
    let _ = writeln!(
        s,
        r#"<rect x="{LEFT}" y="{TOP}" width="{plot_w}" height="{plot_h}" fill="none" stroke="black"/>"#
    );
    let _ = writeln!(
        s,
        r#"<text x="{:.1}" y="{:.1}" text-anchor="middle">elements (log2 scale)</text>"#,
        LEFT + plot_w / 2.0,
        HEIGHT - 16.0
    );
    let _ = writeln!(
        s,
        r#"<text transform="translate(20 {:.1}) rotate(-90)" text-anchor="middle">G elements/s (log scale)</text>"#,
        TOP + plot_h / 2.0
    );

    for (i, series) in series.iter().enumerate() {
        let c = color(series.path);
        let dash = DASHES[series.style_index % DASHES.len()];
        let dash_attr = if dash.is_empty() {
            String::new()
        } else {
            format!(r#" stroke-dasharray="{dash}""#)
        };
        // (screen point, data point) for every point a log scale can place.
        let pts: Vec<((f64, f64), (f64, f64))> = series
            .points
            .iter()
            .filter(|&&(n, g)| n > 0.0 && g > 0.0 && g.is_finite())
            .map(|&(n, g)| ((sx(n.log2()), sy(g.log10())), (n, g)))
            .collect();
        let coords: Vec<String> = pts
            .iter()
            .map(|((x, y), _)| format!("{x:.1},{y:.1}"))
            .collect();
        let _ = writeln!(
            s,
            r#"<polyline points="{}" fill="none" stroke="{c}" stroke-width="2"{dash_attr}/>"#,
            coords.join(" ")
        );
        for &((x, y), (n, g)) in &pts {
            let _ = writeln!(
                s,
                r#"<circle cx="{x:.1}" cy="{y:.1}" r="3" fill="{c}"><title>{}: {n} elements, {} G elements/s</title></circle>"#,
                escape(&series.name),
                sig3(g)
            );
        }
        // Legend entry.
        let ly = TOP + 10.0 + 20.0 * i as f64;
        let lx = LEFT + plot_w + 16.0;
        let _ = writeln!(
            s,
            r#"<line x1="{lx:.1}" y1="{ly:.1}" x2="{:.1}" y2="{ly:.1}" stroke="{c}" stroke-width="2"{dash_attr}/>"#,
            lx + 28.0
        );
        let _ = writeln!(
            s,
            r#"<text x="{:.1}" y="{:.1}">{}</text>"#,
            lx + 34.0,
            ly + 4.0,
            escape(&series.name)
        );
    }
    s.push_str("</svg>\n");
    s
}

/// The 1-D rows, one series per (dtype, op, path, algorithm), in the order they were
/// measured.
fn collect(results: &[(Case, Vec<Measurement>)]) -> Vec<Series> {
    let one_d = || results.iter().filter(|(c, _)| c.axis.is_none());
    let mut dtypes = Vec::new();
    let mut ops = Vec::new();
    let mut styles = Vec::new();
    for (case, rows) in one_d() {
        if !dtypes.contains(&case.dtype) {
            dtypes.push(case.dtype);
        }
        for m in rows {
            if !ops.contains(&m.op) {
                ops.push(m.op);
            }
            if !styles.contains(&(case.dtype, m.op)) {
                styles.push((case.dtype, m.op));
            }
        }
    }
    let mut algorithms = Vec::new();
    for m in results.iter().flat_map(|(_, rows)| rows) {
        if m.algorithm.is_some() && !algorithms.contains(&m.algorithm) {
            algorithms.push(m.algorithm);
        }
    }
    let mut series: Vec<Series> = Vec::new();
    for (case, rows) in one_d() {
        let name = |m: &Measurement| {
            let name = series_name(
                m.path,
                (dtypes.len() > 1).then(|| case.dtype.name()),
                (ops.len() > 1).then(|| m.op.name()),
            );
            match m.algorithm {
                Some(a) if algorithms.len() > 1 => format!("{name} {a}"),
                _ => name,
            }
        };
        for m in rows {
            let style_index = styles
                .iter()
                .position(|&s| s == (case.dtype, m.op))
                .unwrap_or(0);
            let point = (case.elements() as f64, m.gelem_per_s(case));
            match series.iter_mut().find(|s| {
                s.path == m.path && s.algorithm == m.algorithm && s.style_index == style_index
            }) {
                Some(s) => s.points.push(point),
                None => series.push(Series {
                    name: name(m),
                    path: m.path,
                    algorithm: m.algorithm,
                    op: m.op,
                    style_index,
                    points: vec![point],
                }),
            }
        }
    }
    for s in &mut series {
        s.points.sort_by(|a, b| a.0.total_cmp(&b.0));
    }
    series
}

/// 10^k as a plain number where that stays short.
fn decade(k: i64) -> String {
    match k {
        0..=6 => format!("{}", 10u64.pow(k as u32)),
        -6..=-1 => format!("{:.*}", (-k) as usize, 10f64.powi(k as i32)),
        _ => format!("1e{k}"),
    }
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decades_and_escapes() {
        assert_eq!(decade(-2), "0.01");
        assert_eq!(decade(3), "1000");
        assert_eq!(decade(9), "1e9");
        assert_eq!(escape("a<b & \"c\""), "a&lt;b &amp; &quot;c&quot;");
    }
}
