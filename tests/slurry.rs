//! The slurry stage: scenario validation (good and bad files), the recipe against the
//! reference structure, and the quick scenario end to end (thread invariance included).

mod common;

use std::path::PathBuf;
use std::process::Command;

use etwin::io::lammps_data::DataFile;
use etwin::scenario::Scenario;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// (fixture, line:col, phrase)
const BAD: &[(&str, &str, &str)] = &[
    ("unknown_key.ron", "11:15", "unknown key `colour`"),
    (
        "wrong_unit.ron",
        "33:30",
        "`timestep`: unit `kPa` is not a unit of this quantity",
    ),
    (
        "fractions_not_summing.ron",
        "16:9",
        "`formulation.psd`: the number fractions sum to 1.1",
    ),
    ("negative_diameter.ron", "18:14", "`formulation.psd[1].diameter`"),
    (
        "impossible_solid_content.ron",
        "14:9",
        "`formulation.solid_content`: 1.2 is not in (0, 1)",
    ),
    ("wt_fractions.ron", "13:9", "`formulation.cbd_wt_fraction`"),
    ("missing_forcefield_file.ron", "26:5", "no force-field file"),
    ("psd_mismatch.ron", "16:9", "differ from the force field's AM types"),
    ("bad_forcefield_value.ron", "29:25", "`forcefield.kn`"),
    ("no_shear_rates.ron", "50:13", "`nemd.shear_rates`: no shear rate"),
    (
        "nose_hoover_z.ron",
        "45:13",
        "the NoseHoover ensemble is isotropic only",
    ),
    ("drying_shrink_factor.ron", "51:34", "`drying.shrink_factors`"),
    ("drying_wrong_unit.ron", "59:40", "`top_wall_max_speed`: unit `kPa`"),
    (
        "drying_am_contact_factor.ron",
        "64:13",
        "`drying.am_contact_factor`: 3 not in",
    ),
    (
        "drying_consolidation.ron",
        "66:17",
        "`drying.consolidation.pressure`: pressure -5 kPa must be > 0",
    ),
    ("nemd_thermostat_chain.ron", "56:13", "`nemd.thermostat_chain`: 4 links"),
    (
        "calendering_compression.ron",
        "24:13",
        "`calendering.target`: compression 1.3",
    ),
    ("calendering_wrong_unit.ron", "25:34", "`tool_speed`: unit `kPa`"),
    (
        "calendering_yield.ron",
        "22:25",
        "`calendering.materials.cbd`: yield_pressure",
    ),
    (
        "calendering_jitter.ron",
        "31:13",
        "`calendering.jitter`: -0.002 µm must be > 0",
    ),
    (
        "calendering_cohesion.ron",
        "23:25",
        "`calendering.materials.cbd`: the cbd–cbd contact's cohesion 3.000e7 J/m³ exceeds half",
    ),
];

#[test]
fn bad_scenarios_give_located_errors_and_validate_exits_nonzero() {
    for (name, at, phrase) in BAD {
        let path = root().join("tests/fixtures/bad/scenarios").join(name);
        let e = Scenario::load(&path).expect_err(name).to_string();
        assert!(e.starts_with(&format!("{}:{at}", path.display())), "{name}: {e}");
        assert!(e.contains(phrase), "{name}: `{phrase}` not in {e}");
        assert!(e.contains("hint:"), "{name}: {e}");
        let o = Command::new(env!("CARGO_BIN_EXE_etwin"))
            .arg("validate")
            .arg(&path)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(1), "{name}: {stderr}");
        assert!(!stderr.contains("panicked") && stderr.contains(*at), "{name}: {stderr}");
    }
}

#[test]
fn bundled_scenarios_validate() {
    let mut n = 0;
    for e in std::fs::read_dir(root().join("scenarios")).unwrap() {
        let p = e.unwrap().path();
        if p.extension().is_some_and(|x| x == "ron") {
            // Sweep files build and check all their cases.
            let text = std::fs::read_to_string(&p).unwrap();
            if text.contains("\nSweep(") {
                etwin::sweep::spec::Plan::load(&p).unwrap_or_else(|e| panic!("{e}"));
            } else if text.contains("\nFit(") {
                etwin::fit::spec::FitSpec::load(&p).unwrap_or_else(|e| panic!("{e}"));
            } else {
                Scenario::load(&p).unwrap_or_else(|e| panic!("{e}"));
            }
            n += 1;
        }
    }
    assert!(n >= 3);
}

/// `etwin validate` gives a scenario's box limits where it can build the initial system, and
/// where it cannot (an imported structure under an unset ETWIN_DATA_DIR) still validates the
/// scenario, saying why the limits are missing.
#[test]
fn validate_reports_box_limits_or_why_not() {
    let validate = |name: &str| {
        let o = Command::new(env!("CARGO_BIN_EXE_etwin"))
            .arg("validate")
            .arg(root().join("scenarios").join(name))
            .env_remove("ETWIN_DATA_DIR")
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        String::from_utf8_lossy(&o.stdout).into_owned()
    };
    let quick = validate("slurry_quick.ron");
    assert!(
        quick.contains("box limits: the NPT box stops at ") && quick.contains("the shear refuses"),
        "{quick}"
    );
    let imported = validate("lombardo2020_slurry.ron");
    assert!(
        imported.contains("box limits: not computed") && imported.contains("ETWIN_DATA_DIR"),
        "{imported}"
    );
}

/// The recipe arithmetic gives the 3945-particle reference structure's counts from the
/// scenario's inputs (dry mass and dry CBD density inferred, see the scenario's header).
#[test]
fn recipe_reproduces_the_reference_pso_structure_counts() {
    let l = Scenario::load(&root().join("scenarios/lombardo2020_slurry.ron")).unwrap();
    let c = l.scenario.formulation.counts();
    assert_eq!(c.cbd, 3786);
    assert_eq!(c.am, vec![29, 36, 26, 23, 33, 12]);
    let Some(data) = common::env_dir("ETWIN_DATA_DIR", "recipe vs coord_in.data") else {
        return;
    };
    let d = DataFile::read(&data.join("lombardo2020_pso_ff/coord_in.data")).unwrap();
    let count = |t: u32| d.particles.kind.iter().filter(|&&k| k == t).count();
    assert_eq!(count(1), c.cbd);
    for (k, &n) in c.am.iter().enumerate() {
        assert_eq!(count(k as u32 + 2), n, "class {k}");
    }
}

/// A shear run takes exactly strain / (γ̇ dt) steps when that is whole up to rounding
/// (0.0125 at 125 1/s and 0.001 µs is 100,000 steps, not 100,001), else the next whole step.
#[test]
fn shear_steps_are_whole_when_the_strain_divides_evenly() {
    let l = Scenario::load(&root().join("scenarios/lombardo2020_slurry.ron")).unwrap();
    let mut m = l.scenario.protocol.nemd.clone().unwrap();
    let (rate, dt) = (125e-6, 0.001);
    m.strain = 0.0125;
    assert_eq!(m.steps(rate, dt), 100_000);
    m.strain = 1.26;
    assert_eq!(m.steps(18e-6, dt), 70_000_000);
    m.strain = 0.01250001;
    assert_eq!(m.steps(rate, dt), 100_001);
}

/// `etwin run scenarios/slurry_quick.ron --json`: uninterrupted on 1 thread, and on 2
/// threads killed mid-run and resumed from its checkpoint, give the same results apart
/// from timing; density and two viscosities with standard errors; all files written.
#[test]
fn quick_slurry_is_identical_on_1_and_2_threads_and_after_kill_and_resume() {
    let dir = tempfile::tempdir().unwrap();
    let scenario = root().join("scenarios/slurry_quick.ron");
    let mut a = common::run_scenario(&scenario, 1, &dir.path().join("t1"));
    let in_npt = |c: &serde_json::Value| c["current"]["Npt"]["done"].as_u64().unwrap_or(0) > 0;
    let mut b = common::run_killed_and_resumed(&scenario, &dir.path().join("t2"), in_npt);
    assert!(a["timing"]["npt_s"].is_f64());
    a.as_object_mut().unwrap().remove("timing");
    b.as_object_mut().unwrap().remove("timing");
    assert_eq!(
        a, b,
        "results differ between the uninterrupted 1-thread run and the resumed 2-thread run"
    );
    let s = &a["slurry"];
    assert!(s["particles"]["am"].as_u64().unwrap() > 0 && s["particles"]["cbd"].as_u64().unwrap() > 0);
    let rho = s["density_g_cm3"].as_f64().unwrap();
    assert!(
        rho > 1.0 && rho < 5.0 && s["density_stderr_g_cm3"].as_f64().unwrap() > 0.0,
        "{s}"
    );
    let v = s["viscosity"].as_array().unwrap();
    assert_eq!(v.len(), 2);
    for p in v {
        assert!(
            p["viscosity_pa_s"].as_f64().unwrap() > 0.0 && p["stderr_pa_s"].as_f64().unwrap() > 0.0,
            "{p}"
        );
        let (slope, rate) = (
            p["profile_slope_per_s"].as_f64().unwrap(),
            p["shear_rate_per_s"].as_f64().unwrap(),
        );
        assert!(
            (slope / rate - 1.0).abs() < 0.05 && p["profile_r2"].as_f64().unwrap() > 0.99,
            "{p}"
        );
        // The stress split adds up: viscosity = static / γ̇ + damping.
        let part = |k: &str| p[k].as_f64().unwrap();
        let sum = part("static_stress_pa") / rate + part("damping_viscosity_pa_s");
        assert!(
            (sum - part("viscosity_pa_s")).abs() < 1e-9 * part("viscosity_pa_s"),
            "{p}"
        );
        assert!(
            part("static_stress_stderr_pa") > 0.0 && part("damping_stderr_pa_s") > 0.0,
            "{p}"
        );
    }
    for f in [
        "results.json",
        "manifest.json",
        "npt.csv",
        "nemd_0.csv",
        "nemd_1.csv",
        "slurry.data",
        "slurry.vtu",
    ] {
        assert!(dir.path().join("t1").join(f).is_file(), "{f} missing");
    }
    let header = std::fs::read_to_string(dir.path().join("t1/npt.csv")).unwrap();
    assert!(header.starts_with("step,time[us],temperature[K],pressure[kPa]"));
    DataFile::read(&dir.path().join("t1/slurry.data")).unwrap();
}

/// The reference's slurry mass: AM spheres at their nominal size (the simulated sphere has
/// the contact diameter, 1.14 × nominal) plus the wet CBD beads (type 1) as they are.
#[test]
fn slurry_density_mass_counts_am_at_nominal_size_and_wet_beads() {
    use etwin::sim::forcefield::reference::nominal_mass;
    use etwin::sim::particles::{sphere_mass, Particles};
    let mut p = Particles::default();
    let (cbd_r, cbd_rho, am_d, am_rho, cf) = (3.1, 0.005, 4.5, 4.65, 1.14);
    p.push(1, 1, [0.0; 3], cbd_r, sphere_mass(cbd_r, cbd_rho));
    p.push(
        2,
        4,
        [10.0, 0.0, 0.0],
        0.5 * cf * am_d,
        sphere_mass(0.5 * cf * am_d, am_rho),
    );
    let expected = cbd_rho * std::f64::consts::PI / 6.0 * (2.0 * cbd_r).powi(3)
        + am_rho * std::f64::consts::PI / 6.0 * am_d.powi(3);
    let got = nominal_mass(&p, cf);
    assert!((got - expected).abs() < 1e-12 * expected, "{got} vs {expected}");
}

/// A scenario's text without its `nemd` block.
fn without_nemd(text: &str) -> String {
    let (head, tail) = text.split_once("        nemd: Some((").unwrap();
    let tail = &tail[tail.find("        )),\n").unwrap() + "        )),\n".len()..];
    format!("{head}        nemd: None,\n{tail}")
}

/// `slurry_quick` at a timestep 100× too large, without its shear.
fn unstable_quick_scenario(dir: &std::path::Path) -> PathBuf {
    let text = std::fs::read_to_string(root().join("scenarios/slurry_quick.ron")).unwrap();
    let text = without_nemd(&text).replace("timestep: \"0.001 us\"", "timestep: \"0.1 us\"");
    let path = dir.join("unstable.ron");
    std::fs::write(&path, text).unwrap();
    path
}

/// `etwin --threads 1 run scenario --out <scenario>.out`: its output and the out folder.
fn etwin_run(scenario: &std::path::Path) -> (std::process::Output, PathBuf) {
    let out = scenario.with_extension("out");
    let o = Command::new(env!("CARGO_BIN_EXE_etwin"))
        .args(["--threads", "1", "run"])
        .arg(scenario)
        .arg("--out")
        .arg(&out)
        .output()
        .unwrap();
    (o, out)
}

/// A run that blows up stops with an error naming the step, the particle and the
/// timestep, exits 1 and writes no results (it used to finish with `null` observables).
#[test]
fn a_run_that_blows_up_stops_with_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let scenario = unstable_quick_scenario(dir.path());
    assert_run_fails(
        &scenario,
        &["the run became unstable", "non-finite", "timestep 0.1 µs", "hint:"],
    );
}

/// `etwin run` of `scenario` exits 1 with every phrase on stderr, no panic, no results.
fn assert_run_fails(scenario: &std::path::Path, phrases: &[&str]) {
    let (o, out) = etwin_run(scenario);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{err}");
    for phrase in phrases {
        assert!(err.contains(phrase), "`{phrase}` missing from:\n{err}");
    }
    assert!(!err.contains("panicked"), "{err}");
    assert!(!out.join("results.json").exists());
}

/// In a fit, a candidate that blows up is a failed evaluation (no observables), not the
/// end of the fit.
#[test]
fn a_fit_candidate_that_blows_up_has_no_observables() {
    use etwin::fit::objective::Simulator;
    use etwin::fit::run::EngineSimulator;
    use etwin::fit::spec::FitSpec;
    let dir = tempfile::tempdir().unwrap();
    let scenario = unstable_quick_scenario(dir.path());
    let spec_path = root().join("scenarios/fit_quick.ron");
    let (mut spec, _) = FitSpec::load(&spec_path).unwrap();
    spec.targets.retain(|t| t.shear_rate_per_s().is_none());
    let sim = EngineSimulator::new(&spec, &scenario, &spec_path).unwrap();
    let o = sim.observe(&[0.01f64.log10(), 50.0]).unwrap(); // rho_cbd on its log scale
    assert!(o.values.iter().chain(&o.stderr).all(|v| v.is_nan()), "{o:?}");
}

/// A box held at the self-image limit (too little mass for the interaction range: here 4 AM
/// spheres and 19 beads) never reaches the target pressure. The run says so in its summary,
/// report and results, and in a fit such a candidate has no observables: its density is the
/// limit's, though steady; a fit whose every call fails stops with an error. `etwin
/// validate` gives that density before the run. Such a box is
/// also too narrow to shear: a run with NEMD stops with a hint, and a fit that measures
/// viscosity counts the candidate as failed, not the end of the fit. The quick slurry's own
/// mass (0.01 µg) is never held.
#[test]
fn a_box_held_at_the_self_image_limit_is_reported_and_fails_a_fit_candidate() {
    use etwin::fit::objective::Simulator;
    use etwin::fit::run::EngineSimulator;
    use etwin::fit::spec::FitSpec;
    let dir = tempfile::tempdir().unwrap();
    let text = std::fs::read_to_string(root().join("scenarios/fit_quick_slurry.ron")).unwrap();
    assert!(text.contains("dry_mass_ug: 0.01, "));
    let light = |text: &str| text.replace("dry_mass_ug: 0.01, ", "dry_mass_ug: 0.0005,");
    let sheared = dir.path().join("held_sheared.ron");
    std::fs::write(&sheared, light(&text)).unwrap();
    let density_only = dir.path().join("held.ron");
    std::fs::write(&density_only, light(&without_nemd(&text))).unwrap();

    let (o, out) = etwin_run(&density_only);
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(
        stdout.contains("warning: the NPT box was held at the self-image limit")
            && stdout.contains("formulation.dry_mass_ug"),
        "{stdout}"
    );
    let results: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("results.json")).unwrap()).unwrap();
    let held = results["slurry"]["npt_box_limited_steps"].as_u64().unwrap();
    assert!(held > 1000, "{held}");
    let report = std::fs::read_to_string(out.join("report.md")).unwrap();
    assert!(report.contains(&format!("for {held} steps")), "{report}");
    // Known before the run: the density at which the box stops, and the shear's lower one.
    let limits = |path: &std::path::Path| {
        etwin::slurry::limits::box_limits(&Scenario::load(path).unwrap())
            .unwrap()
            .unwrap()
    };
    let rho = results["slurry"]["density_g_cm3"].as_f64().unwrap();
    let b = limits(&density_only);
    assert!(
        (b.npt_density_g_cm3 - rho).abs() < 1e-9 * rho && b.shear_density_g_cm3.is_none(),
        "{b:?} against {rho}"
    );
    let shear = limits(&sheared).shear_density_g_cm3.unwrap();
    assert!(shear < rho, "{shear} against {rho}");
    let o = Command::new(env!("CARGO_BIN_EXE_etwin"))
        .arg("validate")
        .arg(&sheared)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(
        stdout.contains(&format!("the NPT box stops at {rho:.3} g/cm³"))
            && stdout.contains(&format!("denser than {shear:.3} g/cm³")),
        "{stdout}"
    );
    assert_run_fails(&sheared, &["when sheared to the flip point", "formulation.dry_mass_ug"]);

    let spec_path = root().join("scenarios/fit_quick.ron");
    let (spec, _) = FitSpec::load(&spec_path).unwrap();
    let x = [0.005f64.log10(), 32.7771]; // the scenario's own rho_cbd (log scale) and gamma_n
    let observe = |spec: &FitSpec, scenario: &std::path::Path| {
        EngineSimulator::new(spec, scenario, &spec_path)
            .unwrap()
            .observe(&x)
            .unwrap()
    };
    let o = observe(&spec, &sheared);
    assert!(o.values.iter().chain(&o.stderr).all(|v| v.is_nan()), "{o:?}");
    let mut density = spec.clone();
    density.targets.retain(|t| t.shear_rate_per_s().is_none());
    let o = observe(&density, &density_only);
    assert!(o.values.iter().chain(&o.stderr).all(|v| v.is_nan()), "{o:?}");
    // A fit in which every call fails stops with an error, writing no force field.
    struct Go;
    impl etwin::fit::run::FitProgress for Go {
        fn iteration(&mut self, _: u64, _: f64, _: usize) -> bool {
            true
        }
    }
    density.evaluate = etwin::fit::spec::Evaluator::Scenario(density_only.display().to_string());
    (
        density.optimizer.swarm,
        density.optimizer.iterations,
        density.optimizer.surrogate,
    ) = (2, 1, None);
    let fit_out = dir.path().join("fit");
    let e = etwin::fit::run::run_fit(&density, &spec_path, &fit_out, false, Go).expect_err("every call failed");
    assert!(e.to_string().contains("all 4 simulator calls failed"), "{e}");
    assert!(fit_out.join("evaluations.csv").is_file() && !fit_out.join("best_forcefield.ron").exists());
    let o = observe(&density, &root().join("scenarios/fit_quick_slurry.ron"));
    assert!(o.values[0] > 1.5 && o.stderr[0].is_finite(), "{o:?}");
}

/// A run whose contact damping the timestep cannot follow stops with an error that names
/// the period-two limit and the largest timestep that would do, instead of finishing with
/// finite but meaningless stresses (the quick slurry at γ_n = 150; 32.8 gives 0.56 of the
/// limit, and the damping term is proportional to γ_n).
#[test]
fn a_run_the_timestep_cannot_follow_stops_with_the_stable_timestep() {
    let dir = tempfile::tempdir().unwrap();
    let text = std::fs::read_to_string(root().join("scenarios/slurry_quick.ron")).unwrap();
    assert!(text.contains("gamma_n: 32.7771"));
    let scenario = dir.path().join("overdamped.ron");
    std::fs::write(&scenario, text.replace("gamma_n: 32.7771", "gamma_n: 150.0")).unwrap();
    assert_run_fails(
        &scenario,
        &[
            "the run became unstable",
            "times the limit 4",
            "reduce the timestep to below",
        ],
    );
}
