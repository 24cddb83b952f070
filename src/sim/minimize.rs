//! Energy minimisation by FIRE (Bitzek et al., PRL 97, 170201, 2006) to remove the
//! overlaps of a freshly built structure before dynamics.
//!
//! Only positions move. Forces are evaluated at zero velocity and spin, so the
//! dissipative contact terms vanish and the force is −∇(pair energy + contact elastic
//! energy). A displacement cap per iteration (`max_step`) tames huge initial forces.

use serde::Serialize;

use crate::sim::parallel::det_sum;
use crate::sim::system::System;

/// FIRE settings; defaults follow Bitzek et al.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FireParams {
    /// Initial timestep [µs] (default: the system's).
    pub dt: Option<f64>,
    /// Largest timestep as a multiple of the initial one.
    pub dt_max_factor: f64,
    /// Stop when every |F_i| < this [nN].
    pub force_tol: f64,
    /// Stop after this many iterations.
    pub max_iterations: u64,
    /// Largest displacement of any particle per iteration [µm].
    pub max_step: f64,
    pub n_min: u64,
    pub f_inc: f64,
    pub f_dec: f64,
    pub alpha0: f64,
    pub f_alpha: f64,
}

impl Default for FireParams {
    fn default() -> Self {
        FireParams {
            dt: None,
            dt_max_factor: 10.0,
            force_tol: 1e-6,
            max_iterations: 100_000,
            max_step: 0.1,
            n_min: 5,
            f_inc: 1.1,
            f_dec: 0.5,
            alpha0: 0.1,
            f_alpha: 0.99,
        }
    }
}

/// Why the minimiser stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
pub enum Stop {
    /// Every force below `force_tol`.
    Converged,
    /// `max_iterations` reached.
    MaxIterations,
}

#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub struct MinReport {
    pub iterations: u64,
    pub stop: Stop,
    /// Largest |F_i| at the end [nN].
    pub max_force_nn: f64,
    /// Pair + contact elastic energy before and after [fJ].
    pub energy_initial_fj: f64,
    pub energy_final_fj: f64,
}

fn potential(sys: &System) -> f64 {
    sys.summary.pe + sys.summary.contact_elastic
}

fn max_force(sys: &System) -> f64 {
    sys.particles
        .f
        .iter()
        .map(|f| (f[0] * f[0] + f[1] * f[1] + f[2] * f[2]).sqrt())
        .fold(0.0, f64::max)
}

/// Minimises the potential energy in place; velocities and spins end at zero.
pub fn fire(sys: &mut System, params: &FireParams) -> MinReport {
    let n = sys.particles.len();
    // FIRE velocities are indexed by particle: no reordering while they live.
    let sort = std::mem::replace(&mut sys.settings.sort, false);
    sys.particles.v.iter_mut().for_each(|v| *v = [0.0; 3]);
    sys.particles.omega.iter_mut().for_each(|w| *w = [0.0; 3]);
    sys.refresh_neighbors();
    sys.compute_forces(false);
    let energy_initial = potential(sys);
    let dt0 = params.dt.unwrap_or(sys.settings.dt);
    let (mut dt, mut alpha, mut n_pos) = (dt0, params.alpha0, 0u64);
    // FIRE's own velocities, kept apart: the contact laws must see the particles at rest.
    let mut vel = vec![[0.0f64; 3]; n];
    let mut it = 0;
    let stop = loop {
        if max_force(sys) < params.force_tol {
            break Stop::Converged;
        }
        if it >= params.max_iterations {
            break Stop::MaxIterations;
        }
        it += 1;
        let f = &sys.particles.f;
        let [power, vv, ff] = det_sum(n, |k| {
            let (v, f) = (vel[k], f[k]);
            [
                v[0] * f[0] + v[1] * f[1] + v[2] * f[2],
                v[0] * v[0] + v[1] * v[1] + v[2] * v[2],
                f[0] * f[0] + f[1] * f[1] + f[2] * f[2],
            ]
        });
        if power > 0.0 {
            let mix = if ff > 0.0 { alpha * (vv / ff).sqrt() } else { 0.0 };
            for (v, f) in vel.iter_mut().zip(f) {
                for a in 0..3 {
                    v[a] = (1.0 - alpha) * v[a] + mix * f[a];
                }
            }
            n_pos += 1;
            if n_pos > params.n_min {
                dt = (dt * params.f_inc).min(dt0 * params.dt_max_factor);
                alpha *= params.f_alpha;
            }
        } else {
            vel.iter_mut().for_each(|v| *v = [0.0; 3]);
            dt *= params.f_dec;
            alpha = params.alpha0;
            n_pos = 0;
        }
        // Semi-implicit Euler with a displacement cap.
        let p = &mut sys.particles;
        for (((v, x), f), m) in vel.iter_mut().zip(&mut p.x).zip(&p.f).zip(&p.mass) {
            for (va, fa) in v.iter_mut().zip(f) {
                *va += dt * fa / m;
            }
            let step = dt * (v[0] * v[0] + v[1] * v[1] + v[2] * v[2]).sqrt();
            let scale = if step > params.max_step {
                params.max_step / step
            } else {
                1.0
            };
            for (xa, va) in x.iter_mut().zip(v.iter()) {
                *xa += scale * dt * va;
            }
        }
        sys.refresh_neighbors();
        sys.compute_forces(false);
    };
    sys.settings.sort = sort;
    MinReport {
        iterations: it,
        stop,
        max_force_nn: max_force(sys),
        energy_initial_fj: energy_initial,
        energy_final_fj: potential(sys),
    }
}
