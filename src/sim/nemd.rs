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

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{ChiSquared, Distribution, StandardNormal};
use serde::{Deserialize, Serialize};

use crate::sim::ensemble::Fix;
use crate::sim::nose_hoover::Chain;
use crate::sim::parallel::det_sum;
use crate::sim::system::System;
use crate::units::K_B;

/// Streaming velocity u_x at height y [µm/µs] for shear rate `rate` [1/µs].
#[inline]
fn streaming(sys: &System, rate: f64, y: f64) -> f64 {
    rate * (y - 0.5 * (sys.simbox.lo[1] + sys.simbox.hi[1]))
}

/// The shear deformation (LAMMPS `fix deform xy erate γ̇ remap v`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ShearDeform {
    /// Engineering shear rate γ̇ [1/µs].
    pub rate: f64,
    /// Accumulated strain γ̇·t [-].
    pub strain: f64,
}

impl ShearDeform {
    /// Starts shearing `sys`: sets the Lees–Edwards image velocity and, if
    /// `impose_profile`, adds the linear streaming profile to the velocities.
    pub fn start(sys: &mut System, rate: f64, impose_profile: bool) -> Result<Self, String> {
        if !(sys.simbox.periodic[0] && sys.simbox.periodic[1]) {
            return Err("shear needs x and y periodic".into());
        }
        let [lx, ly, _] = sys.simbox.lengths();
        // At the flip point (xy = ±lx/2) the box is thinnest across its x faces.
        let mut tilted = sys.simbox;
        tilted.tilt[0] = 0.5 * lx;
        tilted
            .check(sys.neighbor.max_range)
            .map_err(|e| format!("when sheared to the flip point: {e}"))?;
        sys.xy_rate = rate * ly;
        if impose_profile {
            for k in 0..sys.particles.len() {
                let u = streaming(sys, rate, sys.particles.x[k][1]);
                sys.particles.v[k][0] += u;
            }
        }
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
}

/// How [`ShearThermostat`] moves the peculiar kinetic energy towards its target.
// One per shear run, so its size does not matter (boxing the generator only moves the
// lint to the checkpointed run state).
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, Serialize, Deserialize)]
enum Coupling {
    /// Stochastic velocity rescaling (Bussi et al. 2007).
    Bussi(ChaCha8Rng),
    /// A Nosé–Hoover chain (LAMMPS `fix nvt/sllod`): both half steps at the end of each step,
    /// where LAMMPS puts one at each end (the same sequence from one step to the next).
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
    /// Shear rate of the streaming profile [1/µs].
    pub rate: f64,
    coupling: Coupling,
}

impl ShearThermostat {
    /// Bussi rescaling, seeded.
    pub fn new(target_k: f64, tau: f64, rate: f64, seed: u64) -> Self {
        let coupling = Coupling::Bussi(ChaCha8Rng::seed_from_u64(seed));
        ShearThermostat {
            target_k,
            tau,
            rate,
            coupling,
        }
    }

    /// A Nosé–Hoover chain, as the reference's `nvt/sllod`.
    pub fn nose_hoover(target_k: f64, tau: f64, rate: f64) -> Self {
        let coupling = Coupling::NoseHoover(Chain::default());
        ShearThermostat {
            target_k,
            tau,
            rate,
            coupling,
        }
    }

    /// The factor that scales the peculiar velocities, from their twice kinetic energy.
    fn factor(&mut self, k2: f64, dof: usize, dt: f64) -> f64 {
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
                (ke_new.max(0.0) / ke).sqrt()
            }
            Coupling::NoseHoover(chain) => {
                let (q0, q) = Chain::thermostat_masses(dof as f64, kt, self.tau);
                let target = dof as f64 * kt;
                let f1 = chain.half_step(|f| k2 * f * f, target, kt, q0, q, dt);
                let k2 = k2 * f1 * f1;
                f1 * chain.half_step(|f| k2 * f * f, target, kt, q0, q, dt)
            }
        }
    }
}

impl Fix for ShearThermostat {
    fn end_of_step(&mut self, sys: &mut System) {
        let n = sys.particles.len();
        if n < 2 {
            return;
        }
        let centre = 0.5 * (sys.simbox.lo[1] + sys.simbox.hi[1]);
        let rate = self.rate;
        let p = &sys.particles;
        let [k2] = det_sum(n, |k| {
            let v = p.v[k];
            let vx = v[0] - rate * (p.x[k][1] - centre);
            [p.mass[k] * (vx * vx + v[1] * v[1] + v[2] * v[2])]
        });
        if k2 <= 0.0 {
            return;
        }
        let alpha = self.factor(k2, 3 * n - 3, sys.settings.dt);
        let p = &mut sys.particles;
        for k in 0..n {
            let u = rate * (p.x[k][1] - centre);
            let v = &mut p.v[k];
            v[0] = u + alpha * (v[0] - u);
            v[1] *= alpha;
            v[2] *= alpha;
        }
    }
}

/// Shear stress p_xy [kPa] with the kinetic part from peculiar velocities.
pub fn shear_stress(sys: &System, rate: f64) -> f64 {
    let p = &sys.particles;
    let [kin] = det_sum(p.len(), |k| {
        let vx = p.v[k][0] - streaming(sys, rate, p.x[k][1]);
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
