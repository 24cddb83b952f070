//! Velocity Verlet for spheres (LAMMPS `fix nve/sphere`): translation and rotation.
//!
//! `initial`: v += (dt/2)F/m; x += dt·v; ω += (dt/2)τ/I. Then forces. Then `final_kick`:
//! v += (dt/2)F/m; ω += (dt/2)τ/I. An optional displacement limit per step (LAMMPS
//! `fix nve/limit`) caps |v|·dt, for relaxing badly overlapping initial structures.
//! Per-particle updates are independent, so the chunking never changes a result.
//!
//! `final_then_initial` is the second half-kick of one step followed by the first
//! half-kick and drift of the next, in one pass over memory: when nothing acts between
//! steps (no fix, no observer due), it does the same operations in the same order as the
//! two calls, so results are identical bit for bit, and large systems read their arrays
//! once instead of twice.

use rayon::prelude::*;

use crate::sim::particles::Particles;

/// Particles per parallel work item.
const CHUNK: usize = 2048;

/// First half-kick and drift. `max_step` [µm] caps each particle's displacement;
/// `rotate` = false leaves angular velocities as they are.
pub fn initial(p: &mut Particles, dt: f64, max_step: Option<f64>, rotate: bool) {
    kick(p, dt, max_step, 1, true, rotate);
}

/// Second half-kick.
pub fn final_kick(p: &mut Particles, dt: f64, max_step: Option<f64>, rotate: bool) {
    kick(p, dt, max_step, 1, false, rotate);
}

/// Drift only: x += dt·v (for integrators that move the box between kick and drift).
pub fn drift(p: &mut Particles, dt: f64) {
    kick(p, dt, None, 0, true, false);
}

/// Second half-kick of a step, then first half-kick and drift of the next.
pub fn final_then_initial(p: &mut Particles, dt: f64, max_step: Option<f64>, rotate: bool) {
    kick(p, dt, max_step, 2, true, rotate);
}

fn kick(p: &mut Particles, dt: f64, max_step: Option<f64>, kicks: usize, drift: bool, rotate: bool) {
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
    let s = KickSettings {
        dt,
        vmax: max_step.map(|l| l / dt),
        kicks,
        drift,
        rotate,
    };
    x.par_chunks_mut(CHUNK)
        .zip(v.par_chunks_mut(CHUNK))
        .zip(omega.par_chunks_mut(CHUNK))
        .zip(f.par_chunks(CHUNK).zip(torque.par_chunks(CHUNK)))
        .zip(radius.par_chunks(CHUNK).zip(mass.par_chunks(CHUNK)))
        .for_each(|((((x, v), w), (f, t)), (r, m))| kick_chunk(&s, x, v, w, f, t, r, m));
}

struct KickSettings {
    dt: f64,
    vmax: Option<f64>,
    /// Half-kicks in a row (1, or 2 for a final kick fused with the next initial one).
    kicks: usize,
    drift: bool,
    rotate: bool,
}

crate::multiversioned! {
    /// One chunk of particles. The divisions go first as a vector loop of their own.
    #[allow(clippy::too_many_arguments)]
    fn kick_chunk(
        s: &KickSettings,
        x: &mut [[f64; 3]],
        v: &mut [[f64; 3]],
        w: &mut [[f64; 3]],
        f: &[[f64; 3]],
        t: &[[f64; 3]],
        r: &[f64],
        m: &[f64],
    ) {
        let dtf = 0.5 * s.dt;
        let n = v.len().min(CHUNK);
        let mut dtfm = [0.0f64; CHUNK];
        let mut dtirot = [0.0f64; CHUNK];
        for k in 0..n {
            dtfm[k] = dtf / m[k];
            dtirot[k] = dtf / (0.4 * r[k] * r[k] * m[k]);
        }
        // One simple loop per update, each of which vectorizes.
        for _ in 0..s.kicks {
            for k in 0..n {
                for a in 0..3 {
                    v[k][a] += dtfm[k] * f[k][a];
                }
            }
            if let Some(vmax) = s.vmax {
                for vk in v.iter_mut() {
                    limit_velocity(vk, vmax);
                }
            }
        }
        if s.drift {
            for (xa, va) in x.as_flattened_mut().iter_mut().zip(v.as_flattened()) {
                *xa += s.dt * va;
            }
        }
        if s.rotate {
            for _ in 0..s.kicks {
                for k in 0..n {
                    for a in 0..3 {
                        w[k][a] += dtirot[k] * t[k][a];
                    }
                }
            }
        }
    }
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
