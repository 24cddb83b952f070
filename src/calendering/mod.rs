//! Stage 4 (DESIGN.md §3): calendering of the dry film, then its characterization.
//!
//! 1. **setup**: the dried film (or an imported dry structure) gets the material law
//!    `gran/hertz/sjkr`, a collector wall at its bottom and the tool (plate or roll) just
//!    above its top; every mass is scaled by `mass_scale` (quasi-static), the timestep
//!    is a fraction of the smallest Rayleigh time;
//!    the structure is minimized (FIRE) against the collector: the drying model leaves
//!    overlaps that the stiff material law cannot hold;
//! 2. **settle**: the film relaxes dynamically under the new law, the tool at rest;
//! 3. **load**: the tool moves down at the set speed to the target (compression degree or
//!    gap; with a pressure target a force servo slows it as the film takes the load); the
//!    CBD nano-porosity falls towards its target in proportion;
//! 4. **hold** at the lowest position (a pressure target: at the pressure, the servo
//!    following the film);
//! 5. **retract** (with relaxation): the tool rises until no sphere touches it over a
//!    sample, then is lifted clear;
//! 6. **relax**: the film springs back freely;
//! 7. **finish**: masses unscaled, the structure characterized (porosity, contacts, active
//!    surface, tortuosity factor).
//!
//! Pressures are tool force / box cross-section. Thickness is collector to the lower of
//! the tool and the highest sphere surface; strain is 1 − thickness / thickness before.

pub mod calibrate;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::analysis::pore_size::PoreSizeDistribution;
use crate::analysis::stats::is_steady;
use crate::analysis::structure::{
    characterize, mean_surface_height, tortuosity_resolved, AnalysisSettings, Characterization, Contacts,
    TortuositySettings, ZRange,
};
use crate::drying::{film_top, Frame, ProfilePoint};
use crate::error::{Error, Result};
use crate::io::lammps_data::DataFile;
use crate::io::vtu::PointArray;
use crate::scenario::calendering::{CalenderingSpec, Relaxation, Target, Tool};
use crate::scenario::Loaded;
use crate::sim::ensemble::Fix;
use crate::sim::forcefield::hertz_sjkr::{Material, PairParams};
use crate::sim::forcefield::{style_builder, ForceField, StyleParams};
use crate::sim::minimize::{fire, FireParams, MinReport, Stop};
use crate::sim::particles::Particles;
use crate::sim::simbox::SimBox;
use crate::sim::system::{System, SystemState};
use crate::sim::wall::{Roll, Shape, Side, TopServo, Wall, WallLaw};

const CBD_TYPE: u32 = 1;
const COLLECTOR: usize = 0;
const TOOL: usize = 1;
/// A pressure target's load phase ends once the tool carries this fraction less [-].
const LOAD_REACHED: f64 = 0.01;

/// Forces and pressures are means over the sample interval; the rest is the state at its end.
pub const CALENDERING_HEADER: &str = "step,time[us],part,tool_z[um],thickness[um],strain[-],tool_force[nN],tool_pressure[MPa],collector_pressure[MPa],porosity_sum[-],kinetic_energy[fJ]";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
enum Part {
    Settle,
    Load,
    Hold,
    Retract,
    Relax,
    Done,
}

impl Part {
    fn code(self) -> f64 {
        self as u8 as f64
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CurvePoint {
    pub strain: f64,
    pub pressure_mpa: f64,
    /// `porosity_sum` convention (spheres whole, AM at nominal size) [-].
    pub porosity: f64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CalenderingResult {
    pub tool: String,
    /// The minimization of the dry structure under the material law.
    pub relax: MinReport,
    /// Collector to the highest sphere surface before loading (after the minimization) [µm].
    pub thickness_before_um: f64,
    /// At the tool's lowest position [µm].
    pub thickness_min_um: f64,
    /// After relaxation (the tool's lowest position without it) [µm].
    pub thickness_um: f64,
    /// Mean height of the film's top surface above the collector before loading and at the
    /// end [µm]: the thickness a profilometer averages, robust to one protruding sphere.
    pub surface_before_um: f64,
    pub surface_um: f64,
    /// Structure before, voxelized with the CBD nano-pores as pore [-], and by sphere sum.
    pub porosity_before: f64,
    pub porosity_before_sum: f64,
    /// After: the four conventions of the structure analysis [-].
    pub porosity: f64,
    pub porosity_pores_only: f64,
    pub porosity_sum: f64,
    pub porosity_geometric: f64,
    /// (thickness after relaxation − at the lowest tool position) / the latter [%].
    pub springback_pct: Option<f64>,
    pub max_pressure_mpa: f64,
    /// The loading branch.
    pub pressure_curve: Vec<CurvePoint>,
    /// Collector / tool force over the last fifth of the loading (a pressure target: the
    /// second half of the hold), 1 when quasi-static [-].
    pub force_balance: Option<f64>,
    /// ε̇ d̄ √(ρ̄/P) at the end of loading (≪ 1e-2: quasi-static; a pressure target ends
    /// with the servo nearly at rest) [-]; none if the tool never carried a load.
    pub inertial_number: Option<f64>,
    pub tortuosity_factor: Option<f64>,
    /// The same at twice the voxel edge: a resolution check (within 10 % of
    /// `tortuosity_factor` when the voxel resolves the pores) [-].
    #[serde(default)]
    pub tortuosity_factor_coarse: Option<f64>,
    /// The film before loading, on the same voxels, and its check [-].
    #[serde(default)]
    pub tortuosity_factor_before: Option<f64>,
    #[serde(default)]
    pub tortuosity_factor_before_coarse: Option<f64>,
    /// Local-thickness pore-size distribution of the pores (CBD nano-pores excluded).
    #[serde(default)]
    pub pore_size: Option<PoreSizeDistribution>,
    pub active_surface_fraction: f64,
    pub contacts: Contacts,
    pub density_g_cm3: f64,
    pub mass_loading_mg_cm2: f64,
    pub cbd_nanoporosity: f64,
    pub cbd_profile: Vec<ProfilePoint>,
    pub timestep_us: f64,
    pub mass_scale: f64,
    pub steps: u64,
    /// Particles below the collector, above the film's tool or lost: 0 for a sound run.
    pub particles_outside_film: usize,
    /// A pressure target: the mean tool pressure over the second half of the hold [MPa],
    /// the thickness change over that window [µm] and whether it has no significant trend.
    #[serde(default)]
    pub hold_pressure_mpa: Option<f64>,
    #[serde(default)]
    pub hold_thickness_change_um: Option<f64>,
    #[serde(default)]
    pub converged: Option<bool>,
}

/// Cundall's local damping (the quasi-static DEM standard): each step every velocity
/// component loses α·|F_a|·dt/m, never changing sign. It drains the unbalanced force
/// without resisting a steady motion the way viscous damping would.
#[derive(Debug, Clone, Copy)]
struct LocalDamping(f64);

impl Fix for LocalDamping {
    fn end_of_step(&mut self, sys: &mut System) {
        let (alpha, dt) = (self.0, sys.settings.dt);
        let p = &mut sys.particles;
        p.v.par_iter_mut()
            .zip(p.f.par_iter())
            .zip(p.mass.par_iter())
            .for_each(|((v, f), m)| {
                for a in 0..3 {
                    let dv = alpha * f[a].abs() * dt / m;
                    v[a] = if v[a] > dv {
                        v[a] - dv
                    } else if v[a] < -dv {
                        v[a] + dv
                    } else {
                        0.0
                    };
                }
            });
    }

    fn reads_force_sums(&self) -> bool {
        false
    }

    fn keeps_masses(&self) -> bool {
        true
    }
}

/// Sums the z force on the tool and on the collector every step, for sample means: the
/// instantaneous force on a plate is a train of impacts.
#[derive(Debug, Clone, Copy, Default)]
struct ForceMeter {
    tool: f64,
    collector: f64,
    steps: u64,
}

impl Fix for ForceMeter {
    fn end_of_step(&mut self, sys: &mut System) {
        self.tool += sys.walls[TOOL].force_on_wall[2];
        self.collector -= sys.walls[COLLECTOR].force_on_wall[2];
        self.steps += 1;
    }

    fn reads_force_sums(&self) -> bool {
        false
    }

    fn keeps_masses(&self) -> bool {
        true
    }
}

/// Low-pass time of a pressure servo's force, in steps: short against the film's response
/// (thousands of steps), long against the impact train on the tool.
const SERVO_TAU_STEPS: f64 = 20.0;

/// Bins of the pore-size distribution after calendering.
const PORE_SIZE_BINS: usize = 30;

/// The calendering stage in progress; serializable for checkpoints.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CalenderingRun {
    /// What it runs: the scenario's calendering, or a drying film's consolidation.
    spec: CalenderingSpec,
    /// Masses scaled by `mass_scale`.
    pub system: SystemState,
    /// The tool's force servo of a pressure target.
    servo: Option<TopServo>,
    part: Part,
    done: u64,
    steps: u64,
    samples: u64,
    dt: f64,
    collector_z: f64,
    area: f64,
    h0: f64,
    /// Mean surface height above the collector before loading [µm].
    #[serde(default)]
    surface0: f64,
    tool_start_z: f64,
    target_z: f64,
    am_radius_scale: f64,
    /// CBD nano-porosity at the start and the end of the loading, and the CBD radius
    /// factor applied so far.
    nano: (f64, f64),
    cbd_scale: f64,
    porosity_before: (f64, f64),
    /// τ of the film before loading and at twice the voxel edge.
    #[serde(default)]
    tortuosity_before: (Option<f64>, Option<f64>),
    /// Mean particle diameter [µm] and scaled density [g/cm³] for the inertial number.
    d_mean: f64,
    rho_mean: f64,
    /// None until the tool carries a load (a checkpoint cannot hold NaN).
    #[serde(default)]
    inertial_number: Option<f64>,
    relax: MinReport,
    n_particles: usize,
    pub rows: Vec<Vec<f64>>,
    pub frames: Vec<Frame>,
}

/// The scenario's calendering stage.
pub fn spec(l: &Loaded) -> Result<&CalenderingSpec> {
    l.scenario
        .protocol
        .calendering
        .as_ref()
        .ok_or_else(|| Error::Setup("the scenario has no calendering stage".into()))
}

fn n_types(s: &SystemState) -> usize {
    s.particles.max_kind().max(2) as usize
}

/// The material law for every type of the structure.
fn forcefield(c: &CalenderingSpec, l: &Loaded, n_types: usize) -> Result<ForceField> {
    let mats = c.materials.by_type(n_types);
    let build =
        style_builder("gran/hertz/sjkr").ok_or_else(|| Error::Setup("gran/hertz/sjkr not registered".into()))?;
    let params = StyleParams {
        model: &l.model,
        materials: Some((&mats, &c.materials.mixing)),
    };
    Ok(ForceField::new(
        "calendering",
        vec![build(&params).map_err(Error::Setup)?],
    ))
}

fn wall_law(by_type: &[Material], wall: &Material, c: &CalenderingSpec) -> WallLaw {
    WallLaw::Material(
        by_type
            .iter()
            .map(|m| PairParams::new(m, wall, &c.materials.mixing))
            .collect(),
    )
}

/// Smallest Rayleigh time of the particles with their (scaled) masses [µs].
fn rayleigh_time(s: &SystemState, by_type: &[Material]) -> f64 {
    let p = &s.particles;
    (0..p.len())
        .map(|k| {
            let m = &by_type[p.kind[k] as usize - 1];
            let r = p.radius[k];
            let rho = p.mass[k] / (4.0 / 3.0 * std::f64::consts::PI * r.powi(3));
            let g = m.youngs_modulus / (2.0 * (1.0 + m.poisson_ratio));
            std::f64::consts::PI * r * (rho / g).sqrt() / (0.1631 * m.poisson_ratio + 0.8766)
        })
        .fold(f64::INFINITY, f64::min)
}

impl CalenderingResult {
    /// τ for tables and the terminal, flagged when the check at twice the voxel edge is
    /// more than 10 % above it.
    pub fn tortuosity_text(&self) -> String {
        tau_text(self.tortuosity_factor, self.tortuosity_factor_coarse)
    }

    /// The same for the film before loading.
    pub fn tortuosity_before_text(&self) -> String {
        tau_text(self.tortuosity_factor_before, self.tortuosity_factor_before_coarse)
    }
}

fn tau_text(tau: Option<f64>, coarse: Option<f64>) -> String {
    match (tau, coarse) {
        (None, _) => "–".into(),
        (Some(t), Some(c)) if !tortuosity_resolved(t, c) => {
            format!("{t:.3} ({c:.3} at twice the voxel edge: not resolved)")
        }
        (Some(t), _) => format!("{t:.3}"),
    }
}

/// Moves every sphere by a seeded uniform vector in [−a, a]³ [µm], back into the box
/// along periodic x and y (the box is orthogonal here).
fn jitter(p: &mut Particles, b: &SimBox, a: f64, seed: u64) {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    for (x, image) in p.x.iter_mut().zip(p.image.iter_mut()) {
        for c in x.iter_mut() {
            *c += a * (2.0 * rng.random::<f64>() - 1.0);
        }
        for ax in 0..2 {
            let l = b.hi[ax] - b.lo[ax];
            if b.periodic[ax] && x[ax] < b.lo[ax] {
                x[ax] += l;
                image[ax] -= 1;
            } else if b.periodic[ax] && x[ax] >= b.hi[ax] {
                x[ax] -= l;
                image[ax] += 1;
            }
        }
    }
}

impl CalenderingRun {
    /// Stage 4 setup from a dry film, pressed as `c` says. `am_radius_scale` converts its
    /// AM radii to nominal ones (1 / contact factor for films dried by this model, 1 for
    /// structure files); `from_model` says its AM carry the slurry model's contact diameter.
    pub fn start(
        mut s: SystemState,
        l: &Loaded,
        c: CalenderingSpec,
        am_radius_scale: f64,
        from_model: bool,
    ) -> Result<CalenderingRun> {
        let nt = n_types(&s);
        let by_type = c.materials.by_type(nt);
        let mut am_radius_scale = am_radius_scale;
        if let (Some(f), true) = (c.am_contact_factor, from_model) {
            let k = f * am_radius_scale;
            let p = &mut s.particles;
            for i in 0..p.len() {
                if p.kind[i] != CBD_TYPE {
                    p.radius[i] *= k;
                    p.mass[i] *= k.powi(3);
                }
            }
            am_radius_scale = 1.0 / f;
        }
        if s.simbox.tilt != [0.0; 3] {
            return Err(Error::Setup("calendering needs an orthogonal box".into()));
        }
        let substrate = s
            .walls
            .first()
            .filter(|w| w.axis == 2 && w.side == Side::Lo)
            .map(|w| w.position);
        s.walls.clear();
        s.step = 0;
        if let Some(a) = &c.jitter {
            jitter(&mut s.particles, &s.simbox, a.get(), l.scenario.seed);
        }
        for x in s.particles.image.iter_mut() {
            x[2] = 0;
        }
        let p = &s.particles;
        let bottom_sphere = (0..p.len())
            .map(|k| p.x[k][2] - p.radius[k])
            .fold(f64::INFINITY, f64::min);
        let collector_z = substrate.unwrap_or(bottom_sphere).min(bottom_sphere);
        let top = film_top(&s.particles);
        let b = &mut s.simbox;
        b.periodic[2] = false;
        b.lo[2] = collector_z;
        b.hi[2] = top + 0.5 * (top - collector_z);
        let area = (b.hi[0] - b.lo[0]) * (b.hi[1] - b.lo[1]);
        let len_x = b.hi[0] - b.lo[0];
        let centre_x = 0.5 * (b.lo[0] + b.hi[0]);
        for m in s.particles.mass.iter_mut() {
            *m *= c.mass_scale;
        }
        let dt = match &c.timestep {
            Some(t) => t.get(),
            None => c.rayleigh_fraction * rayleigh_time(&s, &by_type),
        };
        s.settings.dt = dt;
        s.settings.gravity = [0.0; 3];
        s.settings.rotate = true;
        let mut sys = System::restore(s, forcefield(&c, l, nt)?)?;
        sys.add_wall(Wall::new(
            2,
            Side::Lo,
            collector_z,
            wall_law(&by_type, &c.materials.collector.material(), &c),
        ))?;
        sys.setup()?;
        // The overlaps the dry structure carries from the drying model (soft contacts held
        // by attraction) are far from equilibrium under the material law: minimize first.
        let relax = fire(
            &mut sys,
            &FireParams {
                force_tol: c.relax_force_tol.get(),
                max_iterations: c.relax_iterations,
                max_step: 0.01,
                ..Default::default()
            },
        );
        // Pressing an unrelaxed film measures the relaxation's blow-up, not the press.
        if relax.stop != Stop::Converged {
            return Err(Error::Setup(format!(
                "calendering: the dry film did not relax under the material law: FIRE stopped after \
                 {} iterations with a largest force of {:.4e} nN (tolerance {} nN)\n  hint: raise \
                 `relax_iterations`, or check the materials (a cohesion energy density too high for \
                 the overlaps the film carries pulls it together faster than FIRE can relax it)",
                relax.iterations,
                relax.max_force_nn,
                c.relax_force_tol.get()
            )));
        }
        let top = film_top(&sys.particles);
        let h0 = top - collector_z;
        let surface0 = mean_surface_height(&sys.particles, &sys.simbox, c.voxel.get()) - collector_z;
        sys.simbox.hi[2] = top + 0.1 * h0;
        let tool_start_z = top + 0.005 * h0;
        let target_z = match &c.target {
            Target::Compression(f) => collector_z + h0 * (1.0 - f),
            Target::Gap(g) => collector_z + g.get(),
            // Where the servo stops the tool is found on the way: the lowest position so far.
            Target::Pressure(_) => tool_start_z,
        };
        if target_z >= tool_start_z && !matches!(c.target, Target::Pressure(_)) {
            return Err(Error::Setup(format!(
                "calendering: the target ({:.2} µm above the collector) is not below the film top ({h0:.2} µm)",
                target_z - collector_z
            )));
        }
        let mut tool = Wall::new(
            2,
            Side::Hi,
            tool_start_z,
            wall_law(&by_type, &c.materials.tool.material(), &c),
        );
        if let Tool::Roll { radius, across_speed } = &c.tool {
            tool.shape = Shape::Roll(Roll {
                radius: radius.get(),
                axis_x: centre_x,
                period_x: len_x,
                spin: across_speed.get() / radius.get(),
            });
            tool.velocity[0] = across_speed.get();
        }
        sys.add_wall(tool)?;
        for v in sys.particles.v.iter_mut().chain(sys.particles.omega.iter_mut()) {
            *v = [0.0; 3];
        }
        sys.setup()?;
        let p = &sys.particles;
        let n = p.len().max(1) as f64;
        let d_mean = p.radius.iter().map(|r| 2.0 * r).sum::<f64>() / n;
        let vol: f64 = p
            .radius
            .iter()
            .map(|r| 4.0 / 3.0 * std::f64::consts::PI * r.powi(3))
            .sum();
        let rho_mean = p.mass.iter().sum::<f64>() / vol;
        let nano0 = l.scenario.formulation.cbd_nanoporosity;
        let servo = match &c.target {
            Target::Pressure(p) => Some(TopServo {
                wall: TOOL,
                // kPa · µm² = nN
                target_nn: p.get() * area,
                max_speed: c.tool_speed.get(),
                tau: SERVO_TAU_STEPS * dt,
                mean_force: 0.0,
                can_rise: false,
            }),
            _ => None,
        };
        let mut run = CalenderingRun {
            system: sys.snapshot(),
            servo,
            part: Part::Settle,
            done: 0,
            steps: 0,
            samples: 0,
            dt,
            collector_z,
            area,
            h0,
            surface0,
            tool_start_z,
            target_z,
            am_radius_scale,
            nano: (nano0, c.cbd_nanoporosity_after.unwrap_or(nano0)),
            cbd_scale: 1.0,
            porosity_before: (0.0, 0.0),
            tortuosity_before: (None, None),
            d_mean,
            rho_mean,
            inertial_number: None,
            relax,
            n_particles: p.len(),
            rows: Vec::new(),
            frames: Vec::new(),
            spec: c,
        };
        let before = run.characterize(&run.unscaled(&run.system), &run.system.simbox, nano0, false)?;
        run.porosity_before = (before.porosity, before.porosity_sum);
        run.tortuosity_before = (
            before.tortuosity.as_ref().map(|t| t.tau),
            before.tortuosity_coarse.as_ref().map(|t| t.tau),
        );
        Ok(run)
    }

    pub fn finished(&self) -> bool {
        self.part == Part::Done
    }

    /// Steps taken so far.
    pub fn steps_done(&self) -> u64 {
        self.steps
    }

    /// An estimate of the stage's steps (the retraction's length depends on the film, a
    /// pressure target's travel too: a tenth of the film is assumed).
    pub fn steps_estimate(&self) -> u64 {
        let c = &self.spec;
        let per = |t: f64| (t / self.dt).ceil() as u64;
        let depth = match c.target {
            Target::Pressure(_) => 0.1 * self.h0,
            _ => self.tool_start_z - self.target_z,
        };
        let travel = depth / c.tool_speed.get();
        let relax = c
            .relaxation
            .as_ref()
            .map_or(0.0, |r| r.time.get() + 0.2 * depth / r.retract_speed.get());
        per(c.settle_time.get()) + per(travel) + per(c.hold_time.get()) + per(relax)
    }

    /// The live system with the material law.
    pub fn restore(&self, l: &Loaded) -> Result<System> {
        System::restore(self.system.clone(), forcefield(&self.spec, l, n_types(&self.system))?)
    }

    /// AM radius → nominal radius of the film.
    pub fn am_radius_scale(&self) -> f64 {
        self.am_radius_scale
    }

    /// The film at the end with its physical masses, for the next stage (which places its
    /// own walls; the collector tells it where the film sits).
    pub fn physical_state(&self) -> SystemState {
        let mut s = self.system.clone();
        s.particles = self.unscaled(&s);
        s.walls.truncate(COLLECTOR + 1);
        s
    }

    fn thickness(&self, sys: &System) -> f64 {
        film_top(&sys.particles).min(sys.walls[TOOL].position) - self.collector_z
    }

    /// Σ sphere volumes, AM at nominal size [µm³].
    fn solid_volume(&self, sys: &System) -> f64 {
        let p = &sys.particles;
        let s3 = self.am_radius_scale.powi(3);
        (0..p.len())
            .map(|k| {
                let v = 4.0 / 3.0 * std::f64::consts::PI * p.radius[k].powi(3);
                if p.kind[k] == CBD_TYPE {
                    v
                } else {
                    v * s3
                }
            })
            .sum()
    }

    /// One row; `tool`, `coll`: the forces on the tool and the collector averaged over the
    /// sample interval [nN].
    fn sample(&mut self, sys: &System, tool: f64, coll: f64) {
        let h = self.thickness(sys);
        let t = sys.thermo();
        let pressure_kpa = tool / self.area;
        if self.part == Part::Load && pressure_kpa > 0.0 {
            let speed = -sys.walls[TOOL].velocity[2];
            self.inertial_number = Some(speed / h * self.d_mean * (self.rho_mean / pressure_kpa).sqrt());
        }
        self.rows.push(vec![
            self.steps as f64,
            self.steps as f64 * self.dt,
            self.part.code(),
            sys.walls[TOOL].position,
            h,
            1.0 - h / self.h0,
            tool,
            pressure_kpa * 1e-3,
            coll / self.area * 1e-3,
            1.0 - self.solid_volume(sys) / (self.area * h),
            t.ke_trans_fj + t.ke_rot_fj,
        ]);
        self.samples += 1;
    }

    /// CBD beads at the nano-porosity of loading progress `u` ∈ [0, 1], at constant mass.
    fn densify(&mut self, sys: &mut System, u: f64) -> Result<()> {
        let (a, b) = self.nano;
        if a == b {
            return Ok(());
        }
        let phi = a + (b - a) * u.clamp(0.0, 1.0);
        let scale = ((1.0 - a) / (1.0 - phi)).cbrt();
        let ratio = scale / self.cbd_scale;
        let p = &mut sys.particles;
        for k in 0..p.len() {
            if p.kind[k] == CBD_TYPE {
                p.radius[k] *= ratio;
            }
        }
        self.cbd_scale = scale;
        sys.setup()
    }

    fn frame(&mut self, sys: &System) {
        let (contacts, stress) = sys.particle_stress();
        let p = &sys.particles;
        let mut f = Frame::of(sys, self.samples);
        let vec3 = |v: &[[f64; 3]]| v.iter().flatten().copied().collect::<Vec<f64>>();
        f.arrays = vec![
            PointArray {
                name: "force[nN]".into(),
                components: 3,
                values: vec3(&p.f),
            },
            PointArray {
                name: "contacts[-]".into(),
                components: 1,
                values: contacts.iter().map(|&c| c as f64).collect(),
            },
            PointArray {
                name: "stress[MPa]".into(),
                components: 6,
                values: stress.iter().flatten().map(|s| s * 1e-3).collect(),
            },
        ];
        self.frames.push(f);
    }

    /// Runs up to one sample interval; handles the transitions between parts.
    pub fn advance(&mut self, sys: &mut System) -> Result<()> {
        let c = &self.spec;
        // What the rest needs of the spec, read before `self` is borrowed mutably.
        let (tool_speed, sample_every, frames_every) = (c.tool_speed.get(), c.sample_every, c.frames_every);
        let (local_damping, relaxation) = (c.local_damping, c.relaxation.clone());
        let per = |t: f64| (t / self.dt).round() as u64;
        let len = match self.part {
            Part::Settle => per(c.settle_time.get()),
            // Until the film carries the load (checked below).
            Part::Load if self.servo.is_some() => u64::MAX,
            Part::Load => {
                let z = sys.walls[TOOL].position;
                ((z - self.target_z) / (tool_speed * self.dt)).ceil().max(0.0) as u64 + self.done
            }
            Part::Hold => per(c.hold_time.get()),
            Part::Retract => u64::MAX,
            Part::Relax => per(relaxation.as_ref().map_or(0.0, |r| r.time.get())),
            Part::Done => return Ok(()),
        };
        let chunk = sample_every.min(len - self.done);
        let mut tool_force = 0.0;
        if chunk > 0 {
            let mut meter = ForceMeter::default();
            let mut damping = LocalDamping(local_damping);
            match self
                .servo
                .as_mut()
                .filter(|_| matches!(self.part, Part::Load | Part::Hold))
            {
                Some(servo) => sys.run_with(chunk, &mut [&mut damping, &mut meter, servo], &mut []),
                None => sys.run_with(chunk, &mut [&mut damping, &mut meter], &mut []),
            }
            self.done += chunk;
            self.steps += chunk;
            let n = meter.steps as f64;
            tool_force = meter.tool / n;
            if self.part == Part::Load {
                let u = match &self.servo {
                    Some(s) => tool_force / s.target_nn,
                    None => {
                        let z = sys.walls[TOOL].position;
                        (self.tool_start_z - z) / (self.tool_start_z - self.target_z)
                    }
                };
                self.densify(sys, u)?;
            }
            if self.servo.is_some() && self.part != Part::Settle {
                // The lowest tool position so far.
                self.target_z = self.target_z.min(sys.walls[TOOL].position);
            }
            self.sample(sys, tool_force, meter.collector / n);
            if frames_every > 0 && self.samples.is_multiple_of(frames_every) {
                self.frame(sys);
            }
        }
        let ended = match self.part {
            Part::Load if self.servo.is_some() => {
                // The servo's speed ∝ tanh of the shortfall approaches the target from below
                // without reaching it: 1 % short counts as carried (the hold then centres it).
                let s = self.servo.as_ref().map_or(0.0, |s| s.target_nn);
                tool_force >= (1.0 - LOAD_REACHED) * s || sys.walls[TOOL].position <= self.collector_z
            }
            Part::Retract => {
                let r = relaxation
                    .as_ref()
                    .map(|r: &Relaxation| r.retract_speed.get())
                    .unwrap_or(1.0);
                let top = sys.walls[TOOL].position;
                let free = sys.walls[TOOL].force_on_wall[2] == 0.0 && self.thickness(sys) + self.collector_z < top;
                free || top - self.target_z > self.h0 + r * self.dt
            }
            _ => self.done >= len,
        };
        if !ended {
            return Ok(());
        }
        self.done = 0;
        let tool = &mut sys.walls[TOOL];
        self.part = match self.part {
            Part::Settle => {
                tool.velocity[2] = -tool_speed;
                Part::Load
            }
            Part::Load => {
                match &mut self.servo {
                    // Held at the load: the servo may now also lift the tool.
                    Some(s) => s.can_rise = true,
                    None => {
                        tool.position = self.target_z;
                        tool.velocity[2] = 0.0;
                    }
                }
                Part::Hold
            }
            Part::Hold => match &relaxation {
                Some(r) => {
                    tool.velocity[2] = r.retract_speed.get();
                    Part::Retract
                }
                None => Part::Done,
            },
            Part::Retract => {
                // Lifted clear: the film springs back freely.
                tool.velocity = [0.0; 3];
                tool.position = self.target_z + self.h0;
                Part::Relax
            }
            Part::Relax | Part::Done => Part::Done,
        };
        if self.part == Part::Done {
            self.system = sys.snapshot();
        }
        Ok(())
    }

    /// The spheres of `s` with their physical masses.
    fn unscaled(&self, s: &SystemState) -> Particles {
        let mut p = s.particles.clone();
        for m in p.mass.iter_mut() {
            *m /= self.spec.mass_scale;
        }
        p
    }

    /// Characterizes `p` (physical masses) in `b` over collector to film top, with the
    /// tortuosity factor when the stage asks for one and the pore sizes if `pore_sizes`.
    fn characterize(&self, p: &Particles, b: &SimBox, nano: f64, pore_sizes: bool) -> Result<Characterization> {
        let c = &self.spec;
        let top = film_top(p);
        let settings = AnalysisSettings {
            voxel_um: c.voxel.get(),
            cbd_types: vec![CBD_TYPE],
            cbd_nanoporosity: nano,
            slab_um: c.slab.get(),
            z_range: ZRange::Given(self.collector_z, top),
            am_radius_scale: self.am_radius_scale,
            tortuosity: c.tortuosity.as_ref().map(|t| TortuositySettings {
                voxel_um: t.voxel.get(),
                cbd_diffusivity: t.cbd_diffusivity,
                ..Default::default()
            }),
            pore_size_bins: pore_sizes.then_some(PORE_SIZE_BINS),
        };
        characterize(p, b, &settings)
    }

    /// The characterization of the calendered film and the structure (masses unscaled).
    pub fn finish(&self, l: &Loaded) -> Result<(CalenderingResult, DataFile)> {
        let c = &self.spec;
        let s = &self.system;
        let physical = self.unscaled(s);
        let ch = self.characterize(&physical, &s.simbox, self.nano.1, true)?;
        let p = &physical;
        let top = film_top(p);
        let outside = (0..p.len())
            .filter(|&k| {
                let z = p.x[k][2];
                !(z.is_finite() && z >= self.collector_z && z <= top)
            })
            .count()
            + self.n_particles.saturating_sub(p.len());
        let h_min = self.target_z - self.collector_z;
        let thickness = top - self.collector_z;
        let surface = mean_surface_height(p, &s.simbox, c.voxel.get()) - self.collector_z;
        let curve = self
            .rows
            .iter()
            .filter(|r| r[2] == Part::Load.code() && r[7] > 0.0)
            .map(|r| CurvePoint {
                strain: r[5],
                pressure_mpa: r[7],
                porosity: r[9],
            })
            .collect();
        let max_pressure = self.rows.iter().map(|r| r[7]).fold(0.0, f64::max);
        // Over the last fifth of the loading, where the film carries the tool: during the
        // hold a yielding film relaxes away from the tool and the ratio loses its meaning.
        let strain_end = self
            .rows
            .iter()
            .filter(|r| r[2] == Part::Load.code())
            .map(|r| r[5])
            .fold(0.0, f64::max);
        // A pressure target: over the second half of the hold instead, the load's end state.
        let hold: Vec<&Vec<f64>> = self.rows.iter().filter(|r| r[2] == Part::Hold.code()).collect();
        let hold = &hold[hold.len() / 2..];
        let window: Vec<&Vec<f64>> = match self.servo {
            Some(_) => hold.to_vec(),
            None => self
                .rows
                .iter()
                .filter(|r| r[2] == Part::Load.code() && r[5] >= 0.8 * strain_end)
                .collect(),
        };
        let (t, k) = window
            .iter()
            .fold((0.0, 0.0), |a, r| (a.0 + r[6], a.1 + r[8] * 1e3 * self.area));
        let balance = (t > 0.0).then(|| k / t);
        let (hold_pressure, hold_change, converged) = match (&self.servo, hold) {
            (Some(_), [first, .., last]) => {
                let h: Vec<f64> = hold.iter().map(|r| r[4]).collect();
                (
                    Some(hold.iter().map(|r| r[7]).sum::<f64>() / hold.len() as f64),
                    Some(last[4] - first[4]),
                    Some(is_steady(&h, 4, 3.0).unwrap_or(false)),
                )
            }
            _ => (None, None, None),
        };
        let tool_z = s.walls.get(TOOL).map_or(f64::INFINITY, |w| w.position);
        let result = CalenderingResult {
            relax: self.relax.clone(),
            tool: match c.tool {
                Tool::Plate => "plate".into(),
                Tool::Roll { .. } => "roll".into(),
            },
            thickness_before_um: self.h0,
            thickness_min_um: h_min,
            thickness_um: if c.relaxation.is_some() {
                thickness
            } else if self.servo.is_some() {
                top.min(tool_z) - self.collector_z
            } else {
                h_min.min(thickness)
            },
            surface_before_um: self.surface0,
            surface_um: surface,
            porosity_before: self.porosity_before.0,
            porosity_before_sum: self.porosity_before.1,
            porosity: ch.porosity,
            porosity_pores_only: ch.porosity_pores_only,
            porosity_sum: ch.porosity_sum,
            porosity_geometric: ch.porosity_geometric,
            springback_pct: c.relaxation.as_ref().map(|_| 100.0 * (thickness - h_min) / h_min),
            max_pressure_mpa: max_pressure,
            pressure_curve: curve,
            force_balance: balance,
            inertial_number: self.inertial_number,
            tortuosity_factor: ch.tortuosity.as_ref().map(|t| t.tau),
            tortuosity_factor_coarse: ch.tortuosity_coarse.as_ref().map(|t| t.tau),
            tortuosity_factor_before: self.tortuosity_before.0,
            tortuosity_factor_before_coarse: self.tortuosity_before.1,
            pore_size: ch.pore_size.clone(),
            active_surface_fraction: ch.active_surface_fraction,
            contacts: ch.contacts.clone(),
            density_g_cm3: ch.density_g_cm3,
            mass_loading_mg_cm2: ch.mass_loading_mg_cm2,
            cbd_nanoporosity: self.nano.1,
            cbd_profile: ch.cbd_profile.iter().map(ProfilePoint::from).collect(),
            timestep_us: self.dt,
            mass_scale: c.mass_scale,
            steps: self.steps,
            particles_outside_film: outside,
            hold_pressure_mpa: hold_pressure,
            hold_thickness_change_um: hold_change,
            converged,
        };
        let structure = DataFile {
            title: format!("{}: calendered", l.scenario.name),
            n_types: n_types(s) as u32,
            simbox: s.simbox,
            particles: physical,
            has_velocities: true,
        };
        Ok((result, structure))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jitter_is_bounded_seeded_and_stays_in_the_box() {
        let b = SimBox::orthogonal([0.0; 3], [10.0, 10.0, 30.0], [true, true, false]);
        let mut p = Particles::default();
        for k in 0..200 {
            let t = k as f64 * 0.05;
            p.push(k as u64 + 1, 2, [t, 10.0 - 1e-6 * t, 5.0 + t], 2.5, 1.0);
        }
        let moved = |seed: u64| {
            let mut q = p.clone();
            jitter(&mut q, &b, 1e-3, seed);
            q
        };
        let (q1, q2) = (moved(1), moved(2));
        assert_eq!(moved(1).x, q1.x, "the same seed, the same replica");
        assert_ne!(q1.x, q2.x);
        let mut wrapped = 0;
        for k in 0..p.len() {
            for a in 0..3 {
                let unwrapped = q1.x[k][a] + q1.image[k][a] as f64 * 10.0;
                assert!((unwrapped - p.x[k][a]).abs() <= 1e-3 + 1e-12, "sphere {k} axis {a}");
                assert!(a == 2 || (0.0..10.0).contains(&q1.x[k][a]), "sphere {k} left the box");
            }
            wrapped += usize::from(q1.image[k] != [0; 3]);
        }
        assert!(wrapped > 0, "spheres on the periodic sides cross them");
    }
}
