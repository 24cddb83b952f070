//! Criterion benches of the map: training + grouped CV on the 656 measured electrodes (the
//! issue's < 5 s budget), the default (C, γ) grid training, one recommendation search, and
//! the viewer's what-if query (it runs on the render thread when a slider moves).
//! `cargo bench --bench map`; needs ETWIN_DATA_DIR (skipped without it).

use std::path::PathBuf;

use criterion::{criterion_group, criterion_main, Criterion};
use etwin::map::cv::{cross_validate, group_folds, CvConfig};
use etwin::map::dataset::{self, Electrode};
use etwin::map::model::{train, TrainConfig};
use etwin::recommend::{recommend, Space, Targets};
use etwin::view::frame::Stage;
use etwin::view::whatif::{query, Psd, WhatIf};

fn measured() -> Option<Vec<Electrode>> {
    let Some(d) = std::env::var_os("ETWIN_DATA_DIR") else {
        eprintln!("map bench: ETWIN_DATA_DIR unset, skipped");
        return None;
    };
    let path = PathBuf::from(d).join("cunha2020_nmc_ml/full_dataset_mass_loading_porosity.csv");
    Some(dataset::load(&path).expect("measured electrodes"))
}

fn map(c: &mut Criterion) {
    let Some(data) = measured() else { return };
    let mut g = c.benchmark_group("map");
    g.sample_size(10);
    let cfg = CvConfig::default();
    let folds = group_folds(&data, cfg.folds, cfg.seed);
    // What `etwin map cv` does: both input sets at the reference's C = 50, γ = 0.1.
    g.bench_function("cv_reference_both_input_sets", |b| {
        b.iter(|| {
            cross_validate(&data, &folds, &cfg, false).unwrap();
            cross_validate(&data, &folds, &cfg, true).unwrap()
        })
    });
    let tc = TrainConfig::default();
    g.bench_function("train_default_grid_20_points", |b| {
        b.iter(|| train(&data, ("bench", b""), None, &tc).unwrap())
    });
    let m = train(&data, ("bench", b""), None, &tc).unwrap();
    let s = Space::from_model(&m);
    let t = Targets::parse("mass_loading=25,porosity_dry=0.48").unwrap();
    g.bench_function("recommend_search", |b| b.iter(|| recommend(&m, &t, &s, 5).unwrap()));
    let w = WhatIf {
        am_pct: 96.0,
        solids_pct: 69.0,
        psd: Psd::Scenario,
        gap_um: 200.0,
        heterogeneous: false,
        rsf_top: 1.8,
        compression_pct: 30.0,
        tool_speed: 0.02,
        last_stage: Stage::Calendering,
    };
    g.bench_function("viewer_whatif_query", |b| b.iter(|| query(&m, &w).unwrap()));
    g.finish();
}

criterion_group!(benches, map);
criterion_main!(benches);
