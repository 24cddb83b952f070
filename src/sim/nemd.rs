//! Non-equilibrium shear (NEMD) for viscosity: planar Couette flow u = γ̇ (y − y_c) x̂
//! in a deforming triclinic box with Lees–Edwards boundaries.
//!
//! For this flow the SLLOD equations (ṙ = p/m + r·∇u, ṗ = F − p·∇u) reduce, for the
//! lab-frame velocity v = ṙ, exactly to dv/dt = F/m: the ordinary integrator advances lab
//! velocities, the box tilt xy grows at γ̇·l_y (flipped by l_x at ±l_x/2), a pair across the
//! sheared boundary sees its image moving at n·γ̇·l_y, and a particle wrapped across it
//! changes v_x by the same jump ([`System::xy_rate`]). A thermostat acts on the peculiar
//! velocity v − u. The shear stress uses the peculiar kinetic part:
//! p_xy = (Σ m (v_x − u_x) v_y + W_xy) / V, and η = −⟨p_xy⟩ / γ̇ [kPa·µs = mPa·s].
//!
//! Where u is zero ([`StreamingOrigin`]) matters once a thermostat acts: LAMMPS'
//! `compute temp/deform` measures u from the bottom of the box, so with the reference's
//! centred `velocity ramp` its thermostat first sees a uniform offset γ̇ l_y / 2 as heat.

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{ChiSquared, Distribution, StandardNormal};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::error::Error;
use crate::sim::ensemble::Fix;
use crate::sim::integrate::flush_subnormal;
use crate::sim::nose_hoover::Chain;
use crate::sim::parallel::det_sum;
use crate::sim::simbox::SimBox;
use crate::sim::system::System;
use crate::units::K_B;

/// The height at which the streaming velocity is zero.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum StreamingOrigin {
    /// The middle of the box: the imposed (centred) profile carries no offset.
    #[default]
    Centre,
    /// The bottom of the box, y_lo, as LAMMPS `compute temp/deform` (its `h_ratelo` is 0
    /// for a tilt), the reference's thermostat bias.
    Bottom,
}

/// The streaming profile u_x = γ̇ (y − y₀) that thermostats and kinetic stresses subtract.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Streaming {
    /// Shear rate γ̇ [1/µs].
    pub rate: f64,
    pub origin: StreamingOrigin,
}

impl Streaming {
    /// The profile that is zero in the middle of the box.
    pub fn centred(rate: f64) -> Self {
        Streaming {
            rate,
            origin: StreamingOrigin::Centre,
        }
    }

    /// y₀ [µm].
    pub fn zero_height(&self, sys: &System) -> f64 {
        match self.origin {
            StreamingOrigin::Centre => 0.5 * (sys.simbox.lo[1] + sys.simbox.hi[1]),
            StreamingOrigin::Bottom => sys.simbox.lo[1],
        }
    }

    /// u_x at height y [µm/µs], y₀ from [`Self::zero_height`] (hoisted out of particle loops).
    #[inline]
    pub fn velocity(&self, y0: f64, y: f64) -> f64 {
        self.rate * (y - y0)
    }

    /// Σ m |v − u|² over the particles [fJ].
    fn twice_peculiar_ke(&self, sys: &System) -> f64 {
        let (y0, p) = (self.zero_height(sys), &sys.particles);
        let [k2] = det_sum(p.len(), |k| {
            let v = p.v[k];
            let vx = v[0] - self.velocity(y0, p.x[k][1]);
            [p.mass[k] * (vx * vx + v[1] * v[1] + v[2] * v[2])]
        });
        k2
    }
}

/// The shear deformation (LAMMPS `fix deform xy erate γ̇ remap v`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ShearDeform {
    /// Engineering shear rate γ̇ [1/µs].
    pub rate: f64,
    /// Accumulated strain γ̇·t [-].
    pub strain: f64,
}

/// `b` sheared to the flip point (xy = lx/2), where it is thinnest across its x faces: the
/// box a shear must be able to reach.
pub fn at_flip_point(mut b: SimBox) -> SimBox {
    b.tilt[0] = 0.5 * b.lengths()[0];
    b
}

impl ShearDeform {
    /// Starts shearing `sys`: sets the Lees–Edwards image velocity and, if
    /// `impose_profile`, adds the linear streaming profile to the velocities; then
    /// recomputes the forces, whose damping and friction depend on those velocities.
    pub fn start(sys: &mut System, rate: f64, impose_profile: bool) -> crate::error::Result<Self> {
        if !(sys.simbox.periodic[0] && sys.simbox.periodic[1]) {
            return Err(Error::Setup("shear needs x and y periodic".into()));
        }
        let ly = sys.simbox.lengths()[1];
        at_flip_point(sys.simbox)
            .check(sys.neighbor.reach())
            .map_err(|e| Error::BoxTooSmall {
                what: format!("when sheared to the flip point: {e}"),
                hint: "a slurry box shrinks with its mass: simulate more (formulation.dry_mass_ug); \
                   `etwin validate` gives the densities the box can hold"
                    .into(),
            })?;
        sys.xy_rate = rate * ly;
        if impose_profile {
            // Centred, as the reference's `velocity all ramp vx -u u ... sum yes`.
            let flow = Streaming::centred(rate);
            let y0 = flow.zero_height(sys);
            let p = &mut sys.particles;
            for k in 0..p.len() {
                p.v[k][0] += flow.velocity(y0, p.x[k][1]);
            }
        }
        // As LAMMPS' setup after `velocity ramp`: the first kick uses forces of the sheared
        // velocities. Forces from before the ramp part the two codes' stresses by 0.5 %
        // within 3000 steps of the reference's shear (set A, 125 1/s), through friction.
        sys.refresh_forces();
        Ok(ShearDeform { rate, strain: 0.0 })
    }
}

impl Fix for ShearDeform {
    fn end_of_step(&mut self, sys: &mut System) {
        let dt = sys.settings.dt;
        let [lx, ly, _] = sys.simbox.lengths();
        let mut xy = sys.simbox.tilt[0] + self.rate * ly * dt;
        // Flip to the equivalent lattice basis; the neighbour list sees the box jump.
        if xy > 0.5 * lx {
            xy -= lx;
        } else if xy < -0.5 * lx {
            xy += lx;
        }
        sys.simbox.tilt[0] = xy;
        sys.xy_rate = self.rate * ly;
        self.strain += self.rate * dt;
    }

    fn reads_force_sums(&self) -> bool {
        false
    }

    fn keeps_masses(&self) -> bool {
        true
    }
}

/// How [`ShearThermostat`] moves the peculiar kinetic energy towards its target.
// One per shear run, so its size does not matter (boxing the generator only moves the
// lint to the checkpointed run state).
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, Serialize, Deserialize)]
enum Coupling {
    /// Stochastic velocity rescaling (Bussi et al. 2007).
    Bussi(ChaCha8Rng),
    /// A Nosé–Hoover chain (LAMMPS `fix nvt/sllod`, whose `tchain` defaults to 1): both
    /// half steps at the end of each step, where LAMMPS puts one at each end; with the
    /// first half step at the start ([`ShearThermostat::start`]) the sequence is LAMMPS'.
    /// LAMMPS also subtracts γ̇·v_y from the thermal v_x there; for lab velocities SLLOD needs
    /// no such term (module doc), a difference of order γ̇·v_y that vanishes as the
    /// particles are pinned to the flow.
    NoseHoover(Chain),
}

/// Thermostat of the peculiar (thermal) translational velocities v − u, 3N − 3 degrees of
/// freedom as LAMMPS `compute temp/deform`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ShearThermostat {
    pub target_k: f64,
    /// Relaxation time [µs] (T_damp for Nosé–Hoover).
    pub tau: f64,
    /// The streaming profile it leaves alone.
    pub flow: Streaming,
    /// Peculiar temperature after the last step [K], 3N − 3 degrees of freedom, where
    /// LAMMPS' `temp/deform` reads it: for Nosé–Hoover between the two half steps (here
    /// both end a step; LAMMPS' second starts the next one), for Bussi after the rescaling.
    pub temperature: f64,
    coupling: Coupling,
}

impl ShearThermostat {
    /// Bussi rescaling, seeded.
    pub fn new(target_k: f64, tau: f64, flow: Streaming, seed: u64) -> Self {
        let coupling = Coupling::Bussi(ChaCha8Rng::seed_from_u64(seed));
        ShearThermostat {
            target_k,
            tau,
            flow,
            temperature: 0.0,
            coupling,
        }
    }

    /// A Nosé–Hoover chain of `links` (1..=3; the reference's `nvt/sllod` has 1).
    pub fn nose_hoover(target_k: f64, tau: f64, flow: Streaming, links: usize) -> Self {
        let coupling = Coupling::NoseHoover(Chain::new(links));
        ShearThermostat {
            target_k,
            tau,
            flow,
            temperature: 0.0,
            coupling,
        }
    }

    /// LAMMPS' first thermostat half step, which comes before the first kick (Nosé–Hoover
    /// only; Bussi acts once a step): call once when the shear starts, so that both codes
    /// scale the velocities at the same instants.
    pub fn start(&mut self, sys: &mut System) {
        if matches!(self.coupling, Coupling::NoseHoover(_)) {
            self.apply(sys, true);
        }
    }

    /// The factor that scales the peculiar velocities, from their twice kinetic energy, and
    /// the twice kinetic energy to report (see [`Self::temperature`]); `first_half` stops a
    /// Nosé–Hoover step after its first half.
    fn factor(&mut self, k2: f64, dof: usize, dt: f64, first_half: bool) -> (f64, f64) {
        let kt = K_B * self.target_k;
        match &mut self.coupling {
            Coupling::Bussi(rng) => {
                let ke = 0.5 * k2;
                let k_target = 0.5 * dof as f64 * kt;
                let c = (-dt / self.tau).exp();
                let r1: f64 = StandardNormal.sample(rng);
                let sum_sq: f64 = ChiSquared::new((dof - 1) as f64).expect("dof > 1").sample(rng);
                let ke_new = ke
                    + (1.0 - c) * (k_target * (r1 * r1 + sum_sq) / dof as f64 - ke)
                    + 2.0 * r1 * (c * (1.0 - c) * k_target / dof as f64 * ke).sqrt();
                let alpha = (ke_new.max(0.0) / ke).sqrt();
                (alpha, k2 * alpha * alpha)
            }
            Coupling::NoseHoover(chain) => {
                let (q0, q) = Chain::thermostat_masses(dof as f64, kt, self.tau);
                let target = dof as f64 * kt;
                let f1 = chain.half_step(|f| k2 * f * f, target, kt, q0, q, dt);
                let k2 = k2 * f1 * f1;
                if first_half {
                    return (f1, k2);
                }
                (f1 * chain.half_step(|f| k2 * f * f, target, kt, q0, q, dt), k2)
            }
        }
    }

    /// Scales the peculiar velocities by one thermostat step (or its first half).
    fn apply(&mut self, sys: &mut System, first_half: bool) {
        let n = sys.particles.len();
        if n < 2 {
            return;
        }
        let k2 = self.flow.twice_peculiar_ke(sys);
        let dof = 3 * n - 3;
        if k2 <= 0.0 {
            self.temperature = 0.0;
            return;
        }
        let (alpha, k2_seen) = self.factor(k2, dof, sys.settings.dt, first_half);
        self.temperature = k2_seen / (dof as f64 * K_B);
        let (flow, y0) = (self.flow, self.flow.zero_height(sys));
        let p = &mut sys.particles;
        p.v.par_iter_mut().zip(p.x.par_iter()).for_each(|(v, x)| {
            let u = flow.velocity(y0, x[1]);
            v[0] = u + flush_subnormal(alpha * (v[0] - u));
            v[1] = flush_subnormal(v[1] * alpha);
            v[2] = flush_subnormal(v[2] * alpha);
        });
    }
}

impl Fix for ShearThermostat {
    fn end_of_step(&mut self, sys: &mut System) {
        self.apply(sys, false);
    }

    fn reads_force_sums(&self) -> bool {
        false
    }

    fn keeps_masses(&self) -> bool {
        true
    }
}

/// Shear stress p_xy [kPa] with the kinetic part from peculiar velocities.
pub fn shear_stress(sys: &System, flow: &Streaming) -> f64 {
    let (p, y0) = (&sys.particles, flow.zero_height(sys));
    let [kin] = det_sum(p.len(), |k| {
        let vx = p.v[k][0] - flow.velocity(y0, p.x[k][1]);
        [p.mass[k] * vx * p.v[k][1]]
    });
    (kin + sys.summary.virial[3]) / sys.simbox.volume()
}

/// Mean x-velocity in `bins` slabs along y (the streaming profile check) [µm/µs].
pub fn velocity_profile(sys: &System, bins: usize) -> Vec<(f64, f64)> {
    let (lo, ly) = (sys.simbox.lo[1], sys.simbox.lengths()[1]);
    let mut sum = vec![0.0; bins];
    let mut count = vec![0usize; bins];
    let b = &sys.simbox;
    for (x, v) in sys.particles.x.iter().zip(&sys.particles.v) {
        let s = b.to_fractional(*x)[1].rem_euclid(1.0);
        let k = ((s * bins as f64) as usize).min(bins - 1);
        // A particle outside [lo, hi) in y belongs to a periodic image moving at ±γ̇ l_y.
        let n = ((x[1] - lo) / ly).floor();
        sum[k] += v[0] - n * sys.xy_rate;
        count[k] += 1;
    }
    (0..bins)
        .filter(|&k| count[k] > 0)
        .map(|k| (lo + (k as f64 + 0.5) * ly / bins as f64, sum[k] / count[k] as f64))
        .collect()
}
