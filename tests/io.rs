//! Data-file round trips and the `etwin forces` command's outputs.

use std::path::Path;
use std::process::Command;

use etwin::io::forces_csv::{Table, FORCES_HEADER};
use etwin::io::lammps_data::DataFile;

fn fixture(name: &str) -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures").join(name)
}

#[test]
fn data_file_round_trip_is_exact_including_triclinic_boxes() {
    let mut d = DataFile::read(&fixture("good/three_spheres.data")).unwrap();
    d.simbox.tilt = [1.25, -0.3, 2.0 / 3.0];
    d.particles.x[1] = [std::f64::consts::PI, 1e-17, -4.2e5];
    d.particles.image[2] = [-1, 3, 0];
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("out.data");
    d.write(&path).unwrap();
    let back = DataFile::read(&path).unwrap();
    assert_eq!(back.simbox, d.simbox);
    assert_eq!(back.n_types, d.n_types);
    let (a, b) = (&d.particles, &back.particles);
    assert_eq!(a.id, b.id);
    assert_eq!(a.kind, b.kind);
    assert_eq!(a.x, b.x);
    assert_eq!(a.v, b.v);
    assert_eq!(a.omega, b.omega);
    assert_eq!(a.image, b.image);
    assert_eq!(a.radius, b.radius);
    for k in 0..a.len() {
        assert!((a.mass[k] - b.mass[k]).abs() <= 1e-15 * a.mass[k], "mass via density");
    }
    // Nothing but the result is left in the folder (atomic write).
    let names: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names.len(), 1, "{names:?}");
}

#[test]
fn forces_command_writes_csv_and_json() {
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("forces.csv");
    let data_out = dir.path().join("final.data");
    let o = Command::new(env!("CARGO_BIN_EXE_etwin"))
        .args(["--threads", "1", "forces", "--steps", "5", "--json", "--structure"])
        .arg(fixture("good/three_spheres.data"))
        .arg("--forcefield")
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios/forcefields/lombardo2020_best.ron"))
        .arg("--out")
        .arg(&csv)
        .arg("--write-data")
        .arg(&data_out)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let j: serde_json::Value = serde_json::from_slice(&o.stdout).expect("stdout is JSON");
    assert_eq!(j["step"], 5);
    assert_eq!(j["particles"], 3);
    assert!(j["pressure_kPa"]["xx"].is_f64() && j["pe_fJ"].is_f64());
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("neighbor"),
        "per-phase timers at the end"
    );
    let text = std::fs::read_to_string(&csv).unwrap();
    assert_eq!(text.lines().next(), Some(FORCES_HEADER));
    let t = Table::read(&csv).unwrap();
    assert_eq!(t.rows.len(), 3);
    // Newton's third law: the forces sum to zero.
    for c in ["fx", "fy", "fz"] {
        let s: f64 = (0..3).map(|r| t.get(r, [c]).unwrap()[0]).sum();
        let m: f64 = (0..3).map(|r| t.get(r, [c]).unwrap()[0].abs()).fold(0.0, f64::max);
        assert!(s.abs() <= 1e-12 * m.max(1e-300), "{c}: Σ = {s}");
    }
    let d = DataFile::read(&data_out).unwrap();
    assert_eq!(d.particles.len(), 3);
}
