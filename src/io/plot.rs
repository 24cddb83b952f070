//! PNG figures: the bundled font, padded ranges, atomic writes and a line chart with
//! optional log axes and error bars (the run report's pressure, porosity and viscosity plots).

use std::path::Path;
use std::sync::Once;

use plotters::coord::ranged1d::{AsRangedCoord, ValueFormatter};
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::FontStyle;

use crate::analysis::stats::min_max;
use crate::error::{Error, Result};

/// Labels use egui's bundled font: no system font lookup, identical on every machine.
pub fn register_font() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        // The bundled font is a valid TTF; a failure would only lose the labels.
        let _ = plotters::style::register_font("sans-serif", FontStyle::Normal, epaint_default_fonts::UBUNTU_LIGHT);
    });
}

/// The values' range with a 5 % margin.
pub fn padded_range(v: impl Iterator<Item = f64>) -> (f64, f64) {
    let [lo, hi] = min_max(v);
    let pad = 0.05 * (hi - lo).max(1e-9);
    (lo - pad, hi + pad)
}

pub type DrawResult = std::result::Result<(), Box<dyn std::error::Error>>;

/// Draws into a temporary PNG beside `path` and renames it: no half-written figure after a crash.
pub fn write_png(
    path: &Path,
    size: (u32, u32),
    draw: impl FnOnce(&DrawingArea<BitMapBackend, Shift>) -> DrawResult,
) -> Result<()> {
    register_font();
    let fail = |e: &dyn std::fmt::Display| Error::Setup(format!("{}: cannot draw the figure: {e}", path.display()));
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let tmp = tempfile::Builder::new()
        .prefix(".etwin-")
        .suffix(".png")
        .tempfile_in(dir)
        .map_err(|e| Error::io(dir, e))?;
    {
        let root = BitMapBackend::new(tmp.path(), size).into_drawing_area();
        root.fill(&WHITE).map_err(|e| fail(&e))?;
        draw(&root).map_err(|e| fail(&e))?;
        root.present().map_err(|e| fail(&e))?;
    }
    tmp.persist(path).map_err(|e| Error::io(path, e.error))?;
    Ok(())
}

/// One curve of a [`LineChart`].
pub struct Line {
    pub label: String,
    pub points: Vec<(f64, f64)>,
    /// Symmetric error of each point's y, drawn as a bar.
    pub y_err: Option<Vec<f64>>,
    pub color: RGBColor,
    pub style: Stroke,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stroke {
    Solid,
    Dashed,
    /// Markers only (a scatter).
    Points,
}

impl Line {
    pub fn new(label: impl Into<String>, points: Vec<(f64, f64)>, color: RGBColor) -> Line {
        Line {
            label: label.into(),
            points,
            y_err: None,
            color,
            style: Stroke::Solid,
        }
    }
}

pub struct LineChart {
    pub title: String,
    pub x_desc: String,
    pub y_desc: String,
    /// Log axes, taken when the values span a decade or more.
    pub log_x: bool,
    pub log_y: bool,
    pub lines: Vec<Line>,
}

/// Line colours in order: blue, red, green, grey.
pub const PALETTE: [RGBColor; 4] = [
    RGBColor(33, 113, 181),
    RGBColor(203, 24, 29),
    RGBColor(35, 139, 69),
    RGBColor(110, 110, 110),
];

impl LineChart {
    /// Writes the chart as a PNG of `size` pixels.
    pub fn write(&self, path: &Path, size: (u32, u32)) -> Result<()> {
        let pts = || self.lines.iter().flat_map(|l| l.points.iter());
        if pts().next().is_none() {
            return Err(Error::Setup(format!("{}: no points to plot", path.display())));
        }
        let ys = self.lines.iter().flat_map(|l| {
            l.points.iter().enumerate().flat_map(move |(i, p)| {
                let e = l.y_err.as_ref().map_or(0.0, |e| e[i]);
                [p.1 - e, p.1 + e]
            })
        });
        let ys: Vec<f64> = ys.collect();
        // Under a decade a log axis gets one tick or none: linear reads better there.
        let log_x = self.log_x && spans_a_decade(pts().map(|p| p.0));
        let log_y = self.log_y && spans_a_decade(ys.iter().copied());
        let xr = axis_range(pts().map(|p| p.0), log_x);
        let yr = axis_range(ys.into_iter(), log_y);
        write_png(path, size, |root| match (log_x, log_y) {
            (false, false) => self.draw(root, xr.0..xr.1, yr.0..yr.1),
            (true, false) => self.draw(root, (xr.0..xr.1).log_scale(), yr.0..yr.1),
            (false, true) => self.draw(root, xr.0..xr.1, (yr.0..yr.1).log_scale()),
            (true, true) => self.draw(root, (xr.0..xr.1).log_scale(), (yr.0..yr.1).log_scale()),
        })
    }

    fn draw<X, Y>(&self, root: &DrawingArea<BitMapBackend, Shift>, x: X, y: Y) -> DrawResult
    where
        X: AsRangedCoord<Value = f64>,
        Y: AsRangedCoord<Value = f64>,
        X::CoordDescType: ValueFormatter<f64>,
        Y::CoordDescType: ValueFormatter<f64>,
    {
        let mut chart = ChartBuilder::on(root)
            .caption(&self.title, ("sans-serif", 20))
            .margin(12)
            .x_label_area_size(45)
            .y_label_area_size(70)
            .build_cartesian_2d(x, y)?;
        chart
            .configure_mesh()
            .x_desc(self.x_desc.as_str())
            .y_desc(self.y_desc.as_str())
            .light_line_style(WHITE.mix(0.0))
            .draw()?;
        for l in &self.lines {
            let c = l.color;
            let style = c.stroke_width(2);
            let series = match l.style {
                Stroke::Solid => chart.draw_series(LineSeries::new(l.points.iter().copied(), style))?,
                Stroke::Dashed => chart.draw_series(DashedLineSeries::new(l.points.iter().copied(), 6, 4, style))?,
                Stroke::Points => chart.draw_series(l.points.iter().map(|p| Circle::new(*p, 5, c.filled())))?,
            };
            series
                .label(l.label.as_str())
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], c.stroke_width(2)));
            if l.style != Stroke::Points && l.points.len() <= 40 {
                chart.draw_series(l.points.iter().map(|p| Circle::new(*p, 3, c.filled())))?;
            }
            if let Some(err) = &l.y_err {
                chart.draw_series(
                    l.points
                        .iter()
                        .zip(err)
                        .map(|(p, e)| ErrorBar::new_vertical(p.0, p.1 - e, p.1, p.1 + e, c.stroke_width(1), 8)),
                )?;
            }
        }
        chart
            .configure_series_labels()
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK)
            .label_font(("sans-serif", 15))
            .position(SeriesLabelPosition::UpperRight)
            .draw()?;
        Ok(())
    }
}

fn spans_a_decade(v: impl Iterator<Item = f64>) -> bool {
    let [lo, hi] = min_max(v);
    lo > 0.0 && hi >= 10.0 * lo
}

/// A padded range; on a log axis, padded by factors and kept positive.
fn axis_range(v: impl Iterator<Item = f64>, log: bool) -> (f64, f64) {
    if !log {
        return padded_range(v);
    }
    let [lo, hi] = min_max(v.filter(|x| *x > 0.0));
    let (lo, hi) = if lo.is_finite() { (lo, hi) } else { (1.0, 10.0) };
    (lo / 1.3, hi * 1.3)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_chart_is_a_png_and_an_empty_one_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let mut l = Line::new("a", vec![(1.0, 2.0), (10.0, 5.0), (100.0, 3.0)], PALETTE[0]);
        l.y_err = Some(vec![0.1, 0.5, 0.2]);
        let c = LineChart {
            title: "t".into(),
            x_desc: "x [-]".into(),
            y_desc: "y [-]".into(),
            log_x: true,
            log_y: true,
            lines: vec![l],
        };
        let p = dir.path().join("c.png");
        c.write(&p, (400, 300)).unwrap();
        let bytes = std::fs::read(&p).unwrap();
        assert_eq!(&bytes[1..4], b"PNG");
        let empty = LineChart { lines: vec![], ..c };
        assert!(empty.write(&dir.path().join("e.png"), (400, 300)).is_err());
    }
}
