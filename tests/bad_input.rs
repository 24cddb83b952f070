//! Malformed inputs give a located error (file:line:col, what was expected, a hint), never
//! a panic; one fixture per kind of error under tests/fixtures/bad/.

use std::path::{Path, PathBuf};
use std::process::Command;

use etwin::io::lammps_data::DataFile;
use etwin::sim::forcefield::reference::ReferenceModel;
use etwin::sim::system::{StepSettings, System};
use etwin::Error;

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures").join(name)
}

/// (fixture, line:col, a phrase the message must contain)
const BAD_DATA: &[(&str, &str, &str)] = &[
    ("bad_number.data", "13:10", "cannot read `4.6x5` as a density"),
    ("duplicate_id.data", "14:1", "duplicate atom id 1"),
    ("inverted_box.data", "7:4", "yhi ≤ ylo"),
    ("missing_atoms_count.data", "9:1", "no `N atoms` line"),
    ("negative_diameter.data", "13:5", "diameter -2.85"),
    ("truncated_atoms.data", "13:1", "ends after 2 of 3 lines"),
    ("type_out_of_range.data", "14:3", "atom type 4"),
    ("unknown_header.data", "5:1", "unknown header line `5 widgets`"),
    ("unknown_section.data", "16:1", "unknown section `Bonds`"),
    ("velocity_unknown_id.data", "20:1", "unknown atom id 9"),
    ("wrong_atom_style.data", "10:9", "atom style `atomic`"),
    ("wrong_columns.data", "13:1", "6 columns"),
];

const BAD_FORCEFIELD: &[(&str, &str, &str)] = &[
    ("missing_key.ron", "26:1", "`gamma_n`"),
    ("negative_value.ron", "12:5", "`d_cbd`"),
    ("not_a_number.ron", "13:14", "Expected float"),
    ("syntax_error.ron", "15:5", "Expected comma"),
    ("unknown_key.ron", "17:13", "unknown key `friction`"),
    ("unknown_style.ron", "26:5", "unknown pair style \"gran/hooke/history\""),
    ("zero_am_diameter.ron", "18:9", "`am_diameters`"),
];

fn assert_located(e: &Error, path: &Path, at: &str, phrase: &str) {
    let msg = e.to_string();
    let loc = format!("{}:{at}", path.display());
    assert!(msg.starts_with(&loc), "expected location {loc}, got:\n{msg}");
    assert!(msg.contains(phrase), "expected `{phrase}` in:\n{msg}");
    assert!(msg.contains("hint:"), "no hint in:\n{msg}");
}

#[test]
fn every_malformed_data_file_gives_a_located_error() {
    for (name, at, phrase) in BAD_DATA {
        let path = fixture(&format!("bad/{name}"));
        let e = DataFile::read(&path).expect_err(name);
        assert!(matches!(e, Error::Parse { .. }), "{name}: {e}");
        assert_located(&e, &path, at, phrase);
    }
}

#[test]
fn every_malformed_forcefield_gives_a_located_error() {
    for (name, at, phrase) in BAD_FORCEFIELD {
        let path = fixture(&format!("bad/{name}"));
        let e = ReferenceModel::load(&path).expect_err(name);
        assert_located(&e, &path, at, phrase);
    }
}

#[test]
fn good_fixtures_load() {
    let d = DataFile::read(&fixture("good/three_spheres.data")).unwrap();
    assert_eq!(d.particles.len(), 3);
    assert!(d.has_velocities);
    assert_eq!(d.particles.omega[0], [0.0, 0.0, 0.2]);
    ReferenceModel::load(&fixture("good/forcefield.ron")).unwrap();
}

#[test]
fn inconsistent_setups_are_errors_not_panics() {
    let d = DataFile::read(&fixture("good/three_spheres.data")).unwrap();
    let ff = || {
        ReferenceModel::load(&fixture("good/forcefield.ron"))
            .unwrap()
            .build()
            .unwrap()
    };
    // A type the force field does not define.
    let mut p = d.particles.clone();
    p.kind[0] = 9;
    let e = System::new(p, d.simbox, ff(), StepSettings::default())
        .err()
        .expect("type 9 must be rejected");
    assert!(e.to_string().contains("atom type 9"), "{e}");
    // A periodic box no wider than the neighbour list's reach.
    let mut wide = System::new(d.particles.clone(), d.simbox, ff(), StepSettings::default()).unwrap();
    wide.setup().unwrap();
    let mut b = d.simbox;
    b.hi[0] = b.lo[0] + wide.neighbor.reach();
    let mut sys = System::new(d.particles.clone(), b, ff(), StepSettings::default()).unwrap();
    let e = sys.setup().expect_err("box too small");
    assert!(e.to_string().contains("is not more than the neighbour reach"), "{e}");
    // A non-positive timestep.
    let bad = StepSettings {
        dt: 0.0,
        ..Default::default()
    };
    assert!(System::new(d.particles, d.simbox, ff(), bad).is_err());
}

#[test]
fn cli_reports_bad_input_with_exit_code_1_and_no_panic() {
    let exe = env!("CARGO_BIN_EXE_etwin");
    let out_csv = std::env::temp_dir().join("etwin-bad-input-test.csv");
    let good_data = fixture("good/three_spheres.data");
    let good_ff = fixture("good/forcefield.ron");
    let runs = BAD_DATA
        .iter()
        .map(|(n, at, _)| (fixture(&format!("bad/{n}")), good_ff.clone(), *at, true))
        .chain(
            BAD_FORCEFIELD
                .iter()
                .map(|(n, at, _)| (good_data.clone(), fixture(&format!("bad/{n}")), *at, false)),
        );
    for (data, ff, at, data_is_bad) in runs {
        let o = Command::new(exe)
            .args(["forces", "--structure"])
            .arg(&data)
            .arg("--forcefield")
            .arg(&ff)
            .arg("--out")
            .arg(&out_csv)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&o.stderr);
        let bad = if data_is_bad { &data } else { &ff };
        assert_eq!(o.status.code(), Some(1), "{}: {stderr}", bad.display());
        assert!(!stderr.contains("panicked"), "{stderr}");
        assert!(stderr.contains(&format!("{}:{at}", bad.display())), "{stderr}");
    }
    // A missing file is an I/O error naming the path.
    let o = Command::new(exe)
        .args(["forces", "--structure", "/nonexistent.data", "--forcefield"])
        .arg(&good_ff)
        .arg("--out")
        .arg(&out_csv)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("/nonexistent.data"));
}

/// Bad fit files: a located error with a hint, from the library and from `etwin fit`.
#[test]
fn every_malformed_fit_file_gives_a_located_error() {
    const BAD_FIT: &[(&str, &str, &str)] = &[
        ("bounds_inverted.ron", "8:22", "bounds [30, 3.5] nN/um2"),
        (
            "formulation_on_benchmark.ron",
            "11:10",
            "the benchmark surface has one formulation",
        ),
        ("parameter_wrong_unit.ron", "7:52", "`J` for eps_am"),
        ("target_without_unit.ron", "12:83", "missing field named `unit`"),
        ("target_wrong_unit.ron", "12:67", "`mPa*s` for a Viscosity target"),
        ("unknown_key.ron", "15:11", "unknown key `budget`"),
        ("unknown_parameter.ron", "8:10", "unknown parameter `stiffness`"),
        (
            "viscosity_without_rate.ron",
            "12:10",
            "a viscosity without its shear rate",
        ),
    ];
    for (name, at, phrase) in BAD_FIT {
        let path = fixture(&format!("bad/fit/{name}"));
        let e = etwin::fit::spec::FitSpec::load(&path).expect_err(name);
        assert_located(&e, &path, at, phrase);
        let o = Command::new(env!("CARGO_BIN_EXE_etwin"))
            .arg("fit")
            .arg(&path)
            .output()
            .unwrap();
        assert_eq!(o.status.code(), Some(1), "{name}");
        let stderr = String::from_utf8_lossy(&o.stderr);
        assert!(stderr.contains(&format!("{}:{at}", path.display())), "{name}: {stderr}");
        assert!(!stderr.contains("panicked"), "{name}: {stderr}");
    }
    // The bundled fit files are good.
    for name in ["fit_quick.ron", "fit_benchmark.ron"] {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios").join(name);
        etwin::fit::spec::FitSpec::load(&path).unwrap_or_else(|e| panic!("{name}: {e}"));
    }
}

#[test]
fn a_closed_stdout_ends_the_cli_quietly() {
    // `etwin validate x | head -1`: the reader is gone before the report is written.
    let scenario = Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios/slurry_quick.ron");
    let mut child = Command::new(env!("CARGO_BIN_EXE_etwin"))
        .arg("validate")
        .arg(&scenario)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    let o = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
}
