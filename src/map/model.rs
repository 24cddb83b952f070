//! A trained map: RBF classifiers and regressors fitted on every row at the (C, γ) that
//! grouped cross-validation chose from a grid, with split-conformal prediction intervals
//! from the out-of-fold residuals. Stored as versioned JSON.
//!
//! With the comma gap among the inputs the model also carries the viscosity at the coating
//! shear rate as a function of (AM %, solid-to-liquid, gap): in the measured data the
//! viscosity is read at the shear rate the gap sets, so it is not a free set-point.

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::analysis::stats::min_max;
use crate::error::{Error, Result};
use crate::io::sha256_hex;
use crate::map::calendering::CalenderingModel;
use crate::map::cv::{
    as_classes, class_metrics, feature_names, features, group_folds, out_of_fold, regression_metrics, standardise,
    ClassMetrics, FitSettings, OutOfFold, RegressionMetrics, Target, Targets,
};
use crate::map::dataset::{slurries, Electrode};
use crate::map::svm::{train_svr, vote, Expansion, Gram, OneVsOne, Scaler};

pub const VERSION: u32 = 1;
pub const CLASS_NAMES: [&str; 3] = ["Low", "Medium", "High"];

#[derive(Debug, Clone)]
pub struct TrainConfig {
    pub folds: usize,
    pub seed: u64,
    /// Candidate SVM costs C [-].
    pub c_grid: Vec<f64>,
    /// Candidate RBF γ on standardised inputs [-].
    pub gamma_grid: Vec<f64>,
    pub fit: FitSettings,
    /// Add the comma gap to the reference's three inputs.
    pub with_gap: bool,
    /// [mg/cm²]
    pub mass_loading_edges: [f64; 2],
    /// [%]; `None` = terciles.
    pub porosity_edges: Option<[f64; 2]>,
    /// Coverage of the prediction intervals [-].
    pub level: f64,
}

impl Default for TrainConfig {
    fn default() -> Self {
        TrainConfig {
            folds: 5,
            seed: 1,
            c_grid: vec![1.0, 10.0, 50.0, 200.0],
            gamma_grid: vec![0.01, 0.03, 0.1, 0.3, 1.0],
            fit: FitSettings::default(),
            with_gap: true,
            mass_loading_edges: [20.0, 35.0],
            porosity_edges: None,
            level: 0.9,
        }
    }
}

/// The (C, γ) cross-validation chose and the score it had there.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Choice {
    pub c: f64,
    pub gamma: f64,
    /// `balanced_accuracy` (classes, higher is better) or `mae` (values, lower is better).
    pub criterion: String,
    pub score: f64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ClassModel {
    pub scaler: Scaler,
    /// Class edges in the target's unit.
    pub edges: [f64; 2],
    pub classes: Vec<i32>,
    /// (index of class a, index of class b, machine: decision > 0 votes for a).
    pub machines: Vec<(usize, usize, Expansion)>,
    pub choice: Choice,
    /// Grouped-CV metrics at the chosen (C, γ) (optimistic: the same CV chose them).
    pub cv: ClassMetrics,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ValueModel {
    pub scaler: Scaler,
    pub unit: String,
    /// Trained on ln(value) (for strictly positive, skewed quantities).
    pub log: bool,
    /// Standardisation of the (possibly logged) target.
    pub mean: f64,
    pub sd: f64,
    pub machine: Expansion,
    /// Half-width of the prediction interval, in the trained (possibly logged) scale.
    pub half_width: f64,
    pub level: f64,
    pub choice: Choice,
    pub cv: RegressionMetrics,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Provenance {
    pub file: String,
    pub sha256: String,
    pub rows: usize,
    pub slurries: usize,
    pub folds: usize,
    pub seed: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct MapModel {
    pub version: u32,
    pub data: Provenance,
    /// Canonical input names with units.
    pub features: Vec<String>,
    /// Training range of each input.
    pub domain: Vec<[f64; 2]>,
    pub mass_loading_class: ClassModel,
    pub porosity_class: ClassModel,
    /// [mg/cm²]
    pub mass_loading: ValueModel,
    /// [%]
    pub porosity: ValueModel,
    /// Viscosity at the coating shear rate [Pa·s] from (AM %, solid-to-liquid, gap); only
    /// with the gap among the inputs.
    pub viscosity: Option<ValueModel>,
    pub calendering: Option<CalenderingModel>,
    /// The training measurements (for the maps' overlay and `recommend`'s validation).
    pub measured: Vec<Electrode>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ClassPrediction {
    pub class: &'static str,
    pub votes: Vec<u32>,
    /// One-vs-one decision values: > 0 favours the first class of the pair.
    pub decisions: Vec<(&'static str, &'static str, f64)>,
}

#[derive(Debug, Clone, Copy, Serialize)]
pub struct ValuePrediction {
    pub value: f64,
    pub low: f64,
    pub high: f64,
}

impl ClassModel {
    pub fn predict(&self, x: &[f64]) -> ClassPrediction {
        let xs = self.scaler.apply(x);
        let d: Vec<(usize, usize, f64)> = self
            .machines
            .iter()
            .map(|(a, b, m)| (*a, *b, m.decision(&xs)))
            .collect();
        let class = vote(&self.classes, d.iter().copied());
        let mut votes = vec![0u32; 3];
        for &(a, b, f) in &d {
            votes[self.classes[if f > 0.0 { a } else { b }] as usize] += 1;
        }
        ClassPrediction {
            class: CLASS_NAMES[class as usize],
            votes,
            decisions: d
                .iter()
                .map(|&(a, b, f)| {
                    (
                        CLASS_NAMES[self.classes[a] as usize],
                        CLASS_NAMES[self.classes[b] as usize],
                        f,
                    )
                })
                .collect(),
        }
    }
}

impl ValueModel {
    pub fn predict(&self, x: &[f64]) -> ValuePrediction {
        let v = self.mean + self.sd * self.machine.decision(&self.scaler.apply(x));
        let back = |u: f64| if self.log { u.exp() } else { u };
        ValuePrediction {
            value: back(v),
            low: back(v - self.half_width),
            high: back(v + self.half_width),
        }
    }
}

/// The conformal quantile: the ⌈(n+1)·level⌉-th smallest |residual|.
pub fn conformal_half_width(residuals: &[f64], level: f64) -> f64 {
    let mut r: Vec<f64> = residuals.iter().map(|v| v.abs()).collect();
    r.sort_by(f64::total_cmp);
    let k = (((r.len() + 1) as f64 * level).ceil() as usize).clamp(1, r.len());
    r[k - 1]
}

fn grid(cfg: &TrainConfig) -> Vec<(f64, f64)> {
    cfg.c_grid
        .iter()
        .flat_map(|&c| cfg.gamma_grid.iter().map(move |&g| (c, g)))
        .collect()
}

/// The grid point with the best score (first among equals: grid order prefers small C).
fn best(scores: &[f64], higher_is_better: bool) -> usize {
    let mut b = 0;
    for (i, &s) in scores.iter().enumerate() {
        let better = if higher_is_better { s > scores[b] } else { s < scores[b] };
        if better {
            b = i;
        }
    }
    b
}

/// Standardised inputs and the scaler fitted on them.
fn scaled(x: &[Vec<f64>]) -> (Scaler, Vec<Vec<f64>>) {
    let scaler = Scaler::fit(x);
    let xs = x.iter().map(|r| scaler.apply(r)).collect();
    (scaler, xs)
}

fn fit_class(
    x: &[Vec<f64>],
    y: &[i32],
    edges: [f64; 2],
    oof: &[OutOfFold],
    t: usize,
    g: &[(f64, f64)],
    cfg: &TrainConfig,
) -> ClassModel {
    let metrics: Vec<ClassMetrics> = oof
        .iter()
        .map(|o| class_metrics(y, &as_classes(&o.predictions[t]), edges))
        .collect();
    let i = best(&metrics.iter().map(|m| m.balanced_accuracy).collect::<Vec<_>>(), true);
    let (c, gamma) = g[i];
    let (scaler, xs) = scaled(x);
    let ovo = OneVsOne::train(&Gram::rbf(&xs, gamma), y, c, &cfg.fit.smo);
    ClassModel {
        scaler,
        edges,
        classes: ovo.classes.clone(),
        machines: ovo
            .machines
            .iter()
            .map(|(a, b, m)| (*a, *b, m.expansion(&xs, gamma)))
            .collect(),
        choice: Choice {
            c,
            gamma,
            criterion: "balanced_accuracy".into(),
            score: metrics[i].balanced_accuracy,
        },
        cv: metrics[i].clone(),
    }
}

/// `y` in the trained scale (logged when `log`); metrics are reported in the unit.
#[allow(clippy::too_many_arguments)]
fn fit_value(
    x: &[Vec<f64>],
    y: &[f64],
    log: bool,
    unit: &str,
    oof: &[OutOfFold],
    t: usize,
    g: &[(f64, f64)],
    cfg: &TrainConfig,
) -> ValueModel {
    let back = |v: f64| if log { v.exp() } else { v };
    let truth: Vec<f64> = y.iter().map(|&v| back(v)).collect();
    let metrics: Vec<RegressionMetrics> = oof
        .iter()
        .map(|o| regression_metrics(&truth, &o.predictions[t].iter().map(|&v| back(v)).collect::<Vec<_>>()))
        .collect();
    let i = best(&metrics.iter().map(|m| m.mae).collect::<Vec<_>>(), false);
    let (c, gamma) = g[i];
    let residuals: Vec<f64> = y.iter().zip(&oof[i].predictions[t]).map(|(a, b)| a - b).collect();
    let (scaler, xs) = scaled(x);
    let (mean, sd, z) = standardise(y);
    let m = train_svr(&Gram::rbf(&xs, gamma), &z, c, cfg.fit.epsilon, &cfg.fit.smo);
    ValueModel {
        scaler,
        unit: unit.into(),
        log,
        mean,
        sd,
        machine: m.expansion(&xs, gamma),
        half_width: conformal_half_width(&residuals, cfg.level),
        level: cfg.level,
        choice: Choice {
            c,
            gamma,
            criterion: "mae".into(),
            score: metrics[i].mae,
        },
        cv: metrics[i].clone(),
    }
}

/// Viscosity at the coating shear rate from (AM %, solid-to-liquid, gap), one row per
/// distinct measured condition, ln-scale, grouped by slurry like the other models.
fn fit_viscosity(data: &[Electrode], cfg: &TrainConfig, g: &[(f64, f64)]) -> Result<ValueModel> {
    let mut rows: Vec<Electrode> = data.to_vec();
    rows.sort_by(|a, b| {
        (a.am_wt_percent, a.stol_percent, a.gap_um, a.viscosity_pa_s)
            .partial_cmp(&(b.am_wt_percent, b.stol_percent, b.gap_um, b.viscosity_pa_s))
            .expect("finite")
    });
    rows.dedup_by(|a, b| {
        (a.am_wt_percent, a.stol_percent, a.gap_um, a.viscosity_pa_s)
            == (b.am_wt_percent, b.stol_percent, b.gap_um, b.viscosity_pa_s)
    });
    let x: Vec<Vec<f64>> = rows
        .iter()
        .map(|e| vec![e.am_wt_percent, e.stol_percent, e.gap_um])
        .collect();
    let y: Vec<f64> = rows.iter().map(|e| e.viscosity_pa_s.ln()).collect();
    let folds = group_folds(&rows, cfg.folds, cfg.seed);
    let oof = out_of_fold(&x, &[Target::Value(&y)], &folds, cfg.folds, g, &cfg.fit)?;
    Ok(fit_value(&x, &y, true, "Pa s", &oof, 0, g, cfg))
}

pub fn train(
    data: &[Electrode],
    source: (&str, &[u8]),
    calendering: Option<CalenderingModel>,
    cfg: &TrainConfig,
) -> Result<MapModel> {
    if cfg.c_grid.is_empty() || cfg.gamma_grid.is_empty() {
        return Err(Error::Setup("the C and γ grids need at least one value each".into()));
    }
    let g = grid(cfg);
    let x: Vec<Vec<f64>> = data.iter().map(|e| features(e, cfg.with_gap)).collect();
    let t = Targets::new(data, cfg.mass_loading_edges, cfg.porosity_edges);
    let folds = group_folds(data, cfg.folds, cfg.seed);
    let oof = out_of_fold(&x, &t.list(), &folds, cfg.folds, &g, &cfg.fit)?;
    let d = x[0].len();
    let domain = (0..d).map(|j| min_max(x.iter().map(|r| r[j]))).collect();
    Ok(MapModel {
        version: VERSION,
        data: Provenance {
            file: source.0.into(),
            sha256: sha256_hex(source.1),
            rows: data.len(),
            slurries: slurries(data).len(),
            folds: cfg.folds,
            seed: cfg.seed,
        },
        features: feature_names(cfg.with_gap).iter().map(|s| s.to_string()).collect(),
        domain,
        mass_loading_class: fit_class(&x, &t.mass_loading_class, t.mass_loading_edges, &oof, 0, &g, cfg),
        porosity_class: fit_class(&x, &t.porosity_class, t.porosity_edges, &oof, 1, &g, cfg),
        mass_loading: fit_value(&x, &t.mass_loading, false, "mg/cm2", &oof, 2, &g, cfg),
        porosity: fit_value(&x, &t.porosity, false, "%", &oof, 3, &g, cfg),
        viscosity: if cfg.with_gap {
            Some(fit_viscosity(data, cfg, &g)?)
        } else {
            None
        },
        calendering,
        measured: data.to_vec(),
    })
}

impl MapModel {
    /// The AM contents measured [wt %], ascending.
    pub fn am_contents(&self) -> Vec<f64> {
        let mut am: Vec<f64> = self.measured.iter().map(|e| e.am_wt_percent).collect();
        am.sort_by(f64::total_cmp);
        am.dedup();
        am
    }

    pub fn has_gap(&self) -> bool {
        self.features.len() == 4
    }

    /// Inputs outside the training range, by name.
    pub fn outside_domain(&self, x: &[f64]) -> Vec<String> {
        self.features
            .iter()
            .zip(&self.domain)
            .zip(x)
            .filter(|((_, d), v)| **v < d[0] || **v > d[1])
            .map(|((f, _), _)| f.clone())
            .collect()
    }

    pub fn save(&self, path: &Path) -> Result<()> {
        let text = serde_json::to_string_pretty(self).map_err(|e| Error::Setup(e.to_string()))?;
        crate::io::atomic::write_atomic(path, |w| w.write_all(text.as_bytes()))
    }

    pub fn load(path: &Path) -> Result<MapModel> {
        let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
        let version = serde_json::from_str::<serde_json::Value>(&text)
            .ok()
            .and_then(|v| v["version"].as_u64());
        if version != Some(VERSION as u64) {
            return Err(Error::Setup(format!(
                "{}: not a map model of version {VERSION} (found {version:?})\n  hint: train it again with `etwin map train`",
                path.display()
            )));
        }
        serde_json::from_str(&text).map_err(|e| {
            Error::Setup(format!(
                "{}:{}:{}: {e}\n  hint: the model file was edited or truncated; train it again",
                path.display(),
                e.line(),
                e.column()
            ))
        })
    }
}
