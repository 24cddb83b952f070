//! `etwin forces`: per-particle forces and torques of a structure, optionally after NVE
//! steps (the engine's check against LAMMPS' golden forces).

use std::path::PathBuf;

use clap::Args;
use serde_json::json;

use etwin::io::forces_csv::write_forces;
use etwin::io::lammps_data::DataFile;
use etwin::sim::forcefield::reference::ReferenceModel;
use etwin::sim::system::{StepSettings, System, Thermo};
use etwin::Result;

use super::print_json;

#[derive(Args)]
pub struct ForcesArgs {
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
}

/// Writes the forces and prints the thermodynamic summary.
pub fn run(a: ForcesArgs) -> Result<()> {
    let ForcesArgs {
        structure,
        forcefield,
        steps,
        dt,
        skin,
        out,
        write_data,
        json,
    } = a;
    let (structure, ff_path, out) = (structure.as_path(), forcefield.as_path(), out.as_path());
    let write_data = write_data.as_deref();
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
        print_json(&thermo_json(&t, &sys))?;
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
