//! The vector kernels give the same bits at every instruction-set level: a trajectory run
//! with the kernels capped to baseline x86-64 equals one at the best level detected.
//! (Its own test binary: the cap is process-wide.)

mod common;

use common::{env_dir, run_polydisperse, run_reference_slurry};
use etwin::sim::simd::{self, Level};

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
        runs.push((level, poly, slurry));
    }
    let (_, poly0, slurry0) = &runs[0];
    for (level, poly, slurry) in &runs[1..] {
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
