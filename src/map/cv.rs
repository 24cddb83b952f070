//! Grouped k-fold cross-validation of the map's models: a group is one slurry (AM wt %,
//! solid-to-liquid), so no slurry is in both the training and the test folds. Inputs are
//! standardised with the training folds' mean and standard deviation.
//!
//! Models (smartcore): RBF-kernel support-vector classifiers (one-vs-one, voted here) for the
//! mass-loading and porosity classes, and RBF support-vector regression (on standardised
//! targets) for their values. The reference's C = 50, γ = 0.1 are the defaults.

use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::Serialize;
use smartcore::linalg::basic::matrix::DenseMatrix;
use smartcore::svm::svc::{SVCParameters, SVC};
use smartcore::svm::svr::{SVRParameters, SVR};
use smartcore::svm::Kernels;

use crate::error::{Error, Result};
use crate::map::dataset::Electrode;

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
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct ClassMetrics {
    pub accuracy: f64,
    /// Mean recall over the classes present [-].
    pub balanced_accuracy: f64,
    /// Rows: true class (Low, Medium, High); columns: predicted.
    pub confusion: Vec<Vec<usize>>,
    /// Class edges used.
    pub edges: [f64; 2],
}

#[derive(Debug, Clone, Serialize)]
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
    pub mass_loading_class: ClassMetrics,
    pub porosity_class: ClassMetrics,
    /// [mg/cm²]
    pub mass_loading: RegressionMetrics,
    /// [%]
    pub porosity: RegressionMetrics,
}

/// Fold of each row: slurries shuffled (seeded) and dealt round-robin to `k` folds.
pub fn group_folds(data: &[Electrode], k: usize, seed: u64) -> Vec<usize> {
    let mut groups: Vec<(u64, u64)> = data.iter().map(|e| e.slurry()).collect();
    groups.sort_unstable();
    groups.dedup();
    groups.shuffle(&mut ChaCha8Rng::seed_from_u64(seed));
    data.iter()
        .map(|e| groups.iter().position(|g| *g == e.slurry()).expect("listed") % k)
        .collect()
}

fn features(e: &Electrode, with_gap: bool) -> Vec<f64> {
    let mut f = vec![e.am_wt_percent, e.stol_percent, e.viscosity_pa_s];
    if with_gap {
        f.push(e.gap_um);
    }
    f
}

fn class_of(v: f64, edges: [f64; 2]) -> i32 {
    if v < edges[0] {
        0
    } else if v < edges[1] {
        1
    } else {
        2
    }
}

/// Standardisation fitted on `rows`.
struct Scaler {
    mean: Vec<f64>,
    sd: Vec<f64>,
}

impl Scaler {
    fn fit(rows: &[Vec<f64>]) -> Scaler {
        let n = rows.len() as f64;
        let d = rows[0].len();
        let mean: Vec<f64> = (0..d).map(|j| rows.iter().map(|r| r[j]).sum::<f64>() / n).collect();
        let sd = (0..d)
            .map(|j| {
                let v = (rows.iter().map(|r| (r[j] - mean[j]).powi(2)).sum::<f64>() / n).sqrt();
                if v > 0.0 {
                    v
                } else {
                    1.0
                }
            })
            .collect();
        Scaler { mean, sd }
    }
    fn apply(&self, r: &[f64]) -> Vec<f64> {
        r.iter()
            .enumerate()
            .map(|(j, v)| (v - self.mean[j]) / self.sd[j])
            .collect()
    }
}

fn matrix(rows: &[Vec<f64>]) -> Result<DenseMatrix<f64>> {
    DenseMatrix::from_2d_vec(&rows.to_vec()).map_err(|e| Error::Setup(format!("map: {e}")))
}

fn svm_err(e: smartcore::error::Failed) -> Error {
    Error::Setup(format!("map: SVM training failed: {e}"))
}

/// One-vs-one RBF SVC: a binary machine per class pair, majority vote, ties to the lowest
/// class (as libsvm). smartcore's own multi-class wrapper breaks ties by hash-map order,
/// which changes from run to run.
fn classify(train: &[Vec<f64>], y: &[i32], test: &[Vec<f64>], cfg: &CvConfig) -> Result<Vec<i32>> {
    let mut classes: Vec<i32> = y.to_vec();
    classes.sort_unstable();
    classes.dedup();
    if classes.len() == 1 {
        return Ok(vec![classes[0]; test.len()]);
    }
    let xt = matrix(test)?;
    let mut votes = vec![vec![0u32; classes.len()]; test.len()];
    for a in 0..classes.len() {
        for b in a + 1..classes.len() {
            let rows: Vec<usize> = (0..y.len())
                .filter(|&i| y[i] == classes[a] || y[i] == classes[b])
                .collect();
            let x = matrix(&rows.iter().map(|&i| train[i].clone()).collect::<Vec<_>>())?;
            let yy: Vec<i32> = rows.iter().map(|&i| y[i]).collect();
            let params = SVCParameters::default()
                .with_c(cfg.c)
                .with_kernel(Kernels::rbf().with_gamma(cfg.gamma))
                .with_seed(Some(cfg.seed));
            let model = SVC::fit(&x, &yy, &params).map_err(svm_err)?;
            for (t, p) in model.predict(&xt).map_err(svm_err)?.into_iter().enumerate() {
                let winner = if p.round() as i32 == classes[a] { a } else { b };
                votes[t][winner] += 1;
            }
        }
    }
    Ok(votes
        .iter()
        .map(|v| {
            let best = *v.iter().max().expect("classes");
            classes[v.iter().position(|&c| c == best).expect("a maximum")]
        })
        .collect())
}

fn regress(train: &[Vec<f64>], y: &[f64], test: &[Vec<f64>], cfg: &CvConfig) -> Result<Vec<f64>> {
    let n = y.len() as f64;
    let mean = y.iter().sum::<f64>() / n;
    let sd = (y.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / n)
        .sqrt()
        .max(f64::MIN_POSITIVE);
    let ys: Vec<f64> = y.iter().map(|v| (v - mean) / sd).collect();
    let x = matrix(train)?;
    let xt = matrix(test)?;
    let params = SVRParameters::default()
        .with_c(cfg.c)
        .with_eps(cfg.epsilon)
        .with_kernel(Kernels::rbf().with_gamma(cfg.gamma));
    let model = SVR::fit(&x, &ys, &params).map_err(svm_err)?;
    Ok(model
        .predict(&xt)
        .map_err(svm_err)?
        .into_iter()
        .map(|v| mean + sd * v)
        .collect())
}

fn class_metrics(truth: &[i32], pred: &[i32], edges: [f64; 2]) -> ClassMetrics {
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

fn regression_metrics(truth: &[f64], pred: &[f64]) -> RegressionMetrics {
    let n = truth.len() as f64;
    let mean = truth.iter().sum::<f64>() / n;
    let ss_res: f64 = truth.iter().zip(pred).map(|(t, p)| (t - p).powi(2)).sum();
    let ss_tot: f64 = truth.iter().map(|t| (t - mean).powi(2)).sum();
    RegressionMetrics {
        mae: truth.iter().zip(pred).map(|(t, p)| (t - p).abs()).sum::<f64>() / n,
        r2: 1.0 - ss_res / ss_tot,
    }
}

/// Terciles of `v`.
fn terciles(v: &[f64]) -> [f64; 2] {
    let mut s = v.to_vec();
    s.sort_by(f64::total_cmp);
    [s[s.len() / 3], s[2 * s.len() / 3]]
}

/// Out-of-fold predictions for every row, then metrics over all rows.
pub fn cross_validate(data: &[Electrode], folds: &[usize], cfg: &CvConfig, with_gap: bool) -> Result<CvReport> {
    let k = cfg.folds;
    if k < 2 {
        return Err(Error::Setup("cross-validation needs at least 2 folds".into()));
    }
    let x: Vec<Vec<f64>> = data.iter().map(|e| features(e, with_gap)).collect();
    let ml: Vec<f64> = data.iter().map(|e| e.mass_loading_mg_cm2).collect();
    let por: Vec<f64> = data.iter().map(|e| e.porosity_percent).collect();
    let por_edges = cfg.porosity_edges.unwrap_or_else(|| terciles(&por));
    let ml_class: Vec<i32> = ml.iter().map(|&v| class_of(v, cfg.mass_loading_edges)).collect();
    let por_class: Vec<i32> = por.iter().map(|&v| class_of(v, por_edges)).collect();
    let n = data.len();
    let (mut p_mlc, mut p_pc) = (vec![0i32; n], vec![0i32; n]);
    let (mut p_ml, mut p_por) = (vec![0.0; n], vec![0.0; n]);
    for f in 0..k {
        let train: Vec<usize> = (0..n).filter(|&i| folds[i] != f).collect();
        let test: Vec<usize> = (0..n).filter(|&i| folds[i] == f).collect();
        if test.is_empty() || train.is_empty() {
            return Err(Error::Setup(format!("fold {f} is empty: fewer slurries than folds")));
        }
        let scaler = Scaler::fit(&train.iter().map(|&i| x[i].clone()).collect::<Vec<_>>());
        let xtr: Vec<Vec<f64>> = train.iter().map(|&i| scaler.apply(&x[i])).collect();
        let xte: Vec<Vec<f64>> = test.iter().map(|&i| scaler.apply(&x[i])).collect();
        let pick_i = |v: &[i32]| train.iter().map(|&i| v[i]).collect::<Vec<_>>();
        let pick_f = |v: &[f64]| train.iter().map(|&i| v[i]).collect::<Vec<_>>();
        let a = classify(&xtr, &pick_i(&ml_class), &xte, cfg)?;
        let b = classify(&xtr, &pick_i(&por_class), &xte, cfg)?;
        let c = regress(&xtr, &pick_f(&ml), &xte, cfg)?;
        let d = regress(&xtr, &pick_f(&por), &xte, cfg)?;
        for (t, &i) in test.iter().enumerate() {
            (p_mlc[i], p_pc[i], p_ml[i], p_por[i]) = (a[t], b[t], c[t], d[t]);
        }
    }
    let mut slurries: Vec<(u64, u64)> = data.iter().map(|e| e.slurry()).collect();
    slurries.sort_unstable();
    slurries.dedup();
    let mut names = vec!["am[wt%]", "stol[%]", "viscosity[Pa s]"];
    if with_gap {
        names.push("gap[um]");
    }
    Ok(CvReport {
        features: names,
        folds: k,
        rows: n,
        slurries: slurries.len(),
        mass_loading_class: class_metrics(&ml_class, &p_mlc, cfg.mass_loading_edges),
        porosity_class: class_metrics(&por_class, &p_pc, por_edges),
        mass_loading: regression_metrics(&ml, &p_ml),
        porosity: regression_metrics(&por, &p_por),
    })
}
