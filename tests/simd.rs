//! The vector kernels give the same bits at every instruction-set level: a trajectory run
//! with the kernels capped to baseline x86-64 equals one at the best level detected.
//! (Its own test binary: the cap is process-wide.)

mod common;

use common::{env_dir, run_polydisperse, run_reference_slurry};
use etwin::sim::integrate::twice_kinetic_total;
use etwin::sim::particles::Particles;
use etwin::sim::simd::{self, Level};

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
        runs.push((level, poly, slurry, kinetic));
    }
    let (_, poly0, slurry0, kinetic0) = &runs[0];
    for (level, poly, slurry, kinetic) in &runs[1..] {
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
