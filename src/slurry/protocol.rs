//! The slurry protocol of a scenario, stage by stage:
//! 1. **build**: recipe → counts → non-overlapping placement in a dilute box (or import a
//!    structure, `start_from`);
//! 2. **minimize**: FIRE until every force is below the tolerance;
//! 3. **npt**: velocities at T, then Bussi + Berendsen or Nosé–Hoover (the reference's)
//!    with a ramped target pressure; slurry density = (AM at nominal size + wet CBD
//!    beads) / V, the quantity of the reference's PSO log, block-averaged over the trailing
//!    window (the recipe's mass, solvent included, over V is reported beside it);
//! 4. **nemd**: per shear rate, from the NPT state: Lees–Edwards shear to the set strain;
//!    η = −⟨p_xy⟩/γ̇ block-averaged over the trailing window, with a steady-state test
//!    and the streaming-profile check.
//!
//! Physics never prints: progress goes to a [`Progress`] observer.

use std::path::{Path, PathBuf};
use std::time::Instant;

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, Normal};
use serde::{Deserialize, Serialize};

use crate::analysis::stats::{block_average, is_steady, linear_fit, BlockAverage};
use crate::calendering::{spec as calendering_spec, CalenderingResult, CalenderingRun, CALENDERING_HEADER};
use crate::drying::{DryingResult, DryingRun, Frame, DRYING_HEADER};
use crate::error::{Error, Result};
use crate::io::atomic::write_atomic;
use crate::io::lammps_data::DataFile;
use crate::io::sha256_hex;
use crate::scenario::{Loaded, NemdEnsemble, NptEnsemble};
use crate::sim::ensemble::{temperature, PressureCoupling, VelocityRescale};
use crate::sim::forcefield::reference::nominal_mass;
use crate::sim::minimize::{fire, FireParams, MinReport};
use crate::sim::nemd::{shear_stress, velocity_profile, ShearDeform, ShearThermostat, Streaming};
use crate::sim::nose_hoover::NoseHooverNpt;
use crate::sim::particles::Particles;
use crate::sim::stability;
use crate::sim::system::{StepSettings, System, SystemState};
use crate::sim::timers::Timers;
use crate::slurry::placement::initial_slurry;
use crate::slurry::recipe::Counts;
use crate::units::{KPA_TO_PA, K_B, MPA_S_TO_PA_S};

/// Receives progress; the CLI draws bars from it.
pub trait Progress {
    fn start(&mut self, phase: &str, total_steps: u64);
    fn advance(&mut self, steps: u64);
    fn finish(&mut self);
    /// Sees the system after each chunk of steps (a live view); an error ends the run.
    fn observe(&mut self, _sys: &System) -> Result<()> {
        Ok(())
    }
}

/// After a chunk of steps that began at step `from`: a blown-up state ends the run (before
/// it is checkpointed or reported), and so does a step the contacts make unstable, checked
/// every [`stability::CHECK_EVERY`] steps and at the end of a stage (`stage_done`); then the
/// observer sees the system.
fn after_chunk(progress: &mut dyn Progress, sys: &System, from: u64, stage_done: bool) -> Result<()> {
    sys.check_finite()?;
    if stage_done || from / stability::CHECK_EVERY != sys.step / stability::CHECK_EVERY {
        stability::check(sys)?;
    }
    progress.observe(sys)
}

/// Reports nothing (sweep cases, calibration runs).
pub struct Quiet;
impl Progress for Quiet {
    fn start(&mut self, _: &str, _: u64) {}
    fn advance(&mut self, _: u64) {}
    fn finish(&mut self) {}
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ParticleCount {
    pub am: usize,
    pub cbd: usize,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
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
    /// The stress split. Static: −⟨p_xy⟩ of each sampled configuration brought to rest
    /// (pair potentials, elastic overlaps, tangential springs) [Pa], with its standard error.
    pub static_stress_pa: f64,
    pub static_stress_stderr_pa: f64,
    /// Damping: the rest of the stress over the shear rate, −⟨p_xy − p_xy,rest⟩/γ̇ [Pa·s]
    /// (contact damping and the peculiar kinetic part), with its standard error.
    /// viscosity = static / γ̇ + damping.
    pub damping_viscosity_pa_s: f64,
    pub damping_stderr_pa_s: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct SlurryResult {
    pub particles: ParticleCount,
    pub counts: Counts,
    /// None when the slurry was imported (`start_from`).
    pub minimize: Option<MinReport>,
    /// Slurry density from NPT [g/cm³], as the reference reports it: (AM at nominal size +
    /// wet CBD beads) / V; None without an NPT phase.
    pub density_g_cm3: Option<f64>,
    pub density_stderr_g_cm3: Option<f64>,
    pub density_steady: Option<bool>,
    /// The recipe's slurry mass (AM + CBD + solvent) over the same volume [g/cm³].
    pub recipe_density_g_cm3: Option<f64>,
    /// NPT steps on which the box was held at the self-image limit, no narrower than the
    /// neighbour list's reach (0 = never).
    pub npt_box_limited_steps: u64,
    pub viscosity: Vec<ViscosityPoint>,
}

impl SlurryResult {
    /// Whether the NPT box was held at the self-image limit: the density is then the
    /// limit's, not the slurry's at the target pressure (too little mass simulated).
    pub fn npt_box_held(&self) -> bool {
        self.npt_box_limited_steps > 0
    }

    /// What a held box means and what to do, for the run's summary and report; None when it
    /// never was.
    pub fn npt_box_warning(&self) -> Option<(String, &'static str)> {
        self.npt_box_held().then(|| {
            let what = format!(
                "the NPT box was held at the self-image limit (the neighbour list's reach) for {} steps: \
                 the density is the limit's, not the slurry's at the target pressure, and a fit counts \
                 such a run as failed",
                self.npt_box_limited_steps
            );
            (
                what,
                "simulate more mass (formulation.dry_mass_ug); `etwin validate` gives the densities the box can hold",
            )
        })
    }
}

/// A phase's time series: header (unit-bearing) and rows.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Series {
    pub name: String,
    pub header: String,
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
    /// Coating and drying, when the scenario has them.
    pub drying: Option<DryingResult>,
    /// VTU frames along the drying.
    pub frames: Vec<Frame>,
    /// The dried film's consolidation under the dry material law, when the drying has one.
    pub consolidation: Option<CalenderingResult>,
    /// Calendering, when the scenario has it.
    pub calendering: Option<CalenderingResult>,
    /// VTU frames along the calendering.
    pub calendering_frames: Vec<Frame>,
}

/// A stage that advances one sample interval at a time (drying, calendering).
pub trait StageRun {
    fn finished(&self) -> bool;
    /// Steps taken, and (an estimate of) all the stage takes.
    fn steps_done(&self, l: &Loaded) -> u64;
    fn total_steps(&self, l: &Loaded) -> u64;
    /// The live system of the current part.
    fn restore(&self, l: &Loaded) -> Result<System>;
    fn advance(&mut self, sys: &mut System, l: &Loaded) -> Result<()>;
    /// Keeps the live system's state for a checkpoint or the end.
    fn store(&mut self, s: SystemState);
}

impl StageRun for DryingRun {
    fn finished(&self) -> bool {
        DryingRun::finished(self)
    }
    fn steps_done(&self, l: &Loaded) -> u64 {
        DryingRun::steps_done(self, l)
    }
    fn total_steps(&self, l: &Loaded) -> u64 {
        DryingRun::total_steps(l)
    }
    fn restore(&self, l: &Loaded) -> Result<System> {
        DryingRun::restore(self, l)
    }
    fn advance(&mut self, sys: &mut System, l: &Loaded) -> Result<()> {
        DryingRun::advance(self, sys, l)
    }
    fn store(&mut self, s: SystemState) {
        self.system = s;
    }
}

impl StageRun for CalenderingRun {
    fn finished(&self) -> bool {
        CalenderingRun::finished(self)
    }
    fn steps_done(&self, _: &Loaded) -> u64 {
        CalenderingRun::steps_done(self)
    }
    fn total_steps(&self, _: &Loaded) -> u64 {
        self.steps_estimate()
    }
    fn restore(&self, l: &Loaded) -> Result<System> {
        CalenderingRun::restore(self, l)
    }
    fn advance(&mut self, sys: &mut System, _: &Loaded) -> Result<()> {
        CalenderingRun::advance(self, sys)
    }
    fn store(&mut self, s: SystemState) {
        self.system = s;
    }
}

/// FIRE to the scenario's tolerance; returns the report and the minimized state.
fn minimize_stage(
    sys: &mut System,
    l: &Loaded,
    progress: &mut dyn Progress,
    timing: &mut Vec<(String, f64)>,
) -> Result<(MinReport, SystemState)> {
    let p = &l.scenario.protocol;
    let t = Instant::now();
    progress.start("minimize", p.minimize.max_iterations);
    let fire_params = FireParams {
        force_tol: p.minimize.force_tol.get(),
        max_iterations: p.minimize.max_iterations,
        ..Default::default()
    };
    let minimize = fire(sys, &fire_params);
    progress.finish();
    after_chunk(progress, sys, 0, true)?;
    timing.push(("minimize".to_string(), t.elapsed().as_secs_f64()));
    Ok((minimize, sys.snapshot()))
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

const NPT_HEADER: &str =
    "step,time[us],temperature[K],pressure[kPa],pzz[kPa],density[g/cm3],volume[um3],recipe_density[g/cm3]";
const NEMD_HEADER: &str = "step,time[us],strain[-],pxy[kPa],pxy_rest[kPa],temperature[K]";
/// Checkpoint file name inside the output folder.
pub const CHECKPOINT: &str = "checkpoint.json";
const CHECKPOINT_VERSION: u32 = 7;

/// Where and how often to checkpoint.
#[derive(Debug, Clone)]
pub struct Checkpointing {
    pub dir: PathBuf,
    /// Wall-clock seconds between checkpoints (taken at sample boundaries).
    pub every_s: f64,
}

/// The thermostat and barostat of the NPT phase.
#[derive(Debug, Clone, Serialize, Deserialize)]
enum NptState {
    Weak {
        thermostat: VelocityRescale,
        barostat: PressureCoupling,
    },
    NoseHoover(NoseHooverNpt),
}

impl NptState {
    fn run(&mut self, sys: &mut System, n: u64) {
        match self {
            NptState::Weak { thermostat, barostat } => sys.run_with(n, &mut [thermostat, barostat], &mut []),
            NptState::NoseHoover(nh) => nh.run(sys, n),
        }
    }

    fn limited_steps(&self) -> u64 {
        match self {
            NptState::Weak { barostat, .. } => barostat.limited_steps,
            NptState::NoseHoover(nh) => nh.limited_steps,
        }
    }
}

/// The NPT stage in progress: its system, ensemble, samples so far and steps done.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct NptRun {
    system: SystemState,
    ensemble: NptState,
    rows: Vec<Vec<f64>>,
    done: u64,
}

/// Shear run `k` in progress: its system, deformation, thermostat, samples (stress and
/// velocity profile) so far and steps done.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct NemdRun {
    k: usize,
    system: SystemState,
    deform: ShearDeform,
    thermostat: ShearThermostat,
    rows: Vec<Vec<f64>>,
    profiles: Vec<Vec<(f64, f64)>>,
    done: u64,
}

/// The phase in progress and its live state.
#[derive(Debug, Clone, Serialize, Deserialize)]
enum Current {
    Npt(NptRun),
    Nemd(NemdRun),
    Drying(Box<DryingRun>),
    Consolidation(Box<CalenderingRun>),
    Calendering(Box<CalenderingRun>),
}

/// Everything needed to continue a run where it stopped.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RunState {
    version: u32,
    scenario: PathBuf,
    scenario_sha256: String,
    counts: Counts,
    /// Recipe slurry mass (AM + CBD + solvent) [pg].
    recipe_mass: f64,
    /// AM at nominal size + wet CBD beads [pg]: the reference's slurry mass.
    model_mass: f64,
    minimize: Option<MinReport>,
    minimized: Option<SystemState>,
    /// The slurry after NPT, start of every shear run.
    slurry: Option<SystemState>,
    density: Option<(BlockAverage, bool)>,
    npt_box_limited_steps: u64,
    viscosity: Vec<ViscosityPoint>,
    series: Vec<Series>,
    timing: Vec<(String, f64)>,
    current: Option<Current>,
    /// The finished drying stage.
    #[serde(default)]
    dried: Option<Box<DryingRun>>,
    /// The finished consolidation of the dried film.
    #[serde(default)]
    consolidated: Option<Box<CalenderingRun>>,
    /// The finished calendering stage.
    #[serde(default)]
    calendered: Option<Box<CalenderingRun>>,
}

impl RunState {
    /// Reads a checkpoint and checks it belongs to the scenario as it is now.
    pub fn load(dir: &Path, l: &Loaded) -> Result<RunState> {
        let path = dir.join(CHECKPOINT);
        let text = std::fs::read_to_string(&path).map_err(|e| Error::io(&path, e))?;
        let st: RunState = serde_json::from_str(&text)
            .map_err(|e| Error::Setup(format!("{}: not a readable checkpoint: {e}", path.display())))?;
        if st.version != CHECKPOINT_VERSION {
            return Err(Error::Setup(format!(
                "{}: checkpoint version {}",
                path.display(),
                st.version
            )));
        }
        if st.scenario_sha256 != sha256_hex(l.source.as_bytes()) {
            return Err(Error::Setup(format!(
                "{}: the scenario {} changed since this checkpoint was written; \
                 resume with the original file or start a new run",
                path.display(),
                l.path.display()
            )));
        }
        Ok(st)
    }

    /// The scenario file the run was started with.
    pub fn peek_scenario(dir: &Path) -> Result<PathBuf> {
        #[derive(Deserialize)]
        struct Head {
            scenario: PathBuf,
        }
        let path = dir.join(CHECKPOINT);
        let text = std::fs::read_to_string(&path).map_err(|e| Error::io(&path, e))?;
        let h: Head = serde_json::from_str(&text)
            .map_err(|e| Error::Setup(format!("{}: not a readable checkpoint: {e}", path.display())))?;
        Ok(h.scenario)
    }

    fn save(&self, cp: &Checkpointing) -> Result<()> {
        let bytes = serde_json::to_vec(self).map_err(|e| Error::Setup(format!("checkpoint: {e}")))?;
        write_atomic(&cp.dir.join(CHECKPOINT), |w| w.write_all(&bytes))
    }
}

/// Saves when the interval has passed since the last save.
struct Saver<'a> {
    cp: Option<&'a Checkpointing>,
    last: Instant,
}

impl Saver<'_> {
    fn due(&self) -> bool {
        self.cp.is_some_and(|c| self.last.elapsed().as_secs_f64() >= c.every_s)
    }
    fn save(&mut self, st: &RunState) -> Result<()> {
        if let Some(c) = self.cp {
            st.save(c)?;
            self.last = Instant::now();
        }
        Ok(())
    }
    /// Saves `st` with `current()` as its phase in progress, if a save is due; the phase's
    /// live state stays with the caller, so `st` holds none after.
    fn save_midway(&mut self, st: &mut RunState, current: impl FnOnce() -> Current) -> Result<()> {
        if self.due() {
            st.current = Some(current());
            self.save(st)?;
            st.current = None;
        }
        Ok(())
    }
}

/// Runs a loaded scenario's slurry protocol from the start.
pub fn run(l: &Loaded, progress: &mut dyn Progress, cp: Option<&Checkpointing>) -> Result<SlurryRun> {
    let st = start(l, progress)?;
    let mut saver = Saver {
        cp,
        last: Instant::now(),
    };
    saver.save(&st)?;
    drive(l, st, progress, &mut saver)
}

/// Continues a run from its checkpoint.
pub fn resume(l: &Loaded, st: RunState, progress: &mut dyn Progress, cp: Option<&Checkpointing>) -> Result<SlurryRun> {
    let mut saver = Saver {
        cp,
        last: Instant::now(),
    };
    drive(l, st, progress, &mut saver)
}

/// The run's system before any minimization, set up: imported from `start_from`, or built
/// from the recipe.
pub(crate) fn initial_system(l: &Loaded) -> Result<System> {
    let p = &l.scenario.protocol;
    let settings = StepSettings {
        dt: p.timestep.get(),
        skin: p.skin.get(),
        ..Default::default()
    };
    let mut sys = match &p.start_from {
        Some(rel) => {
            let path = crate::scenario::resolve_path(rel, &l.path)?;
            let d = DataFile::read(&path)?;
            let mut ff = l.model.build()?;
            if p.keep_imported_sizes {
                ff.types.clear();
            }
            System::new(d.particles, d.simbox, ff, settings)?
        }
        None => {
            let sc = &l.scenario;
            let (data, _) = initial_slurry(
                &sc.formulation,
                &l.model,
                p.initial_volume_fraction,
                p.box_aspect,
                sc.seed,
            )
            .map_err(|e| Error::Setup(format!("{}: building the slurry: {e}", l.path.display())))?;
            System::new(data.particles, data.simbox, l.model.build()?, settings)?
        }
    };
    sys.setup()?;
    Ok(sys)
}

/// Stages 1 and 2, and the start of stage 3.
fn start(l: &Loaded, progress: &mut dyn Progress) -> Result<RunState> {
    let sc = &l.scenario;
    let p = &sc.protocol;
    let mut timing = Vec::new();
    let t = Instant::now();
    progress.start("build", 1);
    let counts = sc.formulation.counts();
    let mut sys = initial_system(l)?;
    progress.finish();
    let stage = if p.start_from.is_some() { "import" } else { "build" };
    timing.push((stage.to_string(), t.elapsed().as_secs_f64()));
    let (minimize, minimized) = if p.start_from.is_none() || p.minimize.imported {
        let (minimize, minimized) = minimize_stage(&mut sys, l, progress, &mut timing)?;
        (Some(minimize), Some(minimized))
    } else {
        (None, None)
    };
    let mut st = RunState {
        version: CHECKPOINT_VERSION,
        scenario: l.path.clone(),
        scenario_sha256: sha256_hex(l.source.as_bytes()),
        recipe_mass: counts.am_mass_pg + counts.cbd_mass_pg + counts.solvent_mass_pg,
        model_mass: nominal_mass(&sys.particles, l.model.fixed.contact_factor),
        counts,
        minimize,
        minimized,
        slurry: None,
        density: None,
        npt_box_limited_steps: 0,
        viscosity: Vec::new(),
        series: Vec::new(),
        timing,
        dried: None,
        consolidated: None,
        calendered: None,
        current: None,
    };
    let Some(n) = &p.npt else {
        st.slurry = Some(sys.snapshot());
        st.current = next_phase(l, &st, 0)?;
        return Ok(st);
    };
    set_velocities(&mut sys.particles, n.temperature.get(), sc.seed ^ 0x5eed);
    sys.setup()?;
    let ramp_steps = ((n.steps as f64 * n.ramp_fraction) as u64).max(1);
    let ensemble = match n.ensemble {
        NptEnsemble::Berendsen => {
            let thermostat = VelocityRescale::new(n.temperature.get(), n.thermostat_tau.get(), sc.seed ^ 0x7);
            let mut barostat = PressureCoupling::new(
                n.coupling,
                n.pressure_stop.get(),
                n.barostat_tau.get(),
                n.compressibility,
            );
            barostat.start_kpa = n.pressure_start.get();
            barostat.ramp_steps = ramp_steps;
            NptState::Weak { thermostat, barostat }
        }
        NptEnsemble::NoseHoover => NptState::NoseHoover(NoseHooverNpt::new(
            n.temperature.get(),
            n.pressure_start.get(),
            n.pressure_stop.get(),
            ramp_steps,
            n.thermostat_tau.get(),
            n.barostat_tau.get(),
        )),
    };
    st.current = Some(Current::Npt(NptRun {
        system: sys.snapshot(),
        ensemble,
        rows: Vec::new(),
        done: 0,
    }));
    Ok(st)
}

/// Runs phases until done, checkpointing on the way.
fn drive(l: &Loaded, mut st: RunState, progress: &mut dyn Progress, saver: &mut Saver) -> Result<SlurryRun> {
    while let Some(current) = st.current.take() {
        let t = Instant::now();
        match current {
            Current::Npt(run) => npt_stage(l, &mut st, run, progress, saver)?,
            Current::Nemd(run) => nemd_stage(l, &mut st, run, progress, saver)?,
            Current::Drying(run) => {
                let (run, engine) = run_stage(
                    l,
                    run,
                    "drying",
                    progress,
                    saver,
                    &mut st,
                    Current::Drying,
                    |c| match c {
                        Current::Drying(r) => Some(r),
                        _ => None,
                    },
                )?;
                push_stage_timing(&mut st.timing, "drying", t.elapsed().as_secs_f64(), &engine);
                let p = &l.scenario.protocol;
                st.current = match p.drying.as_ref().and_then(|d| Some((d, d.consolidation.as_ref()?))) {
                    Some((d, k)) => {
                        let press = k.press(d, p.calendering.as_ref());
                        let c = CalenderingRun::start(run.system.clone(), l, press, run.am_radius_scale(), true)?;
                        Some(Current::Consolidation(Box::new(c)))
                    }
                    None => calendering_of(l, run.system.clone(), run.am_radius_scale())?,
                };
                st.dried = Some(run);
            }
            Current::Consolidation(run) => {
                let (run, engine) = run_stage(
                    l,
                    run,
                    "consolidation",
                    progress,
                    saver,
                    &mut st,
                    Current::Consolidation,
                    |c| match c {
                        Current::Consolidation(r) => Some(r),
                        _ => None,
                    },
                )?;
                push_stage_timing(&mut st.timing, "consolidation", t.elapsed().as_secs_f64(), &engine);
                st.current = calendering_of(l, run.physical_state(), run.am_radius_scale())?;
                st.consolidated = Some(run);
            }
            Current::Calendering(run) => {
                let (run, engine) = run_stage(
                    l,
                    run,
                    "calendering",
                    progress,
                    saver,
                    &mut st,
                    Current::Calendering,
                    |c| match c {
                        Current::Calendering(r) => Some(r),
                        _ => None,
                    },
                )?;
                push_stage_timing(&mut st.timing, "calendering", t.elapsed().as_secs_f64(), &engine);
                st.calendered = Some(run);
            }
        }
        saver.save(&st)?;
    }
    finish(l, st)
}

/// Runs the NPT stage from where it stands to its end, checkpointing on the way; then
/// the density and the next phase.
fn npt_stage(l: &Loaded, st: &mut RunState, run: NptRun, progress: &mut dyn Progress, saver: &mut Saver) -> Result<()> {
    let t = Instant::now();
    let (p, dt) = (&l.scenario.protocol, l.scenario.protocol.timestep.get());
    let NptRun {
        system,
        mut ensemble,
        mut rows,
        mut done,
    } = run;
    let n = p
        .npt
        .as_ref()
        .ok_or_else(|| Error::Setup("checkpoint has an NPT run the scenario lacks".into()))?;
    let mut sys = System::restore(system, l.model.build()?)?;
    progress.start("npt", n.steps);
    progress.advance(done);
    while done < n.steps {
        let chunk = n.sample_every.min(n.steps - done);
        let from = sys.step;
        ensemble.run(&mut sys, chunk);
        done += chunk;
        let th = sys.thermo();
        rows.push(vec![
            sys.step as f64,
            sys.step as f64 * dt,
            temperature(&sys),
            th.pressure_scalar_kpa,
            th.pressure_kpa[2],
            st.model_mass / th.volume_um3,
            th.volume_um3,
            st.recipe_mass / th.volume_um3,
        ]);
        progress.advance(chunk);
        after_chunk(progress, &sys, from, done == n.steps)?;
        if done < n.steps {
            saver.save_midway(st, || {
                Current::Npt(NptRun {
                    system: sys.snapshot(),
                    ensemble: ensemble.clone(),
                    rows: rows.clone(),
                    done,
                })
            })?;
        }
    }
    progress.finish();
    let density: Vec<f64> = rows.iter().map(|r| r[5]).collect();
    let keep = ((density.len() as f64 * n.average_last) as usize)
        .max(n.blocks)
        .min(density.len());
    let window = &density[density.len() - keep..];
    let rho = block_average(window, n.blocks).ok_or_else(|| Error::Setup("too few NPT samples".into()))?;
    st.density = Some((rho, is_steady(window, n.blocks.max(3), 3.0).unwrap_or(false)));
    st.npt_box_limited_steps = ensemble.limited_steps();
    st.series.push(Series {
        name: "npt".into(),
        header: NPT_HEADER.into(),
        rows,
    });
    st.slurry = Some(sys.snapshot());
    push_stage_timing(&mut st.timing, "npt", t.elapsed().as_secs_f64(), &sys.timers);
    st.current = next_phase(l, st, 0)?;
    Ok(())
}

/// Runs shear run `k` from where it stands to its end, checkpointing on the way; then its
/// viscosity and the next phase.
fn nemd_stage(
    l: &Loaded,
    st: &mut RunState,
    run: NemdRun,
    progress: &mut dyn Progress,
    saver: &mut Saver,
) -> Result<()> {
    let t = Instant::now();
    let (p, dt) = (&l.scenario.protocol, l.scenario.protocol.timestep.get());
    let NemdRun {
        k,
        system,
        mut deform,
        mut thermostat,
        mut rows,
        mut profiles,
        mut done,
    } = run;
    let m = p
        .nemd
        .as_ref()
        .ok_or_else(|| Error::Setup("checkpoint has a shear run the scenario lacks".into()))?;
    let rate = m.shear_rates[k].get();
    let steps = m.steps(rate, dt);
    let mut sys = System::restore(system, l.model.build()?)?;
    // Each sample's static stress comes with its force sums, not from a pass of its own.
    sys.rest_virial = true;
    progress.start(&format!("nemd {:.4e} 1/s", rate * 1e6), steps);
    progress.advance(done);
    while done < steps {
        let chunk = m.sample_every.min(steps - done);
        let from = sys.step;
        sys.run_with(chunk, &mut [&mut deform, &mut thermostat], &mut []);
        done += chunk;
        rows.push(vec![
            done as f64,
            done as f64 * dt,
            deform.strain,
            shear_stress(&sys, &thermostat.flow),
            sys.virial_at_rest()[3] / sys.simbox.volume(),
            thermostat.temperature,
        ]);
        profiles.push(velocity_profile(&sys, 8));
        progress.advance(chunk);
        after_chunk(progress, &sys, from, done == steps)?;
        if done < steps {
            saver.save_midway(st, || {
                Current::Nemd(NemdRun {
                    k,
                    system: sys.snapshot(),
                    deform: deform.clone(),
                    thermostat: thermostat.clone(),
                    rows: rows.clone(),
                    profiles: profiles.clone(),
                    done,
                })
            })?;
        }
    }
    progress.finish();
    st.viscosity.push(viscosity_point(
        &rows,
        &profiles,
        rate,
        deform.strain,
        m.average_last,
        m.blocks,
    )?);
    st.series.push(Series {
        name: format!("nemd_{k}"),
        header: NEMD_HEADER.into(),
        rows,
    });
    push_stage_timing(
        &mut st.timing,
        &format!("nemd_{k}"),
        t.elapsed().as_secs_f64(),
        &sys.timers,
    );
    st.current = next_phase(l, st, k + 1)?;
    Ok(())
}

/// The scenario's calendering, if it has one, of a dried film whose AM radii times
/// `am_radius_scale` are the nominal ones.
fn calendering_of(l: &Loaded, film: SystemState, am_radius_scale: f64) -> Result<Option<Current>> {
    let Some(c) = &l.scenario.protocol.calendering else {
        return Ok(None);
    };
    let run = CalenderingRun::start(film, l, c.clone(), am_radius_scale, true)?;
    Ok(Some(Current::Calendering(Box::new(run))))
}

/// Runs a stage to its end from where it stands, checkpointing on the way; the run and its
/// engine's phase times (from the resume, after one).
#[allow(clippy::too_many_arguments)]
fn run_stage<S: StageRun>(
    l: &Loaded,
    mut run: Box<S>,
    name: &str,
    progress: &mut dyn Progress,
    saver: &mut Saver,
    st: &mut RunState,
    wrap: fn(Box<S>) -> Current,
    unwrap: fn(Current) -> Option<Box<S>>,
) -> Result<(Box<S>, Timers)> {
    let mut sys = run.restore(l)?;
    progress.start(name, run.total_steps(l));
    progress.advance(run.steps_done(l));
    while !run.finished() {
        let (before, from) = (run.steps_done(l), sys.step);
        run.advance(&mut sys, l)?;
        progress.advance(run.steps_done(l) - before);
        after_chunk(progress, &sys, from, run.finished())?;
        if saver.due() && !run.finished() {
            run.store(sys.snapshot());
            st.current = Some(wrap(run));
            saver.save(st)?;
            run = st
                .current
                .take()
                .and_then(unwrap)
                .ok_or_else(|| Error::Setup("checkpoint: stage state lost".into()))?;
        }
    }
    progress.finish();
    run.store(sys.snapshot());
    Ok((run, sys.timers))
}

/// After the NPT or shear run `k − 1`: the shear run `k`, else drying, else calendering of
/// the imported structure, else nothing.
fn next_phase(l: &Loaded, st: &RunState, k: usize) -> Result<Option<Current>> {
    if let Some(c) = next_shear(l, st, k)? {
        return Ok(Some(c));
    }
    let p = &l.scenario.protocol;
    if p.drying.is_none() && p.calendering.is_none() {
        return Ok(None);
    }
    let slurry = st
        .slurry
        .clone()
        .ok_or_else(|| Error::Setup("no slurry state to coat".into()))?;
    if p.drying.is_none() {
        // A structure file: its AM radii are nominal.
        let c = CalenderingRun::start(slurry, l, calendering_spec(l)?.clone(), 1.0, false)?;
        return Ok(Some(Current::Calendering(Box::new(c))));
    }
    Ok(Some(Current::Drying(Box::new(DryingRun::coat(slurry, l)?))))
}

/// The shear run `k` starting from the NPT slurry, if the scenario has one.
fn next_shear(l: &Loaded, st: &RunState, k: usize) -> Result<Option<Current>> {
    let sc = &l.scenario;
    let Some(m) = sc.protocol.nemd.as_ref().filter(|m| k < m.shear_rates.len()) else {
        return Ok(None);
    };
    let slurry = st
        .slurry
        .clone()
        .ok_or_else(|| Error::Setup("no slurry state to shear".into()))?;
    let rate = m.shear_rates[k].get();
    let mut sys = System::restore(slurry, l.model.build()?)?;
    sys.settings.rotate = m.rotate;
    sys.step = 0;
    sys.setup()?;
    let deform = ShearDeform::start(&mut sys, rate, true)?;
    let (t, tau) = (m.temperature.get(), m.thermostat_tau.get());
    let flow = Streaming {
        rate,
        origin: m.streaming_origin,
    };
    let mut thermostat = match m.ensemble {
        NemdEnsemble::Bussi => ShearThermostat::new(t, tau, flow, sc.seed ^ k as u64),
        NemdEnsemble::NoseHoover => ShearThermostat::nose_hoover(t, tau, flow, m.thermostat_chain),
    };
    thermostat.start(&mut sys);
    Ok(Some(Current::Nemd(NemdRun {
        k,
        system: sys.snapshot(),
        deform,
        thermostat,
        rows: Vec::new(),
        profiles: Vec::new(),
        done: 0,
    })))
}

fn viscosity_point(
    rows: &[Vec<f64>],
    profiles: &[Vec<(f64, f64)>],
    rate: f64,
    strain: f64,
    average_last: f64,
    blocks: usize,
) -> Result<ViscosityPoint> {
    let column = |c: usize| -> Vec<f64> { rows.iter().map(|r| r[c]).collect() };
    let (pxy, rest) = (column(3), column(4));
    let start = pxy.len() - ((pxy.len() as f64 * average_last) as usize).max(blocks).min(pxy.len());
    let window = &pxy[start..];
    let average = |series: &[f64]| {
        block_average(series, blocks).ok_or_else(|| {
            Error::Setup(format!(
                "too few stress samples at {:e} 1/s: lower sample_every",
                rate * 1e6
            ))
        })
    };
    let b = average(window)?;
    let s = average(&rest[start..])?;
    let damping: Vec<f64> = window.iter().zip(&rest[start..]).map(|(p, r)| p - r).collect();
    let d = average(&damping)?;
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
    let fit = linear_fit(&mean_profile);
    Ok(ViscosityPoint {
        shear_rate_per_s: rate * 1e6,
        viscosity_pa_s: -b.mean / rate * MPA_S_TO_PA_S,
        stderr_pa_s: b.stderr / rate * MPA_S_TO_PA_S,
        strain,
        steady: is_steady(window, blocks.max(3), 3.0).unwrap_or(false),
        profile_slope_per_s: fit.slope * 1e6,
        profile_r2: fit.r2,
        static_stress_pa: -s.mean * KPA_TO_PA,
        static_stress_stderr_pa: s.stderr * KPA_TO_PA,
        damping_viscosity_pa_s: -d.mean / rate * MPA_S_TO_PA_S,
        damping_stderr_pa_s: d.stderr / rate * MPA_S_TO_PA_S,
    })
}

fn finish(l: &Loaded, st: RunState) -> Result<SlurryRun> {
    let sc = &l.scenario;
    let n_types = l.model.n_types() as u32;
    let slurry = st
        .slurry
        .ok_or_else(|| Error::Setup("the run ended before its slurry was ready".into()))?;
    let structure = |title: String, s: SystemState| DataFile {
        title,
        n_types,
        simbox: s.simbox,
        particles: s.particles,
        has_velocities: true,
    };
    let cbd = slurry.particles.kind.iter().filter(|&&k| k == 1).count();
    let particles = ParticleCount {
        am: slurry.particles.len() - cbd,
        cbd,
    };
    let mut series = st.series;
    let mut timing = st.timing;
    let mut structures = Vec::new();
    if let Some(m) = st.minimized {
        structures.push(("minimized".into(), structure(format!("{}: minimized", sc.name), m)));
    }
    let title = if sc.protocol.npt.is_some() {
        "after NPT"
    } else {
        "imported"
    };
    structures.push(("slurry".into(), structure(format!("{}: {title}", sc.name), slurry)));
    let (drying, frames) = match st.dried {
        Some(run) => {
            let t = Instant::now();
            let (result, dried) = run.finish(l)?;
            timing.push(("analysis.drying".into(), t.elapsed().as_secs_f64()));
            let run = *run;
            structures.push(("dried".into(), dried));
            series.push(Series {
                name: "drying".into(),
                header: DRYING_HEADER.into(),
                rows: run.rows,
            });
            (Some(result), run.frames)
        }
        None => (None, Vec::new()),
    };
    // A pressing stage's result, its structure `stem` and its time series `name`.
    let mut pressed = |run: Option<Box<CalenderingRun>>, name: &str, stem: &str| -> Result<_> {
        let Some(run) = run else {
            return Ok((None, Vec::new()));
        };
        let t = Instant::now();
        let (result, structure) = run.finish(l)?;
        timing.push((format!("analysis.{name}"), t.elapsed().as_secs_f64()));
        let run = *run;
        structures.push((stem.into(), structure));
        series.push(Series {
            name: name.into(),
            header: CALENDERING_HEADER.into(),
            rows: run.rows,
        });
        Ok((Some(result), run.frames))
    };
    let (consolidation, _) = pressed(st.consolidated, "consolidation", "consolidated")?;
    let (calendering, calendering_frames) = pressed(st.calendered, "calendering", "calendered")?;
    Ok(SlurryRun {
        result: SlurryResult {
            particles,
            counts: st.counts,
            minimize: st.minimize,
            density_g_cm3: st.density.as_ref().map(|d| d.0.mean),
            density_stderr_g_cm3: st.density.as_ref().map(|d| d.0.stderr),
            density_steady: st.density.as_ref().map(|d| d.1),
            recipe_density_g_cm3: st.density.as_ref().map(|d| d.0.mean * st.recipe_mass / st.model_mass),
            npt_box_limited_steps: st.npt_box_limited_steps,
            viscosity: st.viscosity,
        },
        series,
        structures,
        timing,
        drying,
        frames,
        consolidation,
        calendering,
        calendering_frames,
    })
}

/// A particle stage's wall time [s], then the engine's share of it by phase
/// (`<stage>.neighbor`, `.force`, `.integrate`) and the rest (`.other`: the ensemble's own
/// work, samples, checkpoints). After a resume, both count from the resume.
fn push_stage_timing(timing: &mut Vec<(String, f64)>, stage: &str, wall: f64, engine: &Timers) {
    timing.push((stage.to_string(), wall));
    let phases = [
        ("neighbor", engine.neighbor_s),
        ("force", engine.force_s),
        ("integrate", engine.integrate_s),
    ];
    for (phase, s) in phases {
        timing.push((format!("{stage}.{phase}"), s));
    }
    let engine_s: f64 = phases.iter().map(|p| p.1).sum();
    timing.push((format!("{stage}.other"), (wall - engine_s).max(0.0)));
}
