//! Line charts of cost against a quantity that grows by powers (session size, live sessions):
//! a logarithmic x axis, one line per framework and store, as SVG. A line's colour says its
//! framework and its point markers its store, so lines of one framework stay apart.

use std::fmt::Write as _;

use crate::svg;

/// One line: its label, colour, whether it is dashed, the marker of its points, and its
/// (x, y) points.
pub struct Series {
    pub label: String,
    pub color: &'static str,
    pub dashed: bool,
    pub marker: Marker,
    pub points: Vec<(f64, f64)>,
}

/// The shape drawn at each point of a line (and beside its legend entry).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Marker {
    Circle,
    Square,
    Triangle,
    Diamond,
}

/// `marker` centred at (`x`, `y`) in `color`, with a hover `title`.
fn mark(s: &mut String, marker: Marker, x: f64, y: f64, color: &str, title: &str) {
    let title = format!("<title>{title}</title>");
    let _ = match marker {
        Marker::Circle => writeln!(
            s,
            r#"<circle cx="{x:.1}" cy="{y:.1}" r="3.5" fill="{color}">{title}</circle>"#
        ),
        Marker::Square => writeln!(
            s,
            r#"<rect x="{:.1}" y="{:.1}" width="7" height="7" fill="{color}">{title}</rect>"#,
            x - 3.5,
            y - 3.5
        ),
        Marker::Triangle => writeln!(
            s,
            r#"<polygon points="{x:.1},{:.1} {:.1},{:.1} {:.1},{:.1}" fill="{color}">{title}</polygon>"#,
            y - 4.5,
            x - 4.5,
            y + 3.5,
            x + 4.5,
            y + 3.5
        ),
        Marker::Diamond => writeln!(
            s,
            r#"<polygon points="{x:.1},{:.1} {:.1},{y:.1} {x:.1},{:.1} {:.1},{y:.1}" fill="{color}">{title}</polygon>"#,
            y - 4.5,
            x + 4.5,
            y + 4.5,
            x - 4.5
        ),
    };
}

/// The y axis: linear from zero, or logarithmic (for costs spanning orders of magnitude).
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Scale {
    Linear,
    Log,
}

/// Round tick values covering `lo..=hi` on `scale`.
fn ticks(lo: f64, hi: f64, scale: Scale) -> Vec<f64> {
    match scale {
        Scale::Log => {
            // 1, 2, 5 per decade, from the last at or below `lo` to the first at or above `hi`.
            let mut out: Vec<f64> = Vec::new();
            let mut decade = 10f64.powf(lo.log10().floor());
            loop {
                for m in [1.0, 2.0, 5.0] {
                    let v = decade * m;
                    if v <= lo * 1.0001 {
                        out.clear();
                    }
                    out.push(v);
                    if v >= hi / 1.0001 {
                        return out;
                    }
                }
                decade *= 10.0;
            }
        }
        Scale::Linear => {
            let raw = hi / 5.0;
            let magnitude = 10f64.powf(raw.log10().floor());
            let step = [1.0, 2.0, 5.0, 10.0]
                .into_iter()
                .map(|m| m * magnitude)
                .find(|s| hi / s <= 6.0)
                .unwrap_or(10.0 * magnitude);
            (0..=((hi / step).ceil() as usize))
                .map(|i| i as f64 * step)
                .collect()
        }
    }
}

/// A tick label: `1.5`, `950`, `12k`, `3M`.
fn short(v: f64) -> String {
    let (n, unit) = if v >= 1e6 {
        (v / 1e6, "M")
    } else if v >= 1e3 {
        (v / 1e3, "k")
    } else {
        (v, "")
    };
    if (n - n.round()).abs() < 1e-9 {
        format!("{n:.0}{unit}")
    } else {
        format!("{n:.1}{unit}")
    }
}

/// The chart: `x_ticks` are the x values to label (with their labels), `series` the lines.
/// Points that are not finite and positive are left out.
pub fn line_chart(
    title: &str,
    x_label: &str,
    y_label: &str,
    y_scale: Scale,
    x_ticks: &[(f64, String)],
    series: &[Series],
) -> String {
    let (left, top, plot_w, plot_h, legend_w) = (70.0, 40.0, 420.0, 260.0, 260.0);
    let width = left + plot_w + 30.0 + legend_w;
    let height = top + plot_h + 60.0;
    let usable = |&(x, y): &(f64, f64)| x.is_finite() && x > 0.0 && y.is_finite() && y > 0.0;
    let points: Vec<(f64, f64)> = series
        .iter()
        .flat_map(|s| s.points.iter().copied().filter(usable))
        .collect();
    let mut s = svg::open(width, height, left, title);
    if points.is_empty() || x_ticks.is_empty() {
        let _ = writeln!(
            s,
            r#"<text x="{left}" y="{:.0}">not measured in this run</text></svg>"#,
            top + 20.0
        );
        return s;
    }
    let (x_lo, x_hi) = x_ticks
        .iter()
        .fold((f64::INFINITY, 0f64), |(lo, hi), (x, _)| {
            (lo.min(*x), hi.max(*x))
        });
    let y_hi = points.iter().map(|p| p.1).fold(0f64, f64::max);
    let y_lo = points.iter().map(|p| p.1).fold(f64::INFINITY, f64::min);
    let y_ticks = match y_scale {
        Scale::Linear => ticks(0.0, y_hi, Scale::Linear),
        Scale::Log => ticks(y_lo, y_hi, Scale::Log),
    };
    let (y_min, y_max) = match y_scale {
        Scale::Linear => (0.0, *y_ticks.last().unwrap_or(&y_hi)),
        Scale::Log => (
            y_ticks.first().copied().unwrap_or(y_lo),
            y_ticks.last().copied().unwrap_or(y_hi),
        ),
    };
    let span_x = (x_hi / x_lo).log10().max(1e-9);
    let px = |x: f64| left + (x / x_lo).log10() / span_x * plot_w;
    let py = |y: f64| {
        let f = match y_scale {
            Scale::Linear => (y - y_min) / (y_max - y_min).max(1e-9),
            Scale::Log => (y / y_min).log10() / (y_max / y_min).log10().max(1e-9),
        };
        top + plot_h - f * plot_h
    };
    for &v in &y_ticks {
        svg::grid_line(&mut s, left, left + plot_w, py(v), &short(v));
    }
    for (x, label) in x_ticks {
        let xx = px(*x);
        let _ = writeln!(
            s,
            r##"<line x1="{xx:.1}" x2="{xx:.1}" y1="{top}" y2="{:.0}" stroke="#f0f0f0"/><text x="{xx:.1}" y="{:.0}" text-anchor="middle">{label}</text>"##,
            top + plot_h,
            top + plot_h + 16.0
        );
    }
    let _ = writeln!(
        s,
        r#"<text x="{:.0}" y="{:.0}" text-anchor="middle">{x_label}</text>"#,
        left + plot_w / 2.0,
        top + plot_h + 36.0
    );
    let _ = writeln!(
        s,
        r#"<text x="16" y="{:.0}" transform="rotate(-90 16 {:.0})" text-anchor="middle">{y_label}</text>"#,
        top + plot_h / 2.0,
        top + plot_h / 2.0
    );
    let mut legend_y = top + 6.0;
    for line in series {
        let pts: Vec<(f64, f64)> = line.points.iter().copied().filter(usable).collect();
        if pts.is_empty() {
            continue;
        }
        let dash = if line.dashed {
            r#" stroke-dasharray="5 3""#
        } else {
            ""
        };
        let path: Vec<String> = pts
            .iter()
            .map(|&(x, y)| format!("{:.1},{:.1}", px(x), py(y)))
            .collect();
        let _ = writeln!(
            s,
            r#"<polyline points="{}" fill="none" stroke="{}" stroke-width="2"{dash}/>"#,
            path.join(" "),
            line.color
        );
        for &(x, y) in &pts {
            let title = format!("{}: {}", line.label, short(y));
            mark(&mut s, line.marker, px(x), py(y), line.color, &title);
        }
        let lx = left + plot_w + 30.0;
        let _ = writeln!(
            s,
            r#"<line x1="{lx:.0}" x2="{:.0}" y1="{legend_y:.0}" y2="{legend_y:.0}" stroke="{}" stroke-width="2"{dash}/><text x="{:.0}" y="{:.0}">{}</text>"#,
            lx + 24.0,
            line.color,
            lx + 30.0,
            legend_y + 4.0,
            line.label
        );
        mark(
            &mut s,
            line.marker,
            lx + 12.0,
            legend_y,
            line.color,
            &line.label,
        );
        legend_y += 16.0;
    }
    s.push_str("</svg>\n");
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ticks_cover_the_range() {
        assert_eq!(
            ticks(0.0, 23.0, Scale::Linear),
            vec![0.0, 5.0, 10.0, 15.0, 20.0, 25.0]
        );
        assert_eq!(
            ticks(1000.0, 400_000.0, Scale::Log),
            vec![1e3, 2e3, 5e3, 1e4, 2e4, 5e4, 1e5, 2e5, 5e5]
        );
        assert_eq!(short(16_384.0), "16.4k");
        assert_eq!(short(1_000_000.0), "1M");
    }

    #[test]
    fn a_chart_draws_each_series_and_skips_bad_points() {
        let series = [
            Series {
                label: "tessera memory".into(),
                color: "#000",
                dashed: false,
                marker: Marker::Circle,
                points: vec![(100.0, 10.0), (1024.0, f64::NAN), (65536.0, 40.0)],
            },
            Series {
                label: "tessera redis".into(),
                color: "#000",
                dashed: false,
                marker: Marker::Square,
                points: vec![(100.0, 20.0), (65536.0, 80.0)],
            },
        ];
        let ticks = [(100.0, "100 B".to_owned()), (65536.0, "64 KB".to_owned())];
        let svg = line_chart("t", "x", "y", Scale::Linear, &ticks, &series);
        // Two usable points and the legend's marker for each line, each in its own shape.
        assert_eq!(svg.matches("<circle").count(), 3);
        assert_eq!(svg.matches("<rect x=").count(), 3);
        assert!(svg.contains("tessera memory"));
        assert!(svg.contains("tessera redis"));
        let empty = line_chart("t", "x", "y", Scale::Log, &ticks, &[]);
        assert!(empty.contains("not measured"));
    }
}
