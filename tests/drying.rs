//! Coating and drying: `drying_quick` end to end (identical on 1 thread and after a kill
//! and resume on 2 threads, solid mass conserved, no particle escapes, files written), and
//! heterogeneous drying enriching the top of the film in CBD (3 seeds).

mod common;

use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// `scenarios/drying_quick.ron` with another seed, drying mode and NPT length.
fn variant(dir: &Path, name: &str, seed: u64, mode: &str, npt_steps: u64) -> PathBuf {
    let src = std::fs::read_to_string(root().join("scenarios/drying_quick.ron")).unwrap();
    let text = src
        .replace("seed: 20261129", &format!("seed: {seed}"))
        .replace("mode: Homogeneous,", &format!("mode: {mode},"))
        .replace("steps: 16000,", &format!("steps: {npt_steps},"));
    assert_ne!(text, src);
    let path = dir.join(format!("{name}.ron"));
    std::fs::write(&path, text).unwrap();
    path
}

fn rel(a: f64, b: f64) -> f64 {
    (a - b).abs() / b.abs()
}

#[test]
fn quick_drying_conserves_mass_keeps_every_particle_and_resumes_identically() {
    let dir = tempfile::tempdir().unwrap();
    let scenario = root().join("scenarios/drying_quick.ron");
    let (t1, t2) = (dir.path().join("t1"), dir.path().join("t2"));
    let mut a = common::run_scenario(&scenario, 1, &t1);
    let in_drying_cycles = |c: &serde_json::Value| c["current"]["Drying"]["part"]["Cycle"].as_u64().unwrap_or(0) > 1;
    let mut b = common::run_killed_and_resumed(&scenario, &t2, in_drying_cycles);
    // The stage and its engine phases, then the analysis of the dried film.
    for key in [
        "drying_s",
        "drying.force_s",
        "drying.neighbor_s",
        "drying.other_s",
        "analysis.drying_s",
    ] {
        assert!(a["timing"][key].is_f64(), "timing.{key}");
    }
    a.as_object_mut().unwrap().remove("timing");
    b.as_object_mut().unwrap().remove("timing");
    assert_eq!(
        a, b,
        "the resumed 2-thread run differs from the uninterrupted 1-thread run"
    );

    let d = &a["drying"];
    let f = |k: &str| d[k].as_f64().unwrap_or_else(|| panic!("{k} in {d}"));
    assert_eq!(d["mode"], "homogeneous");
    assert!(rel(f("solid_mass_after_pg"), f("solid_mass_before_pg")) < 1e-12, "{d}");
    assert_eq!(d["particles_outside_film"], 0, "{d}");
    // Same solid mass over the same area before and after.
    assert!(
        rel(
            f("mass_loading_mg_cm2"),
            d["coating"]["mass_loading_mg_cm2"].as_f64().unwrap()
        ) < 1e-12
    );
    let (phi, pores) = (f("porosity"), f("porosity_pores_only"));
    assert!(0.0 < pores && pores < phi && phi < 1.0, "{d}");
    assert!(f("thickness_um") > 0.0 && f("density_g_cm3") > 0.0);
    assert!(!d["cbd_profile"].as_array().unwrap().is_empty());
    assert_eq!(d["frozen_after_cycle"], 10);

    for file in ["drying.csv", "drying.pvd", "dried.data", "dried.vtu", "drying_0010.vtu"] {
        assert!(t1.join(file).is_file(), "{file} missing");
    }
    let csv = std::fs::read_to_string(t1.join("drying.csv")).unwrap();
    assert!(csv.starts_with("step,time[us],cycle,temperature_target[K]"));
    // At the end the top wall carries the set load, 0.101325 kPa over the film's area
    // (kPa · µm² = nN), and the pressure column says so in kPa.
    let mean_of = |col: usize| {
        let last: Vec<f64> = csv
            .lines()
            .rev()
            .take(10)
            .map(|l| l.split(',').nth(col).unwrap().parse().unwrap())
            .collect();
        last.iter().sum::<f64>() / last.len() as f64
    };
    let area = d["coating"]["area_um2"].as_f64().unwrap();
    assert!(rel(mean_of(7), 0.101325 * area) < 0.05, "top force {} nN", mean_of(7));
    assert!(rel(mean_of(8), 0.101325) < 0.05, "top pressure {} kPa", mean_of(8));
    let pvd = std::fs::read_to_string(t1.join("drying.pvd")).unwrap();
    assert_eq!(pvd.matches("<DataSet").count(), 5);
    // The dried structure re-read by `etwin analyze` (AM at nominal size) carries the same
    // mass loading.
    assert!(rel(analyzed_loading(&t1.join("dried.data"), 1.14), f("mass_loading_mg_cm2")) < 1e-9);
}

/// Mass loading [mg/cm²] that `etwin analyze` finds in a dried structure whose AM spheres
/// have `am_factor` × their nominal diameter.
fn analyzed_loading(dried: &Path, am_factor: f64) -> f64 {
    let o = std::process::Command::new(env!("CARGO_BIN_EXE_etwin"))
        .args(["analyze", "--json", "--am-radius-scale", &(1.0 / am_factor).to_string()])
        .arg(dried)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let an: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    an["analysis"]["mass_loading_mg_cm2"].as_f64().unwrap()
}

/// CBD volume fraction of the film's top third over the film's mean.
fn top_enrichment(results: &serde_json::Value) -> f64 {
    let d = &results["drying"];
    let h = d["thickness_um"].as_f64().unwrap();
    let slabs: Vec<(f64, f64)> = d["cbd_profile"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| (s["z_um"].as_f64().unwrap(), s["cbd_fraction"].as_f64().unwrap()))
        .collect();
    let mean = slabs.iter().map(|s| s.1).sum::<f64>() / slabs.len() as f64;
    let top: Vec<f64> = slabs.iter().filter(|s| s.0 > 2.0 * h / 3.0).map(|s| s.1).collect();
    top.iter().sum::<f64>() / top.len() as f64 / mean
}

/// Must-show: relative shrinking factors 1.0 / 1.2 / 1.8 (bottom to top) leave more CBD at
/// the top than homogeneous drying of the same slurry, seed by seed and on average by more
/// than 3 standard errors of the paired differences.
#[test]
fn heterogeneous_drying_enriches_the_top_in_cbd() {
    let dir = tempfile::tempdir().unwrap();
    let hetero = "Heterogeneous((shrink_factors: [1.0, 1.2, 1.8], freeze: Fraction(0.8)))";
    let mut diffs = Vec::new();
    for seed in [11, 12, 13] {
        let run = |mode: &str, tag: &str| {
            let s = variant(dir.path(), &format!("{tag}{seed}"), seed, mode, 8000);
            common::run_scenario(&s, 2, &dir.path().join(format!("{tag}{seed}")))
        };
        let (hom, het) = (
            top_enrichment(&run("Homogeneous", "hom")),
            top_enrichment(&run(hetero, "het")),
        );
        eprintln!("seed {seed}: top-third CBD enrichment homogeneous {hom:.3}, heterogeneous {het:.3}");
        assert!(het > hom, "seed {seed}: {het} ≤ {hom}");
        diffs.push(het - hom);
    }
    let n = diffs.len() as f64;
    let mean = diffs.iter().sum::<f64>() / n;
    let sd = (diffs.iter().map(|d| (d - mean).powi(2)).sum::<f64>() / (n - 1.0)).sqrt();
    assert!(
        mean > 3.0 * sd / n.sqrt(),
        "mean {mean} vs standard error {}",
        sd / n.sqrt()
    );
}

/// `start_from`: a structure file instead of build + minimize + NPT, then drying.
#[test]
fn an_imported_slurry_is_coated_and_dried() {
    let dir = tempfile::tempdir().unwrap();
    let scenario = root().join("tests/fixtures/good/scenarios/import_and_dry.ron");
    let r = common::run_scenario(&scenario, 2, dir.path());
    let s = &r["slurry"];
    assert_eq!(
        s["particles"]["am"].as_u64().unwrap() + s["particles"]["cbd"].as_u64().unwrap(),
        844
    );
    assert!(s["minimize"].is_null() && s["density_g_cm3"].is_null(), "{s}");
    let d = &r["drying"];
    assert_eq!(d["particles_outside_film"], 0);
    let (before, after) = (
        d["solid_mass_before_pg"].as_f64().unwrap(),
        d["solid_mass_after_pg"].as_f64().unwrap(),
    );
    assert!(rel(after, before) < 1e-12);
    assert!(r["timing"]["import_s"].is_f64());
    assert!(dir.path().join("dried.data").is_file() && !dir.path().join("minimized.data").exists());
}

/// `am_contact_factor`: the AM spheres shrink from the slurry model's contact diameter
/// (1.14 d) to the dried one, while masses and loadings keep counting the AM at its
/// nominal size, so the solid mass is still conserved.
#[test]
fn the_am_spheres_shrink_to_the_dry_contact_diameter() {
    let dir = tempfile::tempdir().unwrap();
    let fixture = root().join("tests/fixtures/good/scenarios/import_and_dry.ron");
    let src = std::fs::read_to_string(&fixture).unwrap();
    let text = src
        .replace("../../../../scenarios/", &format!("{}/scenarios/", root().display()))
        .replace(
            "slab: \"10 um\",",
            "slab: \"10 um\",\n            am_contact_factor: Some(1.02),",
        );
    assert!(text.contains("am_contact_factor"));
    let scenario = dir.path().join("am102.ron");
    std::fs::write(&scenario, text).unwrap();
    let out = dir.path().join("out");
    let r = common::run_scenario(&scenario, 2, &out);
    let d = &r["drying"];
    let f = |k: &str| d[k].as_f64().unwrap_or_else(|| panic!("{k} in {d}"));
    assert!(rel(f("solid_mass_after_pg"), f("solid_mass_before_pg")) < 1e-12, "{d}");
    assert_eq!(d["particles_outside_film"], 0, "{d}");

    let nominal = [2.5, 3.5, 4.5, 5.86, 8.28, 10.35];
    let dried = etwin::io::lammps_data::DataFile::read(&out.join("dried.data")).unwrap();
    let p = &dried.particles;
    let mut n_am = 0;
    for k in 0..p.len() {
        if p.kind[k] > 1 {
            let want = 0.5 * 1.02 * nominal[p.kind[k] as usize - 2];
            assert!(rel(p.radius[k], want) < 1e-9, "AM radius {} ≠ {want}", p.radius[k]);
            n_am += 1;
        }
    }
    assert!(n_am > 0);
    // The dried structure read back with AM radius → nominal 1/1.02 carries the loading.
    assert!(
        rel(
            analyzed_loading(&out.join("dried.data"), 1.02),
            f("mass_loading_mg_cm2")
        ) < 1e-9
    );
}

/// `consolidation`: the dried film under the dry material law and a plate at atmospheric
/// load. The plate holds the load, the collector carries it (force balance: with Cundall
/// damping on, the damping carried it and the collector felt nothing), the film is denser
/// than the slurry model left it, nothing escapes, mass is kept, and a 1-thread run equals a
/// 2-thread run killed during the consolidation and resumed.
#[test]
fn consolidation_carries_the_load_through_the_film() {
    let dir = tempfile::tempdir().unwrap();
    let src = std::fs::read_to_string(root().join("scenarios/drying_quick.ron")).unwrap();
    let text = src.replace(
        "slab: \"5 um\",",
        "slab: \"5 um\",\n            consolidation: Some((pressure: \"101.325 kPa\", time: \"50 us\")),",
    );
    assert_ne!(text, src);
    let scenario = dir.path().join("consolidated.ron");
    std::fs::write(&scenario, text).unwrap();
    let (o1, o2) = (dir.path().join("t1"), dir.path().join("t2"));
    let mut a = common::run_scenario(&scenario, 1, &o1);
    let consolidating = |c: &serde_json::Value| c["current"]["Consolidation"].is_object();
    let mut b = common::run_killed_and_resumed(&scenario, &o2, consolidating);
    for key in ["consolidation_s", "consolidation.force_s", "analysis.consolidation_s"] {
        assert!(a["timing"][key].is_f64(), "timing.{key}");
    }
    a.as_object_mut().unwrap().remove("timing");
    b.as_object_mut().unwrap().remove("timing");
    assert_eq!(
        a, b,
        "the resumed 2-thread run differs from the uninterrupted 1-thread run"
    );

    let (d, c) = (&a["drying"], &a["consolidation"]);
    let f = |v: &serde_json::Value, k: &str| v[k].as_f64().unwrap_or_else(|| panic!("{k} in {v}"));
    eprintln!(
        "consolidation: thickness {:.2} → {:.2} µm, geometric porosity {:.4} → {:.4}, load {:.4} MPa, balance {:.3}",
        f(d, "thickness_um"),
        f(c, "thickness_um"),
        f(d, "porosity_geometric"),
        f(c, "porosity_geometric"),
        f(c, "hold_pressure_mpa"),
        f(c, "force_balance")
    );
    assert!(rel(f(c, "hold_pressure_mpa"), 0.101325) < 0.05, "{c}");
    let balance = f(c, "force_balance");
    assert!((0.8..1.25).contains(&balance), "collector / plate {balance}");
    assert_eq!(c["particles_outside_film"], 0, "{c}");
    assert!(rel(f(c, "mass_loading_mg_cm2"), f(d, "mass_loading_mg_cm2")) < 1e-9);
    assert!(f(c, "thickness_um") < f(d, "thickness_um"), "{c}");
    assert!(f(c, "porosity_geometric") < f(d, "porosity_geometric"), "{c}");
    let csv = std::fs::read_to_string(o1.join("consolidation.csv")).unwrap();
    assert!(csv.starts_with("step,time[us],part,tool_z[um]"));
    assert!(o1.join("consolidated.data").is_file());
}
