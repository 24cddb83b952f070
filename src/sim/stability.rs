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

use rayon::prelude::*;

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
#[derive(Clone)]
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
    let op = Operator::new(links, anchors, p.mass.iter().map(|m| 1.0 / m.sqrt()).collect());
    // A start that depends on the particles' ids only: the same on any thread count and
    // particle order.
    let start: Vec<[f64; 3]> =
        p.id.iter()
            .map(|&id| std::array::from_fn(|a| unit_hash(3 * id + a as u64)))
            .collect();
    largest_eigenvalue(start, |x, y| op.apply(x, y), LANCZOS_STEPS) / 4.0
}

/// x ↦ S (dt² K + 2 dt C) S x with S = M^{-1/2}.
struct Operator {
    links: Vec<Link>,
    /// Links per part: the first part sums into the result, the others into buffers of their
    /// own, in parallel, added in part order (the bits do not depend on the thread count).
    part_len: usize,
    anchors: Vec<Link>,
    /// m^{-1/2} per particle.
    scale: Vec<f64>,
}

impl Operator {
    fn new(links: Vec<Link>, anchors: Vec<Link>, scale: Vec<f64>) -> Self {
        // Two parts where the links outnumber the particles four to one (a slurry's 44 per
        // particle), so that a second buffer costs little beside the links; one otherwise.
        let parts = if links.len() >= 4 * scale.len() { 2 } else { 1 };
        Self::in_parts(links, anchors, scale, parts)
    }

    fn in_parts(links: Vec<Link>, anchors: Vec<Link>, scale: Vec<f64>, parts: usize) -> Self {
        Operator {
            part_len: links.len().div_ceil(parts).max(1),
            links,
            anchors,
            scale,
        }
    }

    fn apply(&self, x: &[[f64; 3]], y: &mut [[f64; 3]]) {
        let scaled = |v: &[f64; 3], s: f64| [v[0] * s, v[1] * s, v[2] * s];
        // Scaled once per particle, not at both ends of every link.
        let u: Vec<[f64; 3]> = x.iter().zip(&self.scale).map(|(x, &s)| scaled(x, s)).collect();
        let along = |n: &[f64; 3], d: [f64; 3]| n[0] * d[0] + n[1] * d[1] + n[2] * d[2];
        let add_links = |links: &[Link], out: &mut [[f64; 3]]| {
            for l in links {
                let (i, j) = (l.i as usize, l.j as usize);
                let w = l.weight * along(&l.normal, std::array::from_fn(|a| u[i][a] - u[j][a]));
                for (a, n) in l.normal.iter().enumerate() {
                    out[i][a] += w * n;
                    out[j][a] -= w * n;
                }
            }
        };
        y.fill([0.0; 3]);
        let (first, others) = self.links.split_at(self.part_len.min(self.links.len()));
        let parts = || {
            (others.par_chunks(self.part_len))
                .map(|links| {
                    let mut part = vec![[0.0; 3]; x.len()];
                    add_links(links, &mut part);
                    part
                })
                .collect::<Vec<_>>()
        };
        // One part (sparse contacts): no join, whose job a spinning team helper would steal.
        let others = if others.is_empty() {
            add_links(first, y);
            Vec::new()
        } else {
            rayon::join(|| add_links(first, y), parts).1
        };
        for part in others {
            for (y, v) in y.iter_mut().zip(&part) {
                for a in 0..3 {
                    y[a] += v[a];
                }
            }
        }
        for l in &self.anchors {
            let i = l.i as usize;
            let w = l.weight * along(&l.normal, u[i]);
            for (a, n) in l.normal.iter().enumerate() {
                y[i][a] += w * n;
            }
        }
        for (y, &s) in y.iter_mut().zip(&self.scale) {
            *y = scaled(y, s);
        }
    }
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

/// Σ a·b over all components, in four interleaved sums: a single chain of additions waits
/// for each one before the next, and on the 3945-sphere slurry (3000 contacts) the vector
/// arithmetic between the operator's applications took half of a check.
fn dot(a: &[[f64; 3]], b: &[[f64; 3]]) -> f64 {
    let (a, b) = (a.as_flattened(), b.as_flattened());
    let mut sums = [0.0; 4];
    let (whole, rest) = (a.len() / 4 * 4, a.len() % 4);
    for (u, v) in a[..whole].chunks_exact(4).zip(b[..whole].chunks_exact(4)) {
        for k in 0..4 {
            sums[k] += u[k] * v[k];
        }
    }
    for k in 0..rest {
        sums[k] += a[whole + k] * b[whole + k];
    }
    (sums[0] + sums[1]) + (sums[2] + sums[3])
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
        let inv = 1.0 / b;
        for (q, w) in q.iter_mut().zip(&w) {
            *q = [w[0] * inv, w[1] * inv, w[2] * inv];
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

    /// The operator in two parts (dense contacts) is the one-part sum to round-off, and
    /// the same bits on 1 and 2 threads.
    #[test]
    fn the_operator_in_parts_is_the_whole() {
        let n = 300;
        let links: Vec<Link> = (0..6 * n as u64)
            .map(|k| {
                let pick = |s: u64| ((unit_hash(s) + 0.5) * n as f64) as u32 % n as u32;
                let (i, j) = (pick(7 * k), pick(7 * k + 1));
                let d: [f64; 3] = std::array::from_fn(|a| unit_hash(7 * k + 2 + a as u64) + 0.01);
                let r = (d[0] * d[0] + d[1] * d[1] + d[2] * d[2]).sqrt();
                Link {
                    i,
                    j,
                    normal: d.map(|c| c / r),
                    weight: 1.0 + unit_hash(7 * k + 5),
                }
            })
            .collect();
        let anchors = vec![Link {
            i: 3,
            j: 3,
            normal: [0.0, 0.0, 1.0],
            weight: 0.5,
        }];
        let scale: Vec<f64> = (0..n as u64).map(|k| 1.0 + unit_hash(k + 10_000) * 0.5).collect();
        let x: Vec<[f64; 3]> = (0..n as u64)
            .map(|k| std::array::from_fn(|a| unit_hash(3 * k + a as u64 + 20_000)))
            .collect();
        let run = |parts: usize, threads: usize| {
            let op = Operator::in_parts(links.clone(), anchors.clone(), scale.clone(), parts);
            let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
            let mut y = vec![[0.0; 3]; n];
            pool.install(|| op.apply(&x, &mut y));
            y
        };
        assert_eq!(
            Operator::new(links.clone(), anchors.clone(), scale.clone()).part_len,
            links.len() / 2
        );
        let whole = run(1, 1);
        let two = run(2, 1);
        assert_eq!(two, run(2, 2), "two parts on 1 and 2 threads");
        let top = whole.iter().flatten().fold(0.0f64, |m, v| m.max(v.abs()));
        for (a, b) in whole.iter().flatten().zip(two.iter().flatten()) {
            assert!((a - b).abs() <= 1e-13 * top, "{a} vs {b}");
        }
    }

    /// Every component counts, whatever the length's remainder by the four sums.
    #[test]
    fn dot_adds_every_component() {
        for n in 0..6 {
            let a: Vec<[f64; 3]> = (0..n).map(|k| [k as f64 + 1.0, 2.0, 0.5]).collect();
            let b: Vec<[f64; 3]> = (0..n).map(|k| [1.0, k as f64, 4.0]).collect();
            let expected: f64 = (0..n).map(|k| 3.0 * k as f64 + 3.0).sum();
            assert_eq!(dot(&a, &b), expected, "{n} particles");
        }
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
