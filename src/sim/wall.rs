//! Granular plane walls on non-periodic axes (LAMMPS `fix wall/gran hertz/history`).
//!
//! A wall is the plane `x[axis] = position` bounding the box on its `lo` or `hi` side; it
//! may move along its normal (calendering) or slide tangentially (`velocity`). Contacts use
//! the Hertz-with-history law with the wall as a sphere of infinite radius and mass. Each
//! particle keeps one shear history per wall; it follows the particles when they reorder.

use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::sim::forcefield::hertz_history::{Contact, HertzHistory, Kinematics};
use crate::sim::forcefield::{History, PairOut};
use crate::sim::parallel::det_sum;
use crate::sim::particles::Particles;

/// Which face of the box a wall bounds; particles live on the box side of it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Side {
    Lo,
    Hi,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PlaneWall {
    /// Normal axis: 0 = x, 1 = y, 2 = z.
    pub axis: usize,
    pub side: Side,
    /// Plane coordinate along `axis` [µm].
    pub position: f64,
    /// Wall velocity [µm/µs]; the normal component moves the plane every step.
    pub velocity: [f64; 3],
    pub law: HertzHistory,
    /// Shear history of each particle against this wall (index = particle index).
    pub history: Vec<History>,
    /// Force the particles exert on the wall in the last force call [nN].
    pub force_on_wall: [f64; 3],
}

impl PlaneWall {
    pub fn new(axis: usize, side: Side, position: f64, law: HertzHistory) -> Self {
        PlaneWall {
            axis,
            side,
            position,
            velocity: [0.0; 3],
            law,
            history: Vec::new(),
            force_on_wall: [0.0; 3],
        }
    }

    /// Moves the plane by its normal velocity over `dt`.
    pub fn advance(&mut self, dt: f64) {
        self.position += self.velocity[self.axis] * dt;
    }

    /// Reorders histories with the particles (new index n holds old `perm[n]`).
    pub fn permute(&mut self, perm: &[usize]) {
        if self.history.len() == perm.len() {
            let old = std::mem::take(&mut self.history);
            self.history = perm.iter().map(|&k| old[k]).collect();
        }
    }

    /// Adds wall forces and torques to the particles; returns the elastic energy [fJ].
    pub fn apply(&mut self, p: &mut Particles, dt: f64, update_history: bool) -> f64 {
        let n = p.len();
        self.history.resize(n, [0.0; 3]);
        let (axis, pos, vwall, law) = (self.axis, self.position, self.velocity, self.law);
        let side = match self.side {
            Side::Lo => 1.0,
            Side::Hi => -1.0,
        };
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
        let (x, v, omega, radius, mass) = (&*x, &*v, &*omega, &*radius, &*mass);
        // The force on each particle, kept per particle so the total on the wall is a
        // deterministic sum.
        let mut fw = vec![[0.0f64; 4]; n];
        f.par_iter_mut()
            .zip(torque.par_iter_mut())
            .zip(self.history.par_iter_mut())
            .zip(fw.par_iter_mut())
            .enumerate()
            .for_each(|(k, (((fk, tk), h), out_k))| {
                // Distance from the plane on the box side. A centre that crossed the plane
                // is still pushed back (one-sided wall, the overlap capped just below r):
                // LAMMPS' two-sided wall would expel it.
                let r = radius[k];
                let inside = side * (x[k][axis] - pos);
                if inside >= r {
                    *h = [0.0; 3];
                    return;
                }
                let dist = inside.max(1e-3 * r);
                let mut del = [0.0; 3];
                del[axis] = side * dist;
                let kin = Kinematics {
                    del,
                    rsq: dist * dist,
                    r: dist,
                    vr: [v[k][0] - vwall[0], v[k][1] - vwall[1], v[k][2] - vwall[2]],
                    wsum: [r * omega[k][0], r * omega[k][1], r * omega[k][2]],
                };
                let mut out = PairOut::default();
                law.contact(Contact::Wall { r, m: mass[k] }, &kin, h, dt, update_history, &mut out);
                for a in 0..3 {
                    fk[a] += out.f[a];
                    tk[a] -= r * out.tor[a];
                }
                *out_k = [out.f[0], out.f[1], out.f[2], out.elastic];
            });
        let total = det_sum(n, |k| fw[k]);
        self.force_on_wall = [-total[0], -total[1], -total[2]];
        total[3]
    }

    /// Checks the wall fits the box: a non-periodic axis whose faces are normal to it.
    pub fn check(&self, b: &crate::sim::simbox::SimBox) -> Result<(), String> {
        let name = ["x", "y", "z"]
            .get(self.axis)
            .copied()
            .ok_or("wall axis must be 0, 1 or 2")?;
        if b.periodic[self.axis] {
            return Err(format!("a wall on axis {name} needs that axis non-periodic"));
        }
        let [xy, xz, yz] = b.tilt;
        let tilted = match self.axis {
            0 => xy != 0.0 || xz != 0.0,
            1 => yz != 0.0,
            _ => false,
        };
        if tilted {
            return Err(format!(
                "the {name} faces of this triclinic box are not normal to {name}; walls need untilted faces"
            ));
        }
        if !self.position.is_finite() {
            return Err("wall position must be finite".into());
        }
        Ok(())
    }
}
