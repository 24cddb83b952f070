//! Set-point recommendation (DESIGN.md §6): search the process space (AM content,
//! solid-to-liquid, comma gap, calender gap) with a trained map for a target electrode, and
//! rank the candidates by their distance to the target in units of the models' uncertainty.
//!
//! The chain per candidate: viscosity at the coating shear rate (the model's viscosity
//! regressor; must lie in the viscosity window) → mass loading and dried porosity (SVR) →
//! dried thickness from loading, porosity and the solid density → calendered porosity
//! (calendering model) at the best calender gap.

pub mod validate;

use rayon::prelude::*;
use serde::Serialize;

use crate::analysis::stats::min_max;
use crate::error::{Error, Result};
use crate::map::model::{MapModel, ValuePrediction};

/// What the electrode should be; any subset.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Targets {
    /// [mg/cm²]
    pub mass_loading: Option<f64>,
    /// Porosity after drying [-].
    pub porosity_dry: Option<f64>,
    /// Porosity after calendering [-] (needs a model trained with `--calendering`).
    pub porosity_calendered: Option<f64>,
    /// Dried thickness [µm].
    pub thickness_dry: Option<f64>,
}

impl Targets {
    /// `name=value,…` with names mass_loading [mg/cm²], porosity_dry [-],
    /// porosity_calendered [-], thickness_dry [µm].
    pub fn parse(s: &str) -> Result<Targets> {
        let bad = |what: String, hint: &str| Error::Setup(format!("--target: {what}\n  hint: {hint}"));
        let mut t = Targets::default();
        for item in s.split(',').map(str::trim).filter(|i| !i.is_empty()) {
            let (name, value) = item.split_once('=').ok_or_else(|| {
                bad(
                    format!("`{item}` is not name=value"),
                    "e.g. mass_loading=25,porosity_calendered=0.30",
                )
            })?;
            let v: f64 = value.trim().parse().map_err(|_| {
                bad(
                    format!("`{value}` is not a number"),
                    "values are plain numbers in the target's unit",
                )
            })?;
            let slot =
                match name.trim() {
                    "mass_loading" => &mut t.mass_loading,
                    "porosity_dry" => &mut t.porosity_dry,
                    "porosity_calendered" => &mut t.porosity_calendered,
                    "thickness_dry" => &mut t.thickness_dry,
                    other => return Err(bad(
                        format!("`{other}` is not a target"),
                        "targets: mass_loading [mg/cm²], porosity_dry [-], porosity_calendered [-], thickness_dry [µm]",
                    )),
                };
            let porosity = name.contains("porosity");
            if (porosity && !(0.0..1.0).contains(&v)) || v <= 0.0 {
                return Err(bad(
                    format!("{name} = {v} is out of range"),
                    if porosity {
                        "porosities are fractions in (0, 1), e.g. 0.30 for 30 %"
                    } else {
                        "expected a positive value"
                    },
                ));
            }
            *slot = Some(v);
        }
        if t.mass_loading.is_none()
            && t.porosity_dry.is_none()
            && t.porosity_calendered.is_none()
            && t.thickness_dry.is_none()
        {
            return Err(bad("no target given".into(), "e.g. --target mass_loading=25"));
        }
        Ok(t)
    }
}

/// The search space and the material data the chain needs.
#[derive(Debug, Clone, Serialize)]
pub struct Space {
    /// Allowed AM contents [wt %].
    pub am: Vec<f64>,
    /// Solid-to-liquid ratio range [%] and step.
    pub stol: [f64; 2],
    pub stol_step: f64,
    /// Comma gap range [µm] and step.
    pub gap: [f64; 2],
    pub gap_step: f64,
    /// Allowed viscosity at the coating shear rate [Pa·s].
    pub viscosity: [f64; 2],
    /// Calender gap range [µm] and step.
    pub calender_gap: Option<[f64; 2]>,
    pub calender_gap_step: f64,
    /// Keep the solid-to-liquid inside the range measured at each AM content (no recipes
    /// unlike any measured slurry).
    pub stol_per_am: bool,
    /// Skeletal densities [g/cm³] of the AM and of the CBD (carbon + binder).
    pub am_density: f64,
    pub cbd_density: f64,
}

impl Space {
    /// The measured ranges of the model's training data (no extrapolation).
    pub fn from_model(m: &MapModel) -> Space {
        let pts = &m.measured;
        let range = |f: fn(&crate::map::dataset::Electrode) -> f64| min_max(pts.iter().map(f));
        Space {
            am: m.am_contents(),
            stol: range(|e| e.stol_percent),
            stol_step: 0.25,
            gap: range(|e| e.gap_um),
            gap_step: 5.0,
            viscosity: range(|e| e.viscosity_pa_s),
            calender_gap: m.calendering.as_ref().map(|c| c.domain[3]),
            calender_gap_step: 1.0,
            stol_per_am: true,
            am_density: 4.65,
            cbd_density: 1.8,
        }
    }

    /// Solid (pore-free) density of the dried electrode [g/cm³] at `am` wt % AM.
    pub fn solid_density(&self, am: f64) -> f64 {
        let w = am / 100.0;
        1.0 / (w / self.am_density + (1.0 - w) / self.cbd_density)
    }
}

fn steps(r: [f64; 2], step: f64) -> Vec<f64> {
    let n = ((r[1] - r[0]) / step).floor().max(0.0) as usize;
    let mut v: Vec<f64> = (0..=n).map(|i| r[0] + i as f64 * step).collect();
    if v.last().is_some_and(|&l| r[1] - l > 1e-9) {
        v.push(r[1]);
    }
    v
}

#[derive(Debug, Clone, Serialize)]
pub struct Candidate {
    /// [wt %]
    pub am: f64,
    /// [%]
    pub stol: f64,
    /// Comma gap [µm].
    pub gap: f64,
    /// Calender gap [µm].
    pub calender_gap: Option<f64>,
    /// [Pa·s]
    pub viscosity: ValuePrediction,
    /// [mg/cm²]
    pub mass_loading: ValuePrediction,
    /// [-]
    pub porosity_dry: ValuePrediction,
    /// [µm]
    pub thickness_dry: ValuePrediction,
    /// [-]
    pub porosity_calendered: Option<ValuePrediction>,
    /// Σ ((prediction − target) / interval half-width)² over the targets.
    pub score: f64,
    /// Inputs outside the data the models were trained on.
    pub extrapolated: Vec<String>,
}

fn half(p: &ValuePrediction) -> f64 {
    (0.5 * (p.high - p.low)).max(1e-12)
}

fn miss(target: Option<f64>, p: &ValuePrediction) -> f64 {
    target.map_or(0.0, |t| ((p.value - t) / half(p)).powi(2))
}

impl Candidate {
    /// Σ ((prediction − target) / interval half-width)² over the targets given.
    pub fn score_for(&self, t: &Targets) -> f64 {
        miss(t.mass_loading, &self.mass_loading)
            + miss(t.porosity_dry, &self.porosity_dry)
            + miss(t.thickness_dry, &self.thickness_dry)
            + self
                .porosity_calendered
                .as_ref()
                .map_or(0.0, |p| miss(t.porosity_calendered, p))
    }
}

/// Predicted outcome of one coating (no calendering yet); `None` outside the viscosity window.
pub fn evaluate(m: &MapModel, s: &Space, am: f64, stol: f64, gap: f64) -> Option<Candidate> {
    let vm = m.viscosity.as_ref()?;
    let viscosity = vm.predict(&[am, stol, gap]);
    if viscosity.value < s.viscosity[0] || viscosity.value > s.viscosity[1] {
        return None;
    }
    let x = [am, stol, viscosity.value, gap];
    let ml = m.mass_loading.predict(&x);
    let p = m.porosity.predict(&x);
    let porosity_dry = ValuePrediction {
        value: p.value / 100.0,
        low: p.low / 100.0,
        high: p.high / 100.0,
    };
    let rho = s.solid_density(am);
    let thick = |ml: f64, por: f64| 10.0 * ml / (rho * (1.0 - por));
    let thickness_dry = ValuePrediction {
        value: thick(ml.value, porosity_dry.value),
        low: thick(ml.low, porosity_dry.low),
        high: thick(ml.high, porosity_dry.high),
    };
    Some(Candidate {
        am,
        stol,
        gap,
        calender_gap: None,
        viscosity,
        mass_loading: ml,
        porosity_dry,
        thickness_dry,
        porosity_calendered: None,
        score: 0.0,
        extrapolated: m.outside_domain(&x),
    })
}

/// The calender gap that brings the candidate closest to the calendered-porosity target.
fn calender(m: &MapModel, s: &Space, c: &mut Candidate, target: f64) -> Result<()> {
    let cal = m.calendering.as_ref().ok_or_else(|| {
        Error::Setup(
            "a porosity_calendered target needs a model trained with --calendering FILE\n  hint: etwin map train --calendering …"
                .into(),
        )
    })?;
    let range = s.calender_gap.unwrap_or(cal.domain[3]);
    let (x, e, t) = (c.am / 100.0, c.porosity_dry.value, c.thickness_dry.value);
    let best = steps(range, s.calender_gap_step)
        .into_iter()
        .min_by(|a, b| {
            let d = |g: f64| (cal.predict(x, e, t, g).value - target).abs();
            d(*a).total_cmp(&d(*b))
        })
        .expect("a non-empty range");
    let mut p = cal.predict(x, e, t, best);
    // The dried porosity's own uncertainty carried through the calendering slope.
    let spread = (cal.half_width.powi(2) + (cal.sensitivity(best) * half(&c.porosity_dry)).powi(2)).sqrt();
    (p.low, p.high) = (p.value - spread, p.value + spread);
    c.calender_gap = Some(best);
    c.porosity_calendered = Some(p);
    c.extrapolated
        .extend(cal.outside_domain(x, e, t, best).into_iter().map(String::from));
    Ok(())
}

/// Scores every candidate of the grid and returns the best `top`, skipping near-duplicates
/// of better ones (same AM, within 1 % solid-to-liquid and 20 µm gap).
pub fn recommend(m: &MapModel, t: &Targets, s: &Space, top: usize) -> Result<Vec<Candidate>> {
    if m.viscosity.is_none() {
        return Err(Error::Setup(
            "recommendation needs a model trained with the comma gap (train without --no-gap)".into(),
        ));
    }
    if s.am.is_empty() || s.stol_step <= 0.0 || s.gap_step <= 0.0 || s.calender_gap_step <= 0.0 {
        return Err(Error::Setup(
            "the search space is empty or has a non-positive step".into(),
        ));
    }
    let mut grid: Vec<(f64, f64, f64)> = Vec::new();
    for &a in &s.am {
        let mut stol = s.stol;
        let measured: Vec<f64> = m
            .measured
            .iter()
            .filter(|e| e.am_wt_percent == a)
            .map(|e| e.stol_percent)
            .collect();
        if s.stol_per_am && !measured.is_empty() {
            let [lo, hi] = min_max(measured);
            stol = [stol[0].max(lo), stol[1].min(hi)];
        }
        if stol[0] > stol[1] {
            continue;
        }
        for st in steps(stol, s.stol_step) {
            grid.extend(steps(s.gap, s.gap_step).into_iter().map(|g| (a, st, g)));
        }
    }
    let mut all: Vec<Candidate> = grid
        .par_iter()
        .filter_map(|&(a, st, g)| evaluate(m, s, a, st, g))
        .map(|mut c| {
            if let Some(target) = t.porosity_calendered {
                calender(m, s, &mut c, target)?;
            }
            c.score = c.score_for(t);
            Ok(c)
        })
        .collect::<Result<_>>()?;
    if all.is_empty() {
        return Err(Error::Setup(format!(
            "no candidate: the solid-to-liquid range leaves no measured recipe, or no predicted viscosity lies inside the window {:?} Pa·s\n  hint: widen --stol or --viscosity, or pass --any-stol",
            s.viscosity
        )));
    }
    all.sort_by(|a, b| a.score.total_cmp(&b.score));
    let mut best: Vec<Candidate> = Vec::new();
    for c in all {
        if best.len() == top {
            break;
        }
        let near = best
            .iter()
            .any(|b| b.am == c.am && (b.stol - c.stol).abs() < 1.0 && (b.gap - c.gap).abs() < 20.0);
        if !near {
            best.push(c);
        }
    }
    Ok(best)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_parse_with_units_checked() {
        let t = Targets::parse("mass_loading=25, porosity_calendered=0.30").unwrap();
        assert_eq!((t.mass_loading, t.porosity_calendered), (Some(25.0), Some(0.30)));
        for (bad, phrase) in [
            ("porosity_dry=30", "fractions"),
            ("loading=3", "not a target"),
            ("mass_loading", "name=value"),
            ("mass_loading=x", "not a number"),
            ("", "no target"),
        ] {
            let e = Targets::parse(bad).unwrap_err().to_string();
            assert!(e.contains(phrase), "{bad}: {e}");
        }
    }

    #[test]
    fn grid_steps_include_both_ends() {
        assert_eq!(steps([50.0, 62.0], 5.0), vec![50.0, 55.0, 60.0, 62.0]);
        assert_eq!(steps([1.0, 1.0], 1.0), vec![1.0]);
    }
}
