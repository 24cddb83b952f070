//! `etwin run`: a scenario's stages, with progress bars, checkpoints and resumption.

use std::path::PathBuf;

use clap::Args;

use etwin::scenario::Scenario;
use etwin::slurry::output::{results_json, write_all};
use etwin::slurry::protocol::{self, Checkpointing, Progress, RunState};
use etwin::{Error, Result};

use super::print_json;

#[derive(Args)]
pub struct RunArgs {
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

/// Runs (or resumes) the scenario, writes its outputs and prints its results.
pub fn run(a: RunArgs) -> Result<()> {
    let RunArgs {
        scenario,
        out,
        resume,
        checkpoint_every,
        json,
    } = a;
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
        print_json(&results_json(&run))?;
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
