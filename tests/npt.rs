//! NPT on a Lennard-Jones fluid (lj/sf, r_c = 2.5σ) in reduced units mapped onto micro
//! units (σ = 1 µm, ε = 1 fJ, m = 1 pg → τ = 1 µs, P* = 1 ↔ 1 kPa, T* = 1 ↔ ε/k_B):
//! the time-averaged pressure reaches the set pressure within its statistical error and
//! the thermostat holds the temperature.

mod common;

use etwin::analysis::stats::{block_average, is_steady};
use etwin::sim::ensemble::{temperature, CouplingMode, PressureCoupling, VelocityRescale};
use etwin::sim::nose_hoover::NoseHooverNpt;
use etwin::sim::observer::Observer;
use etwin::sim::system::System;
use etwin::units::K_B;

const T_STAR: f64 = 1.5;

fn lj_fluid(n_side: usize, density: f64, seed: u64) -> System {
    common::lj_lattice_fluid(n_side, &[[0.0; 3]], density, T_STAR, 0.005, seed)
}

#[derive(Default)]
struct Series {
    pressure: Vec<f64>,
    pzz: Vec<f64>,
    density: Vec<f64>,
    temperature: Vec<f64>,
}

impl Observer for Series {
    fn interval(&self) -> u64 {
        10
    }
    fn observe(&mut self, sys: &System) {
        let t = sys.thermo();
        self.pressure.push(t.pressure_scalar_kpa);
        self.pzz.push(t.pressure_kpa[2]);
        self.density.push(sys.particles.len() as f64 / t.volume_um3);
        self.temperature.push(temperature(sys) * K_B);
    }
}

fn npt(mode: CouplingMode, target: f64) -> (Series, f64) {
    let mut sys = lj_fluid(8, 0.5, 1);
    let rho0 = 0.5;
    let mut thermostat = VelocityRescale::new(T_STAR / K_B, 0.1, 7);
    let mut barostat = PressureCoupling::new(mode, target, 1.0, 0.2);
    sys.run_with(4000, &mut [&mut thermostat, &mut barostat], &mut []);
    let mut s = Series::default();
    sys.run_with(12000, &mut [&mut thermostat, &mut barostat], &mut [&mut s]);
    (s, rho0)
}

#[test]
fn isotropic_npt_reaches_the_set_pressure_on_an_lj_fluid() {
    let target = 1.0;
    let (s, rho0) = npt(CouplingMode::Isotropic, target);
    let p = block_average(&s.pressure, 10).unwrap();
    let t = block_average(&s.temperature, 10).unwrap();
    let rho = block_average(&s.density, 10).unwrap();
    eprintln!(
        "P* = {:.4} ± {:.4} (target {target}), T* = {:.4} ± {:.4}, ρ* = {:.4} ± {:.4} (start {rho0})",
        p.mean, p.stderr, t.mean, t.stderr, rho.mean, rho.stderr
    );
    assert!((p.mean - target).abs() < 3.0 * p.stderr + 0.01, "pressure {p:?}");
    assert!((t.mean - T_STAR).abs() < 3.0 * t.stderr + 0.01, "temperature {t:?}");
    assert!(
        (rho.mean - rho0).abs() > 10.0 * rho.stderr,
        "the box must have moved: {rho:?}"
    );
    assert_eq!(is_steady(&s.density, 10, 3.0), Some(true));
}

#[test]
fn z_only_coupling_reaches_the_set_normal_stress() {
    let target = 1.0;
    let (s, _) = npt(CouplingMode::Z, target);
    let pzz = block_average(&s.pzz, 10).unwrap();
    eprintln!("Pzz* = {:.4} ± {:.4} (target {target})", pzz.mean, pzz.stderr);
    assert!((pzz.mean - target).abs() < 3.0 * pzz.stderr + 0.01, "pzz {pzz:?}");
}

/// An unreachable target pressure may not squeeze a periodic box below the neighbour
/// list's reach (interaction range + skin), where a particle would reach its own image: the
/// barostat holds the box and counts it. 27 particles, so that the box is already narrower
/// than twice the reach (the list holds two images of some partners) and reaches the limit
/// before the pressure does.
#[test]
fn pressure_coupling_never_breaks_the_self_image_limit() {
    let mut sys = lj_fluid(3, 0.5, 3);
    let mut thermostat = VelocityRescale::new(T_STAR / K_B, 0.1, 7);
    let mut barostat = PressureCoupling::new(CouplingMode::Isotropic, 1e4, 1.0, 0.2);
    sys.run_with(3000, &mut [&mut thermostat, &mut barostat], &mut []);
    let w = sys.simbox.perpendicular_widths();
    let limit = sys.neighbor.reach();
    assert!(barostat.limited_steps > 0, "the target must have been out of reach");
    assert!(w.iter().all(|&v| v >= limit), "widths {w:?} below {limit}");
}

/// Nosé–Hoover NPT (LAMMPS `fix npt/sphere` equations) on the same fluid: the pressure
/// averages to the target and the temperature of translation and rotation to its target.
#[test]
fn nose_hoover_npt_reaches_the_set_pressure_on_an_lj_fluid() {
    let target = 1.0;
    let mut sys = lj_fluid(8, 0.5, 1);
    let mut nh = NoseHooverNpt::new(T_STAR / K_B, target, target, 1, 0.5, 5.0);
    nh.run(&mut sys, 4000);
    let (mut p, mut t, mut rho) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..1600 {
        nh.run(&mut sys, 10);
        let th = sys.thermo();
        // The barostat's pressure counts rotation too; these spheres have none (ω = 0).
        p.push(th.pressure_scalar_kpa);
        t.push(nh.temperature() * K_B);
        rho.push(sys.particles.len() as f64 / th.volume_um3);
    }
    let (p, t, rho) = (
        block_average(&p, 10).unwrap(),
        block_average(&t, 10).unwrap(),
        block_average(&rho, 10).unwrap(),
    );
    eprintln!(
        "NH: P* = {:.4} ± {:.4} (target {target}), T* = {:.4} ± {:.4}, ρ* = {:.4} ± {:.4}",
        p.mean, p.stderr, t.mean, t.stderr, rho.mean, rho.stderr
    );
    assert!((p.mean - target).abs() < 3.0 * p.stderr + 0.01, "pressure {p:?}");
    assert!((t.mean - T_STAR).abs() < 3.0 * t.stderr + 0.01, "temperature {t:?}");
    assert!(
        (rho.mean - 0.5).abs() > 10.0 * rho.stderr,
        "the box must have moved: {rho:?}"
    );
}

/// Without damping and at a constant target, the extended energy of the Nosé–Hoover
/// equations (particles + chains + P₀V + box kinetic energy) is conserved up to the
/// integration error: halving the timestep cuts its drift over the same time by ≥ 3×
/// (second order: 4×), and at the finer step it is far below the thermal energy.
#[test]
fn nose_hoover_npt_conserves_its_extended_energy() {
    let drift = |dt: f64| {
        let mut sys = common::lj_lattice_fluid(6, &[[0.0; 3]], 0.5, T_STAR, dt, 2);
        let mut nh = NoseHooverNpt::new(T_STAR / K_B, 2.0, 2.0, 1, 0.5, 5.0);
        nh.run(&mut sys, 1);
        let (e0, pe0) = (nh.extended_energy(&sys), sys.summary.pe);
        let mut worst: f64 = 0.0;
        for _ in 0..40 {
            nh.run(&mut sys, (0.5 / dt).round() as u64);
            worst = worst.max((nh.extended_energy(&sys) - e0).abs());
        }
        (worst, (sys.summary.pe - pe0).abs(), sys.particles.len() as f64 * T_STAR)
    };
    let (coarse, _, _) = drift(0.005);
    let (fine, dpe, nkt) = drift(0.0025);
    eprintln!("extended-energy drift over 20 τ: {coarse:.3e} fJ (dt 0.005), {fine:.3e} fJ (dt 0.0025); N k_B T = {nkt:.3e} fJ; |ΔPE| = {dpe:.3}");
    assert!(fine < coarse / 3.0, "not second order: {coarse} → {fine}");
    assert!(fine < 1e-3 * nkt, "drift {fine} fJ");
    assert!(dpe > 1e-2 * nkt, "the system must have changed");
}

/// The Nosé–Hoover state survives a checkpoint: 200 steps in one go and 100 + 100 steps
/// with the state written to JSON and read back in between give the same bits.
#[test]
fn nose_hoover_state_round_trips_through_a_checkpoint() {
    let run = |split: bool| {
        let mut sys = lj_fluid(5, 0.5, 4);
        let mut nh = NoseHooverNpt::new(T_STAR / K_B, 0.5, 1.5, 200, 0.5, 5.0);
        nh.run(&mut sys, 100);
        if split {
            nh = serde_json::from_str(&serde_json::to_string(&nh).unwrap()).unwrap();
        }
        nh.run(&mut sys, 100);
        (common::fingerprint(&sys), nh.extended_energy(&sys).to_bits())
    };
    assert_eq!(run(false), run(true));
}

/// Nosé–Hoover NPT gives the same bits on 1 and 2 threads.
#[test]
fn nose_hoover_npt_is_thread_invariant() {
    let run = || {
        let mut sys = lj_fluid(6, 0.5, 5);
        let mut nh = NoseHooverNpt::new(T_STAR / K_B, 0.5, 1.5, 300, 0.5, 5.0);
        nh.run(&mut sys, 300);
        (common::fingerprint(&sys), nh.extended_energy(&sys).to_bits())
    };
    assert_eq!(common::with_threads(1, run), common::with_threads(2, run));
}
