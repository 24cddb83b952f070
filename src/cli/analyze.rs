//! `etwin analyze`: characterization of any structure file.

use std::path::PathBuf;
use std::time::Instant;

use clap::{Args, ValueEnum};

use etwin::analysis::pore_size::RESOLVED_VOXELS;
use etwin::analysis::structure::{characterize, AnalysisSettings, Characterization, TortuositySettings, ZRange};
use etwin::io::lammps_data::DataFile;
use etwin::{Error, Result};

use super::print_json;

#[derive(Clone, Copy, ValueEnum)]
pub enum Format {
    /// LAMMPS `atom_style sphere`: id type diameter density x y z [ix iy iz].
    Lammps,
    /// LIGGGHTS `atom_style granular`: the same columns (tab-separated files are fine).
    Liggghts,
}

#[derive(Args)]
pub struct AnalyzeArgs {
    /// Structure file (LAMMPS or LIGGGHTS data file).
    structure: PathBuf,
    #[arg(long, value_enum, default_value = "lammps")]
    format: Format,
    /// Voxel edge [µm].
    #[arg(long, default_value_t = 0.2)]
    voxel: f64,
    /// Types that are CBD beads, comma-separated (the rest is AM).
    #[arg(long, value_delimiter = ',', default_value = "1")]
    cbd_types: Vec<u32>,
    /// Nano-porosity of the CBD [-], counted as pore in `porosity`.
    #[arg(long, default_value_t = 0.5)]
    nanoporosity: f64,
    /// Film z-range: `box`, `particles` (sphere surfaces' extent) or `a..b` [µm].
    #[arg(long, default_value = "box")]
    z_range: String,
    /// Slab thickness of the CBD profile [µm].
    #[arg(long, default_value_t = 5.0)]
    slab: f64,
    /// AM radius for volumes and masses / stored radius: 1 for the reference's files,
    /// 1/1.14 = 0.877193 for etwin's own structures (their AM spheres have the contact
    /// diameter 1.14 d).
    #[arg(long, default_value_t = 1.0)]
    am_radius_scale: f64,
    /// Also solve through-plane diffusion for the tortuosity factor on voxels of this edge
    /// [µm] (e.g. 0.5).
    #[arg(long)]
    tortuosity_voxel: Option<f64>,
    /// CBD diffusivity relative to the pores in that solve [-] (0 = blocking).
    #[arg(long, default_value_t = 0.0)]
    cbd_diffusivity: f64,
    /// Also the pore-size distribution (local thickness of the pores, CBD nano-pores
    /// excluded) on the porosity grid, in this many diameter bins (e.g. 30).
    #[arg(long)]
    pore_size_bins: Option<usize>,
    #[arg(long)]
    json: bool,
}

fn z_range(s: &str) -> Result<ZRange> {
    match s {
        "box" => Ok(ZRange::Box),
        "particles" => Ok(ZRange::Particles),
        _ => super::pair(s)
            .map(|[a, b]| ZRange::Given(a, b))
            .map_err(|e| Error::Setup(format!("--z-range `{s}`: {e}\n  hint: box, particles or a..b in µm"))),
    }
}

pub fn run(a: AnalyzeArgs) -> Result<()> {
    let t = Instant::now();
    // Both formats carry the same sphere columns; the reader takes either.
    let _ = a.format;
    let d = DataFile::read(&a.structure)?;
    let settings = AnalysisSettings {
        voxel_um: a.voxel,
        cbd_types: a.cbd_types.clone(),
        cbd_nanoporosity: a.nanoporosity,
        slab_um: a.slab,
        z_range: z_range(&a.z_range)?,
        am_radius_scale: a.am_radius_scale,
        tortuosity: a.tortuosity_voxel.map(|v| TortuositySettings {
            voxel_um: v,
            cbd_diffusivity: a.cbd_diffusivity,
            ..Default::default()
        }),
        pore_size_bins: a.pore_size_bins,
    };
    let c = characterize(&d.particles, &d.simbox, &settings)?;
    let seconds = t.elapsed().as_secs_f64();
    if a.json {
        return print_json(
            &serde_json::json!({ "structure": a.structure, "settings": settings, "analysis": c, "seconds": seconds }),
        );
    }
    print_text(&c);
    eprintln!("analysis: {seconds:.2} s");
    Ok(())
}

fn print_text(c: &Characterization) {
    println!(
        "{} AM + {} CBD particles; control volume {:.2} µm² × [{:.2}, {:.2}] µm; film thickness (sphere extent) {:.2} µm",
        c.am_particles, c.cbd_particles, c.area_um2, c.z_bottom_um, c.z_top_um, c.thickness_um
    );
    println!(
        "porosity [-]: {:.4} (voxel union, CBD nano-porosity {} as pore)   pores only {:.4}   (voxel {} µm)",
        c.porosity, c.cbd_nanoporosity, c.porosity_pores_only, c.voxel_um
    );
    println!(
        "              plain Σ sphere volumes {:.4}   geometric (Σ masses / skeletal densities) {:.4}",
        c.porosity_sum, c.porosity_geometric
    );
    println!(
        "solid volume [µm³]: Σ spheres {:.0} (AM {:.0}), voxel union {:.0}",
        c.volume_sum_um3, c.volume_am_sum_um3, c.volume_union_um3
    );
    println!(
        "density {:.4} g/cm³   mass loading {:.3} mg/cm²",
        c.density_g_cm3, c.mass_loading_mg_cm2
    );
    println!(
        "contacts: AM–AM {}  AM–CBD {}  CBD–CBD {}  (CBD per AM {:.2})",
        c.contacts.am_am, c.contacts.am_cbd, c.contacts.cbd_cbd, c.contacts.cbd_per_am
    );
    println!(
        "active AM surface {:.4} of {:.0} µm² (not covered by another sphere)",
        c.active_surface_fraction, c.am_surface_um2
    );
    if let Some(t) = &c.tortuosity {
        println!(
            "tortuosity factor {:.3} (through-plane; D_eff/D₀ {:.4}, conducting fraction {:.4}; {} CG iterations)",
            t.tau, t.d_eff, t.porosity, t.iterations
        );
    }
    if let (Some(t), Some(false)) = (&c.tortuosity_coarse, c.tortuosity_resolved()) {
        println!(
            "  not resolved: {:.3} at twice the voxel edge; refine --tortuosity-voxel until the two agree",
            t.tau
        );
    }
    if let Some(p) = &c.pore_size {
        println!(
            "pore size (local thickness, by pore volume) [µm]: {} (voxel {:.3} µm)",
            p.quantiles_text(),
            p.voxel_um
        );
        if p.unresolved_fraction > 0.0 {
            println!(
                "  {:.1} % of the pore volume is under {RESOLVED_VOXELS} voxels across; refine --voxel to measure it",
                100.0 * p.unresolved_fraction
            );
        }
        println!("  diameter ≤ [µm]  volume fraction [-]  cumulative [-]");
        for b in p.bins.iter().filter(|b| b.volume_fraction > 0.0) {
            println!(
                "  {:>14.3}  {:>19.4}  {:>14.4}",
                b.diameter_um, b.volume_fraction, b.cumulative
            );
        }
    }
    println!("CBD profile (z above the bottom [µm]: CBD / AM volume fraction):");
    for s in &c.cbd_profile {
        println!("  {:>8.2}  {:.4}  {:.4}", s.z_um, s.cbd_fraction, s.am_fraction);
    }
}
