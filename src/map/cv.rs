//! Grouped k-fold cross-validation of the map's models: a group is one slurry (AM wt %,
//! solid-to-liquid), so no slurry is in both the training and the test folds. Inputs are
//! standardised with the training folds' mean and standard deviation.
//!
//! Models ([`crate::map::svm`]): RBF-kernel support-vector classifiers (one-vs-one) for the
//! mass-loading and porosity classes, and RBF support-vector regression (on standardised
//! targets) for their values. The reference's C = 50, γ = 0.1 are the defaults.

use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::map::dataset::{slurries, Electrode};
use crate::map::svm::{cross_kernel, train_svr, Gram, OneVsOne, Scaler, SmoSettings};

#[derive(Debug, Clone)]
pub struct CvConfig {
    pub folds: usize,
    pub seed: u64,
    /// SVM cost C [-].
    pub c: f64,
    /// RBF γ on standardised inputs [-].
    pub gamma: f64,
    /// SVR ε-tube on standardised targets [-].
    pub epsilon: f64,
    /// Mass-loading class edges [mg/cm²]: Low < first ≤ Medium < second ≤ High.
    pub mass_loading_edges: [f64; 2],
    /// Porosity class edges [%]; `None` = terciles of the data.
    pub porosity_edges: Option<[f64; 2]>,
    pub smo: SmoSettings,
}

impl Default for CvConfig {
    fn default() -> Self {
        CvConfig {
            folds: 5,
            seed: 1,
            c: 50.0,
            gamma: 0.1,
            epsilon: 0.1,
            mass_loading_edges: [20.0, 35.0],
            porosity_edges: None,
            smo: SmoSettings::default(),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ClassMetrics {
    pub accuracy: f64,
    /// Mean recall over the classes present [-].
    pub balanced_accuracy: f64,
    /// Rows: true class (Low, Medium, High); columns: predicted.
    pub confusion: Vec<Vec<usize>>,
    /// Class edges used.
    pub edges: [f64; 2],
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RegressionMetrics {
    /// Mean absolute error [target unit].
    pub mae: f64,
    pub r2: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct CvReport {
    pub features: Vec<&'static str>,
    pub folds: usize,
    pub rows: usize,
    pub slurries: usize,
    /// Every SMO run met its tolerance.
    pub converged: bool,
    pub mass_loading_class: ClassMetrics,
    pub porosity_class: ClassMetrics,
    /// [mg/cm²]
    pub mass_loading: RegressionMetrics,
    /// [%]
    pub porosity: RegressionMetrics,
}

/// Fold of each row: slurries shuffled (seeded) and dealt round-robin to `k` folds.
pub fn group_folds(data: &[Electrode], k: usize, seed: u64) -> Vec<usize> {
    let mut groups = slurries(data);
    groups.shuffle(&mut ChaCha8Rng::seed_from_u64(seed));
    data.iter()
        .map(|e| groups.iter().position(|g| *g == e.slurry()).expect("listed") % k)
        .collect()
}

pub fn features(e: &Electrode, with_gap: bool) -> Vec<f64> {
    let mut f = vec![e.am_wt_percent, e.stol_percent, e.viscosity_pa_s];
    if with_gap {
        f.push(e.gap_um);
    }
    f
}

/// Canonical names of [`features`].
pub fn feature_names(with_gap: bool) -> Vec<&'static str> {
    let mut names = vec!["am[wt%]", "stol[%]", "viscosity[Pa s]"];
    if with_gap {
        names.push("gap[um]");
    }
    names
}

pub fn class_of(v: f64, edges: [f64; 2]) -> i32 {
    if v < edges[0] {
        0
    } else if v < edges[1] {
        1
    } else {
        2
    }
}

/// The four targets of the map, per row.
pub struct Targets {
    pub mass_loading_class: Vec<i32>,
    pub porosity_class: Vec<i32>,
    /// [mg/cm²]
    pub mass_loading: Vec<f64>,
    /// [%]
    pub porosity: Vec<f64>,
    pub mass_loading_edges: [f64; 2],
    pub porosity_edges: [f64; 2],
}

impl Targets {
    pub fn new(data: &[Electrode], mass_loading_edges: [f64; 2], porosity_edges: Option<[f64; 2]>) -> Targets {
        let ml: Vec<f64> = data.iter().map(|e| e.mass_loading_mg_cm2).collect();
        let por: Vec<f64> = data.iter().map(|e| e.porosity_percent).collect();
        let porosity_edges = porosity_edges.unwrap_or_else(|| terciles(&por));
        Targets {
            mass_loading_class: ml.iter().map(|&v| class_of(v, mass_loading_edges)).collect(),
            porosity_class: por.iter().map(|&v| class_of(v, porosity_edges)).collect(),
            mass_loading: ml,
            porosity: por,
            mass_loading_edges,
            porosity_edges,
        }
    }
}

/// One target of a cross-validation: classes or a value.
#[derive(Clone, Copy)]
pub enum Target<'a> {
    Class(&'a [i32]),
    Value(&'a [f64]),
}

impl Targets {
    /// Mass-loading class, porosity class, mass loading, porosity.
    pub fn list(&self) -> [Target<'_>; 4] {
        [
            Target::Class(&self.mass_loading_class),
            Target::Class(&self.porosity_class),
            Target::Value(&self.mass_loading),
            Target::Value(&self.porosity),
        ]
    }
}

/// Out-of-fold predictions for every row, one vector per target (classes as their number).
#[derive(Debug, Clone)]
pub struct OutOfFold {
    pub predictions: Vec<Vec<f64>>,
    /// Every SMO run met its tolerance.
    pub converged: bool,
}

/// Mean and standard deviation, to train the SVR on standardised targets.
pub fn standardise(y: &[f64]) -> (f64, f64, Vec<f64>) {
    let n = y.len() as f64;
    let mean = y.iter().sum::<f64>() / n;
    let sd = (y.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / n)
        .sqrt()
        .max(f64::MIN_POSITIVE);
    (mean, sd, y.iter().map(|v| (v - mean) / sd).collect())
}

/// Hyper-parameters shared by every fit of a cross-validation.
#[derive(Debug, Clone, Copy)]
pub struct FitSettings {
    /// SVR ε-tube on standardised targets [-].
    pub epsilon: f64,
    pub smo: SmoSettings,
}

impl Default for FitSettings {
    fn default() -> Self {
        FitSettings {
            epsilon: 0.1,
            smo: SmoSettings::default(),
        }
    }
}

/// Trains one target on a kernel matrix; returns its predictions from the kernel rows `k`.
fn fit_predict(
    gram: &Gram,
    target: Target,
    train: &[usize],
    k: &[Vec<f64>],
    c: f64,
    fit: &FitSettings,
) -> (Vec<f64>, bool) {
    match target {
        Target::Class(y) => {
            let m = OneVsOne::train(gram, &train.iter().map(|&i| y[i]).collect::<Vec<_>>(), c, &fit.smo);
            (k.iter().map(|r| m.predict(r) as f64).collect(), m.converged())
        }
        Target::Value(y) => {
            let (mean, sd, z) = standardise(&train.iter().map(|&i| y[i]).collect::<Vec<_>>());
            let m = train_svr(gram, &z, c, fit.epsilon, &fit.smo);
            (k.iter().map(|r| mean + sd * m.decision(r)).collect(), m.converged)
        }
    }
}

/// Out-of-fold predictions for each (C, γ) in `grid`; folds × distinct γ run in parallel and
/// share one kernel matrix across the C values and targets.
pub fn out_of_fold(
    x: &[Vec<f64>],
    targets: &[Target],
    folds: &[usize],
    k: usize,
    grid: &[(f64, f64)],
    fit: &FitSettings,
) -> Result<Vec<OutOfFold>> {
    if k < 2 {
        return Err(Error::Setup("cross-validation needs at least 2 folds".into()));
    }
    let n = x.len();
    for f in 0..k {
        if !folds.contains(&f) || folds.iter().all(|&g| g == f) {
            return Err(Error::Setup(format!("fold {f} is empty: fewer slurries than folds")));
        }
    }
    let mut gammas: Vec<f64> = grid.iter().map(|g| g.1).collect();
    gammas.sort_by(f64::total_cmp);
    gammas.dedup();
    let tasks: Vec<(usize, f64)> = (0..k).flat_map(|f| gammas.iter().map(move |&g| (f, g))).collect();
    type Piece = (usize, Vec<usize>, Vec<Vec<f64>>, bool);
    let pieces: Vec<Vec<Piece>> = tasks
        .par_iter()
        .map(|&(f, gamma)| {
            let train: Vec<usize> = (0..n).filter(|&i| folds[i] != f).collect();
            let test: Vec<usize> = (0..n).filter(|&i| folds[i] == f).collect();
            let scaler = Scaler::fit(&train.iter().map(|&i| x[i].clone()).collect::<Vec<_>>());
            let xtr: Vec<Vec<f64>> = train.iter().map(|&i| scaler.apply(&x[i])).collect();
            let xte: Vec<Vec<f64>> = test.iter().map(|&i| scaler.apply(&x[i])).collect();
            let gram = Gram::rbf(&xtr, gamma);
            let kte = cross_kernel(&xte, &xtr, gamma);
            grid.iter()
                .enumerate()
                .filter(|(_, g)| g.1 == gamma)
                .map(|(gi, &(c, _))| {
                    let mut converged = true;
                    let preds = targets
                        .iter()
                        .map(|&t| {
                            let (p, ok) = fit_predict(&gram, t, &train, &kte, c, fit);
                            converged &= ok;
                            p
                        })
                        .collect();
                    (gi, test.clone(), preds, converged)
                })
                .collect()
        })
        .collect();
    let mut out = vec![
        OutOfFold {
            predictions: vec![vec![0.0; n]; targets.len()],
            converged: true,
        };
        grid.len()
    ];
    for (gi, test, p, converged) in pieces.into_iter().flatten() {
        let o = &mut out[gi];
        o.converged &= converged;
        for (t, pt) in p.iter().enumerate() {
            for (r, &i) in test.iter().enumerate() {
                o.predictions[t][i] = pt[r];
            }
        }
    }
    Ok(out)
}

pub fn class_metrics(truth: &[i32], pred: &[i32], edges: [f64; 2]) -> ClassMetrics {
    let mut confusion = vec![vec![0usize; 3]; 3];
    for (&t, &p) in truth.iter().zip(pred) {
        confusion[t as usize][p.clamp(0, 2) as usize] += 1;
    }
    let correct: usize = (0..3).map(|k| confusion[k][k]).sum();
    let recalls: Vec<f64> = (0..3)
        .filter(|&k| confusion[k].iter().sum::<usize>() > 0)
        .map(|k| confusion[k][k] as f64 / confusion[k].iter().sum::<usize>() as f64)
        .collect();
    ClassMetrics {
        accuracy: correct as f64 / truth.len() as f64,
        balanced_accuracy: recalls.iter().sum::<f64>() / recalls.len() as f64,
        confusion,
        edges,
    }
}

pub fn regression_metrics(truth: &[f64], pred: &[f64]) -> RegressionMetrics {
    let n = truth.len() as f64;
    let mean = truth.iter().sum::<f64>() / n;
    let ss_res: f64 = truth.iter().zip(pred).map(|(t, p)| (t - p).powi(2)).sum();
    let ss_tot: f64 = truth.iter().map(|t| (t - mean).powi(2)).sum();
    RegressionMetrics {
        mae: truth.iter().zip(pred).map(|(t, p)| (t - p).abs()).sum::<f64>() / n,
        r2: 1.0 - ss_res / ss_tot,
    }
}

pub fn as_classes(v: &[f64]) -> Vec<i32> {
    v.iter().map(|&c| c as i32).collect()
}

/// Terciles of `v`.
fn terciles(v: &[f64]) -> [f64; 2] {
    let mut s = v.to_vec();
    s.sort_by(f64::total_cmp);
    [s[s.len() / 3], s[2 * s.len() / 3]]
}

impl CvReport {
    pub fn new(data: &[Electrode], t: &Targets, o: &OutOfFold, folds: usize, with_gap: bool) -> CvReport {
        let p = &o.predictions;
        CvReport {
            features: feature_names(with_gap),
            folds,
            rows: data.len(),
            slurries: slurries(data).len(),
            converged: o.converged,
            mass_loading_class: class_metrics(&t.mass_loading_class, &as_classes(&p[0]), t.mass_loading_edges),
            porosity_class: class_metrics(&t.porosity_class, &as_classes(&p[1]), t.porosity_edges),
            mass_loading: regression_metrics(&t.mass_loading, &p[2]),
            porosity: regression_metrics(&t.porosity, &p[3]),
        }
    }
}

/// Grouped cross-validation at the configuration's C and γ.
pub fn cross_validate(data: &[Electrode], folds: &[usize], cfg: &CvConfig, with_gap: bool) -> Result<CvReport> {
    let x: Vec<Vec<f64>> = data.iter().map(|e| features(e, with_gap)).collect();
    let t = Targets::new(data, cfg.mass_loading_edges, cfg.porosity_edges);
    let fit = FitSettings {
        epsilon: cfg.epsilon,
        smo: cfg.smo,
    };
    let o = out_of_fold(&x, &t.list(), folds, cfg.folds, &[(cfg.c, cfg.gamma)], &fit)?;
    Ok(CvReport::new(data, &t, &o[0], cfg.folds, with_gap))
}
