//! Stages 2–3 (DESIGN.md §3): coating and drying.
//!
//! 1. **coating**: the relaxed slurry is reshaped at constant volume to the wet thickness,
//!    z made non-periodic, a substrate wall put under the lowest sphere and a top wall over
//!    the highest, pressed by a servo at the set load (1e-3 atm by default); the film
//!    relaxes at the start temperature;
//! 2. **cycles**: at the start of each cycle the CBD beads of each zone shrink towards the
//!    dry diameter and mass by the evaporation law (times the zone's relative shrinking
//!    factor in heterogeneous mode), the thermostat target follows the temperature ramp;
//! 3. **freeze**: the force field switches to the dry set (homogeneous: after the last
//!    cycle; heterogeneous: at the freeze fraction or porosity);
//! 4. **final**: compaction with the dry force field, then the characterization.
//!
//! The CBD beads' dynamic mass goes from the wet model's (ρ_CBD,wet · v_wet, a fitted
//! parameter) to the dry solid's ((1 − φ_nano) ρ_skeleton · v_dry); the solid mass of the
//! film (AM + CBD solid) is the same before and after and is reported both ways. Volumes,
//! masses and loadings count the AM at its nominal diameter: the simulation's AM sphere
//! has the contact diameter (1.14 d) and the mass of a sphere of it.

use serde::{Deserialize, Serialize};

use crate::analysis::stats::is_steady;
use crate::analysis::structure::{characterize, AnalysisSettings, Characterization, Contacts, Slab, ZRange};
use crate::error::{Error, Result};
use crate::io::lammps_data::DataFile;
use crate::io::vtu::PointArray;
use crate::scenario::drying::{DryingMode, DryingSpec, Freeze};
use crate::scenario::Loaded;
use crate::sim::ensemble::{temperature, VelocityRescale};
use crate::sim::forcefield::hertz_history::HertzHistory;
use crate::sim::forcefield::reference::nominal_mass;
use crate::sim::forcefield::ForceField;
use crate::sim::particles::{sphere_mass, Particles};
use crate::sim::simbox::SimBox;
use crate::sim::system::{System, SystemState};
use crate::sim::wall::{Side, TopServo, Wall};

/// CBD beads are type 1 in the reference model.
const CBD_TYPE: u32 = 1;
/// Standard gravity [µm/µs²].
const G: f64 = 9.80665e-6;

pub const DRYING_HEADER: &str = "step,time[us],cycle,temperature_target[K],temperature[K],top_wall_z[um],film_top_z[um],top_force[nN],top_pressure[kPa],cbd_diameter_mean[um]";

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CoatingReport {
    /// Wet film: substrate to the highest sphere surface [µm].
    pub wet_thickness_um: f64,
    pub area_um2: f64,
    /// Dry solid mass over the area [mg/cm²].
    pub mass_loading_mg_cm2: f64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ProfilePoint {
    /// Slab centre above the substrate [µm].
    pub z_um: f64,
    /// CBD volume fraction of the slab (nano-pores included) [-].
    pub cbd_fraction: f64,
    /// CBD / (CBD + AM) volume in the slab [-].
    pub cbd_share_of_solid: f64,
    /// Pore fraction of the slab, CBD nano-pores counted as pore [-].
    #[serde(default)]
    pub porosity: f64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DryingResult {
    pub mode: String,
    pub coating: CoatingReport,
    /// Substrate to the highest sphere surface [µm].
    pub thickness_um: f64,
    /// CBD nano-pores counted as pore [-].
    pub porosity: f64,
    pub porosity_pores_only: f64,
    /// 1 − Σ sphere volumes (AM at nominal size) / film volume: the reference's convention.
    pub porosity_sum: f64,
    /// 1 − (m_AM/ρ_AM + m_CBD/ρ_skeleton) / film volume: the experiments' convention.
    pub porosity_geometric: f64,
    pub density_g_cm3: f64,
    pub mass_loading_mg_cm2: f64,
    /// Film-top movement over the second half of the final compaction [µm], and whether
    /// the film top is steady there (no significant trend of its block means: a steady
    /// creep is not convergence).
    pub final_thickness_change_um: f64,
    pub converged: bool,
    pub cbd_profile: Vec<ProfilePoint>,
    pub contacts: Contacts,
    /// AM surface not covered by another sphere [-].
    pub active_surface_fraction: f64,
    /// AM + CBD solid [pg] before drying (recipe beads) and in the dried film.
    pub solid_mass_before_pg: f64,
    pub solid_mass_after_pg: f64,
    /// Particles outside [substrate, top wall] or lost: 0 for a sound run.
    pub particles_outside_film: usize,
    /// Cycle after which the dry force field took over.
    pub frozen_after_cycle: u64,
}

impl From<&Slab> for ProfilePoint {
    fn from(s: &Slab) -> Self {
        ProfilePoint {
            z_um: s.z_um,
            cbd_fraction: s.cbd_fraction,
            cbd_share_of_solid: s.cbd_share_of_solid,
            porosity: s.porosity,
        }
    }
}

/// One VTU frame: the spheres at a cycle's (or sample's) end.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Frame {
    /// Cycle (drying) or sample (calendering) number.
    pub cycle: u64,
    pub time_us: f64,
    pub id: Vec<u64>,
    pub kind: Vec<u32>,
    pub x: Vec<[f64; 3]>,
    pub radius: Vec<f64>,
    /// Velocities [µm/µs] (empty: not kept).
    #[serde(default)]
    pub v: Vec<[f64; 3]>,
    /// Extra point data in particle order.
    #[serde(default)]
    pub arrays: Vec<PointArray>,
}

impl Frame {
    /// The spheres of `sys` now, without extra arrays.
    pub fn of(sys: &System, cycle: u64) -> Frame {
        let p = &sys.particles;
        Frame {
            cycle,
            time_us: sys.step as f64 * sys.settings.dt,
            id: p.id.clone(),
            kind: p.kind.clone(),
            x: p.x.clone(),
            radius: p.radius.clone(),
            v: p.v.clone(),
            arrays: Vec::new(),
        }
    }

    pub fn particles(&self) -> Particles {
        let mut p = Particles::default();
        for k in 0..self.id.len() {
            p.push(self.id[k], self.kind[k], self.x[k], self.radius[k], 0.0);
            if let Some(v) = self.v.get(k) {
                p.v[k] = *v;
            }
        }
        p
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
enum Part {
    Coating,
    Cycle(u64),
    Final,
    Done,
}

/// The drying stage in progress; serializable for checkpoints.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DryingRun {
    pub system: SystemState,
    thermostat: VelocityRescale,
    servo: Option<TopServo>,
    part: Part,
    done: u64,
    /// Zone of each CBD bead by id − 1 (0 = bottom).
    zone_by_id: Vec<u8>,
    /// CBD bead (radius [µm], mass [pg]) wet and dry.
    wet: (f64, f64),
    dry: (f64, f64),
    frozen_after: Option<u64>,
    /// AM contact diameter / nominal diameter now.
    am_factor: f64,
    substrate_z: f64,
    coating: CoatingReport,
    solid_mass_pg: f64,
    n_particles: usize,
    pub rows: Vec<Vec<f64>>,
    pub frames: Vec<Frame>,
}

fn spec(l: &Loaded) -> Result<&DryingSpec> {
    l.scenario
        .protocol
        .drying
        .as_ref()
        .ok_or_else(|| Error::Setup("the scenario has no drying stage".into()))
}

/// A force field that leaves particle sizes to the stage: the CBD beads' always (they
/// shrink), the AM spheres' too once the film is coated (`am_too`: their contact diameter
/// follows `am_contact_factor`).
fn sized_by_stage(mut ff: ForceField, am_too: bool) -> ForceField {
    for (i, t) in ff.types.iter_mut().enumerate() {
        if am_too || i == CBD_TYPE as usize - 1 {
            *t = None;
        }
    }
    ff
}

fn wet_ff(l: &Loaded) -> Result<ForceField> {
    Ok(sized_by_stage(l.model.build()?, true))
}

fn dry_ff(l: &Loaded) -> Result<ForceField> {
    let m = l
        .model_dry
        .as_ref()
        .ok_or_else(|| Error::Setup("no dry force field".into()))?;
    Ok(sized_by_stage(m.build()?, true))
}

/// The highest sphere surface [µm].
pub(crate) fn film_top(p: &Particles) -> f64 {
    (0..p.len())
        .map(|k| p.x[k][2] + p.radius[k])
        .fold(f64::NEG_INFINITY, f64::max)
}

impl DryingRun {
    /// Stage 2: the coated wet film from the relaxed slurry `slurry`.
    pub fn coat(slurry: SystemState, l: &Loaded) -> Result<DryingRun> {
        let d = spec(l)?;
        let f = &l.scenario.formulation;
        // The AM spheres start at the model's contact diameter, whatever the slurry had.
        let mut sys = System::restore(slurry, sized_by_stage(l.model.build()?, false))?;
        sys.step = 0;
        let b = sys.simbox;
        if b.tilt != [0.0; 3] {
            return Err(Error::Setup("coating needs an orthogonal slurry box".into()));
        }
        let len: [f64; 3] = std::array::from_fn(|a| b.hi[a] - b.lo[a]);
        let scale = match &d.wet_thickness {
            Some(h) => {
                let s = (len[2] / h.get()).sqrt();
                [s, s, h.get() / len[2]]
            }
            None => [1.0; 3],
        };
        let p = &mut sys.particles;
        for (x, image) in p.x.iter_mut().zip(p.image.iter_mut()) {
            *x = std::array::from_fn(|a| b.lo[a] + (x[a] - b.lo[a]) * scale[a]);
            image[2] = 0;
        }
        let bottom = (0..p.len())
            .map(|k| p.x[k][2] - p.radius[k])
            .fold(f64::INFINITY, f64::min);
        let top = film_top(p);
        let mut nb = b;
        for a in 0..2 {
            nb.hi[a] = b.lo[a] + len[a] * scale[a];
        }
        nb.lo[2] = bottom;
        nb.hi[2] = top + 0.5 * (top - bottom);
        nb.periodic[2] = false;
        sys.simbox = nb;
        let law = HertzHistory::from_reference(&l.model);
        sys.add_wall(Wall::new(2, Side::Lo, bottom, law))?;
        let area = (nb.hi[0] - nb.lo[0]) * (nb.hi[1] - nb.lo[1]);
        let servo = if d.top_pressure.get() > 0.0 {
            sys.add_wall(Wall::new(2, Side::Hi, top, law))?;
            Some(TopServo {
                wall: 1,
                // kPa · µm² = nN
                target_nn: d.top_pressure.get() * area,
                max_speed: d.top_wall_max_speed.get(),
                tau: d.thermostat_tau.get(),
                mean_force: 0.0,
                can_rise: false,
            })
        } else {
            None
        };
        if d.gravity {
            sys.settings.gravity = [0.0, 0.0, -G];
        }
        sys.setup()?;
        // Zones by height in the wet film, bottom to top.
        let zones = match &d.mode {
            DryingMode::Homogeneous => 1,
            DryingMode::Heterogeneous(h) => h.shrink_factors.len(),
        };
        let p = &sys.particles;
        let max_id = p.id.iter().copied().max().unwrap_or(0) as usize;
        let mut zone_by_id = vec![0u8; max_id];
        let mut wet = None;
        for k in 0..p.len() {
            if p.kind[k] == CBD_TYPE {
                let u = (p.x[k][2] - bottom) / (top - bottom);
                zone_by_id[p.id[k] as usize - 1] = ((u * zones as f64) as usize).min(zones - 1) as u8;
                wet.get_or_insert((p.radius[k], p.mass[k]));
            }
        }
        let wet = wet.ok_or_else(|| Error::Setup("drying: the slurry has no CBD beads".into()))?;
        let r_dry = 0.5 * f.cbd_dry_diameter;
        let dry = (
            r_dry,
            sphere_mass(r_dry, (1.0 - f.cbd_nanoporosity) * f.cbd_skeleton_density),
        );
        let n_cbd = p.kind.iter().filter(|&&t| t == CBD_TYPE).count();
        let am_wet = l.model.fixed.contact_factor;
        let solid = nominal_mass(p, am_wet) - (n_cbd as f64) * (wet.1 - dry.1);
        let thermostat = VelocityRescale::new(
            d.temperature_start.get(),
            d.thermostat_tau.get(),
            l.scenario.seed ^ 0xd27,
        );
        Ok(DryingRun {
            system: sys.snapshot(),
            thermostat,
            servo,
            part: Part::Coating,
            done: 0,
            zone_by_id,
            wet,
            dry,
            frozen_after: None,
            am_factor: am_wet,
            substrate_z: bottom,
            coating: CoatingReport {
                wet_thickness_um: top - bottom,
                area_um2: area,
                mass_loading_mg_cm2: 0.1 * solid / area,
            },
            solid_mass_pg: solid,
            n_particles: p.len(),
            rows: Vec::new(),
            frames: Vec::new(),
        })
    }

    pub fn finished(&self) -> bool {
        self.part == Part::Done
    }

    /// Steps the whole stage takes.
    pub fn total_steps(l: &Loaded) -> u64 {
        l.scenario
            .protocol
            .drying
            .as_ref()
            .map_or(0, |d| d.coating_steps + d.cycles * d.steps_per_cycle + d.final_steps)
    }

    /// Steps taken so far.
    pub fn steps_done(&self, l: &Loaded) -> u64 {
        let Ok(d) = spec(l) else { return 0 };
        match self.part {
            Part::Coating => self.done,
            Part::Cycle(c) => d.coating_steps + (c - 1) * d.steps_per_cycle + self.done,
            Part::Final => d.coating_steps + d.cycles * d.steps_per_cycle + self.done,
            Part::Done => Self::total_steps(l),
        }
    }

    /// The live system with the force field of the current part.
    pub fn restore(&self, l: &Loaded) -> Result<System> {
        let ff = if self.frozen_after.is_some() {
            dry_ff(l)?
        } else {
            wet_ff(l)?
        };
        System::restore(self.system.clone(), ff)
    }

    /// AM radius → nominal radius: 1 / the current contact factor.
    pub fn am_radius_scale(&self) -> f64 {
        1.0 / self.am_factor
    }

    /// Evaporation progress after cycle `c`.
    fn evaporated(d: &DryingSpec, c: u64) -> f64 {
        d.evaporation.progress(c as f64 / d.cycles as f64)
    }

    /// Shrink progress of zone `z` after cycle `c`.
    fn progress(d: &DryingSpec, z: u8, c: u64) -> f64 {
        let rsf = match &d.mode {
            DryingMode::Homogeneous => 1.0,
            DryingMode::Heterogeneous(h) => h.shrink_factors[z as usize],
        };
        (rsf * Self::evaporated(d, c)).min(1.0)
    }

    /// CBD beads to their zone's size, AM spheres to the contact diameter, after cycle `c`.
    fn shrink(&mut self, sys: &mut System, l: &Loaded, d: &DryingSpec, c: u64) -> Result<()> {
        let am_wet = l.model.fixed.contact_factor;
        let am_dry = d.am_contact_factor.unwrap_or(am_wet);
        let am = am_wet + (am_dry - am_wet) * Self::evaporated(d, c);
        let k_am = am / self.am_factor;
        self.am_factor = am;
        let p = &mut sys.particles;
        for k in 0..p.len() {
            if p.kind[k] == CBD_TYPE {
                let s = Self::progress(d, self.zone_by_id[p.id[k] as usize - 1], c);
                p.radius[k] = self.wet.0 + (self.dry.0 - self.wet.0) * s;
                p.mass[k] = self.wet.1 + (self.dry.1 - self.wet.1) * s;
            } else {
                p.radius[k] *= k_am;
                p.mass[k] *= k_am.powi(3);
            }
        }
        sys.setup()
    }

    fn freeze(&mut self, sys: &mut System, l: &Loaded, c: u64) -> Result<()> {
        self.frozen_after = Some(c);
        let mut s = System::restore(sys.snapshot(), dry_ff(l)?)?;
        // The stage's phase times go on across the change of force field.
        s.timers = std::mem::take(&mut sys.timers);
        s.setup()?;
        *sys = s;
        Ok(())
    }

    fn porosity(&self, p: &Particles, b: &SimBox, l: &Loaded, voxel: f64) -> Result<Characterization> {
        let d = spec(l)?;
        let settings = AnalysisSettings {
            voxel_um: voxel,
            cbd_types: vec![CBD_TYPE],
            cbd_nanoporosity: l.scenario.formulation.cbd_nanoporosity,
            slab_um: d.slab.get(),
            z_range: ZRange::Given(self.substrate_z, film_top(p)),
            am_radius_scale: self.am_radius_scale(),
            tortuosity: None,
            pore_size_bins: None,
        };
        characterize(p, b, &settings)
    }

    fn sample(&mut self, sys: &System, l: &Loaded, cycle: u64) {
        let dt = sys.settings.dt;
        let p = &sys.particles;
        let (n_cbd, sum_d) = (0..p.len())
            .filter(|&k| p.kind[k] == CBD_TYPE)
            .fold((0usize, 0.0), |a, k| (a.0 + 1, a.1 + 2.0 * p.radius[k]));
        let (top_z, force) = match &self.servo {
            Some(s) => (sys.walls[s.wall].position, sys.walls[s.wall].force_on_wall[2]),
            None => (f64::NAN, 0.0),
        };
        let area = self.coating.area_um2;
        let step = self.steps_done(l);
        self.rows.push(vec![
            step as f64,
            step as f64 * dt,
            cycle as f64,
            self.thermostat.target_k,
            temperature(sys),
            top_z,
            film_top(p),
            force,
            force / area,
            sum_d / n_cbd.max(1) as f64,
        ]);
    }

    /// Runs up to one sample interval; handles the transitions between parts.
    pub fn advance(&mut self, sys: &mut System, l: &Loaded) -> Result<()> {
        let d = spec(l)?;
        let (len, cycle) = match self.part {
            Part::Coating => (d.coating_steps, 0),
            Part::Cycle(c) => (d.steps_per_cycle, c),
            Part::Final => (d.final_steps, d.cycles),
            Part::Done => return Ok(()),
        };
        if let Part::Cycle(c) = self.part {
            if self.done == 0 {
                let (t0, t1) = (d.temperature_start.get(), d.temperature_stop.get());
                self.thermostat.target_k = t0 + (t1 - t0) * c as f64 / d.cycles as f64;
                self.shrink(sys, l, d, c)?;
            }
        }
        let chunk = d.sample_every.min(len - self.done);
        if chunk > 0 {
            match &mut self.servo {
                Some(s) => sys.run_with(chunk, &mut [&mut self.thermostat, s], &mut []),
                None => sys.run_with(chunk, &mut [&mut self.thermostat], &mut []),
            }
            self.done += chunk;
            self.sample(sys, l, cycle);
        }
        if self.done < len {
            return Ok(());
        }
        self.done = 0;
        self.part = match self.part {
            Part::Coating => Part::Cycle(1),
            Part::Cycle(c) => {
                if d.frames_every > 0 && c % d.frames_every == 0 {
                    self.frame(sys, c);
                }
                if self.frozen_after.is_none() {
                    let freeze = match &d.mode {
                        DryingMode::Homogeneous => c == d.cycles,
                        DryingMode::Heterogeneous(h) => match h.freeze {
                            Freeze::Fraction(f) => c as f64 >= f * d.cycles as f64 || c == d.cycles,
                            Freeze::Porosity(target) => {
                                c == d.cycles
                                    || self
                                        .porosity(&sys.particles, &sys.simbox, l, 2.0 * d.voxel.get())?
                                        .porosity
                                        <= target
                            }
                        },
                    };
                    if freeze {
                        self.freeze(sys, l, c)?;
                    }
                }
                if c == d.cycles {
                    Part::Final
                } else {
                    Part::Cycle(c + 1)
                }
            }
            Part::Final | Part::Done => Part::Done,
        };
        Ok(())
    }

    fn frame(&mut self, sys: &System, cycle: u64) {
        let mut f = Frame::of(sys, cycle);
        f.v.clear(); // positions tell the drying story; keep checkpoints small
        self.frames.push(f);
    }

    /// The step at which the final compaction starts.
    fn final_start(&self, d: &DryingSpec) -> u64 {
        d.coating_steps + d.cycles * d.steps_per_cycle
    }

    /// The characterization of the dried film and the structure.
    pub fn finish(&self, l: &Loaded) -> Result<(DryingResult, DataFile)> {
        let d = spec(l)?;
        // The saved state is all the characterization needs: no force field to build.
        let sys = &self.system;
        let c = self.porosity(&sys.particles, &sys.simbox, l, d.voxel.get())?;
        let p = &sys.particles;
        let ceiling = self
            .servo
            .as_ref()
            .map_or(f64::INFINITY, |s| sys.walls[s.wall].position);
        let outside = (0..p.len())
            .filter(|&k| {
                let z = p.x[k][2];
                !(z.is_finite() && z >= self.substrate_z && z <= ceiling)
            })
            .count()
            + self.n_particles.saturating_sub(p.len());
        let thickness = film_top(p) - self.substrate_z;
        // Film top (column 6) over the second half of the final compaction.
        let last: Vec<f64> = self
            .rows
            .iter()
            .filter(|r| r[0] as u64 > self.final_start(d))
            .map(|r| r[6])
            .collect();
        let half = &last[last.len() / 2..];
        let change = match (half.first(), half.last()) {
            (Some(a), Some(b)) if half.len() >= 2 => b - a,
            _ => f64::NAN,
        };
        // A slow creep is not convergence: no significant trend in that window.
        let converged = is_steady(half, 4, 3.0).unwrap_or(false);
        let result = DryingResult {
            mode: match &d.mode {
                DryingMode::Homogeneous => "homogeneous".into(),
                DryingMode::Heterogeneous(_) => "heterogeneous".into(),
            },
            coating: self.coating.clone(),
            thickness_um: thickness,
            porosity: c.porosity,
            porosity_pores_only: c.porosity_pores_only,
            porosity_sum: c.porosity_sum,
            porosity_geometric: c.porosity_geometric,
            final_thickness_change_um: change,
            converged,
            density_g_cm3: c.density_g_cm3,
            mass_loading_mg_cm2: c.mass_loading_mg_cm2,
            cbd_profile: c.cbd_profile.iter().map(ProfilePoint::from).collect(),
            contacts: c.contacts,
            active_surface_fraction: c.active_surface_fraction,
            solid_mass_before_pg: self.solid_mass_pg,
            solid_mass_after_pg: nominal_mass(p, self.am_factor),
            particles_outside_film: outside,
            frozen_after_cycle: self.frozen_after.unwrap_or(0),
        };
        let structure = DataFile {
            title: format!("{}: dried", l.scenario.name),
            n_types: l.model.n_types() as u32,
            simbox: sys.simbox,
            particles: sys.particles.clone(),
            has_velocities: true,
        };
        Ok((result, structure))
    }
}
