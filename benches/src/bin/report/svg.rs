//! The SVG pieces the report's charts share: the document's opening and a labelled grid line.

use std::fmt::Write as _;

/// A `width` × `height` SVG document on a white background with `title` at `left`, still
/// open: the caller adds the chart and `</svg>`.
pub fn open(width: f64, height: f64, left: f64, title: &str) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{width:.0}" height="{height:.0}" font-family="sans-serif" font-size="11">"#
    );
    let _ = writeln!(
        s,
        r#"<rect width="100%" height="100%" fill="white"/><text x="{left}" y="22" font-size="15">{title}</text>"#
    );
    s
}

/// A horizontal grid line at `y` from `x0` to `x1`, labelled `label` to the left of `x0`.
pub fn grid_line(s: &mut String, x0: f64, x1: f64, y: f64, label: &str) {
    let _ = writeln!(
        s,
        r##"<line x1="{x0}" x2="{x1:.0}" y1="{y:.1}" y2="{y:.1}" stroke="#e4e4e4"/><text x="{:.0}" y="{:.1}" text-anchor="end">{label}</text>"##,
        x0 - 4.0,
        y + 4.0,
    );
}
