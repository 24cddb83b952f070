//! RBF support-vector machines: C-SVC and ε-SVR trained by SMO on libsvm's dual
//! formulation with second-order working-set selection (Fan, Chen & Lin, JMLR 6, 2005).
//!
//! Written here rather than taken from smartcore: on the map's 656 electrodes smartcore's
//! SVC/SVR took about 5 s for what libsvm (scikit-learn) does in 0.3 s, and its multi-class
//! vote broke ties by hash-map order. `tests/map.rs` checks this solver against smartcore's
//! on the same problems and `tests/sklearn_compare.py` against libsvm.
//!
//! The dual: min ½ αᵀQα + pᵀα subject to yᵀα = 0, 0 ≤ α ≤ C, with Q_ij = y_i y_j K_ij.
//! SVC: y = labels (±1), p = −1. SVR: 2n variables (α, α*), y = (+1…, −1…), p = (ε − z, ε + z).

use serde::{Deserialize, Serialize};

/// exp(−γ |a − b|²)
pub fn rbf(a: &[f64], b: &[f64], gamma: f64) -> f64 {
    let d2: f64 = a.iter().zip(b).map(|(x, y)| (x - y) * (x - y)).sum();
    (-gamma * d2).exp()
}

/// The kernel matrix of a training set, row-major n × n.
pub struct Gram {
    n: usize,
    k: Vec<f64>,
}

impl Gram {
    pub fn rbf(x: &[Vec<f64>], gamma: f64) -> Gram {
        let n = x.len();
        let mut k = vec![1.0; n * n];
        for i in 0..n {
            for j in 0..i {
                let v = rbf(&x[i], &x[j], gamma);
                k[i * n + j] = v;
                k[j * n + i] = v;
            }
        }
        Gram { n, k }
    }

    pub fn len(&self) -> usize {
        self.n
    }

    pub fn is_empty(&self) -> bool {
        self.n == 0
    }

    /// The kernel matrix of the rows `idx` (in that order).
    pub fn subset(&self, idx: &[usize]) -> Gram {
        let n = idx.len();
        let mut k = Vec::with_capacity(n * n);
        for &i in idx {
            k.extend(idx.iter().map(|&j| self.k[i * self.n + j]));
        }
        Gram { n, k }
    }

    fn at(&self, i: usize, j: usize) -> f64 {
        self.k[i * self.n + j]
    }
}

/// SMO stopping rule and cap.
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
pub struct SmoSettings {
    /// Stop when the maximal KKT violation (libsvm's m(α) − M(α)) is below this [-].
    pub tol: f64,
    /// Iteration cap; reaching it is reported, not hidden.
    pub max_iter: usize,
}

impl Default for SmoSettings {
    fn default() -> Self {
        SmoSettings {
            tol: 1e-3,
            max_iter: 10_000_000,
        }
    }
}

/// A trained machine over its training rows: f(x) = Σ coef_i K(x_i, x) − rho.
#[derive(Debug, Clone)]
pub struct Machine {
    /// One coefficient per training row (zero for non-support rows).
    pub coef: Vec<f64>,
    pub rho: f64,
    pub iterations: usize,
    pub converged: bool,
}

impl Machine {
    /// f(x) from the kernel values between x and every training row.
    pub fn decision(&self, k_row: &[f64]) -> f64 {
        self.coef.iter().zip(k_row).map(|(c, k)| c * k).sum::<f64>() - self.rho
    }

    /// The support vectors only, for storing.
    pub fn expansion(&self, x: &[Vec<f64>], gamma: f64) -> Expansion {
        let sv: Vec<usize> = (0..self.coef.len()).filter(|&i| self.coef[i] != 0.0).collect();
        Expansion {
            gamma,
            support: sv.iter().map(|&i| x[i].clone()).collect(),
            coef: sv.iter().map(|&i| self.coef[i]).collect(),
            rho: self.rho,
        }
    }
}

/// A stored machine: support vectors (standardised inputs) and their coefficients.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Expansion {
    pub gamma: f64,
    pub support: Vec<Vec<f64>>,
    pub coef: Vec<f64>,
    pub rho: f64,
}

impl Expansion {
    pub fn decision(&self, x: &[f64]) -> f64 {
        self.support
            .iter()
            .zip(&self.coef)
            .map(|(s, c)| c * rbf(s, x, self.gamma))
            .sum::<f64>()
            - self.rho
    }
}

/// Binary C-SVC; `positive[i]` is the label of row i.
pub fn train_svc(gram: &Gram, positive: &[bool], c: f64, s: &SmoSettings) -> Machine {
    let y: Vec<f64> = positive.iter().map(|&p| if p { 1.0 } else { -1.0 }).collect();
    let p = vec![-1.0; y.len()];
    let (alpha, rho, iterations, converged) = solve(gram, &y, &p, c, s);
    Machine {
        coef: alpha.iter().zip(&y).map(|(a, y)| a * y).collect(),
        rho,
        iterations,
        converged,
    }
}

/// ε-SVR on targets `z`.
pub fn train_svr(gram: &Gram, z: &[f64], c: f64, epsilon: f64, s: &SmoSettings) -> Machine {
    let n = z.len();
    let y: Vec<f64> = (0..2 * n).map(|i| if i < n { 1.0 } else { -1.0 }).collect();
    let p: Vec<f64> = (0..2 * n)
        .map(|i| if i < n { epsilon - z[i] } else { epsilon + z[i - n] })
        .collect();
    let (alpha, rho, iterations, converged) = solve(gram, &y, &p, c, s);
    Machine {
        coef: (0..n).map(|i| alpha[i] - alpha[i + n]).collect(),
        rho,
        iterations,
        converged,
    }
}

/// SMO on m = y.len() variables over an n-row Gram matrix (variable i uses row i mod n).
fn solve(gram: &Gram, y: &[f64], p: &[f64], c: f64, s: &SmoSettings) -> (Vec<f64>, f64, usize, bool) {
    const TAU: f64 = 1e-12;
    let m = y.len();
    let n = gram.len();
    let kk = |i: usize, j: usize| gram.at(i % n, j % n);
    let mut a = vec![0.0; m];
    let mut g = p.to_vec();
    let up = |a: &[f64], t: usize| if y[t] > 0.0 { a[t] < c } else { a[t] > 0.0 };
    let low = |a: &[f64], t: usize| if y[t] > 0.0 { a[t] > 0.0 } else { a[t] < c };
    let mut iterations = 0;
    let mut converged = false;
    while iterations < s.max_iter {
        // i: the most violating variable that can move up.
        let (mut gmax, mut i) = (f64::NEG_INFINITY, usize::MAX);
        for t in 0..m {
            if up(&a, t) && -y[t] * g[t] >= gmax {
                gmax = -y[t] * g[t];
                i = t;
            }
        }
        // j: the partner with the largest second-order decrease of the objective.
        let (mut gmax2, mut j, mut best) = (f64::NEG_INFINITY, usize::MAX, f64::INFINITY);
        for t in 0..m {
            if !low(&a, t) {
                continue;
            }
            gmax2 = gmax2.max(y[t] * g[t]);
            let diff = gmax + y[t] * g[t];
            if i != usize::MAX && diff > 0.0 {
                let quad = kk(i, i) + kk(t, t) - 2.0 * kk(i, t);
                let obj = -diff * diff / if quad > 0.0 { quad } else { TAU };
                if obj <= best {
                    best = obj;
                    j = t;
                }
            }
        }
        if gmax + gmax2 < s.tol || j == usize::MAX {
            converged = true;
            break;
        }
        iterations += 1;
        let (ai, aj) = (a[i], a[j]);
        let quad = (kk(i, i) + kk(j, j) - 2.0 * kk(i, j)).max(TAU);
        if y[i] != y[j] {
            let delta = (-g[i] - g[j]) / quad;
            let diff = ai - aj;
            a[i] += delta;
            a[j] += delta;
            if diff > 0.0 {
                if a[j] < 0.0 {
                    a[j] = 0.0;
                    a[i] = diff;
                }
            } else if a[i] < 0.0 {
                a[i] = 0.0;
                a[j] = -diff;
            }
            if diff > 0.0 {
                if a[i] > c {
                    a[i] = c;
                    a[j] = c - diff;
                }
            } else if a[j] > c {
                a[j] = c;
                a[i] = c + diff;
            }
        } else {
            let delta = (g[i] - g[j]) / quad;
            let sum = ai + aj;
            a[i] -= delta;
            a[j] += delta;
            if sum > c {
                if a[i] > c {
                    a[i] = c;
                    a[j] = sum - c;
                }
            } else if a[j] < 0.0 {
                a[j] = 0.0;
                a[i] = sum;
            }
            if sum > c {
                if a[j] > c {
                    a[j] = c;
                    a[i] = sum - c;
                }
            } else if a[i] < 0.0 {
                a[i] = 0.0;
                a[j] = sum;
            }
        }
        let (di, dj) = (a[i] - ai, a[j] - aj);
        let (yi, yj) = (y[i] * di, y[j] * dj);
        for t in 0..m {
            g[t] += y[t] * (yi * kk(t, i) + yj * kk(t, j));
        }
    }
    (a.clone(), bias(&a, &g, y, c), iterations, converged)
}

/// rho: the mean of y_t G_t over free variables, else the middle of the feasible interval.
fn bias(a: &[f64], g: &[f64], y: &[f64], c: f64) -> f64 {
    let (mut ub, mut lb, mut sum, mut free) = (f64::INFINITY, f64::NEG_INFINITY, 0.0, 0);
    for t in 0..a.len() {
        let yg = y[t] * g[t];
        let at_upper = a[t] >= c;
        let at_lower = a[t] <= 0.0;
        if (at_upper && y[t] < 0.0) || (at_lower && y[t] > 0.0) {
            ub = ub.min(yg);
        } else if at_upper || at_lower {
            lb = lb.max(yg);
        } else {
            free += 1;
            sum += yg;
        }
    }
    if free > 0 {
        sum / free as f64
    } else {
        (ub + lb) / 2.0
    }
}

/// Standardisation fitted on a training set (population standard deviation, as
/// scikit-learn's `StandardScaler`); a constant column is left unscaled.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Scaler {
    pub mean: Vec<f64>,
    pub sd: Vec<f64>,
}

impl Scaler {
    pub fn fit(rows: &[Vec<f64>]) -> Scaler {
        let n = rows.len() as f64;
        let d = rows.first().map_or(0, Vec::len);
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

    pub fn apply(&self, r: &[f64]) -> Vec<f64> {
        r.iter()
            .enumerate()
            .map(|(j, v)| (v - self.mean[j]) / self.sd[j])
            .collect()
    }
}

/// One-vs-one multi-class vote over binary machines, classes sorted ascending. Ties go to
/// the lowest class, as in libsvm.
#[derive(Debug, Clone)]
pub struct OneVsOne {
    pub classes: Vec<i32>,
    /// (index of class a, index of class b, machine: f > 0 votes for a).
    pub machines: Vec<(usize, usize, Machine)>,
}

impl OneVsOne {
    pub fn train(gram: &Gram, labels: &[i32], c: f64, s: &SmoSettings) -> OneVsOne {
        let mut classes = labels.to_vec();
        classes.sort_unstable();
        classes.dedup();
        let mut machines = Vec::new();
        for a in 0..classes.len() {
            for b in a + 1..classes.len() {
                let rows: Vec<usize> = (0..labels.len())
                    .filter(|&i| labels[i] == classes[a] || labels[i] == classes[b])
                    .collect();
                let positive: Vec<bool> = rows.iter().map(|&i| labels[i] == classes[a]).collect();
                let sub = train_svc(&gram.subset(&rows), &positive, c, s);
                let mut coef = vec![0.0; labels.len()];
                for (r, &i) in rows.iter().enumerate() {
                    coef[i] = sub.coef[r];
                }
                machines.push((a, b, Machine { coef, ..sub }));
            }
        }
        OneVsOne { classes, machines }
    }

    /// The winning class from the kernel row of one point.
    pub fn predict(&self, k_row: &[f64]) -> i32 {
        vote(
            &self.classes,
            self.machines.iter().map(|(a, b, m)| (*a, *b, m.decision(k_row))),
        )
    }

    pub fn converged(&self) -> bool {
        self.machines.iter().all(|(_, _, m)| m.converged)
    }
}

/// The class with most pairwise wins; `decisions` yields (a, b, f) with f > 0 a win for a.
pub fn vote(classes: &[i32], decisions: impl Iterator<Item = (usize, usize, f64)>) -> i32 {
    if classes.len() == 1 {
        return classes[0];
    }
    let mut votes = vec![0u32; classes.len()];
    for (a, b, f) in decisions {
        votes[if f > 0.0 { a } else { b }] += 1;
    }
    let best = *votes.iter().max().expect("classes");
    classes[votes.iter().position(|&v| v == best).expect("a maximum")]
}

/// Kernel rows between `points` and the training rows `train`.
pub fn cross_kernel(points: &[Vec<f64>], train: &[Vec<f64>], gamma: f64) -> Vec<Vec<f64>> {
    points
        .iter()
        .map(|p| train.iter().map(|t| rbf(p, t, gamma)).collect())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn separable_points_are_classified_with_margin_one() {
        let x: Vec<Vec<f64>> = vec![vec![-2.0], vec![-1.0], vec![1.0], vec![2.0]];
        let pos = [false, false, true, true];
        let gram = Gram::rbf(&x, 0.5);
        let m = train_svc(&gram, &pos, 1e3, &SmoSettings::default());
        assert!(m.converged);
        let k = cross_kernel(&x, &x, 0.5);
        for (row, &p) in k.iter().zip(&pos) {
            let f = m.decision(row);
            assert_eq!(f > 0.0, p);
            // Hard margin: support vectors sit on |f| = 1 (within the tolerance).
            assert!(f.abs() > 1.0 - 2e-3, "{f}");
        }
        // Σ y α = 0
        assert!(m.coef.iter().sum::<f64>().abs() < 1e-12);
    }

    #[test]
    fn svr_fits_inside_the_tube() {
        let x: Vec<Vec<f64>> = (0..30).map(|i| vec![i as f64 / 10.0 - 1.5]).collect();
        let z: Vec<f64> = x.iter().map(|v| v[0].sin()).collect();
        let gram = Gram::rbf(&x, 1.0);
        let m = train_svr(&gram, &z, 100.0, 0.05, &SmoSettings::default());
        assert!(m.converged);
        for (row, zi) in cross_kernel(&x, &x, 1.0).iter().zip(&z) {
            assert!((m.decision(row) - zi).abs() < 0.05 + 2e-3);
        }
        let e = m.expansion(&x, 1.0);
        assert!((e.decision(&[0.3]) - m.decision(&cross_kernel(&[vec![0.3]], &x, 1.0)[0])).abs() < 1e-12);
    }
}
