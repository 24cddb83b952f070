//! `etwin`: the electrode-twin command line.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use serde_json::json;

use etwin::bench::{self, CaseResult};
use etwin::io::forces_csv::write_forces;
use etwin::io::lammps_data::DataFile;
use etwin::scenario::Scenario;
use etwin::sim::forcefield::reference::ReferenceModel;
use etwin::sim::system::{StepSettings, System, Thermo};
use etwin::slurry::output::{results_json, write_all};
use etwin::slurry::protocol::{self, Checkpointing, Progress, RunState};
use etwin::{Error, Result};

mod cli;

// Large particle arrays on huge pages where the kernel allows (see the module).
#[global_allocator]
static ALLOCATOR: etwin::huge_pages::HugePages = etwin::huge_pages::HugePages;

#[derive(Parser)]
#[command(
    name = "etwin",
    version,
    about = "Digital twin of lithium-ion electrode manufacturing"
)]
struct Cli {
    /// Worker threads (default: all cores). Results do not depend on it.
    #[arg(long, global = true)]
    threads: Option<usize>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run a scenario's stages (slurry: build, minimize, NPT density, NEMD viscosity).
    Run {
        /// Scenario RON file (e.g. scenarios/slurry_quick.ron); with --resume, defaults to
        /// the one the run was started with.
        #[arg(required_unless_present = "resume")]
        scenario: Option<PathBuf>,
        /// Output folder (default: out/<scenario name>/).
        #[arg(long, conflicts_with = "resume")]
        out: Option<PathBuf>,
        /// Continue the interrupted run in this output folder from its checkpoint.
        #[arg(long)]
        resume: Option<PathBuf>,
        /// Seconds of wall clock between checkpoints.
        #[arg(long, default_value_t = 60.0)]
        checkpoint_every: f64,
        /// Print results.json to stdout (no progress bars).
        #[arg(long)]
        json: bool,
    },
    /// The porosity / mass-loading map on measured electrodes.
    Map {
        #[command(subcommand)]
        command: cli::map::MapCommand,
    },
    /// Set-points (AM %, solid-to-liquid, comma gap, calender gap) for a target electrode,
    /// from a trained map; or their leave-one-slurry-out validation.
    Recommend(cli::recommend::RecommendArgs),
    /// Characterize a structure: porosity (voxelized, CBD nano-porosity counted), thickness,
    /// density, mass loading, CBD profile along z, contacts.
    Analyze(cli::analyze::AnalyzeArgs),
    /// Calendering against experiments: the gap → compression mapping calibrated on half
    /// of them, the other half predicted by simulation (both ways round).
    CalibrateCalendering(cli::calibrate::CalibrateArgs),
    /// Force-field fitting: `etwin fit FIT.ron [--out DIR] [--resume DIR] [--json]`, and
    /// `--benchmark`: the swarm variants on a surface fitted to the reference's LAMMPS runs.
    Fit(cli::fit::FitArgs),
    /// Parameter sweeps: `etwin sweep SWEEP.ron [--shard I/N]`, `sweep merge`, `sweep slurm`.
    Sweep(cli::sweep::SweepArgs),
    /// The 3D viewer (build with `--features viewer`): a scenario run live, a run folder
    /// replayed, or a structure file; `--screenshot PNG` saves the window and exits.
    View(ViewCli),
    /// Check a scenario (and its force field) without running it.
    Validate {
        /// Scenario RON file.
        scenario: PathBuf,
    },
    /// Per-atom forces and torques of a structure, optionally after N NVE steps.
    Forces {
        /// LAMMPS data file (atom_style sphere).
        #[arg(long)]
        structure: PathBuf,
        /// Force-field RON file (e.g. scenarios/forcefields/lombardo2020_best.ron).
        #[arg(long)]
        forcefield: PathBuf,
        /// NVE steps (nve/sphere) before writing; 0 = single point.
        #[arg(long, default_value_t = 0)]
        steps: u64,
        /// Timestep [µs].
        #[arg(long, default_value_t = 0.001)]
        dt: f64,
        /// Neighbour skin [µm].
        #[arg(long, default_value_t = 1.0)]
        skin: f64,
        /// Output CSV: id,type,x,y,z,fx,fy,fz,tqx,tqy,tqz (µm, nN, nN·µm).
        #[arg(long)]
        out: PathBuf,
        /// Also write the final structure as a LAMMPS data file.
        #[arg(long)]
        write_data: Option<PathBuf>,
        /// Print the summary as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Time the force + integration loop (particle-steps per second, per phase).
    Bench {
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
    },
}

#[derive(clap::Args)]
struct ViewCli {
    /// A scenario (.ron, run live), a run folder (e.g. out/chain_quick, replayed) or a LAMMPS
    /// data file (default: scenarios/chain_quick.ron).
    path: Option<PathBuf>,
    /// A trained map (`etwin map train … --out out/map.json`) for the prediction panel.
    #[arg(long)]
    model: Option<PathBuf>,
    /// Save the window as PNG after --frames frames of the ready scene, then exit.
    #[arg(long)]
    screenshot: Option<PathBuf>,
    /// Frames rendered after the scene is ready before the screenshot (and at least 3 s, and
    /// until every render pipeline is compiled).
    #[arg(long, default_value_t = 30)]
    frames: u32,
    /// Colouring: species, speed, force, contacts, z, cbd.
    #[arg(long, default_value = "species", value_parser = parse_color_by)]
    color_by: etwin::view::frame::ColorBy,
    /// Replay: the frame shown first (negative: from the end; -1 = the last).
    #[arg(long, default_value_t = -1, allow_hyphen_values = true)]
    frame: i64,
    /// A live run starts running at once (default: paused on its first frame).
    #[arg(long)]
    run: bool,
    /// Window size [px].
    #[arg(long, default_value_t = 1280)]
    width: u32,
    #[arg(long, default_value_t = 800)]
    height: u32,
}

fn parse_color_by(s: &str) -> std::result::Result<etwin::view::frame::ColorBy, String> {
    etwin::view::frame::ColorBy::parse(s)
        .ok_or_else(|| format!("unknown colouring `{s}`; one of: species, speed, force, contacts, z, cbd"))
}

#[cfg(feature = "viewer")]
fn view(v: ViewCli, threads: Option<usize>) -> Result<()> {
    etwin::view::app::run(etwin::view::app::ViewArgs {
        path: v.path,
        model: v.model,
        screenshot: v.screenshot,
        frames: v.frames,
        color_by: v.color_by,
        frame: v.frame,
        run: v.run,
        width: v.width,
        height: v.height,
        threads: threads.unwrap_or(0),
    })
}

#[cfg(not(feature = "viewer"))]
fn view(_: ViewCli, _: Option<usize>) -> Result<()> {
    Err(Error::Setup(
        "this etwin was built without the viewer\n  hint: cargo build --release --features viewer (bevy: ≈ 12 min the first time)"
            .into(),
    ))
}

fn parse_simd(s: &str) -> std::result::Result<etwin::sim::simd::Level, String> {
    etwin::sim::simd::Level::parse(s).ok_or_else(|| format!("unknown level `{s}`; levels: baseline, avx2, avx512"))
}

/// `etwin … | head` closes stdout early; Rust ignores SIGPIPE and `println!` then panics.
/// Restoring the default action ends the process quietly, as other command-line tools do.
fn quiet_on_closed_pipe() {
    #[cfg(unix)]
    // SAFETY: called first in `main`, before any thread exists; SIG_DFL is a valid action.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}

fn main() -> ExitCode {
    quiet_on_closed_pipe();
    let cli = Cli::parse();
    let pool = match rayon::ThreadPoolBuilder::new()
        .num_threads(cli.threads.unwrap_or(0))
        .build()
    {
        Ok(p) => p,
        Err(e) => {
            eprintln!("error: cannot start the thread pool: {e}");
            return ExitCode::FAILURE;
        }
    };
    // The viewer runs bevy's loop on the main thread; its live runs get their own pool.
    if let Command::View(v) = cli.command {
        return match view(v, cli.threads) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("error: {e}");
                ExitCode::FAILURE
            }
        };
    }
    // Simulations may lead two-thread teams (sim::team), except a fit's, whose swarm
    // members run as parallel jobs of this pool.
    let teams = !matches!(cli.command, Command::Fit(_));
    let outcome = pool.install(|| match teams {
        true => etwin::sim::team::allow(|| dispatch(cli.command)),
        false => dispatch(cli.command),
    });
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

fn dispatch(cmd: Command) -> Result<()> {
    match cmd {
        Command::Run {
            scenario,
            out,
            resume,
            checkpoint_every,
            json,
        } => run_scenario(scenario, out, resume, checkpoint_every, json),
        Command::Validate { scenario } => validate(&scenario),
        Command::View(v) => view(v, None),
        Command::Map { command } => cli::map::run(command),
        Command::Recommend(args) => cli::recommend::run(args),
        Command::Analyze(args) => cli::analyze::run(args),
        Command::CalibrateCalendering(args) => cli::calibrate::run(args),
        Command::Fit(args) => cli::fit::run(args),
        Command::Sweep(args) => cli::sweep::run_cli(args),
        Command::Forces {
            structure,
            forcefield,
            steps,
            dt,
            skin,
            out,
            write_data,
            json,
        } => forces(
            &structure,
            &forcefield,
            steps,
            dt,
            skin,
            &out,
            write_data.as_deref(),
            json,
        ),
        Command::Bench {
            json,
            simd,
            compare_lammps: true,
            repeat,
            ..
        } => compare_lammps(json, simd, repeat),
        Command::Bench {
            json,
            cases,
            steps_gas,
            gas_cells,
            steps_reference,
            write_gas_state,
            simd,
            compare_lammps: false,
            repeat,
        } => run_bench(
            json,
            &cases,
            (steps_gas, steps_reference),
            gas_cells as usize,
            write_gas_state.as_deref(),
            simd,
            repeat,
        ),
    }
}

#[allow(clippy::too_many_arguments)]
fn forces(
    structure: &Path,
    ff_path: &Path,
    steps: u64,
    dt: f64,
    skin: f64,
    out: &Path,
    write_data: Option<&Path>,
    json: bool,
) -> Result<()> {
    let data = DataFile::read(structure)?;
    let model = ReferenceModel::load(ff_path)?;
    let settings = StepSettings {
        dt,
        skin,
        ..Default::default()
    };
    let mut sys = System::new(data.particles.clone(), data.simbox, model.build()?, settings)?;
    sys.setup()?;
    sys.run(steps, &mut []);
    sys.check_finite()?;
    write_forces(out, &sys.particles)?;
    if let Some(path) = write_data {
        DataFile {
            title: format!(
                "electrode-twin: {} after {steps} steps with {}",
                structure.display(),
                model.name
            ),
            n_types: data.n_types.max(sys.particles.max_kind()),
            simbox: sys.simbox,
            particles: sys.particles.clone(),
            has_velocities: true,
        }
        .write(path)?;
    }
    let t = sys.thermo();
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(&thermo_json(&t, &sys)).map_err(|e| Error::Setup(e.to_string()))?
        );
    } else {
        print_thermo(&t, sys.particles.len());
        println!("forces written to {}", out.display());
    }
    eprintln!("\n{}", sys.timers);
    Ok(())
}

fn thermo_json(t: &Thermo, sys: &System) -> serde_json::Value {
    let p = t.pressure_kpa;
    let w = t.virial_kpa;
    json!({
        "particles": sys.particles.len(),
        "step": t.step,
        "pe_fJ": t.pe_fj,
        "ke_trans_fJ": t.ke_trans_fj,
        "ke_rot_fJ": t.ke_rot_fj,
        "pressure_kPa": {"xx": p[0], "yy": p[1], "zz": p[2], "xy": p[3], "xz": p[4], "yz": p[5], "scalar": t.pressure_scalar_kpa},
        "virial_pressure_kPa": {"xx": w[0], "yy": w[1], "zz": w[2], "xy": w[3], "xz": w[4], "yz": w[5]},
        "contacts": t.contacts,
        "volume_um3": t.volume_um3,
        "timing_s": sys.timers,
    })
}

fn print_thermo(t: &Thermo, n: usize) {
    let p = t.pressure_kpa;
    println!("particles            {n}");
    println!("step                 {}", t.step);
    println!("potential energy     {:.10e} fJ", t.pe_fj);
    println!(
        "kinetic energy       {:.10e} fJ (translation)  {:.10e} fJ (rotation)",
        t.ke_trans_fj, t.ke_rot_fj
    );
    println!("pressure tensor [kPa]");
    println!("  xx {:>18.10e}  xy {:>18.10e}  xz {:>18.10e}", p[0], p[3], p[4]);
    println!("  yy {:>18.10e}  yz {:>18.10e}", p[1], p[5]);
    println!("  zz {:>18.10e}", p[2]);
    println!("pressure (trace/3)   {:.10e} kPa", t.pressure_scalar_kpa);
    println!("contacts             {}", t.contacts);
    println!("volume               {:.10e} µm³", t.volume_um3);
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

fn run_bench(
    json: bool,
    cases: &[String],
    (steps_gas, steps_reference): (u64, u64),
    gas_cells: usize,
    write_gas_state: Option<&Path>,
    simd: Option<etwin::sim::simd::Level>,
    repeat: u64,
) -> Result<()> {
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
        println!(
            "{}",
            serde_json::to_string_pretty(&json!({ "processor": processor, "cases": results }))
                .map_err(|e| Error::Setup(e.to_string()))?
        );
    }
    Ok(())
}

/// Progress bars on a terminal (hidden when stderr is not one, or under --json).
struct Bars {
    bar: Option<indicatif::ProgressBar>,
    quiet: bool,
}

impl Progress for Bars {
    fn start(&mut self, phase: &str, total: u64) {
        if self.quiet {
            return;
        }
        let bar = indicatif::ProgressBar::new(total);
        if let Ok(style) =
            indicatif::ProgressStyle::with_template("{prefix:>22} [{bar:40}] {pos}/{len} steps  {elapsed}<{eta}")
        {
            bar.set_style(style.progress_chars("=> "));
        }
        bar.set_prefix(phase.to_string());
        self.bar = Some(bar);
    }
    fn advance(&mut self, steps: u64) {
        if let Some(b) = &self.bar {
            b.inc(steps);
        }
    }
    fn finish(&mut self) {
        if let Some(b) = self.bar.take() {
            b.finish();
        }
    }
}

fn validate(path: &Path) -> Result<()> {
    let l = Scenario::load(path)?;
    let f = &l.scenario.formulation;
    let c = f.counts();
    println!(
        "{}: valid (scenario version {}, force field `{}`)",
        path.display(),
        l.scenario.version,
        l.model.name
    );
    if l.scenario.protocol.start_from.is_some() {
        println!("particles: those of the imported structure");
    } else {
        println!("particles: {} AM {:?} + {} CBD beads", c.am_total(), c.am, c.cbd);
    }
    let p = &l.scenario.protocol;
    let nemd = p.nemd.as_ref().map_or("no nemd".into(), |m| {
        format!("nemd ({} shear rates)", m.shear_rates.len())
    });
    let start = match &p.start_from {
        Some(f) if p.minimize.imported => format!("import {f}, minimize"),
        Some(f) => format!("import {f}"),
        None => "build, minimize".into(),
    };
    let npt = p.npt.as_ref().map_or("no npt".into(), |n| {
        format!("npt ({} steps, {:?})", n.steps, n.ensemble)
    });
    println!("stages: {start}, {npt}, {nemd}");
    // They need the initial system, which an imported structure may not give here (e.g.
    // without ETWIN_DATA_DIR): the scenario is still valid.
    match etwin::slurry::limits::box_limits(&l) {
        Ok(Some(b)) => {
            let shear = b.shear_density_g_cm3.map_or(String::new(), |s| {
                format!("; the shear refuses a slurry denser than {s:.3} g/cm³")
            });
            println!(
                "box limits: the NPT box stops at {:.3} g/cm³ (AM + wet CBD beads; the neighbour reach is {:.3} µm){shear}; \
                 more simulated mass (formulation.dry_mass_ug) raises both",
                b.npt_density_g_cm3, b.reach_um
            );
        }
        Ok(None) => {}
        Err(e) => println!(
            "box limits: not computed ({})",
            e.to_string().lines().next().unwrap_or_default()
        ),
    }
    if let (Some(d), Some(dry)) = (&l.scenario.protocol.drying, &l.model_dry) {
        let mode = match d.mode {
            etwin::scenario::drying::DryingMode::Homogeneous => "homogeneous",
            etwin::scenario::drying::DryingMode::Heterogeneous(_) => "heterogeneous",
        };
        println!(
            "        coating ({} steps), {mode} drying ({} cycles × {} steps, then {} steps with the dry force field `{}`)",
            d.coating_steps, d.cycles, d.steps_per_cycle, d.final_steps, dry.name
        );
        if let Some(k) = &d.consolidation {
            println!(
                "        consolidation under the dry material law ({:?} for {:?})",
                k.pressure, k.time
            );
        }
    }
    if let Some(c) = &p.calendering {
        use etwin::scenario::calendering::{Target, Tool};
        let tool = match &c.tool {
            Tool::Plate => "plate".to_string(),
            Tool::Roll { radius, .. } => format!("roll (radius {radius:?})"),
        };
        let target = match &c.target {
            Target::Compression(f) => format!("{:.0} % compression", 100.0 * f),
            Target::Gap(g) => format!("gap {g:?}"),
            Target::Pressure(p) => format!("pressure {p:?}"),
        };
        let relax = if c.relaxation.is_some() { ", spring-back" } else { "" };
        println!("        calendering ({tool}, {target} at {:?}{relax})", c.tool_speed);
    }
    Ok(())
}

fn run_scenario(
    scenario: Option<PathBuf>,
    out: Option<PathBuf>,
    resume: Option<PathBuf>,
    checkpoint_every: f64,
    json: bool,
) -> Result<()> {
    let mut bars = Bars {
        bar: None,
        quiet: json || !std::io::IsTerminal::is_terminal(&std::io::stderr()),
    };
    let (l, dir, run) = match resume {
        Some(dir) => {
            let path = match scenario {
                Some(p) => p,
                None => RunState::peek_scenario(&dir)?,
            };
            let l = Scenario::load(&path)?;
            let st = RunState::load(&dir, &l)?;
            let cp = Checkpointing {
                dir: dir.clone(),
                every_s: checkpoint_every,
            };
            let run = protocol::resume(&l, st, &mut bars, Some(&cp))?;
            (l, dir, run)
        }
        None => {
            let path = scenario.ok_or_else(|| Error::Setup("a scenario file is needed".into()))?;
            let l = Scenario::load(&path)?;
            let dir = out.unwrap_or_else(|| PathBuf::from("out").join(&l.scenario.name));
            std::fs::create_dir_all(&dir).map_err(|e| Error::io(&dir, e))?;
            let cp = Checkpointing {
                dir: dir.clone(),
                every_s: checkpoint_every,
            };
            let run = protocol::run(&l, &mut bars, Some(&cp))?;
            (l, dir, run)
        }
    };
    let t = std::time::Instant::now();
    write_all(&dir, &l, &run, rayon::current_num_threads())?;
    // Not in results.json or report.md, which this writes.
    let written_s = t.elapsed().as_secs_f64();
    let checkpoint = dir.join(protocol::CHECKPOINT);
    if checkpoint.exists() {
        std::fs::remove_file(&checkpoint).map_err(|e| Error::io(&checkpoint, e))?;
    }
    let r = &run.result;
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(&results_json(&run)).map_err(|e| Error::Setup(e.to_string()))?
        );
    } else {
        println!("scenario           {}", l.scenario.name);
        println!("particles          {} AM + {} CBD", r.particles.am, r.particles.cbd);
        match &r.minimize {
            Some(m) => println!(
                "minimize           {} iterations, max force {:.3e} nN ({:?})",
                m.iterations, m.max_force_nn, m.stop
            ),
            None => println!(
                "slurry             imported from {}",
                l.scenario.protocol.start_from.as_deref().unwrap_or("?")
            ),
        }
        if let (Some(rho), Some(se), Some(steady)) = (r.density_g_cm3, r.density_stderr_g_cm3, r.density_steady) {
            let recipe = r.recipe_density_g_cm3.unwrap_or(f64::NAN);
            println!(
                "slurry density     {rho:.4} ± {se:.4} g/cm³ (AM + wet CBD beads; recipe mass with solvent: {recipe:.4}; steady: {steady})"
            );
        }
        if let Some((what, hint)) = r.npt_box_warning() {
            println!("warning: {what}\n  hint: {hint}");
        }
        for v in &r.viscosity {
            println!(
                "viscosity          {:.4} ± {:.4} Pa·s at {:.4e} 1/s (strain {:.2}, steady: {}, profile slope {:.4e} 1/s, R² {:.3})",
                v.viscosity_pa_s, v.stderr_pa_s, v.shear_rate_per_s, v.strain, v.steady, v.profile_slope_per_s, v.profile_r2
            );
            println!(
                "  stress split     static {:.2} ± {:.2} Pa, damping {:.4} ± {:.4} Pa·s",
                v.static_stress_pa, v.static_stress_stderr_pa, v.damping_viscosity_pa_s, v.damping_stderr_pa_s
            );
        }
        if let Some(d) = &run.drying {
            println!(
                "coating            wet film {:.2} µm on {:.1} µm², mass loading {:.3} mg/cm²",
                d.coating.wet_thickness_um, d.coating.area_um2, d.coating.mass_loading_mg_cm2
            );
            println!(
                "drying ({})  thickness {:.2} µm, porosity {:.4} (pores only {:.4}, geometric {:.4}), density {:.4} g/cm³, {} particles outside the film",
                d.mode, d.thickness_um, d.porosity, d.porosity_pores_only, d.porosity_geometric, d.density_g_cm3, d.particles_outside_film
            );
            println!(
                "contacts           AM–AM {}, AM–CBD {}, CBD–CBD {}",
                d.contacts.am_am, d.contacts.am_cbd, d.contacts.cbd_cbd
            );
        }
        if let Some(c) = &run.consolidation {
            println!(
                "consolidation      thickness {:.2} µm under {} kPa (converged: {}), porosity {:.4} (pores only {:.4}, geometric {:.4}), collector / plate {}",
                c.thickness_um,
                c.hold_pressure_mpa.map_or("–".into(), |p| format!("{:.1}", p * 1e3)),
                c.converged.unwrap_or(false),
                c.porosity,
                c.porosity_pores_only,
                c.porosity_geometric,
                c.force_balance.map_or("–".into(), |b| format!("{b:.3}"))
            );
        }
        if let Some(c) = &run.calendering {
            println!(
                "calendering ({})  thickness {:.2} → {:.2} µm (spring-back {} %), porosity {:.4} → {:.4}, peak {:.2} MPa, tortuosity {} → {}",
                c.tool,
                c.thickness_before_um,
                c.thickness_um,
                c.springback_pct.map_or("–".into(), |s| format!("{s:.1}")),
                c.porosity_before,
                c.porosity,
                c.max_pressure_mpa,
                c.tortuosity_factor_before.map_or("–".into(), |t| format!("{t:.3}")),
                c.tortuosity_text()
            );
        }
        println!("report             {}", dir.join("report.md").display());
        println!("outputs            {}", dir.display());
    }
    eprintln!("\nphase                    time[s]");
    for (k, s) in &run.timing {
        eprintln!("{k:<24} {s:>8.2}");
    }
    eprintln!("{:<24} {written_s:>8.2}", "write outputs");
    Ok(())
}
