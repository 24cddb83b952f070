//! Results do not depend on the number of threads: forces and a 1000-step trajectory
//! are bit-identical with 1 and 2 threads.

mod common;

use common::{env_dir, mixed_forcefield, polydisperse_gas};
use etwin::io::lammps_data::DataFile;
use etwin::sim::forcefield::reference::ReferenceModel;
use etwin::sim::system::{StepSettings, System};

/// Every per-particle array in id order, as bits, plus the force sums.
fn fingerprint(sys: &System) -> Vec<u64> {
    let p = &sys.particles;
    let mut out = Vec::new();
    for k in p.order_by_id() {
        out.push(p.id[k]);
        for a in [p.x[k], p.v[k], p.omega[k], p.f[k], p.torque[k]] {
            out.extend(a.iter().map(|v| v.to_bits()));
        }
    }
    out.push(sys.summary.pe.to_bits());
    out.extend(sys.summary.virial.iter().map(|v| v.to_bits()));
    out.push(sys.summary.contacts);
    out
}

fn with_threads<T: Send>(n: usize, f: impl FnOnce() -> T + Send) -> T {
    rayon::ThreadPoolBuilder::new()
        .num_threads(n)
        .build()
        .unwrap()
        .install(f)
}

fn run_polydisperse(steps: u64) -> (Vec<u64>, Vec<u64>, u64) {
    let radii = [0.65, 1.2, 2.3, 4.1];
    let (p, b) = polydisperse_gas(14, &radii, 1.01, 2.0, 5);
    let mut sys = System::new(
        p,
        b,
        mixed_forcefield(&radii, 2e4, true, true),
        StepSettings {
            dt: 2e-4,
            skin: 0.3,
            ..Default::default()
        },
    )
    .unwrap();
    sys.setup().unwrap();
    let first = fingerprint(&sys);
    sys.run(steps, &mut []);
    (first, fingerprint(&sys), sys.timers.neighbor_builds)
}

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
    let run = || {
        let d = DataFile::read(&data.join("artistic_structures/thick_slurry_relaxed.data")).unwrap();
        let ff = ReferenceModel::load(
            &std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios/forcefields/lombardo2020_best.ron"),
        )
        .unwrap()
        .build()
        .unwrap();
        let mut sys = System::new(d.particles, d.simbox, ff, StepSettings::default()).unwrap();
        sys.setup().unwrap();
        let first = fingerprint(&sys);
        sys.run(200, &mut []);
        (first, fingerprint(&sys))
    };
    let a = with_threads(1, run);
    let b = with_threads(2, run);
    assert!(a.0 == b.0, "step-0 forces differ between 1 and 2 threads");
    assert!(a.1 == b.1, "200-step trajectory differs between 1 and 2 threads");
}
