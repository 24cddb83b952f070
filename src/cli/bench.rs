//! `etwin bench`: the force and integration loop timed on the bench cases, or side by side
//! with LAMMPS (`--compare-lammps`, through benches/compare_lammps.sh).

use std::path::{Path, PathBuf};

use clap::Args;
use serde_json::json;

use etwin::bench::{self, CaseResult};
use etwin::{Error, Result};

use super::print_json;

#[derive(Args)]
pub struct BenchArgs {
    /// Print JSON: {"processor": {vendor, brand, family, model, stepping, half_width_avx2}, "cases":[{name, particles, threads, steps, particle_steps_per_s, phases}]}.
    #[arg(long)]
    json: bool,
    /// Cases to run (gas, thick, pso, or none); the reference ones need ETWIN_DATA_DIR.
    #[arg(long, value_delimiter = ',', default_value = "gas,thick,pso")]
    cases: Vec<String>,
    /// Timed steps of the gas case.
    #[arg(long, default_value_t = 1000)]
    steps_gas: u64,
    /// Lattice cells per edge of the gas case: N³ spheres (27: 19,683; 100: 1,000,000).
    #[arg(long, default_value_t = 27, value_parser = clap::value_parser!(u64).range(2..=200))]
    gas_cells: u64,
    /// Timed steps of the reference cases (thick, pso).
    #[arg(long, default_value_t = 200)]
    steps_reference: u64,
    /// Write the gas initial state as a LAMMPS data file here (for LAMMPS comparisons).
    #[arg(long)]
    write_gas_state: Option<PathBuf>,
    /// Cap the kernels' instruction set (baseline, avx2, avx512; default: the best this
    /// processor has). Results are the same bits at every level; only speed changes.
    #[arg(long, value_parser = parse_simd)]
    simd: Option<etwin::sim::simd::Level>,
    /// Run LAMMPS (Debian `lmp`; `mpirun` for 2 ranks) and electrode-twin back to back on
    /// the gas, thick, npt and nemd cases, 1 and 2 threads, and print the ratios (through
    /// benches/compare_lammps.sh; needs ETWIN_DATA_DIR and ETWIN_GOLDEN_DIR).
    #[arg(long)]
    compare_lammps: bool,
    /// Time each case this many times in a row (with --compare-lammps: the whole
    /// comparison) and report medians; this machine's speed drifts between runs.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u64).range(1..=100))]
    repeat: u64,
}

fn parse_simd(s: &str) -> std::result::Result<etwin::sim::simd::Level, String> {
    etwin::sim::simd::Level::parse(s).ok_or_else(|| format!("unknown level `{s}`; levels: baseline, avx2, avx512"))
}

/// Runs the bench cases, or the comparison with LAMMPS.
pub fn run(a: BenchArgs) -> Result<()> {
    if a.compare_lammps {
        compare_lammps(a.json, a.simd, a.repeat)
    } else {
        run_bench(&a)
    }
}

/// Runs benches/compare_lammps.sh (from the working directory or the source tree) with this
/// binary as the electrode-twin side.
fn compare_lammps(json: bool, simd: Option<etwin::sim::simd::Level>, repeat: u64) -> Result<()> {
    let script = [
        "benches/compare_lammps.sh",
        concat!(env!("CARGO_MANIFEST_DIR"), "/benches/compare_lammps.sh"),
    ]
    .into_iter()
    .map(PathBuf::from)
    .find(|p| p.is_file())
    .and_then(|p| p.canonicalize().ok())
    .ok_or_else(|| {
        Error::Setup("benches/compare_lammps.sh not found: run from the electrode-twin source folder".into())
    })?;
    let root = script.parent().and_then(Path::parent).unwrap_or(Path::new("."));
    let mut cmd = std::process::Command::new("bash");
    cmd.arg(&script).current_dir(root);
    if json {
        cmd.arg("--json");
    }
    if let Some(level) = simd {
        cmd.env("ETWIN_SIMD", level.name());
    }
    let exe = std::env::current_exe().map_err(|e| Error::Setup(format!("cannot locate this binary: {e}")))?;
    let status = cmd
        .env("ETWIN_BIN", exe)
        .env("REPEAT", repeat.to_string())
        .status()
        .map_err(|e| Error::Setup(format!("cannot run bash {}: {e}", script.display())))?;
    if status.success() {
        Ok(())
    } else {
        Err(Error::Setup(format!("{} failed ({status})", script.display())))
    }
}

/// Times the bench cases `a` names and prints their figures.
fn run_bench(a: &BenchArgs) -> Result<()> {
    let BenchArgs {
        json,
        ref cases,
        steps_gas,
        steps_reference,
        ref write_gas_state,
        simd,
        repeat,
        ..
    } = *a;
    let gas_cells = a.gas_cells as usize;
    if let Some(cap) = simd {
        etwin::sim::simd::set_cap(cap);
    }
    if let Some(path) = write_gas_state {
        bench::gas_structure(gas_cells, 2024).write(path)?;
    }
    let data_dir = std::env::var_os("ETWIN_DATA_DIR").map(PathBuf::from);
    let processor = etwin::sim::simd::Processor::detect();
    if let (false, Some(p)) = (json, &processor) {
        println!("processor: {p}");
    }
    let mut results: Vec<CaseResult> = Vec::new();
    for name in cases {
        let case = match name.as_str() {
            "none" => continue,
            "gas" => bench::gas_case(gas_cells, steps_gas)?,
            "thick" | "pso" => match &data_dir {
                Some(dir) => bench::reference_case(dir, name, steps_reference)?,
                None => {
                    eprintln!("bench: skipping `{name}`: ETWIN_DATA_DIR is not set (it points at the reference data)");
                    continue;
                }
            },
            other => {
                return Err(Error::Setup(format!(
                    "unknown bench case `{other}`; cases: gas, thick, pso, none"
                )))
            }
        };
        if !json {
            eprintln!("bench: running {name} ...");
        }
        let r = bench::run_case(case, repeat)?;
        if !json {
            let runs = &r.runs_particle_steps_per_s;
            let spread = if runs.len() > 1 {
                let [lo, hi] = etwin::analysis::stats::min_max(runs.iter().copied());
                let (k, steps) = (runs.len(), r.steps);
                format!(
                    "  (median of {k} runs of {steps} steps, {:.3}–{:.3} M/s)",
                    lo / 1e6,
                    hi / 1e6
                )
            } else {
                String::new()
            };
            // Where the host put the threads' cores (see bench::core_round_trip_ns).
            let cores = if r.core_round_trip_ns.is_empty() {
                String::new()
            } else {
                let [lo, hi] = etwin::analysis::stats::min_max(r.core_round_trip_ns.iter().copied());
                format!("  core round trip {lo:.0}–{hi:.0} ns")
            };
            println!(
                "{:<6} {:>6} particles  {:>2} threads  {:<8} {:>5} steps  {:>10.3} M particle-steps/s   neighbour {:.3} s  force {:.3} s  integrate {:.3} s  ({} builds)  {:.1} neighbours/particle  {:.1} contacts/particle{spread}{cores}",
                r.name,
                r.particles,
                r.threads,
                r.simd.name(),
                r.steps,
                r.particle_steps_per_s / 1e6,
                r.phases.neighbor_s,
                r.phases.force_s,
                r.phases.integrate_s,
                r.phases.neighbor_builds,
                r.neighbors_per_particle,
                r.contacts_per_particle
            );
        }
        results.push(r);
    }
    if json {
        print_json(&json!({ "processor": processor, "cases": results }))?;
    }
    Ok(())
}
