//! The drying stage's part of a scenario (DESIGN.md §3, stages 2–3): coating the relaxed
//! slurry onto a substrate, then shrinking the CBD beads from wet to dry size.

use serde::{Deserialize, Serialize};

use super::calendering::{CalenderingSpec, Materials, Target};
use super::quantity::{Length, Pressure, Temperature, Time, Velocity, Q};

/// How far the beads of a zone have shrunk after a fraction u of the cycles: f(u) ∈ [0, 1].
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub enum Evaporation {
    Linear,
    SquareRoot,
    CubeRoot,
    Quadratic,
    Cubic,
}

impl Evaporation {
    pub fn progress(self, u: f64) -> f64 {
        let u = u.clamp(0.0, 1.0);
        match self {
            Evaporation::Linear => u,
            Evaporation::SquareRoot => u.sqrt(),
            Evaporation::CubeRoot => u.cbrt(),
            Evaporation::Quadratic => u * u,
            Evaporation::Cubic => u * u * u,
        }
    }
}

/// When the force field switches to the dry set in heterogeneous drying.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub enum Freeze {
    /// After this fraction of the cycles [-], (0, 1].
    Fraction(f64),
    /// When the film's porosity (CBD nano-pores as pore) falls to this value [-].
    Porosity(f64),
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Heterogeneous {
    /// Relative shrinking factor per horizontal zone, bottom to top (2 or 3 zones, ≥ 1),
    /// e.g. [1.0, 1.2, 1.8]: a zone's beads reach the dry size when RSF·f(u) = 1.
    pub shrink_factors: Vec<f64>,
    pub freeze: Freeze,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum DryingMode {
    Homogeneous,
    /// Binder migration: faster shrinking near the top.
    Heterogeneous(Heterogeneous),
}

fn d_coating_steps() -> u64 {
    2000
}
fn d_cycles() -> u64 {
    10
}
fn d_steps_per_cycle() -> u64 {
    1000
}
fn d_final_steps() -> u64 {
    5000
}
fn d_linear() -> Evaporation {
    Evaporation::Linear
}
fn d_t() -> Q<Temperature> {
    Q::new(298.0)
}
fn d_tau() -> Q<Time> {
    Q::new(0.1)
}
fn d_top_load() -> Q<Pressure> {
    Q::new(0.101325)
}
fn d_speed() -> Q<Velocity> {
    Q::new(1.0)
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DryingSpec {
    /// Wet film thickness after coating [µm]: the slurry is reshaped at constant volume
    /// to this height (the lateral area follows). Default: the slurry box height.
    #[serde(default)]
    pub wet_thickness: Option<Q<Length>>,
    /// Relaxation steps of the coated wet film, default 2000.
    #[serde(default = "d_coating_steps")]
    pub coating_steps: u64,
    pub mode: DryingMode,
    /// Shrinking cycles, default 10.
    #[serde(default = "d_cycles")]
    pub cycles: u64,
    /// Steps per cycle, default 1000.
    #[serde(default = "d_steps_per_cycle")]
    pub steps_per_cycle: u64,
    /// Compaction steps with the dry force field after the last cycle, default 5000.
    #[serde(default = "d_final_steps")]
    pub final_steps: u64,
    /// Evaporation law f(u) of the shrinking, default Linear.
    #[serde(default = "d_linear")]
    pub evaporation: Evaporation,
    /// Thermostat target, ramped linearly over the cycles [K], defaults 298 → 298.
    #[serde(default = "d_t")]
    pub temperature_start: Q<Temperature>,
    #[serde(default = "d_t")]
    pub temperature_stop: Q<Temperature>,
    /// Thermostat relaxation time [µs], default 0.1.
    #[serde(default = "d_tau")]
    pub thermostat_tau: Q<Time>,
    /// Load on the top wall [kPa], default 0.101325 (1e-3 atm); 0 = no top wall. The
    /// slurry model's soft contacts carry no more: at atmospheric load the film is crushed
    /// (README: Coating and drying).
    #[serde(default = "d_top_load")]
    pub top_pressure: Q<Pressure>,
    /// Speed limit of the top wall's pressure servo [µm/µs], default 1.
    #[serde(default = "d_speed")]
    pub top_wall_max_speed: Q<Velocity>,
    /// Standard gravity along −z, default false.
    #[serde(default)]
    pub gravity: bool,
    /// Time-series sampling interval [steps], default 100.
    #[serde(default = "super::d_sample")]
    pub sample_every: u64,
    /// A VTU frame every this many cycles (0 = none), default 1.
    #[serde(default = "d_one")]
    pub frames_every: u64,
    /// Voxel edge of the final characterization [µm], default 0.25.
    #[serde(default = "super::d_voxel")]
    pub voxel: Q<Length>,
    /// Slab thickness of the CBD profile [µm], default 5.
    #[serde(default = "super::d_slab")]
    pub slab: Q<Length>,
    /// AM contact diameter of the dried film / nominal diameter [-], (0.5, 2); none:
    /// the slurry model's (`contact_factor`, 1.14 for the reference). The AM spheres
    /// shrink to it with the evaporation law, like the solvent shell they stand for: the
    /// reference's dried thick electrode has 1.02, and its wet slurry's 1.14 keeps the AM
    /// skeleton jammed at ≈ 67 % so that the film cannot compact.
    #[serde(default)]
    pub am_contact_factor: Option<f64>,
    /// After the final compaction, the dried film under the dry material law and a load;
    /// none: the film stays as the slurry model leaves it.
    #[serde(default)]
    pub consolidation: Option<Consolidation>,
}

fn d_one() -> u64 {
    1
}

fn d_atmosphere() -> Q<Pressure> {
    Q::new(101.325)
}
fn d_consolidation_speed() -> Q<Velocity> {
    Q::new(0.05)
}
fn d_consolidation_time() -> Q<Time> {
    Q::new(100.0)
}

/// The dried film consolidated under the dry material law (`gran/hertz/sjkr`, the
/// calendering's materials): a plate brings the load onto the film and holds it there.
/// A drying film carries its capillary stress (≈ 100 kPa) on grains with GPa moduli; the
/// slurry model's soft contacts cannot (README: Coating and drying).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Consolidation {
    /// Load on the film [kPa], default 101.325 (atmospheric).
    #[serde(default = "d_atmosphere")]
    pub pressure: Q<Pressure>,
    /// Top speed of the plate while the film takes up the load [µm/µs], default 0.05
    /// (= 0.05 m/s); a force servo slows it near the load.
    #[serde(default = "d_consolidation_speed")]
    pub speed: Q<Velocity>,
    /// Time under the load [µs], default 100.
    #[serde(default = "d_consolidation_time")]
    pub time: Q<Time>,
    /// The dry materials; none: those of the scenario's calendering block, else the
    /// calendering defaults.
    #[serde(default)]
    pub materials: Option<Materials>,
}

impl Consolidation {
    /// The plate press that runs it, with the drying's voxel and slab; `calendering`: the
    /// scenario's calendering block, whose materials it shares unless it has its own.
    pub fn press(&self, d: &DryingSpec, calendering: Option<&CalenderingSpec>) -> CalenderingSpec {
        let materials = self
            .materials
            .clone()
            .or_else(|| calendering.map(|c| c.materials.clone()))
            .unwrap_or_default();
        let mut c = CalenderingSpec::plate(materials, Target::Pressure(self.pressure), self.speed);
        c.hold_time = self.time;
        // No local damping: a loose film rattles under the plate, and Cundall's drag
        // (α|F| against the motion) then carries the whole load — measured on drying_quick
        // at α = 0.3: the collector felt nothing while the plate held 101 kPa.
        c.local_damping = 0.0;
        c.voxel = d.voxel;
        c.slab = d.slab;
        c
    }

    /// A press's key (below `calendering`) as the consolidation calls it.
    pub fn key(press_key: &'static str) -> &'static str {
        match press_key {
            "target" => "pressure",
            "tool_speed" => "speed",
            "hold_time" => "time",
            k => k,
        }
    }
}

impl DryingSpec {
    /// The first problem: (key, message, hint).
    pub fn problem(&self) -> Option<(&'static str, String, &'static str)> {
        if self.cycles == 0 || self.steps_per_cycle == 0 || self.sample_every == 0 {
            return Some((
                "cycles",
                "cycles, steps_per_cycle and sample_every must be ≥ 1".into(),
                "e.g. cycles: 10, steps_per_cycle: 1000",
            ));
        }
        if let Some(h) = &self.wet_thickness {
            if h.get().is_nan() || h.get() <= 0.0 {
                return Some((
                    "wet_thickness",
                    format!("{} µm must be > 0", h.get()),
                    "e.g. \"150 um\"",
                ));
            }
        }
        for (k, v) in [
            ("temperature_start", self.temperature_start.get()),
            ("temperature_stop", self.temperature_stop.get()),
            ("thermostat_tau", self.thermostat_tau.get()),
            ("top_wall_max_speed", self.top_wall_max_speed.get()),
            ("voxel", self.voxel.get()),
            ("slab", self.slab.get()),
        ] {
            if !(v > 0.0 && v.is_finite()) {
                return Some((k, format!("{v} must be > 0"), "see the unit in the docs"));
            }
        }
        if let Some(f) = self.am_contact_factor {
            if !(f > 0.5 && f < 2.0) {
                return Some(("am_contact_factor", format!("{f} not in (0.5, 2)"), "e.g. 1.02"));
            }
        }
        if self.top_pressure.get().is_nan() || self.top_pressure.get() < 0.0 {
            return Some((
                "top_pressure",
                "must be ≥ 0".into(),
                "e.g. 0.101325 kPa; more crushes the soft slurry contacts",
            ));
        }
        if let DryingMode::Heterogeneous(h) = &self.mode {
            if !(2..=3).contains(&h.shrink_factors.len()) || h.shrink_factors.iter().any(|f| f.is_nan() || *f < 1.0) {
                return Some((
                    "shrink_factors",
                    format!("{:?}: expected 2 or 3 factors ≥ 1", h.shrink_factors),
                    "bottom to top, e.g. [1.0, 1.2, 1.8]",
                ));
            }
            match h.freeze {
                Freeze::Fraction(f) if !(f > 0.0 && f <= 1.0) => {
                    return Some(("freeze", format!("fraction {f} not in (0, 1]"), "e.g. Fraction(0.8)"))
                }
                Freeze::Porosity(p) if !(p > 0.0 && p < 1.0) => {
                    return Some(("freeze", format!("porosity {p} not in (0, 1)"), "e.g. Porosity(0.5)"))
                }
                _ => {}
            }
        }
        None
    }
}
