//! The map's classic figure: for each AM content, the viscosity × solid-to-liquid plane
//! coloured by the predicted class, with the measured electrodes on top (PNG).

use std::path::{Path, PathBuf};

use plotters::coord::Shift;
use plotters::prelude::*;

use crate::error::{Error, Result};
use crate::io::plot::{padded_range as range, write_png, DrawResult};
use crate::map::cv::class_of;
use crate::map::model::{ClassModel, MapModel, CLASS_NAMES};

#[derive(Debug, Clone)]
pub struct PlotSettings {
    /// Comma gap of the maps [µm] (models with the gap); default: the measured gap nearest
    /// the median.
    pub gap_um: Option<f64>,
    /// Image size [px].
    pub size: (u32, u32),
    /// Prediction cells along viscosity and solid-to-liquid.
    pub cells: (usize, usize),
}

impl Default for PlotSettings {
    fn default() -> Self {
        PlotSettings {
            gap_um: None,
            size: (800, 600),
            cells: (160, 120),
        }
    }
}

const PALE: [RGBColor; 3] = [
    RGBColor(198, 219, 239),
    RGBColor(199, 233, 192),
    RGBColor(252, 187, 161),
];
const STRONG: [RGBColor; 3] = [RGBColor(33, 113, 181), RGBColor(35, 139, 69), RGBColor(203, 24, 29)];

/// Writes `<target>_am<AM>.png` per class target and AM content into `dir`; returns the paths.
pub fn plot_maps(m: &MapModel, dir: &Path, s: &PlotSettings) -> Result<Vec<PathBuf>> {
    std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    let pts = &m.measured;
    let ams = m.am_contents();
    let gap = if m.has_gap() {
        let mut gaps: Vec<f64> = pts.iter().map(|e| e.gap_um).collect();
        gaps.sort_by(f64::total_cmp);
        let want = s.gap_um.unwrap_or(gaps[gaps.len() / 2]);
        Some((
            want,
            *gaps
                .iter()
                .min_by(|a, b| (*a - want).abs().total_cmp(&(*b - want).abs()))
                .expect("rows"),
        ))
    } else {
        None
    };
    let xr = range(pts.iter().map(|e| e.viscosity_pa_s));
    let yr = range(pts.iter().map(|e| e.stol_percent));
    let mut written = Vec::new();
    for (target, model, unit) in [
        ("mass_loading_class", &m.mass_loading_class, "mg/cm²"),
        ("porosity_class", &m.porosity_class, "%"),
    ] {
        for &am in &ams {
            let path = dir.join(format!("{target}_am{am}.png"));
            let shown: Vec<(f64, f64, i32)> = pts
                .iter()
                .filter(|e| e.am_wt_percent == am && gap.is_none_or(|g| e.gap_um == g.1))
                .map(|e| {
                    let v = if target == "mass_loading_class" {
                        e.mass_loading_mg_cm2
                    } else {
                        e.porosity_percent
                    };
                    (e.viscosity_pa_s, e.stol_percent, class_of(v, model.edges))
                })
                .collect();
            let title = match gap {
                Some((g, near)) => format!(
                    "{} class, AM {am} wt %, gap {g} µm (points: gap {near} µm)",
                    target.trim_end_matches("_class").replace('_', " ")
                ),
                None => format!(
                    "{} class, AM {am} wt %",
                    target.trim_end_matches("_class").replace('_', " ")
                ),
            };
            let labels: Vec<String> = (0..3)
                .map(|k| match k {
                    0 => format!("Low (< {:.1} {unit})", model.edges[0]),
                    1 => format!("Medium ({:.1}–{:.1} {unit})", model.edges[0], model.edges[1]),
                    _ => format!("High (≥ {:.1} {unit})", model.edges[1]),
                })
                .collect();
            let classify = |visc: f64, stol: f64| {
                let mut x = vec![am, stol, visc];
                x.extend(gap.map(|g| g.0));
                class_index(model, &x)
            };
            write_png(&path, s.size, |root| {
                draw(root, &title, xr, yr, s.cells, &classify, &shown, &labels)
            })?;
            written.push(path);
        }
    }
    Ok(written)
}

fn class_index(model: &ClassModel, x: &[f64]) -> usize {
    let name = model.predict(x).class;
    CLASS_NAMES.iter().position(|c| *c == name).expect("a class name")
}

#[allow(clippy::too_many_arguments)]
fn draw(
    root: &DrawingArea<BitMapBackend, Shift>,
    title: &str,
    xr: (f64, f64),
    yr: (f64, f64),
    (nx, ny): (usize, usize),
    classify: &dyn Fn(f64, f64) -> usize,
    shown: &[(f64, f64, i32)],
    labels: &[String],
) -> DrawResult {
    let mut chart = ChartBuilder::on(root)
        .caption(title, ("sans-serif", 20))
        .margin(12)
        .x_label_area_size(45)
        .y_label_area_size(60)
        .build_cartesian_2d(xr.0..xr.1, yr.0..yr.1)?;
    let (dx, dy) = ((xr.1 - xr.0) / nx as f64, (yr.1 - yr.0) / ny as f64);
    chart.draw_series((0..nx).flat_map(|i| (0..ny).map(move |j| (i, j))).map(|(i, j)| {
        let (x0, y0) = (xr.0 + i as f64 * dx, yr.0 + j as f64 * dy);
        let k = classify(x0 + 0.5 * dx, y0 + 0.5 * dy);
        Rectangle::new([(x0, y0), (x0 + dx, y0 + dy)], PALE[k].filled())
    }))?;
    chart
        .configure_mesh()
        .x_desc("viscosity at the coating shear rate [Pa·s]")
        .y_desc("solid-to-liquid ratio [%]")
        .disable_mesh()
        .draw()?;
    for (k, label) in labels.iter().enumerate() {
        chart
            .draw_series(
                shown
                    .iter()
                    .filter(|p| p.2 as usize == k)
                    .map(|p| Circle::new((p.0, p.1), 5, STRONG[k].filled())),
            )?
            .label(label.as_str())
            .legend(move |(x, y)| Circle::new((x, y), 5, STRONG[k].filled()));
    }
    chart.draw_series(shown.iter().map(|p| Circle::new((p.0, p.1), 5, BLACK.stroke_width(1))))?;
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .label_font(("sans-serif", 15))
        .position(SeriesLabelPosition::LowerRight)
        .draw()?;
    Ok(())
}
