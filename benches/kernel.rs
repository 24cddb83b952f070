//! Criterion benches of the force kernel, the neighbour build, a step and the stability check.
//! `cargo bench --bench kernel`; the reference-slurry cases need ETWIN_DATA_DIR.

use std::path::PathBuf;

use criterion::{criterion_group, criterion_main, Criterion};
use etwin::bench::{gas_case, reference_case, Case};

fn prepared(case: etwin::Result<Case>) -> Case {
    let mut c = case.expect("bench case");
    c.system.setup().expect("setup");
    c
}

fn cases() -> Vec<Case> {
    let mut v = vec![prepared(gas_case(27, 0))];
    match std::env::var_os("ETWIN_DATA_DIR") {
        Some(d) => v.push(prepared(reference_case(&PathBuf::from(d), "thick", 0))),
        None => eprintln!("kernel bench: ETWIN_DATA_DIR unset, reference slurry cases skipped"),
    }
    v
}

fn force_kernel(c: &mut Criterion) {
    let mut g = c.benchmark_group("force");
    g.sample_size(10);
    for mut case in cases() {
        g.bench_function(&case.name, |b| b.iter(|| case.system.compute_forces(true)));
    }
    g.finish();
}

fn neighbour_build(c: &mut Criterion) {
    let mut g = c.benchmark_group("neighbour_build");
    g.sample_size(10);
    for mut case in cases() {
        g.bench_function(&case.name, |b| b.iter(|| case.system.rebuild_neighbors()));
    }
    g.finish();
}

fn step(c: &mut Criterion) {
    let mut g = c.benchmark_group("step");
    g.sample_size(10);
    for mut case in cases() {
        g.bench_function(&case.name, |b| b.iter(|| case.system.step()));
    }
    g.finish();
}

/// The stage runners' check of the step's stability (every 1000 steps and at a stage's end).
fn stability_check(c: &mut Criterion) {
    let mut g = c.benchmark_group("stability_check");
    g.sample_size(10);
    for case in cases() {
        g.bench_function(&case.name, |b| {
            b.iter(|| etwin::sim::stability::period_two_number(&case.system))
        });
    }
    g.finish();
}

criterion_group!(benches, force_kernel, neighbour_build, step, stability_check);
criterion_main!(benches);
