//! Velocity Verlet for spheres (LAMMPS `fix nve/sphere`): translation and rotation.
//!
//! `initial`: v += (dt/2)F/m; x += dt·v; ω += (dt/2)τ/I. Then forces. Then `final`:
//! v += (dt/2)F/m; ω += (dt/2)τ/I. An optional displacement limit per step (LAMMPS
//! `fix nve/limit`) caps |v|·dt, for relaxing badly overlapping initial structures.

use rayon::prelude::*;

use crate::sim::particles::Particles;

/// First half-kick and drift. `max_step` [µm] caps each particle's displacement.
pub fn initial(p: &mut Particles, dt: f64, max_step: Option<f64>) {
    let dtf = 0.5 * dt;
    let (mass, radius) = (&p.mass, &p.radius);
    p.x.par_iter_mut()
        .zip(p.v.par_iter_mut())
        .zip(p.omega.par_iter_mut())
        .zip(p.f.par_iter())
        .zip(p.torque.par_iter())
        .enumerate()
        .for_each(|(k, ((((x, v), w), f), t))| {
            let dtfm = dtf / mass[k];
            for a in 0..3 {
                v[a] += dtfm * f[a];
            }
            if let Some(lim) = max_step {
                limit_velocity(v, lim / dt);
            }
            for a in 0..3 {
                x[a] += dt * v[a];
            }
            let dtirot = dtf / (0.4 * radius[k] * radius[k] * mass[k]);
            for a in 0..3 {
                w[a] += dtirot * t[a];
            }
        });
}

/// Second half-kick.
pub fn final_kick(p: &mut Particles, dt: f64, max_step: Option<f64>) {
    let dtf = 0.5 * dt;
    let (mass, radius) = (&p.mass, &p.radius);
    p.v.par_iter_mut()
        .zip(p.omega.par_iter_mut())
        .zip(p.f.par_iter())
        .zip(p.torque.par_iter())
        .enumerate()
        .for_each(|(k, (((v, w), f), t))| {
            let dtfm = dtf / mass[k];
            for a in 0..3 {
                v[a] += dtfm * f[a];
            }
            if let Some(lim) = max_step {
                limit_velocity(v, lim / dt);
            }
            let dtirot = dtf / (0.4 * radius[k] * radius[k] * mass[k]);
            for a in 0..3 {
                w[a] += dtirot * t[a];
            }
        });
}

#[inline]
fn limit_velocity(v: &mut [f64; 3], vmax: f64) {
    let vsq = v[0] * v[0] + v[1] * v[1] + v[2] * v[2];
    if vsq > vmax * vmax {
        let s = vmax / vsq.sqrt();
        for c in v.iter_mut() {
            *c *= s;
        }
    }
}
