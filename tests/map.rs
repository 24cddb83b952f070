//! The porosity / mass-loading map: grouped cross-validation on synthetic data (always),
//! on the 656 measured electrodes with scikit-learn side by side (when the data and
//! scikit-learn are present), and bad data files.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use etwin::map::cv::{cross_validate, group_folds, CvConfig};
use etwin::map::svm::{cross_kernel, train_svc, train_svr, Gram, SmoSettings};

#[test]
fn folds_hold_out_whole_slurries_and_cv_is_deterministic() {
    let data = common::synthetic_electrodes(1);
    let folds = group_folds(&data, 4, 3);
    for (a, b) in data.iter().zip(&folds) {
        for (c, d) in data.iter().zip(&folds) {
            if a.slurry() == c.slurry() {
                assert_eq!(b, d, "a slurry split across folds");
            }
        }
    }
    assert_eq!((0..4).filter(|f| folds.contains(f)).count(), 4);
    let cfg = CvConfig {
        folds: 4,
        seed: 3,
        ..Default::default()
    };
    let a = cross_validate(&data, &folds, &cfg, true).unwrap();
    let b = cross_validate(&data, &folds, &cfg, true).unwrap();
    assert_eq!(format!("{a:?}"), format!("{b:?}"));
    // With the gap the loading is nearly a function of the inputs.
    assert!(a.mass_loading.r2 > 0.9 && a.mass_loading_class.accuracy > 0.8, "{a:?}");
    let confusion_total: usize = a.mass_loading_class.confusion.iter().flatten().sum();
    assert_eq!(confusion_total, data.len());
}

fn etwin(args: &[&str], extra: &[&Path]) -> std::process::Output {
    let mut c = Command::new(env!("CARGO_BIN_EXE_etwin"));
    c.args(args);
    for p in extra {
        c.arg(p);
    }
    c.output().unwrap()
}

/// The 656 measured electrodes: ours against scikit-learn's SVC(C=50, γ=0.1) / SVR on the
/// same folds and standardisation (tests/sklearn_compare.py). Measured: accuracy 0.756 (3
/// inputs) and 0.890 (with gap), porosity class 0.556 / 0.627, equal to scikit-learn's.
#[test]
fn measured_electrodes_match_scikit_learn_on_the_same_folds() {
    let Some(dir) = common::env_dir("ETWIN_DATA_DIR", "map cv on the measured electrodes") else {
        return;
    };
    let data = dir.join("cunha2020_nmc_ml/full_dataset_mass_loading_porosity.csv");
    let tmp = tempfile::tempdir().unwrap();
    let folds = tmp.path().join("folds.csv");
    let o = etwin(
        &["map", "cv", "--json", "--folds-out"],
        &[&folds, Path::new("--data"), &data],
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let ours: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    for k in ["three_inputs", "with_gap"] {
        assert_eq!(ours[k]["rows"], 656);
        let acc = ours[k]["mass_loading_class"]["accuracy"].as_f64().unwrap();
        assert!(acc > 0.7, "{k}: accuracy {acc}");
    }
    let has_sklearn = Command::new("python3")
        .args(["-c", "import sklearn, numpy"])
        .status()
        .is_ok_and(|s| s.success());
    if !has_sklearn {
        eprintln!(
            "SKIPPED scikit-learn comparison: python3 with scikit-learn is not installed (pip install scikit-learn)"
        );
        return;
    }
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/sklearn_compare.py");
    let o = Command::new("python3")
        .arg(script)
        .arg(&data)
        .arg(&folds)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let sk: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    for k in ["three_inputs", "with_gap"] {
        let f = |v: &serde_json::Value, a: &str, b: &str| v[k][a][b].as_f64().unwrap();
        let (oa, sa) = (
            f(&ours, "mass_loading_class", "accuracy"),
            f(&sk, "mass_loading_class", "accuracy"),
        );
        let (om, sm) = (f(&ours, "mass_loading", "mae"), f(&sk, "mass_loading", "mae"));
        let (op, sp) = (f(&ours, "porosity", "mae"), f(&sk, "porosity", "mae"));
        let (opc, spc) = (
            f(&ours, "porosity_class", "accuracy"),
            f(&sk, "porosity_class", "accuracy"),
        );
        eprintln!("{k}: accuracy {oa:.4} (scikit-learn {sa:.4}), porosity class {opc:.4} ({spc:.4}), loading MAE {om:.3} ({sm:.3}), porosity MAE {op:.3} ({sp:.3})");
        assert!(oa >= sa - 0.005, "{k}: accuracy {oa} below scikit-learn's {sa}");
        assert!(
            opc >= spc - 0.005,
            "{k}: porosity class accuracy {opc} below scikit-learn's {spc}"
        );
        assert!(om <= 1.02 * sm && op <= 1.02 * sp, "{k}: MAE above scikit-learn's");
    }
}

#[test]
fn bad_map_data_gives_located_errors_and_exit_code_1() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/bad");
    for (name, at, phrase) in [
        ("map_text_in_numeric.csv", "3:7", "cannot read `abc` as gap[um]"),
        ("map_missing_column.csv", "1:1", "no column `gap[um]`"),
        ("map_empty.csv", "1:1", "empty file"),
    ] {
        let path = root.join(name);
        let o = etwin(&["map", "cv", "--data"], &[&path]);
        let stderr = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(1), "{name}: {stderr}");
        assert!(!stderr.contains("panicked"), "{stderr}");
        assert!(
            stderr.contains(&format!("{}:{at}: {phrase}", path.display())),
            "{name}: {stderr}"
        );
    }
}

/// Our SMO against smartcore's solver (a different algorithm) on the same problems: the
/// same labels and regression values within the solvers' tolerances.
#[test]
fn smo_agrees_with_smartcore() {
    use smartcore::linalg::basic::matrix::DenseMatrix;
    use smartcore::svm::svc::{SVCParameters, SVC};
    use smartcore::svm::svr::{SVRParameters, SVR};
    use smartcore::svm::Kernels;
    let data = common::synthetic_electrodes(1);
    let x: Vec<Vec<f64>> = data
        .iter()
        .map(|e| vec![e.stol_percent / 10.0 - 7.0, e.gap_um / 100.0 - 2.5])
        .collect();
    let z: Vec<f64> = data.iter().map(|e| e.mass_loading_mg_cm2 / 10.0 - 1.5).collect();
    let labels: Vec<i32> = z.iter().map(|&v| if v > 0.0 { 1 } else { -1 }).collect();
    let (c, gamma) = (10.0, 0.5);
    let gram = Gram::rbf(&x, gamma);
    let k = cross_kernel(&x, &x, gamma);
    let s = SmoSettings::default();
    let svc = train_svc(&gram, &labels.iter().map(|&l| l > 0).collect::<Vec<_>>(), c, &s);
    let svr = train_svr(&gram, &z, c, 0.05, &s);
    let m = DenseMatrix::from_2d_vec(&x).unwrap();
    let svc_params = SVCParameters::default()
        .with_c(c)
        .with_kernel(Kernels::rbf().with_gamma(gamma))
        .with_seed(Some(1));
    let svr_params = SVRParameters::default()
        .with_c(c)
        .with_eps(0.05)
        .with_kernel(Kernels::rbf().with_gamma(gamma));
    let sc_svc = SVC::fit(&m, &labels, &svc_params).unwrap();
    let sc_svr = SVR::fit(&m, &z, &svr_params).unwrap();
    let sc_labels = sc_svc.predict(&m).unwrap();
    let sc_values = sc_svr.predict(&m).unwrap();
    let mut label_diff = 0;
    let mut worst: f64 = 0.0;
    for i in 0..x.len() {
        let f = svc.decision(&k[i]);
        if (f > 0.0) != (sc_labels[i] > 0.0) && f.abs() > 1e-2 {
            label_diff += 1;
        }
        worst = worst.max((svr.decision(&k[i]) - sc_values[i]).abs());
    }
    eprintln!("SVR: largest difference from smartcore {worst:.2e}");
    assert_eq!(label_diff, 0, "labels differ away from the boundary");
    assert!(worst < 0.02, "SVR values differ by {worst}");
}

/// A calendering table in the reference's `;` layout: porosity after = 0.1 + 0.4·before
/// − 0.0004·thickness + 0.001·gap (± 0.002).
fn write_calendering(path: &Path) {
    let mut s = String::from(";X.NMC;S.to.L;calender.gap.um;porosite_before;thickness_before;porosity;sd\n");
    for i in 0..12 {
        let (pb, t, g) = (
            0.42 + 0.006 * i as f64,
            130.0 + 5.0 * (i % 5) as f64,
            [1.0, 25.0, 44.0, 100.0][i % 4],
        );
        let after = 0.1 + 0.4 * pb - 0.0004 * t + 0.001 * g + if i % 2 == 0 { 0.002 } else { -0.002 };
        s += &format!("{i};0.96;69;{g};{pb};{t};{after};0.003\n");
    }
    std::fs::write(path, s).unwrap();
}

/// Share of the image's pixels per colour, most common first.
fn colour_shares(png: &Path) -> Vec<([u8; 3], f64)> {
    let img = image::open(png).unwrap().to_rgb8();
    let mut counts: std::collections::HashMap<[u8; 3], usize> = Default::default();
    for p in img.pixels() {
        *counts.entry(p.0).or_default() += 1;
    }
    let n = (img.width() * img.height()) as f64;
    let mut v: Vec<([u8; 3], f64)> = counts.into_iter().map(|(c, k)| (c, k as f64 / n)).collect();
    v.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
    v
}

/// Train → predict → plot through the command line on synthetic electrodes.
#[test]
fn train_predict_and_plot_through_the_command_line() {
    let tmp = tempfile::tempdir().unwrap();
    let (data, cal, model) = (
        tmp.path().join("data.csv"),
        tmp.path().join("cal.csv"),
        tmp.path().join("model.json"),
    );
    common::write_electrodes(&data, &common::synthetic_electrodes(3));
    write_calendering(&cal);
    let o = etwin(
        &[
            "map",
            "train",
            "--json",
            "--c-grid",
            "10,50",
            "--gamma-grid",
            "0.1,0.3",
            "--folds",
            "4",
            "--mass-loading-classes",
            "16,24",
            "--data",
        ],
        &[&data, Path::new("--calendering"), &cal, Path::new("--out"), &model],
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let s: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let summary = &s["summary"];
    assert_eq!(summary["data"]["rows"], 288);
    assert!(summary["mass_loading"]["cv"]["r2"].as_f64().unwrap() > 0.9, "{summary}");
    assert!([10.0, 50.0].contains(&summary["mass_loading"]["choice"]["c"].as_f64().unwrap()));
    // The exact linear calendering law is recovered to within its ±0.002 noise.
    let cal_mae = summary["calendering"]["loo_mae"].as_f64().unwrap();
    assert!(cal_mae < 0.005, "calendering leave-one-out MAE {cal_mae}");

    let o = etwin(
        &[
            "map", "predict", "--am", "96", "--stol", "70", "--gap", "200", "--json", "--model",
        ],
        &[&model],
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let p: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let ml = &p["mass_loading"];
    let (v, lo, hi) = (
        ml["value"].as_f64().unwrap(),
        ml["low"].as_f64().unwrap(),
        ml["high"].as_f64().unwrap(),
    );
    // Truth at these settings: 200·70/1000 + 0.1·slurry index (9 for AM 96, S-to-L 72 … 64).
    assert!(lo < v && v < hi && (v - 14.8).abs() < 2.0, "{ml}");
    assert!(p["viscosity_predicted"]["value"].as_f64().unwrap() > 0.0);
    let votes: u64 = p["mass_loading_class"]["votes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_u64().unwrap())
        .sum();
    assert_eq!(votes, 3);

    // Missing input and a damaged model file: clear errors, exit code 1.
    let o = etwin(&["map", "predict", "--am", "96", "--stol", "70", "--model"], &[&model]);
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("give --gap"));
    let broken = tmp.path().join("broken.json");
    let text = std::fs::read_to_string(&model).unwrap();
    std::fs::write(&broken, &text[..text.len() / 2]).unwrap();
    let o = etwin(
        &[
            "map", "predict", "--am", "96", "--stol", "70", "--gap", "100", "--model",
        ],
        &[&broken],
    );
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(
        err.contains(&format!("{}:", broken.display())) && err.contains("train it again"),
        "{err}"
    );

    // The maps: one PNG per class target and AM content, not blank.
    let maps = tmp.path().join("maps");
    let o = etwin(
        &["map", "plot", "--gap", "250", "--model"],
        &[&model, Path::new("--out"), &maps],
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let files: Vec<PathBuf> = String::from_utf8_lossy(&o.stdout).lines().map(PathBuf::from).collect();
    assert_eq!(files.len(), 4, "{files:?}");
    let ml96 = maps.join("mass_loading_class_am96.png");
    assert!(files.contains(&ml96));
    for f in &files {
        let shares = colour_shares(f);
        let white = shares.iter().find(|c| c.0 == [255, 255, 255]).map_or(0.0, |c| c.1);
        assert!(white < 0.5, "{}: {white:.2} of the image is white", f.display());
        assert!(shares[0].1 > 0.2, "{}: no class region fills the plane", f.display());
        assert!(
            shares.len() > 20,
            "{}: {} colours only (no text, points?)",
            f.display(),
            shares.len()
        );
    }
    // Mass loading at a 250 µm gap crosses the 16 mg/cm² edge inside the plane: two class
    // colours each fill a visible part of the AM 96 map.
    let big: Vec<_> = colour_shares(&ml96)
        .into_iter()
        .filter(|c| c.1 > 0.02 && c.0 != [255, 255, 255])
        .collect();
    assert!(big.len() >= 2, "{big:?}");
}

#[test]
fn trained_model_does_not_depend_on_the_thread_count() {
    use etwin::map::model::{train, TrainConfig};
    let data = common::synthetic_electrodes(1);
    let cfg = TrainConfig {
        folds: 4,
        c_grid: vec![10.0, 50.0],
        gamma_grid: vec![0.1, 0.3],
        ..Default::default()
    };
    let run = |n: usize| {
        rayon::ThreadPoolBuilder::new()
            .num_threads(n)
            .build()
            .unwrap()
            .install(|| serde_json::to_string(&train(&data, ("s", b""), None, &cfg).unwrap()).unwrap())
    };
    assert_eq!(run(1), run(3));
}
