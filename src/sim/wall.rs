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
use crate::sim::forcefield::hertz_sjkr::{contact_area, contact_area_slope, PairParams};
use crate::sim::forcefield::{ContactRates, History, PairOut, NO_HISTORY};
use crate::sim::parallel::det_sum;
use crate::sim::particles::{permute, Particles};
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
            permute(&mut self.history, perm);
        }
    }

    /// What [`Wall::apply`] needs of the wall's shape and motion (a copy, so that the
    /// particle loop can hold the histories).
    fn geometry(&self) -> Geometry {
        Geometry {
            axis: self.axis,
            side: match self.side {
                Side::Lo => 1.0,
                Side::Hi => -1.0,
            },
            position: self.position,
            velocity: self.velocity,
            shape: self.shape,
        }
    }

    /// Adds wall forces and torques to the particles; returns the elastic energy [fJ].
    pub fn apply(&mut self, p: &mut Particles, dt: f64, update_history: bool) -> f64 {
        let n = p.len();
        self.history.resize(n, NO_HISTORY);
        let (geometry, law) = (self.geometry(), &self.law);
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
                let Some(t) = geometry.touch(x[k], r) else {
                    *h = NO_HISTORY;
                    return;
                };
                let del = t.normal.map(|c| c * t.dist);
                let kin = Kinematics {
                    del,
                    rsq: t.dist * t.dist,
                    r: t.dist,
                    vr: [v[k][0] - t.vsurf[0], v[k][1] - t.vsurf[1], v[k][2] - t.vsurf[2]],
                    wsum: [r * omega[k][0], r * omega[k][1], r * omega[k][2]],
                };
                let mut out = PairOut::default();
                match law {
                    WallLaw::Hertz(law) => {
                        law.contact(Contact::Wall { r, m: mass[k] }, &kin, h, dt, update_history, &mut out)
                    }
                    WallLaw::Material(table) => {
                        let params = &table[kind[k] as usize - 1];
                        let (reff, area) = (t.reff(r), t.area(r));
                        params.contact(reff, mass[k], r - t.dist, area, &kin, h, dt, update_history, &mut out);
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

    /// The unit normal (from the wall into the box) and the normal stiffness and damping of
    /// particle `k`'s contact with the wall, if it touches; read by the stability check
    /// ([`crate::sim::stability`]). A centre past the surface feels a force that no longer
    /// changes with depth (see [`Wall::apply`]): stiffness 0.
    pub fn contact_rates(&self, p: &Particles, k: usize) -> Option<([f64; 3], ContactRates)> {
        let r = p.radius[k];
        let t = self.geometry().touch(p.x[k], r)?;
        let mut rates = match &self.law {
            WallLaw::Hertz(law) => law.normal_rates(Contact::Wall { r, m: p.mass[k] }, t.dist)?,
            WallLaw::Material(table) => {
                let delta_max = self.history.get(k).map_or(0.0, |h| h[3]);
                table[p.kind[k] as usize - 1].normal_rates(t.reff(r), p.mass[k], r - t.dist, delta_max, t.area_slope(r))
            }
        };
        if t.capped {
            rates.stiffness = 0.0;
        }
        Some((t.normal, rates))
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

/// A wall's shape, side and motion at one step.
#[derive(Debug, Clone, Copy)]
struct Geometry {
    axis: usize,
    /// +1 on the lo side, −1 on the hi side: the box is on the side the normal points to.
    side: f64,
    position: f64,
    velocity: [f64; 3],
    shape: Shape,
}

/// How a sphere meets the wall.
#[derive(Debug, Clone, Copy)]
struct Touch {
    /// Unit normal from the wall into the box.
    normal: [f64; 3],
    /// Distance of the centre from the surface along the normal [µm], capped just above 0.
    dist: f64,
    /// The centre crossed the surface and `dist` is the cap.
    capped: bool,
    /// The wall's velocity at the contact point [µm/µs].
    vsurf: [f64; 3],
    /// Infinite for a plane [µm].
    wall_radius: f64,
}

impl Geometry {
    /// Where a sphere of radius `r` centred at `x` touches the wall; `None` if it does not.
    fn touch(&self, x: [f64; 3], r: f64) -> Option<Touch> {
        let (normal, inside, vsurf, wall_radius) = match self.shape {
            Shape::Plane => {
                let mut nrm = [0.0; 3];
                nrm[self.axis] = self.side;
                (
                    nrm,
                    self.side * (x[self.axis] - self.position),
                    self.velocity,
                    f64::INFINITY,
                )
            }
            Shape::Roll(roll) => {
                let dx = x[0] - roll.axis_x;
                let dx = dx - roll.period_x * (dx / roll.period_x).round();
                let dz = x[2] - (self.position + roll.radius);
                let d = (dx * dx + dz * dz).sqrt().max(1e-12);
                let nrm = [dx / d, 0.0, dz / d];
                // ω ŷ × (R n): the surface velocity of the spinning roll.
                let vw = self.velocity;
                let vs = [
                    vw[0] + roll.spin * roll.radius * nrm[2],
                    vw[1],
                    vw[2] - roll.spin * roll.radius * nrm[0],
                ];
                (nrm, d - roll.radius, vs, roll.radius)
            }
        };
        if inside >= r {
            return None;
        }
        // A centre that crossed the surface is still pushed back (one-sided wall, the
        // overlap capped just below r): LAMMPS' two-sided wall would expel it.
        let cap = 1e-3 * r;
        Some(Touch {
            normal,
            dist: inside.max(cap),
            capped: inside < cap,
            vsurf,
            wall_radius,
        })
    }
}

impl Touch {
    /// R* of the sphere and the wall [µm]: a plane is the limit R → ∞.
    fn reff(&self, r: f64) -> f64 {
        if self.wall_radius.is_infinite() {
            r
        } else {
            r * self.wall_radius / (r + self.wall_radius)
        }
    }

    /// Centre distance as [`contact_area`] takes it: from the plane, or between centres.
    fn centre_distance(&self) -> f64 {
        if self.wall_radius.is_infinite() {
            self.dist
        } else {
            self.dist + self.wall_radius
        }
    }

    /// The intersection lens's area [µm²].
    fn area(&self, r: f64) -> f64 {
        contact_area(r, self.wall_radius, self.centre_distance())
    }

    /// dA/dδ of [`Touch::area`] [µm].
    fn area_slope(&self, r: f64) -> f64 {
        contact_area_slope(r, self.wall_radius, self.centre_distance())
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

    fn keeps_masses(&self) -> bool {
        true
    }
}
