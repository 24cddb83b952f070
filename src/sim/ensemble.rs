//! Ensembles as end-of-step fixes (LAMMPS `fix` semantics): a thermostat and a barostat.
//!
//! * [`VelocityRescale`]: stochastic velocity rescaling (Bussi, Donadio & Parrinello,
//!   J. Chem. Phys. 126, 014101, 2007), canonical; translational and rotational kinetic
//!   energies are rescaled by one factor.
//! * [`PressureCoupling`]: weak-coupling (Berendsen) box rescaling, isotropic or along z
//!   only, towards a target pressure that may ramp linearly (as the reference's
//!   `npt ... iso 0 100`). Its steady state has ⟨P⟩ = P₀, which is what the slurry density
//!   needs; in this model k_B T is far below the well depths, so fluctuation-exact barostats
//!   buy nothing.
//!
//! Fixes draw random numbers from their own seeded generator, once per step, so results do
//! not depend on the thread count.

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{ChiSquared, Distribution, StandardNormal};
use serde::{Deserialize, Serialize};

use crate::sim::system::System;
use crate::units::K_B;

/// A hook run at the end of every step.
pub trait Fix {
    fn end_of_step(&mut self, sys: &mut System);
    /// Whether `end_of_step` reads the force sums ([`crate::sim::system::ForceSummary`]):
    /// every step then takes them.
    fn reads_force_sums(&self) -> bool {
        true
    }
    /// Whether `end_of_step` leaves every mass and radius as it was: the kicks of the run
    /// then keep their factors ([`crate::sim::integrate::KickFactors`]).
    fn keeps_masses(&self) -> bool {
        false
    }
}

/// Kinetic temperature from translation [K]: T = Σ m v² / (3 N k_B).
pub fn temperature(sys: &System) -> f64 {
    let t = sys.thermo();
    2.0 * t.ke_trans_fj / (3.0 * sys.particles.len().max(1) as f64 * K_B)
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct VelocityRescale {
    /// Target temperature [K].
    pub target_k: f64,
    /// Relaxation time [µs].
    pub tau: f64,
    rng: ChaCha8Rng,
}

impl VelocityRescale {
    pub fn new(target_k: f64, tau: f64, seed: u64) -> Self {
        VelocityRescale {
            target_k,
            tau,
            rng: ChaCha8Rng::seed_from_u64(seed),
        }
    }
}

impl Fix for VelocityRescale {
    fn end_of_step(&mut self, sys: &mut System) {
        let n = sys.particles.len();
        let dof = 3 * n;
        if n == 0 || dof < 2 {
            return;
        }
        let t = sys.thermo();
        let k = t.ke_trans_fj;
        if k <= 0.0 {
            return;
        }
        let k_target = 0.5 * dof as f64 * K_B * self.target_k;
        let c = (-sys.settings.dt / self.tau).exp();
        let r1: f64 = StandardNormal.sample(&mut self.rng);
        let sum_sq = if dof > 1 {
            ChiSquared::new((dof - 1) as f64)
                .expect("dof > 1")
                .sample(&mut self.rng)
        } else {
            0.0
        };
        let k_new = k
            + (1.0 - c) * (k_target * (r1 * r1 + sum_sq) / dof as f64 - k)
            + 2.0 * r1 * (c * (1.0 - c) * k_target / dof as f64 * k).sqrt();
        let alpha = (k_new.max(0.0) / k).sqrt();
        sys.particles.scale_motion(alpha);
    }

    fn reads_force_sums(&self) -> bool {
        false
    }

    fn keeps_masses(&self) -> bool {
        true
    }
}

/// Which box lengths the barostat changes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum CouplingMode {
    /// All three, by the same factor, from the scalar pressure.
    Isotropic,
    /// z only, from p_zz (the film-thickness direction).
    Z,
}

impl CouplingMode {
    /// The box axes it scales.
    pub fn axes(self) -> &'static [usize] {
        match self {
            CouplingMode::Isotropic => &[0, 1, 2],
            CouplingMode::Z => &[2],
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PressureCoupling {
    pub mode: CouplingMode,
    /// Target pressure at the start and end of the ramp [kPa].
    pub start_kpa: f64,
    pub stop_kpa: f64,
    /// Steps over which the target ramps from start to stop.
    pub ramp_steps: u64,
    /// Relaxation time [µs].
    pub tau: f64,
    /// Compressibility used in the coupling [1/kPa]: larger moves the box faster.
    pub compressibility: f64,
    /// Largest relative change of a box length per step [-].
    pub max_strain_per_step: f64,
    /// Steps on which the box was kept from shrinking below the neighbour list's reach (the
    /// self-image limit, [`System::limit_shrink`]); non-zero means the target pressure was
    /// out of reach.
    pub limited_steps: u64,
    steps: u64,
}

impl PressureCoupling {
    pub fn new(mode: CouplingMode, target_kpa: f64, tau: f64, compressibility: f64) -> Self {
        PressureCoupling {
            mode,
            start_kpa: target_kpa,
            stop_kpa: target_kpa,
            ramp_steps: 1,
            tau,
            compressibility,
            max_strain_per_step: 1e-3,
            limited_steps: 0,
            steps: 0,
        }
    }

    /// Current target pressure [kPa].
    pub fn target(&self) -> f64 {
        let f = (self.steps as f64 / self.ramp_steps.max(1) as f64).min(1.0);
        self.start_kpa + f * (self.stop_kpa - self.start_kpa)
    }
}

impl Fix for PressureCoupling {
    fn end_of_step(&mut self, sys: &mut System) {
        self.steps += 1;
        let t = sys.thermo();
        let p = match self.mode {
            CouplingMode::Isotropic => t.pressure_scalar_kpa,
            CouplingMode::Z => t.pressure_kpa[2],
        };
        let axes = self.mode.axes();
        // Berendsen: μ^d = 1 − β dt/τ (P₀ − P), with d the number of coupled axes.
        let d = axes.len() as f64;
        let strain = (-self.compressibility * sys.settings.dt / self.tau * (self.target() - p) / d)
            .clamp(-self.max_strain_per_step, self.max_strain_per_step);
        let (mu, limited) = sys.limit_shrink(axes, 1.0 + strain);
        self.limited_steps += u64::from(limited);
        sys.scale_box(axes, mu);
    }

    fn keeps_masses(&self) -> bool {
        true
    }
}
