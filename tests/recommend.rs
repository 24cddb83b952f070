//! Set-point recommendation: targets met inside the constraints on synthetic electrodes,
//! bad requests, and the leave-one-slurry-out validation on the measured electrodes.

mod common;

use std::process::Command;

use etwin::map::cv::FitSettings;
use etwin::map::model::{train, TrainConfig};
use etwin::recommend::validate::leave_one_slurry_out;
use etwin::recommend::{recommend, Space, Targets};

fn config() -> TrainConfig {
    TrainConfig {
        folds: 4,
        c_grid: vec![50.0],
        gamma_grid: vec![0.3],
        fit: FitSettings::default(),
        ..Default::default()
    }
}

#[test]
fn recommendation_meets_the_target_inside_the_constraints() {
    let data = common::synthetic_electrodes(3);
    let m = train(&data, ("synthetic", b""), None, &config()).unwrap();
    // A measured coating's outcome (AM 96, S-to-L 72, gap 250) as the target.
    let measured: Vec<_> = data
        .iter()
        .filter(|e| e.am_wt_percent == 96.0 && e.stol_percent == 72.0 && e.gap_um == 250.0)
        .collect();
    let ml = measured.iter().map(|e| e.mass_loading_mg_cm2).sum::<f64>() / measured.len() as f64;
    let por = measured.iter().map(|e| e.porosity_percent / 100.0).sum::<f64>() / measured.len() as f64;
    let t = Targets {
        mass_loading: Some(ml),
        porosity_dry: Some(por),
        ..Default::default()
    };
    let mut s = Space::from_model(&m);
    s.am = vec![96.0];
    s.viscosity = [2.0, 5.0];
    let best = recommend(&m, &t, &s, 3).unwrap();
    assert_eq!(best.len(), 3);
    for w in best.windows(2) {
        assert!(w[0].score <= w[1].score);
    }
    for c in &best {
        assert_eq!(c.am, 96.0);
        assert!(
            (60.0..=80.0).contains(&c.stol) && (50.0..=400.0).contains(&c.gap),
            "{c:?}"
        );
        assert!((2.0..=5.0).contains(&c.viscosity.value), "{c:?}");
        assert!(c.mass_loading.low <= c.mass_loading.value && c.mass_loading.value <= c.mass_loading.high);
    }
    let b = &best[0];
    assert!((b.mass_loading.value - ml).abs() < 1.0, "{b:?} vs {ml}");
    assert!((b.porosity_dry.value - por).abs() < 0.01, "{b:?} vs {por}");
    // Porosity is a function of the gap here: the recommended gap is the one measured.
    assert!((b.gap - 250.0).abs() <= 25.0, "{b:?}");
    // Dried thickness from loading and porosity: 10·ML / (ρ_solid (1 − ε)).
    let rho = s.solid_density(96.0);
    assert!((b.thickness_dry.value - 10.0 * b.mass_loading.value / (rho * (1.0 - b.porosity_dry.value))).abs() < 1e-9);
}

#[test]
fn bad_requests_get_clear_errors() {
    let tmp = tempfile::tempdir().unwrap();
    let (data, model) = (tmp.path().join("d.csv"), tmp.path().join("m.json"));
    common::write_electrodes(&data, &common::synthetic_electrodes(1));
    let bin = env!("CARGO_BIN_EXE_etwin");
    let o = Command::new(bin)
        .args([
            "map",
            "train",
            "--c-grid",
            "50",
            "--gamma-grid",
            "0.3",
            "--folds",
            "3",
            "--data",
        ])
        .arg(&data)
        .arg("--out")
        .arg(&model)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    for (target, phrase) in [
        ("porosity_calendered=0.3", "needs a model trained with --calendering"),
        ("porosity_dry=45", "fractions in (0, 1)"),
        ("loading=20", "`loading` is not a target"),
    ] {
        let o = Command::new(bin)
            .args(["recommend", "--target", target, "--model"])
            .arg(&model)
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(1), "{target}: {err}");
        assert!(err.contains(phrase) && !err.contains("panicked"), "{target}: {err}");
    }
}

/// Must-show: each held-out slurry's coatings asked of models trained without it. Measured
/// (C = 50, γ = 0.1): 87.8 % of 82 coatings have the recommended outcome within the
/// replicates' range; median |Δ gap| 20 µm from the gap used.
#[test]
fn leave_one_slurry_out_on_the_measured_electrodes() {
    let Some(dir) = common::env_dir("ETWIN_DATA_DIR", "leave-one-slurry-out recommendation") else {
        return;
    };
    let data = etwin::map::dataset::load(&dir.join("cunha2020_nmc_ml/full_dataset_mass_loading_porosity.csv")).unwrap();
    let cfg = TrainConfig {
        folds: 5,
        gamma_grid: vec![0.1],
        ..config()
    };
    let r = leave_one_slurry_out(&data, &cfg, &mut |_, _| {}).unwrap();
    eprintln!(
        "LOSO: {} coatings, within range {:.3} (loading {:.3}, porosity {:.3}), same AM {:.3}, median |Δ S-to-L| {:.2} %, |Δ gap| {:.0} µm",
        r.conditions,
        r.within_both,
        r.within_mass_loading,
        r.within_porosity,
        r.same_am,
        r.median_abs_delta_stol,
        r.median_abs_delta_gap
    );
    assert_eq!((r.slurries, r.conditions), (23, 82));
    assert!(r.within_both > 0.75, "{}", r.within_both);
    assert!(r.median_abs_delta_gap <= 50.0, "{}", r.median_abs_delta_gap);
}
