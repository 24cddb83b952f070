//! Criterion benches of the structure analysis that follows every drying and calendering
//! run: porosity and profiles alone, and with the through-plane tortuosity solve, on the
//! reference's dried thick electrode (9859 spheres, 27 × 27 × 158 µm).
//! `cargo bench --bench analysis`; needs ETWIN_DATA_DIR (skipped without it).

use std::path::PathBuf;

use criterion::{criterion_group, criterion_main, Criterion};
use etwin::analysis::structure::{characterize, AnalysisSettings, TortuositySettings, ZRange};
use etwin::io::lammps_data::DataFile;

fn structure() -> Option<DataFile> {
    let Some(d) = std::env::var_os("ETWIN_DATA_DIR") else {
        eprintln!("analysis bench: ETWIN_DATA_DIR unset, skipped");
        return None;
    };
    let path = PathBuf::from(d).join("artistic_structures/thick_dried_electrode.sys");
    Some(DataFile::read(&path).expect("the reference's dried electrode"))
}

fn analysis(c: &mut Criterion) {
    let Some(d) = structure() else { return };
    let mut g = c.benchmark_group("analysis");
    g.sample_size(10);
    let base = AnalysisSettings {
        voxel_um: 0.5,
        z_range: ZRange::Particles,
        ..Default::default()
    };
    g.bench_function("porosity_profiles_contacts_0.5um", |b| {
        b.iter(|| characterize(&d.particles, &d.simbox, &base).unwrap())
    });
    let s = AnalysisSettings {
        tortuosity: Some(TortuositySettings {
            voxel_um: 0.5,
            ..Default::default()
        }),
        ..base.clone()
    };
    g.bench_function("with_tortuosity_0.5um", |b| {
        b.iter(|| characterize(&d.particles, &d.simbox, &s).unwrap())
    });
}

criterion_group!(benches, analysis);
criterion_main!(benches);
