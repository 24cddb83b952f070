//! Velocity Verlet for spheres (LAMMPS `fix nve/sphere`): translation and rotation.
//!
//! `initial`: v += (dt/2)F/m; x += dt·v; ω += (dt/2)τ/I. Then forces. Then `final_kick`:
//! v += (dt/2)F/m; ω += (dt/2)τ/I. An optional displacement limit per step (LAMMPS
//! `fix nve/limit`) caps |v|·dt, for relaxing badly overlapping initial structures.
//! Per-particle updates are independent, so the chunking never changes a result.

use rayon::prelude::*;

use crate::sim::particles::Particles;

/// Particles per parallel work item.
const CHUNK: usize = 2048;

/// First half-kick and drift. `max_step` [µm] caps each particle's displacement;
/// `rotate` = false leaves angular velocities as they are.
pub fn initial(p: &mut Particles, dt: f64, max_step: Option<f64>, rotate: bool) {
    kick(p, dt, max_step, true, rotate);
}

/// Second half-kick.
pub fn final_kick(p: &mut Particles, dt: f64, max_step: Option<f64>, rotate: bool) {
    kick(p, dt, max_step, false, rotate);
}

fn kick(p: &mut Particles, dt: f64, max_step: Option<f64>, drift: bool, rotate: bool) {
    let dtf = 0.5 * dt;
    let vmax = max_step.map(|l| l / dt);
    let Particles {
        x,
        v,
        omega,
        f,
        torque,
        radius,
        mass,
        ..
    } = p;
    x.par_chunks_mut(CHUNK)
        .zip(v.par_chunks_mut(CHUNK))
        .zip(omega.par_chunks_mut(CHUNK))
        .zip(f.par_chunks(CHUNK).zip(torque.par_chunks(CHUNK)))
        .zip(radius.par_chunks(CHUNK).zip(mass.par_chunks(CHUNK)))
        .for_each(|((((x, v), w), (f, t)), (r, m))| {
            for k in 0..v.len() {
                let dtfm = dtf / m[k];
                let vk = &mut v[k];
                for a in 0..3 {
                    vk[a] += dtfm * f[k][a];
                }
                if let Some(vmax) = vmax {
                    limit_velocity(vk, vmax);
                }
                if drift {
                    for a in 0..3 {
                        x[k][a] += dt * vk[a];
                    }
                }
                if rotate {
                    let dtirot = dtf / (0.4 * r[k] * r[k] * m[k]);
                    for a in 0..3 {
                        w[k][a] += dtirot * t[k][a];
                    }
                }
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
