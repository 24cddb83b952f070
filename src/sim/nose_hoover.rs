//! Isotropic Nosé–Hoover NPT for spheres, as LAMMPS `fix npt/sphere ... iso` integrates
//! it: Martyna–Tobias–Klein barostat (Martyna, Tobias & Klein, J. Chem. Phys. 101, 4177,
//! 1994), Nosé–Hoover chains of three on the particles and on the barostat, and the
//! time-reversible splitting of Tuckerman et al. (J. Phys. A 39, 5629, 2006) in LAMMPS'
//! order. Translational and rotational kinetic energy both count in the temperature
//! (`temp/sphere`: 6N − 3 degrees of freedom) and in the kinetic pressure.
//!
//! Why it matters here: in this model k_B·T is far below the well depths, so the barostat
//! mass W = (N + 1) k_B T τ_P² is tiny and the box follows the target pressure almost
//! at once; from an overlapping start it first inflates, which relieves the overlaps
//! affinely. A weak-coupling barostat (see [`super::ensemble::PressureCoupling`]) keeps
//! the box and lets the overlaps explode instead, and the slurry that forms is denser at
//! the same pressure. The reference's densities come from this integrator.
//!
//! One step (LAMMPS `FixNH::initial_integrate`, forces, `final_integrate`):
//! 1. barostat chain ½ step; particle chain ½ step (scales v, ω);
//! 2. pressure with the scaled velocities; ω̇_box ½ step; v scaled by the box motion;
//! 3. half-kick; box ½ step; drift; box ½ step; forces;
//! 4. half-kick; v scaled by the box motion; T and P; ω̇_box ½ step; chains ½ step.
//!
//! The per-particle work runs as two passes over memory (each one parallel region):
//! chain scaling (the previous step's end-of-step scaling joins it), drag, kick, box,
//! drift and box (1–3), and kick with drag and kinetic sum (4). Each does the same
//! operations on each particle in the same order as separate passes would, and its
//! kinetic sums are [`integrate::twice_kinetic_total`]'s. The pressure of step 2 takes
//! the kinetic sum of step 4 times the chain factors squared, where LAMMPS sums again
//! after the scaling: equal up to rounding, which the virial's far larger sum absorbs
//! (the 4000-step reference NPT's `npt.csv` and `slurry.data` came out byte-identical).
//! Scaled velocities and spins that fall into the subnormals become zero
//! ([`integrate::flush_subnormal`]): free particles' motion decays there step after step.

use serde::{Deserialize, Serialize};

use crate::sim::integrate::{self, flush_subnormal, kick_chunk, KickSettings};
use crate::sim::system::System;
use crate::sim::timers::Phase;
use crate::units::K_B;

/// Chain length of both thermostats (the LAMMPS `fix nh` default), and the longest chain.
pub const CHAIN: usize = 3;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct NoseHooverNpt {
    /// Thermostat target [K].
    pub target_k: f64,
    /// Target pressure at the start and end of the ramp [kPa].
    pub start_kpa: f64,
    pub stop_kpa: f64,
    /// Steps over which the target ramps from start to stop.
    pub ramp_steps: u64,
    /// Thermostat damping time T_damp [µs].
    pub tau_t: f64,
    /// Barostat damping time P_damp [µs].
    pub tau_p: f64,
    /// Steps on which the box was kept from shrinking below the self-image limit
    /// ([`System::limit_shrink`]).
    pub limited_steps: u64,
    steps: u64,
    /// Thermostat chain on the particles.
    particles: Chain,
    /// Thermostat chain on the box velocity.
    barostat: Chain,
    /// Log-volume rate of each box length [1/µs] (equal, isotropic).
    omega_dot: f64,
    /// Current temperature [K] from the last full evaluation (set on the first step).
    t_current: f64,
    primed: bool,
    mtk_term2: f64,
}

/// The three box axes, all coupled.
const ALL: [usize; 3] = [0, 1, 2];

crate::multiversioned! {
    /// v ← v·f·f: the box drag as LAMMPS applies it, in two quarter factors (subnormal
    /// results flushed: [`flush_subnormal`]).
    fn drag(v: &mut [[f64; 3]], f: f64) {
        for c in v.as_flattened_mut() {
            *c = flush_subnormal(*c * f * f);
        }
    }
}

crate::multiversioned! {
    /// The chains' scaling of v and ω by `carried` (1 where none is carried: exact) then by
    /// `scale`, and the box drag v ← v·f·f: each factor in turn, as separate passes apply
    /// them (so the same bits), in one flat loop per array (a loop over rows does not
    /// vectorize); subnormal results flushed ([`flush_subnormal`]).
    fn scale_and_drag(v: &mut [[f64; 3]], omega: &mut [[f64; 3]], carried: f64, scale: f64, f: f64) {
        for a in v.as_flattened_mut() {
            *a = flush_subnormal(*a * carried * scale * f * f);
        }
        for a in omega.as_flattened_mut() {
            *a = flush_subnormal(*a * carried * scale);
        }
    }
}

/// Components per piece of [`affine_drift`]: a whole number of particles.
const DRIFT_PIECE: usize = 3 * 128;

crate::multiversioned! {
    /// x ← c₂ + μ₂ (c₁ + μ₁ (x − c₁) + dt·v − c₂): the drift between the box's two half
    /// steps about their centres, positions following the box affinely. Per component, with
    /// the centres repeated per particle, so that the loop is flat.
    fn affine_drift(x: &mut [[f64; 3]], v: &[[f64; 3]], first: ([f64; 3], f64), second: ([f64; 3], f64), dt: f64) {
        let ((c1, mu1), (c2, mu2)) = (first, second);
        let c1s: [f64; DRIFT_PIECE] = std::array::from_fn(|k| c1[k % 3]);
        let c2s: [f64; DRIFT_PIECE] = std::array::from_fn(|k| c2[k % 3]);
        let pieces = x.as_flattened_mut().chunks_mut(DRIFT_PIECE).zip(v.as_flattened().chunks(DRIFT_PIECE));
        for (xs, vs) in pieces {
            for (((x, v), a1), a2) in xs.iter_mut().zip(vs).zip(&c1s).zip(&c2s) {
                let moved = a1 + mu1 * (*x - a1) + dt * v;
                *x = a2 + mu2 * (moved - a2);
            }
        }
    }
}

impl NoseHooverNpt {
    pub fn new(target_k: f64, start_kpa: f64, stop_kpa: f64, ramp_steps: u64, tau_t: f64, tau_p: f64) -> Self {
        NoseHooverNpt {
            target_k,
            start_kpa,
            stop_kpa,
            ramp_steps,
            tau_t,
            tau_p,
            limited_steps: 0,
            steps: 0,
            particles: Chain::new(CHAIN),
            barostat: Chain::new(CHAIN),
            omega_dot: 0.0,
            t_current: 0.0,
            primed: false,
            mtk_term2: 0.0,
        }
    }

    /// Current target pressure [kPa] (the ramp counts steps already taken).
    pub fn target(&self) -> f64 {
        let f = (self.steps as f64 / self.ramp_steps.max(1) as f64).min(1.0);
        self.start_kpa + f * (self.stop_kpa - self.start_kpa)
    }

    /// Temperature of translation and rotation at the end of the last step [K].
    pub fn temperature(&self) -> f64 {
        self.t_current
    }

    /// The conserved quantity of the equations of motion [fJ] (LAMMPS `fix npt`'s energy
    /// plus the particles' kinetic and potential energy): constant up to the integration
    /// error when the target is constant and no damping acts.
    pub fn extended_energy(&self, sys: &System) -> f64 {
        let kt = self.kt();
        let dof = Self::dof(sys);
        let (q0, q) = Chain::thermostat_masses(dof, kt, self.tau_t);
        let p_freq = 1.0 / self.tau_p;
        let qp = kt / (p_freq * p_freq);
        let particles =
            0.5 * integrate::twice_kinetic_total(&sys.particles) + sys.summary.pe + sys.summary.contact_elastic;
        let chains = self.particles.energy(dof * kt, kt, q0, q) + self.barostat.energy(kt, kt, qp, qp);
        let barostat =
            self.target() * sys.simbox.volume() + 1.5 * self.omega_mass(sys) * self.omega_dot * self.omega_dot;
        particles + chains + barostat
    }

    /// 6N − 3: translation and rotation, less the centre of mass (`temp/sphere`).
    fn dof(sys: &System) -> f64 {
        (6 * sys.particles.len()) as f64 - 3.0
    }

    fn kt(&self) -> f64 {
        K_B * self.target_k
    }

    /// Barostat mass W = (N + 1) k_B T / ω_P² [fJ·µs²].
    fn omega_mass(&self, sys: &System) -> f64 {
        (sys.particles.len() + 1) as f64 * self.kt() * self.tau_p * self.tau_p
    }

    /// Scalar pressure with the kinetic part of translation and rotation [kPa].
    fn pressure(sys: &System, twice_ke: f64) -> f64 {
        let w = sys.summary.virial;
        (twice_ke + w[0] + w[1] + w[2]) / (3.0 * sys.simbox.volume())
    }

    /// Runs `n` steps. A step's closing chain scaling of v and ω waits for the next step's
    /// opening one and shares the pass of its drift; the last step's is applied before
    /// returning. The kinetic sum is taken in full once per call, then carried from step
    /// to step (see [`NoseHooverNpt::step`]).
    pub fn run(&mut self, sys: &mut System, n: u64) {
        // Masses and radii may have changed since the last run; not during one.
        sys.forget_kick_factors();
        let mut twice_ke = sys
            .timers
            .time(Phase::Integrate, || integrate::twice_kinetic_total(&sys.particles));
        if !self.primed {
            self.t_current = twice_ke / (Self::dof(sys) * K_B);
            self.primed = true;
        }
        let carried = crate::sim::team::run(|| {
            let mut carried = None;
            for _ in 0..n {
                let (scale, k2) = self.step(sys, carried, twice_ke);
                (carried, twice_ke) = (Some(scale), k2);
            }
            carried
        });
        if let Some(f) = carried {
            sys.timers.time(Phase::Integrate, || sys.particles.scale_motion(f));
        }
    }

    /// One step, less its closing scaling of v and ω by the returned factor; `carried` is
    /// the previous step's, still to apply. `twice_ke` is Σ m v² + I ω² [fJ] before
    /// `carried`; returns, with the factor, the sum at the end of the step, before it.
    fn step(&mut self, sys: &mut System, carried: Option<f64>, twice_ke: f64) -> (f64, f64) {
        // The target of a step is the one at its end (LAMMPS counts the step first).
        self.steps += 1;
        let dt = sys.settings.dt;
        let kick = KickSettings::half_kick(dt, sys.settings.max_step, sys.settings.rotate);
        // 1. chains; 2. the pressure after their scaling, whose kinetic sum scales with the
        // factor squared (LAMMPS sums again; the same up to rounding, and a pass fewer).
        // The scaling itself waits for the pass of step 3.
        self.barostat_chain(sys, dt);
        let scale = self.particle_chain(sys, dt);
        let carried = carried.unwrap_or(1.0);
        let chains = carried * scale;
        // 2. box velocity, its drag on v; 3. scaling, kick, box, drift, box, list test, forces
        self.box_rate_half(sys, dt, Self::pressure(sys, twice_ke * (chains * chains)));
        let (held, stale) = self.scale_kick_drift(sys, dt, (carried, scale), &kick);
        self.limited_steps += u64::from(held);
        sys.forces_after_tested_drift(true, stale);
        // 4. kick, box drag, T and P, box velocity, chains
        let f = self.drag_factor(dt);
        let k2 = sys.timed_kick(|p, factors| {
            integrate::then_twice_kinetic(p, factors, |c| {
                kick_chunk(&kick, c);
                drag(c.v, f);
            })
        });
        self.t_current = k2 / (Self::dof(sys) * K_B);
        self.box_rate_half(sys, dt, Self::pressure(sys, k2));
        let scale = self.particle_chain(sys, dt);
        self.barostat_chain(sys, dt);
        (scale, k2)
    }

    /// ω̇ += (dt/2)·[(P − P₀)·V / W + mtk₁ / W], with mtk₁ = dof·k_B·T / (3N).
    fn box_rate_half(&mut self, sys: &System, dt: f64, p_current: f64) {
        let n = sys.particles.len() as f64;
        let w = self.omega_mass(sys);
        let mtk1 = Self::dof(sys) * K_B * self.t_current / (3.0 * n);
        let f = (p_current - self.target()) * sys.simbox.volume() / w + mtk1 / w;
        self.omega_dot += 0.5 * dt * f;
        self.mtk_term2 = 3.0 * self.omega_dot / (3.0 * n);
    }

    /// The quarter factor exp(−(dt/4)(ω̇ + mtk₂)) of the box drag
    /// v ← v·exp(−(dt/2)(ω̇ + mtk₂)).
    fn drag_factor(&self, dt: f64) -> f64 {
        (-0.25 * dt * (self.omega_dot + self.mtk_term2)).exp()
    }

    /// The chains' scaling of v and ω by `scaling` (the carried factor, then this step's)
    /// (1–2), the box drag on v and the half-kick (2–3), then box lengths × exp((dt/2)·ω̇)
    /// about the centre, drift, and once more, with positions following the box affinely
    /// (3), and the neighbour list's rebuild test on the new positions: one pass over the
    /// particles (the box moves first: nothing before the drift reads it). Returns whether
    /// the self-image limit held the box back, and whether the list is stale.
    fn scale_kick_drift(&self, sys: &mut System, dt: f64, scaling: (f64, f64), kick: &KickSettings) -> (bool, bool) {
        let f = self.drag_factor(dt);
        let e = (0.5 * dt * self.omega_dot).exp();
        let (mu1, held1) = sys.limit_shrink(&ALL, e);
        let c1 = sys.simbox.scale_about_centre(&ALL, mu1);
        let (mu2, held2) = sys.limit_shrink(&ALL, e);
        let c2 = sys.simbox.scale_about_centre(&ALL, mu2);
        let stale = sys.timed_drift_then_test(|c| {
            scale_and_drag(c.v, c.omega, scaling.0, scaling.1, f);
            kick_chunk(kick, c);
            affine_drift(c.x, c.v, (c1, mu1), (c2, mu2), dt);
        });
        (held1 | held2, stale)
    }

    /// Half step of the particle chain; returns the factor to scale v and ω by.
    fn particle_chain(&mut self, sys: &System, dt: f64) -> f64 {
        let kt = self.kt();
        let dof = Self::dof(sys);
        let (q0, q) = Chain::thermostat_masses(dof, kt, self.tau_t);
        let t = self.t_current;
        let ke = |f: f64| dof * K_B * (t * (f * f));
        let factor = self.particles.half_step(ke, dof * kt, kt, q0, q, dt);
        self.t_current *= factor * factor;
        factor
    }

    /// Half step of the barostat chain; scales ω̇. The three coupled box lengths each
    /// have mass W (the isotropic case of LAMMPS).
    fn barostat_chain(&mut self, sys: &System, dt: f64) {
        let kt = self.kt();
        let p_freq = 1.0 / self.tau_p;
        let q = kt / (p_freq * p_freq);
        let (w, od) = (self.omega_mass(sys), self.omega_dot);
        let ke = |f: f64| 3.0 * w * (od * f) * (od * f);
        self.omega_dot *= self.barostat.half_step(ke, kt, kt, q, q, dt);
    }
}

/// A Nosé–Hoover chain of up to [`CHAIN`] links (LAMMPS `nhc_temp_integrate` /
/// `nhc_press_integrate`): positions, velocities (one extra, always 0, closes the chain)
/// and accelerations.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Chain {
    /// Links in use, 1..=[`CHAIN`] (LAMMPS `tchain`); 1 is a plain Nosé–Hoover thermostat.
    links: usize,
    eta: [f64; CHAIN],
    eta_dot: [f64; CHAIN + 1],
    eta_dotdot: [f64; CHAIN],
}

impl Chain {
    /// A chain of `links` links at rest, `links` clamped to 1..=[`CHAIN`].
    pub(crate) fn new(links: usize) -> Self {
        Chain {
            links: links.clamp(1, CHAIN),
            eta: [0.0; CHAIN],
            eta_dot: [0.0; CHAIN + 1],
            eta_dotdot: [0.0; CHAIN],
        }
    }

    /// Link masses (first, others) of a thermostat chain on `dof` degrees of freedom at
    /// k_B·T = `kt` with period `tau` [µs], as LAMMPS `fix nh`: dof·k_B·T / ω², k_B·T / ω².
    pub(crate) fn thermostat_masses(dof: f64, kt: f64, tau: f64) -> (f64, f64) {
        let t_freq = 1.0 / tau;
        (dof * kt / (t_freq * t_freq), kt / (t_freq * t_freq))
    }

    /// Half step for coupled variables whose twice kinetic energy is `ke(f)` once their
    /// velocities are scaled by f (`ke(1)` now), with target `ke_target`; link masses `q0`
    /// (first) and `q` (the others), k_B·T = `kt`. Returns the factor f to scale them by.
    pub(crate) fn half_step(
        &mut self,
        ke: impl Fn(f64) -> f64,
        ke_target: f64,
        kt: f64,
        q0: f64,
        q: f64,
        dt: f64,
    ) -> f64 {
        let (dt2, dt4, dt8) = (0.5 * dt, 0.25 * dt, 0.125 * dt);
        let mass = |ich: usize| if ich == 0 { q0 } else { q };
        self.eta_dotdot[0] = (ke(1.0) - ke_target) / q0;
        for ich in 1..self.links {
            self.eta_dotdot[ich] = (mass(ich - 1) * self.eta_dot[ich - 1] * self.eta_dot[ich - 1] - kt) / q;
        }
        for ich in (1..self.links).rev() {
            let e = (-dt8 * self.eta_dot[ich + 1]).exp();
            self.eta_dot[ich] = (self.eta_dot[ich] * e + self.eta_dotdot[ich] * dt4) * e;
        }
        let e = (-dt8 * self.eta_dot[1]).exp();
        self.eta_dot[0] = (self.eta_dot[0] * e + self.eta_dotdot[0] * dt4) * e;
        let factor = (-dt2 * self.eta_dot[0]).exp();
        self.eta_dotdot[0] = (ke(factor) - ke_target) / q0;
        for ich in 0..self.links {
            self.eta[ich] += dt2 * self.eta_dot[ich];
        }
        self.eta_dot[0] = (self.eta_dot[0] * e + self.eta_dotdot[0] * dt4) * e;
        for ich in 1..self.links {
            let e = (-dt8 * self.eta_dot[ich + 1]).exp();
            self.eta_dotdot[ich] = (mass(ich - 1) * self.eta_dot[ich - 1] * self.eta_dot[ich - 1] - kt) / q;
            self.eta_dot[ich] = (self.eta_dot[ich] * e + self.eta_dotdot[ich] * dt4) * e;
        }
        factor
    }

    /// Energy of the chain [fJ]: `e0`·η₀ + Σ_{i>0} k_B T·ηᵢ + Σ ½ qᵢ η̇ᵢ².
    fn energy(&self, e0: f64, kt: f64, q0: f64, q: f64) -> f64 {
        let mut e = e0 * self.eta[0] + 0.5 * q0 * self.eta_dot[0] * self.eta_dot[0];
        for ich in 1..self.links {
            e += kt * self.eta[ich] + 0.5 * q * self.eta_dot[ich] * self.eta_dot[ich];
        }
        e
    }
}
