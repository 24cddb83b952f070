//! The cheap benchmark problem: a smooth regression of the reference's real LAMMPS
//! evaluations (its 456-row PSO log and 220 DNN training rows) stands in for the simulator,
//! so optimizers can be compared over many seeds in seconds.
//!
//! Inputs: the 7 free parameters (ε_AM, w_σ, ε'_CB, ρ_CBD, K_n, γ_n, x_u; d_CBD is fixed at
//! 6.2 µm in both files), scaled to [0, 1] by the reference's bounds. Outputs: density
//! [g/cm³] and ln η₁₈, ln η₁₂₅ [Pa·s]. Model: Gaussian-kernel ridge regression per output,
//! length scale and ridge chosen on a held-out tenth (seeded), then refitted on all rows.
//! The DNN rows are stored divided by the reference targets (2.24 g/cm³, 6.2 and 2.2 Pa·s:
//! their shared rows with the PSO log match to 4 digits), and are scaled back.

use std::collections::BTreeMap;
use std::path::Path;

use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::Serialize;

use crate::error::{Error, Result};
use crate::fit::objective::{CostKind, Evaluation, Objective, Observed, Simulator, Targets};
use crate::fit::pso::Pso;
use crate::fit::swarm::{Assist, SwarmFit};
use crate::map::dataset::read_columns;

/// The reference's targets: density [g/cm³], η at 18 and 125 1/s [Pa·s].
pub const REFERENCE_TARGETS: [f64; 3] = [2.24, 6.2, 2.2];

/// One LAMMPS evaluation: parameters and (density, η₁₈, η₁₂₅).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LammpsRun {
    pub params: [f64; 7],
    pub observables: [f64; 3],
}

/// The reference's marks of a failed LAMMPS run: density 100, viscosities 1e6 mPa·s.
fn failed(e: &LammpsRun) -> bool {
    e.observables[0] >= 100.0 || e.observables[1] >= 1e3 || e.observables[2] >= 1e3
}

/// Reads both files of `lombardo2020_pso_ff/`: the evaluations (identical parameter sets
/// kept once) and how many rows were failed runs (left out).
pub fn load_reference(dir: &Path) -> Result<(Vec<LammpsRun>, usize)> {
    let read = |name: &str, cols: &[(&str, &str)]| -> Result<Vec<Vec<f64>>> {
        let path = dir.join(name);
        let src = std::fs::read_to_string(&path).map_err(|e| Error::io(&path, e))?;
        read_columns(&src, &path.display().to_string(), cols)
    };
    let log = read(
        "results_0_example.csv",
        &[
            ("Epsiam", "Epsiam"),
            ("Sigma", "Sigma"),
            ("Epsicb", "Epsicb"),
            ("RhoCBD", "RhoCBD"),
            ("Kn", "Kn"),
            ("Gamma", "Gamma"),
            ("Xu", "Xu"),
            ("density", "density"),
            ("viscosity1", "viscosity1"),
            ("viscosity2", "viscosity2"),
        ],
    )?;
    let dnn = read(
        "ML_data_sets.csv",
        &[
            ("Epsi_AM", "Epsi_AM"),
            ("Sigma_AM", "Sigma_AM"),
            ("Epsi_CBD", "Epsi_CBD"),
            ("Rho_CBD", "Rho_CBD"),
            ("Kn", "Kn"),
            ("Gamman", "Gamman"),
            ("Xu", "Xu"),
            ("slurry_density", "slurry_density"),
            ("visco1(18)", "visco1(18)"),
            ("visco2(125)", "visco2(125)"),
        ],
    )?;
    let mut out: Vec<LammpsRun> = Vec::new();
    let mut failures = 0;
    let rows = log
        .iter()
        // mPa·s → Pa·s.
        .map(|r| (r, [1.0, 1e-3, 1e-3]))
        .chain(dnn.iter().map(|r| (r, REFERENCE_TARGETS)));
    for (r, scale) in rows {
        let e = LammpsRun {
            params: std::array::from_fn(|k| r[k]),
            observables: std::array::from_fn(|k| r[7 + k] * scale[k]),
        };
        if failed(&e) {
            failures += 1;
        } else if !out.iter().any(|o| o.params == e.params) {
            out.push(e);
        }
    }
    Ok((out, failures))
}

/// The reference's names of the 7 free parameters in its `NAME = value` files.
const FILE_KEYS: [&str; 7] = ["EPSIAM", "SIGMA", "EPSICB", "RHOCBD", "KN", "GAMMA", "XU"];

/// The 7 values `FILE_KEYS` + `suffix` of a `NAME = value` file in `dir`.
fn read_keyed(dir: &Path, file: &str, suffix: &str) -> Result<[f64; 7]> {
    let path = dir.join(file);
    let src = std::fs::read_to_string(&path).map_err(|e| Error::io(&path, e))?;
    let mut x = [0.0; 7];
    for (v, key) in x.iter_mut().zip(FILE_KEYS) {
        let key = format!("{key}{suffix}");
        *v = src
            .lines()
            .filter_map(|l| l.split_once('='))
            .find(|(n, _)| n.trim() == key)
            .and_then(|(_, v)| v.trim().parse().ok())
            .ok_or_else(|| Error::Setup(format!("{}: no number for {key}", path.display())))?;
    }
    Ok(x)
}

/// Reads `paramlrcs_bounds.txt` (`NAME_MIN = v`, `NAME_MAX = v`): (lower, upper).
pub fn load_bounds(dir: &Path) -> Result<([f64; 7], [f64; 7])> {
    Ok((
        read_keyed(dir, "paramlrcs_bounds.txt", "_MIN")?,
        read_keyed(dir, "paramlrcs_bounds.txt", "_MAX")?,
    ))
}

/// Reads `particle0_parameter.txt`: the human start point.
pub fn load_start(dir: &Path) -> Result<[f64; 7]> {
    read_keyed(dir, "particle0_parameter.txt", "")
}

/// Gaussian-kernel ridge regression of one output on inputs in [0, 1]⁷.
#[derive(Debug, Clone)]
struct Kernel {
    x: Vec<[f64; 7]>,
    alpha: Vec<f64>,
    mean: f64,
    length: f64,
}

fn gauss(a: &[f64; 7], b: &[f64; 7], length: f64) -> f64 {
    let d2: f64 = a.iter().zip(b).map(|(p, q)| (p - q) * (p - q)).sum();
    (-0.5 * d2 / (length * length)).exp()
}

/// Solves the symmetric positive definite system `a x = b` (Cholesky); `None` if not SPD.
fn cholesky_solve(mut a: Vec<f64>, n: usize, b: &[f64]) -> Option<Vec<f64>> {
    for j in 0..n {
        let mut d = a[j * n + j];
        for k in 0..j {
            d -= a[j * n + k] * a[j * n + k];
        }
        if d <= 0.0 {
            return None;
        }
        let d = d.sqrt();
        a[j * n + j] = d;
        for i in j + 1..n {
            let mut s = a[i * n + j];
            for k in 0..j {
                s -= a[i * n + k] * a[j * n + k];
            }
            a[i * n + j] = s / d;
        }
    }
    let mut y = b.to_vec();
    for i in 0..n {
        for k in 0..i {
            y[i] -= a[i * n + k] * y[k];
        }
        y[i] /= a[i * n + i];
    }
    for i in (0..n).rev() {
        for k in i + 1..n {
            y[i] -= a[k * n + i] * y[k];
        }
        y[i] /= a[i * n + i];
    }
    Some(y)
}

impl Kernel {
    fn fit(x: &[[f64; 7]], y: &[f64], length: f64, ridge: f64) -> Option<Kernel> {
        let n = x.len();
        let mean = y.iter().sum::<f64>() / n as f64;
        let mut a = vec![0.0; n * n];
        for i in 0..n {
            for j in 0..n {
                a[i * n + j] = gauss(&x[i], &x[j], length) + if i == j { ridge } else { 0.0 };
            }
        }
        let centred: Vec<f64> = y.iter().map(|v| v - mean).collect();
        let alpha = cholesky_solve(a, n, &centred)?;
        Some(Kernel {
            x: x.to_vec(),
            alpha,
            mean,
            length,
        })
    }

    fn predict(&self, q: &[f64; 7]) -> f64 {
        self.mean
            + self
                .x
                .iter()
                .zip(&self.alpha)
                .map(|(x, a)| a * gauss(x, q, self.length))
                .sum::<f64>()
    }
}

/// The stand-in simulator: parameters → (density [g/cm³], η₁₈, η₁₂₅ [Pa·s]).
#[derive(Debug, Clone)]
pub struct Surface {
    lower: [f64; 7],
    upper: [f64; 7],
    models: Vec<Kernel>,
    /// Held-out mean absolute relative error per observable [-], and the settings chosen.
    pub held_out_mare: [f64; 3],
    pub length: f64,
    pub ridge: f64,
    pub rows: usize,
}

#[derive(Debug, Clone, Serialize)]
pub struct SurfaceReport {
    pub rows: usize,
    pub length_scale: f64,
    pub ridge: f64,
    /// Held-out mean absolute relative error of density, η₁₈, η₁₂₅ [-].
    pub held_out_mare: [f64; 3],
}

impl Surface {
    fn scale(lower: &[f64; 7], upper: &[f64; 7], p: &[f64]) -> [f64; 7] {
        std::array::from_fn(|k| (p[k] - lower[k]) / (upper[k] - lower[k]))
    }

    fn targets(e: &LammpsRun) -> [f64; 3] {
        [e.observables[0], e.observables[1].ln(), e.observables[2].ln()]
    }

    fn fit_all(x: &[[f64; 7]], y: &[[f64; 3]], length: f64, ridge: f64) -> Option<Vec<Kernel>> {
        (0..3)
            .map(|o| Kernel::fit(x, &y.iter().map(|t| t[o]).collect::<Vec<_>>(), length, ridge))
            .collect()
    }

    /// Fits on `evals`; the settings come from a seeded 90/10 split.
    pub fn fit(evals: &[LammpsRun], lower: [f64; 7], upper: [f64; 7], seed: u64) -> Result<Surface> {
        if evals.len() < 20 {
            return Err(Error::Setup(format!(
                "benchmark: {} evaluations are too few to fit",
                evals.len()
            )));
        }
        let x: Vec<[f64; 7]> = evals.iter().map(|e| Self::scale(&lower, &upper, &e.params)).collect();
        let y: Vec<[f64; 3]> = evals.iter().map(Self::targets).collect();
        let mut order: Vec<usize> = (0..evals.len()).collect();
        order.shuffle(&mut ChaCha8Rng::seed_from_u64(seed));
        let cut = evals.len() / 10;
        let (test, train) = order.split_at(cut);
        let pick = |idx: &[usize]| -> (Vec<[f64; 7]>, Vec<[f64; 3]>) {
            (idx.iter().map(|&i| x[i]).collect(), idx.iter().map(|&i| y[i]).collect())
        };
        let (xt, yt) = pick(train);
        let mut best: Option<(f64, f64, f64, [f64; 3])> = None;
        for length in [0.1, 0.15, 0.2, 0.3, 0.45, 0.7, 1.0] {
            for ridge in [1e-3, 1e-2, 1e-1, 1.0] {
                let Some(models) = Self::fit_all(&xt, &yt, length, ridge) else {
                    continue;
                };
                let mut err = [0.0; 3];
                for &i in test {
                    let truth = evals[i].observables;
                    let pred = Self::observe(&models, &x[i]);
                    for o in 0..3 {
                        err[o] += ((pred[o] - truth[o]) / truth[o]).abs() / test.len() as f64;
                    }
                }
                let score = err.iter().sum::<f64>();
                if best.is_none_or(|b| score < b.0) {
                    best = Some((score, length, ridge, err));
                }
            }
        }
        let (_, length, ridge, held_out_mare) =
            best.ok_or_else(|| Error::Setup("benchmark: no kernel setting gave a solvable system".into()))?;
        let models = Self::fit_all(&x, &y, length, ridge)
            .ok_or_else(|| Error::Setup("benchmark: the kernel system on all rows is singular".into()))?;
        Ok(Surface {
            lower,
            upper,
            models,
            held_out_mare,
            length,
            ridge,
            rows: evals.len(),
        })
    }

    fn observe(models: &[Kernel], q: &[f64; 7]) -> [f64; 3] {
        [
            models[0].predict(q),
            models[1].predict(q).exp(),
            models[2].predict(q).exp(),
        ]
    }

    /// (density [g/cm³], η₁₈, η₁₂₅ [Pa·s]) at parameters `p` (model order).
    pub fn predict(&self, p: &[f64]) -> [f64; 3] {
        Self::observe(&self.models, &Self::scale(&self.lower, &self.upper, p))
    }

    pub fn report(&self) -> SurfaceReport {
        SurfaceReport {
            rows: self.rows,
            length_scale: self.length,
            ridge: self.ridge,
            held_out_mare: self.held_out_mare,
        }
    }
}

/// The reference's cost against `targets`: the mean of squared relative errors.
fn reference_cost(targets: [f64; 3]) -> Targets {
    Targets {
        values: targets.to_vec(),
        uncertainty: vec![1.0; 3],
        kind: CostKind::MeanSquaredRelative,
    }
}

impl Simulator for &Surface {
    fn observe(&self, x: &[f64]) -> std::result::Result<Observed, String> {
        Ok(Observed {
            values: self.predict(x).to_vec(),
            stderr: vec![0.0; 3],
        })
    }
}

/// How a swarm starts and moves.
#[derive(Debug, Clone, PartialEq)]
pub enum Variant {
    /// Every member at random in the bounds.
    Plain,
    /// One member at the given point (the reference's human start).
    HumanSeeded([f64; 7]),
    /// Members at the best points of an earlier plain run of `prior_calls` calls (another
    /// seed); only the new run's calls count.
    WarmStarted { prior_calls: usize },
    /// Forward screening and inverse placement by the neural surrogates.
    SurrogateAssisted(Assist),
}

impl Variant {
    pub fn name(&self) -> &'static str {
        match self {
            Variant::Plain => "pso",
            Variant::HumanSeeded(_) => "pso_human_seeded",
            Variant::WarmStarted { .. } => "pso_warm_started",
            Variant::SurrogateAssisted(_) => "pso_surrogate",
        }
    }
}

fn setup(e: impl std::fmt::Display) -> Error {
    Error::Setup(format!("benchmark run: {e}"))
}

/// Every simulator call of one run, in call order (members one after another). The run
/// stops at the budget or once the cost reaches `stop_at`.
pub fn run_variant(
    surface: &Surface,
    targets: [f64; 3],
    variant: &Variant,
    seed: u64,
    budget: usize,
    stop_at: f64,
) -> Result<Vec<Evaluation>> {
    let mut pso = Pso::new(surface.lower.to_vec(), surface.upper.to_vec(), seed).map_err(setup)?;
    let mut assist = None;
    match variant {
        Variant::Plain => {}
        Variant::HumanSeeded(p) => pso = pso.with_starts(vec![p.to_vec()]).map_err(setup)?,
        Variant::WarmStarted { prior_calls } => {
            let prior = run_variant(surface, targets, &Variant::Plain, seed ^ 0x5EED, *prior_calls, 0.0)?;
            let n = pso.swarm_size;
            pso = pso.with_starts(best_points(&prior, n)).map_err(setup)?;
        }
        Variant::SurrogateAssisted(a) => assist = Some(a.clone()),
    }
    let mut objective = Objective::new(surface, reference_cost(targets));
    objective.parallel = false;
    let iters = (budget / pso.swarm_size).saturating_sub(1) as u64;
    let result = argmin::core::Executor::new(objective, SwarmFit::new(pso, assist, seed))
        .configure(|s| s.max_iters(iters).target_cost(stop_at))
        .run()
        .map_err(setup)?;
    let mut calls = result.problem.problem.map(|o| o.calls()).unwrap_or_default();
    calls.truncate(budget);
    Ok(calls)
}

/// The `n` lowest-cost distinct points of a run, best first.
pub fn best_points(calls: &[Evaluation], n: usize) -> Vec<Vec<f64>> {
    let mut sorted: Vec<&Evaluation> = calls.iter().collect();
    sorted.sort_by(|a, b| a.cost.total_cmp(&b.cost).then(a.call.cmp(&b.call)));
    sorted.into_iter().take(n).map(|e| e.x.clone()).collect()
}

/// What one run shows: the calls it needed to reach each threshold (None: not within
/// the budget), and which proposer found each new best.
#[derive(Debug, Clone, PartialEq)]
pub struct RunSummary {
    pub calls_to: Vec<Option<usize>>,
    pub new_bests: BTreeMap<String, usize>,
}

/// The proposers of the calls that lowered the best cost.
pub fn new_bests(calls: &[Evaluation]) -> BTreeMap<String, usize> {
    let mut best = f64::INFINITY;
    let mut out = BTreeMap::new();
    for c in calls {
        if c.cost < best {
            best = c.cost;
            *out.entry(c.proposer.name().to_string()).or_default() += 1;
        }
    }
    out
}

pub fn calls_to_reach(
    surface: &Surface,
    targets: [f64; 3],
    variant: &Variant,
    seed: u64,
    budget: usize,
    thresholds: &[f64],
) -> Result<RunSummary> {
    let stop = thresholds.iter().copied().fold(f64::INFINITY, f64::min);
    let calls = run_variant(surface, targets, variant, seed, budget, stop)?;
    Ok(RunSummary {
        calls_to: thresholds
            .iter()
            .map(|t| calls.iter().position(|c| c.cost <= *t).map(|i| i + 1))
            .collect(),
        new_bests: new_bests(&calls),
    })
}
/// Median and quartiles of the calls of the runs that reached, and how many did.
#[derive(Debug, Clone, Serialize)]
pub struct Reach {
    pub median: Option<f64>,
    pub p25: Option<f64>,
    pub p75: Option<f64>,
    pub reached: usize,
    pub runs: usize,
}

impl Reach {
    /// Runs that did not reach count as beyond the budget: the median is None once half
    /// of them failed.
    pub fn of(calls: &[Option<usize>]) -> Reach {
        if calls.is_empty() {
            return Reach {
                median: None,
                p25: None,
                p75: None,
                reached: 0,
                runs: 0,
            };
        }
        let mut v: Vec<f64> = calls.iter().map(|c| c.map_or(f64::INFINITY, |c| c as f64)).collect();
        v.sort_by(f64::total_cmp);
        let q = |p: f64| {
            let x = v[((p * (v.len() - 1) as f64).round() as usize).min(v.len() - 1)];
            x.is_finite().then_some(x)
        };
        Reach {
            median: q(0.5),
            p25: q(0.25),
            p75: q(0.75),
            reached: calls.iter().filter(|c| c.is_some()).count(),
            runs: calls.len(),
        }
    }
}
