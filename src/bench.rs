//! Benchmark workloads shared by `etwin bench` and the criterion benches.
//!
//! * `gas`: the granular gas of the engine issue — 19,683 monodisperse spheres (d = 1 µm,
//!   ρ = 1 g/cm³) on a simple-cubic lattice of spacing 1.0939 µm (φ = 0.4), fully periodic,
//!   Gaussian velocities with v_rms = 1 µm/µs (seeded, zero total momentum), Hertz with
//!   history k_n = 2e5, k_t = 2/7 k_n, γ_n = 400, γ_t = 200, μ = 0.5, dt = 2e-4 µs,
//!   skin 0.2 µm; 2000 steps to settle, then timed steps.
//! * `thick`: the 9859-particle relaxed reference slurry at parameter set A, NVE.
//! * `pso`: the 3945-particle raw PSO start structure at set A, NVE with a 0.01 µm
//!   displacement cap per step (LAMMPS `fix nve/limit`), since its overlapping start
//!   would otherwise blow up.

use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, Normal};
use serde::Serialize;

use crate::analysis::stats::median;
use crate::error::Result;
use crate::io::lammps_data::DataFile;
use crate::sim::forcefield::hertz_history::HertzHistory;
use crate::sim::forcefield::reference::ReferenceModel;
use crate::sim::forcefield::ForceField;
use crate::sim::particles::{sphere_mass, Particles};
use crate::sim::simbox::SimBox;
use crate::sim::system::{StepSettings, System};

/// Parameter set A of the golden files (best point of the reference PSO log).
pub const SET_A: [f64; 8] = [0.0280144, 0.855126, 0.0174665, 6.2, 0.005, 8.05968, 32.7771, 0.015528];
/// Parameter set B (the reference's human start point).
pub const SET_B: [f64; 8] = [0.323, 0.86, 0.0873, 6.2, 0.142, 16.3, 41.0, 0.003];

/// Hertz-with-history coefficients of the granular gas.
pub fn gas_forcefield() -> ForceField {
    let kn = 2e5;
    ForceField::new(
        "granular gas",
        vec![Box::new(HertzHistory {
            kn,
            kt: 2.0 / 7.0 * kn,
            gamma_n: 400.0,
            gamma_t: 200.0,
            xmu: 0.5,
        })],
    )
}

/// The granular gas state: `n³` spheres, seeded velocities.
pub fn gas_structure(n: usize, seed: u64) -> DataFile {
    let a = 1.0939;
    let l = n as f64 * a;
    let mut p = Particles::default();
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let normal = Normal::new(0.0, 1.0 / 3f64.sqrt()).expect("valid sigma");
    let r = 0.5;
    let m = sphere_mass(r, 1.0);
    let mut id = 1;
    for iz in 0..n {
        for iy in 0..n {
            for ix in 0..n {
                let x = [(ix as f64 + 0.5) * a, (iy as f64 + 0.5) * a, (iz as f64 + 0.5) * a];
                p.push(id, 1, x, r, m);
                let k = p.len() - 1;
                p.v[k] = [
                    normal.sample(&mut rng),
                    normal.sample(&mut rng),
                    normal.sample(&mut rng),
                ];
                id += 1;
            }
        }
    }
    // Zero total momentum (equal masses: subtract the mean velocity).
    let nn = p.len() as f64;
    let mean: [f64; 3] = std::array::from_fn(|c| p.v.iter().map(|v| v[c]).sum::<f64>() / nn);
    for v in &mut p.v {
        for c in 0..3 {
            v[c] -= mean[c];
        }
    }
    DataFile {
        title: format!("granular gas {n}^3, seed {seed} (electrode-twin bench)"),
        n_types: 1,
        simbox: SimBox::orthogonal([0.0; 3], [l; 3], [true; 3]),
        particles: p,
        has_velocities: true,
    }
}

/// Timing figures of one case.
#[derive(Debug, Clone, Serialize)]
pub struct CaseResult {
    pub name: String,
    pub particles: usize,
    pub threads: usize,
    /// Instruction-set level of the kernels.
    pub simd: crate::sim::simd::Level,
    /// Timed steps of one run.
    pub steps: u64,
    /// The median over the runs.
    pub particle_steps_per_s: f64,
    /// Each run's figure, in order.
    pub runs_particle_steps_per_s: Vec<f64>,
    /// Over all runs.
    pub phases: Phases,
    /// Round trip of a cache line between two threads' cores [ns], before each run and
    /// after the last ([`core_round_trip_ns`]); empty on one thread.
    pub core_round_trip_ns: Vec<f64>,
    pub neighbors_per_particle: f64,
    pub contacts_per_particle: f64,
}

/// Seconds per phase over the timed steps.
#[derive(Debug, Clone, Serialize)]
pub struct Phases {
    pub neighbor_s: f64,
    pub force_s: f64,
    pub integrate_s: f64,
    pub total_s: f64,
    pub neighbor_builds: u64,
}

/// A prepared case: the system and its step counts.
pub struct Case {
    pub name: String,
    pub system: System,
    pub warmup_steps: u64,
    pub timed_steps: u64,
}

/// The granular gas of `cells`³ spheres (27: the 19,683 of the engine's benchmark).
pub fn gas_case(cells: usize, timed_steps: u64) -> Result<Case> {
    let d = gas_structure(cells, 2024);
    let settings = StepSettings {
        dt: 2e-4,
        skin: 0.2,
        ..Default::default()
    };
    Ok(Case {
        name: "gas".into(),
        system: System::new(d.particles, d.simbox, gas_forcefield(), settings)?,
        warmup_steps: 2000,
        timed_steps,
    })
}

/// One of the reference structures at parameter set A.
pub fn reference_case(data_dir: &Path, name: &str, timed_steps: u64) -> Result<Case> {
    let (file, max_step) = match name {
        "thick" => ("artistic_structures/thick_slurry_relaxed.data", None),
        _ => ("lombardo2020_pso_ff/coord_in.data", Some(0.01)),
    };
    let d = DataFile::read(&data_dir.join(file))?;
    let ff = ReferenceModel::from_vector("set A", SET_A).build()?;
    let settings = StepSettings {
        dt: 0.001,
        skin: 1.0,
        max_step,
        ..Default::default()
    };
    Ok(Case {
        name: name.into(),
        system: System::new(d.particles, d.simbox, ff, settings)?,
        warmup_steps: 20,
        timed_steps,
    })
}

/// Sets up, warms up, then times the step loop `repeat` times in a row.
pub fn run_case(mut case: Case, repeat: u64) -> Result<CaseResult> {
    let sys = &mut case.system;
    sys.setup()?;
    sys.run(case.warmup_steps, &mut []);
    sys.timers = Default::default();
    let n = sys.particles.len();
    let (mut runs, mut wall) = (Vec::new(), 0.0);
    let threads = rayon::current_num_threads();
    let mut trips = Vec::new();
    let mut probe = || {
        if threads > 1 {
            trips.extend(core_round_trip_ns(Duration::from_millis(20)));
        }
    };
    for _ in 0..repeat.max(1) {
        probe();
        let t = Instant::now();
        sys.run(case.timed_steps, &mut []);
        let s = t.elapsed().as_secs_f64();
        runs.push(n as f64 * case.timed_steps as f64 / s);
        wall += s;
    }
    probe();
    sys.check_finite()?;
    let tm = &sys.timers;
    Ok(CaseResult {
        name: case.name,
        particles: n,
        threads,
        simd: crate::sim::simd::level(),
        steps: case.timed_steps,
        particle_steps_per_s: median(runs.clone()),
        runs_particle_steps_per_s: runs,
        phases: Phases {
            neighbor_s: tm.neighbor_s,
            force_s: tm.force_s,
            integrate_s: tm.integrate_s,
            total_s: wall,
            neighbor_builds: tm.neighbor_builds,
        },
        core_round_trip_ns: trips,
        neighbors_per_particle: 2.0 * sys.neighbor.n_pairs() as f64 / n as f64,
        contacts_per_particle: 2.0 * sys.summary.contacts as f64 / n as f64,
    })
}

/// The mean round trip [ns] of a cache line passed back and forth between two spinning
/// threads for about `span`; `None` with fewer than two cores.
///
/// Two threads' figures depend on it. On this project's 2-vCPU host the hypervisor sometimes
/// places the two vCPUs on cores that share no cache: the round trip then reads ~330 ns
/// instead of ~55, every hand-over between the threads costs as much, and the 2-thread gas
/// runs at 50 M particle-steps/s instead of 130, slower than on one thread, while each core
/// computes as fast as before. The figure says which placement a run had.
pub fn core_round_trip_ns(span: Duration) -> Option<f64> {
    if std::thread::available_parallelism().map_or(true, |n| n.get() < 2) {
        return None;
    }
    const BATCH: u64 = 64;
    let (line, done) = (AtomicU64::new(0), AtomicBool::new(false));
    let start = Instant::now();
    let trips = std::thread::scope(|s| {
        s.spawn(|| {
            // Answers each odd value with the next even one.
            while !done.load(Ordering::Acquire) {
                let v = line.load(Ordering::Acquire);
                if v % 2 == 1 {
                    line.store(v + 1, Ordering::Release);
                }
                std::hint::spin_loop();
            }
        });
        let mut v = 0;
        loop {
            for _ in 0..BATCH {
                line.store(v + 1, Ordering::Release);
                while line.load(Ordering::Acquire) != v + 2 {
                    std::hint::spin_loop();
                }
                v += 2;
            }
            if start.elapsed() >= span {
                done.store(true, Ordering::Release);
                return v / 2;
            }
        }
    });
    Some(start.elapsed().as_secs_f64() * 1e9 / trips as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repeated_runs_report_each_figure_and_their_median() {
        let r = run_case(gas_case(4, 30).unwrap(), 3).unwrap();
        assert_eq!((r.particles, r.steps, r.runs_particle_steps_per_s.len()), (64, 30, 3));
        let mut runs = r.runs_particle_steps_per_s.clone();
        runs.sort_by(f64::total_cmp);
        assert!(runs[0] > 0.0 && runs.iter().all(|v| v.is_finite()), "{runs:?}");
        assert_eq!(r.particle_steps_per_s, runs[1]);
        // The phase timers cover all three runs.
        assert!(r.phases.total_s >= 3.0 * 64.0 * 30.0 / runs[2] * (1.0 - 1e-9));
    }

    #[test]
    fn a_core_round_trip_is_timed_where_there_are_two_cores() {
        let Some(ns) = core_round_trip_ns(Duration::from_millis(5)) else {
            assert!(std::thread::available_parallelism().unwrap().get() < 2);
            return;
        };
        // Between two cores a line's round trip takes tens to hundreds of nanoseconds; on
        // one core shared by both threads it takes a time slice.
        assert!(ns.is_finite() && ns > 1.0, "{ns}");
        let pool = rayon::ThreadPoolBuilder::new().num_threads(2).build().unwrap();
        let r = pool.install(|| run_case(gas_case(3, 5).unwrap(), 2)).unwrap();
        assert_eq!(r.core_round_trip_ns.len(), 3, "{:?}", r.core_round_trip_ns);
        let one = rayon::ThreadPoolBuilder::new().num_threads(1).build().unwrap();
        assert!(one
            .install(|| run_case(gas_case(3, 5).unwrap(), 2))
            .unwrap()
            .core_round_trip_ns
            .is_empty());
    }
}
