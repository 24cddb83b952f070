//! Results do not depend on the number of threads: forces and a 1000-step trajectory
//! are bit-identical with 1 and 2 threads, with rayon's hand-overs or a two-thread team
//! (`sim::team`). Nor on where the step loop puts the kick.

mod common;

use common::{
    env_dir, fingerprint, mixed_forcefield, polydisperse_gas, polydisperse_system, run_polydisperse,
    run_reference_slurry, with_threads,
};
use etwin::sim::ensemble::{temperature, Fix};
use etwin::sim::nose_hoover::NoseHooverNpt;
use etwin::sim::observer::Observer;
use etwin::sim::system::{StepSettings, System};
use etwin::sim::team;

/// Due every step: the step loop then kicks after the force pass, not inside it.
struct EveryStep;

impl Observer for EveryStep {
    fn interval(&self) -> u64 {
        1
    }
    fn observe(&mut self, _: &System) {}
}

/// Does nothing, but the step loop cannot know: it then kicks in a pass of its own and
/// tests the neighbour list against every particle at every step.
struct NoOp;

impl Fix for NoOp {
    fn end_of_step(&mut self, _: &mut System) {}
}

/// On one thread, where nothing acts between two steps, `run` kicks each range of particles
/// inside the force pass as soon as its forces are complete, and tests the neighbour list
/// only when its bound on the displacements reaches half the skin. An observer due every
/// step makes it kick in a pass of its own; a fix, also test the list at every step. The
/// three give the same bits, with gravity too, across neighbour rebuilds.
#[test]
fn kicking_inside_the_force_pass_and_sparing_list_tests_change_no_bit() {
    let radii = [0.65, 1.2, 2.3, 4.1];
    for gravity in [[0.0; 3], [0.0, 0.0, -0.5]] {
        let run = |mode: u8| {
            with_threads(1, || {
                let (p, b) = polydisperse_gas(14, &radii, 1.01, 2.0, 5);
                let settings = StepSettings {
                    dt: 2e-4,
                    skin: 0.3,
                    gravity,
                    ..Default::default()
                };
                let mut sys = System::new(p, b, mixed_forcefield(&radii, 2e4, true, true), settings).unwrap();
                sys.setup().unwrap();
                match mode {
                    0 => sys.run(600, &mut []),
                    1 => sys.run(600, &mut [&mut EveryStep]),
                    _ => sys.run_with(600, &mut [&mut NoOp], &mut []),
                }
                (fingerprint(&sys), sys.timers.clone())
            })
        };
        let (inside, t_inside) = run(0);
        let (after, t_after) = run(1);
        let (tested, t_tested) = run(2);
        assert_eq!(t_inside.kicking_force_passes, 599, "gravity {gravity:?}");
        assert_eq!(t_after.kicking_force_passes, 0);
        assert_eq!(t_tested.kicking_force_passes, 0);
        assert!(t_inside.neighbor_builds > 2, "rebuilds: {}", t_inside.neighbor_builds);
        assert_eq!(t_inside.neighbor_builds, t_tested.neighbor_builds);
        assert_eq!(t_after.neighbor_builds, t_tested.neighbor_builds);
        assert_eq!(t_tested.neighbor_checks, 600);
        assert!(t_inside.neighbor_checks < 300, "tests: {}", t_inside.neighbor_checks);
        assert_eq!(t_inside.neighbor_checks, t_after.neighbor_checks);
        assert!(
            inside == after,
            "gravity {gravity:?}: kicking inside the force pass changed the trajectory"
        );
        assert!(
            inside == tested,
            "gravity {gravity:?}: sparing list tests changed the trajectory"
        );
    }
}

#[test]
fn polydisperse_trajectory_is_bit_identical_on_1_and_2_threads() {
    let (f1, t1, builds) = with_threads(1, || run_polydisperse(1000));
    let (f2, t2, _) = with_threads(2, || run_polydisperse(1000));
    let (f3, t3, _) = with_threads(2, || team::allow(|| run_polydisperse(1000)));
    assert!(builds > 2, "the trajectory must include neighbour rebuilds ({builds})");
    assert!(f1 == f2, "step-0 forces differ between 1 and 2 threads");
    assert!(f1 == f3, "step-0 forces differ between 1 thread and a team of 2");
    assert!(t1 == t2, "1000-step trajectory differs between 1 and 2 threads");
    assert!(
        t1 == t3,
        "1000-step trajectory differs between 1 thread and a team of 2"
    );
}

/// The Nosé–Hoover NPT loop (its box moves every step, and its drifting pass takes the
/// list's rebuild test) gives the same bits on 1 and 2 threads, and in a team of two.
#[test]
fn nose_hoover_npt_is_bit_identical_on_1_and_2_threads_and_in_a_team() {
    let npt = || {
        let mut sys = polydisperse_system();
        let (t, p0) = (temperature(&sys), sys.thermo().pressure_scalar_kpa);
        let v0 = sys.simbox.volume();
        let mut nh = NoseHooverNpt::new(t, p0, 2.0 * p0.abs() + 1.0, 600, 0.02, 0.2);
        for _ in 0..6 {
            nh.run(&mut sys, 100);
        }
        (fingerprint(&sys), sys.simbox.volume() / v0, sys.timers.neighbor_builds)
    };
    let (a, moved, builds) = with_threads(1, npt);
    let b = with_threads(2, npt);
    let c = with_threads(2, || team::allow(npt));
    assert!(
        builds > 1 && (moved - 1.0).abs() > 1e-6,
        "the box must move ({moved}) and the list be rebuilt ({builds})"
    );
    assert!(a == b.0, "the NPT trajectory differs between 1 and 2 threads");
    assert!(a == c.0, "the NPT trajectory differs between 1 thread and a team of 2");
}

#[test]
fn reference_slurry_forces_are_bit_identical_on_1_and_2_threads() {
    let Some(data) = env_dir("ETWIN_DATA_DIR", "thread invariance on the reference slurry") else {
        return;
    };
    let run = || run_reference_slurry(&data, 200);
    let a = with_threads(1, run);
    let b = with_threads(2, run);
    let c = with_threads(2, || team::allow(run));
    assert!(a.0 == b.0, "step-0 forces differ between 1 and 2 threads");
    assert!(a.0 == c.0, "step-0 forces differ between 1 thread and a team of 2");
    assert!(a.1 == b.1, "200-step trajectory differs between 1 and 2 threads");
    assert!(
        a.1 == c.1,
        "200-step trajectory differs between 1 thread and a team of 2"
    );
}
