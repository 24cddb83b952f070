//! Shared test helpers: locating the reference data and comparing per-atom vectors.
#![allow(dead_code)]

use std::path::PathBuf;

use etwin::io::lammps_data::DataFile;
use etwin::sim::forcefield::reference::ReferenceModel;

/// The folder named by `var`. Unset → `None` after printing that the test skipped;
/// set but missing → the test fails (CI must not silently skip).
pub fn env_dir(var: &str, test: &str) -> Option<PathBuf> {
    match std::env::var_os(var) {
        None => {
            eprintln!("SKIPPED {test}: {var} is not set (it points at the reference data outside the repository)");
            None
        }
        Some(v) => {
            let p = PathBuf::from(v);
            assert!(p.is_dir(), "{var}={} is set but is not a folder", p.display());
            Some(p)
        }
    }
}

pub fn norm(v: [f64; 3]) -> f64 {
    (v[0] * v[0] + v[1] * v[1] + v[2] * v[2]).sqrt()
}

pub fn sub(a: [f64; 3], b: [f64; 3]) -> [f64; 3] {
    [a[0] - b[0], a[1] - b[1], a[2] - b[2]]
}

/// Largest per-atom relative error max_i |a_i − b_i| / max(|b_i|, floor), where the floor is
/// 1e-12 of the largest |b_k| (so an exactly-zero reference must be matched to that level).
/// Returns (error, index of the worst atom).
pub fn max_rel_err(a: &[[f64; 3]], b: &[[f64; 3]]) -> (f64, usize) {
    assert_eq!(a.len(), b.len());
    let scale = b.iter().map(|&v| norm(v)).fold(0.0, f64::max);
    let floor = (1e-12 * scale).max(1e-300);
    let mut worst = (0.0, 0);
    for k in 0..a.len() {
        let e = norm(sub(a[k], b[k])) / norm(b[k]).max(floor);
        if e > worst.0 {
            worst = (e, k);
        }
    }
    worst
}

use etwin::sim::forcefield::hertz_history::HertzHistory;
use etwin::sim::forcefield::lj_sf::LjSf;
use etwin::sim::forcefield::{ForceField, PairStyle};
use etwin::sim::particles::{sphere_mass, Particles};
use etwin::sim::simbox::SimBox;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// A polydisperse "granular gas": spheres on a jittered simple-cubic lattice (no overlaps
/// at start), radii drawn from `radii` by type (type k+1 ↔ radii[k]), random velocities
/// and spins. Lattice spacing = largest diameter × `spacing`.
pub fn polydisperse_gas(n_side: usize, radii: &[f64], spacing: f64, v_rms: f64, seed: u64) -> (Particles, SimBox) {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let dmax = 2.0 * radii.iter().copied().fold(0.0, f64::max);
    let a = dmax * spacing;
    let l = a * n_side as f64;
    let mut p = Particles::default();
    let mut id = 1;
    for iz in 0..n_side {
        for iy in 0..n_side {
            for ix in 0..n_side {
                let t = rng.random_range(0..radii.len());
                let r = radii[t];
                let slack = 0.5 * (a - 2.0 * r);
                let mut x = [(ix as f64 + 0.5) * a, (iy as f64 + 0.5) * a, (iz as f64 + 0.5) * a];
                for c in &mut x {
                    *c += rng.random_range(-slack..=slack);
                }
                p.push(id, t as u32 + 1, x, r, sphere_mass(r, 1.0 + t as f64));
                let k = p.len() - 1;
                p.v[k] = [0, 1, 2].map(|_| v_rms * rng.random_range(-1.0..1.0));
                p.omega[k] = [0, 1, 2].map(|_| v_rms / r * rng.random_range(-1.0..1.0));
                id += 1;
            }
        }
    }
    (p, SimBox::orthogonal([0.0; 3], [l; 3], [true; 3]))
}

/// Hertz with history plus an attractive-repulsive lj/sf acting inside contact.
pub fn mixed_forcefield(radii: &[f64], kn: f64, damping: bool, friction: bool) -> ForceField {
    let lj: Vec<(f64, f64, f64)> = radii.iter().map(|&r| (0.05 * r, 0.85 * 2.0 * r, 2.0 * r)).collect();
    let hertz = HertzHistory {
        kn,
        kt: if friction { 2.0 / 7.0 * kn } else { 0.0 },
        gamma_n: if damping { 50.0 } else { 0.0 },
        gamma_t: if damping { 25.0 } else { 0.0 },
        xmu: if friction { 0.5 } else { 0.0 },
    };
    let styles: Vec<Box<dyn PairStyle>> = vec![Box::new(LjSf::mixed(&lj)), Box::new(hertz)];
    ForceField::new("test mixture", styles)
}

use etwin::sim::forcefield::lj_sf::LjCoeff;
use etwin::sim::system::{StepSettings, System};
use rand_distr::{Distribution, Normal};

/// A Lennard-Jones fluid (lj/sf, ε = 1 fJ, σ = 1 µm, r_c = 2.5 µm, m = 1 pg: reduced units
/// map onto micro units) on `n`³ lattice cells with the given `basis` (fractions of a cell)
/// at number density `density`, Gaussian velocities at temperature `t_star` (k_B T / ε).
pub fn lj_lattice_fluid(n: usize, basis: &[[f64; 3]], density: f64, t_star: f64, dt: f64, seed: u64) -> System {
    let a = (basis.len() as f64 / density).cbrt();
    let l = a * n as f64;
    let mut p = Particles::default();
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let normal = Normal::new(0.0, t_star.sqrt()).expect("positive temperature");
    let mut id = 1;
    for iz in 0..n {
        for iy in 0..n {
            for ix in 0..n {
                for b in basis {
                    let x = [(ix as f64 + b[0]) * a, (iy as f64 + b[1]) * a, (iz as f64 + b[2]) * a];
                    p.push(id, 1, x, 0.5, 1.0);
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
    }
    let ff = ForceField::new("LJ", vec![Box::new(LjSf::mixed(&[(1.0, 1.0, 2.5)]))]);
    let settings = StepSettings {
        dt,
        skin: 0.3,
        ..Default::default()
    };
    let mut sys = System::new(p, SimBox::orthogonal([0.0; 3], [l; 3], [true; 3]), ff, settings).unwrap();
    sys.setup().unwrap();
    sys
}

/// Where the shifted force F(r) = F_LJ(r) − F_LJ(r_c) vanishes in (lo, hi), by bisection.
pub fn shifted_force_minimum(c: &LjCoeff, mut lo: f64, mut hi: f64) -> f64 {
    for _ in 0..200 {
        let mid = 0.5 * (lo + hi);
        if c.force_energy(mid).0 > 0.0 {
            lo = mid
        } else {
            hi = mid
        }
    }
    0.5 * (lo + hi)
}

/// 12 slurries (AM 94 / 96 wt %, solid-to-liquid 60–80 %) × 8 comma gaps × `replicates`:
/// loading grows with gap and solid content, the viscosity at the coating shear rate
/// with solid content and (shear thinning) with the gap, porosity with the gap.
pub fn synthetic_electrodes(replicates: usize) -> Vec<etwin::map::dataset::Electrode> {
    let mut v = Vec::new();
    for (s, (am, stol)) in [94.0, 96.0]
        .iter()
        .flat_map(|&a| [60.0, 64.0, 68.0, 72.0, 76.0, 80.0].map(move |b| (a, b)))
        .enumerate()
    {
        for g in 0..8 {
            let gap = 50.0 + 50.0 * g as f64;
            for r in 0..replicates {
                let jitter = 0.02 * (r as f64 - 0.5 * (replicates as f64 - 1.0));
                v.push(etwin::map::dataset::Electrode {
                    am_wt_percent: am,
                    stol_percent: stol,
                    gap_um: gap,
                    viscosity_pa_s: (0.1 * stol - 4.0) * (gap / 200.0).powf(0.3),
                    mass_loading_mg_cm2: gap * stol / 1000.0 + 0.1 * s as f64 + jitter * 10.0,
                    porosity_percent: 40.0 + 0.05 * gap + jitter * 20.0,
                });
            }
        }
    }
    v
}

/// Writes electrodes as a CSV with the canonical headers.
pub fn write_electrodes(path: &std::path::Path, rows: &[etwin::map::dataset::Electrode]) {
    let mut s = String::from("am[wt%],stol[%],gap[um],viscosity[Pa s],mass_loading[mg/cm2],porosity[%]\n");
    for e in rows {
        s += &format!(
            "{},{},{},{},{},{}\n",
            e.am_wt_percent, e.stol_percent, e.gap_um, e.viscosity_pa_s, e.mass_loading_mg_cm2, e.porosity_percent
        );
    }
    std::fs::write(path, s).unwrap();
}

/// `etwin --threads N run --json --out OUT SCENARIO`, whatever its outcome.
pub fn run_scenario_output(scenario: &std::path::Path, threads: usize, out: &std::path::Path) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_etwin"))
        .args(["--threads", &threads.to_string(), "run", "--json", "--out"])
        .arg(out)
        .arg(scenario)
        .output()
        .unwrap()
}

/// `etwin --threads N run --json --out OUT SCENARIO`; the results JSON.
pub fn run_scenario(scenario: &std::path::Path, threads: usize, out: &std::path::Path) -> serde_json::Value {
    let o = run_scenario_output(scenario, threads, out);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    serde_json::from_slice(&o.stdout).expect("results JSON on stdout")
}

/// Starts `scenario` on 2 threads, kills it (SIGKILL) once its checkpoint satisfies
/// `mid_run`, then resumes it; returns the resumed run's JSON.
pub fn run_killed_and_resumed(
    scenario: &std::path::Path,
    out: &std::path::Path,
    mid_run: impl Fn(&serde_json::Value) -> bool,
) -> serde_json::Value {
    let bin = env!("CARGO_BIN_EXE_etwin");
    let mut child = std::process::Command::new(bin)
        .args(["--threads", "2", "run", "--json", "--checkpoint-every", "0.2", "--out"])
        .arg(out)
        .arg(scenario)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let checkpoint = out.join("checkpoint.json");
    let started = std::time::Instant::now();
    loop {
        std::thread::sleep(std::time::Duration::from_millis(100));
        let reached = std::fs::read_to_string(&checkpoint)
            .ok()
            .and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok())
            .is_some_and(|c| mid_run(&c));
        if reached {
            break;
        }
        assert!(
            child.try_wait().unwrap().is_none(),
            "the run ended before it could be interrupted"
        );
        assert!(started.elapsed().as_secs() < 300, "no checkpoint appeared");
    }
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(!out.join("results.json").exists(), "killed before the end");
    let o = std::process::Command::new(bin)
        .args(["--threads", "2", "run", "--json", "--resume"])
        .arg(out)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(
        !checkpoint.exists(),
        "the checkpoint is removed once the results are written"
    );
    serde_json::from_slice(&o.stdout).expect("results JSON on stdout")
}

/// Every per-particle array in id order, as bits, plus the force sums and the at-rest
/// virial of the shear runs' stress split (its own parallel force pass).
pub fn fingerprint(sys: &System) -> Vec<u64> {
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
    out.extend(sys.pair_virial_at_rest().iter().map(|v| v.to_bits()));
    out
}

pub fn with_threads<T: Send>(n: usize, f: impl FnOnce() -> T + Send) -> T {
    rayon::ThreadPoolBuilder::new()
        .num_threads(n)
        .build()
        .unwrap()
        .install(f)
}

/// The 2744-sphere polydisperse gas of the thread-invariance tests, set up.
pub fn polydisperse_system() -> System {
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
    sys
}

pub fn run_polydisperse(steps: u64) -> (Vec<u64>, Vec<u64>, u64) {
    let mut sys = polydisperse_system();
    let first = fingerprint(&sys);
    sys.run(steps, &mut []);
    (first, fingerprint(&sys), sys.timers.neighbor_builds)
}

/// The relaxed reference slurry at the reference's best parameters: fingerprints after
/// setup and after `steps` steps.
pub fn run_reference_slurry(data: &std::path::Path, steps: u64) -> (Vec<u64>, Vec<u64>) {
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
    sys.run(steps, &mut []);
    (first, fingerprint(&sys))
}
