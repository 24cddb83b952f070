//! Results do not depend on the number of threads: forces and a 1000-step trajectory
//! are bit-identical with 1 and 2 threads.

mod common;

use common::{env_dir, run_polydisperse, run_reference_slurry, with_threads};

#[test]
fn polydisperse_trajectory_is_bit_identical_on_1_and_2_threads() {
    let (f1, t1, builds) = with_threads(1, || run_polydisperse(1000));
    let (f2, t2, _) = with_threads(2, || run_polydisperse(1000));
    assert!(builds > 2, "the trajectory must include neighbour rebuilds ({builds})");
    assert!(f1 == f2, "step-0 forces differ between 1 and 2 threads");
    assert!(t1 == t2, "1000-step trajectory differs between 1 and 2 threads");
}

#[test]
fn reference_slurry_forces_are_bit_identical_on_1_and_2_threads() {
    let Some(data) = env_dir("ETWIN_DATA_DIR", "thread invariance on the reference slurry") else {
        return;
    };
    let run = || run_reference_slurry(&data, 200);
    let a = with_threads(1, run);
    let b = with_threads(2, run);
    assert!(a.0 == b.0, "step-0 forces differ between 1 and 2 threads");
    assert!(a.1 == b.1, "200-step trajectory differs between 1 and 2 threads");
}
