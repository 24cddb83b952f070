//! The slurry protocol of a scenario, stage by stage:
//! 1. **build**: recipe → counts → non-overlapping placement in a dilute box;
//! 2. **minimize**: FIRE until every force is below the tolerance;
//! 3. **npt**: velocities at T, thermostat + pressure coupling with a ramped target;
//!    slurry density = (m_AM + m_CBD + m_solvent of the recipe) / V, as the reference
//!    computes it, block-averaged over the trailing window;
//! 4. **nemd**: per shear rate, from the NPT state: Lees–Edwards shear to the set strain;
//!    η = −⟨p_xy⟩/γ̇ block-averaged over the trailing window, with a steady-state test
//!    and the streaming-profile check.
//!
//! Physics never prints: progress goes to a [`Progress`] observer.

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, Normal};
use serde::Serialize;

use crate::analysis::stats::{block_average, is_steady};
use crate::error::{Error, Result};
use crate::io::lammps_data::DataFile;
use crate::scenario::Loaded;
use crate::sim::ensemble::{temperature, PressureCoupling, VelocityRescale};
use crate::sim::minimize::{fire, FireParams, MinReport};
use crate::sim::nemd::{shear_stress, velocity_profile, ShearDeform, ShearThermostat};
use crate::sim::particles::Particles;
use crate::sim::simbox::SimBox;
use crate::sim::system::{StepSettings, System};
use crate::slurry::placement::initial_slurry;
use crate::slurry::recipe::Counts;
use crate::units::{K_B, MPA_S_TO_PA_S};

/// Receives progress; the CLI draws bars from it.
pub trait Progress {
    fn start(&mut self, phase: &str, total_steps: u64);
    fn advance(&mut self, steps: u64);
    fn finish(&mut self);
}

/// No progress output.
pub struct Silent;

impl Progress for Silent {
    fn start(&mut self, _: &str, _: u64) {}
    fn advance(&mut self, _: u64) {}
    fn finish(&mut self) {}
}

#[derive(Debug, Clone, Serialize)]
pub struct ParticleCount {
    pub am: usize,
    pub cbd: usize,
}

#[derive(Debug, Clone, Serialize)]
pub struct ViscosityPoint {
    pub shear_rate_per_s: f64,
    pub viscosity_pa_s: f64,
    pub stderr_pa_s: f64,
    /// Strain reached γ̇·t [-].
    pub strain: f64,
    /// The two halves of the averaged window agree within 3 standard errors.
    pub steady: bool,
    /// Fitted slope of the streaming profile [1/s] and its R² (linear profile check).
    pub profile_slope_per_s: f64,
    pub profile_r2: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct SlurryResult {
    pub particles: ParticleCount,
    pub counts: Counts,
    pub minimize: MinReport,
    pub density_g_cm3: f64,
    pub density_stderr_g_cm3: f64,
    pub density_steady: bool,
    pub viscosity: Vec<ViscosityPoint>,
}

/// A phase's time series: header (unit-bearing) and rows.
#[derive(Debug, Clone)]
pub struct Series {
    pub name: String,
    pub header: &'static str,
    pub rows: Vec<Vec<f64>>,
}

/// Everything a run produces besides files.
pub struct SlurryRun {
    pub result: SlurryResult,
    pub series: Vec<Series>,
    /// Structures to write: (file stem, structure).
    pub structures: Vec<(String, DataFile)>,
    /// Wall-clock seconds per phase.
    pub timing: Vec<(String, f64)>,
}

fn data_file(title: String, n_types: u32, sys: &System) -> DataFile {
    DataFile {
        title,
        n_types,
        simbox: sys.simbox,
        particles: sys.particles.clone(),
        has_velocities: true,
    }
}

/// Gaussian velocities at `t_k` with zero total momentum (LAMMPS `velocity create`).
fn set_velocities(p: &mut Particles, t_k: f64, seed: u64) {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let normal = Normal::new(0.0, 1.0).expect("unit normal");
    for k in 0..p.len() {
        let s = (K_B * t_k / p.mass[k]).sqrt();
        p.v[k] = [0, 1, 2].map(|_| s * normal.sample(&mut rng));
    }
    let m: f64 = p.mass.iter().sum();
    let mom: [f64; 3] = std::array::from_fn(|a| (0..p.len()).map(|k| p.mass[k] * p.v[k][a]).sum::<f64>() / m);
    for v in &mut p.v {
        for a in 0..3 {
            v[a] -= mom[a];
        }
    }
}

/// Least-squares slope and R² of (x, y) points.
fn linear_fit(pts: &[(f64, f64)]) -> (f64, f64) {
    let m = pts.len() as f64;
    let (sx, sy) = (
        pts.iter().map(|p| p.0).sum::<f64>() / m,
        pts.iter().map(|p| p.1).sum::<f64>() / m,
    );
    let sxy: f64 = pts.iter().map(|p| (p.0 - sx) * (p.1 - sy)).sum();
    let sxx: f64 = pts.iter().map(|p| (p.0 - sx).powi(2)).sum();
    let syy: f64 = pts.iter().map(|p| (p.1 - sy).powi(2)).sum();
    let slope = if sxx > 0.0 { sxy / sxx } else { 0.0 };
    let r2 = if sxx > 0.0 && syy > 0.0 {
        sxy * sxy / (sxx * syy)
    } else {
        0.0
    };
    (slope, r2)
}

/// Runs a loaded scenario's slurry protocol.
pub fn run(l: &Loaded, progress: &mut dyn Progress) -> Result<SlurryRun> {
    let sc = &l.scenario;
    let p = &sc.protocol;
    let mut timing = Vec::new();
    let mut series = Vec::new();
    let mut structures = Vec::new();
    let settings = StepSettings {
        dt: p.timestep.get(),
        skin: p.skin.get(),
        ..Default::default()
    };
    let n_types = l.model.n_types() as u32;

    // 1. build
    let t = std::time::Instant::now();
    progress.start("build", 1);
    let (data, counts) = initial_slurry(
        &sc.formulation,
        &l.model,
        p.initial_volume_fraction,
        p.box_aspect,
        sc.seed,
    )
    .map_err(|e| Error::Setup(format!("{}: building the slurry: {e}", l.path.display())))?;
    let recipe_mass = counts.am_mass_pg + counts.cbd_mass_pg + counts.solvent_mass_pg;
    let mut sys = System::new(data.particles, data.simbox, l.model.build()?, settings)?;
    sys.setup()?;
    progress.finish();
    timing.push(("build".to_string(), t.elapsed().as_secs_f64()));

    // 2. minimize
    let t = std::time::Instant::now();
    progress.start("minimize", p.minimize.max_iterations);
    let fire_params = FireParams {
        force_tol: p.minimize.force_tol.get(),
        max_iterations: p.minimize.max_iterations,
        ..Default::default()
    };
    let min = fire(&mut sys, &fire_params);
    progress.finish();
    structures.push((
        "minimized".to_string(),
        data_file(format!("{}: minimized", sc.name), n_types, &sys),
    ));
    timing.push(("minimize".to_string(), t.elapsed().as_secs_f64()));

    // 3. npt
    let t = std::time::Instant::now();
    let n = &p.npt;
    set_velocities(&mut sys.particles, n.temperature.get(), sc.seed ^ 0x5eed);
    sys.setup()?;
    let mut thermostat = VelocityRescale::new(n.temperature.get(), n.thermostat_tau.get(), sc.seed ^ 0x7);
    let mut barostat = PressureCoupling::new(
        n.coupling,
        n.pressure_stop.get(),
        n.barostat_tau.get(),
        n.compressibility,
    );
    barostat.start_kpa = n.pressure_start.get();
    barostat.ramp_steps = ((n.steps as f64 * n.ramp_fraction) as u64).max(1);
    let mut rows = Vec::new();
    progress.start("npt", n.steps);
    let mut done = 0;
    while done < n.steps {
        let chunk = n.sample_every.min(n.steps - done);
        sys.run_with(chunk, &mut [&mut thermostat, &mut barostat], &mut []);
        done += chunk;
        let th = sys.thermo();
        rows.push(vec![
            sys.step as f64,
            sys.step as f64 * settings.dt,
            temperature(&sys),
            th.pressure_scalar_kpa,
            th.pressure_kpa[2],
            recipe_mass / th.volume_um3,
            th.volume_um3,
        ]);
        progress.advance(chunk);
    }
    progress.finish();
    let density: Vec<f64> = rows.iter().map(|r| r[5]).collect();
    let window = &density[density.len() - ((density.len() as f64 * n.average_last) as usize).max(n.blocks)..];
    let rho = block_average(window, n.blocks).ok_or_else(|| Error::Setup("too few NPT samples".into()))?;
    let density_steady = is_steady(window, n.blocks.max(3), 3.0).unwrap_or(false);
    series.push(Series {
        name: "npt".into(),
        header: "step,time[us],temperature[K],pressure[kPa],pzz[kPa],density[g/cm3],volume[um3]",
        rows,
    });
    structures.push((
        "slurry".to_string(),
        data_file(format!("{}: after NPT", sc.name), n_types, &sys),
    ));
    timing.push(("npt".to_string(), t.elapsed().as_secs_f64()));

    // 4. nemd
    let mut viscosity = Vec::new();
    if let Some(m) = &p.nemd {
        let slurry: (Particles, SimBox) = (sys.particles.clone(), sys.simbox);
        for (k, rate) in m.shear_rates.iter().enumerate() {
            let t = std::time::Instant::now();
            let rate = rate.get();
            let nemd_settings = StepSettings {
                rotate: m.rotate,
                ..settings
            };
            let mut shear = System::new(slurry.0.clone(), slurry.1, l.model.build()?, nemd_settings)?;
            shear.setup()?;
            let mut deform = ShearDeform::start(&mut shear, rate, true).map_err(Error::Setup)?;
            let mut thermo =
                ShearThermostat::new(m.temperature.get(), m.thermostat_tau.get(), rate, sc.seed ^ k as u64);
            let steps = (m.strain / (rate * settings.dt)).ceil() as u64;
            let mut rows = Vec::new();
            let mut profiles: Vec<Vec<(f64, f64)>> = Vec::new();
            progress.start(&format!("nemd {:.4e} 1/s", rate * 1e6), steps);
            let mut done = 0;
            while done < steps {
                let chunk = m.sample_every.min(steps - done);
                shear.run_with(chunk, &mut [&mut deform, &mut thermo], &mut []);
                done += chunk;
                rows.push(vec![
                    done as f64,
                    done as f64 * settings.dt,
                    deform.strain,
                    shear_stress(&shear, rate),
                ]);
                profiles.push(velocity_profile(&shear, 8));
                progress.advance(chunk);
            }
            progress.finish();
            let pxy: Vec<f64> = rows.iter().map(|r| r[3]).collect();
            let start = pxy.len()
                - ((pxy.len() as f64 * m.average_last) as usize)
                    .max(m.blocks)
                    .min(pxy.len());
            let window = &pxy[start..];
            let b = block_average(window, m.blocks).ok_or_else(|| {
                Error::Setup(format!(
                    "too few stress samples at {:e} 1/s: lower sample_every",
                    rate * 1e6
                ))
            })?;
            let late = &profiles[start..];
            let bins = late.iter().map(|p| p.len()).min().unwrap_or(0);
            let mean_profile: Vec<(f64, f64)> = (0..bins)
                .map(|i| {
                    (
                        late[0][i].0,
                        late.iter().map(|p| p[i].1).sum::<f64>() / late.len() as f64,
                    )
                })
                .collect();
            let (slope, r2) = linear_fit(&mean_profile);
            viscosity.push(ViscosityPoint {
                shear_rate_per_s: rate * 1e6,
                viscosity_pa_s: -b.mean / rate * MPA_S_TO_PA_S,
                stderr_pa_s: b.stderr / rate * MPA_S_TO_PA_S,
                strain: deform.strain,
                steady: is_steady(window, m.blocks.max(3), 3.0).unwrap_or(false),
                profile_slope_per_s: slope * 1e6,
                profile_r2: r2,
            });
            series.push(Series {
                name: format!("nemd_{k}"),
                header: "step,time[us],strain[-],pxy[kPa]",
                rows,
            });
            timing.push((format!("nemd_{k}"), t.elapsed().as_secs_f64()));
        }
    }
    Ok(SlurryRun {
        result: SlurryResult {
            particles: ParticleCount {
                am: counts.am_total(),
                cbd: counts.cbd,
            },
            counts,
            minimize: min,
            density_g_cm3: rho.mean,
            density_stderr_g_cm3: rho.stderr,
            density_steady,
            viscosity,
        },
        series,
        structures,
        timing,
    })
}
