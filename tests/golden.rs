//! Forces and torques against the LAMMPS goldens in `$ETWIN_GOLDEN_DIR` (structures from
//! `$ETWIN_DATA_DIR`), at step 0 and after 100 `nve/sphere` steps, for parameter sets A
//! and B and both reference structures.
//!
//! Norm: per atom, |X_ours − X_lammps| / |X_lammps| with X the 3-vector of force (torque,
//! velocity…), the denominator floored at 1e-12 of the largest |X| in the file; the test
//! asserts the maximum over atoms. Positions are compared modulo the box.

mod common;

use std::path::Path;

use common::{env_dir, max_rel_err, norm};
use etwin::io::forces_csv::Table;
use etwin::io::lammps_data::DataFile;
use etwin::sim::forcefield::reference::ReferenceModel;
use etwin::sim::system::{StepSettings, System};

struct Golden {
    ids: Vec<u64>,
    x: Vec<[f64; 3]>,
    v: Vec<[f64; 3]>,
    omega: Vec<[f64; 3]>,
    f: Vec<[f64; 3]>,
    t: Vec<[f64; 3]>,
}

fn read_golden(path: &Path) -> Golden {
    let tab = Table::read(path).unwrap_or_else(|e| panic!("{e}"));
    let mut g = Golden {
        ids: vec![],
        x: vec![],
        v: vec![],
        omega: vec![],
        f: vec![],
        t: vec![],
    };
    for r in 0..tab.rows.len() {
        g.ids.push(tab.get(r, ["id"]).unwrap()[0] as u64);
        g.x.push(tab.get(r, ["x", "y", "z"]).unwrap());
        g.v.push(tab.get(r, ["vx", "vy", "vz"]).unwrap());
        g.omega.push(tab.get(r, ["omegax", "omegay", "omegaz"]).unwrap());
        g.f.push(tab.get(r, ["fx", "fy", "fz"]).unwrap());
        g.t.push(tab.get(r, ["tqx", "tqy", "tqz"]).unwrap());
    }
    g
}

/// Values of the globals table for (case, step).
fn golden_globals(dir: &Path, case: &str, step: u64) -> Table {
    let tab = Table::parse(
        &std::fs::read_to_string(dir.join("golden_globals.csv"))
            .unwrap()
            .lines()
            .enumerate()
            .filter(|(k, l)| *k == 0 || l.starts_with(&format!("{case},{step},")))
            .map(|(_, l)| l.replacen(&format!("{case},"), "0,", 1))
            .collect::<Vec<_>>()
            .join("\n"),
        "golden_globals.csv",
    )
    .unwrap();
    assert_eq!(tab.rows.len(), 1, "one globals row for {case} step {step}");
    tab
}

fn ours_by_id(sys: &System, field: impl Fn(usize) -> [f64; 3]) -> Vec<[f64; 3]> {
    sys.particles.order_by_id().into_iter().map(field).collect()
}

fn check_state(sys: &System, g: &Golden, tol: f64, label: &str) {
    let p = &sys.particles;
    let order = p.order_by_id();
    let ids: Vec<u64> = order.iter().map(|&k| p.id[k]).collect();
    assert_eq!(ids, g.ids, "{label}: same atoms");
    let (ef, kf) = max_rel_err(&ours_by_id(sys, |k| p.f[k]), &g.f);
    let (et, kt) = max_rel_err(&ours_by_id(sys, |k| p.torque[k]), &g.t);
    eprintln!(
        "{label}: max per-atom relative error: force {ef:.3e} (id {}), torque {et:.3e} (id {})",
        g.ids[kf], g.ids[kt]
    );
    assert!(ef <= tol, "{label}: force error {ef:e} > {tol:e} at id {}", g.ids[kf]);
    assert!(et <= tol, "{label}: torque error {et:e} > {tol:e} at id {}", g.ids[kt]);
    // Positions modulo the box (LAMMPS did not re-wrap during the run).
    let mut dx: f64 = 0.0;
    for (n, &k) in order.iter().enumerate() {
        let d = sys.simbox.minimum_image(common::sub(p.x[k], g.x[n]));
        dx = dx.max(norm(d));
    }
    assert!(dx <= 1e-9, "{label}: position differs by {dx:e} µm");
    let (ev, _) = max_rel_err(&ours_by_id(sys, |k| p.v[k]), &g.v);
    let (ew, _) = max_rel_err(&ours_by_id(sys, |k| p.omega[k]), &g.omega);
    eprintln!("{label}: max position difference {dx:.3e} µm, velocity rel {ev:.3e}, angular velocity rel {ew:.3e}");
    assert!(ev <= tol && ew <= tol, "{label}: velocities differ: {ev:e}, {ew:e}");
}

fn check_globals(sys: &System, golden_dir: &Path, case: &str, step: u64) {
    let tab = golden_globals(golden_dir, case, step);
    let t = sys.thermo();
    let g = |c: &str| tab.get(0, [c]).unwrap()[0];
    let rel = |a: f64, b: f64, scale: f64| (a - b).abs() / scale;
    let pscale = g("press_kPa").abs();
    assert!(
        rel(t.pe_fj, g("pe_fJ"), g("pe_fJ").abs()) < 1e-9,
        "{case}@{step}: pe {} vs {}",
        t.pe_fj,
        g("pe_fJ")
    );
    assert!(
        rel(t.ke_trans_fj, g("ke_trans_fJ"), g("ke_trans_fJ").abs().max(1e-300)) < 1e-6,
        "{case}@{step}: ke"
    );
    let names = ["pxx_kPa", "pyy_kPa", "pzz_kPa", "pxy_kPa", "pxz_kPa", "pyz_kPa"];
    for (a, n) in names.iter().enumerate() {
        // Off-diagonal components are ~1e-4 of the diagonal: compare on the pressure scale.
        assert!(
            rel(t.pressure_kpa[a], g(n), pscale) < 1e-9,
            "{case}@{step}: {n} {} vs {}",
            t.pressure_kpa[a],
            g(n)
        );
    }
    assert_eq!(t.contacts as f64, g("contacts"), "{case}@{step}: contact count");
    assert!(rel(t.volume_um3, g("volume_um3"), g("volume_um3")) < 1e-14);
}

fn model(set: &str) -> ReferenceModel {
    let file = if set == "A" {
        "lombardo2020_best.ron"
    } else {
        "lombardo2020_start.ron"
    };
    ReferenceModel::load(
        &Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("scenarios/forcefields")
            .join(file),
    )
    .unwrap()
}

fn system(data: &Path, structure: &str, set: &str) -> System {
    let d = DataFile::read(&data.join(structure)).unwrap();
    let settings = StepSettings {
        dt: 0.001,
        skin: 1.0,
        ..Default::default()
    };
    let mut sys = System::new(d.particles, d.simbox, model(set).build().unwrap(), settings).unwrap();
    sys.setup().unwrap();
    sys
}

fn thick_case(set: &str) {
    let test = format!("golden thick set {set}");
    let (Some(data), Some(golden)) = (env_dir("ETWIN_DATA_DIR", &test), env_dir("ETWIN_GOLDEN_DIR", &test)) else {
        return;
    };
    let case = format!("thick_set{set}");
    let mut sys = system(&data, "artistic_structures/thick_slurry_relaxed.data", set);
    check_state(
        &sys,
        &read_golden(&golden.join(format!("{case}_step0.csv"))),
        1e-9,
        &format!("{case} step 0"),
    );
    check_globals(&sys, &golden, &case, 0);
    sys.run(100, &mut []);
    check_state(
        &sys,
        &read_golden(&golden.join(format!("{case}_step100.csv"))),
        1e-6,
        &format!("{case} step 100"),
    );
    check_globals(&sys, &golden, &case, 100);
}

#[test]
fn thick_slurry_set_a_matches_lammps() {
    thick_case("A");
}

#[test]
fn thick_slurry_set_b_matches_lammps() {
    thick_case("B");
}

#[test]
fn pso_start_structure_set_a_matches_lammps() {
    let test = "golden pso set A";
    let (Some(data), Some(golden)) = (env_dir("ETWIN_DATA_DIR", test), env_dir("ETWIN_GOLDEN_DIR", test)) else {
        return;
    };
    let sys = system(&data, "lombardo2020_pso_ff/coord_in.data", "A");
    check_state(
        &sys,
        &read_golden(&golden.join("pso_setA_step0.csv")),
        1e-9,
        "pso_setA step 0",
    );
    check_globals(&sys, &golden, "pso_setA", 0);
}
