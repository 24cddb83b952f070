//! Whether the velocity-Verlet step can follow the present contacts.
//!
//! Linearised about the present state, the normal contact forces are −K x − C v, with K and
//! C sums over contacts of k n nᵀ and c n nᵀ acting on the two spheres' relative motion.
//! Forces are computed from the positions and half-step velocities (as in LAMMPS), and a
//! mode x_n ∝ zⁿ of the step obeys (z − 1)² M x + dt (z − 1) C x + dt² z K x = 0. At z = −1
//! this reads (dt² K + 2 dt C) x = 4 M x. Once the largest eigenvalue of
//! M^{-1/2} (dt² K + 2 dt C) M^{-1/2} passes 4, a mode that flips sign every step grows: the
//! quadratic form is indefinite at z = −1 and definite as z → −∞, so a real root z < −1
//! lies between.
//!
//! The reference slurry model gets there at large γ_n: a CBD bead touches 20–30 others,
//! with γ_n h dt ≈ 0.1–0.2 each. The oscillation then grows until the overlaps it opens
//! bring the eigenvalue back to about 4, and it stays. Forces are a hundred times the
//! physical ones and the stresses meaningless, but every number is finite.
//!
//! [`period_two_number`] is that eigenvalue over 4, estimated by Lanczos iteration. A Ritz
//! value is never above the eigenvalue. Wall contacts are in, as springs and dashpots tied
//! to a body of infinite mass. Tangential springs and damping, which it leaves out, could
//! only raise it; a negative stiffness (cohesion) is kept in. Pair potentials are left out
//! as well: their stiffness over the masses is orders of magnitude below the limit. So a
//! number above 1 means the step is unstable.

use crate::error::{Error, Result};
use crate::sim::forcefield::ContactRates;
use crate::sim::system::System;

/// Lanczos steps. On a 476-sphere slurry (13,400 contacts), 40 steps gave the same
/// eigenvalue as 80 to 0.1 %, where 200 power iterations were still 0.3 % short.
const LANCZOS_STEPS: usize = 40;

/// How often stage runners check [`period_two_number`] [steps]. Once past 1 the number
/// stays there (module doc), so a sparse check still catches it. One check costs about
/// ten steps of the system (3.3 ms on 476 spheres with 13,400 contacts, where a step takes
/// 0.36 ms), so about 1 % at this interval.
pub const CHECK_EVERY: u64 = 1000;

/// One contact of the linearised operator: spheres `i`, `j` (a wall contact: `i` alone),
/// unit normal, dt²k + 2dt·c.
struct Link {
    i: u32,
    j: u32,
    normal: [f64; 3],
    weight: f64,
}

/// The largest eigenvalue of M^{-1/2} (dt² K + 2 dt C) M^{-1/2} over 4 (module doc): above
/// 1, the step is unstable. 0 without contacts.
pub fn period_two_number(sys: &System) -> f64 {
    let dt = sys.settings.dt;
    let p = &sys.particles;
    let link = |i: usize, j: usize, normal: [f64; 3], rates: ContactRates| {
        let weight = dt * dt * rates.stiffness + 2.0 * dt * rates.damping;
        // Negative with cohesion: it lowers the eigenvalue, so it stays in.
        (weight != 0.0).then_some(Link {
            i: i as u32,
            j: j as u32,
            normal,
            weight,
        })
    };
    let mut links = Vec::new();
    sys.each_contact(|i, j, normal, rates| links.extend(link(i, j, normal, rates)));
    // A wall is a body of infinite mass: its contacts act on the sphere alone.
    let mut anchors = Vec::new();
    for wall in &sys.walls {
        for k in 0..p.len() {
            if let Some((normal, rates)) = wall.contact_rates(p, k) {
                anchors.extend(link(k, k, normal, rates));
            }
        }
    }
    if links.is_empty() && anchors.is_empty() {
        return 0.0;
    }
    let scale: Vec<f64> = p.mass.iter().map(|m| 1.0 / m.sqrt()).collect();
    let along = |l: &Link, x: &[f64; 3], s: f64| (0..3).map(|a| l.normal[a] * x[a] * s).sum::<f64>();
    let apply = |x: &[[f64; 3]], y: &mut [[f64; 3]]| {
        y.fill([0.0; 3]);
        for l in &links {
            let (i, j) = (l.i as usize, l.j as usize);
            let (si, sj) = (scale[i], scale[j]);
            let w = l.weight * (along(l, &x[i], si) - along(l, &x[j], sj));
            for (a, n) in l.normal.iter().enumerate() {
                y[i][a] += w * n * si;
                y[j][a] -= w * n * sj;
            }
        }
        for l in &anchors {
            let (i, si) = (l.i as usize, scale[l.i as usize]);
            let w = l.weight * along(l, &x[i], si);
            for (a, n) in l.normal.iter().enumerate() {
                y[i][a] += w * n * si;
            }
        }
    };
    // A start that depends on the particles' ids only: the same on any thread count and
    // particle order.
    let start: Vec<[f64; 3]> =
        p.id.iter()
            .map(|&id| std::array::from_fn(|a| unit_hash(3 * id + a as u64)))
            .collect();
    largest_eigenvalue(start, apply, LANCZOS_STEPS) / 4.0
}

/// Fails with [`Error::Unstable`] when [`period_two_number`] exceeds 1.
pub fn check(sys: &System) -> Result<()> {
    let number = period_two_number(sys);
    if number <= 1.0 {
        return Ok(());
    }
    let dt = sys.settings.dt;
    Err(Error::Unstable {
        step: sys.step,
        what: format!(
            "the contacts' stiffness and damping are too large for the timestep {dt} µs: the largest eigenvalue \
             of (dt² K + 2 dt C) over the masses is {number:.3} times the limit 4, so a motion that \
             flips sign every step grows (the results would be meaningless, though finite)"
        ),
        hint: format!(
            "reduce the timestep to below {:.3e} µs, the limit at this state, or the normal damping γ_n \
             or stiffness K_n; an oscillation that has grown for a while loosens the packing, so a \
             fresh run may need less",
            dt / number
        ),
    })
}

/// A number in [−0.5, 0.5) from `k` (a 64-bit mix).
fn unit_hash(k: u64) -> f64 {
    let mut z = k.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^= z >> 31;
    (z >> 11) as f64 / (1u64 << 53) as f64 - 0.5
}

fn dot(a: &[[f64; 3]], b: &[[f64; 3]]) -> f64 {
    a.iter()
        .zip(b)
        .map(|(u, v)| u[0] * v[0] + u[1] * v[1] + u[2] * v[2])
        .sum()
}

/// The largest Ritz value of a symmetric operator after `steps` Lanczos steps from `q`
/// (no reorthogonalisation: lost orthogonality only repeats converged Ritz values).
fn largest_eigenvalue(mut q: Vec<[f64; 3]>, apply: impl Fn(&[[f64; 3]], &mut [[f64; 3]]), steps: usize) -> f64 {
    let norm = dot(&q, &q).sqrt();
    if norm == 0.0 {
        return 0.0;
    }
    q.iter_mut().flatten().for_each(|v| *v /= norm);
    let mut q_prev = vec![[0.0; 3]; q.len()];
    let mut w = vec![[0.0; 3]; q.len()];
    let (mut alpha, mut beta) = (Vec::new(), Vec::new());
    for _ in 0..steps {
        apply(&q, &mut w);
        let b_prev = beta.last().copied().unwrap_or(0.0);
        let a = dot(&q, &w);
        for ((w, q), p) in w.iter_mut().zip(&q).zip(&q_prev) {
            for c in 0..3 {
                w[c] -= a * q[c] + b_prev * p[c];
            }
        }
        alpha.push(a);
        let b = dot(&w, &w).sqrt();
        if b <= 1e-12 * a.abs() {
            break; // an invariant subspace: its Ritz values are exact
        }
        beta.push(b);
        std::mem::swap(&mut q_prev, &mut q);
        for (q, w) in q.iter_mut().zip(&w) {
            *q = [w[0] / b, w[1] / b, w[2] / b];
        }
    }
    beta.truncate(alpha.len() - 1);
    tridiagonal_max(&alpha, &beta)
}

/// The largest eigenvalue of the symmetric tridiagonal matrix (diagonal `alpha`,
/// off-diagonal `beta`) by bisection on Sturm counts, rounded down.
fn tridiagonal_max(alpha: &[f64], beta: &[f64]) -> f64 {
    let m = alpha.len();
    let radius = |k: usize| {
        let left = if k > 0 { beta[k - 1].abs() } else { 0.0 };
        let right = if k + 1 < m { beta[k].abs() } else { 0.0 };
        left + right
    };
    let mut lo = (0..m).map(|k| alpha[k] - radius(k)).fold(f64::INFINITY, f64::min);
    let mut hi = (0..m).map(|k| alpha[k] + radius(k)).fold(f64::NEG_INFINITY, f64::max);
    // How many eigenvalues lie below x: the negative pivots of T − x I.
    let below = |x: f64| {
        let mut count = 0;
        let mut d = 1.0;
        for k in 0..m {
            let coupling = if k > 0 { beta[k - 1] * beta[k - 1] / d } else { 0.0 };
            d = alpha[k] - x - coupling;
            if d == 0.0 {
                d = -f64::EPSILON * (x.abs() + 1.0);
            }
            if d < 0.0 {
                count += 1;
            }
        }
        count
    };
    for _ in 0..200 {
        let mid = 0.5 * (lo + hi);
        if mid <= lo || mid >= hi {
            break;
        }
        if below(mid) < m {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    lo
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tridiagonal_max_finds_the_largest_eigenvalue() {
        // [[2, 1, 0], [1, 2, 1], [0, 1, 2]]: eigenvalues 2 − √2, 2, 2 + √2.
        let top = tridiagonal_max(&[2.0, 2.0, 2.0], &[1.0, 1.0]);
        assert!((top - (2.0 + 2f64.sqrt())).abs() < 1e-12, "{top}");
        assert_eq!(tridiagonal_max(&[3.0], &[]), 3.0);
    }

    #[test]
    fn lanczos_finds_the_top_of_a_diagonal_operator() {
        // diag(1, 2, …, 300) on 100 × 3 components: the top is 300.
        let n = 100;
        let apply = |x: &[[f64; 3]], y: &mut [[f64; 3]]| {
            for k in 0..n {
                for a in 0..3 {
                    y[k][a] = (3 * k + a + 1) as f64 * x[k][a];
                }
            }
        };
        let start: Vec<[f64; 3]> = (0..n as u64)
            .map(|k| std::array::from_fn(|a| unit_hash(3 * k + a as u64)))
            .collect();
        let top = largest_eigenvalue(start, apply, 40);
        assert!(top <= 300.0 + 1e-9 && top > 299.0, "{top}");
    }
}
