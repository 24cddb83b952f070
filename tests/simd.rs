//! The vector kernels give the same bits at every instruction-set level: a trajectory run
//! with the kernels capped to baseline x86-64 equals one at the best level detected; so
//! does a Nosé–Hoover NPT run (its own per-particle loops).
//! (Its own test binary: the cap is process-wide.)

mod common;

use common::{env_dir, run_polydisperse, run_reference_slurry};
use etwin::sim::integrate::twice_kinetic_total;
use etwin::sim::nose_hoover::NoseHooverNpt;
use etwin::sim::particles::Particles;
use etwin::sim::simd::{self, Level};
use etwin::units::K_B;

/// `n` spheres of several sizes and masses, moving and spinning.
fn spinning(n: usize) -> Particles {
    let mut p = Particles::default();
    for k in 0..n {
        let s = k as f64;
        p.push(
            k as u64,
            1,
            [0.0; 3],
            0.5 + (s * 0.37).fract(),
            1.0 + (s * 0.61).fract(),
        );
        p.v[k] = [(s * 0.13).sin(), (s * 0.29).cos(), (s * 0.71).sin()];
        p.omega[k] = [(s * 0.53).cos(), (s * 0.17).sin(), (s * 0.43).cos()];
    }
    p
}

/// 300 steps of Nosé–Hoover NPT from an LJ fluid that expands, its spheres spinning.
fn run_nose_hoover() -> Vec<u64> {
    let mut sys = common::lj_lattice_fluid(6, &[[0.0; 3]], 0.5, 1.5, 0.005, 5);
    for (k, w) in sys.particles.omega.iter_mut().enumerate() {
        let s = k as f64;
        *w = [(s * 0.31).sin(), (s * 0.47).cos(), (s * 0.83).sin()];
    }
    let mut nh = NoseHooverNpt::new(1.5 / K_B, 0.5, 1.5, 300, 0.5, 5.0);
    nh.run(&mut sys, 300);
    common::fingerprint(&sys)
}

#[test]
fn kernels_are_bit_identical_at_every_instruction_set_level() {
    let best = simd::detected();
    let mut runs = Vec::new();
    for level in [Level::Baseline, Level::Avx2, Level::Avx512] {
        if level > best {
            eprintln!("simd: {} not supported here, not compared", level.name());
            continue;
        }
        simd::set_cap(level);
        assert_eq!(simd::level(), level);
        let poly = run_polydisperse(300);
        let slurry =
            env_dir("ETWIN_DATA_DIR", "simd levels on the reference slurry").map(|d| run_reference_slurry(&d, 20));
        let kinetic = twice_kinetic_total(&spinning(3000)).to_bits();
        runs.push((level, poly, slurry, kinetic, run_nose_hoover()));
    }
    let (_, poly0, slurry0, kinetic0, npt0) = &runs[0];
    for (level, poly, slurry, kinetic, npt) in &runs[1..] {
        assert!(npt == npt0, "Nosé–Hoover NPT differs at {} from baseline", level.name());
        assert_eq!(
            kinetic,
            kinetic0,
            "kinetic sum differs at {} from baseline",
            level.name()
        );
        assert!(
            poly == poly0,
            "polydisperse gas differs at {} from baseline",
            level.name()
        );
        assert!(
            slurry == slurry0,
            "reference slurry differs at {} from baseline",
            level.name()
        );
    }
}
