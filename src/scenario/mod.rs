//! Scenario files (RON, versioned, unknown keys rejected): what to simulate and how.
//!
//! Dimensioned values are a number in the documented unit or a string with a unit
//! (see [`quantity`]). Every error names file:line:col, the key path and a hint.

pub mod calendering;
pub mod drying;
pub mod quantity;

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::io::text::{locate_path, parse_checked, Problem};
use crate::sim::ensemble::CouplingMode;
use crate::sim::forcefield::reference::ReferenceModel;
use crate::sim::nemd::StreamingOrigin;
use crate::sim::nose_hoover::CHAIN;
use crate::slurry::recipe::Formulation;
use quantity::{Force, Length, Pressure, Rate, Temperature, Time, Q};

/// The format version this build reads.
pub const VERSION: u32 = 1;

/// The force field: a file (relative to the scenario's folder) or inline.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum ForceFieldSpec {
    File(String),
    Inline(ReferenceModel),
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    /// Format version (1).
    pub version: u32,
    /// Name; results go to `out/<name>/` by default.
    pub name: String,
    /// Seed of every random choice (placement, thermostats) [-].
    #[serde(default)]
    pub seed: u64,
    pub formulation: Formulation,
    pub forcefield: ForceFieldSpec,
    /// The dry-state force field used from the end of drying (or its freeze point);
    /// default: the wet one with the CBD bead at the formulation's dry diameter and density.
    #[serde(default)]
    pub forcefield_dry: Option<ForceFieldSpec>,
    pub protocol: Protocol,
    #[serde(default)]
    pub outputs: Outputs,
}

fn d_timestep() -> Q<Time> {
    Q::new(0.001)
}
fn d_skin() -> Q<Length> {
    Q::new(1.0)
}
fn d_fraction() -> f64 {
    0.05
}
fn d_one() -> f64 {
    1.0
}
fn d_temperature() -> Q<Temperature> {
    Q::new(300.0)
}
fn d_tau_t() -> Q<Time> {
    Q::new(0.1)
}
fn d_tau_p() -> Q<Time> {
    Q::new(1.0)
}
fn d_compressibility() -> f64 {
    1e-3
}
fn d_iso() -> CouplingMode {
    CouplingMode::Isotropic
}
/// Steps between samples, shared by every stage.
fn d_sample() -> u64 {
    100
}
/// Voxel edge [µm] and profile slab [µm] of the drying and calendering analyses.
fn d_voxel() -> Q<Length> {
    Q::new(0.25)
}
fn d_slab() -> Q<Length> {
    Q::new(5.0)
}
fn d_half() -> f64 {
    0.5
}
fn d_single() -> usize {
    1
}

fn d_blocks() -> usize {
    10
}
fn d_true() -> bool {
    true
}
fn d_force_tol() -> Q<Force> {
    Q::new(1e-3)
}
fn d_max_iter() -> u64 {
    50_000
}

/// How the slurry is simulated.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Protocol {
    /// Timestep [µs], default 0.001 (the reference's; damping limits it).
    #[serde(default = "d_timestep")]
    pub timestep: Q<Time>,
    /// Neighbour skin [µm], default 1.0.
    #[serde(default = "d_skin")]
    pub skin: Q<Length>,
    /// Volume fraction of spheres in the initial dilute box [-], (0, 0.5), default 0.05.
    #[serde(default = "d_fraction")]
    pub initial_volume_fraction: f64,
    /// Height / width of the initial box [-], default 1.
    #[serde(default = "d_one")]
    pub box_aspect: f64,
    /// A LAMMPS / LIGGGHTS data file of a slurry to start from instead of building and
    /// minimizing one (relative to the scenario's folder; a leading `$ETWIN_DATA_DIR/`
    /// reads from the reference data folder).
    #[serde(default)]
    pub start_from: Option<String>,
    #[serde(default)]
    pub minimize: MinimizeSpec,
    /// Density by NPT; required unless `start_from` (then optional).
    #[serde(default)]
    pub npt: Option<NptSpec>,
    /// Viscosity runs; none → density only.
    #[serde(default)]
    pub nemd: Option<NemdSpec>,
    /// Coating and drying of the relaxed slurry; none → the slurry only.
    #[serde(default)]
    pub drying: Option<drying::DryingSpec>,
    /// Calendering of the dried film (or, without drying, of the imported structure).
    #[serde(default)]
    pub calendering: Option<calendering::CalenderingSpec>,
    /// Keep the sphere sizes and masses of the `start_from` file instead of the force
    /// field's (a dried electrode imported for calendering), default false.
    #[serde(default)]
    pub keep_imported_sizes: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MinimizeSpec {
    /// Stop when every force is below this [nN], default 1e-3.
    #[serde(default = "d_force_tol")]
    pub force_tol: Q<Force>,
    /// Iteration cap, default 50,000.
    #[serde(default = "d_max_iter")]
    pub max_iterations: u64,
    /// Also minimize a `start_from` structure, default false (the reference minimizes
    /// its overlapping `coord_in.data` before NPT).
    #[serde(default)]
    pub imported: bool,
}

impl Default for MinimizeSpec {
    fn default() -> Self {
        MinimizeSpec {
            force_tol: d_force_tol(),
            max_iterations: d_max_iter(),
            imported: false,
        }
    }
}

/// Compression to the slurry density (the reference: 13 M steps, target 0 → 100 kPa).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NptSpec {
    /// Steps [-].
    pub steps: u64,
    /// Thermostat target [K], default 300 (a numerical knob in this model).
    #[serde(default = "d_temperature")]
    pub temperature: Q<Temperature>,
    /// Thermostat relaxation time [µs] (T_damp for NoseHoover), default 0.1.
    #[serde(default = "d_tau_t")]
    pub thermostat_tau: Q<Time>,
    /// Thermostat + barostat, default Berendsen (see [`NptEnsemble`]).
    #[serde(default)]
    pub ensemble: NptEnsemble,
    /// Target pressure at the start and at the end of the ramp [kPa].
    pub pressure_start: Q<Pressure>,
    pub pressure_stop: Q<Pressure>,
    /// Fraction of `steps` over which the target ramps [-], default 1 (the whole run).
    #[serde(default = "d_one")]
    pub ramp_fraction: f64,
    /// Barostat relaxation time [µs] (P_damp for NoseHoover), default 1.
    #[serde(default = "d_tau_p")]
    pub barostat_tau: Q<Time>,
    /// Compressibility in the coupling [1/kPa], default 1e-3 (Berendsen only).
    #[serde(default = "d_compressibility")]
    pub compressibility: f64,
    /// Isotropic or Z (film thickness only), default Isotropic.
    #[serde(default = "d_iso")]
    pub coupling: CouplingMode,
    /// Steps between samples, default 100.
    #[serde(default = "d_sample")]
    pub sample_every: u64,
    /// Trailing fraction of the run averaged for the density [-], default 0.5.
    #[serde(default = "d_half")]
    pub average_last: f64,
    /// Blocks of the block average, default 10.
    #[serde(default = "d_blocks")]
    pub blocks: usize,
}

/// How the NPT phase holds temperature and pressure.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum NptEnsemble {
    /// Stochastic velocity rescaling + weak-coupling box scaling (isotropic or z).
    #[default]
    Berendsen,
    /// Nosé–Hoover chains + MTK barostat as LAMMPS `fix npt/sphere ... iso`, the
    /// reference's (isotropic only): T_damp = `thermostat_tau`, P_damp = `barostat_tau`.
    NoseHoover,
}

/// The thermostat of the shear runs (on the peculiar velocities).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum NemdEnsemble {
    /// Stochastic velocity rescaling (Bussi et al. 2007).
    #[default]
    Bussi,
    /// A Nosé–Hoover chain of `thermostat_chain` links; with 1 link and
    /// `streaming_origin: Bottom` it is LAMMPS `fix nvt/sllod`, the reference's. Far below
    /// the well depths its friction pins the particles to the affine flow (README: the
    /// reference slurry protocol), which sets the reference's viscosities.
    NoseHoover,
}

/// Shear runs for the viscosity (the reference: SLLOD at 18 and 125 s⁻¹).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NemdSpec {
    /// Shear rates [1/µs]; write e.g. "125 1/s".
    pub shear_rates: Vec<Q<Rate>>,
    /// Strain of each run γ̇·t [-].
    pub strain: f64,
    /// Trailing fraction averaged for the stress [-], default 0.5.
    #[serde(default = "d_half")]
    pub average_last: f64,
    /// Thermostat on the peculiar velocities [K], default 300.
    #[serde(default = "d_temperature")]
    pub temperature: Q<Temperature>,
    #[serde(default = "d_tau_t")]
    pub thermostat_tau: Q<Time>,
    /// `Bussi` (default) or `NoseHoover` (the reference's `nvt/sllod`).
    #[serde(default)]
    pub ensemble: NemdEnsemble,
    /// Where the thermostat's and the kinetic stress' streaming velocity is zero: `Centre`
    /// (default; the imposed centred profile is then offset-free) or `Bottom` (y_lo, as
    /// LAMMPS `temp/deform`, the reference's).
    #[serde(default)]
    pub streaming_origin: StreamingOrigin,
    /// Links of the `NoseHoover` chain, 1..=3 (LAMMPS `tchain`), default 1: `fix nvt/sllod`
    /// uses a single thermostat where `fix nvt` uses 3.
    #[serde(default = "d_single")]
    pub thermostat_chain: usize,
    /// Integrate rotations (the reference's SLLOD does not), default false.
    #[serde(default)]
    pub rotate: bool,
    /// Steps between stress samples, default 100.
    #[serde(default = "d_sample")]
    pub sample_every: u64,
    /// Blocks of the block average, default 10.
    #[serde(default = "d_blocks")]
    pub blocks: usize,
}

/// What is written besides `results.json` and the manifest.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Outputs {
    /// Time series CSV per phase, default true.
    #[serde(default = "d_true")]
    pub timeseries: bool,
    /// Structures as LAMMPS data files, default true.
    #[serde(default = "d_true")]
    pub data: bool,
    /// Structures and stage frames as VTU + PVD (ParaView), default true.
    #[serde(default = "d_true")]
    pub vtu: bool,
    /// `report.md` with PNG figures, default true.
    #[serde(default = "d_true")]
    pub report: bool,
}

impl NemdSpec {
    /// Steps to reach `strain` at `rate` [1/µs] with timestep `dt` [µs]: the ceiling, but
    /// a quotient within rounding of a whole number (0.0125 / (1.25e-4 · 0.001)) is that number.
    pub fn steps(&self, rate: f64, dt: f64) -> u64 {
        let x = self.strain / (rate * dt);
        let whole = x.round();
        if (x - whole).abs() <= 1e-9 * whole.max(1.0) {
            whole as u64
        } else {
            x.ceil() as u64
        }
    }
}

impl Default for Outputs {
    fn default() -> Self {
        Outputs {
            timeseries: true,
            data: true,
            vtu: true,
            report: true,
        }
    }
}

/// A loaded, checked scenario with its force field.
#[derive(Debug, Clone)]
pub struct Loaded {
    pub scenario: Scenario,
    pub model: ReferenceModel,
    /// The dry-state model (with a drying stage).
    pub model_dry: Option<ReferenceModel>,
    pub path: PathBuf,
    /// The file's bytes (hashed into the manifest).
    pub source: String,
}

fn problem(path: &[(&'static str, usize)], what: String, hint: &str) -> Option<Problem> {
    let shown = path.iter().map(|(k, _)| *k).collect::<Vec<_>>().join(".");
    Some((path.to_vec(), shown, what, hint.to_string()))
}

impl Scenario {
    /// Parses and checks scenario text; `file` names it in errors.
    pub fn parse(src: &str, file: &str) -> Result<Scenario> {
        parse_checked(src, file, "a Scenario(...) file", Scenario::problem)
    }

    /// Checks values changed after parsing (e.g. by the viewer's sliders): the first
    /// problem as "key path: what" and a hint line.
    pub fn check(&self) -> std::result::Result<(), String> {
        match self.problem() {
            None => Ok(()),
            Some((_, key, what, hint)) => Err(format!("{key}: {what}\n  hint: {hint}")),
        }
    }

    /// The first problem: key path (key, occurrence), message, hint.
    fn problem(&self) -> Option<Problem> {
        if self.version != VERSION {
            return problem(
                &[("version", 0)],
                format!("version {}", self.version),
                "this build reads version 1",
            );
        }
        if let Err(e) = self.formulation.check() {
            let key = recipe_key(&e.key);
            return match e.index {
                Some(i) => {
                    let path = vec![("formulation", 0), ("psd", 0), (key, i)];
                    Some((path, format!("formulation.psd[{i}].{key}"), e.what, e.hint))
                }
                None => problem(&[("formulation", 0), (key, 0)], e.what, &e.hint),
            };
        }
        let p = &self.protocol;
        let positive = [
            ("timestep", p.timestep.get()),
            ("skin", p.skin.get().max(f64::MIN_POSITIVE)),
            ("box_aspect", p.box_aspect),
        ];
        for (k, v) in positive {
            if !(v > 0.0 && v.is_finite()) {
                return problem(
                    &[("protocol", 0), (k, 0)],
                    format!("{v} must be > 0"),
                    "see the unit in the docs",
                );
            }
        }
        if !(p.initial_volume_fraction > 0.0 && p.initial_volume_fraction < 0.5) {
            let what = format!("{} is not in (0, 0.5)", p.initial_volume_fraction);
            return problem(
                &[("protocol", 0), ("initial_volume_fraction", 0)],
                what,
                "a dilute start, e.g. 0.05",
            );
        }
        let Some(n) = &p.npt else {
            if p.start_from.is_none() {
                return problem(
                    &[("protocol", 0)],
                    "no npt block".into(),
                    "build a slurry with npt: (...), or import one with start_from",
                );
            }
            return self.stage_problem();
        };
        if n.steps == 0 || n.sample_every == 0 || n.blocks < 2 {
            let what = "steps and sample_every must be ≥ 1, blocks ≥ 2".to_string();
            return problem(
                &[("npt", 0), ("steps", 0)],
                what,
                "e.g. steps: 20000, sample_every: 100, blocks: 10",
            );
        }
        if n.ensemble == NptEnsemble::NoseHoover && n.coupling != CouplingMode::Isotropic {
            return problem(
                &[("npt", 0), ("coupling", 0)],
                "the NoseHoover ensemble is isotropic only".into(),
                "use coupling: Isotropic, or ensemble: Berendsen for z-only coupling",
            );
        }
        let in_unit = |f: f64| f > 0.0 && f <= 1.0;
        if !(in_unit(n.average_last) && in_unit(n.ramp_fraction)) {
            return problem(
                &[("npt", 0), ("average_last", 0)],
                "fractions must be in (0, 1]".into(),
                "e.g. 0.5",
            );
        }
        let samples = (n.steps as f64 * n.average_last / n.sample_every as f64) as usize;
        if samples < n.blocks {
            let what = format!(
                "{samples} samples in the averaged window, fewer than {} blocks",
                n.blocks
            );
            return problem(
                &[("npt", 0), ("sample_every", 0)],
                what,
                "sample more often or run longer",
            );
        }
        for (k, v) in [
            ("temperature", n.temperature.get()),
            ("compressibility", n.compressibility),
        ] {
            if !(v > 0.0 && v.is_finite()) {
                return problem(&[("npt", 0), (k, 0)], format!("{v} must be > 0"), "see the docs");
            }
        }
        if let Some(m) = &p.nemd {
            if m.shear_rates.is_empty() {
                return problem(
                    &[("nemd", 0), ("shear_rates", 0)],
                    "no shear rate".into(),
                    "e.g. [\"18 1/s\", \"125 1/s\"]",
                );
            }
            if let Some(r) = m.shear_rates.iter().find(|r| r.get().is_nan() || r.get() <= 0.0) {
                return problem(
                    &[("nemd", 0), ("shear_rates", 0)],
                    format!("shear rate {r:?}"),
                    "rates are > 0",
                );
            }
            if !(m.strain > 0.0 && in_unit(m.average_last)) || m.blocks < 2 {
                let what = "strain must be > 0, average_last in (0, 1], blocks ≥ 2".to_string();
                return problem(
                    &[("nemd", 0), ("strain", 0)],
                    what,
                    "the reference reaches strain ≈ 8.75",
                );
            }
            if !(1..=CHAIN).contains(&m.thermostat_chain) {
                return problem(
                    &[("nemd", 0), ("thermostat_chain", 0)],
                    format!("{} links", m.thermostat_chain),
                    "1 (fix nvt/sllod), 2 or 3 (fix nvt)",
                );
            }
            if m.sample_every == 0 {
                return problem(
                    &[("nemd", 0), ("sample_every", 0)],
                    "0 steps".into(),
                    "sample every ≥ 1 step",
                );
            }
            for r in &m.shear_rates {
                let steps = m.steps(r.get(), p.timestep.get()) as f64;
                let samples = (steps * m.average_last / m.sample_every as f64) as usize;
                if samples < m.blocks {
                    let what = format!(
                        "{samples} stress samples in the averaged window at {r:?}, fewer than {} blocks",
                        m.blocks
                    );
                    return problem(
                        &[("nemd", 0), ("sample_every", 0)],
                        what,
                        "sample more often or shear further",
                    );
                }
            }
        }
        self.stage_problem()
    }

    /// The first problem of the drying or calendering block.
    fn stage_problem(&self) -> Option<Problem> {
        let p = &self.protocol;
        if let Some(d) = &p.drying {
            if let Some((key, what, hint)) = d.problem() {
                return problem(&[("drying", 0), (key, 0)], what, hint);
            }
            // Its own materials only: the calendering block's are checked with it.
            let press = d.consolidation.as_ref().map(|k| k.press(d, None));
            if let Some((keys, what, hint)) = press.as_ref().and_then(|c| c.problem()) {
                let renamed = keys.iter().any(|k| drying::Consolidation::key(k) != *k);
                let path: Vec<(&'static str, usize)> = ["drying", "consolidation"]
                    .into_iter()
                    .chain(keys.iter().map(|k| drying::Consolidation::key(k)))
                    .map(|k| (k, 0))
                    .collect();
                let hint = if renamed {
                    "e.g. consolidation: Some((pressure: \"101.325 kPa\", speed: \"0.05 m/s\", time: \"100 us\"))"
                } else {
                    hint
                };
                return problem(&path, what, hint);
            }
        }
        let c = p.calendering.as_ref()?;
        if p.drying.is_none() && !p.keep_imported_sizes {
            return problem(
                &[("calendering", 0)],
                "calendering without drying needs a dried structure".into(),
                "import one with start_from and keep_imported_sizes: true, or add a drying block",
            );
        }
        let (keys, what, hint) = c.problem()?;
        let path: Vec<(&'static str, usize)> = std::iter::once("calendering")
            .chain(keys.iter().copied())
            .map(|k| (k, 0))
            .collect();
        problem(&path, what, hint)
    }

    /// Reads, parses and checks a scenario and its force field.
    pub fn load(path: &Path) -> Result<Loaded> {
        let source = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
        let file = path.display().to_string();
        let scenario = Scenario::parse(&source, &file)?;
        let model = resolve_forcefield(&scenario.forcefield, "forcefield", path, &source)?;
        let model_dry = match (&scenario.protocol.drying, &scenario.forcefield_dry) {
            (None, _) => None,
            (Some(_), Some(spec)) => Some(resolve_forcefield(spec, "forcefield_dry", path, &source)?),
            (Some(_), None) => {
                let f = &scenario.formulation;
                let mut m = model.clone();
                m.name = format!("{} (dry)", m.name);
                m.d_cbd = f.cbd_dry_diameter;
                m.rho_cbd = (1.0 - f.cbd_nanoporosity) * f.cbd_skeleton_density;
                Some(m)
            }
        };
        let psd: Vec<f64> = scenario.formulation.psd.iter().map(|c| c.diameter).collect();
        let am = &model.fixed.am_diameters;
        if psd.len() != am.len() || psd.iter().zip(am).any(|(a, b)| (a - b).abs() > 1e-9 * b.abs()) {
            return Err(Error::Value {
                at: locate_path(&source, &[("formulation", 0), ("psd", 0)], &file),
                key: "formulation.psd".into(),
                what: format!("size classes {psd:?} µm differ from the force field's AM types {am:?} µm"),
                hint: "one force-field type per AM size class: use the same diameters in the same order".into(),
            });
        }
        Ok(Loaded {
            scenario,
            model,
            model_dry,
            path: path.to_path_buf(),
            source,
        })
    }
}

/// A path of the scenario (`start_from`): relative to its folder, or under
/// `$ETWIN_DATA_DIR/`.
pub fn resolve_path(rel: &str, scenario: &Path) -> Result<PathBuf> {
    match rel.strip_prefix("$ETWIN_DATA_DIR/") {
        Some(rest) => {
            let dir = std::env::var_os("ETWIN_DATA_DIR").ok_or_else(|| {
                Error::Setup(format!(
                    "{}: start_from `{rel}` needs ETWIN_DATA_DIR set to the reference data folder",
                    scenario.display()
                ))
            })?;
            Ok(PathBuf::from(dir).join(rest))
        }
        None => Ok(scenario.parent().unwrap_or(Path::new(".")).join(rel)),
    }
}

/// The model a force-field block names (`key`: its key in the scenario, for errors).
fn resolve_forcefield(spec: &ForceFieldSpec, key: &'static str, path: &Path, source: &str) -> Result<ReferenceModel> {
    let file = path.display().to_string();
    match spec {
        ForceFieldSpec::Inline(m) => {
            if let Err((k, what, hint)) = m.check() {
                return Err(Error::Value {
                    at: locate_path(source, &[(key, 0), (k, 0)], &file),
                    key: format!("{key}.{k}"),
                    what,
                    hint,
                });
            }
            Ok(m.clone())
        }
        ForceFieldSpec::File(rel) => {
            let ff_path = path.parent().unwrap_or(Path::new(".")).join(rel);
            if !ff_path.is_file() {
                return Err(Error::Value {
                    at: locate_path(source, &[(key, 0)], &file),
                    key: key.into(),
                    what: format!("no force-field file at {}", ff_path.display()),
                    hint:
                        "paths are relative to the scenario's folder, e.g. File(\"forcefields/lombardo2020_best.ron\")"
                            .into(),
                });
            }
            ReferenceModel::load(&ff_path)
        }
    }
}

/// The schema's static name of a formulation key.
fn recipe_key(k: &str) -> &'static str {
    const KEYS: &[&str] = &[
        "am_material",
        "am_density",
        "am_wt_fraction",
        "cbd_wt_fraction",
        "solid_content",
        "dry_mass_ug",
        "psd",
        "cbd_dry_diameter",
        "cbd_nanoporosity",
        "cbd_skeleton_density",
        "diameter",
        "number_fraction",
    ];
    KEYS.iter().find(|&&s| s == k).copied().unwrap_or("formulation")
}
