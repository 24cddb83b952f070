//! `etwin fit FIT.ron [--out DIR] [--resume DIR] [--json]`: a force-field fit; and
//! `etwin fit --benchmark`: the swarm variants on the surface fitted to the reference's
//! LAMMPS evaluations.

use clap::Args;
use rayon::prelude::*;
use serde::Serialize;

use etwin::fit::benchmark::{
    calls_to_reach, load_bounds, load_reference, load_start, Reach, RunSummary, Surface, SurfaceReport, Variant,
    REFERENCE_TARGETS,
};
use etwin::fit::run::{run_fit, FitProgress};
use etwin::fit::spec::FitSpec;
use etwin::fit::swarm::Assist;
use etwin::{Error, Result};

use super::print_json;

#[derive(Args)]
pub struct FitArgs {
    /// The fit file (RON).
    fit: Option<std::path::PathBuf>,
    /// Output folder (default out/<fit name>/).
    #[arg(long)]
    out: Option<std::path::PathBuf>,
    /// Continue the fit killed in DIR (with the same fit file).
    #[arg(long, value_name = "DIR")]
    resume: Option<std::path::PathBuf>,
    /// Compare the optimizer variants on the benchmark surface (needs ETWIN_DATA_DIR).
    #[arg(long)]
    benchmark: bool,
    /// Seeds per variant.
    #[arg(long, default_value_t = 20)]
    seeds: u64,
    /// The first seed (runs use seeds N, N+1, …).
    #[arg(long, default_value_t = 0)]
    first_seed: u64,
    /// Simulator calls each run may spend.
    #[arg(long, default_value_t = 800)]
    budget: usize,
    #[arg(long)]
    json: bool,
}

#[derive(Serialize)]
struct VariantResult {
    name: &'static str,
    /// Calls of the earlier run a warm start begins from (not counted below).
    #[serde(skip_serializing_if = "Option::is_none")]
    prior_calls: Option<usize>,
    calls_to_0_01: Reach,
    calls_to_0_0011: Reach,
    /// New best costs by the proposer that found them, over all seeds.
    new_bests_by_proposer: std::collections::BTreeMap<String, usize>,
}

#[derive(Serialize)]
struct BenchmarkReport {
    surface: SurfaceReport,
    failed_rows_left_out: usize,
    targets: [f64; 3],
    budget: usize,
    first_seed: u64,
    seeds: u64,
    variants: Vec<VariantResult>,
    wall_s: f64,
}

pub fn run(a: FitArgs) -> Result<()> {
    if !a.benchmark {
        return fit_file(a);
    }
    if a.seeds == 0 || a.budget < 8 {
        return Err(Error::Setup(format!(
            "etwin fit --benchmark: --seeds {} and --budget {} (need ≥ 1 seed and a budget of at least one swarm, 8 calls)\n  hint: --seeds 20 --budget 800",
            a.seeds, a.budget
        )));
    }
    let t0 = std::time::Instant::now();
    let data = std::env::var_os("ETWIN_DATA_DIR").ok_or_else(|| {
        Error::Setup("etwin fit --benchmark: ETWIN_DATA_DIR is not set\n  hint: point it at the reference data folder (research-data)".into())
    })?;
    let dir = std::path::Path::new(&data).join("lombardo2020_pso_ff");
    let (evals, failed) = load_reference(&dir)?;
    let (lo, hi) = load_bounds(&dir)?;
    let surface = Surface::fit(&evals, lo, hi, 1)?;
    let start = load_start(&dir)?;
    let mut variants = Vec::new();
    let all = [
        Variant::Plain,
        Variant::HumanSeeded(start),
        Variant::WarmStarted { prior_calls: 80 },
        Variant::SurrogateAssisted(Assist::default()),
    ];
    for v in all {
        let runs: Vec<RunSummary> = (a.first_seed..a.first_seed + a.seeds)
            .into_par_iter()
            .map(|seed| calls_to_reach(&surface, REFERENCE_TARGETS, &v, seed, a.budget, &[0.01, 0.0011]))
            .collect::<Result<_>>()?;
        let at = |k: usize| Reach::of(&runs.iter().map(|r| r.calls_to[k]).collect::<Vec<_>>());
        let mut wins = std::collections::BTreeMap::new();
        for (k, n) in runs.iter().flat_map(|r| &r.new_bests) {
            *wins.entry(k.clone()).or_default() += n;
        }
        variants.push(VariantResult {
            name: v.name(),
            prior_calls: match v {
                Variant::WarmStarted { prior_calls } => Some(prior_calls),
                _ => None,
            },
            calls_to_0_01: at(0),
            calls_to_0_0011: at(1),
            new_bests_by_proposer: wins,
        });
    }
    let report = BenchmarkReport {
        surface: surface.report(),
        failed_rows_left_out: failed,
        targets: REFERENCE_TARGETS,
        budget: a.budget,
        first_seed: a.first_seed,
        seeds: a.seeds,
        variants,
        wall_s: t0.elapsed().as_secs_f64(),
    };
    if a.json {
        return print_json(&report);
    }
    let s = &report.surface;
    println!(
        "surface            {} LAMMPS evaluations ({} failed rows left out); held-out error density {:.1} %, η18 {:.1} %, η125 {:.1} %",
        s.rows,
        failed,
        100.0 * s.held_out_mare[0],
        100.0 * s.held_out_mare[1],
        100.0 * s.held_out_mare[2]
    );
    let show = |r: &Reach| match (r.median, r.p25, r.p75) {
        (Some(m), Some(a), Some(b)) => format!("median {m:.0} [{a:.0}, {b:.0}], {}/{} reached", r.reached, r.runs),
        (Some(m), _, _) => format!("median {m:.0}, {}/{} reached", r.reached, r.runs),
        _ => format!("{}/{} reached", r.reached, r.runs),
    };
    for v in &report.variants {
        println!(
            "{:<18} calls to cost ≤ 0.01: {}; ≤ 0.0011: {}",
            v.name,
            show(&v.calls_to_0_01),
            show(&v.calls_to_0_0011)
        );
        let wins: Vec<String> = v
            .new_bests_by_proposer
            .iter()
            .map(|(k, n)| format!("{k} {n}"))
            .collect();
        let prior = v
            .prior_calls
            .map(|n| format!("; begins from {n} calls of an earlier run, not counted"))
            .unwrap_or_default();
        println!("{:<18} new bests by proposer: {}{prior}", "", wins.join(", "));
    }
    eprintln!("benchmark: {:.1} s", report.wall_s);
    Ok(())
}

/// Prints one line per iteration (not under --json).
struct Lines {
    quiet: bool,
}

impl FitProgress for Lines {
    fn iteration(&mut self, iteration: u64, best_cost: f64, points: usize) -> bool {
        if !self.quiet {
            eprintln!("iteration {iteration:>3}: best cost {best_cost:.4e} ({points} points learned from)");
        }
        true
    }
}

fn fit_file(a: FitArgs) -> Result<()> {
    let Some(path) = a.fit.as_deref() else {
        return Err(Error::Setup(
            "etwin fit: no fit file\n  hint: etwin fit FIT.ron [--out DIR] [--resume DIR] [--json], or etwin fit --benchmark".into(),
        ));
    };
    let (spec, src) = FitSpec::load(path)?;
    let out = match (&a.resume, &a.out) {
        (Some(r), _) => r.clone(),
        (None, Some(o)) => o.clone(),
        (None, None) => std::path::Path::new("out").join(&spec.name),
    };
    let copy = out.join("fit.ron");
    if a.resume.is_some() {
        let before = std::fs::read_to_string(&copy).map_err(|e| Error::io(&copy, e))?;
        if before != src {
            return Err(Error::Setup(format!(
                "{}: differs from the fit file this fit started with ({})\n  hint: resume with the same fit file, or start a new fit in another folder",
                path.display(),
                copy.display()
            )));
        }
    } else if !out.join("evaluations.csv").exists() {
        etwin::io::atomic::write_atomic(&copy, |w| w.write_all(src.as_bytes()))?;
    }
    let report = run_fit(&spec, path, &out, a.resume.is_some(), Lines { quiet: a.json })?;
    if a.json {
        return print_json(&report);
    }
    for p in &report.best {
        println!("{:<10} {:>12.6} {}", p.name, p.value, p.unit);
    }
    for t in &report.targets {
        println!(
            "{:<28} fitted {:.4} ± {:.4}, target {:.4} ± {:.4}",
            t.observable, t.fitted, t.fitted_stderr, t.target, t.uncertainty
        );
    }
    let wins: Vec<String> = report
        .new_bests_by_proposer
        .iter()
        .map(|(k, n)| format!("{k} {n}"))
        .collect();
    println!(
        "cost {:.4e} after {} calls ({} in this run, {} failed with no observables, {} iterations); new bests by proposer: {}",
        report.best_cost,
        report.calls,
        report.calls_this_run,
        report.failed_calls,
        report.iterations,
        wins.join(", ")
    );
    println!("force field  {}", report.forcefield_file);
    println!("log          {}", out.join("evaluations.csv").display());
    eprintln!(
        "timing: simulator calls {:.1} s (summed over the members run in parallel), total {:.1} s",
        report.simulation_s, report.total_s
    );
    Ok(())
}
