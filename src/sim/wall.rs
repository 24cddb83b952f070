//! Granular walls on non-periodic axes (LAMMPS `fix wall/gran`): planes and calendering
//! rolls.
//!
//! A wall bounds the box on its `lo` or `hi` side of an axis; it may move along its normal
//! (calendering) or slide tangentially (`velocity`). A plane is `x[axis] = position`; a
//! roll is a cylinder along y whose lowest line is at `z = position` (z walls on the hi
//! side only), rolling across x when it spins. Contacts use the reference's
//! Hertz-with-history law (the wall as a sphere of infinite radius and mass) or the
//! material law `gran/hertz/sjkr` with the wall's own material. Each particle keeps one
//! shear history per wall; it follows the particles when they reorder.

use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::sim::ensemble::Fix;
use crate::sim::forcefield::hertz_history::{Contact, HertzHistory, Kinematics};
use crate::sim::forcefield::hertz_sjkr::{contact_area, PairParams};
use crate::sim::forcefield::{History, PairOut, NO_HISTORY};
use crate::sim::parallel::det_sum;
use crate::sim::particles::Particles;
use crate::sim::system::System;

/// The contact law between the wall and the spheres.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum WallLaw {
    /// `gran/hertz/history` with the slurry model's coefficients.
    Hertz(HertzHistory),
    /// `gran/hertz/sjkr`: index `t − 1` holds the wall–type-t pair coefficients.
    Material(Vec<PairParams>),
}

impl From<HertzHistory> for WallLaw {
    fn from(h: HertzHistory) -> Self {
        WallLaw::Hertz(h)
    }
}

/// A cylinder along y of `radius` [µm] whose axis is at x = `axis_x` [µm]; x is periodic
/// with `period_x` [µm]. It spins at `spin` [rad/µs] about +y: its lowest line moves at
/// −spin·radius relative to the axis, so an axis moving at +V rolls without slip at
/// spin = V/radius.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Roll {
    pub radius: f64,
    pub axis_x: f64,
    pub period_x: f64,
    pub spin: f64,
}

#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
pub enum Shape {
    #[default]
    Plane,
    Roll(Roll),
}

/// Which face of the box a wall bounds; particles live on the box side of it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Side {
    Lo,
    Hi,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Wall {
    /// Normal axis: 0 = x, 1 = y, 2 = z.
    pub axis: usize,
    pub side: Side,
    /// Plane coordinate along `axis` (a roll: its lowest line) [µm].
    pub position: f64,
    /// Wall velocity [µm/µs]; the normal component moves the wall every step, a roll's x
    /// component moves its axis.
    pub velocity: [f64; 3],
    #[serde(default)]
    pub shape: Shape,
    pub law: WallLaw,
    /// Shear history of each particle against this wall (index = particle index).
    pub history: Vec<History>,
    /// Force the particles exert on the wall in the last force call [nN].
    pub force_on_wall: [f64; 3],
}

impl Wall {
    pub fn new(axis: usize, side: Side, position: f64, law: impl Into<WallLaw>) -> Self {
        Wall {
            axis,
            side,
            position,
            velocity: [0.0; 3],
            shape: Shape::Plane,
            law: law.into(),
            history: Vec::new(),
            force_on_wall: [0.0; 3],
        }
    }

    /// Moves the wall by its velocity over `dt`.
    pub fn advance(&mut self, dt: f64) {
        self.position += self.velocity[self.axis] * dt;
        if let Shape::Roll(r) = &mut self.shape {
            r.axis_x = (r.axis_x + self.velocity[0] * dt).rem_euclid(r.period_x);
        }
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
        self.history.resize(n, NO_HISTORY);
        let (axis, pos, vwall, shape, law) = (self.axis, self.position, self.velocity, self.shape, &self.law);
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
            kind,
            ..
        } = p;
        let (x, v, omega, radius, mass, kind) = (&*x, &*v, &*omega, &*radius, &*mass, &*kind);
        // The force on each particle, kept per particle so the total on the wall is a
        // deterministic sum.
        let mut fw = vec![[0.0f64; 4]; n];
        f.par_iter_mut()
            .zip(torque.par_iter_mut())
            .zip(self.history.par_iter_mut())
            .zip(fw.par_iter_mut())
            .enumerate()
            .for_each(|(k, (((fk, tk), h), out_k))| {
                let r = radius[k];
                // Unit normal from the wall into the box, the distance of the centre from
                // the surface along it, and the wall's velocity at the contact point.
                let (normal, inside, vsurf, wall_radius) = match shape {
                    Shape::Plane => {
                        let mut nrm = [0.0; 3];
                        nrm[axis] = side;
                        (nrm, side * (x[k][axis] - pos), vwall, f64::INFINITY)
                    }
                    Shape::Roll(roll) => {
                        let dx = x[k][0] - roll.axis_x;
                        let dx = dx - roll.period_x * (dx / roll.period_x).round();
                        let dz = x[k][2] - (pos + roll.radius);
                        let d = (dx * dx + dz * dz).sqrt().max(1e-12);
                        let nrm = [dx / d, 0.0, dz / d];
                        // ω ŷ × (R n): the surface velocity of the spinning roll.
                        let vs = [
                            vwall[0] + roll.spin * roll.radius * nrm[2],
                            vwall[1],
                            vwall[2] - roll.spin * roll.radius * nrm[0],
                        ];
                        (nrm, d - roll.radius, vs, roll.radius)
                    }
                };
                if inside >= r {
                    *h = NO_HISTORY;
                    return;
                }
                // A centre that crossed the surface is still pushed back (one-sided wall,
                // the overlap capped just below r): LAMMPS' two-sided wall would expel it.
                let dist = inside.max(1e-3 * r);
                let del = [normal[0] * dist, normal[1] * dist, normal[2] * dist];
                let kin = Kinematics {
                    del,
                    rsq: dist * dist,
                    r: dist,
                    vr: [v[k][0] - vsurf[0], v[k][1] - vsurf[1], v[k][2] - vsurf[2]],
                    wsum: [r * omega[k][0], r * omega[k][1], r * omega[k][2]],
                };
                let mut out = PairOut::default();
                match law {
                    WallLaw::Hertz(law) => {
                        law.contact(Contact::Wall { r, m: mass[k] }, &kin, h, dt, update_history, &mut out)
                    }
                    WallLaw::Material(table) => {
                        let params = &table[kind[k] as usize - 1];
                        // A plane is the limit R → ∞: R* = r, the lens a cap.
                        let (reff, area) = if wall_radius.is_infinite() {
                            (r, contact_area(r, f64::INFINITY, dist))
                        } else {
                            (
                                r * wall_radius / (r + wall_radius),
                                contact_area(r, wall_radius, dist + wall_radius),
                            )
                        };
                        params.contact(reff, mass[k], r - dist, area, &kin, h, dt, update_history, &mut out);
                    }
                }
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
        if let Shape::Roll(r) = &self.shape {
            if self.axis != 2 || self.side != Side::Hi {
                return Err("a roll is a z wall on the hi side (it presses the film from above)".into());
            }
            if !b.periodic[0] || (r.period_x - (b.hi[0] - b.lo[0])).abs() > 1e-9 * r.period_x {
                return Err("a roll needs x periodic with its period equal to the box's x length".into());
            }
            if !(r.radius > 0.0 && r.radius.is_finite()) {
                return Err(format!("roll radius {} µm must be > 0", r.radius));
            }
        }
        if !self.position.is_finite() {
            return Err("wall position must be finite".into());
        }
        Ok(())
    }
}

/// The descending interface: the top wall moves down at v_max · tanh((F_set − F̄)/F_set)
/// while the film pushes it less than the load, and holds otherwise (evaporation never
/// raises the interface) unless `can_rise` (a press holding a load). F̄ is the wall force
/// low-passed over `tau`: contact damping makes the instantaneous force flip sign from
/// step to step.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TopServo {
    pub wall: usize,
    /// [nN]
    pub target_nn: f64,
    /// [µm/µs]
    pub max_speed: f64,
    /// [µs]
    pub tau: f64,
    /// F̄ [nN]
    pub mean_force: f64,
    #[serde(default)]
    pub can_rise: bool,
}

impl Fix for TopServo {
    fn end_of_step(&mut self, sys: &mut System) {
        let a = (sys.settings.dt / self.tau).min(1.0);
        let w = &mut sys.walls[self.wall];
        self.mean_force += a * (w.force_on_wall[2] - self.mean_force);
        let push = ((self.target_nn - self.mean_force) / self.target_nn).tanh();
        w.velocity[2] = -self.max_speed * if self.can_rise { push } else { push.max(0.0) };
    }

    fn reads_force_sums(&self) -> bool {
        false
    }
}
