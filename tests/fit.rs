//! The particle swarm (argmin solver): standard functions, bounds, thread invariance and
//! checkpoint → kill → resume.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

use argmin::core::checkpointing::CheckpointingFrequency;
use argmin::core::{CostFunction, Error, Executor, State};
use etwin::fit::checkpoint::FileCheckpoint;
use etwin::fit::pso::{Pso, SwarmState};

struct Sphere;
impl CostFunction for Sphere {
    type Param = Vec<f64>;
    type Output = f64;
    fn cost(&self, x: &Vec<f64>) -> Result<f64, Error> {
        Ok(x.iter().map(|v| (v - 0.3) * (v - 0.3)).sum())
    }
}

struct Rosenbrock;
impl CostFunction for Rosenbrock {
    type Param = Vec<f64>;
    type Output = f64;
    fn cost(&self, x: &Vec<f64>) -> Result<f64, Error> {
        Ok(x.windows(2)
            .map(|w| 100.0 * (w[1] - w[0] * w[0]).powi(2) + (1.0 - w[0]).powi(2))
            .sum())
    }
}

fn run<O>(problem: O, pso: Pso, iters: u64) -> SwarmState
where
    O: CostFunction<Param = Vec<f64>, Output = f64> + Sync,
{
    Executor::new(problem, pso)
        .configure(|s| s.max_iters(iters))
        .run()
        .unwrap()
        .state
}

#[test]
fn the_swarm_finds_the_minimum_of_the_sphere_and_of_rosenbrock() {
    let pso = Pso::new(vec![-5.0; 4], vec![5.0; 4], 1).unwrap().with_swarm_size(20);
    let s = run(Sphere, pso, 300);
    let best = s.get_best_param().unwrap();
    eprintln!("sphere 4-D: cost {:.3e}", s.get_best_cost());
    assert!(s.get_best_cost() < 1e-10, "sphere: {}", s.get_best_cost());
    assert!(best.iter().all(|v| (v - 0.3).abs() < 1e-5), "{best:?}");
    // Rosenbrock in 4-D: a narrow curved valley to (1, 1, 1, 1).
    let pso = Pso::new(vec![-2.0; 4], vec![2.0; 4], 7).unwrap().with_swarm_size(30);
    let s = run(Rosenbrock, pso, 3000);
    let best = s.get_best_param().unwrap();
    eprintln!("rosenbrock 4-D: cost {:.3e} at {best:?}", s.get_best_cost());
    assert!(s.get_best_cost() < 1e-6, "rosenbrock: {}", s.get_best_cost());
    assert!(best.iter().all(|v| (v - 1.0).abs() < 1e-2), "{best:?}");
}

/// Records every point evaluated.
struct Watched(Mutex<Vec<Vec<f64>>>);
impl CostFunction for Watched {
    type Param = Vec<f64>;
    type Output = f64;
    fn cost(&self, x: &Vec<f64>) -> Result<f64, Error> {
        self.0.lock().unwrap().push(x.clone());
        // The minimum (10, −10) lies outside the box.
        Ok((x[0] - 10.0).powi(2) + (x[1] + 10.0).powi(2))
    }
}

#[test]
fn every_evaluated_point_lies_in_the_bounds() {
    let (lo, hi) = (vec![-1.0, 0.0], vec![1.0, 2.0]);
    let w = Watched(Mutex::new(Vec::new()));
    let result = Executor::new(w, Pso::new(lo.clone(), hi.clone(), 3).unwrap())
        .configure(|s| s.max_iters(100))
        .run()
        .unwrap();
    let best = result.state.get_best_param().unwrap().clone();
    let points = result.problem.problem.unwrap().0.into_inner().unwrap();
    assert_eq!(points.len(), 8 * 101, "8 members, the start and 100 iterations");
    for p in &points {
        assert!((0..2).all(|k| p[k] >= lo[k] && p[k] <= hi[k]), "{p:?} outside the box");
    }
    assert_eq!(best, vec![1.0, 0.0], "the corner nearest the outside minimum");
    assert!(Pso::new(vec![1.0], vec![0.0], 1).is_err(), "inverted bounds");
    assert!(
        Pso::new(vec![0.0, 0.0], vec![1.0], 1).is_err(),
        "bounds of unequal length"
    );
}

#[test]
fn a_seed_gives_the_same_swarm_on_one_and_two_threads() {
    let on = |threads: usize| {
        rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap()
            .install(|| {
                let pso = Pso::new(vec![-2.0; 4], vec![2.0; 4], 11).unwrap().with_swarm_size(12);
                let s = run(Rosenbrock, pso, 200);
                (s.get_best_param().unwrap().clone(), s.get_best_cost())
            })
    };
    let (a, b) = (on(1), on(2));
    assert_eq!(a.0, b.0);
    assert_eq!(a.1.to_bits(), b.1.to_bits());
    // A different seed is a different run.
    let other = run(
        Rosenbrock,
        Pso::new(vec![-2.0; 4], vec![2.0; 4], 12).unwrap().with_swarm_size(12),
        200,
    );
    assert_ne!(other.get_best_param().unwrap(), &a.0);
}

/// Rosenbrock that fails once `after` evaluations were made (a kill in the middle of an
/// iteration), counting them.
struct Dies {
    calls: AtomicUsize,
    after: usize,
}
impl CostFunction for Dies {
    type Param = Vec<f64>;
    type Output = f64;
    fn cost(&self, x: &Vec<f64>) -> Result<f64, Error> {
        if self.calls.fetch_add(1, Ordering::SeqCst) >= self.after {
            return Err(argmin::core::ArgminError::NotImplemented { text: "killed".into() }.into());
        }
        Rosenbrock.cost(x)
    }
}

#[test]
fn a_run_killed_mid_iteration_resumes_from_its_checkpoint_to_the_same_result() {
    let dir = tempfile::tempdir().unwrap();
    let checkpoint = || FileCheckpoint {
        path: dir.path().join("pso.json"),
        frequency: CheckpointingFrequency::Always,
    };
    let pso = || Pso::new(vec![-2.0; 4], vec![2.0; 4], 5).unwrap().with_swarm_size(10);
    let whole = run(Rosenbrock, pso(), 60);
    // Killed during the 24th iteration's evaluations.
    let dies = Dies {
        calls: AtomicUsize::new(0),
        after: 10 * 24 + 3,
    };
    let killed = Executor::new(dies, pso())
        .configure(|s| s.max_iters(60))
        .checkpointing(checkpoint())
        .run();
    assert!(killed.is_err());
    let counted = Dies {
        calls: AtomicUsize::new(0),
        after: usize::MAX,
    };
    let result = Executor::new(counted, pso())
        .configure(|s| s.max_iters(60))
        .checkpointing(checkpoint())
        .run()
        .unwrap();
    let resumed = result.state;
    assert_eq!(resumed.get_iter(), 60);
    // It went on from iteration 23, the last one finished: nothing finished is repeated.
    let calls = result.problem.problem.unwrap().calls.into_inner();
    assert_eq!(calls, 10 * (60 - 23), "evaluations after the resume");
    assert_eq!(resumed.get_best_param(), whole.get_best_param());
    assert_eq!(resumed.get_best_cost().to_bits(), whole.get_best_cost().to_bits());
}

mod common;

/// The benchmark surface on the reference's 456 + 220 LAMMPS evaluations: held-out error,
/// and the swarm variants on it.
#[test]
fn the_benchmark_surface_fits_the_reference_evaluations_and_the_swarms_run_on_it() {
    use etwin::fit::benchmark::*;
    let Some(data) = common::env_dir("ETWIN_DATA_DIR", "benchmark surface") else {
        return;
    };
    let dir = data.join("lombardo2020_pso_ff");
    let (evals, failed) = load_reference(&dir).unwrap();
    eprintln!(
        "{} distinct evaluations, {failed} failed-run rows left out",
        evals.len()
    );
    let (lo, hi) = load_bounds(&dir).unwrap();
    let t0 = std::time::Instant::now();
    let s = Surface::fit(&evals, lo, hi, 1).unwrap();
    let r = s.report();
    eprintln!("surface: {r:?} in {:.2} s", t0.elapsed().as_secs_f64());
    assert!(evals.len() > 300, "{} distinct evaluations", evals.len());
    assert!(
        r.held_out_mare[0] < 0.05,
        "density held-out error {}",
        r.held_out_mare[0]
    );
    // The reference's own first evaluation is reproduced (it is a training row).
    let p0 = load_start(&dir).unwrap();
    let pred = s.predict(&p0);
    eprintln!("at the human start: {pred:?} (LAMMPS 2.48864, 23.58, 6.56)");
    assert!(
        (pred[0] - 2.48864).abs() < 0.05 * 2.48864,
        "density at the start {}",
        pred[0]
    );
    // A run is a function of its seed; the plain swarm reaches the reference's 0.01 in
    // some of its runs within 800 calls.
    let plain: Vec<Vec<Option<usize>>> = (0..5)
        .map(|seed| {
            calls_to_reach(&s, REFERENCE_TARGETS, &Variant::Plain, seed, 800, &[0.01, 0.0011])
                .unwrap()
                .calls_to
        })
        .collect();
    let again = calls_to_reach(&s, REFERENCE_TARGETS, &Variant::Plain, 2, 800, &[0.01, 0.0011])
        .unwrap()
        .calls_to;
    assert_eq!(again, plain[2]);
    assert!(plain.iter().any(|c| c[0].is_some()), "{plain:?}");
    let seeded = calls_to_reach(&s, REFERENCE_TARGETS, &Variant::HumanSeeded(p0), 0, 800, &[0.01]).unwrap();
    eprintln!("plain: {plain:?}; human-seeded seed 0: {seeded:?}");
    // The surrogate-assisted swarm: every one of 4 seeds reaches 0.01, and a run is the
    // same on 1 and 2 threads (the nets train in parallel).
    let assisted = Variant::SurrogateAssisted(etwin::fit::swarm::Assist::default());
    let on = |threads: usize, seed: u64| {
        rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap()
            .install(|| run_variant(&s, REFERENCE_TARGETS, &assisted, seed, 800, 0.01).unwrap())
    };
    let runs: Vec<_> = (0..4).map(|seed| on(2, seed)).collect();
    let reached: Vec<Option<usize>> = runs
        .iter()
        .map(|r| r.iter().position(|c| c.cost <= 0.01).map(|i| i + 1))
        .collect();
    eprintln!(
        "surrogate-assisted calls to 0.01: {reached:?}; new bests of seed 0: {:?}",
        new_bests(&runs[0])
    );
    assert!(reached.iter().all(|r| r.is_some_and(|n| n <= 400)), "{reached:?}");
    let path = |r: &[etwin::fit::objective::Evaluation]| -> Vec<(Vec<f64>, u64, &'static str)> {
        r.iter()
            .map(|c| (c.x.clone(), c.cost.to_bits(), c.proposer.name()))
            .collect()
    };
    assert_eq!(path(&on(1, 1)), path(&runs[1]), "the assisted run differs on 1 thread");
    // Bad use of the command: a located, clear error and exit 1.
    let o = std::process::Command::new(env!("CARGO_BIN_EXE_etwin"))
        .arg("fit")
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("--benchmark"));
    let o = std::process::Command::new(env!("CARGO_BIN_EXE_etwin"))
        .args(["fit", "--benchmark", "--seeds", "0"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("hint"));
}

/// A fit file run end to end on the benchmark surface: log, force field, plot, results;
/// stopped after iteration 3 with the last calls of that iteration lost (a kill while they
/// ran), `resume` finishes it with the same evaluations as an uninterrupted fit, and runs
/// again only the lost calls.
#[test]
fn a_fit_file_stopped_and_resumed_gives_the_same_evaluations_as_an_uninterrupted_fit() {
    use etwin::fit::run::{run_fit, FitProgress};
    use etwin::fit::spec::FitSpec;
    if common::env_dir("ETWIN_DATA_DIR", "fit file on the benchmark").is_none() {
        return;
    }
    struct StopAfter(u64);
    impl FitProgress for StopAfter {
        fn iteration(&mut self, iteration: u64, _: f64, _: usize) -> bool {
            iteration < self.0
        }
    }
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios/fit_benchmark.ron");
    let (mut spec, _) = FitSpec::load(&path).unwrap();
    spec.optimizer.iterations = 6;
    spec.optimizer.target_cost = 0.0;
    let tmp = tempfile::tempdir().unwrap();
    let (whole, cut) = (tmp.path().join("whole"), tmp.path().join("cut"));
    let a = run_fit(&spec, &path, &whole, false, StopAfter(u64::MAX)).unwrap();
    assert_eq!(a.calls, 8 * 7);
    for f in [
        "evaluations.csv",
        "best_forcefield.ron",
        "convergence.png",
        "results.json",
        "checkpoint.ron",
    ] {
        assert!(whole.join(f).exists(), "{f}");
    }
    // The best force field loads as a scenario's force field.
    let ff: etwin::sim::forcefield::reference::ReferenceModel =
        ron::from_str(&std::fs::read_to_string(whole.join("best_forcefield.ron")).unwrap()).unwrap();
    assert!((ff.eps_am - a.best[0].value).abs() < 1e-12);
    let e = run_fit(&spec, &path, &cut, false, StopAfter(3)).unwrap_err();
    assert!(e.to_string().contains("stopped"), "{e}");
    // Lose the last 3 calls of the log, as a kill during them would.
    let log = cut.join("evaluations.csv");
    let text = std::fs::read_to_string(&log).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    let kept = lines.len() - 1 - 3;
    std::fs::write(&log, lines[..lines.len() - 3].join("\n") + "\n").unwrap();
    let e = run_fit(&spec, &path, &cut, false, StopAfter(u64::MAX)).unwrap_err();
    assert!(e.to_string().contains("--resume"), "a second start over a fit: {e}");
    let b = run_fit(&spec, &path, &cut, true, StopAfter(u64::MAX)).unwrap();
    assert_eq!(b.calls, a.calls);
    assert_eq!(b.calls_this_run, a.calls - kept, "finished calls were run again");
    assert_eq!(b.best_cost.to_bits(), a.best_cost.to_bits());
    // Same evaluations (call order within an iteration follows completion).
    let rows = |dir: &std::path::Path| {
        let t = std::fs::read_to_string(dir.join("evaluations.csv")).unwrap();
        let mut r: Vec<String> = t
            .lines()
            .skip(1)
            .map(|l| {
                let c: Vec<&str> = l.split(',').collect();
                // iteration, member, proposer, parameters, observables, errors, cost
                c[1..c.len() - 2].join(",")
            })
            .collect();
        r.sort();
        r
    };
    assert_eq!(rows(&cut), rows(&whole));
}

/// The particle engine as the fit's simulator (a short fit_quick): every call gives finite
/// observables with standard errors, the fitted parameters reach the simulation (distinct
/// candidates, distinct viscosities), and the best force field keeps the scenario's other
/// parameters.
#[test]
fn a_fit_runs_end_to_end_on_the_particle_engine() {
    use etwin::fit::run::{run_fit, FitProgress};
    use etwin::fit::spec::FitSpec;
    struct Go;
    impl FitProgress for Go {
        fn iteration(&mut self, _: u64, _: f64, _: usize) -> bool {
            true
        }
    }
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios/fit_quick.ron");
    let (mut spec, _) = FitSpec::load(&path).unwrap();
    spec.optimizer.swarm = 2;
    spec.optimizer.iterations = 1;
    spec.optimizer.surrogate = None;
    // A second formulation (here the same scenario again, density only): built on its own,
    // with its own column; the same scenario and candidate give the same density.
    let mut again = spec.targets[0].clone();
    again.formulation = Some("fit_quick_slurry.ron".into());
    spec.targets.push(again);
    let tmp = tempfile::tempdir().unwrap();
    let t0 = std::time::Instant::now();
    let r = run_fit(&spec, &path, tmp.path(), false, Go).unwrap();
    eprintln!("{r:#?}\nin {:.1} s", t0.elapsed().as_secs_f64());
    assert_eq!(r.calls, 4);
    let log = std::fs::read_to_string(tmp.path().join("evaluations.csv")).unwrap();
    let rows: Vec<Vec<f64>> = log
        .lines()
        .skip(1)
        .map(|l| l.split(',').skip(4).map(|v| v.parse().unwrap()).collect())
        .collect();
    assert!(
        log.starts_with("call,")
            && log
                .lines()
                .next()
                .unwrap()
                .contains(",fit_quick_slurry:density[g/cm3],")
    );
    // rho_cbd, gamma_n, 4 observables, 4 errors, cost, best, wall. A candidate whose
    // contacts the timestep cannot follow is a failed evaluation: no observables, infinite
    // cost. The quick slurry's period-two number is 0.56 at γ_n = 32.8, and its damping
    // term, which dominates, is proportional to γ_n: only large γ_n may fail (here the
    // first start point, γ_n = 88, stopped at 1.02).
    let (ok, failed): (Vec<&Vec<f64>>, Vec<&Vec<f64>>) = rows.iter().partition(|r| r[10].is_finite());
    for row in &failed {
        assert!(
            row[2..10].iter().all(|v| v.is_nan()) && row[10] == f64::INFINITY && row[1] > 50.0,
            "{row:?}"
        );
    }
    assert!(ok.len() >= 2, "{rows:?}");
    assert_eq!(r.failed_calls, failed.len());
    for row in &ok {
        assert!(row[2..10].iter().all(|v| v.is_finite() && *v > 0.0), "{row:?}");
        assert_eq!(
            row[2].to_bits(),
            row[5].to_bits(),
            "the same formulation twice: {row:?}"
        );
    }
    let etas: Vec<u64> = ok.iter().map(|r| r[3].to_bits()).collect();
    assert!(
        etas.windows(2).any(|w| w[0] != w[1]),
        "the candidates changed nothing: {rows:?}"
    );
    let ff: etwin::sim::forcefield::reference::ReferenceModel =
        ron::from_str(&std::fs::read_to_string(tmp.path().join("best_forcefield.ron")).unwrap()).unwrap();
    assert!((0.002..=0.05).contains(&ff.rho_cbd) && (10.0..=100.0).contains(&ff.gamma_n));
    assert_eq!(
        (ff.eps_am, ff.kn, ff.fixed.am_diameters.clone()),
        (0.0280144, 8.05968, vec![2.5, 3.5, 4.5])
    );
}
