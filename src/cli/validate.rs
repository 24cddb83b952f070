//! `etwin validate`: a scenario checked without running it.

use std::path::PathBuf;

use clap::Args;

use etwin::scenario::Scenario;
use etwin::Result;

#[derive(Args)]
pub struct ValidateArgs {
    /// Scenario RON file.
    scenario: PathBuf,
}

/// Loads the scenario and prints what it would run, and its box limits.
pub fn run(a: ValidateArgs) -> Result<()> {
    let path = a.scenario.as_path();
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
