//! `etwin`: the electrode-twin command line.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use etwin::Result;

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
    Run(cli::run::RunArgs),
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
    Validate(cli::validate::ValidateArgs),
    /// Per-atom forces and torques of a structure, optionally after N NVE steps.
    Forces(cli::forces::ForcesArgs),
    /// Time the force + integration loop (particle-steps per second, per phase).
    Bench(cli::bench::BenchArgs),
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
    Err(etwin::Error::Setup(
        "this etwin was built without the viewer\n  hint: cargo build --release --features viewer (bevy: ≈ 12 min the first time)"
            .into(),
    ))
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
        Command::Run(args) => cli::run::run(args),
        Command::Validate(args) => cli::validate::run(args),
        Command::View(v) => view(v, None),
        Command::Map { command } => cli::map::run(command),
        Command::Recommend(args) => cli::recommend::run(args),
        Command::Analyze(args) => cli::analyze::run(args),
        Command::CalibrateCalendering(args) => cli::calibrate::run(args),
        Command::Fit(args) => cli::fit::run(args),
        Command::Sweep(args) => cli::sweep::run_cli(args),
        Command::Forces(args) => cli::forces::run(args),
        Command::Bench(args) => cli::bench::run(args),
    }
}
